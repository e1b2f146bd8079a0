"""The `llm_eval` fixture object: what a test records about itself."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from pytest_llmeval.models import Inference, Score


def _check_unit_interval(what: str, value: object) -> float:
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


class EvalRecorder:
    """Records the scores, metadata and model calls of one llm_eval test."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self._scores: dict[str, Score] = {}
        self._metadata: dict[str, Any] = {}
        self._inferences: list[Inference] = []
        self._judge_resolver: Callable[[], Any] | None = None

    def bind_judge(self, resolver: Callable[[], Any]) -> None:
        """Where judge() finds the judge: the llm_judge fixture (set by the plugin)."""
        self._judge_resolver = resolver

    def score(
        self,
        name: str,
        value: bool | int | float,
        weight: float = 1.0,
        threshold: float | None = None,
        *,
        reason: str | None = None,
    ) -> float:
        """Record a named score in [0, 1] (a bool counts 0 or 1) and return it as a float.

        `weight` is its weight in the test's weighted mean (0 records it for
        information only); `threshold` is this metric's own pass mark.
        """
        __tracebackhide__ = True
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"llm_eval.score(): name must be a non-empty string, got {name!r}")
        if name in self._scores:
            raise ValueError(
                f"llm_eval.score(): a score named {name!r} was already recorded in this test; "
                "give each metric its own name (e.g. f'relevance_{i}')"
            )
        number = _check_unit_interval(f"llm_eval.score({name!r}) value", value)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise TypeError(f"llm_eval.score({name!r}): weight must be a number, got {weight!r}")
        if math.isnan(weight) or math.isinf(weight) or weight < 0:
            raise ValueError(f"llm_eval.score({name!r}): weight must be >= 0, got {weight!r}")
        limit = None
        if threshold is not None:
            limit = _check_unit_interval(f"llm_eval.score({name!r}) threshold", threshold)
        self._scores[name] = Score(
            name=name, value=number, weight=float(weight), threshold=limit, reason=reason
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
            self._metadata[key] = value

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
    def cost_usd(self) -> float:
        """The recorded cost of this test's priced calls so far, in USD."""
        return math.fsum(i.cost_usd for i in self._inferences if i.cost_usd is not None)

    def add_inference(self, inference: Inference) -> None:
        """Append a model call (called by the plugin's capture, not by tests)."""
        self._inferences.append(inference)
