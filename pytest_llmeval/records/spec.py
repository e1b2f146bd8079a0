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

from pytest_llmeval.core.errors import LLMEvalError
from pytest_llmeval.core.vocabulary import AGGREGATES, Aggregate

#: The per-case rules across repeats `case_rule=` accepts (see EvalSpec.case_rule).
CaseRule = Literal["pass^k", "pass@k"]
CASE_RULES: tuple[CaseRule, ...] = ("pass^k", "pass@k")


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
    #: Per-case rule across the case's runs: "pass^k" (every run passes) or "pass@k"
    #: (fewer than k runs fail: with k = all runs, at least one passes).
    case_rule: CaseRule | None = None
    #: The k of pass^k and pass@k (reported, and used by case_rule="pass@k"); None: the
    #: number of runs the case made.
    pass_k: int | None = None
    #: The share of a case's runs that must pass for the case to pass.
    min_case_pass_rate: float | None = None
    #: Adaptive repeats: a case whose runs straddle its threshold is sampled again, up to
    #: this many runs in all; None: off.
    adaptive: int | None = None
    faults: tuple[Any, ...] = ()  # injection.FaultRule, checked by injection.as_rule
    judge_scale: Literal["binary", "1-5", "0-10"] | None = None
    #: The parametrize argument whose values are the variants compared (models, prompts,
    #: configs); the cases pair across its values by their other parameters.
    variants: str | None = None
    #: The variant (its parametrize id) the others are compared with; None: the first.
    reference: str | None = None

    @property
    def judges_cases(self) -> bool:
        """Whether a per-case rule across runs (not each run's own score) decides the case."""
        return self.case_rule is not None or self.min_case_pass_rate is not None


ALLOWED = {
    "threshold": "a number from 0 to 1, e.g. threshold=0.8",
    "aggregate": "'mean' (weighted mean of the scores) or 'min' (the lowest score)",
    "min_pass_rate": "None or a number from 0 to 1, e.g. min_pass_rate=0.9",
    "repeat": "a whole number >= 1, e.g. repeat=3",
    "group": "None or a non-empty string naming the group",
    "judge_model": "None or 'provider:model', e.g. 'anthropic:claude-sonnet-4-5'",
    "budget_usd": "None or a number of US dollars > 0, e.g. budget_usd=0.05",
    "max_latency_s": "None or a number of seconds > 0, e.g. max_latency_s=5",
    "case_rule": "None, 'pass^k' (every run of the case passes) or 'pass@k' (at least one "
    "of k runs passes)",
    "pass_k": "None or a whole number from 1 to repeat, e.g. pass_k=3",
    "min_case_pass_rate": "None or a number from 0 to 1, e.g. min_case_pass_rate=0.8",
    "adaptive": "None or a whole number of runs > repeat (the cap for a straddling case), "
    "e.g. repeat=3, adaptive=10",
    "faults": "a list of fault kinds or pytest_llmeval.fault(...) rules, e.g. faults=['429']",
    "judge_scale": "None, 'binary', '1-5' or '0-10' (the scale of judge calls that give none)",
    "variants": "None or the name of a parametrize argument of the test whose values are "
    "the variants, e.g. variants='model'",
    "reference": "None or the parametrize id of one of the variants, e.g. "
    "reference='gpt-4.1-mini' (needs variants=)",
}
_JUDGE_SCALES = ("binary", "1-5", "0-10")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(name: str, value: Any) -> Any:
    """Return the normalised value, or raise a ValueError saying what is wrong."""
    if name in ("threshold", "min_pass_rate", "min_case_pass_rate"):
        if value is None and name != "threshold":
            return None
        if not _is_number(value) or math.isnan(value) or not 0.0 <= value <= 1.0:
            raise ValueError
        return float(value)
    if name == "aggregate":
        if value not in AGGREGATES:
            raise ValueError
        return value
    if name in ("repeat", "pass_k", "adaptive"):
        if value is None and name != "repeat":
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError
        return value
    if name == "case_rule":
        if value is not None and value not in CASE_RULES:
            raise ValueError
        return value
    if name == "group":
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        return value.strip()
    if name == "variants":
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip().isidentifier():
            raise ValueError
        return value.strip()
    if name == "reference":
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError
        return value
    if name == "faults":
        from pytest_llmeval.records.injection import as_rule

        if not isinstance(value, (list, tuple)):
            raise ValueError
        return tuple(as_rule(item) for item in value)  # a FaultRuleError says what is wrong
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
        except ValueError as error:
            detail = f" ({error})" if str(error) else ""
            raise SpecError(
                f"{where}: @pytest.mark.llm_eval({key}={value!r}) is invalid{detail}; "
                f"allowed: {ALLOWED[key]}."
            ) from None
    spec = EvalSpec(**normalised)
    _check_together(spec, merged, where)
    return spec


def _check_together(spec: EvalSpec, given: dict[str, Any], where: str) -> None:
    """The arguments that bound each other: pass_k by repeat, adaptive above repeat,
    reference only with variants."""
    if spec.reference is not None and spec.variants is None:
        raise SpecError(
            f"{where}: @pytest.mark.llm_eval(reference={given['reference']!r}) names the "
            "variant the others are compared with, but the marker has no variants=; add "
            "variants='<the parametrize argument that holds the variants>', or drop reference=."
        )
    if spec.pass_k is not None and spec.pass_k > spec.repeat:
        raise SpecError(
            f"{where}: @pytest.mark.llm_eval(pass_k={given['pass_k']!r}) is invalid with "
            f"repeat={spec.repeat}: k counts runs of the case, so it is at most repeat; "
            f"allowed: {ALLOWED['pass_k']}."
        )
    if spec.adaptive is not None and (spec.repeat < 2 or spec.adaptive <= spec.repeat):
        raise SpecError(
            f"{where}: @pytest.mark.llm_eval(adaptive={given['adaptive']!r}) is invalid with "
            f"repeat={spec.repeat}: adaptive caps the runs of a case whose first runs "
            "straddle its threshold, so it needs repeat >= 2 and adaptive > repeat; "
            f"allowed: {ALLOWED['adaptive']}."
        )
