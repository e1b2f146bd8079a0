"""What the `llm_eval` fixture's mixins (`case_methods`, `judge_methods`, `judge_trust`,
`conversation_methods`) may use of the recorder they are mixed into, declared once for
the type checker, and what the recorder and its mixins share: `CaseMaterial`, what
`llm_eval.case()` set, and `DEFAULT_MAX_TURNS` (here, not in `dialogue`, so that the
recorder's signatures need not load the conversation drivers)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmeval.judges.api import Judge
    from pytest_llmeval.judges.kinds import Scale, VerdictKind
    from pytest_llmeval.records.cases import Case
    from pytest_llmeval.records.models import Inference, Score
    from pytest_llmeval.records.verdicts import Verdict

#: Default limit on the turns of a simulated conversation (`llm_eval.simulate_user()`).
DEFAULT_MAX_TURNS = 8


def check_unit_interval(what: str, value: object) -> float:
    """Return value as a float in [0, 1] (bools count 0/1) or raise a clear error."""
    __tracebackhide__ = True
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, (int, float)):
        raise TypeError(
            f"{what} must be a bool or a number from 0 to 1, got {type(value).__name__} {value!r}"
        )
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"{what} must be from 0 to 1, got {value!r}")
    return number


@dataclass(frozen=True)
class CaseMaterial:
    """What `llm_eval.case()` set: the material judges and `run_checks` default to."""

    input: str | None = None
    output: str | None = None
    context: str | tuple[str, ...] | None = None
    reference: str | None = None
    case: Case | None = None


class RecorderParts:
    """The attributes and methods of `EvalRecorder` its mixins use."""

    if TYPE_CHECKING:  # what EvalRecorder provides
        nodeid: str
        _case: CaseMaterial | None
        _judge_scale: Scale | None
        _inferences: list[Inference]
        _metadata: dict[str, Any]
        _scores: dict[str, Score]
        _judge_resolver: Callable[[], Judge] | None
        _reserved_names: set[str]
        judge_min_kappa: float | None
        judge_probes: tuple[tuple[str, ...], int]
        rejudge: tuple[str, Any] | None

        def score(
            self,
            name: str,
            value: bool | int | float,
            *extra: object,
            weight: float = 1.0,
            threshold: float | None = None,
            reason: str | None = None,
        ) -> float: ...

        def check(self, name: str, passed: object, reason: str | None = None) -> bool: ...

        def log(self, **fields: Any) -> None: ...

        def judge(
            self,
            output: str | VerdictKind | None = None,
            criteria: str | VerdictKind | None = None,
            *,
            input: str | None = None,
            reference: str | None = None,
            context: str | Sequence[str] | None = None,
            scale: Scale | None = None,
            model: str | None = None,
            samples: int = 1,
            name: str | None = None,
            threshold: float | None = None,
            weight: float = 1.0,
        ) -> Verdict: ...

        async def ajudge(
            self,
            output: str | VerdictKind | None = None,
            criteria: str | VerdictKind | None = None,
            *,
            input: str | None = None,
            reference: str | None = None,
            context: str | Sequence[str] | None = None,
            scale: Scale | None = None,
            model: str | None = None,
            samples: int = 1,
            name: str | None = None,
            threshold: float | None = None,
            weight: float = 1.0,
        ) -> Verdict: ...

        def _with_case(
            self,
            call: str,
            output: Any,
            criteria: Any,
            input: str | None,
            reference: str | None,
            context: str | Sequence[str] | None,
        ) -> tuple[str, Any, str | None, str | None, str | Sequence[str] | None]: ...

        @staticmethod
        def _default_judge_name(criteria: Any, scale: Any, samples: Any) -> str: ...
