"""A review summary of a run: its verdict against the run before it, as data.

`llmeval diff OLD NEW --format json` prints a `ReviewSummary`; `--format markdown` and
`pytest --llmeval-summary-md=PATH` render the same value as pull-request-ready
markdown (`reporting/markdown.py`). It is built from values only: a session's
aggregate, the baseline comparison (`records.comparison.BaselineComparison`) and the
earlier run (its aggregate when there is one, else the baseline file's groups).

The verdict vocabulary, written once here:

* a group that both runs have is `regressed` when the comparison flagged it (score,
  cost or latency: `regressed_kinds` says which), else `improved` when its mean over
  the shared cases rose by more than the tolerance, `lower` when it fell by more than
  the tolerance without the gate's rule flagging it (not significant), else
  `unchanged`. "Improved" is a difference past the tolerance, not a tested one: the
  gate tests drops only.
* the run is `regressed` when some group is, else `improved` when some group improved
  and none is lower, else `unchanged`; `gate.fails` says whether the gate fails the run
  (only the kinds named in `fail_on` do).
* a run summarised alone (no baseline) is `passed` or `failed` by its own results:
  a group fails when its pass rate is under its `min_pass_rate`, or, without one, when
  a case did not pass.

Lists are complete here (the markdown truncates them); sorted: groups by severity then
key, cases by id, score changes by the size of the drop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from pytest_llmeval.core.frozen import FrozenModel

if TYPE_CHECKING:
    from pytest_llmeval.records.baseline import Baseline
    from pytest_llmeval.records.comparison import BaselineComparison, GroupComparison
    from pytest_llmeval.records.models import GroupAggregate, SessionAggregate, UsageRollup

#: The summary schema version this code writes, and the newest one it reads.
SUMMARY_SCHEMA_VERSION = 1

RunVerdict = Literal["regressed", "improved", "unchanged", "passed", "failed"]
GroupVerdict = Literal["regressed", "lower", "improved", "unchanged", "passed", "failed"]

#: Groups are listed most severe first.
SEVERITY: dict[str, int] = {
    "regressed": 0,
    "failed": 0,
    "lower": 1,
    "improved": 2,
    "unchanged": 3,
    "passed": 3,
}


class Totals(FrozenModel):
    """One run added up over all its groups."""

    groups: int = Field(description="Groups in the run.")
    cases: int = Field(description="Cases that ran (skipped cases left out).")
    passed: int = Field(description="Cases that passed.")
    mean: float | None = Field(description="Mean case score; null without cases.")
    pass_rate: float | None = Field(description="passed / cases; null without cases.")
    cost_usd: float | None = Field(description="Recorded cost of the calls; null if unknown.")
    cost_per_case_usd: float | None = Field(description="cost_usd / cases.")
    latency_p50_s: float | None = Field(description="Median call latency; null if unknown.")
    latency_p95_s: float | None = Field(description="95th percentile call latency.")


class CaseChange(FrozenModel):
    """A shared case whose score changed."""

    case: str = Field(description="Case id.")
    old_score: float = Field(description="Its score in the earlier run.")
    new_score: float = Field(description="Its score in this run.")
    old_passed: bool = Field(description="Whether it passed in the earlier run.")
    new_passed: bool = Field(description="Whether it passes in this run.")


class GroupChange(FrozenModel):
    """One group: how it changed (or, for a run alone, how it did)."""

    group: str = Field(description="Group key.")
    label: str = Field(description="Short display name.")
    verdict: GroupVerdict = Field(description="See the module docstring.")
    regressed_kinds: list[str] = Field(
        default_factory=list, description="What the comparison flagged: score, cost, latency."
    )
    rule: str | None = Field(default=None, description="The gate rule that decided the score.")
    p_value: float | None = Field(default=None, description="The paired sign-flip p.")
    adjusted_p: float | None = Field(default=None, description="p after the correction.")
    shared: int | None = Field(default=None, description="Cases both runs scored.")
    n: int = Field(description="Cases of this run.")
    old_mean: float | None = Field(default=None, description="Earlier mean (shared cases).")
    new_mean: float | None = Field(description="Mean (over the shared cases when compared).")
    delta: float | None = Field(default=None, description="new_mean - old_mean.")
    old_pass_rate: float | None = Field(default=None, description="Earlier pass rate.")
    new_pass_rate: float | None = Field(description="Pass rate (shared cases when compared).")
    old_cost_per_case_usd: float | None = Field(default=None, description="Earlier cost/case.")
    new_cost_per_case_usd: float | None = Field(description="Cost per case, USD.")
    cost_increase: float | None = Field(default=None, description="Relative cost/case change.")
    old_latency_p50_s: float | None = Field(default=None, description="Earlier p50 latency.")
    new_latency_p50_s: float | None = Field(description="p50 call latency, seconds.")
    old_latency_p95_s: float | None = Field(default=None, description="Earlier p95 latency.")
    new_latency_p95_s: float | None = Field(description="p95 call latency, seconds.")
    latency_increase: float | None = Field(default=None, description="Relative p95 change.")
    newly_failing: list[str] = Field(default_factory=list, description="Passed, now not.")
    newly_passing: list[str] = Field(default_factory=list, description="Did not pass, now does.")
    failing: list[str] = Field(default_factory=list, description="Cases that do not pass now.")
    new_cases: list[str] = Field(default_factory=list, description="Only in this run.")
    vanished_cases: list[str] = Field(default_factory=list, description="Only in the earlier.")
    score_changes: list[CaseChange] = Field(
        default_factory=list, description="Shared cases whose score changed, largest drop first."
    )


class GateSummary(FrozenModel):
    """What the regression gate decided, and under which policy."""

    fails: bool = Field(description="Whether the gate fails the run (kinds in fail_on).")
    failing_kinds: list[str] = Field(description="Flagged kinds that are in fail_on.")
    flagged_kinds: list[str] = Field(description="Every kind the comparison flagged.")
    fail_on: list[str] = Field(description="The kinds that fail the run.")
    rule: str | None = Field(description="The rule asked for: auto, statistical, conservative.")
    correction: str | None = Field(description="Correction across groups: holm, bh, none.")
    tolerance: float = Field(description="Smallest mean drop that can count.")
    alpha: float = Field(description="Significance level of the paired test.")
    decided_by: dict[str, int] = Field(
        default_factory=dict, description="How many compared groups each rule decided."
    )


class ReviewSummary(FrozenModel):
    """A run's verdict, group changes, flipped cases and cost and latency deltas."""

    schema_version: int = Field(
        default=SUMMARY_SCHEMA_VERSION, description="Version of this format; first."
    )
    old: str | None = Field(description="What the run is compared with; null: run alone.")
    new: str = Field(description="The run summarised.")
    note: str | None = Field(default=None, description="Why a run is summarised alone.")
    verdict: RunVerdict = Field(description="See the module docstring.")
    gate: GateSummary | None = Field(description="The gate's decision; null: run alone.")
    old_totals: Totals | None = Field(description="The earlier run added up.")
    new_totals: Totals = Field(description="This run added up.")
    groups: list[GroupChange] = Field(description="Groups, most severe first.")
    new_groups: list[str] = Field(default_factory=list, description="Only in this run.")
    vanished_groups: list[str] = Field(default_factory=list, description="Only in the earlier.")
    outside_groups: list[str] = Field(
        default_factory=list, description="Earlier groups this run did not cover (shards)."
    )
    variants: list[dict[str, Any]] | None = Field(
        default=None, description="The report's variant comparisons, as it holds them."
    )


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _cost(usage: UsageRollup) -> float | None:
    return usage.cost_usd if usage.calls > usage.unpriced else None


def _per_case(cost: float | None, cases: int) -> float | None:
    return None if cost is None or cases <= 0 else cost / cases


def totals_of_aggregate(aggregate: SessionAggregate) -> Totals:
    """A session's totals from its aggregate."""
    cases = aggregate.cases - aggregate.skipped
    cost = _cost(aggregate.usage)
    return Totals(
        groups=len(aggregate.groups),
        cases=cases,
        passed=aggregate.passed,
        mean=aggregate.mean,
        pass_rate=_ratio(aggregate.passed, cases),
        cost_usd=cost,
        cost_per_case_usd=_per_case(cost, cases),
        latency_p50_s=aggregate.usage.latency_p50_s,
        latency_p95_s=aggregate.usage.latency_p95_s,
    )


def totals_of_baseline(baseline: Baseline) -> Totals:
    """An earlier run's totals from its baseline file (which keeps no p50, nor a p95
    over all calls)."""
    scores = [case for group in baseline.groups.values() for case in group.cases.values()]
    costs = [g.cost_usd for g in baseline.groups.values() if g.cost_usd is not None]
    cost = sum(costs) if costs else None
    passed = sum(1 for case in scores if case.passed)
    return Totals(
        groups=len(baseline.groups),
        cases=len(scores),
        passed=passed,
        mean=sum(case.score for case in scores) / len(scores) if scores else None,
        pass_rate=_ratio(passed, len(scores)),
        cost_usd=cost,
        cost_per_case_usd=_per_case(cost, len(scores)),
        latency_p50_s=None,
        latency_p95_s=None,
    )


def _group_verdict(group: GroupComparison, tolerance: float) -> tuple[GroupVerdict, list[str]]:
    kinds = [
        kind
        for kind, flagged in (
            ("score", group.regressed),
            ("cost", group.cost_regressed),
            ("latency", group.latency_regressed),
        )
        if flagged
    ]
    if kinds:
        return "regressed", kinds
    if group.drop is not None and -group.drop > tolerance:
        return "improved", kinds
    if group.drop is not None and group.drop > tolerance:
        return "lower", kinds
    return "unchanged", kinds


def _score_changes(old: Baseline | None, new: Baseline, key: str) -> list[CaseChange]:
    """The shared cases of a group whose score changed, largest drop first."""
    if old is None or key not in old.groups or key not in new.groups:
        return []
    before, after = old.groups[key].cases, new.groups[key].cases
    changes = [
        CaseChange(
            case=case,
            old_score=before[case].score,
            new_score=after[case].score,
            old_passed=before[case].passed,
            new_passed=after[case].passed,
        )
        for case in sorted(set(before) & set(after))
        if before[case].score != after[case].score
    ]
    return sorted(changes, key=lambda c: (c.new_score - c.old_score, c.case))


def _failing(group: GroupAggregate) -> list[str]:
    return sorted(c.case_id for c in group.cases if c.status not in ("passed", "skipped"))


def _ordered(groups: Iterable[GroupChange]) -> list[GroupChange]:
    return sorted(groups, key=lambda g: (SEVERITY[g.verdict], g.group))


def summarize_run(
    aggregate: SessionAggregate,
    *,
    name: str,
    note: str | None = None,
    variants: Sequence[Mapping[str, Any]] | None = None,
) -> ReviewSummary:
    """A run summarised alone (no baseline to compare with)."""
    groups = []
    for group in aggregate.groups:
        failing = _failing(group)
        if group.min_pass_rate is not None:
            failed = group.failed_min_pass_rate
        else:
            failed = bool(failing)
        groups.append(
            GroupChange(
                group=group.group,
                label=group.label,
                verdict="failed" if failed else "passed",
                n=group.n,
                new_mean=group.mean,
                new_pass_rate=group.pass_rate,
                new_cost_per_case_usd=_per_case(_cost(group.usage), group.n),
                new_latency_p50_s=group.usage.latency_p50_s,
                new_latency_p95_s=group.usage.latency_p95_s,
                failing=failing,
            )
        )
    verdict: RunVerdict = "failed" if any(g.verdict == "failed" for g in groups) else "passed"
    return ReviewSummary(
        old=None,
        new=name,
        note=note,
        verdict=verdict,
        gate=None,
        old_totals=None,
        new_totals=totals_of_aggregate(aggregate),
        groups=_ordered(groups),
        variants=[dict(v) for v in variants] if variants is not None else None,
    )


def summarize_comparison(
    comparison: BaselineComparison,
    aggregate: SessionAggregate,
    *,
    old_name: str,
    new_name: str,
    fail_on: Iterable[str] = ("score",),
    old_baseline: Baseline | None = None,
    old_aggregate: SessionAggregate | None = None,
    variants: Sequence[Mapping[str, Any]] | None = None,
) -> ReviewSummary:
    """A run compared with an earlier one: `comparison` judged `aggregate` against it.

    The earlier run's totals and per-case scores come from `old_aggregate` when given
    (two reports), else from `old_baseline` (the baseline file), else are unknown.
    """
    from pytest_llmeval.records.baseline import baseline_from_aggregate

    fail_on = tuple(fail_on)
    new_baseline = baseline_from_aggregate(aggregate)
    if old_aggregate is not None:
        old_baseline = baseline_from_aggregate(old_aggregate)
    now = {group.group: group for group in aggregate.groups}
    before = {group.group: group for group in old_aggregate.groups} if old_aggregate else {}
    groups = []
    decided: dict[str, int] = {}
    for compared in comparison.groups:
        group_verdict, kinds = _group_verdict(compared, comparison.tolerance)
        if compared.rule is not None:
            decided[compared.rule] = decided.get(compared.rule, 0) + 1
        current = now.get(compared.group)
        earlier = before.get(compared.group)
        groups.append(
            GroupChange(
                group=compared.group,
                label=compared.label,
                verdict=group_verdict,
                regressed_kinds=kinds,
                rule=compared.rule,
                p_value=compared.p_value,
                adjusted_p=compared.adjusted_p,
                shared=compared.shared,
                n=current.n if current is not None else compared.shared,
                old_mean=compared.old_mean,
                new_mean=compared.new_mean,
                delta=None if compared.drop is None else -compared.drop + 0.0,  # no -0.0
                old_pass_rate=compared.old_pass_rate,
                new_pass_rate=compared.new_pass_rate,
                old_cost_per_case_usd=compared.old_cost_per_case_usd,
                new_cost_per_case_usd=compared.new_cost_per_case_usd,
                cost_increase=compared.cost_increase,
                old_latency_p50_s=earlier.usage.latency_p50_s if earlier is not None else None,
                new_latency_p50_s=current.usage.latency_p50_s if current is not None else None,
                old_latency_p95_s=compared.old_latency_p95_s,
                new_latency_p95_s=compared.new_latency_p95_s,
                latency_increase=compared.latency_increase,
                newly_failing=list(compared.newly_failing),
                newly_passing=list(compared.newly_passing),
                failing=_failing(current) if current is not None else [],
                new_cases=list(compared.new_cases),
                vanished_cases=list(compared.vanished_cases),
                score_changes=_score_changes(old_baseline, new_baseline, compared.group),
            )
        )
    verdict: RunVerdict = "unchanged"
    if any(g.verdict == "regressed" for g in groups):
        verdict = "regressed"
    elif any(g.verdict == "improved" for g in groups) and not any(
        g.verdict == "lower" for g in groups
    ):
        verdict = "improved"
    flagged = comparison.failing_kinds(("score", "cost", "latency"))
    failing = comparison.failing_kinds(fail_on)
    old_totals = None
    if old_aggregate is not None:
        old_totals = totals_of_aggregate(old_aggregate)
    elif old_baseline is not None:
        old_totals = totals_of_baseline(old_baseline)
    return ReviewSummary(
        old=old_name,
        new=new_name,
        verdict=verdict,
        gate=GateSummary(
            fails=bool(failing),
            failing_kinds=failing,
            flagged_kinds=flagged,
            fail_on=list(fail_on),
            rule=comparison.gate,
            correction=comparison.correction,
            tolerance=comparison.tolerance,
            alpha=comparison.alpha,
            decided_by=dict(sorted(decided.items())),
        ),
        old_totals=old_totals,
        new_totals=totals_of_aggregate(aggregate),
        groups=_ordered(groups),
        new_groups=list(comparison.new_groups),
        vanished_groups=list(comparison.vanished_groups),
        outside_groups=list(comparison.outside_groups),
        variants=[dict(v) for v in variants] if variants is not None else None,
    )
