"""Statistics for evaluation scores: means, intervals, percentiles and paired tests.

Pure functions over plain Python numbers, standard library only (``math``, ``random``,
``operator``). Every function is deterministic: the same input gives the same output,
bit for bit, and the randomised methods draw from ``random.Random(seed)``. A NaN or an
infinity in the input is refused with a ``ValueError`` naming the function and the
position; a statistic that is undefined for the sample size (a mean of nothing, an
interval from one value) is NaN.

Methods and their assumptions:

* ``mean`` is the arithmetic mean, summed with ``math.fsum`` (correctly rounded, so the
  result does not depend on the order of the values). ``stdev`` is the sample standard
  deviation (divisor n - 1).
* ``mean_confidence_interval`` is the Student-t interval ``mean +/- t * s / sqrt(n)``
  with ``t`` the ``(1 + level) / 2`` quantile of Student's t with n - 1 degrees of
  freedom. It assumes independent cases and a sample mean close to normal (by the
  central limit theorem; for scores bounded in [0, 1] a few dozen cases are usually
  enough, with fewer or with scores piled at 0 or 1 the coverage is approximate). Equal
  values give the degenerate interval ``(mean, mean)``. ``clip=(0.0, 1.0)`` truncates
  the bounds to the score range; it does not correct the coverage. The t quantile solves
  ``P(T > t) = 1/2 * I_x(df/2, 1/2)``, ``x = df / (df + t^2)``, by Newton's method
  safeguarded with bisection, the regularized incomplete beta function ``I`` coming from
  its continued fraction evaluated with the modified Lentz method; above 10^4 degrees of
  freedom the Cornish-Fisher expansion (Abramowitz and Stegun 26.7.5) is used instead.
  Accuracy is about 1e-12 relative.
* ``wilson_interval`` is the Wilson score interval for a pass rate, without continuity
  correction. It assumes independent cases sharing one pass probability; unlike the
  normal (Wald) interval it stays inside [0, 1] and keeps its coverage near 0 and 1.
* ``percentile`` interpolates linearly between the closest ranks (Hyndman and Fan's
  type 7, the default of numpy and R): on the sorted values ``x``, ``h = (n - 1) * q / 100``
  and the result is ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``,
  computed as numpy computes it.
* ``paired_permutation_test`` is the sign-flip permutation test on the paired differences
  ``d = after - before`` with the statistic ``sum(d)``. Under the null hypothesis each
  difference is symmetric about zero (before and after are exchangeable within a pair);
  pairs are assumed independent. Zero differences carry no information and are dropped.
  With m <= 16 non-zero differences the p-value is exact (all 2^m sign patterns are
  enumerated); otherwise ``rounds`` random patterns are drawn and ``p = (count + 1) /
  (rounds + 1)``, which never reports an impossible 0 and is valid at every level.
  Sums within 1e-9 of ``sum(|d|)`` of the observed one count as ties, and ties count as
  extreme. ``"less"`` asks whether ``after`` is lower, ``"greater"`` whether it is
  higher, ``"two-sided"`` whether ``|sum(d)|`` is unusually large.
* ``mcnemar_exact`` is the exact (binomial) McNemar test on paired pass/fail outcomes:
  with b pass -> fail flips and c fail -> pass flips, under the null hypothesis a flip is
  equally likely in either direction, so ``b ~ Binomial(b + c, 1/2)``. ``"less"`` (the
  pass rate dropped) gives ``P(X >= b)``, ``"greater"`` gives ``P(X <= b)``,
  ``"two-sided"`` twice the smaller tail, capped at 1. Pairs that did not flip do not
  enter; the tails are summed in exact integer arithmetic and rounded once.
* ``paired_bootstrap_ci`` is the percentile bootstrap interval of the mean difference
  ``after - before``: the n differences are resampled with replacement ``rounds`` times
  and the interval is the type-7 percentiles of the resampled means at
  ``(1 - level) / 2`` and ``(1 + level) / 2``. It assumes independent pairs; with few
  pairs (under about 20) it tends to be too narrow.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Iterable, Sequence
from typing import Literal

Alternative = Literal["less", "greater", "two-sided"]

_ALTERNATIVES = ("less", "greater", "two-sided")
_EXACT_LIMIT = 16
_TIE_TOLERANCE = 1e-9
_CORNISH_FISHER_DF = 1e4


def _finite(values: Iterable[float], function: str, argument: str = "values") -> list[float]:
    """Copy values to a list of floats, refusing NaN and infinities by position."""
    result = [float(value) for value in values]
    if not all(map(math.isfinite, result)):
        index = next(i for i, value in enumerate(result) if not math.isfinite(value))
        raise ValueError(
            f"{function}: {argument}[{index}] is {result[index]!r}; only finite numbers "
            "are accepted (drop or impute missing scores first)"
        )
    return result


def _check_level(level: float, function: str) -> None:
    """Refuse a confidence level outside the open interval (0, 1)."""
    if not 0.0 < level < 1.0:
        raise ValueError(
            f"{function}: level must be strictly between 0 and 1 (e.g. 0.95), got {level!r}"
        )


def _check_alternative(alternative: str, function: str) -> None:
    """Refuse an alternative hypothesis other than less, greater or two-sided."""
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"{function}: alternative must be one of {', '.join(map(repr, _ALTERNATIVES))}, "
            f"got {alternative!r}"
        )


def _check_pairs(before: Sequence[object], after: Sequence[object], function: str) -> None:
    """Refuse paired samples of different lengths."""
    if len(before) != len(after):
        raise ValueError(
            f"{function}: before and after must be paired, but before has {len(before)} "
            f"values and after has {len(after)}"
        )


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean, NaN for no values."""
    data = _finite(values, "mean")
    if not data:
        return math.nan
    low, high = min(data), max(data)
    if low == high:
        return low
    # The rounded quotient can step one ulp outside the data; keep it inside.
    return min(max(math.fsum(data) / len(data), low), high)


def stdev(values: Iterable[float]) -> float:
    """Sample standard deviation (divisor n - 1), NaN for fewer than two values."""
    data = _finite(values, "stdev")
    return _stdev(data, mean(data)) if len(data) >= 2 else math.nan


def _stdev(data: list[float], center: float) -> float:
    """Sample standard deviation of finite data around its precomputed mean."""
    return math.sqrt(math.fsum((x - center) ** 2 for x in data) / (len(data) - 1))


def normal_quantile(probability: float) -> float:
    """Quantile of the standard normal distribution."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"normal_quantile: probability must be in (0, 1), got {probability!r}")
    if probability == 0.5:
        return 0.0
    tail = min(probability, 1.0 - probability)
    # Abramowitz and Stegun 26.2.23 (error < 4.5e-4), then Halley steps on erfc.
    r = math.sqrt(-2.0 * math.log(tail))
    z = -(
        r
        - (2.515517 + r * (0.802853 + r * 0.010328))
        / (1.0 + r * (1.432788 + r * (0.189269 + r * 0.001308)))
    )
    for _ in range(6):
        error = 0.5 * math.erfc(-z / math.sqrt(2.0)) - tail
        u = error * math.sqrt(2.0 * math.pi) * math.exp(z * z / 2.0)
        step = u / (1.0 + z * u / 2.0)
        z -= step
        if abs(step) <= 1e-16 * abs(z):
            break
    return -z if probability > 0.5 else z


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function, modified Lentz method."""
    tiny = 1e-300
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    c, result = 1.0, d
    for m in range(1, 100_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            delta = c * d
            result *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return result


def _incomplete_beta(a: float, b: float, x: float, y: float) -> float:
    """Regularized incomplete beta I_x(a, b); y is 1 - x computed without cancellation."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, y) / b


def _t_upper_tail(t: float, df: float) -> float:
    """P(T > t) for t >= 0 under Student's t with df degrees of freedom."""
    ratio = t / math.sqrt(df)
    if ratio > 1e150:
        return 0.0
    square = ratio * ratio
    return 0.5 * _incomplete_beta(df / 2.0, 0.5, 1.0 / (1.0 + square), square / (1.0 + square))


def _t_density(t: float, df: float) -> float:
    """Density of Student's t with df degrees of freedom at t."""
    log_norm = math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1.0) / 2.0 * math.log1p((t / math.sqrt(df)) ** 2))


def _cornish_fisher(tail: float, df: float) -> float:
    """Upper t quantile from the normal one, Abramowitz and Stegun 26.7.5."""
    z = -normal_quantile(tail)
    z2 = z * z
    g1 = z * (z2 + 1.0) / 4.0
    g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0
    g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0
    g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


def _t_upper_quantile(tail: float, df: float) -> float:
    """The t >= 0 with P(T > t) = tail, for 0 < tail < 1/2."""
    if df > _CORNISH_FISHER_DF:
        return _cornish_fisher(tail, df)
    # P(T > t) is convex and decreasing on t >= 0: Newton steps approach the root from
    # below; the bracket catches a first guess that overshoots.
    low, high = 0.0, math.inf
    t = max(_cornish_fisher(tail, df), 0.0)
    for _ in range(500):
        excess = _t_upper_tail(t, df) - tail
        if excess == 0.0:
            return t
        if excess > 0.0:
            low = t
        else:
            high = t
        density = _t_density(t, df)
        step = excess / density if density > 0.0 else math.inf
        if abs(step) <= 1e-12 * t:
            # Newton converges quadratically: the error left after this step is ~step^2.
            return t + step
        t += step
        if not low < t < high:
            t = (low + high) / 2.0 if high < math.inf else max(2.0 * low, 1.0)
    return t


def student_t_quantile(probability: float, df: float) -> float:
    """Quantile of Student's t distribution with df degrees of freedom."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"student_t_quantile: probability must be in (0, 1), got {probability!r}")
    if not df > 0.0:
        raise ValueError(f"student_t_quantile: df must be positive, got {df!r}")
    if probability == 0.5:
        return 0.0
    if probability > 0.5:
        return _t_upper_quantile(1.0 - probability, df)
    return -_t_upper_quantile(probability, df)


def student_t_upper_tail(t: float, df: float) -> float:
    """P(T > t) under Student's t with df degrees of freedom (one-sided p of a t test)."""
    if not math.isfinite(df) or df <= 0:
        raise ValueError(f"student_t_upper_tail: df must be positive, got {df!r}")
    if math.isnan(t):
        raise ValueError("student_t_upper_tail: t is NaN")
    if t >= 0:
        return _t_upper_tail(t, df)
    return 1.0 - _t_upper_tail(-t, df)


def mean_confidence_interval(
    values: Iterable[float],
    level: float = 0.95,
    *,
    clip: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Student-t confidence interval of the mean; NaN bounds for fewer than two values."""
    name = "mean_confidence_interval"
    data = _finite(values, name)
    _check_level(level, name)
    if clip is not None and not clip[0] <= clip[1]:
        raise ValueError(f"{name}: clip must be (low, high) with low <= high, got {clip!r}")
    if len(data) < 2:
        return math.nan, math.nan
    center = mean(data)
    if min(data) == max(data):
        low = high = center
    else:
        half = _t_upper_quantile((1.0 - level) / 2.0, len(data) - 1) * (
            _stdev(data, center) / math.sqrt(len(data))
        )
        low, high = center - half, center + half
    if clip is not None:
        low, high = min(max(low, clip[0]), clip[1]), min(max(high, clip[0]), clip[1])
    return low, high


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a pass rate; NaN bounds when n is 0."""
    name = "wilson_interval"
    _check_level(level, name)
    for argument, number in (("successes", successes), ("n", n)):
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"{name}: {argument} must be an integer count, got {number!r}")
    if not 0 <= successes <= n:
        raise ValueError(f"{name}: need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return math.nan, math.nan
    z = -normal_quantile((1.0 - level) / 2.0)
    rate = successes / n
    shrink = 1.0 + z * z / n
    center = (rate + z * z / (2.0 * n)) / shrink
    half = z / shrink * math.sqrt(rate * (1.0 - rate) / n + z * z / (4.0 * n * n))
    low = 0.0 if successes == 0 else max(center - half, 0.0)
    high = 1.0 if successes == n else min(center + half, 1.0)
    return low, high


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (q in [0, 100]) by linear interpolation (type 7); NaN if empty."""
    return percentiles(values, (q,))[0]


def percentiles(values: Iterable[float], qs: Sequence[float]) -> list[float]:
    """`percentile` at each q in `qs`, the values checked and sorted once."""
    data = sorted(_finite(values, "percentile"))
    for q in qs:
        if not 0.0 <= q <= 100.0:
            raise ValueError(f"percentile: q must be between 0 and 100, got {q!r}")
    if not data:
        return [math.nan for _ in qs]
    return [_sorted_percentile(data, q) for q in qs]


def _sorted_percentile(data: list[float], q: float) -> float:
    """Type-7 percentile of sorted, non-empty finite data, with numpy's lerp."""
    position = (len(data) - 1) * (q / 100.0)
    index = min(int(math.floor(position)), len(data) - 1)
    gamma = position - index
    below, above = data[index], data[min(index + 1, len(data) - 1)]
    span = above - below
    if gamma >= 0.5:
        return above - span * (1.0 - gamma)
    return below + span * gamma


def _differences(before: Sequence[float], after: Sequence[float], function: str) -> list[float]:
    """Sorted paired differences after - before, checked for length and finiteness."""
    _check_pairs(before, after, function)
    first = _finite(before, function, "before")
    second = _finite(after, function, "after")
    # Sorted, so that the order of the pairs cannot change a result.
    return sorted(b - a for a, b in zip(first, second, strict=True))


def paired_permutation_test(
    before: Sequence[float],
    after: Sequence[float],
    *,
    alternative: Alternative = "less",
    rounds: int = 10_000,
    seed: int = 0,
) -> float:
    """P-value of a sign-flip permutation test that after is lower than before (paired)."""
    name = "paired_permutation_test"
    _check_alternative(alternative, name)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"{name}: rounds must be a positive integer, got {rounds!r}")
    differences = [d for d in _differences(before, after, name) if d != 0.0]
    if not differences:
        return 1.0
    observed = math.fsum(differences)
    tolerance = _TIE_TOLERANCE * math.fsum(map(abs, differences))

    # Flipping the signs of a subset F moves the statistic from S to S - 2 * sum(F), so
    # only the subset sums matter: tabulate them per byte of differences, 8 at a time.
    def extreme(flipped: float) -> bool:
        if alternative == "less":
            return flipped >= -tolerance
        if alternative == "greater":
            return flipped <= tolerance
        return abs(observed - 2.0 * flipped) >= abs(observed) - tolerance

    tables: list[list[float]] = []
    for start in range(0, len(differences), 8):
        table = [0.0]
        for d in differences[start : start + 8]:
            table += [s + d for s in table]
        tables.append(table)
    if len(differences) <= _EXACT_LIMIT:
        sums = tables[0] if len(tables) == 1 else [x + y for y in tables[1] for x in tables[0]]
        return sum(map(extreme, sums)) / len(sums)
    rng = random.Random(seed)
    width, size = len(differences), len(tables)
    getitem = operator.getitem
    count = 0
    for _ in range(rounds):
        pattern = rng.getrandbits(width).to_bytes(size, "little")
        count += extreme(sum(map(getitem, tables, pattern)))
    return (count + 1) / (rounds + 1)


def _booleans(values: Sequence[object], function: str, argument: str) -> list[bool]:
    """Copy pass/fail outcomes to a list of bools, refusing anything but bools, 0 and 1."""
    result = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            result.append(bool(value))
        else:
            raise ValueError(
                f"{function}: {argument}[{index}] is {value!r}; expected a pass/fail boolean"
            )
    return result


def mcnemar_exact(
    before_pass: Sequence[bool],
    after_pass: Sequence[bool],
    *,
    alternative: Alternative = "less",
) -> float:
    """Exact McNemar p-value that the pass rate dropped from before to after (paired)."""
    name = "mcnemar_exact"
    _check_alternative(alternative, name)
    _check_pairs(before_pass, after_pass, name)
    first = _booleans(before_pass, name, "before_pass")
    second = _booleans(after_pass, name, "after_pass")
    broke = sum(1 for a, b in zip(first, second, strict=True) if a and not b)
    fixed = sum(1 for a, b in zip(first, second, strict=True) if b and not a)
    flips = broke + fixed
    if flips == 0:
        return 1.0
    lower, upper = _binomial_tails(flips, broke)
    total = 1 << flips
    if alternative == "less":
        return upper / total
    if alternative == "greater":
        return lower / total
    return min(2 * min(upper, lower), total) / total


def _binomial_tails(n: int, k: int) -> tuple[int, int]:
    """(sum of C(n, i) for i <= k, sum for i >= k), exactly. The shorter tail is summed
    term by term, each term from the one before, and the other is the rest of 2**n: a
    `math.comb` per term made 5,000 flips take a second and 20,000 forty."""
    total = 1 << n
    term = 1
    if k <= n // 2:
        low = 1
        for i in range(k):  # C(n, i + 1) = C(n, i) * (n - i) / (i + 1), exactly
            term = term * (n - i) // (i + 1)
            low += term
        return low, total - low + term
    high = 1
    for i in range(n, k, -1):  # C(n, i - 1) = C(n, i) * i / (n - i + 1), exactly
        term = term * i // (n - i + 1)
        high += term
    return total - high + term, high


def paired_bootstrap_ci(
    before: Sequence[float],
    after: Sequence[float],
    level: float = 0.95,
    rounds: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean paired difference (after - before)."""
    name = "paired_bootstrap_ci"
    _check_level(level, name)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"{name}: rounds must be a positive integer, got {rounds!r}")
    differences = _differences(before, after, name)
    if not differences:
        return math.nan, math.nan
    if differences[0] == differences[-1]:
        return differences[0], differences[0]
    rng = random.Random(seed)
    n = len(differences)
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(rounds))
    tail = (1.0 - level) / 2.0 * 100.0
    smallest, largest = differences[0], differences[-1]
    # A mean of k equal values can round one ulp past them; keep the bounds inside the data.
    low = min(max(_sorted_percentile(means, tail), smallest), largest)
    high = min(max(_sorted_percentile(means, 100.0 - tail), smallest), largest)
    return low, high
