"""Custom judges: call a user's `llm_judge` with what it accepts, and read what it returns.

A custom judge is any callable; it is called with the keyword arguments its signature
accepts, and returns a `Verdict` or a number in [0, 1] (a `PairwiseVerdict` or a number,
1 = a better, from its `compare`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pytest_llmeval.judges.kinds import Winner, pass_mark
from pytest_llmeval.records.verdicts import PairwiseVerdict, Verdict


def verdict_from(result: object, threshold: float | None, judge: object) -> Verdict:
    """A custom judge's result as a Verdict: a Verdict, or a number in [0, 1]."""
    if isinstance(result, Verdict):
        if threshold is None:
            return result
        return result.model_copy(update={"passed": result.score >= threshold})
    if isinstance(result, (bool, int, float)):
        score = _unit(result, judge)
        return Verdict(
            score=score,
            passed=score >= pass_mark(threshold),
            reason=f"{_judge_name(judge)} returned {score:g}",
        )
    raise TypeError(
        f"the judge {_judge_name(judge)} returned {type(result).__name__} {result!r}; a judge "
        "must return a Verdict or a number from 0 to 1"
    )


def pairwise_from(result: object, judge: object) -> PairwiseVerdict:
    """A custom judge's comparison as a PairwiseVerdict: one, or a number (1 = a better)."""
    if isinstance(result, PairwiseVerdict):
        return result
    if isinstance(result, (bool, int, float)):
        score = _unit(result, judge)
        winner: Winner = "a" if score > 0.5 else "b" if score < 0.5 else "tie"
        return PairwiseVerdict(
            winner=winner,
            score=score,
            passed=winner != "b",
            reason=f"{_judge_name(judge)} returned {score:g}",
        )
    raise TypeError(
        f"the judge {_judge_name(judge)} compare() returned {type(result).__name__} "
        f"{result!r}; it must return a PairwiseVerdict or a number from 0 (b) to 1 (a)"
    )


def _unit(value: bool | int | float, judge: object) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise ValueError(f"the judge {_judge_name(judge)} returned {value!r}, not within [0, 1]")
    return number


def _judge_name(judge: object) -> str:
    name = getattr(judge, "__qualname__", None) or type(judge).__qualname__
    return "<lambda>" if name.endswith("<lambda>") else str(name)


def call_with_accepted(function: Callable[..., Any], *args: Any, **options: Any) -> Any:
    """Call a user's judge with the keyword arguments its signature accepts."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # no signature (some builtins): pass everything
        return function(*args, **options)
    kinds = {parameter.kind for parameter in parameters}
    if inspect.Parameter.VAR_KEYWORD not in kinds:
        names = {
            p.name
            for p in parameters
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        }
        options = {key: value for key, value in options.items() if key in names}
    if inspect.Parameter.VAR_POSITIONAL not in kinds:
        positional = [
            p
            for p in parameters
            if p.kind
            in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            and p.name not in options
        ]
        args = args[: len(positional)]
    return function(*args, **options)


async def resolve(value: Any) -> Any:
    """Await `value` when a judge returned an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value
