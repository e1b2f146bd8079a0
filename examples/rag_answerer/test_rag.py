"""Evals of the RAG answerer: faithfulness to the passages and relevance to the question."""

from __future__ import annotations

import pytest
from rag import answer

from pytest_llmeval import load_cases
from pytest_llmeval.judges import Faithfulness, Relevance


@pytest.mark.llm_eval(
    threshold=0.8, min_pass_rate=0.6, judge_model="anthropic:claude-haiku-4-5", max_latency_s=10
)
@pytest.mark.parametrize("case", load_cases("data/questions.jsonl"), ids=str)
def test_answers_are_grounded(case, llm_eval):
    text, passages = answer(case.input)
    llm_eval.log(answer=text, passages=passages)
    llm_eval.judge(text, Faithfulness(), context=passages, name="faithful")
    llm_eval.judge(text, Relevance(), input=case.input, name="relevant")
    # the answer was streamed: its time to first token was recorded
    assert llm_eval.inferences[0].ttft_s is not None
