"""How the gate decides that a group regressed: its rules, their power, and repeats.

Pure functions over plain numbers (standard library and `stats` only), so every rule can
be simulated and checked by hand. A group's scores before (the baseline) and after (this
run) are paired by case. The rules:

* ``statistical``: the drop (old mean - new mean over the shared cases) is more than the
  tolerance AND a one-sided paired test says it is unlikely to be noise: the sign-flip
  permutation test over cases (`stats.paired_permutation_test`), or, when both runs
  repeated each case (``repeat=N``), a t test whose noise is the cases' own spread
  between repeats (`within_case_test`), so a drop far outside that noise counts even
  with few cases. Across groups the p-values are corrected for multiplicity (Holm by
  default, Benjamini-Hochberg on request).
* ``conservative``: the drop is more than the tolerance AND at least ``min_newly_failing``
  more cases newly fail than newly pass (noise flips cases both ways; a collapse only
  one way). It needs no test and decides where the paired test
  cannot reach alpha: with m changed cases the smallest sign-flip p is 2^-m, so at
  alpha = 0.05 fewer than 5 changed cases can never be significant.
* ``replayed``: every call of the group's new run was replayed from cassettes, so its
  scores are deterministic: a change is not sampling noise, it comes from the code or
  the scorers. The drop alone decides (more than the tolerance regresses).

``auto`` (the default) picks per group: ``replayed`` for a fully replayed run,
``statistical`` where the paired test can reach alpha, ``conservative`` where it cannot.
The verdict names the rule that decided.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_llmeval.records import stats

GateRule = Literal["auto", "statistical", "conservative"]
Correction = Literal["holm", "bh", "none"]
DecidedBy = Literal["statistical", "within-case", "conservative", "replayed", "none"]

GATE_RULES: tuple[GateRule, ...] = ("auto", "statistical", "conservative")
CORRECTIONS: tuple[Correction, ...] = ("holm", "bh", "none")
#: The rules that decide by a p-value: the family the correction across groups is over.
TESTED_RULES: tuple[DecidedBy, ...] = ("statistical", "within-case")

_SLACK = 1e-9


@dataclass(frozen=True)
class GatePolicy:
    """Everything that decides a regression, in one value: built once from the settings
    (or `llmeval gate`'s options) and passed whole to the comparison and its reporters."""

    tolerance: float = 0.02
    alpha: float = 0.05
    rule: GateRule = "auto"
    correction: Correction = "holm"
    min_newly_failing: int = 2
    power: float = 0.8
    cost_tolerance: float | None = None
    latency_tolerance: float | None = None
    rounds: int = 10_000  # Monte Carlo rounds of the permutation test past 16 changed cases
    fail_on: tuple[str, ...] = ("score",)  # the kinds of regression that fail the gate
    cluster_key: str | None = None  # the llm_eval.log field whose cases resample together


@dataclass(frozen=True)
class PairedGroup:
    """A group's shared cases, paired: case scores before and after, pass flags, and for
    repeated cases the spread of each case's samples."""

    before: Sequence[float]
    after: Sequence[float]
    passed_before: Sequence[bool]
    passed_after: Sequence[bool]
    # per case: sample variance of its repeats and how many there were (None: no repeats)
    variance_before: Sequence[float] | None = None
    variance_after: Sequence[float] | None = None
    repeats_before: int = 1
    repeats_after: int = 1
    clusters: Sequence[str] | None = None  # per case: the cluster key, if cases cluster
    replayed: bool = False  # every call of the new run was replayed

    @property
    def n(self) -> int:
        return len(self.before)

    @property
    def drop(self) -> float | None:
        if not self.before:
            return None
        return stats.mean(self.before) - stats.mean(self.after)

    @property
    def newly_failing(self) -> int:
        return sum(
            1 for a, b in zip(self.passed_before, self.passed_after, strict=True) if a and not b
        )

    @property
    def newly_passing(self) -> int:
        return sum(
            1 for a, b in zip(self.passed_before, self.passed_after, strict=True) if b and not a
        )

    @property
    def changed(self) -> int:
        return sum(1 for a, b in zip(self.before, self.after, strict=True) if a != b)

    @property
    def has_repeats(self) -> bool:
        return (
            self.variance_before is not None
            and self.variance_after is not None
            and self.repeats_before > 1
            and self.repeats_after > 1
        )


@dataclass(frozen=True)
class GroupDecision:
    """What the gate concluded for one group, and what it could have seen."""

    rule: DecidedBy
    p_value: float | None  # of the deciding test (None for the rules without one)
    drop_beyond_tolerance: bool
    regressed: bool  # before the multiplicity correction, for p-value rules
    detectable_drop: float  # smallest drop the deciding rule could flag (inf: none)
    reason: str


def min_changed_cases(alpha: float) -> int:
    """Fewest changed cases with which the sign-flip test can reach p < alpha (2^-m)."""
    return max(1, math.floor(math.log2(1.0 / alpha)) + 1)


def within_case_test(group: PairedGroup) -> float:
    """One-sided p that the mean fell by more than the cases' own repeat noise explains.

    Conditional on the cases: each case mean's variance is its repeats' sample variance
    over the number of repeats; the drop's variance is the sum over cases over n^2; the
    statistic is referred to Student's t with the pooled degrees of freedom
    n * (repeats_before - 1 + repeats_after - 1).
    """
    variance = _drop_variance(group)
    if variance is None:
        raise ValueError("within_case_test: needs repeats (variances) on both sides")
    n = group.n
    drop = group.drop or 0.0
    if variance <= 0.0:
        return 0.0 if drop > _SLACK else 1.0
    t = drop / math.sqrt(variance)
    df = n * (group.repeats_before - 1 + group.repeats_after - 1)
    return stats.student_t_upper_tail(t, df)


def _drop_variance(group: PairedGroup) -> float | None:
    """Variance of the drop from the cases' repeat spread; None without repeats."""
    if group.variance_before is None or group.variance_after is None or group.n == 0:
        return None
    if not group.has_repeats:
        return None
    total = math.fsum(
        vb / group.repeats_before + va / group.repeats_after
        for vb, va in zip(group.variance_before, group.variance_after, strict=True)
    )
    return total / (group.n * group.n)


def sign_flip_test(group: PairedGroup, rounds: int = 10_000) -> float:
    """One-sided paired sign-flip p over cases, or over clusters when cases cluster
    (each cluster's mean difference flips as one)."""
    before, after = list(group.before), list(group.after)
    if group.clusters is not None:
        by_cluster: dict[str, tuple[list[float], list[float]]] = {}
        for key, b, a in zip(group.clusters, before, after, strict=True):
            pair = by_cluster.setdefault(key, ([], []))
            pair[0].append(b)
            pair[1].append(a)
        before = [stats.mean(pair[0]) for _, pair in sorted(by_cluster.items())]
        after = [stats.mean(pair[1]) for _, pair in sorted(by_cluster.items())]
    return stats.paired_permutation_test(before, after, alternative="less", rounds=rounds)


def units_changed(group: PairedGroup) -> int:
    """Changed cases, or changed clusters when cases cluster."""
    if group.clusters is None:
        return group.changed
    changed = {
        key for key, b, a in zip(group.clusters, group.before, group.after, strict=True) if a != b
    }
    return len(changed)


def detectable_drop(group: PairedGroup, policy: GatePolicy, rule: DecidedBy) -> float:
    """The smallest mean drop the rule could flag on this group.

    For the sign-flip test: at least `min_changed_cases(alpha)` cases must fall, so the
    smallest drop is that many cases falling from 1 to 0 (over n), widened by the noise
    seen in the cases' differences, (z_alpha + z_power) * sd / sqrt(n), with sd the
    spread of the cases that did not flip (`_noise`). For the
    within-case test: (z_alpha + z_power) * the drop's standard error from the repeats.
    For the conservative rule: `min_newly_failing` cases falling (over n). For replayed
    runs: the tolerance. Never below the tolerance; infinite when the group is too small.
    """
    n = group.n
    if n == 0:
        return math.inf
    z = stats.normal_quantile(1.0 - policy.alpha) + stats.normal_quantile(policy.power)
    if rule == "replayed":
        floor = 0.0
    elif rule == "conservative":
        floor = policy.min_newly_failing / n if policy.min_newly_failing <= n else math.inf
    elif rule == "within-case" and (variance := _drop_variance(group)) is not None:
        floor = z * math.sqrt(variance)
    else:
        units = n if group.clusters is None else len(set(group.clusters))
        needed = min_changed_cases(policy.alpha)
        if units < needed:
            return math.inf
        floor = needed / units + z * _noise(group) / math.sqrt(n)
    return max(policy.tolerance, min(1.0, floor)) if math.isfinite(floor) else math.inf


def _noise(group: PairedGroup) -> float:
    """The spread of the cases' score changes that is noise, not the drop: the standard
    deviation of the differences of the cases whose pass/fail did not flip (a case that
    collapsed is the drop being measured, not noise); 0 with fewer than two such cases."""
    stable = [
        a - b
        for b, a, passed_before, passed_after in zip(
            group.before, group.after, group.passed_before, group.passed_after, strict=True
        )
        if passed_before == passed_after
    ]
    if len(stable) < 2:
        return 0.0
    spread = stats.stdev(stable)
    return spread if math.isfinite(spread) else 0.0


def cases_needed(
    drop: float, group: PairedGroup, policy: GatePolicy, rule: DecidedBy = "statistical"
) -> int:
    """How many cases the rule would need to flag a drop this size: for the paired tests,
    spread as cases falling from 1 to 0, with this group's noise per case; for the
    conservative rule, `min_newly_failing` cases falling from 1 to 0."""
    if drop <= 0:
        return 0
    if rule == "conservative":
        return math.ceil(policy.min_newly_failing / drop - _SLACK)
    z = stats.normal_quantile(1.0 - policy.alpha) + stats.normal_quantile(policy.power)
    noise = _noise(group)
    by_flips = min_changed_cases(policy.alpha) / drop
    by_noise = (z * noise / drop) ** 2
    return math.ceil(max(by_flips, by_noise))


def choose_rule(group: PairedGroup, policy: GatePolicy) -> DecidedBy:
    """Which rule decides this group under the policy (see the module docstring)."""
    if group.n == 0:
        return "none"
    if policy.rule == "conservative":
        return "conservative"
    if policy.rule == "auto" and group.replayed:
        return "replayed"
    if group.has_repeats:
        return "within-case"
    if policy.rule == "statistical":
        return "statistical"
    units = units_changed(group)
    return "statistical" if 0.5**units < policy.alpha else "conservative"


def decide_group(group: PairedGroup, policy: GatePolicy) -> GroupDecision:
    """Apply the chosen rule to one group (multiplicity is corrected by `correct`)."""
    rule = choose_rule(group, policy)
    drop = group.drop
    beyond = drop is not None and drop - policy.tolerance > _SLACK
    detectable = detectable_drop(group, policy, rule)
    if rule == "none" or drop is None:
        return GroupDecision("none", None, False, False, math.inf, "no shared cases")
    p_value: float | None = None
    if rule == "statistical":
        p_value = sign_flip_test(group, policy.rounds)
        regressed = beyond and p_value < policy.alpha
        reason = f"paired sign-flip test over {'clusters' if group.clusters else 'cases'}"
    elif rule == "within-case":
        p_value = within_case_test(group)
        regressed = beyond and p_value < policy.alpha
        reason = (
            f"t test against the cases' own spread over {group.repeats_before}/"
            f"{group.repeats_after} repeats"
        )
    elif rule == "conservative":
        failing = group.newly_failing - group.newly_passing
        regressed = beyond and failing >= policy.min_newly_failing
        why = (
            f"{units_changed(group)} changed case(s) cannot reach p < {policy.alpha:g}"
            if policy.rule == "auto"
            else "--llmeval-gate=conservative"
        )
        reason = (
            f"conservative rule ({why}): drop > tolerance and >= "
            f"{policy.min_newly_failing} more newly failing than newly passing cases "
            f"(found {group.newly_failing} - {group.newly_passing})"
        )
    else:
        regressed = beyond
        reason = "every call replayed: the change is deterministic, not sampling noise"
    return GroupDecision(rule, p_value, beyond, regressed, detectable, reason)


def correct(p_values: Sequence[float], method: Correction) -> list[float]:
    """Multiplicity-adjusted p-values (Holm's step-down, or Benjamini-Hochberg's step-up),
    in the order given."""
    m = len(p_values)
    if method == "none" or m <= 1:
        return [min(1.0, p) for p in p_values]
    order = sorted(range(m), key=lambda i: (p_values[i], i))
    adjusted = [0.0] * m
    if method == "holm":
        running = 0.0
        for rank, index in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p_values[index]))
            adjusted[index] = running
        return adjusted
    if method == "bh":
        running = 1.0
        for rank in range(m - 1, -1, -1):
            index = order[rank]
            running = min(running, m * p_values[index] / (rank + 1))
            adjusted[index] = min(1.0, running)
        return adjusted
    raise ValueError(f"correct: unknown method {method!r}; use one of {', '.join(CORRECTIONS)}")


def pass_at_k(samples: int, passed: int, k: int) -> float:
    """Unbiased estimate of P(at least one of k samples passes) from n samples, c passed:
    1 - C(n-c, k) / C(n, k) (Chen et al., 2021)."""
    _check_counts(samples, passed, k, "pass_at_k")
    if samples - passed < k:
        return 1.0
    return 1.0 - math.comb(samples - passed, k) / math.comb(samples, k)


def pass_hat_k(samples: int, passed: int, k: int) -> float:
    """Unbiased estimate of P(all k samples pass) (pass^k) from n samples, c passed:
    C(c, k) / C(n, k)."""
    _check_counts(samples, passed, k, "pass_hat_k")
    return math.comb(passed, k) / math.comb(samples, k)


def _check_counts(samples: int, passed: int, k: int, function: str) -> None:
    if not 0 <= passed <= samples or not 1 <= k <= samples:
        raise ValueError(
            f"{function}: need 0 <= passed <= samples and 1 <= k <= samples; got "
            f"samples={samples}, passed={passed}, k={k}"
        )


def is_unstable(samples: Sequence[float], threshold: float) -> bool:
    """Whether a case's repeats straddle its threshold (some pass, some do not)."""
    above = [value >= threshold for value in samples]
    return len(samples) > 1 and any(above) and not all(above)


def is_binary(values: Sequence[float]) -> bool:
    """Whether every score is 0 or 1 (a pass/fail group: Wilson intervals fit)."""
    return bool(values) and all(value in (0.0, 1.0) for value in values)


def interval(values: Sequence[float], level: float = 0.95) -> tuple[str, float, float]:
    """The interval that fits the scores: Wilson for 0/1 scores, Student-t for graded."""
    if is_binary(values):
        low, high = stats.wilson_interval(sum(1 for v in values if v == 1.0), len(values), level)
        return "wilson", low, high
    low, high = stats.mean_confidence_interval(values, level, clip=(0.0, 1.0))
    return "t", low, high
