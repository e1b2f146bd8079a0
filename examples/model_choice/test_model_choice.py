"""Which model should triage tickets? The same cases over three models, compared."""

from __future__ import annotations

import pytest
from triage import CANDIDATES, triage

from pytest_llmeval import load_cases
from pytest_llmeval.scorers import exact


@pytest.mark.llm_eval(threshold=0.5, min_pass_rate=0.85, variants="candidate")
@pytest.mark.parametrize("case", load_cases("data/tickets.jsonl"), ids=str)
@pytest.mark.parametrize("candidate", CANDIDATES, ids=lambda candidate: candidate["model"])
def test_triages_tickets(candidate, case, llm_eval):
    queue = triage(case.input, **candidate)
    llm_eval.log(queue=queue)
    llm_eval.score("right_queue", exact(queue, case.expected))
