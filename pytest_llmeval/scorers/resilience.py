"""Scorers of what an app did about provider faults: recovered, fell back, stayed within
its latency budget, failed cleanly.

They read the logical calls of `pytest_llmeval.records.attempts` (what `llm_faults.calls()`
returns) and return a `Scored`: a float in [0, 1] (the share of logical calls that
meet the requirement) carrying a `reason` that names the fault and the attempt, to pass
on: `llm_eval.score("recovered", found, reason=found.reason)`. Pure: standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_llmeval.scorers.scored import Scored

if TYPE_CHECKING:
    from pytest_llmeval.records.attempts import LogicalCall

__all__ = ["failed_cleanly", "fell_back_to", "recovered_within", "within_latency_budget"]


def _calls(scorer: str, calls: LogicalCall | Sequence[LogicalCall]) -> list[LogicalCall]:
    from pytest_llmeval.records.attempts import LogicalCall

    chosen = [calls] if isinstance(calls, LogicalCall) else list(calls)
    if not all(isinstance(call, LogicalCall) for call in chosen):
        raise TypeError(f"{scorer}: calls must be logical calls (llm_faults.calls())")
    return chosen


def _share(passed: int, total: int, failures: list[str], success: str) -> Scored:
    if not failures:
        return Scored(1.0, success)
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return Scored((total - len(failures)) / total, failures[0] + more)


def recovered_within(calls: LogicalCall | Sequence[LogicalCall], retries: int) -> Scored:
    """1.0 when every logical call was answered after at most `retries` retries."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"recovered_within: retries must be a whole number >= 0, got {retries!r}")
    chosen = _calls("recovered_within", calls)
    if not chosen:
        return Scored(0.0, "recovered_within: the app made no call")
    failures = []
    for number, call in enumerate(chosen, 1):
        if not call.answered:
            failures.append(f"call {number} was never answered: {call.describe()}")
        elif call.retries > retries:
            failures.append(
                f"call {number} needed {call.retries} retries, over {retries}: {call.describe()}"
            )
    faults = sum(len(call.faults) for call in chosen)
    return _share(
        len(chosen) - len(failures),
        len(chosen),
        failures,
        f"every call answered within {retries} retries ({faults} injected fault(s) survived)",
    )


def _model_matches(label: str, model: str) -> bool:
    return label == model or label.partition(":")[2] == model


def fell_back_to(calls: LogicalCall | Sequence[LogicalCall], model: str) -> Scored:
    """1.0 when every logical call whose first attempt failed was answered by `model`
    (`provider:model` or the model name alone); 0 when no attempt failed at all."""
    if not isinstance(model, str) or not model:
        raise ValueError(f"fell_back_to: model must be a model name, got {model!r}")
    failed_first = [call for call in _calls("fell_back_to", calls) if not call.first.answered]
    if not failed_first:
        return Scored(0.0, f"no call failed, so nothing fell back to {model}")
    failures = []
    for call in failed_first:
        final = call.final
        if not call.answered:
            failures.append(f"no fallback answered: {call.describe()}")
        elif not _model_matches(final.label, model):
            failures.append(f"answered by {final.label}, not {model}: {call.describe()}")
    return _share(
        len(failed_first) - len(failures),
        len(failed_first),
        failures,
        f"fell back to {model} after {', '.join(c.first.describe() for c in failed_first)}",
    )


def within_latency_budget(calls: LogicalCall | Sequence[LogicalCall], budget_s: float) -> Scored:
    """1.0 when every logical call was answered within `budget_s` seconds, its attempts'
    latencies and the waits before retries added up."""
    if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) or budget_s <= 0:
        raise ValueError(f"within_latency_budget: budget_s must be > 0 seconds, got {budget_s!r}")
    chosen = _calls("within_latency_budget", calls)
    if not chosen:
        return Scored(0.0, "within_latency_budget: the app made no call")
    failures = []
    for number, call in enumerate(chosen, 1):
        elapsed = call.elapsed_s
        if not call.answered:
            failures.append(f"call {number} was never answered: {call.describe()}")
        elif elapsed is None:
            failures.append(f"call {number} has an attempt of unknown latency: {call.describe()}")
        elif elapsed > budget_s:
            failures.append(
                f"call {number} took {elapsed:.2f}s, over the {budget_s:g}s budget: "
                f"{call.describe()}"
            )
    return _share(
        len(chosen) - len(failures),
        len(chosen),
        failures,
        f"every call answered within {budget_s:g}s",
    )


def failed_cleanly(
    outcome: object,
    expected: type[BaseException] | tuple[type[BaseException], ...],
    calls: LogicalCall | Sequence[LogicalCall] = (),
) -> Scored:
    """1.0 when the app's `outcome` (the exception it raised, or what it returned) is
    the `expected` error: the fault surfaced as the error the app promises, not as a
    crash of another kind or an answer made up after the failure."""
    chosen = _calls("failed_cleanly", calls)
    fault = next((c.final.describe() for c in reversed(chosen) if not c.answered), None)
    after = f" after {fault}" if fault else ""
    names = expected if isinstance(expected, tuple) else (expected,)
    wanted = " or ".join(cls.__name__ for cls in names)
    if isinstance(outcome, expected):
        return Scored(1.0, f"failed cleanly with {type(outcome).__name__}{after}")
    if isinstance(outcome, BaseException):
        return Scored(0.0, f"raised {type(outcome).__name__}{after}, expected {wanted}: {outcome}")
    return Scored(0.0, f"returned {outcome!r}{after} instead of raising {wanted}")
