"""Evals of invoice extraction: schema validity and field accuracy, sampled three times."""

from __future__ import annotations

import json

import pytest
from extract import Invoice, extract

from pytest_llmeval import load_cases
from pytest_llmeval.scorers import exact, numeric_close, pydantic_valid


@pytest.mark.llm_eval(threshold=0.9, repeat=3, min_pass_rate=0.6)
@pytest.mark.parametrize("case", load_cases("data/emails.jsonl"), ids=str)
def test_extracts_invoice_fields(case, llm_eval):
    raw = extract(case.input)
    llm_eval.score("valid_schema", pydantic_valid(raw, Invoice), weight=2)
    if not llm_eval.scores["valid_schema"].value:
        return
    got, want = json.loads(raw), case.expected
    llm_eval.score("vendor", exact(got["vendor"], want["vendor"], case_sensitive=False))
    llm_eval.score("number", exact(got["invoice_number"], want["invoice_number"]))
    llm_eval.score("total", numeric_close(got["total_eur"], want["total_eur"], abs_tol=0.005))
    llm_eval.score("due_date", exact(got["due_date"], want["due_date"]))
