"""Trajectory (pytest_llmeval.records.trajectory) and the trajectory scorers, on records built here.

The end-to-end path (the real SDKs, the fake provider, cassettes) is in
tests/test_trajectory_e2e.py; here each scorer is checked on a right trajectory and on
the wrong ones the issue names: a missing tool call, a wrong argument, a forbidden tool,
an agent looping past its step limit. Each wrong one must lower exactly the scores that
should drop, with a reason naming the step.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from pytest_llmeval.records.models import Inference, ToolCall, ToolResult
from pytest_llmeval.records.trajectory import Trajectory, describe_call
from pytest_llmeval.scorers import (
    Scored,
    max_steps,
    max_tool_calls,
    no_forbidden_tools,
    no_tool_errors,
    tool_arguments_valid,
    tool_called,
    tool_sequence,
)

SCHEMAS: dict[str, Any] = {
    "lookup_order": {
        "type": "object",
        "properties": {"order_id": {"type": "string", "pattern": "^A[0-9]+$"}},
        "required": ["order_id"],
        "additionalProperties": False,
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
    "delete_account": {"type": "object", "properties": {}},
}


def call(call_id: str, name: str, **arguments: Any) -> ToolCall:
    raw = json.dumps(arguments)
    return ToolCall(id=call_id, name=name, arguments=arguments, arguments_raw=raw)


def result(call_id: str, name: str, content: str, is_error: bool = False) -> ToolResult:
    return ToolResult(call_id=call_id, name=name, content=content, is_error=is_error)


def inference(
    output: str = "",
    calls: list[ToolCall] | None = None,
    results: list[ToolResult] | None = None,
    role: str = "app",
    **fields: Any,
) -> Inference:
    rendered = "\n".join(f"{c.name}({c.arguments_raw})" for c in calls or [])
    return Inference(
        nodeid="test_agent.py::test_refund",
        role=role,  # type: ignore[arg-type]
        provider="openai",
        api="chat",
        model="gpt-4.1-mini",
        output_text="\n".join(part for part in (output, rendered) if part),
        tool_calls=calls or [],
        tool_results=results or [],
        tool_schemas=SCHEMAS,
        input_tokens=fields.pop("input_tokens", 100),
        output_tokens=fields.pop("output_tokens", 20),
        cost_usd=fields.pop("cost_usd", 0.001),
        latency_s=fields.pop("latency_s", 0.5),
        **fields,
    )


def good_episode() -> list[Inference]:
    """Look the order up and check the policy in parallel, refund, answer."""
    step1 = [call("c1", "lookup_order", order_id="A1"), call("c2", "check_policy", topic="refund")]
    results1 = [
        result("c1", "lookup_order", '{"order_id": "A1", "total": 30.0}'),
        result("c2", "check_policy", "Refunds within 30 days."),
    ]
    step2 = [call("c3", "refund", order_id="A1", amount=30.0)]
    results2 = [result("c3", "refund", '{"status": "refunded"}')]
    return [
        inference("", step1),
        inference("Let me refund that.", step2, results1),
        inference("Your order A1 is refunded: 30 EUR.", None, results1 + results2),
    ]


# -- Trajectory -------------------------------------------------------------------------


def test_steps_pair_each_call_with_the_result_a_later_request_carried() -> None:
    trajectory = Trajectory.from_inferences(good_episode())
    assert [step.number for step in trajectory] == [1, 2, 3]
    assert trajectory.tool_names == ["lookup_order", "check_policy", "refund"]
    assert [use.step for use in trajectory.tool_uses] == [1, 1, 2]
    contents = [use.result.content if use.result else None for use in trajectory.tool_uses]
    assert contents == [
        '{"order_id": "A1", "total": 30.0}',
        "Refunds within 30 days.",
        '{"status": "refunded"}',
    ]
    assert trajectory.final_answer == "Your order A1 is refunded: 30 EUR."
    assert trajectory.steps[1].text == "Let me refund that."
    assert [c.name for c in trajectory.tool_calls] == trajectory.tool_names


def test_totals_add_up_the_steps() -> None:
    episode = good_episode()
    episode[1] = episode[1].model_copy(update={"cost_usd": None, "cache_read_tokens": 50})
    trajectory = Trajectory.from_inferences(episode)
    assert trajectory.model_calls == 3
    assert trajectory.input_tokens == 350
    assert trajectory.output_tokens == 60
    assert trajectory.tokens == 410
    assert trajectory.cost_usd == pytest.approx(0.002)
    assert trajectory.latency_s == pytest.approx(1.5)
    assert trajectory.tool_errors == 0
    assert trajectory.summary() == (
        "3 steps, 3 tool calls, 0 tool errors, 410 tokens, $0.002000, 1.50 s"
    )


def test_judge_and_simulator_calls_and_failed_calls_are_not_steps() -> None:
    episode = good_episode()
    failed = inference("", status=429, error="rate limited")
    judge = inference('{"reasoning": "ok", "score": 1}', role="judge")
    user = inference("I want a refund", role="simulator")
    trajectory = Trajectory.from_inferences([failed, *episode, judge, user])
    assert trajectory.model_calls == 3
    assert trajectory.failed_calls == 1
    assert "1 failed call" in trajectory.summary()


def test_results_without_an_id_match_the_previous_steps_calls_by_name() -> None:
    first = inference("", [ToolCall(name="lookup_order", arguments={"order_id": "A1"})])
    second = inference("Done.", None, [ToolResult(name="lookup_order", content="found")])
    (use,) = Trajectory.from_inferences([first, second]).tool_uses
    assert use.result is not None and use.result.content == "found"


def test_repeated_call_ids_pair_the_latest_results_with_the_latest_calls() -> None:
    first = inference("", [call("same", "lookup_order", order_id="A1")])
    second = inference(
        "", [call("same", "lookup_order", order_id="A2")], [result("same", "lookup_order", "one")]
    )
    third = inference(
        "Done.",
        None,
        [result("same", "lookup_order", "one"), result("same", "lookup_order", "two")],
    )
    uses = Trajectory.from_inferences([first, second, third]).tool_uses
    assert [use.result.content if use.result else None for use in uses] == ["one", "two"]


def test_an_episode_ending_on_a_tool_call_has_no_final_answer() -> None:
    trajectory = Trajectory.from_inferences(good_episode()[:2])
    assert trajectory.final_answer is None
    assert trajectory.render().endswith("(ended without a final answer)")
    assert trajectory.steps[-1].tools[0].result is None


def test_render_numbers_the_steps_and_shows_calls_results_and_answer() -> None:
    text = Trajectory.from_inferences(good_episode()).render()
    assert text.splitlines() == [
        "trajectory: 3 steps, 3 tool calls, 0 tool errors, 360 tokens, $0.003000, 1.50 s",
        "step 1: model call (openai:gpt-4.1-mini)",
        "  tool call: lookup_order(order_id='A1')",
        '    result: {"order_id": "A1", "total": 30.0}',
        "  tool call: check_policy(topic='refund')",
        "    result: Refunds within 30 days.",
        "step 2: model call (openai:gpt-4.1-mini)",
        "  said: Let me refund that.",
        "  tool call: refund(amount=30.0, order_id='A1')",
        '    result: {"status": "refunded"}',
        "step 3: model call (openai:gpt-4.1-mini)",
        "  answer: Your order A1 is refunded: 30 EUR.",
    ]
    assert str(Trajectory.from_inferences(good_episode())) == text


def test_render_cuts_long_results_and_marks_errors() -> None:
    first = inference("", [call("c1", "lookup_order", order_id="A1")])
    second = inference("Sorry.", None, [result("c1", "lookup_order", "x" * 700, is_error=True)])
    text = Trajectory.from_inferences([first, second]).render(limit=100)
    assert "    error: " + "x" * 100 + " [... 600 more characters]" in text


def test_describe_call_shows_unparsed_arguments_raw() -> None:
    broken = ToolCall(
        id="c", name="refund", arguments=None, arguments_raw='{"order_id": ', arguments_valid=False
    )
    assert describe_call(broken) == 'refund({"order_id": )'


def test_an_empty_trajectory() -> None:
    trajectory = Trajectory.from_inferences([])
    assert len(trajectory) == 0
    assert trajectory.final_answer is None
    assert trajectory.cost_usd is None and trajectory.latency_s is None
    assert trajectory.render().endswith("(no model calls)")


# -- the scorers on the right trajectory ----------------------------------------------


def all_scores(episode: list[Inference]) -> dict[str, Scored]:
    trajectory = Trajectory.from_inferences(episode)
    return {
        "called_refund": tool_called(trajectory, "refund", arguments={"order_id": "A1"}),
        "sequence": tool_sequence(trajectory, ["lookup_order", "refund"]),
        "exact_sequence": tool_sequence(
            trajectory, ["lookup_order", "check_policy", "refund"], mode="exact"
        ),
        "any_order": tool_sequence(trajectory, ["check_policy", "lookup_order"], mode="any_order"),
        "no_forbidden": no_forbidden_tools(trajectory, ["delete_account"]),
        "arguments_valid": tool_arguments_valid(trajectory),
        "steps": max_steps(trajectory, 4),
        "tool_calls": max_tool_calls(trajectory, 5),
        "no_errors": no_tool_errors(trajectory),
    }


def test_the_right_trajectory_scores_one_everywhere() -> None:
    scores = all_scores(good_episode())
    assert {name: float(value) for name, value in scores.items()} == dict.fromkeys(scores, 1.0)
    assert scores["called_refund"].reason == "step 2: called refund(amount=30.0, order_id='A1')"
    assert scores["sequence"].details == {"precision": pytest.approx(2 / 3), "recall": 1.0}


def dropped(episode: list[Inference]) -> dict[str, tuple[float, str]]:
    return {
        name: (float(value), value.reason)
        for name, value in all_scores(episode).items()
        if value < 1.0
    }


def test_a_missing_tool_call_lowers_the_call_and_sequence_scores_only() -> None:
    episode = good_episode()
    # the agent answers after looking up, without refunding
    episode = [episode[0], inference("I cannot refund.", None, episode[1].tool_results)]
    assert dropped(episode) == {
        "called_refund": (0.0, "refund was never called (called: lookup_order, check_policy)"),
        "sequence": (
            0.5,
            "in order: recall 0.50 (1 of 2 expected calls); called lookup_order -> "
            "check_policy; expected call 2 (refund) was never made",
        ),
        "exact_sequence": (
            0.8,
            "exact: F1 0.80 of precision 1.00 and recall 0.67; called lookup_order -> "
            "check_policy; expected call 3 (refund) was never made",
        ),
    }


def test_a_wrong_argument_lowers_the_argument_scores_only() -> None:
    episode = good_episode()
    wrong = [call("c3", "refund", order_id="B7", amount="thirty")]
    episode[1] = inference("Let me refund that.", wrong, episode[1].tool_results)
    assert dropped(episode) == {
        "called_refund": (
            0.0,
            "step 2: called refund(amount='thirty', order_id='B7'): order_id is 'B7', "
            "expected 'A1'",
        ),
        "arguments_valid": (
            2 / 3,
            "2 of 3 valid; step 2: refund(amount='thirty', order_id='B7'): breaks the "
            "tool's schema at $.amount: 'thirty' is not of type 'number'",
        ),
    }


def test_an_extra_forbidden_tool_lowers_the_forbidden_and_exact_scores_only() -> None:
    episode = good_episode()
    extra = [call("c3", "refund", order_id="A1", amount=30.0), call("c4", "delete_account")]
    episode[1] = inference("Let me refund that.", extra, episode[1].tool_results)
    assert dropped(episode) == {
        "no_forbidden": (0.0, "step 2: called delete_account(), a forbidden tool"),
        "exact_sequence": (
            pytest.approx(6 / 7),
            "exact: F1 0.86 of precision 0.75 and recall 1.00; called lookup_order -> "
            "check_policy -> refund -> delete_account; step 2: delete_account() is extra "
            "or out of order",
        ),
    }


def test_a_looping_agent_past_max_steps_lowers_the_limits_and_exact_sequence() -> None:
    lookups = [inference("", [call(f"l{n}", "lookup_order", order_id="A1")]) for n in range(5)]
    episode = good_episode()
    looping = [*lookups, *episode]
    assert dropped(looping) == {
        "steps": (
            0.0,
            "8 steps, over the limit of 4: step 5 is the first past it (last tools called: "
            "lookup_order, check_policy, refund)",
        ),
        "tool_calls": (
            0.0,
            "8 tool calls, over the limit of 5: call 6 is step 6: lookup_order(order_id='A1')",
        ),
        "exact_sequence": (
            pytest.approx(6 / 11),
            "exact: F1 0.55 of precision 0.38 and recall 1.00; called lookup_order -> "
            "lookup_order -> lookup_order -> lookup_order -> lookup_order -> lookup_order -> "
            "check_policy -> refund; step 2: lookup_order(order_id='A1') is extra or out of "
            "order; step 3: lookup_order(order_id='A1') is extra or out of order; step 4: "
            "lookup_order(order_id='A1') is extra or out of order; and 2 more",
        ),
    }


def test_a_tool_error_lowers_no_tool_errors_with_the_step() -> None:
    episode = good_episode()
    failing = [result("c3", "refund", "payment service down", is_error=True)]
    episode[2] = inference("Sorry, try later.", None, episode[2].tool_results[:2] + failing)
    assert dropped(episode) == {
        "no_errors": (
            2 / 3,
            "step 2: refund(amount=30.0, order_id='A1') returned an error: payment service down",
        )
    }


# -- each scorer's options --------------------------------------------------------------


def test_tool_called_exact_arguments_refuse_extra_keys() -> None:
    trajectory = Trajectory.from_inferences(good_episode())
    assert (
        tool_called(
            trajectory, "refund", arguments={"order_id": "A1", "amount": 30.0}, match="exact"
        )
        == 1.0
    )
    scored = tool_called(trajectory, "refund", arguments={"order_id": "A1"}, match="exact")
    assert scored == 0.0
    assert scored.reason.endswith("unexpected argument(s) amount")


def test_tool_called_with_a_predicate_a_json_schema_and_a_pydantic_model() -> None:
    trajectory = Trajectory.from_inferences(good_episode())

    def positive_amount(arguments: dict[str, Any]) -> bool:
        return bool(arguments["amount"] > 0)

    assert tool_called(trajectory, "refund", where=positive_amount) == 1.0
    low = tool_called(trajectory, "refund", where=lambda arguments: arguments["amount"] > 100)
    assert low == 0.0 and "<lambda> is false for its arguments" in low.reason

    schema = {"type": "object", "properties": {"amount": {"maximum": 10}}}
    scored = tool_called(trajectory, "refund", schema=schema)
    assert scored == 0.0
    assert scored.reason == (
        "step 2: called refund(amount=30.0, order_id='A1'): breaks the schema at "
        "$.amount: 30.0 is greater than the maximum of 10"
    )

    class Refund(BaseModel):
        order_id: str
        amount: float

    class Lookup(BaseModel):
        order_id: int

    assert tool_called(trajectory, "refund", schema=Refund) == 1.0
    bad = tool_called(trajectory, "lookup_order", schema=Lookup)
    assert bad == 0.0 and "does not validate as Lookup: order_id:" in bad.reason


def test_tool_called_passes_when_any_call_matches() -> None:
    first = inference("", [call("a", "lookup_order", order_id="A9")])
    second = inference(
        "", [call("b", "lookup_order", order_id="A1")], [result("a", "lookup_order", "none")]
    )
    scored = tool_called([first, second], "lookup_order", arguments={"order_id": "A1"})
    assert scored == 1.0 and scored.reason == "step 2: called lookup_order(order_id='A1')"


def test_tool_sequence_modes_on_a_reordered_trajectory() -> None:
    trajectory = Trajectory.from_inferences(good_episode())
    expected = ["refund", "lookup_order"]
    in_order = tool_sequence(trajectory, expected)
    assert in_order == 0.5
    assert in_order.reason.endswith(
        "expected call 1 (refund) should come first, but was made out of order (step 2)"
    )
    assert tool_sequence(trajectory, expected, mode="any_order") == 1.0
    assert tool_sequence(trajectory, expected, partial=False) == 0.0
    exact = tool_sequence(trajectory, ["lookup_order", "check_policy", "refund"], mode="exact")
    assert exact == 1.0 and exact.details == {"precision": 1.0, "recall": 1.0}
    none = tool_sequence(Trajectory.from_inferences([inference("Hi.")]), [], mode="exact")
    assert none == 1.0


def test_tool_arguments_valid_refuses_undeclared_tools_and_unparsed_arguments() -> None:
    broken = ToolCall(
        id="x", name="refund", arguments=None, arguments_raw="{oops", arguments_valid=False
    )
    unknown = call("y", "launch_rocket", target="moon")
    scored = tool_arguments_valid([inference("", [broken, unknown])])
    assert scored == 0.0
    assert scored.reason == (
        "0 of 2 valid; step 1: refund({oops): arguments are not valid JSON: {oops; step 1: "
        "launch_rocket(target='moon'): launch_rocket is not a declared tool (declared: "
        "check_policy, delete_account, lookup_order, refund)"
    )
    assert tool_arguments_valid([inference("Hi.")]).reason == "no tool was called"


def test_scorers_refuse_bad_arguments_with_their_name() -> None:
    trajectory = Trajectory.from_inferences(good_episode())
    with pytest.raises(TypeError, match="tool_called: name must be a non-empty tool name"):
        tool_called(trajectory, "")
    with pytest.raises(ValueError, match="tool_called: match must be 'exact' or 'subset'"):
        tool_called(trajectory, "refund", match="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tool_called: schema must be a JSON Schema dict"):
        tool_called(trajectory, "refund", schema=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="json_schema_valid: schema at #/type is not valid"):
        tool_called(trajectory, "refund", schema={"type": 5})
    with pytest.raises(ValueError, match="tool_sequence: mode must be"):
        tool_sequence(trajectory, ["refund"], mode="sorted")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tool_sequence: expected must be a list of tool names"):
        tool_sequence(trajectory, "refund")
    with pytest.raises(ValueError, match="max_steps: limit must be a whole number >= 0"):
        max_steps(trajectory, -1)
    with pytest.raises(TypeError, match="no_tool_errors: expected a Trajectory"):
        no_tool_errors("step 1")  # type: ignore[arg-type]


def test_a_scored_value_is_a_float_that_llm_eval_score_accepts_with_its_reason() -> None:
    from pytest_llmeval.items.recorder import EvalRecorder

    recorder = EvalRecorder("test_agent.py::test_refund")
    for item in good_episode():
        recorder.add_inference(item)
    value = recorder.score("forbidden", no_forbidden_tools(recorder.trajectory, ["delete_account"]))
    assert value == 1.0 and type(value) is float
    assert recorder.scores["forbidden"].reason == "none of delete_account was called"
    recorder.score("plain", 0.5)
    assert recorder.scores["plain"].reason is None
    assert recorder.trajectory.final_answer == "Your order A1 is refunded: 30 EUR."


def test_importing_the_scorers_stays_stdlib_only_until_a_trajectory_scorer_is_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pytest_llmeval.scorers as s\n"
        "before = 'pydantic' in sys.modules or 'pytest_llmeval.records.trajectory' in sys.modules\n"
        "s.tool_called\n"
        "print(before, 'pytest_llmeval.records.trajectory' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
