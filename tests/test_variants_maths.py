"""The maths of comparing variants (records/variants.py), checked against hand computations."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmeval.records.variant_models import (
    VariantComparison,
    VariantRow,
    VariantStats,
    VariantVsReference,
)
from pytest_llmeval.records.variants import compare_variants, pareto_front


def rows(
    variant: str,
    scores: list[float],
    *,
    cost: float | None = 0.01,
    cases: list[str] | None = None,
    threshold: float = 0.5,
    latencies: list[float | None] | None = None,
    tokens: int = 100,
) -> list[VariantRow]:
    """One row per score, case keys c00, c01, ... unless given; passed = score >= 0.5."""
    keys = cases if cases is not None else [f"c{i:02d}" for i in range(len(scores))]
    lat = latencies if latencies is not None else [1.0] * len(scores)
    return [
        VariantRow(variant, key, score, score >= threshold, cost, tokens, latency)
        for key, score, latency in zip(keys, scores, lat, strict=True)
    ]


def compare(*groups: list[VariantRow], **options: Any) -> VariantComparison:
    names = list(dict.fromkeys(row.variant for group in groups for row in group))
    options.setdefault("order", names)
    return compare_variants(
        "g",
        "model",
        [row for group in groups for row in group],
        **options,
    )


def versus(result: VariantComparison, name: str) -> VariantVsReference:
    return next(v for v in result.versus if v.name == name)


def stats_of(result: VariantComparison, name: str) -> VariantStats:
    return next(v for v in result.variants if v.name == name)


# --- pairing -------------------------------------------------------------------------


def test_cases_missing_from_one_variant_are_unpaired_and_left_out_of_the_test() -> None:
    a = rows("a", [1.0, 1.0, 1.0, 0.0], cases=["c1", "c2", "c3", "c4"])
    b = rows("b", [1.0, 0.0, 0.0, 1.0], cases=["c2", "c3", "c4", "c5"])
    result = compare(a, b)
    against = versus(result, "b")
    assert against.reference == "a"
    assert against.pairs == 3
    assert against.unpaired == ["c1", "c5"]
    # paired: c2 1->1, c3 1->0, c4 0->0: mean diff (0 - 1 + 0) / 3
    assert against.mean_diff == pytest.approx(-1 / 3)
    assert against.changed == 1
    assert against.flipped_to_fail == ["c3"]
    assert against.flipped_to_pass == []
    # each variant's own statistics keep all its cases
    assert stats_of(result, "a").n == 4 and stats_of(result, "a").mean == 0.75
    assert stats_of(result, "b").n == 4 and stats_of(result, "b").mean == 0.5


def test_flipped_cases_are_listed_both_ways() -> None:
    a = rows("a", [1.0, 0.0, 1.0, 0.0])
    b = rows("b", [0.0, 1.0, 1.0, 0.0])
    against = versus(compare(a, b), "b")
    assert against.flipped_to_fail == ["c00"]
    assert against.flipped_to_pass == ["c01"]


# --- the paired test against the reference ---------------------------------------------


def test_seven_cases_all_lower_are_worse_with_the_exact_two_sided_p() -> None:
    # 7 changed cases, all down: the extreme sign patterns are all-down and all-up,
    # 2 of 2^7, so p = 2 / 128.
    ref = rows("ref", [1.0] * 8)
    low = rows("low", [0.0] * 7 + [1.0])
    against = versus(compare(ref, low), "low")
    assert against.p_value == pytest.approx(2 / 128)
    assert against.adjusted_p == pytest.approx(2 / 128)
    assert against.verdict == "worse"
    assert against.mean_diff == pytest.approx(-7 / 8)


def test_seven_cases_all_higher_are_better() -> None:
    ref = rows("ref", [0.0] * 7 + [1.0])
    high = rows("high", [1.0] * 8)
    against = versus(compare(ref, high), "high")
    assert against.p_value == pytest.approx(2 / 128)
    assert against.verdict == "better"
    assert against.flipped_to_pass == [f"c{i:02d}" for i in range(7)]


def test_changes_both_ways_are_no_difference() -> None:
    # 6 changed cases of size 1: 5 up, 1 down, sum 4. |sum| >= 4 needs at least 5 of
    # the 6 signs equal: 2 * (C(6,5) + C(6,6)) = 14 of 64 patterns.
    ref = rows("ref", [0.0] * 5 + [1.0, 0.5])
    mixed = rows("mixed", [1.0] * 5 + [0.0, 0.5])
    against = versus(compare(ref, mixed), "mixed")
    assert against.changed == 6
    assert against.p_value == pytest.approx(14 / 64)
    assert against.verdict == "no_difference"


def test_identical_scores_are_no_difference_with_p_one() -> None:
    against = versus(compare(rows("a", [0.2, 0.9, 1.0]), rows("b", [0.2, 0.9, 1.0])), "b")
    assert (against.changed, against.p_value, against.verdict) == (0, 1.0, "no_difference")


def test_too_few_changed_cases_are_not_testable() -> None:
    # 5 changed cases, all down: the smallest two-sided p is 2 / 2^5 = 0.0625 >= 0.05.
    against = versus(compare(rows("ref", [1.0] * 6), rows("low", [0.0] * 5 + [1.0])), "low")
    assert against.verdict == "not_testable"
    assert against.p_value is None
    # at alpha 0.1 the same 5 cases can reach it: p = 0.0625 < 0.1
    loose = compare(rows("ref", [1.0] * 6), rows("low", [0.0] * 5 + [1.0]), alpha=0.1)
    assert versus(loose, "low").p_value == pytest.approx(0.0625)
    assert versus(loose, "low").verdict == "worse"


def test_no_paired_case_is_not_testable() -> None:
    a = rows("a", [1.0, 1.0], cases=["x", "y"])
    b = rows("b", [0.0, 0.0], cases=["z", "w"])
    against = versus(compare(a, b), "b")
    assert (against.pairs, against.verdict, against.p_value) == (0, "not_testable", None)
    assert against.unpaired == ["w", "x", "y", "z"]


def test_the_comparisons_of_a_group_are_holm_corrected() -> None:
    # down: p = 2/128 (7 cases all down); mixed: p = 14/64 (see above). Holm over the
    # two: 2 * 2/128 = 0.03125 for the smaller, max(0.03125, 14/64) for the larger.
    ref = rows("ref", [1.0] * 7 + [0.0] * 5 + [1.0, 0.5])
    down = rows("down", [0.0] * 7 + [0.0] * 5 + [1.0, 0.5])
    mixed = rows("mixed", [1.0] * 7 + [1.0] * 5 + [0.0, 0.5])
    result = compare(ref, down, mixed)
    assert versus(result, "down").p_value == pytest.approx(2 / 128)
    assert versus(result, "down").adjusted_p == pytest.approx(2 * 2 / 128)
    assert versus(result, "down").verdict == "worse"
    assert versus(result, "mixed").p_value == pytest.approx(14 / 64)
    assert versus(result, "mixed").adjusted_p == pytest.approx(14 / 64)


def test_holm_can_turn_a_borderline_difference_into_no_difference() -> None:
    # two variants each 6 cases all down, one case apart: p = 2/64 = 0.03125 each, Holm
    # doubles the smaller: 0.0625 >= 0.05 for both.
    ref = rows("ref", [1.0] * 6)
    one = rows("one", [0.0] * 6)
    two = rows("two", [0.0] * 6)
    result = compare(ref, one, two)
    for name in ("one", "two"):
        assert versus(result, name).p_value == pytest.approx(2 / 64)
        assert versus(result, name).adjusted_p == pytest.approx(2 / 64 * 2)
        assert versus(result, name).verdict == "no_difference"


def test_the_reference_defaults_to_the_first_in_order_and_can_be_named() -> None:
    a, b = rows("a", [1.0, 1.0]), rows("b", [0.0, 1.0])
    assert compare(a, b, order=["b", "a"]).reference == "b"
    named = compare(a, b, reference="b")
    assert named.reference == "b"
    assert [v.name for v in named.versus] == ["a"]
    assert versus(named, "a").mean_diff == pytest.approx(0.5)


def test_cost_and_latency_ratios_are_over_the_paired_cases() -> None:
    ref = rows("ref", [1.0, 1.0, 1.0], cost=0.02, latencies=[1.0, 2.0, 9.0])
    cheap = rows("cheap", [1.0, 1.0], cost=0.005, latencies=[0.5, 1.0], cases=["c00", "c01"])
    against = versus(compare(ref, cheap), "cheap")
    assert against.cost_ratio == pytest.approx(0.25)
    # medians over c00, c01: ref (1 + 2) / 2 = 1.5, cheap (0.5 + 1) / 2 = 0.75
    assert against.latency_ratio == pytest.approx(0.5)


# --- per-variant statistics and the bar ------------------------------------------------


def test_variant_statistics_by_hand() -> None:
    scored = [
        VariantRow("a", "c1", 1.0, True, 0.01, 100, 1.0),
        VariantRow("a", "c2", 0.0, False, 0.03, 300, 3.0),
        VariantRow("a", "c3", 1.0, True, 0.02, 200, None),
        VariantRow("a", "c4", 1.0, True, 0.02, 200, 2.0),
    ]
    a = stats_of(compare_variants("g", "model", scored), "a")
    assert (a.n, a.mean, a.pass_rate) == (4, 0.75, 0.75)
    assert a.interval == "wilson"
    # Wilson, 3 of 4, z = 1.959964: centre (0.75 + z^2/8) / (1 + z^2/4)
    z = 1.959963984540054
    centre = (0.75 + z * z / 8) / (1 + z * z / 4)
    half = z / (1 + z * z / 4) * math.sqrt(0.75 * 0.25 / 4 + z * z / 64)
    assert a.low == pytest.approx(centre - half)
    assert a.pass_low == pytest.approx(centre - half)
    assert a.pass_high == pytest.approx(centre + half)
    assert a.cost_per_case_usd == pytest.approx(0.02)
    assert a.tokens_per_case == 200.0
    # latencies 1, 2, 3 (c3 unknown): median 2, p95 at rank 0.95 * 2 = 1.9 -> 2.9
    assert a.p50_latency_s == pytest.approx(2.0)
    assert a.p95_latency_s == pytest.approx(2.9)


def test_graded_scores_get_a_t_interval_and_one_case_none() -> None:
    graded = compare(rows("a", [0.6, 0.8]))
    a = stats_of(graded, "a")
    # t(0.975, 1) = 12.7062047, s = 0.141421, se = 0.1: 0.7 +/- 1.27 clipped to [0, 1]
    assert a.interval == "t"
    assert (a.low, a.high) == (0.0, 1.0)
    single = stats_of(compare(rows("a", [0.6])), "a")
    assert (single.low, single.high) == (None, None)


def test_the_bar_names_what_failed_with_numbers() -> None:
    result = compare(
        rows("a", [1.0, 1.0, 0.4, 0.4]),
        rows("b", [1.0, 1.0, 1.0, 0.0]),
        threshold=0.75,
        min_pass_rate=0.75,
    )
    a, b = stats_of(result, "a"), stats_of(result, "b")
    assert not a.meets_bar
    assert a.why_not == "mean 0.700 < threshold 0.75; pass rate 50% < min_pass_rate 75%"
    assert b.meets_bar and b.why_not is None  # mean 0.75 and pass rate 75%: at the bar


def test_a_partly_priced_variant_is_unpriced() -> None:
    mixed = rows("a", [1.0, 1.0]) + [VariantRow("a", "c99", 1.0, True, None, 0, None)]
    assert stats_of(compare(mixed), "a").cost_per_case_usd is None


# --- non-inferiority and the recommendation -----------------------------------------


def test_non_inferiority_within_the_margin_by_hand() -> None:
    # best - cheap over 4 pairs: 0, 0.04, 0, 0.04: mean 0.02, s = 0.0230940, se =
    # 0.0115470; t(0.95, 3) = 2.3533634: upper bound 0.02 + 0.0271746 = 0.0471746.
    best = rows("best", [1.0, 1.0, 1.0, 1.0], cost=0.01)
    cheap = rows("cheap", [1.0, 0.96, 1.0, 0.96], cost=0.001)
    within = compare(best, cheap, margin=0.05)
    assert stats_of(within, "cheap").difference_upper == pytest.approx(0.0471746, abs=1e-6)
    assert stats_of(within, "cheap").non_inferior
    assert within.recommended == "cheap"
    assert within.reason == (
        "cheap: the cheapest ($0.001/case, mean 0.980) of the variants that meet the bar "
        "and are within 0.05 of the best (best, mean 1.000); also qualified: best"
    )


def test_non_inferiority_beyond_the_margin_by_hand() -> None:
    best = rows("best", [1.0, 1.0, 1.0, 1.0], cost=0.01)
    cheap = rows("cheap", [1.0, 0.96, 1.0, 0.96], cost=0.001)
    beyond = compare(best, cheap, margin=0.04)  # the bound 0.0472 exceeds 0.04
    assert not stats_of(beyond, "cheap").non_inferior
    assert beyond.recommended == "best"
    assert beyond.reason == (
        "best: the only one ($0.01/case, mean 1.000) of the variants that meet the bar and "
        "are within 0.04 of the best (best, mean 1.000)"
    )


def test_a_cheaper_variant_that_differs_only_by_noise_is_not_proven_within_the_margin() -> None:
    # best - cheap: 0, 0.2, 0, 0.2 (mean 0.1): the bound is far above 0.05.
    best = rows("best", [1.0] * 4, cost=0.01)
    cheap = rows("cheap", [1.0, 0.8, 1.0, 0.8], cost=0.001)
    result = compare(best, cheap, threshold=0.8)
    assert stats_of(result, "cheap").meets_bar
    assert not stats_of(result, "cheap").non_inferior
    assert result.recommended == "best"


def test_a_tie_is_broken_by_cost() -> None:
    same = [1.0, 0.5, 1.0]
    result = compare(
        rows("pricey", same, cost=0.002), rows("cheap", same, cost=0.001), threshold=0.5
    )
    assert result.best == "pricey"  # equal means: first in order
    assert stats_of(result, "cheap").difference_upper == 0.0
    assert result.recommended == "cheap"


def test_equal_cost_is_broken_by_mean_then_by_order() -> None:
    a = rows("a", [1.0, 1.0, 1.0, 0.98], cost=0.001)
    b = rows("b", [1.0, 1.0, 1.0, 1.0], cost=0.001)
    assert compare(a, b).recommended == "b"  # same cost, higher mean
    c = rows("c", [1.0, 1.0, 1.0, 1.0], cost=0.001)
    assert compare(c, b).recommended == "c"  # same cost and mean: first in order
    assert compare(c, b, order=["b", "c"]).recommended == "b"


def test_none_qualifies_names_why_each_failed() -> None:
    result = compare(
        rows("a", [0.5, 0.5, 0.5], cost=0.01),
        rows("b", [0.4, 0.4, 0.4], cost=0.001),
        threshold=0.8,
    )
    assert result.recommended is None
    # b - a is 0.1 on every case: the t bound of equal differences is the difference
    assert result.reason == (
        "none qualifies: a: mean 0.500 < threshold 0.8 | b: mean 0.400 < threshold 0.8; "
        "not shown within 0.05 of the best (a): mean 0.400 vs 0.500, upper bound of the "
        "shortfall 0.100"
    )


def test_a_variant_paired_with_the_best_on_one_case_cannot_be_shown_within_the_margin() -> None:
    best = rows("best", [1.0, 1.0], cost=0.01, cases=["x", "y"])
    other = rows("other", [1.0, 1.0], cost=0.001, cases=["y", "z"])
    result = compare(best, other)
    assert stats_of(result, "other").difference_upper is None
    assert result.recommended == "best"


def test_unpriced_variants_rank_after_priced_ones_and_the_reason_says_so() -> None:
    same = [1.0, 1.0, 1.0]
    result = compare(rows("local", same, cost=None), rows("hosted", same, cost=0.01))
    assert result.recommended == "hosted"
    assert "unpriced, so ranked after the priced ones: local" in result.reason


def test_with_no_priced_candidate_the_highest_mean_is_picked_and_said() -> None:
    result = compare(rows("x", [1.0, 1.0, 0.98], cost=None), rows("y", [1.0, 1.0, 1.0], cost=None))
    assert result.recommended == "y"
    assert result.reason == (
        "y: no qualifying variant is priced, so the one with the highest mean (1.000) among y, x"
    )


# --- Pareto front ----------------------------------------------------------------


def test_pareto_front_by_hand() -> None:
    result = compare(
        rows("a", [0.9] * 2, cost=0.01),  # best mean
        rows("b", [0.8] * 2, cost=0.001),  # cheapest
        rows("c", [0.7] * 2, cost=0.005),  # dominated by b
        rows("d", [0.9] * 2, cost=0.02),  # dominated by a (same mean, dearer)
        rows("e", [1.0] * 2, cost=None),  # unpriced: not on the cost axis
        rows("f", [0.85] * 2, cost=0.005),  # between b and a: on the front
    )
    assert result.pareto == ["b", "f", "a"]
    assert pareto_front(result.variants) == result.pareto


def test_equal_points_are_both_on_the_front() -> None:
    result = compare(rows("a", [0.9], cost=0.01), rows("b", [0.9], cost=0.01))
    assert result.pareto == ["a", "b"]


# --- determinism and bad input ---------------------------------------------------


case_scores = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 9),
        st.sampled_from([0.0, 0.25, 0.5, 1.0]),
        st.sampled_from([None, 0.001, 0.002]),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda t: (t[0], t[1]),
)


@settings(max_examples=60, deadline=None)
@given(case_scores, st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_of_the_rows(
    data: list[tuple[str, int, float, float | None]], shuffler: random.Random
) -> None:
    given_rows = [
        VariantRow(v, f"case{c}", s, s >= 0.5, cost, 10, 0.1 * c) for v, c, s, cost in data
    ]
    shuffled = list(given_rows)
    shuffler.shuffle(shuffled)
    order = ["c", "b", "a"]
    first = compare_variants("g", "model", given_rows, threshold=0.5, order=order)
    second = compare_variants("g", "model", shuffled, threshold=0.5, order=order)
    assert first.model_dump_json() == second.model_dump_json()


def test_bad_input_is_refused_with_a_message() -> None:
    a = rows("a", [1.0])
    with pytest.raises(ValueError, match="two results for variant 'a' on case 'c00'"):
        compare_variants("g", "model", a + a)
    with pytest.raises(ValueError, match="reference 'zz' of group 'g' is not one of its variants"):
        compare_variants("g", "model", a, reference="zz")
    with pytest.raises(ValueError, match="alpha must be strictly between 0 and 0.5"):
        compare_variants("g", "model", a, alpha=0.5)
    with pytest.raises(ValueError, match="threshold must be between 0 and 1"):
        compare_variants("g", "model", a, threshold=1.5)
    with pytest.raises(ValueError, match="group 'g' has no results"):
        compare_variants("g", "model", [])
    nan = VariantRow("a", "c1", math.nan, False)
    with pytest.raises(
        ValueError,
        match="group 'g', variant 'a', case 'c1': score nan is not between 0 and 1; leave a "
        "case without a score out of the rows",
    ):
        compare_variants("g", "model", [nan])
    with pytest.raises(ValueError, match="cost_usd -0.1 is not a non-negative number"):
        compare_variants("g", "model", [VariantRow("a", "c1", 1.0, True, -0.1)])


def test_the_result_does_not_depend_on_the_hash_seed() -> None:
    script = (
        "from pytest_llmeval.records.variant_models import VariantRow\n"
        "from pytest_llmeval.records.variants import compare_variants\n"
        "rows = [VariantRow(v, f'case{c}', (c * 7 % 5) / 4 if v != 'm' else 1.0, c % 3 > 0, "
        "0.001 * len(v), 5, 0.1 * c) for v in ('m', 'mini', 'nano', 'xl') for c in range(9)]\n"
        "print(compare_variants('g', 'model', rows, threshold=0.5).model_dump_json())\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert '"recommended":' in outputs.pop()
