"""Trajectories end to end, as a user runs them: a small agent on each of the three APIs
(Chat Completions, Responses, Anthropic Messages) through the real SDKs against the fake
provider, scored by every trajectory scorer and both trajectory judges, recorded to
cassettes, then replayed with the server gone and with `-n 2`: the same scores, reasons
and trajectories every time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, ToolCall
from tests.fakeprovider.server import closed_port_url

KEYS = {"OPENAI_API_KEY": "sk-test-agent", "ANTHROPIC_API_KEY": "sk-ant-test-agent"}

AGENT = '''
"""A support agent with three tools, on whichever API the test picks."""
import json

import anthropic
import openai

MAX_STEPS = 4
ORDERS = {"A1": 30.0, "B7": 12.5}
SCHEMAS = {
    "lookup_order": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
    "check_policy": {
        "type": "object",
        "properties": {"topic": {"type": "string"}},
        "required": ["topic"],
    },
    "refund": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["order_id", "amount"],
    },
}
DESCRIPTIONS = {
    "lookup_order": "Find an order by id",
    "check_policy": "Read the policy on a topic",
    "refund": "Refund an order",
}


def run_tool(name, arguments):
    """(result text, is_error)"""
    if name == "lookup_order":
        return json.dumps({"order_id": arguments["order_id"], "total": ORDERS[arguments["order_id"]]}), False
    if name == "check_policy":
        return "Refunds within 30 days of delivery.", False
    if arguments["order_id"] == "B7":
        return "payment service down", True
    return json.dumps({"status": "refunded", "amount": arguments["amount"]}), False


def chat(question):
    client = openai.OpenAI()
    tools = [
        {"type": "function", "function": {"name": n, "description": DESCRIPTIONS[n], "parameters": s}}
        for n, s in SCHEMAS.items()
    ]
    messages = [{"role": "system", "content": "You are a support agent."}, {"role": "user", "content": question}]
    for _ in range(MAX_STEPS):
        reply = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, tools=tools)
        message = reply.choices[0].message
        if not message.tool_calls:
            return message.content
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            text, failed = run_tool(call.function.name, json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": ("error: " if failed else "") + text})
    return None


def responses(question):
    client = openai.OpenAI()
    tools = [
        {"type": "function", "name": n, "description": DESCRIPTIONS[n], "parameters": s}
        for n, s in SCHEMAS.items()
    ]
    items = [{"role": "user", "content": question}]
    for _ in range(MAX_STEPS):
        reply = client.responses.create(model="gpt-4.1-mini", input=items, tools=tools)
        calls = [item for item in reply.output if item.type == "function_call"]
        if not calls:
            return reply.output_text
        items += [item.model_dump(exclude_none=True) for item in reply.output]
        for call in calls:
            text, failed = run_tool(call.name, json.loads(call.arguments))
            items.append({"type": "function_call_output", "call_id": call.call_id, "output": text})
    return None


def messages(question):
    client = anthropic.Anthropic()
    tools = [{"name": n, "description": DESCRIPTIONS[n], "input_schema": s} for n, s in SCHEMAS.items()]
    turns = [{"role": "user", "content": question}]
    for _ in range(MAX_STEPS):
        reply = client.messages.create(model="claude-haiku-4-5", max_tokens=512, messages=turns, tools=tools)
        uses = [block for block in reply.content if block.type == "tool_use"]
        if not uses:
            return "".join(block.text for block in reply.content if block.type == "text")
        turns.append({"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in reply.content]})
        results = []
        for use in uses:
            text, failed = run_tool(use.name, use.input)
            results.append({"type": "tool_result", "tool_use_id": use.id, "content": text, "is_error": failed})
        turns.append({"role": "user", "content": results})
    return None
'''

SUITE = """
import pytest

import agent
from pytest_llmeval.judges import TaskCompletion, ToolUse
from pytest_llmeval.scorers import (
    max_steps, max_tool_calls, no_forbidden_tools, no_tool_errors, tool_arguments_valid,
    tool_called, tool_sequence,
)

JUDGES = {"chat": "openai:gpt-4.1-mini", "responses": "openai:gpt-4.1-mini",
          "messages": "anthropic:claude-haiku-4-5"}

@pytest.mark.llm_eval(threshold=0)
@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
@pytest.mark.parametrize("question", ["Refund order A1", "Refund order B7", "LOOP on order A1"])
def test_agent(api, question, llm_eval):
    answer = getattr(agent, api)(question)
    trajectory = llm_eval.trajectory
    order = question.split()[-1]
    llm_eval.score("refund_called", tool_called(trajectory, "refund", arguments={"order_id": "A1"}))
    llm_eval.score("in_order", tool_sequence(trajectory, ["lookup_order", "refund"]))
    llm_eval.score("exact", tool_sequence(trajectory, ["lookup_order", "check_policy", "refund"], mode="exact"))
    llm_eval.score("no_delete", no_forbidden_tools(trajectory, ["delete_account", "check_policy"]))
    llm_eval.score("arguments_valid", tool_arguments_valid(trajectory))
    llm_eval.score("steps", max_steps(trajectory, 3))
    llm_eval.score("tool_calls", max_tool_calls(trajectory, 3))
    llm_eval.score("no_tool_errors", no_tool_errors(trajectory))
    llm_eval.judge(str(trajectory), TaskCompletion(goal=f"Order {order} is refunded"),
                   input=question, model=JUDGES[api])
    llm_eval.judge(str(trajectory), ToolUse(), input=question, model=JUDGES[api])
    assert trajectory.final_answer == answer
    llm_eval.log(trajectory=trajectory.render(), answer=answer,
                 totals=[trajectory.model_calls, len(trajectory.tool_calls), trajectory.tool_errors,
                         trajectory.input_tokens, trajectory.output_tokens])
"""


def is_judge(request: RecordedRequest) -> bool:
    body = request.body if isinstance(request.body, dict) else {}
    formats = [
        (body.get("response_format") or {}).get("json_schema", {}).get("schema"),
        ((body.get("output_config") or {}).get("format") or {}).get("schema"),
    ]
    return any(
        isinstance(schema, dict) and "reasoning" in schema.get("properties", {})
        for schema in formats
    )


def agent_model(request: RecordedRequest) -> ReplySpec:
    """The scripted agent model: look up and check the policy in parallel, refund, answer;
    a LOOP question looks the order up forever. A judge passes a trajectory showing a
    refund result and fails any other."""
    if is_judge(request):
        score = 1 if '"status": "refunded"' in request.text else 0
        return ReplySpec(json={"reasoning": f"scripted: {score}", "score": score})
    question = request.last_user_text if not request.tool_results else request.text
    order = "B7" if "B7" in question else "A1"
    done = len(request.tool_results)
    if "LOOP" in question:
        return ReplySpec(tool_calls=[ToolCall("lookup_order", {"order_id": order})])
    if done == 0:
        return ReplySpec(
            tool_calls=[
                ToolCall("lookup_order", {"order_id": order}),
                ToolCall("check_policy", {"topic": "refunds"}),
            ]
        )
    if done == 2:
        amount = 30.0 if order == "A1" else 12.5
        return ReplySpec(
            text="Refunding now.",
            tool_calls=[ToolCall("refund", {"order_id": order, "amount": amount})],
        )
    return ReplySpec(text=f"Done: order {order} is handled.")


def results_of(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text())
    return {
        result["nodeid"]: {
            "scores": [(s["name"], s["value"], s["reason"]) for s in result["scores"]],
            "metadata": result["metadata"],
            "status": result["status"],
            "tool_calls": [
                [(call["name"], call["arguments"]) for call in inference["tool_calls"]]
                for inference in result["inferences"]
                if inference["role"] == "app"
            ],
        }
        for result in report["results"]
    }


@pytest.fixture
def agent_env(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    fake_provider.set_handler(agent_model)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_provider.url)
    pytester_env.makepyfile(agent=AGENT, test_agent=SUITE)
    pytester_env.syspathinsert()
    return pytester_env


def test_agents_on_three_apis_record_then_replay_offline_and_under_xdist(
    agent_env: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = agent_env.runpytest("--llmeval-report=recorded.json", "-p", "no:randomly")
    recorded.assert_outcomes(passed=9)
    sent = len(fake_provider.requests)
    first = results_of(agent_env.path / "recorded.json")

    # the server is gone and the keys too: everything comes from the cassettes
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", closed_port_url())
    for name in KEYS:
        monkeypatch.delenv(name)
    replayed = agent_env.runpytest("--llmeval-record=none", "--llmeval-report=replayed.json")
    replayed.assert_outcomes(passed=9)
    parallel = agent_env.runpytest(
        "--llmeval-record=none", "--llmeval-report=parallel.json", "-n", "2"
    )
    parallel.assert_outcomes(passed=9)
    assert len(fake_provider.requests) == sent
    assert results_of(agent_env.path / "replayed.json") == first
    assert results_of(agent_env.path / "parallel.json") == first

    scores = {
        nodeid.split("[")[1].rstrip("]"): {name: value for name, value, _ in result["scores"]}
        for nodeid, result in first.items()
    }
    good = {
        "refund_called": 1.0, "in_order": 1.0, "exact": 1.0, "no_delete": 0.0,
        "arguments_valid": 1.0, "steps": 1.0, "tool_calls": 1.0, "no_tool_errors": 1.0,
        "task_completion": 1.0, "tool_use": 1.0,
    }  # fmt: skip
    for api in ("chat", "responses", "messages"):
        assert scores[f"Refund order A1-{api}"] == good
        # a wrong argument (B7, not A1) and, on Anthropic, a tool error
        wrong = scores[f"Refund order B7-{api}"]
        errors = 2 / 3 if api == "messages" else 1.0
        assert wrong == {
            **good, "refund_called": 0.0, "no_tool_errors": errors,
            "task_completion": 0.0, "tool_use": 0.0,
        }  # fmt: skip
        # a looping agent: four lookups, never a refund
        looping = scores[f"LOOP on order A1-{api}"]
        assert looping == {
            **good, "refund_called": 0.0, "in_order": 0.5, "exact": pytest.approx(2 / 7),
            "no_delete": 1.0, "steps": 0.0, "tool_calls": 0.0,
            "task_completion": 0.0, "tool_use": 0.0,
        }  # fmt: skip

    messages = first["test_agent.py::test_agent[Refund order B7-messages]"]
    reasons = {name: reason for name, _, reason in messages["scores"]}
    assert reasons["refund_called"] == (
        "step 2: called refund(amount=12.5, order_id='B7'): order_id is 'B7', expected 'A1'"
    )
    assert reasons["no_tool_errors"] == (
        "step 2: refund(amount=12.5, order_id='B7') returned an error: payment service down"
    )
    assert reasons["no_delete"] == "step 1: called check_policy(topic='refunds'), a forbidden tool"
    looping_reasons = {
        name: reason
        for name, _, reason in first["test_agent.py::test_agent[LOOP on order A1-chat]"]["scores"]
    }
    assert looping_reasons["steps"] == (
        "4 steps, over the limit of 3: step 4 is the first past it (last tools called: "
        "lookup_order, lookup_order, lookup_order)"
    )
    chat = first["test_agent.py::test_agent[Refund order A1-chat]"]
    assert chat["tool_calls"] == [
        [("lookup_order", {"order_id": "A1"}), ("check_policy", {"topic": "refunds"})],
        [("refund", {"order_id": "A1", "amount": 30.0})],
        [],
    ]
    lines = chat["metadata"]["trajectory"].splitlines()
    assert lines[0].startswith("trajectory: 3 steps, 3 tool calls, 0 tool errors, ")
    assert lines[1:] == [
        "step 1: model call (openai-compatible:gpt-4.1-mini)",
        "  tool call: lookup_order(order_id='A1')",
        '    result: {"order_id": "A1", "total": 30.0}',
        "  tool call: check_policy(topic='refunds')",
        "    result: Refunds within 30 days of delivery.",
        "step 2: model call (openai-compatible:gpt-4.1-mini)",
        "  said: Refunding now.",
        "  tool call: refund(amount=30.0, order_id='A1')",
        '    result: {"status": "refunded", "amount": 30.0}',
        "step 3: model call (openai-compatible:gpt-4.1-mini)",
        "  answer: Done: order A1 is handled.",
    ]
    assert chat["metadata"]["totals"][:3] == [3, 3, 0]
