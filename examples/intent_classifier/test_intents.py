"""Evals of the ticket router: one case per dataset row, a group pass-rate floor."""

from __future__ import annotations

import pytest
from ticket_router import classify, confidence

from pytest_llmeval import load_cases
from pytest_llmeval.scorers import exact

CASES = load_cases("data/intents.jsonl")


@pytest.mark.llm_eval(threshold=1.0, min_pass_rate=0.8)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_routes_to_the_right_queue(case, llm_eval):
    llm_eval.score("intent", exact(classify(case.input), case.expected))
    llm_eval.log(predicted=classify(case.input))


@pytest.mark.llm_eval(threshold=0.6, repeat=2)
@pytest.mark.parametrize("case", CASES[:3], ids=lambda c: c.id)
def test_is_confident(case, llm_eval):
    llm_eval.score("confidence", confidence(case.input))
