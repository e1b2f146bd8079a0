"""The records of a variant comparison: one row per variant and case in (`VariantRow`),
each variant's statistics, each against the reference and the group's comparison out
(`VariantComparison`, what the reports hold)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from pytest_llmeval.core.frozen import FrozenModel

Verdict = Literal["better", "worse", "no_difference", "not_testable"]


@dataclass(frozen=True)
class VariantRow:
    """One variant's result on one case: the input of `compare_variants`."""

    variant: str  # the variant's label (its parametrize id or value as text)
    case: str  # the pairing key: the test's other parameters, equal across variants
    score: float  # the case's score (the mean over its repeats when repeated)
    passed: bool
    cost_usd: float | None = None  # the case's app cost; None when unpriced
    tokens: int = 0
    latency_s: float | None = None  # the case's app latency; None when unknown


class VariantStats(FrozenModel):
    """One variant over all its cases, and whether it meets the group's bar."""

    name: str = Field(description="The variant's label.")
    n: int = Field(description="Cases this variant scored.")
    mean: float = Field(description="Mean case score.")
    interval: str = Field(
        description="The interval's method: wilson (every score 0 or 1) or t (graded)."
    )
    low: float | None = Field(description="Lower 95% bound of the mean (null for n < 2).")
    high: float | None = Field(description="Upper 95% bound of the mean (null for n < 2).")
    pass_rate: float = Field(description="Share of cases that passed.")
    pass_low: float = Field(description="Lower 95% Wilson bound of the pass rate.")
    pass_high: float = Field(description="Upper 95% Wilson bound of the pass rate.")
    cost_per_case_usd: float | None = Field(
        description="Mean app cost per case; null when any case is unpriced."
    )
    tokens_per_case: float = Field(description="Mean tokens per case.")
    p50_latency_s: float | None = Field(description="Median case latency; null if unknown.")
    p95_latency_s: float | None = Field(description="95th percentile case latency.")
    meets_bar: bool = Field(description="Mean >= threshold and pass rate >= min_pass_rate.")
    why_not: str | None = Field(description="Which part of the bar failed, with numbers.")
    non_inferior: bool = Field(
        description="Within `margin` of the best variant by mean (the upper bound of the "
        "paired difference best - this does not exceed the margin); true for the best."
    )
    difference_upper: float | None = Field(
        description="One-sided upper (1 - alpha) t bound of mean(best) - mean(this) over "
        "their paired cases; 0 for the best itself, null with fewer than 2 pairs."
    )


class VariantVsReference(FrozenModel):
    """One variant against the reference variant, over the cases both scored."""

    name: str = Field(description="The variant.")
    reference: str = Field(description="The reference variant it is compared with.")
    pairs: int = Field(description="Cases both scored: the paired sample.")
    changed: int = Field(description="Paired cases whose score differs.")
    mean_diff: float = Field(
        description="Mean of variant - reference over the paired cases (positive = better)."
    )
    p_value: float | None = Field(
        description="Two-sided sign-flip permutation p over the paired cases; null when "
        "not testable."
    )
    adjusted_p: float | None = Field(
        description="p_value Holm-corrected over the group's testable comparisons."
    )
    verdict: Verdict = Field(description="better, worse, no_difference or not_testable.")
    flipped_to_fail: list[str] = Field(description="Cases the reference passed and this fails.")
    flipped_to_pass: list[str] = Field(description="Cases the reference fails and this passes.")
    cost_ratio: float | None = Field(
        description="Cost per paired case, variant / reference; null if unpriced or 0."
    )
    latency_ratio: float | None = Field(
        description="Median latency over the paired cases, variant / reference."
    )
    unpaired: list[str] = Field(description="Cases only one of the two scored.")


class VariantComparison(FrozenModel):
    """A group's variants compared: statistics, tests against the reference, the pick."""

    group: str = Field(description="The group key.")
    axis: str = Field(description="The parametrize argument whose values are the variants.")
    reference: str = Field(description="The variant the others are tested against.")
    margin: float = Field(description="Largest mean shortfall from the best still accepted.")
    alpha: float = Field(description="Significance level of the tests.")
    threshold: float | None = Field(default=None, description="The bar's minimum mean.")
    min_pass_rate: float | None = Field(default=None, description="The bar's minimum pass rate.")
    best: str = Field(description="The variant with the highest mean (ties: first in order).")
    variants: list[VariantStats] = Field(description="Every variant, in order.")
    versus: list[VariantVsReference] = Field(description="Each other variant vs the reference.")
    recommended: str | None = Field(description="The pick; null when none qualifies.")
    reason: str = Field(
        description="'<pick>: ' and why that variant, or 'none qualifies: ' and why each "
        "variant failed."
    )
    pareto: list[str] = Field(description="The quality-cost Pareto front, cheapest first.")
