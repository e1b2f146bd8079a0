"""The variant comparisons of a session, from its results (pure; no pytest).

Built from the results alone (each carries its `VariantTag`), never from in-process
state, so a run, an xdist run and `llmeval merge` of its shards compare alike. One
comparison per group and variants axis: each case of each variant is one
`variants.VariantRow`, its score and status those of the case over its repeats (the
group aggregate's `CaseAggregate`), its cost, tokens and latency the app's calls per
run (a judge's calls are the eval's cost, not the variant's): the mean over the case's
runs, the cost None when any app call of the case is unpriced, the latency the sum of
the app calls' latencies (the time the variant took to answer).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pytest_llmeval.records.models import CaseAggregate, EvalResult, SessionAggregate
from pytest_llmeval.records.variant_models import VariantComparison, VariantRow
from pytest_llmeval.records.variants import compare_variants


@dataclass(frozen=True)
class VariantOutcome:
    """The session's variant comparisons, and the groups that could not be compared."""

    comparisons: tuple[VariantComparison, ...] = ()
    #: One line per variants eval not compared, saying why.
    notes: tuple[str, ...] = ()


def _app_usage(result: EvalResult) -> tuple[float | None, int, float | None]:
    """The app calls' cost (None when one is unpriced), tokens and summed latency."""
    calls = [i for i in result.inferences if i.role == "app"]
    costs = [i.cost_usd for i in calls]
    cost = None if any(c is None for c in costs) else math.fsum(c for c in costs if c is not None)
    tokens = sum((i.input_tokens or 0) + (i.output_tokens or 0) for i in calls)
    latencies = [i.latency_s for i in calls if i.latency_s is not None]
    return cost, tokens, math.fsum(latencies) if latencies else None


def _broke_requirement(run: EvalResult) -> bool:
    """Whether a run failed outright or failed one of its checks."""
    return run.status in ("failed", "error") or any(s.check and s.value < 1.0 for s in run.scores)


def _requirement_score(run: EvalResult) -> float:
    """A run's score for comparing variants: 0 when it broke a requirement."""
    return 0.0 if _broke_requirement(run) else (run.score or 0.0)


def _row(case: CaseAggregate, runs: list[EvalResult]) -> VariantRow:
    """One variant's row on one case: its score and status over the runs, its usage per run.

    A run that broke a requirement (a failed `check()` or dataset assertion) or failed
    outright scores 0 here: what the variant broke is not averaged away by the scores
    around it, so a variant that breaks requirements is not recommended for being cheap."""
    tag = runs[0].variant
    if tag is None:
        raise ValueError(f"{case.case_id} is not a variant of a variants eval")
    ran = [r for r in runs if r.status != "skipped"]
    usages = [_app_usage(r) for r in ran]
    costs = [cost for cost, _, _ in usages]
    latencies = [latency for _, _, latency in usages if latency is not None]
    return VariantRow(
        variant=tag.label,
        case=tag.case,
        score=math.fsum(map(_requirement_score, ran)) / len(ran)
        if ran and any(_broke_requirement(r) for r in ran)
        else case.score,
        passed=case.status == "passed",
        cost_usd=None
        if any(c is None for c in costs)
        else math.fsum(c for c in costs if c is not None) / len(costs),
        tokens=round(sum(tokens for _, tokens, _ in usages) / len(usages)),
        latency_s=math.fsum(latencies) / len(latencies) if latencies else None,
    )


def compare_session_variants(
    results: Iterable[EvalResult], aggregate: SessionAggregate, *, margin: float, alpha: float
) -> VariantOutcome:
    """Every group's variants compared (groups by key, then axis); a group whose
    reference did not run, or that the comparison refuses, is a note instead."""
    runs: dict[str, list[EvalResult]] = defaultdict(list)
    for result in sorted(results, key=lambda r: r.nodeid):
        if result.variant is not None:
            runs[result.case_id].append(result)
    if not runs:
        return VariantOutcome()
    comparisons: list[VariantComparison] = []
    notes: list[str] = []
    for group in aggregate.groups:
        by_axis: dict[str, list[tuple[CaseAggregate, list[EvalResult]]]] = defaultdict(list)
        for case in group.cases:
            case_runs = runs.get(case.case_id)
            if case_runs and case.status != "skipped":
                tag = case_runs[0].variant
                if tag is not None:
                    by_axis[tag.axis].append((case, case_runs))
        for axis in sorted(by_axis):
            cases = by_axis[axis]
            tags = [case_runs[0].variant for _, case_runs in cases]
            order = [
                tag.label
                for tag in sorted(
                    {(t.index, t.label): t for t in tags if t is not None}.values(),
                    key=lambda t: (t.index, t.label),
                )
            ]
            reference = next(t.reference for t in tags if t is not None)
            where = f"variants of {group.label} ({axis})"
            if reference not in order:
                notes.append(
                    f"{where}: not compared, the reference {reference!r} did not run "
                    f"(ran: {', '.join(order)}); run it too, or set reference= to one that ran"
                )
                continue
            thresholds = sorted({case.threshold for case, _ in cases})
            try:
                comparisons.append(
                    compare_variants(
                        group.group,
                        axis,
                        [_row(case, case_runs) for case, case_runs in cases],
                        reference=reference,
                        threshold=thresholds[-1],
                        min_pass_rate=group.min_pass_rate,
                        margin=margin,
                        alpha=alpha,
                        order=order,
                    )
                )
            except ValueError as error:
                notes.append(f"{where}: not compared, {error}")
    return VariantOutcome(tuple(comparisons), tuple(notes))
