"""The committed baseline: what a session scored, per group and case, kept for review.

A baseline (``llmeval-baseline.json``) holds, per group: the number of cases, the mean
score, the pass rate, every case's score and pass flag keyed by case id, and, when the
session knew them, the group's cost and p95 latency. It is written from a session's
aggregate and contains nothing volatile (no timestamps, durations or host names), so
the same results always give the same bytes and a diff in review shows real changes.

The comparison with it (the regression verdict) is in `comparison`.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from pytest_llmeval.core.files import load_model, write_model
from pytest_llmeval.core.frozen import FrozenModel
from pytest_llmeval.records.models import GroupAggregate, SessionAggregate

if TYPE_CHECKING:
    from pytest_llmeval.core.redact import Redactor

#: The baseline schema version this code writes, and the newest one it reads.
BASELINE_SCHEMA_VERSION = 1


_SLACK = 1e-9


class BaselineCase(FrozenModel):
    """One case of a baseline group."""

    score: float = Field(description="The case score (mean over its runs), 0 to 1.")
    passed: bool = Field(description="Whether the case passed (status `passed`).")
    runs: int | None = Field(
        default=None,
        description="How many runs the score is the mean of; written only for a repeated "
        "case (repeat=N), absent otherwise.",
    )
    stdev: float | None = Field(
        default=None,
        description="Sample standard deviation of the runs' scores; written only for a "
        "repeated case.",
    )

    @model_serializer(mode="wrap")
    def _only_used(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # a case that did not repeat keeps the two-key form baselines always had, so a
        # baseline written before these fields existed keeps its bytes
        data: dict[str, Any] = handler(self)
        if self.runs is None or self.runs <= 1:
            data.pop("runs", None)
            data.pop("stdev", None)
        return data


class BaselineGroup(FrozenModel):
    """One group of a baseline: its summary and its cases."""

    label: str = Field(description="Short display name of the group.")
    n: int = Field(description="Cases that ran (skipped cases are left out).")
    mean: float | None = Field(description="Mean case score; null when no case ran.")
    pass_rate: float | None = Field(description="Passed cases / n; null when no case ran.")
    cost_usd: float | None = Field(
        default=None, description="Recorded cost of the group's calls in USD, when known."
    )
    latency_p95_s: float | None = Field(
        default=None, description="95th percentile latency of the group's calls, when known."
    )
    cases: dict[str, BaselineCase] = Field(
        default_factory=dict, description="Every case that ran, keyed by case id."
    )


class Baseline(FrozenModel):
    """A committed baseline: per group n, mean, pass rate, case scores, cost, latency."""

    schema_version: int = Field(
        default=BASELINE_SCHEMA_VERSION, description="Version of this file format; first."
    )
    groups: dict[str, BaselineGroup] = Field(
        default_factory=dict, description="Groups keyed by group key (group= or test function)."
    )


def group_accounting(group: GroupAggregate) -> tuple[float | None, float | None]:
    """(recorded cost in USD, p95 latency in s) of a group's calls; None when unknown.

    The cost is unknown when the group made no call with a known price (a group of
    deterministic tests, or only unpriced models); the latency when no call has one.
    """
    usage = group.usage
    cost = usage.cost_usd if usage.calls > usage.unpriced else None
    return _number(cost), _number(usage.latency_p95_s)


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def baseline_from_aggregate(aggregate: SessionAggregate) -> Baseline:
    """The baseline of a session: what --llmeval-update-baseline writes."""
    groups: dict[str, BaselineGroup] = {}
    for group in aggregate.groups:
        cost, latency = group_accounting(group)
        cases = {
            case.case_id: BaselineCase(
                score=case.score,
                passed=case.status == "passed",
                runs=case.runs if case.runs > 1 else None,
                stdev=_number(case.stdev) if case.runs > 1 else None,
            )
            for case in group.cases
            if case.status != "skipped"
        }
        groups[group.group] = BaselineGroup(
            label=group.label,
            n=group.n,
            mean=group.mean,
            pass_rate=group.pass_rate,
            cost_usd=cost,
            latency_p95_s=latency,
            cases=dict(sorted(cases.items())),
        )
    return Baseline(groups=dict(sorted(groups.items())))


def load_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read a baseline file; a bad one is a FileFormatError naming it."""
    return load_model(path, Baseline, what="baseline")


def write_baseline(
    path: str | os.PathLike[str], baseline: Baseline, *, redactor: Redactor | None = None
) -> None:
    """Write a baseline file atomically, in its stable form."""
    write_model(path, baseline, redactor=redactor)
