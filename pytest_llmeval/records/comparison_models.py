"""What a comparison with the baseline concluded: per group and for the session.

The records `comparison.compare_to_baseline` builds and every reporter renders (the
JSON report's `baseline`, the terminal's regression lines, the gate's exit status).
Pure: pydantic models over the baseline's frozen base, no pytest.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from pytest_llmeval.core.factories import empty_list
from pytest_llmeval.core.frozen import FrozenModel

#: The kinds of regression --llmeval-fail-on can name.
REGRESSION_KINDS = ("score", "cost", "latency")


class GroupComparison(FrozenModel):
    """How one group present in both runs changed, and whether it regressed."""

    group: str = Field(description="Group key.")
    label: str = Field(description="Short display name (of the new run).")
    shared: int = Field(description="Cases both runs scored: the paired sample.")
    changed: int = Field(description="Shared cases whose score changed.")
    old_mean: float | None = Field(description="Baseline mean over the shared cases.")
    new_mean: float | None = Field(description="New mean over the shared cases.")
    drop: float | None = Field(
        description="old_mean - new_mean over the shared cases (positive = worse)."
    )
    overall_old_mean: float | None = Field(description="Baseline mean over all its cases.")
    overall_new_mean: float | None = Field(description="New mean over all its cases.")
    overall_drop: float | None = Field(description="overall_old_mean - overall_new_mean.")
    old_pass_rate: float | None = Field(description="Baseline pass rate over shared cases.")
    new_pass_rate: float | None = Field(description="New pass rate over shared cases.")
    p_value: float | None = Field(
        description="One-sided paired sign-flip permutation p that scores fell (over "
        "clusters when the gate clusters cases); decides under the statistical rule."
    )
    mcnemar_p: float | None = Field(
        description="One-sided exact McNemar p that the pass rate fell; reported only."
    )
    min_p: float | None = Field(
        description="Smallest p the test can give with this many shared cases: 2^-shared."
    )
    underpowered: bool = Field(
        description="Too few shared cases for any drop to be significant at alpha."
    )
    regressed: bool = Field(description="Whether the score regressed, by the rule named in `rule`.")
    rule: str | None = Field(
        default=None,
        description="The rule that decided: statistical, within-case, conservative, "
        "replayed (or none without shared cases); null in reports written before rules.",
    )
    rule_reason: str | None = Field(
        default=None, description="Why that rule decided, and what it looked at."
    )
    within_case_p: float | None = Field(
        default=None,
        description="One-sided t-test p against the cases' own spread between repeats, "
        "when both runs repeated the cases; decides under the within-case rule.",
    )
    adjusted_p: float | None = Field(
        default=None,
        description="The deciding p-value after the correction across groups (Holm, "
        "Benjamini-Hochberg or none); null for the rules without a test.",
    )
    clusters: int | None = Field(
        default=None,
        description="Distinct cluster keys among the shared cases, when the gate clusters "
        "cases (--llmeval-cluster-key); the sign-flip test resamples these.",
    )
    detectable_drop: float | None = Field(
        default=None,
        description="Smallest mean drop this group could flag (at alpha and the policy's "
        "power for the paired tests); null when no drop could be flagged.",
    )
    detectable_by: str | None = Field(
        default=None,
        description="The rule detectable_drop and cases_needed are computed for: the one "
        "that decided (rule).",
    )
    smaller_drop: float | None = Field(
        default=None,
        description="A drop smaller than detectable_drop (half of it, at least the "
        "tolerance) that cases_needed is for.",
    )
    cases_needed: int | None = Field(
        default=None,
        description="Shared cases that rule would need to flag smaller_drop.",
    )
    newly_failing: list[str] = Field(description="Cases that passed before and not now.")
    newly_passing: list[str] = Field(description="Cases that did not pass before and do now.")
    new_cases: list[str] = Field(description="Cases only the new run has.")
    vanished_cases: list[str] = Field(description="Cases only the baseline has.")
    old_cost_per_case_usd: float | None = Field(description="Baseline cost / n.")
    new_cost_per_case_usd: float | None = Field(description="New cost / n.")
    cost_increase: float | None = Field(
        description="Relative increase of cost per case (0.25 = +25%); null if not known."
    )
    cost_regressed: bool = Field(description="cost_increase > cost_tolerance.")
    old_latency_p95_s: float | None = Field(description="Baseline p95 latency.")
    new_latency_p95_s: float | None = Field(description="New p95 latency.")
    latency_increase: float | None = Field(
        description="Relative increase of p95 latency; null if not known."
    )
    latency_regressed: bool = Field(description="latency_increase > latency_tolerance.")


class BaselineComparison(FrozenModel):
    """The regression verdict of a session against a baseline."""

    source: str | None = Field(default=None, description="The baseline file, as displayed.")
    tolerance: float = Field(description="Smallest mean drop that can count as a regression.")
    alpha: float = Field(description="Significance level of the paired test.")
    cost_tolerance: float | None = Field(description="Allowed relative cost increase.")
    latency_tolerance: float | None = Field(description="Allowed relative p95 increase.")
    groups: list[GroupComparison] = Field(description="Groups in both runs, by group key.")
    new_groups: list[str] = Field(description="Groups only the new run has.")
    vanished_groups: list[str] = Field(
        description="Groups only the baseline has, whose tests this run would have collected."
    )
    outside_groups: list[str] = Field(
        default_factory=empty_list,
        description="Baseline groups outside this run (another shard's, or deselected): "
        "not compared, and not vanished.",
    )
    gate: str | None = Field(
        default=None,
        description="The gate rule asked for (--llmeval-gate: auto, statistical or "
        "conservative); null in reports written before rules.",
    )
    correction: str | None = Field(
        default=None,
        description="The correction of p-values across groups (holm, bh or none); null "
        "in reports written before corrections.",
    )
    tested_groups: int = Field(
        default=0,
        description="Groups decided by a test (statistical or within-case) that could "
        "reach alpha (some case changed; for the sign-flip test, enough of them): the "
        "family the correction is over.",
    )
    power: float | None = Field(
        default=None, description="The power detectable drops are computed at."
    )
    cluster_key: str | None = Field(
        default=None, description="The metadata field cases were clustered by, if any."
    )
    min_newly_failing: int | None = Field(
        default=None,
        description="How many more cases must newly fail than newly pass for the "
        "conservative rule to flag a drop past the tolerance.",
    )
    regressed: bool = Field(description="Some group's score regressed.")
    cost_regressed: bool = Field(description="Some group's cost rose past its tolerance.")
    latency_regressed: bool = Field(description="Some group's p95 rose past its tolerance.")

    def failing_kinds(self, fail_on: Iterable[str] = ("score",)) -> list[str]:
        """The kinds of regression found that are also named in fail_on."""
        found = {
            "score": self.regressed,
            "cost": self.cost_regressed,
            "latency": self.latency_regressed,
        }
        wanted = set(fail_on)
        return [kind for kind in REGRESSION_KINDS if kind in wanted and found[kind]]

    def failing_groups(self, kinds: Iterable[str]) -> list[GroupComparison]:
        """The groups that regressed in one of these kinds (see failing_kinds)."""
        wanted = set(kinds)
        return [
            group
            for group in self.groups
            if (group.regressed and "score" in wanted)
            or (group.cost_regressed and "cost" in wanted)
            or (group.latency_regressed and "latency" in wanted)
        ]

    def fails(self, fail_on: Iterable[str] = ("score",)) -> bool:
        """Whether the comparison must fail the session (or the gate)."""
        return bool(self.failing_kinds(fail_on))
