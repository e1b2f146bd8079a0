"""Evals of the order assistant over whole conversations: scripted and simulated users."""

from __future__ import annotations

import pytest
from assistant import reply

from pytest_llmeval import load_cases
from pytest_llmeval.judges import Correctness, GoalCompletion, KnowledgeRetention, RoleAdherence

ROLE = "Acme Kettles' order assistant: orders, returns, damaged items and deliveries only"
SIMULATOR = "anthropic:claude-haiku-4-5"


@pytest.mark.llm_eval(threshold=0.85, min_pass_rate=0.6)
@pytest.mark.parametrize("case", load_cases("data/conversations.yaml"))
def test_scripted_conversations(case, llm_eval):
    conversation = llm_eval.converse(reply, case.turns)
    llm_eval.log(transcript=conversation.transcript())
    llm_eval.judge_turns(conversation, "Polite, and at most three sentences", name="polite")
    llm_eval.judge_turns(conversation, Correctness(), name="correct")
    llm_eval.judge_conversation(conversation, KnowledgeRetention())
    llm_eval.judge_conversation(conversation, RoleAdherence(ROLE))


@pytest.mark.llm_eval(threshold=0.75)
@pytest.mark.parametrize("case", load_cases("data/customers.yaml", input_field="goal"))
def test_simulated_customers(case, llm_eval):
    conversation = llm_eval.simulate_user(
        reply, persona=case.metadata["persona"], goal=case.input, model=SIMULATOR, max_turns=4
    )
    llm_eval.log(transcript=conversation.transcript(), ended_by=conversation.ended_by)
    llm_eval.score("ended_as_expected", conversation.goal_met == case.metadata["reachable"])
    if case.metadata["reachable"]:
        llm_eval.judge_conversation(conversation, GoalCompletion(case.input))
    llm_eval.judge_conversation(conversation, RoleAdherence(ROLE))
