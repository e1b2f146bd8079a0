"""The `llm_eval` fixture object: what a test records about itself."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_llmeval.items.case_methods import CaseMethods
from pytest_llmeval.items.conversation_methods import ConversationMethods
from pytest_llmeval.items.judge_methods import JudgeMethods
from pytest_llmeval.items.recorder_parts import CaseMaterial, check_unit_interval
from pytest_llmeval.records.models import Inference, Score

if TYPE_CHECKING:
    from pytest_llmeval.judges.api import Judge
    from pytest_llmeval.judges.kinds import Scale
    from pytest_llmeval.records.trajectory import Trajectory


class EvalRecorder(ConversationMethods, CaseMethods, JudgeMethods):
    """Records the scores, metadata and model calls of one llm_eval test."""

    def __init__(self, nodeid: str, redact: Callable[[Any], Any] | None = None) -> None:
        self.nodeid = nodeid
        # what log() keeps ends up in reports: it gets the cassettes' secret redaction
        self._redact = redact
        self._scores: dict[str, Score] = {}
        self._metadata: dict[str, Any] = {}
        self._inferences: list[Inference] = []
        self._judge_resolver: Callable[[], Judge] | None = None
        self._reserved_names: set[str] = set()  # names of judge calls still running
        self._case: CaseMaterial | None = None
        self._judge_scale: Scale | None = None
        #: --llmeval-judge-min-kappa: calibrate()'s floor when it is given none.
        self.judge_min_kappa: float | None = None
        #: --llmeval-rejudge: the new judge model and the cassette its calls are routed to.
        self.rejudge: tuple[str, Any] | None = None
        #: --llmeval-judge-probes and --llmeval-judge-probe-samples.
        self.judge_probes: tuple[tuple[str, ...], int] = ((), 3)

    def bind_judge(self, resolver: Callable[[], Judge]) -> None:
        """Where judge() finds the judge: the llm_judge fixture (set by the plugin)."""
        self._judge_resolver = resolver

    def share_judge(self, other: EvalRecorder) -> None:
        """Let another recorder of the same item (an adaptive extra run) find the same judge."""
        other._judge_resolver = self._judge_resolver

    def pin_judge(self) -> None:
        """Resolve the judge now and keep it, or the error resolving it raised.

        For a test body that runs after its setup is over (--llmeval-concurrency), when
        the llm_judge fixture can no longer be requested.
        """
        resolver = self._judge_resolver
        if resolver is None:
            return
        try:
            judge = resolver()
        except Exception as error:
            failure = error

            def fail() -> Judge:
                raise failure

            self._judge_resolver = fail
            return
        self._judge_resolver = lambda: judge

    def score(
        self,
        name: str,
        value: bool | int | float,
        *extra: object,
        weight: float = 1.0,
        threshold: float | None = None,
        reason: str | None = None,
    ) -> float:
        """Record a named score in [0, 1] (a bool counts 0 or 1) and return it as a float.

        `weight` is its weight in the test's weighted mean (0 records it for
        information only); `threshold` is this metric's own pass mark. Both are
        keyword-only. A scorer's result that carries a `reason` (the trajectory
        scorers') is recorded with it.
        """
        __tracebackhide__ = True
        if extra:
            # score("x", 0.6, 0.9) used to set the weight silently; say which keyword was meant
            raise TypeError(
                f"{self.nodeid}: llm_eval.score({name!r}, {value!r}, "
                f"{', '.join(repr(e) for e in extra)}): weight and threshold are keyword-only; "
                f"write llm_eval.score({name!r}, {value!r}, weight=..., threshold=...)"
            )
        return self._add_score(name, value, weight=weight, threshold=threshold, reason=reason)

    def check(self, name: str, passed: object, reason: str | None = None) -> bool:
        """Record a requirement: a failed check fails the test whatever the mean.

        `passed` is a bool (or a scorer's result: 1.0 passes, anything lower fails).
        It is recorded as a score of 1 or 0 with threshold 1, weight 0 (a check gates
        the test; it does not move the weighted mean) and `check` set, with `reason`.
        Returns whether it passed.
        """
        __tracebackhide__ = True
        if reason is not None and not isinstance(reason, str):
            raise TypeError(
                f"{self.nodeid}: llm_eval.check({name!r}): reason must be a str or None, "
                f"got {type(reason).__name__}"
            )
        if reason is None and isinstance(getattr(passed, "reason", None), str):
            reason = passed.reason  # type: ignore[attr-defined]
        value = check_unit_interval(f"llm_eval.check({name!r}) passed", passed)
        ok = value >= 1.0
        self._add_score(
            name, 1.0 if ok else 0.0, weight=0.0, threshold=1.0, reason=reason, check=True
        )
        return ok

    def _add_score(
        self,
        name: str,
        value: object,
        *,
        weight: float,
        threshold: float | None,
        reason: str | None,
        check: bool = False,
    ) -> float:
        __tracebackhide__ = True
        if reason is None and isinstance(getattr(value, "reason", None), str):
            reason = value.reason  # type: ignore[attr-defined]
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"llm_eval.score(): name must be a non-empty string, got {name!r}")
        if name in self._scores:
            raise ValueError(
                f"llm_eval.score(): a score named {name!r} was already recorded in this test; "
                "give each metric its own name (e.g. f'relevance_{i}')"
            )
        number = check_unit_interval(f"llm_eval.score({name!r}) value", value)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise TypeError(f"llm_eval.score({name!r}): weight must be a number, got {weight!r}")
        if math.isnan(weight) or math.isinf(weight) or weight < 0:
            raise ValueError(f"llm_eval.score({name!r}): weight must be >= 0, got {weight!r}")
        limit = None
        if threshold is not None:
            limit = check_unit_interval(f"llm_eval.score({name!r}) threshold", threshold)
        self._scores[name] = Score(
            name=name,
            value=number,
            weight=float(weight),
            threshold=limit,
            reason=reason,
            check=check,
        )
        return number

    def log(self, **fields: Any) -> None:
        """Attach extra metadata to the test's result (JSON-serialisable values only)."""
        __tracebackhide__ = True
        for key, value in fields.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"llm_eval.log({key}=...): the value must be JSON-serialisable "
                    f"(str, number, bool, None, list, dict), got {type(value).__name__}: {error}"
                ) from None
            self._metadata[key] = value if self._redact is None else self._redact(value)

    @property
    def scores(self) -> Mapping[str, Score]:
        """The scores recorded so far, by name, in recorded order."""
        return dict(self._scores)

    @property
    def metadata(self) -> Mapping[str, Any]:
        """What log() recorded so far."""
        return dict(self._metadata)

    @property
    def inferences(self) -> list[Inference]:
        """The model calls this test made so far (live or replayed)."""
        return list(self._inferences)

    @property
    def trajectory(self) -> Trajectory:
        """The test's app calls so far as an agent episode: steps, tool calls, results."""
        from pytest_llmeval.records.trajectory import Trajectory

        return Trajectory.from_inferences(self._inferences)

    @property
    def cost_usd(self) -> float:
        """The recorded cost of this test's priced calls so far, in USD."""
        return math.fsum(i.cost_usd for i in self._inferences if i.cost_usd is not None)

    def add_inference(self, inference: Inference) -> None:
        """Append a model call (called by the plugin's capture, not by tests)."""
        self._inferences.append(inference)
