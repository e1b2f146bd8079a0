"""The `llm_eval` marker turned into a validated, frozen EvalSpec.

Markers can sit on a module (`pytestmark`), a class and a function; their keyword
arguments merge from the farthest to the closest, so a module can set
`judge_model=` once and each test its own `threshold`. Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pytest_llmeval.errors import LLMEvalError
from pytest_llmeval.vocabulary import AGGREGATES, Aggregate


class SpecError(LLMEvalError):
    """The llm_eval marker of a test has an invalid argument."""


@dataclass(frozen=True)
class EvalSpec:
    """What the llm_eval marker asks of one test."""

    threshold: float = 0.5
    aggregate: Aggregate = "mean"
    min_pass_rate: float | None = None
    repeat: int = 1
    group: str | None = None
    judge_model: str | None = None
    budget_usd: float | None = None
    max_latency_s: float | None = None
    judge_scale: Literal["binary", "1-5", "0-10"] | None = None


ALLOWED = {
    "threshold": "a number from 0 to 1, e.g. threshold=0.8",
    "aggregate": "'mean' (weighted mean of the scores) or 'min' (the lowest score)",
    "min_pass_rate": "None or a number from 0 to 1, e.g. min_pass_rate=0.9",
    "repeat": "a whole number >= 1, e.g. repeat=3",
    "group": "None or a non-empty string naming the group",
    "judge_model": "None or 'provider:model', e.g. 'anthropic:claude-sonnet-4-5'",
    "budget_usd": "None or a number of US dollars > 0, e.g. budget_usd=0.05",
    "max_latency_s": "None or a number of seconds > 0, e.g. max_latency_s=5",
    "judge_scale": "None, 'binary', '1-5' or '0-10' (the scale of judge calls that give none)",
}
_JUDGE_SCALES = ("binary", "1-5", "0-10")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(name: str, value: Any) -> Any:
    """Return the normalised value, or raise a ValueError saying what is wrong."""
    if name in ("threshold", "min_pass_rate"):
        if value is None and name == "min_pass_rate":
            return None
        if not _is_number(value) or math.isnan(value) or not 0.0 <= value <= 1.0:
            raise ValueError
        return float(value)
    if name == "aggregate":
        if value not in AGGREGATES:
            raise ValueError
        return value
    if name == "repeat":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError
        return value
    if name == "group":
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        return value.strip()
    if name == "judge_model":
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError
        provider, sep, model = value.partition(":")
        if not (sep and provider.strip() and model.strip()):
            raise ValueError
        return value
    if name == "judge_scale":
        if value is not None and value not in _JUDGE_SCALES:
            raise ValueError
        return value
    # budget_usd, max_latency_s
    if value is None:
        return None
    if not _is_number(value) or math.isnan(value) or value <= 0:
        raise ValueError
    return float(value)


def build_spec(markers: Iterable[tuple[tuple[Any, ...], dict[str, Any]]], where: str) -> EvalSpec:
    """Merge marker (args, kwargs) pairs, closest first, into a validated EvalSpec.

    `where` names the test in error messages.
    """
    merged: dict[str, Any] = {}
    for args, kwargs in reversed(list(markers)):
        if len(args) > 1:
            raise SpecError(
                f"{where}: @pytest.mark.llm_eval takes at most one positional argument "
                f"(threshold), got {len(args)}: {args!r}. Pass the others by keyword."
            )
        if args:
            merged["threshold"] = args[0]
        for key, value in kwargs.items():
            if key not in ALLOWED:
                raise SpecError(
                    f"{where}: @pytest.mark.llm_eval got an unknown argument {key}={value!r}. "
                    f"Allowed arguments: {', '.join(ALLOWED)}."
                )
            merged[key] = value
    normalised: dict[str, Any] = {}
    for key, value in merged.items():
        try:
            normalised[key] = _check(key, value)
        except ValueError:
            raise SpecError(
                f"{where}: @pytest.mark.llm_eval({key}={value!r}) is invalid; "
                f"allowed: {ALLOWED[key]}."
            ) from None
    return EvalSpec(**normalised)
