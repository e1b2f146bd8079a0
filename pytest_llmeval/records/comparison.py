"""A session compared with the committed baseline: the regression verdict.

How a group is judged (``compare_to_baseline``):

* Only the cases both runs scored are paired ("shared"); added and removed cases are
  listed but do not enter the decision. The drop is ``old mean - new mean`` over the
  shared cases (positive = worse); the overall drop over all cases of each run is
  reported too.
* ``_paired_group`` gathers the group's per-case data (scores, pass flags, repeat
  spreads, cluster keys, whether every call was replayed) into a
  ``decision.PairedGroup``, and ``decision.decide_group`` applies the gate policy's
  rule to it (statistical, within-case, conservative or replayed: see `decision`). A
  drop within ``tolerance`` (1e-9 slack for rounding) never regresses.
* The p-values of the groups a test decided, and whose test could reach alpha, are then
  corrected across groups (Holm by default, Benjamini-Hochberg or none): such a group
  regresses when its adjusted p is below ``alpha``.
* Beside the deciding p-value, the sign-flip p (always), the exact McNemar test on the
  pass/fail flags (reported only), the smallest drop the deciding rule could flag and
  the cases a smaller one would need are recorded.

Assumptions and limits, stated plainly:

* Under the null hypothesis the old and new score of a case are exchangeable (the
  change of each case is symmetric about zero), and cases are independent of each
  other, or of the cases outside their cluster when the policy names a cluster key.
* The conservative rule is a rule, not a test: it has no error-rate guarantee (see
  docs/regression.md for its simulated false-alarm rate).
* Cost is compared per case (the group's cost divided by its case count, so adding
  cases does not look like a price rise), latency by the group's p95; either is
  flagged when its relative increase is more than its tolerance (a rise from zero
  always is). The cost is the recorded one (the original price on replay), so a
  replayed run compares like with like. No test is done on them: they are budgets,
  not samples.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping

from pytest_llmeval.records import stats
from pytest_llmeval.records.baseline import (
    _SLACK,
    Baseline,
    BaselineGroup,
    baseline_from_aggregate,
)
from pytest_llmeval.records.comparison_models import (
    REGRESSION_KINDS,
    BaselineComparison,
    GroupComparison,
)
from pytest_llmeval.records.decision import (
    TESTED_RULES,
    GatePolicy,
    GroupDecision,
    PairedGroup,
    cases_needed,
    correct,
    decide_group,
    detectable_drop,
    sign_flip_test,
    units_changed,
)
from pytest_llmeval.records.models import EvalResult, SessionAggregate

# the records of a comparison live in comparison_models; imported from here as before
__all__ = [
    "REGRESSION_KINDS",
    "BaselineComparison",
    "GroupComparison",
    "case_clusters",
    "compare_baselines",
    "compare_to_baseline",
    "could_reject",
    "replayed_groups",
]


def _increase(old: float | None, new: float | None) -> tuple[float | None, bool]:
    """Relative increase of new over old, and whether it is an increase from zero."""
    if old is None or new is None:
        return None, False
    if old <= 0.0:
        return None, new > 0.0
    return (new - old) / old, False


def _exceeds(increase: float | None, from_zero: bool, tolerance: float | None) -> bool:
    if tolerance is None:
        return False
    if from_zero:
        return True
    return increase is not None and increase - tolerance > _SLACK


def _per_case(group: BaselineGroup) -> float | None:
    if group.cost_usd is None or group.n <= 0:
        return None
    return group.cost_usd / group.n


def _mean(values: list[float]) -> float | None:
    return stats.mean(values) if values else None


def _difference(old: float | None, new: float | None) -> float | None:
    return None if old is None or new is None else old - new


def _paired_group(
    old: BaselineGroup,
    new: BaselineGroup,
    shared: list[str],
    *,
    replayed: bool,
    clusters: Mapping[str, str] | None,
) -> PairedGroup:
    """The shared cases of a group, paired, with everything the rules look at: the one
    place a group's per-case data is gathered for `decision.decide_group`.

    Repeat spreads enter only when every shared case repeated on both sides (a baseline
    written before repeats were recorded has none); cluster keys only when some shared
    case has one (a case without one is a cluster of its own).
    """
    olds = [old.cases[c] for c in shared]
    news = [new.cases[c] for c in shared]
    repeated = bool(shared) and all(
        (case.runs or 1) > 1 and case.stdev is not None for case in [*olds, *news]
    )
    keyed = clusters is not None and any(c in clusters for c in shared)
    return PairedGroup(
        before=[case.score for case in olds],
        after=[case.score for case in news],
        passed_before=[case.passed for case in olds],
        passed_after=[case.passed for case in news],
        variance_before=[(case.stdev or 0.0) ** 2 for case in olds] if repeated else None,
        variance_after=[(case.stdev or 0.0) ** 2 for case in news] if repeated else None,
        repeats_before=min((case.runs or 1) for case in olds) if repeated else 1,
        repeats_after=min((case.runs or 1) for case in news) if repeated else 1,
        clusters=(
            [clusters.get(c, f"case:{c}") for c in shared]
            if keyed and clusters is not None
            else None
        ),
        replayed=replayed,
    )


def _smaller_drop(detectable: float, tolerance: float) -> float:
    """The drop `cases_needed` is reported for: half the detectable one (half of 1 when
    nothing is detectable), never below the tolerance."""
    return max(tolerance, round(min(detectable, 1.0) / 2, 2))


def _compare_group(
    key: str,
    old: BaselineGroup,
    new: BaselineGroup,
    policy: GatePolicy,
    *,
    replayed: bool = False,
    clusters: Mapping[str, str] | None = None,
) -> tuple[GroupComparison, GroupDecision, bool]:
    shared = sorted(set(old.cases) & set(new.cases))
    paired = _paired_group(old, new, shared, replayed=replayed, clusters=clusters)
    decision = decide_group(paired, policy)
    old_mean, new_mean = _mean(list(paired.before)), _mean(list(paired.after))
    drop = _difference(old_mean, new_mean)
    p_value = mcnemar_p = min_p = within_p = None
    if shared:
        p_value = decision.p_value if decision.rule == "statistical" else None
        if p_value is None:
            p_value = sign_flip_test(paired, policy.rounds)
        if decision.rule == "within-case":
            within_p = decision.p_value
        mcnemar_p = stats.mcnemar_exact(
            list(paired.passed_before), list(paired.passed_after), alternative="less"
        )
        min_p = 0.5 ** len(shared)
    units = len(set(paired.clusters)) if paired.clusters is not None else len(shared)
    detectable = detectable_drop(paired, policy, decision.rule) if shared else math.inf
    smaller = _smaller_drop(detectable, policy.tolerance) if shared else None
    needed = (
        cases_needed(smaller, paired, policy, decision.rule)
        if smaller is not None and smaller < detectable and decision.rule != "replayed"
        else None
    )
    old_cost, new_cost = _per_case(old), _per_case(new)
    cost_increase, cost_from_zero = _increase(old_cost, new_cost)
    latency_increase, latency_from_zero = _increase(old.latency_p95_s, new.latency_p95_s)
    comparison = GroupComparison(
        group=key,
        label=new.label,
        shared=len(shared),
        changed=paired.changed,
        old_mean=old_mean,
        new_mean=new_mean,
        drop=drop,
        overall_old_mean=old.mean,
        overall_new_mean=new.mean,
        overall_drop=_difference(old.mean, new.mean),
        old_pass_rate=_mean([1.0 if flag else 0.0 for flag in paired.passed_before]),
        new_pass_rate=_mean([1.0 if flag else 0.0 for flag in paired.passed_after]),
        p_value=p_value,
        mcnemar_p=mcnemar_p,
        min_p=min_p,
        underpowered=not (0.5**units < policy.alpha),
        regressed=decision.regressed,
        rule=decision.rule,
        rule_reason=decision.reason,
        within_case_p=within_p,
        clusters=len(set(paired.clusters)) if paired.clusters is not None else None,
        detectable_drop=detectable if math.isfinite(detectable) else None,
        detectable_by=decision.rule if shared else None,
        smaller_drop=smaller,
        cases_needed=needed,
        newly_failing=[c for c in shared if old.cases[c].passed and not new.cases[c].passed],
        newly_passing=[c for c in shared if new.cases[c].passed and not old.cases[c].passed],
        new_cases=sorted(set(new.cases) - set(old.cases)),
        vanished_cases=sorted(set(old.cases) - set(new.cases)),
        old_cost_per_case_usd=old_cost,
        new_cost_per_case_usd=new_cost,
        cost_increase=cost_increase,
        cost_regressed=_exceeds(cost_increase, cost_from_zero, policy.cost_tolerance),
        old_latency_p95_s=old.latency_p95_s,
        new_latency_p95_s=new.latency_p95_s,
        latency_increase=latency_increase,
        latency_regressed=_exceeds(latency_increase, latency_from_zero, policy.latency_tolerance),
    )
    return comparison, decision, could_reject(paired, decision, policy)


def could_reject(group: PairedGroup, decision: GroupDecision, policy: GatePolicy) -> bool:
    """Whether the group's test could have reached alpha at all: some case changed and,
    for the sign-flip test, enough of them (2^-m < alpha). Only such groups enter the
    correction's family (Tarone's refinement: a test that cannot reject adds nothing to
    the error rate, so counting it would only cost the other groups power)."""
    if decision.rule not in TESTED_RULES or decision.p_value is None or group.changed == 0:
        return False
    if decision.rule == "statistical":
        return 0.5 ** units_changed(group) < policy.alpha
    return True


def _corrected(
    judged: list[tuple[GroupComparison, GroupDecision, bool]], policy: GatePolicy
) -> tuple[list[GroupComparison], int]:
    """Apply the correction across the groups a test decided that could reject (see
    `could_reject`): each regresses when its drop is past the tolerance and its adjusted
    p is below alpha; a tested group left out of the family keeps its own verdict."""
    tested = [index for index, (_, _, family) in enumerate(judged) if family]
    adjusted = correct([judged[i][1].p_value or 1.0 for i in tested], policy.correction)
    by_index = dict(zip(tested, adjusted, strict=True))
    groups = []
    for index, (group, decision, _) in enumerate(judged):
        if index in by_index:
            p = by_index[index]
            group = group.model_copy(
                update={
                    "adjusted_p": p,
                    "regressed": decision.drop_beyond_tolerance and p < policy.alpha,
                }
            )
        groups.append(group)
    return groups, len(tested)


def compare_baselines(
    old: Baseline,
    new: Baseline,
    policy: GatePolicy | None = None,
    *,
    source: str | None = None,
    outside: Collection[str] = (),
    replayed: Collection[str] = (),
    clusters: Mapping[str, str] | None = None,
) -> BaselineComparison:
    """Compare two baselines (old first) group by group under the gate policy (its
    defaults when None); see the module docstring.

    `outside` names old groups the new run did not cover (a CI shard runs part of the
    suite): missing from the new run, they are listed apart instead of as vanished.
    `replayed` names the groups whose every call the new run replayed (deterministic);
    `clusters` maps case ids to their cluster key (see `case_clusters`).
    """
    shared = sorted(set(old.groups) & set(new.groups))
    missing = set(old.groups) - set(new.groups)
    policy = policy if policy is not None else GatePolicy()
    replayed_groups = set(replayed)
    judged = [
        _compare_group(
            key,
            old.groups[key],
            new.groups[key],
            policy,
            replayed=key in replayed_groups,
            clusters=clusters,
        )
        for key in shared
    ]
    groups, tested = _corrected(judged, policy)
    return BaselineComparison(
        source=source,
        tolerance=policy.tolerance,
        alpha=policy.alpha,
        cost_tolerance=policy.cost_tolerance,
        latency_tolerance=policy.latency_tolerance,
        gate=policy.rule,
        correction=policy.correction,
        tested_groups=tested,
        power=policy.power,
        cluster_key=policy.cluster_key,
        min_newly_failing=policy.min_newly_failing,
        groups=groups,
        new_groups=sorted(set(new.groups) - set(old.groups)),
        vanished_groups=sorted(missing - set(outside)),
        outside_groups=sorted(missing & set(outside)),
        regressed=any(g.regressed for g in groups),
        cost_regressed=any(g.cost_regressed for g in groups),
        latency_regressed=any(g.latency_regressed for g in groups),
    )


def replayed_groups(aggregate: SessionAggregate) -> list[str]:
    """The groups whose every model call (app and judge) this run replayed from cassettes
    or the cache: their scores are deterministic, so a change is not sampling noise."""
    return [
        group.group
        for group in aggregate.groups
        if group.usage.calls > 0 and group.usage.replayed == group.usage.calls
    ]


def case_clusters(results: Iterable[EvalResult], field: str | None) -> dict[str, str]:
    """Case id -> cluster key: the value the case logged under `field` with
    `llm_eval.log` (its first run that did); cases that logged none are left out."""
    if field is None:
        return {}
    clusters: dict[str, str] = {}
    for result in sorted(results, key=lambda r: r.nodeid):
        if field in result.metadata and result.case_id not in clusters:
            value = result.metadata[field]
            clusters[result.case_id] = (
                value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            )
    return clusters


def compare_to_baseline(
    aggregate: SessionAggregate,
    baseline: Baseline,
    policy: GatePolicy | None = None,
    *,
    source: str | None = None,
    outside: Collection[str] = (),
    clusters: Mapping[str, str] | None = None,
) -> BaselineComparison:
    """Judge a session against a baseline under the gate policy: per group drop,
    p-values, new failures. `clusters` as in `compare_baselines`; replayed groups are
    read off the aggregate."""
    return compare_baselines(
        baseline,
        baseline_from_aggregate(aggregate),
        policy,
        source=source,
        outside=outside,
        replayed=replayed_groups(aggregate),
        clusters=clusters,
    )
