"""EvalResults -> case, group and session aggregates (pure; no pytest).

Results are sorted by node id first, so the aggregate does not depend on the order
in which xdist workers happened to finish.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pytest_llmeval.records import decision, stats
from pytest_llmeval.records.accounting import UsageTally
from pytest_llmeval.records.decision import interval
from pytest_llmeval.records.models import (
    CaseAggregate,
    EvalResult,
    GroupAggregate,
    SessionAggregate,
    Status,
)


def aggregate_case(items: list[EvalResult]) -> CaseAggregate:
    """Combine the runs of one case: mean score, spread, status, and for repeated cases
    the runs' pass rate (Wilson interval), pass^k and pass@k, whether they straddle the
    threshold, and the per-case rule's verdict."""
    first = items[0]
    items = sorted(items, key=lambda r: (r.repeat_index or 0, r.nodeid))
    ran = [r for r in items if r.status != "skipped"]
    rule = _CaseRule(first.case_rule, first.pass_k, first.min_case_pass_rate)
    if not ran:
        return CaseAggregate(
            case_id=first.case_id,
            group=first.group,
            threshold=first.threshold,
            runs=0,
            score=0.0,
            status="skipped",
            case_rule=rule.name,
            min_case_pass_rate=rule.min_rate,
        )
    values = [r.score if r.score is not None else 0.0 for r in ran]
    score = stats.mean(values)
    names: dict[str, list[float]] = defaultdict(list)
    thresholds: dict[str, float] = {}
    for r in ran:
        for s in r.scores:
            names[s.name].append(s.value)
            if s.threshold is not None:
                thresholds[s.name] = s.threshold
    per_name = {name: stats.mean(vals) for name, vals in sorted(names.items())}
    statuses = {r.status for r in ran}
    passed_runs = sum(1 for r in ran if r.status == "passed")
    failed_rule = False
    status: Status
    if "error" in statuses:
        status = "error"
    elif "failed" in statuses:
        status = "failed"
    elif rule.given:
        failed_rule = not rule.holds(passed_runs, len(ran))
        status = "below" if failed_rule else "passed"
    elif len(ran) == 1:
        status = ran[0].status
    else:
        missed = any(per_name[n] < t for n, t in thresholds.items() if n in per_name)
        status = "passed" if score >= first.threshold and not missed else "below"
    spread = stats.stdev(values) if len(values) > 1 else None
    case = CaseAggregate(
        case_id=first.case_id,
        group=first.group,
        threshold=first.threshold,
        runs=len(ran),
        score=score,
        stdev=spread,
        status=status,
        scores=per_name,
        nodeids=[r.nodeid for r in items] if len(items) > 1 else [],
        adaptive_runs=sum(1 for r in items if r.adaptive),
        case_rule=rule.name,
        min_case_pass_rate=rule.min_rate,
        failed_case_rule=failed_rule,
    )
    if len(ran) < 2:
        return case
    k = rule.k(len(ran))
    low, high = stats.wilson_interval(passed_runs, len(ran))
    return case.model_copy(
        update={
            "run_scores": values,
            "passed_runs": passed_runs,
            "run_pass_rate": passed_runs / len(ran),
            "run_pass_rate_low": low,
            "run_pass_rate_high": high,
            "pass_k": k,
            "pass_hat_k": decision.pass_hat_k(len(ran), passed_runs, k),
            "pass_at_k": decision.pass_at_k(len(ran), passed_runs, k),
            "unstable": is_straddling(ran),
        }
    )


def is_straddling(runs: list[EvalResult]) -> bool:
    """Whether a case's runs straddle its threshold: of the runs whose body completed,
    some passed and some fell below (a crash is a failure, not a straddle)."""
    completed = {r.status for r in runs if r.status in ("passed", "below")}
    return completed == {"passed", "below"}


class _CaseRule:
    """The marker's per-case rule across runs (case_rule, pass_k, min_case_pass_rate)."""

    def __init__(self, name: str | None, pass_k: int | None, min_rate: float | None) -> None:
        self.name = name
        self.pass_k = pass_k
        self.min_rate = min_rate

    @property
    def given(self) -> bool:
        return self.name is not None or self.min_rate is not None

    def k(self, runs: int) -> int:
        """The k of pass^k / pass@k: the marker's pass_k, at most the runs made."""
        return runs if self.pass_k is None else min(self.pass_k, runs)

    def holds(self, passed: int, runs: int) -> bool:
        """pass^k: every run passed (so every k of them do); pass@k: fewer than k runs
        failed (so every k of them hold a pass); the run pass rate at least the floor."""
        if self.name == "pass^k" and passed < runs:
            return False
        if self.name == "pass@k" and runs - passed >= self.k(runs):
            return False
        return self.min_rate is None or passed / runs >= self.min_rate - 1e-9


def _labels(keys: list[str], explicit: set[str]) -> dict[str, str]:
    """Short display names: the function name when unique, else the full key."""
    short = {k: k if k in explicit else k.rsplit("::", 1)[-1] for k in keys}
    counts: dict[str, int] = defaultdict(int)
    for label in short.values():
        counts[label] += 1
    return {k: (label if counts[label] == 1 else k) for k, label in short.items()}


def aggregate_group(
    group: str, label: str, results: list[EvalResult]
) -> tuple[GroupAggregate, UsageTally]:
    """Combine the cases of one group: counts, mean with its CI, pass rate; and the tally
    of its calls (the session's usage adds the groups' up)."""
    tally = UsageTally.of(r.inferences for r in results)
    by_case: dict[str, list[EvalResult]] = defaultdict(list)
    for r in results:
        by_case[r.case_id].append(r)
    cases = [aggregate_case(by_case[c]) for c in sorted(by_case)]
    ran = [c for c in cases if c.status != "skipped"]
    values = [c.score for c in ran]
    floors = [r.min_pass_rate for r in results if r.min_pass_rate is not None]
    min_pass_rate = max(floors) if floors else None
    passed = sum(1 for c in ran if c.status == "passed")
    mean = stats.mean(values) if values else None
    ci_low = ci_high = ci_kind = None
    if len(values) >= 2:
        ci_kind, ci_low, ci_high = interval(values, 0.95)
    pass_rate = passed / len(ran) if ran else None
    pass_low = pass_high = None
    if ran:
        pass_low, pass_high = stats.wilson_interval(passed, len(ran), 0.95)
    aggregate = GroupAggregate(
        group=group,
        label=label,
        n=len(ran),
        passed=passed,
        below=sum(1 for c in ran if c.status == "below"),
        failed=sum(1 for c in ran if c.status in ("failed", "error")),
        skipped=len(cases) - len(ran),
        runs_per_case=max((c.runs for c in cases), default=1) or 1,
        mean=mean,
        ci_low=ci_low,
        ci_high=ci_high,
        ci_kind=ci_kind,
        pass_rate=pass_rate,
        pass_rate_low=pass_low,
        pass_rate_high=pass_high,
        min_pass_rate=min_pass_rate,
        failed_min_pass_rate=(
            min_pass_rate is not None and pass_rate is not None and pass_rate < min_pass_rate
        ),
        usage=tally.rollup(),
        cases=cases,
        unstable=sum(1 for c in cases if c.unstable),
    )
    return aggregate, tally


def aggregate_session(results: Iterable[EvalResult]) -> SessionAggregate:
    """Group the results and add everything up."""
    ordered = sorted(results, key=lambda r: r.nodeid)
    by_group: dict[str, list[EvalResult]] = defaultdict(list)
    explicit: set[str] = set()
    for r in ordered:
        by_group[r.group].append(r)
        if r.group != r.nodeid.split("[", 1)[0]:
            explicit.add(r.group)
    keys = sorted(by_group)
    labels = _labels(keys, explicit)
    usage = UsageTally()
    groups = []
    for key in keys:
        group, tally = aggregate_group(key, labels[key], by_group[key])
        groups.append(group)
        usage.merge(tally)  # every result is in one group: the session's calls, counted once
    all_cases = [c for g in groups for c in g.cases]
    ran = [c for c in all_cases if c.status != "skipped"]
    return SessionAggregate(
        groups=groups,
        cases=len(ran),
        passed=sum(g.passed for g in groups),
        below=sum(g.below for g in groups),
        failed=sum(g.failed for g in groups),
        skipped=sum(g.skipped for g in groups),
        items=sum(1 for r in ordered if not r.adaptive),  # adaptive runs ran inside items
        mean=stats.mean([c.score for c in ran]) if ran else None,
        usage=usage.rollup(),
    )
