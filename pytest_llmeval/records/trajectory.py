"""An agent's episode read from its model calls: steps, tool calls, tool results, answer.

A `Trajectory` is built from a test's app inferences in the order they were made. Each
successful model call is one `Step`: the tool calls the model requested in its answer,
each paired with the tool's result. A result is not in the answer that requested it: the
app runs the tool and sends the result back on a later request, so results are matched
to calls by call id over every later request (a conversation re-sends its history, so
the first occurrence counts). Calls without an id take the next request's unmatched
results of the same tool, in order. The final answer is the text of the last step when
that step requested no tool.

Failed calls (an HTTP error or a transport error) are not steps: they are counted in
`failed_calls`, since a retried call would otherwise appear twice. Embedding calls are
not steps either. Pure: no pytest, no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmeval.records.models import Inference, ToolCall, ToolResult

#: Longest tool result or answer shown in a `Trajectory.render()`, in characters.
RENDER_LIMIT = 600

# APIs whose calls are not steps of an agent (they produce no answer or tool call).
_NOT_STEPS = frozenset({"embeddings"})


@dataclass(frozen=True)
class ToolUse:
    """One tool call of a step, with its result if a later request carried one back."""

    call: ToolCall
    result: ToolResult | None
    step: int

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.call.name

    @property
    def arguments(self) -> Any:
        """The call's arguments parsed as JSON (None when they did not parse)."""
        return self.call.arguments

    @property
    def is_error(self) -> bool:
        """Whether the tool's result is marked as an error."""
        return self.result is not None and self.result.is_error

    def describe(self) -> str:
        """The call as `name(key=value, ...)`, for reasons and renderings."""
        return describe_call(self.call)


@dataclass(frozen=True)
class Step:
    """One model call of the episode and the tool calls it requested (numbered from 1)."""

    number: int
    inference: Inference
    tools: tuple[ToolUse, ...]

    @property
    def text(self) -> str:
        """What the model said in this step besides its tool calls (may be empty)."""
        return answer_text(self.inference)

    @property
    def is_final(self) -> bool:
        """Whether the step requested no tool: the model answered."""
        return not self.tools


@dataclass(frozen=True)
class Trajectory:
    """A test's app calls as an agent episode: steps, tool calls and their results."""

    steps: tuple[Step, ...]
    failed_calls: int = 0

    @classmethod
    def from_inferences(cls, inferences: Iterable[Inference]) -> Trajectory:
        """The trajectory of the app calls among `inferences` (judge and simulator calls
        are left out), in the order given."""
        calls = [
            inference
            for inference in inferences
            if inference.role == "app" and inference.api not in _NOT_STEPS
        ]
        succeeded = [inference for inference in calls if _succeeded(inference)]
        results = _match_results(succeeded)
        steps = tuple(
            Step(
                number=number,
                inference=inference,
                tools=tuple(
                    ToolUse(call=call, result=results.get((number - 1, index)), step=number)
                    for index, call in enumerate(inference.tool_calls)
                ),
            )
            for number, inference in enumerate(succeeded, 1)
        )
        return cls(steps=steps, failed_calls=len(calls) - len(succeeded))

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __str__(self) -> str:
        return self.render()

    @property
    def model_calls(self) -> int:
        """Successful model calls: the steps."""
        return len(self.steps)

    @property
    def tool_uses(self) -> list[ToolUse]:
        """Every tool call with its step and result, in order."""
        return [use for step in self.steps for use in step.tools]

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Every tool call the model requested, in order (a flat list)."""
        return [use.call for use in self.tool_uses]

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools called, in order."""
        return [use.name for use in self.tool_uses]

    @property
    def tool_errors(self) -> int:
        """Tool results marked as errors."""
        return sum(1 for use in self.tool_uses if use.is_error)

    @property
    def final_answer(self) -> str | None:
        """The text of the last step when it requested no tool; None when the episode
        ended on a tool call (or had no step)."""
        if not self.steps or not self.steps[-1].is_final:
            return None
        return self.steps[-1].text

    @property
    def input_tokens(self) -> int:
        """Input tokens of every step (uncached, cache reads and cache writes)."""
        return sum(
            (step.inference.input_tokens or 0)
            + (step.inference.cache_read_tokens or 0)
            + (step.inference.cache_write_tokens or 0)
            for step in self.steps
        )

    @property
    def output_tokens(self) -> int:
        """Output tokens of every step."""
        return sum(step.inference.output_tokens or 0 for step in self.steps)

    @property
    def tokens(self) -> int:
        """Input and output tokens of the episode."""
        return self.input_tokens + self.output_tokens

    @property
    def cost_usd(self) -> float | None:
        """The recorded cost of the priced steps; None when no step is priced."""
        costs = [step.inference.cost_usd for step in self.steps]
        known = [cost for cost in costs if cost is not None]
        return math.fsum(known) if known else None

    @property
    def latency_s(self) -> float | None:
        """Time spent waiting for the model over the episode (the steps' latencies added;
        the tools' own run time is not recorded); None when no latency is known."""
        latencies = [step.inference.latency_s for step in self.steps]
        known = [latency for latency in latencies if latency is not None]
        return math.fsum(known) if known else None

    def summary(self) -> str:
        """One line of totals: steps, tool calls, tool errors, tokens, cost, latency."""
        parts = [
            _plural(self.model_calls, "step"),
            _plural(len(self.tool_uses), "tool call"),
            _plural(self.tool_errors, "tool error"),
            f"{self.tokens} tokens",
        ]
        if self.cost_usd is not None:
            parts.append(f"${self.cost_usd:.6f}")
        if self.latency_s is not None:
            parts.append(f"{self.latency_s:.2f} s")
        if self.failed_calls:
            parts.append(_plural(self.failed_calls, "failed call"))
        return ", ".join(parts)

    def render(self, limit: int = RENDER_LIMIT) -> str:
        """A compact text of the episode, steps numbered, for judges and failure messages.

        Tool results and answers longer than `limit` characters are cut with a marker.
        """
        lines = [f"trajectory: {self.summary()}"]
        for step in self.steps:
            model = f"{step.inference.provider}:{step.inference.model or 'unknown'}"
            lines.append(f"step {step.number}: model call ({model})")
            said = step.text
            if step.tools:
                if said:
                    lines.append(f"  said: {_clip(said, limit)}")
                for use in step.tools:
                    lines.append(f"  tool call: {use.describe()}")
                    if use.result is None:
                        lines.append("    result: (none recorded)")
                    else:
                        label = "error" if use.result.is_error else "result"
                        lines.append(f"    {label}: {_clip(use.result.content, limit)}")
            else:
                lines.append(f"  answer: {_clip(said, limit)}")
        if not self.steps:
            lines.append("(no model calls)")
        elif not self.steps[-1].is_final:
            lines.append("(ended without a final answer)")
        return "\n".join(lines)


def describe_call(call: ToolCall) -> str:
    """A tool call as `name(key=value, ...)`, keys sorted (or `name(<raw text>)` when the
    arguments are not a JSON object).

    Sorted, because the order of an object's keys is not kept everywhere (a cassette
    may store a response's JSON with its keys sorted), and a rendering a judge reads
    must be the same in record and replay.
    """
    arguments = call.arguments
    if call.arguments_valid and isinstance(arguments, dict):
        inside = ", ".join(f"{key}={_value(arguments[key])}" for key in sorted(arguments))
    elif call.arguments_valid and arguments is not None:
        inside = _value(arguments)
    else:
        inside = call.arguments_raw
    return f"{call.name}({inside})"


def answer_text(inference: Inference) -> str:
    """An inference's answer text without the `name(arguments)` lines of its tool calls."""
    text = inference.output_text or ""
    if not inference.tool_calls:
        return text.strip()
    names = tuple(f"{call.name}(" for call in inference.tool_calls)
    kept = [line for line in text.splitlines() if not line.startswith(names)]
    return "\n".join(kept).strip()


def as_trajectory(value: Trajectory | Sequence[Inference], where: str) -> Trajectory:
    """`value` as a Trajectory (a list of inferences is read as one), or a TypeError."""
    if isinstance(value, Trajectory):
        return value
    if isinstance(value, Sequence) and all(isinstance(item, Inference) for item in value):
        return Trajectory.from_inferences(value)
    raise TypeError(
        f"{where}: expected a Trajectory (llm_eval.trajectory) or a list of inferences, "
        f"got {type(value).__name__}"
    )


def _succeeded(inference: Inference) -> bool:
    return inference.error is None and (inference.status is None or inference.status < 400)


def _match_results(inferences: Sequence[Inference]) -> dict[tuple[int, int], ToolResult]:
    """(step index, call index) -> the result a later request carried for that call.

    Results with an id answer the calls with that id made before their request; when
    ids repeat, the last results pair with the last calls (a request re-sending the
    whole history pairs each in order). Results without an id answer the previous
    step's calls without an id, by tool name, in order.
    """
    calls_by_id: dict[str, list[tuple[int, int]]] = {}
    matched: dict[tuple[int, int], ToolResult] = {}
    for position, inference in enumerate(inferences):
        results_by_id: dict[str, list[ToolResult]] = {}
        unmatched: list[ToolResult] = []
        for result in inference.tool_results:
            if result.call_id is None:
                unmatched.append(result)
            else:
                results_by_id.setdefault(result.call_id, []).append(result)
        for call_id, results in results_by_id.items():
            keys = calls_by_id.get(call_id, [])
            count = min(len(keys), len(results))
            if count:
                for key, result in zip(keys[-count:], results[-count:], strict=True):
                    matched.setdefault(key, result)
        if position > 0:
            previous = inferences[position - 1]
            for index, call in enumerate(previous.tool_calls):
                key = (position - 1, index)
                if call.id is not None or key in matched:
                    continue
                for result in unmatched:
                    if result.name in (None, call.name):
                        matched[key] = result
                        unmatched.remove(result)
                        break
        for index, call in enumerate(inference.tool_calls):
            if call.id is not None:
                calls_by_id.setdefault(call.id, []).append((position, index))
    return matched


def _value(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split()) if "\n" in text and len(text) <= limit else text
    if len(flat) <= limit:
        return flat
    return flat[:limit] + f" [... {len(flat) - limit} more characters]"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
