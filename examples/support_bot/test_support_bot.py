"""Evals of the support bot: a deterministic check, a rubric judge and a reference judge."""

from __future__ import annotations

import pytest
from support_bot import answer

from pytest_llmeval import load_cases
from pytest_llmeval.scorers import contains


@pytest.mark.llm_eval(threshold=0.75, min_pass_rate=0.75, budget_usd=0.01)
@pytest.mark.parametrize("case", load_cases("data/questions.jsonl"), ids=str)
def test_answers_follow_the_policy(case, llm_eval):
    reply = answer(case.input)
    llm_eval.log(reply=reply)
    llm_eval.score("mentions_key_facts", contains(reply, case.metadata["must_mention"]))
    llm_eval.judge(
        reply,
        "Polite, at most three sentences, and answers the customer's question",
        input=case.input,
        name="helpful",
    )
    llm_eval.judge(
        reply, "Agrees with the reference answer", reference=case.expected, name="correct"
    )
