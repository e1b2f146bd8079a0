"""Evals of the support agent: its trajectory (which tools, in which order, with which
arguments) by deterministic scorers, and whether it resolved the ticket by a judge."""

from __future__ import annotations

import pytest
from agent import handle_ticket

from pytest_llmeval import load_cases
from pytest_llmeval.judges import TaskCompletion
from pytest_llmeval.scorers import (
    max_steps,
    no_forbidden_tools,
    tool_arguments_valid,
    tool_called,
    tool_sequence,
)


@pytest.mark.llm_eval(threshold=0.8, min_pass_rate=0.75, budget_usd=0.01)
@pytest.mark.parametrize("case", load_cases("data/tickets.jsonl"), ids=str)
def test_agent_resolves_the_ticket(case, llm_eval):
    answer = handle_ticket(case.input)
    trajectory = llm_eval.trajectory
    llm_eval.log(answer=answer, steps=trajectory.model_calls, tool_calls=trajectory.tool_names)

    # the tools it needed, in this order (others allowed between)
    llm_eval.score("tools_in_order", tool_sequence(trajectory, case.metadata["tools"]))
    refund = case.metadata["refund"]
    if refund:  # the right order, the right amount
        llm_eval.score("refund_correct", tool_called(trajectory, "issue_refund", arguments=refund))
    else:  # a refund here would be a costly mistake
        llm_eval.score("no_refund", no_forbidden_tools(trajectory, ["issue_refund"]))
    llm_eval.score("arguments_valid", tool_arguments_valid(trajectory))
    llm_eval.score("within_4_steps", max_steps(trajectory, 4))

    llm_eval.judge(
        str(trajectory), TaskCompletion(goal=case.expected), input=case.input, name="resolved"
    )
