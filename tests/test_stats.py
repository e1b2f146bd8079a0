"""Unit tests and properties of pytest_llmeval.records.stats (pure functions, no pytest run)."""

from __future__ import annotations

import itertools
import math
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmeval.records import stats

# Student-t 0.975 quantiles, as tabulated (and as scipy.stats.t.ppf(0.975, df) gives).
T_975 = {
    1: 12.706204736174694,
    2: 4.302652729749462,
    5: 2.5705818356363146,
    10: 2.228138851986274,
    30: 2.0422724563012378,
    1000: 1.9623390808264083,
}

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
levels = st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
ALTERNATIVES: tuple[stats.Alternative, ...] = ("less", "greater", "two-sided")


def t_central_probability(t: float, df: int) -> float:
    """P(|T| <= t) in closed form for integer df (Abramowitz and Stegun 26.7.3/26.7.4)."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:
        term, total = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= cos2 * (2 * k) / (2 * k + 1)
        series = math.sin(theta) * total if df > 1 else 0.0
        return 2.0 / math.pi * (theta + series)
    term, total = 1.0, 0.0
    for k in range(1, df // 2 + 1):
        total += term
        term *= cos2 * (2 * k - 1) / (2 * k)
    return math.sin(theta) * total


def sign_flip_counts(differences: list[int]) -> Counter[int]:
    """How many sign patterns give each value of sum(d), by dynamic programming."""
    counts: Counter[int] = Counter({0: 1})
    for d in differences:
        step: Counter[int] = Counter()
        for total, ways in counts.items():
            step[total + d] += ways
            step[total - d] += ways
        counts = step
    return counts


# --- mean, stdev -------------------------------------------------------------------


def test_mean_of_values_and_of_nothing() -> None:
    assert stats.mean([0.1, 0.2, 0.7]) == 0.3333333333333333
    assert math.isnan(stats.mean([]))
    # fsum(3 * [0.1]) / 3 would round to 0.10000000000000002; equal values give the value.
    assert stats.mean([0.1, 0.1, 0.1]) == 0.1


def test_stdev_by_hand() -> None:
    # mean 0.5, deviations -0.3 -0.1 0.4, squares 0.09 + 0.01 + 0.16 = 0.26, / (3 - 1) = 0.13
    assert stats.stdev([0.2, 0.4, 0.9]) == pytest.approx(math.sqrt(0.13), rel=1e-15)
    assert stats.stdev([0.3, 0.3]) == 0.0
    assert math.isnan(stats.stdev([0.3]))
    assert math.isnan(stats.stdev([]))


# --- quantiles -----------------------------------------------------------------------


@pytest.mark.parametrize("df", sorted(T_975))
def test_student_t_quantile_matches_the_table(df: int) -> None:
    assert stats.student_t_quantile(0.975, df) == pytest.approx(T_975[df], rel=1e-9)
    assert stats.student_t_quantile(0.025, df) == pytest.approx(-T_975[df], rel=1e-9)


def test_student_t_quantile_other_points() -> None:
    # Reference values from scipy.stats.t.ppf.
    assert stats.student_t_quantile(0.995, 10) == pytest.approx(3.16927267261695, rel=1e-9)
    assert stats.student_t_quantile(1e-12, 3) == pytest.approx(-10331.108244292487, rel=1e-9)
    assert stats.student_t_quantile(0.9, 1.5) == pytest.approx(2.1963984175655376, rel=1e-9)
    assert stats.student_t_quantile(0.975, 10**7) == pytest.approx(1.959964221767205, rel=1e-12)
    assert stats.student_t_quantile(0.5, 4) == 0.0


def test_normal_quantile_matches_the_table() -> None:
    assert stats.normal_quantile(0.975) == pytest.approx(1.959963984540054, rel=1e-14)
    assert stats.normal_quantile(1e-10) == pytest.approx(-6.361340902404056, rel=1e-13)
    assert stats.normal_quantile(0.5) == 0.0


@given(st.floats(min_value=1e-9, max_value=0.4999), st.sampled_from([1, 2]))
def test_student_t_quantile_closed_forms(tail: float, df: int) -> None:
    # df=1 is the Cauchy distribution, t = cot(pi q); df=2 has t = (1-2q)/sqrt(2q(1-q)).
    expected = (
        1.0 / math.tan(math.pi * tail)
        if df == 1
        else (1 - 2 * tail) / math.sqrt(2 * tail * (1 - tail))
    )
    # The lower tail is passed as is: 1 - tail would round away digits of tiny tails.
    assert stats.student_t_quantile(tail, df) == pytest.approx(-expected, rel=1e-12)


@given(st.floats(min_value=0.01, max_value=0.9999), st.integers(min_value=1, max_value=40))
def test_student_t_quantile_inverts_the_closed_form_cdf(level: float, df: int) -> None:
    t = stats.student_t_quantile((1.0 + level) / 2.0, df)
    assert t_central_probability(t, df) == pytest.approx(level, abs=1e-12)


# --- mean_confidence_interval -------------------------------------------------------


def test_mean_confidence_interval_by_hand() -> None:
    # mean 0.5, s = sqrt(0.13), n = 3: half width t(0.975, 2) * s / sqrt(3)
    half = T_975[2] * math.sqrt(0.13) / math.sqrt(3)
    low, high = stats.mean_confidence_interval([0.2, 0.4, 0.9])
    assert low == pytest.approx(0.5 - half, rel=1e-12)
    assert high == pytest.approx(0.5 + half, rel=1e-12)
    assert stats.mean_confidence_interval([0.2, 0.4, 0.9], clip=(0.0, 1.0)) == (0.0, 1.0)


def test_mean_confidence_interval_edge_cases() -> None:
    assert all(map(math.isnan, stats.mean_confidence_interval([0.4])))
    assert all(map(math.isnan, stats.mean_confidence_interval([])))
    assert stats.mean_confidence_interval([0.7] * 5) == (0.7, 0.7)
    assert stats.mean_confidence_interval([1.5, 1.5], clip=(0.0, 1.0)) == (1.0, 1.0)
    with pytest.raises(ValueError, match=r"level must be strictly between 0 and 1.*got 95"):
        stats.mean_confidence_interval([0.1, 0.2], 95)
    with pytest.raises(ValueError, match=r"clip must be \(low, high\) with low <= high"):
        stats.mean_confidence_interval([0.1, 0.2], clip=(1.0, 0.0))


@given(st.lists(scores, min_size=2, max_size=40), levels)
def test_confidence_interval_contains_the_mean(values: list[float], level: float) -> None:
    low, high = stats.mean_confidence_interval(values, level)
    assert low <= stats.mean(values) <= high
    clipped = stats.mean_confidence_interval(values, level, clip=(0.0, 1.0))
    assert 0.0 <= clipped[0] <= stats.mean(values) <= clipped[1] <= 1.0


@given(st.lists(scores, min_size=2, max_size=40), levels, levels)
def test_confidence_interval_widens_with_level(values: list[float], a: float, b: float) -> None:
    narrow, wide = sorted((a, b))
    low_narrow, high_narrow = stats.mean_confidence_interval(values, narrow)
    low_wide, high_wide = stats.mean_confidence_interval(values, wide)
    assert low_wide <= low_narrow and high_narrow <= high_wide


@given(
    st.lists(scores, min_size=2, max_size=40).flatmap(
        lambda v: st.tuples(st.just(v), st.permutations(v))
    )
)
def test_confidence_interval_ignores_order(pair: tuple[list[float], list[float]]) -> None:
    values, shuffled = pair
    assert stats.mean_confidence_interval(values) == stats.mean_confidence_interval(shuffled)
    assert stats.mean(values) == stats.mean(shuffled)
    assert stats.stdev(values) == stats.stdev(shuffled)


# --- wilson_interval ----------------------------------------------------------------


def test_wilson_interval_by_hand() -> None:
    # p = 0.7, z = 1.959963984540054: center (p + z^2/2n) / (1 + z^2/n),
    # half z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2); scipy's binomtest agrees.
    z, n, p = 1.959963984540054, 10, 0.7
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = stats.wilson_interval(7, 10)
    assert (low, high) == pytest.approx((center - half, center + half), rel=1e-12)
    assert (low, high) == pytest.approx((0.39677814746114526, 0.892208732593699), rel=1e-12)
    assert stats.wilson_interval(7, 10, 0.9) == pytest.approx(
        (0.4416997958698351, 0.8731234160968021), rel=1e-12
    )


def test_wilson_interval_edges() -> None:
    low, high = stats.wilson_interval(0, 5)
    assert low == 0.0 and high == pytest.approx(0.43448246478317476, rel=1e-12)
    low, high = stats.wilson_interval(20, 20)
    assert low == pytest.approx(0.8388748419471808, rel=1e-12) and high == 1.0
    assert all(map(math.isnan, stats.wilson_interval(0, 0)))
    with pytest.raises(ValueError, match=r"need 0 <= successes <= n, got successes=6, n=5"):
        stats.wilson_interval(6, 5)
    with pytest.raises(ValueError, match=r"successes must be an integer count, got 2.5"):
        stats.wilson_interval(2.5, 5)  # type: ignore[arg-type]


@given(
    st.integers(min_value=1, max_value=500).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n))
    ),
    levels,
)
def test_wilson_interval_contains_the_rate(counts: tuple[int, int], level: float) -> None:
    successes, n = counts
    low, high = stats.wilson_interval(successes, n, level)
    assert 0.0 <= low <= successes / n <= high <= 1.0


# --- percentile -----------------------------------------------------------------------


def test_percentile_matches_numpy() -> None:
    # Type 7: h = (n - 1) * q / 100 on the sorted values, x[floor h] + frac(h) * gap.
    # The right-hand values are numpy.percentile's output, bit for bit.
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 25) == 2.0  # h = 1
    assert stats.percentile(values, 50) == 3.0  # h = 2
    assert stats.percentile(values, 90) == 7.6000000000000005  # h = 3.6: 4 + 0.6 * 6
    assert stats.percentile(values, 95) == 8.799999999999999  # h = 3.8: 4 + 0.8 * 6
    assert stats.percentile(values, 100) == 10.0
    unsorted = [0.5, 0.1, 0.9, 0.3]  # sorted 0.1 0.3 0.5 0.9
    assert stats.percentile(unsorted, 10) == 0.16  # h = 0.3: 0.1 + 0.3 * 0.2
    assert stats.percentile(unsorted, 33) == 0.298  # h = 0.99: 0.1 + 0.99 * 0.2
    assert stats.percentile(unsorted, 50) == 0.4  # h = 1.5: 0.3 + 0.5 * 0.2
    assert stats.percentile(unsorted, 75) == 0.6  # h = 2.25: 0.5 + 0.25 * 0.4
    latency = [0.42, 0.91, 0.3, 1.8, 0.77, 0.55, 2.6, 0.61, 0.49, 0.95]
    assert stats.percentile(latency, 50) == 0.69  # h = 4.5: 0.61 + 0.5 * 0.16
    assert stats.percentile(latency, 95) == 2.2399999999999993  # h = 8.55: 1.8 + 0.55 * 0.8
    assert math.isnan(stats.percentile([], 50))
    assert stats.percentile([0.25], 99) == 0.25


def test_percentile_refuses_q_outside_0_to_100() -> None:
    with pytest.raises(ValueError, match=r"q must be between 0 and 100, got -0.5"):
        stats.percentile([1.0], -0.5)
    with pytest.raises(ValueError, match=r"q must be between 0 and 100, got 101"):
        stats.percentile([1.0], 101)


@given(st.lists(scores, min_size=1, max_size=30), st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_monotone_and_bounded(values: list[float], a: float, b: float) -> None:
    low_q, high_q = sorted((a, b))
    low, high = stats.percentile(values, low_q), stats.percentile(values, high_q)
    assert min(values) <= low <= high <= max(values)


# --- paired_permutation_test ------------------------------------------------------------


def test_exact_permutation_p_value_by_enumeration() -> None:
    before = [0.5, 0.75, 0.25, 1.0, 0.5, 0.5]
    after = [0.25, 0.5, 0.5, 0.5, 0.0, 0.5]
    # Non-zero differences -0.25 -0.25 +0.25 -0.5 -0.5 (the tie is dropped), sum -1.25.
    differences = [b - a for a, b in zip(before, after, strict=True) if b != a]
    observed = sum(differences)
    null = [
        sum(s * abs(d) for s, d in zip(signs, differences, strict=True))
        for signs in itertools.product((1, -1), repeat=len(differences))
    ]
    expected = {
        "less": sum(x <= observed for x in null) / 32,
        "greater": sum(x >= observed for x in null) / 32,
        "two-sided": sum(abs(x) >= abs(observed) for x in null) / 32,
    }
    # By hand: with N the magnitude given a minus sign, sum = 1.75 - 2N. "less" needs
    # N >= 1.5: both 0.5s and two or three 0.25s, 4 of 32 patterns; "greater" misses
    # only N = 1.75; "two-sided" adds N <= 0.25 (none or one 0.25): 4 more.
    assert expected == {"less": 4 / 32, "greater": 31 / 32, "two-sided": 8 / 32}
    for alternative in ALTERNATIVES:
        p = stats.paired_permutation_test(before, after, alternative=alternative)
        assert p == expected[alternative]


def test_monte_carlo_agrees_with_the_exact_null() -> None:
    # 20 integer differences: the exact null distribution comes from counting patterns.
    differences = [-3, -2, -2, -1, -1, -1, 1, -4, 2, -1, -2, 3, -1, -1, 1, -2, -1, 2, -3, 1]
    before = [10.0] * len(differences)
    after = [10.0 + d for d in differences]
    counts = sign_flip_counts(differences)
    observed = sum(differences)
    exact = sum(w for total, w in counts.items() if total <= observed) / 2 ** len(differences)
    estimate = stats.paired_permutation_test(before, after, rounds=20_000)
    # 4 standard errors of a 20,000-draw estimate of p.
    assert abs(estimate - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1e-4
    assert 0.001 < exact < 0.2


@settings(max_examples=60)
@given(st.lists(st.integers(-4, 4), min_size=1, max_size=16))
def test_exact_path_matches_pattern_counting(differences: list[int]) -> None:
    before = [5.0] * len(differences)
    after = [5.0 + d for d in differences]
    nonzero = [d for d in differences if d]
    counts = sign_flip_counts(nonzero)
    observed = sum(nonzero)
    total = 2 ** len(nonzero)
    p = stats.paired_permutation_test(before, after)
    assert p == sum(w for s, w in counts.items() if s <= observed) / total


def test_permutation_test_edges() -> None:
    assert stats.paired_permutation_test([0.3, 0.6], [0.3, 0.6]) == 1.0
    assert stats.paired_permutation_test([], []) == 1.0
    with pytest.raises(ValueError, match=r"before has 3 values and after has 2"):
        stats.paired_permutation_test([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(
        ValueError, match=r"alternative must be one of 'less', 'greater', 'two-sided', got 'lower'"
    ):
        stats.paired_permutation_test([0.1], [0.2], alternative="lower")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"rounds must be a positive integer, got 0"):
        stats.paired_permutation_test([0.1], [0.2], rounds=0)


def test_permutation_test_is_deterministic() -> None:
    # speed is measured in benchmarks/, not asserted here
    before = [((i * 37) % 100) / 100 for i in range(500)]
    after = [min(1.0, max(0.0, b + (((i * 53) % 21) - 11) / 100)) for i, b in enumerate(before)]
    p = stats.paired_permutation_test(before, after, rounds=10_000)
    assert p == stats.paired_permutation_test(before, after, rounds=10_000)
    assert 0.0 < p <= 1.0


@settings(max_examples=40)
@given(
    st.lists(st.tuples(scores, scores), min_size=1, max_size=40), st.randoms(use_true_random=False)
)
def test_permutation_p_value_is_a_probability_and_ignores_pair_order(
    pairs: list[tuple[float, float]], rng: random.Random
) -> None:
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    for alternative in ALTERNATIVES:
        p = stats.paired_permutation_test(
            [a for a, _ in pairs],
            [b for _, b in pairs],
            alternative=alternative,
            rounds=2000,
        )
        q = stats.paired_permutation_test(
            [a for a, _ in shuffled],
            [b for _, b in shuffled],
            alternative=alternative,
            rounds=2000,
        )
        assert 0.0 <= p <= 1.0
        assert p == q


@settings(max_examples=25)
@given(st.lists(st.floats(0.3, 1.0), min_size=30, max_size=30))
def test_uniform_drop_is_significant_and_no_change_is_not(before: list[float]) -> None:
    after = [b - 0.3 for b in before]
    assert stats.paired_permutation_test(before, after) < 0.001
    assert stats.paired_permutation_test(before, after, alternative="greater") == 1.0
    for alternative in ALTERNATIVES:
        assert stats.paired_permutation_test(before, list(before), alternative=alternative) == 1.0


# --- mcnemar_exact ------------------------------------------------------------------------


def test_mcnemar_against_binomial_tails_by_hand() -> None:
    # 7 pass->fail (b), 1 fail->pass (c), 3 pass->pass, 2 fail->fail: X ~ Binomial(8, 1/2).
    before = [True] * 7 + [False] + [True] * 3 + [False] * 2
    after = [False] * 7 + [True] + [True] * 3 + [False] * 2
    # P(X >= 7) = (C(8,7) + C(8,8)) / 2^8 = 9/256
    assert stats.mcnemar_exact(before, after) == 9 / 256
    # P(X <= 7) = 1 - C(8,8)/256 = 255/256
    assert stats.mcnemar_exact(before, after, alternative="greater") == 255 / 256
    assert stats.mcnemar_exact(before, after, alternative="two-sided") == 18 / 256
    assert stats.mcnemar_exact(after, before, alternative="two-sided") == 18 / 256
    assert stats.mcnemar_exact([True, False], [True, False]) == 1.0
    assert stats.mcnemar_exact([1, 0], [0, 0]) == 0.5  # type: ignore[list-item]


@given(st.integers(min_value=0, max_value=300), st.floats(min_value=0, max_value=1))
def test_mcnemar_tails_are_the_binomial_sums(flips: int, share: float) -> None:
    broke = round(flips * share)  # either tail may be the shorter one the sum walks
    before = [True] * broke + [False] * (flips - broke)
    upper = sum(math.comb(flips, k) for k in range(broke, flips + 1))
    lower = sum(math.comb(flips, k) for k in range(broke + 1))
    total = 2**flips
    assert stats.mcnemar_exact(before, [not b for b in before]) == (upper / total if flips else 1)
    expected = min(2 * min(upper, lower), total) / total if flips else 1
    assert stats.mcnemar_exact(before, [not b for b in before], alternative="two-sided") == expected


def test_mcnemar_refuses_non_booleans_and_unequal_lengths() -> None:
    with pytest.raises(ValueError, match=r"before_pass\[1\] is nan; expected a pass/fail boolean"):
        stats.mcnemar_exact([True, math.nan], [True, True])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"before has 1 values and after has 2"):
        stats.mcnemar_exact([True], [True, False])


@given(
    st.lists(st.tuples(st.booleans(), st.booleans()), max_size=60),
    st.randoms(use_true_random=False),
)
def test_mcnemar_p_value_is_a_probability_and_ignores_pair_order(
    pairs: list[tuple[bool, bool]], rng: random.Random
) -> None:
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    for alternative in ALTERNATIVES:
        p = stats.mcnemar_exact(
            [a for a, _ in pairs], [b for _, b in pairs], alternative=alternative
        )
        q = stats.mcnemar_exact(
            [a for a, _ in shuffled], [b for _, b in shuffled], alternative=alternative
        )
        assert 0.0 <= p <= 1.0 and p == q


# --- paired_bootstrap_ci ------------------------------------------------------------------


def test_bootstrap_interval_of_a_drop() -> None:
    before = [0.8, 0.9, 0.7, 0.85, 0.95, 0.6, 0.75, 0.9, 0.8, 0.7]
    after = [0.6, 0.8, 0.65, 0.6, 0.9, 0.5, 0.7, 0.7, 0.75, 0.55]
    low, high = stats.paired_bootstrap_ci(before, after)
    observed = stats.mean([b - a for a, b in zip(before, after, strict=True)])
    assert -0.25 <= low < observed < high < 0.0
    assert (low, high) == stats.paired_bootstrap_ci(before, after)
    assert (low, high) == stats.paired_bootstrap_ci(before[::-1], after[::-1])
    wide = stats.paired_bootstrap_ci(before, after, level=0.99)
    assert wide[0] <= low and high <= wide[1]


def test_bootstrap_edges() -> None:
    assert all(map(math.isnan, stats.paired_bootstrap_ci([], [])))
    assert stats.paired_bootstrap_ci([0.5, 0.75], [0.25, 0.5]) == (-0.25, -0.25)
    with pytest.raises(ValueError, match=r"before has 2 values and after has 1"):
        stats.paired_bootstrap_ci([0.5, 0.75], [0.25])


@settings(max_examples=40)
@given(st.lists(st.tuples(scores, scores), min_size=1, max_size=30))
def test_bootstrap_interval_lies_within_the_differences(pairs: list[tuple[float, float]]) -> None:
    before, after = [a for a, _ in pairs], [b for _, b in pairs]
    differences = [b - a for a, b in pairs]
    low, high = stats.paired_bootstrap_ci(before, after, rounds=200)
    assert min(differences) <= low <= high <= max(differences)


# --- input policy -------------------------------------------------------------------------


CALLS: dict[str, Callable[[list[float]], object]] = {
    "mean": stats.mean,
    "stdev": stats.stdev,
    "mean_confidence_interval": stats.mean_confidence_interval,
    "percentile": lambda v: stats.percentile(v, 50),
    "paired_permutation_test": lambda v: stats.paired_permutation_test([0.5] * len(v), v),
    "paired_bootstrap_ci": lambda v: stats.paired_bootstrap_ci([0.5] * len(v), v),
}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_non_finite_input_is_refused_by_position(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: \w+\[1\] is {bad!r}; only finite numbers"):
        CALLS[name]([0.5, bad, 0.25])


def test_importing_stats_loads_nothing_heavy() -> None:
    code = (
        "import sys, pytest_llmeval.records.stats\n"
        "heavy = {'pytest', 'pydantic', 'numpy', 'scipy', 'httpx', 'openai', 'anthropic'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.stdout.strip() == "[]"


def test_percentiles_sort_once_and_give_each_percentile() -> None:
    # type 7 over 4 values: position (n - 1) * q / 100 = 1.5 -> 2.5; 2.85 -> 3 + 0.85 = 3.85
    assert stats.percentiles([4, 1, 3, 2], (50, 95)) == pytest.approx([2.5, 3.85])
    assert stats.percentiles([4, 1, 3, 2], (50, 95)) == [
        stats.percentile([4, 1, 3, 2], 50),
        stats.percentile([4, 1, 3, 2], 95),
    ]
    assert all(math.isnan(value) for value in stats.percentiles([], (50, 95)))
    with pytest.raises(ValueError, match="q must be between 0 and 100"):
        stats.percentiles([1.0], (50, 101))
    with pytest.raises(ValueError, match=r"values\[1\] is nan"):
        stats.percentiles([1.0, math.nan], (50,))
