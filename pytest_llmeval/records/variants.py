"""Variants of one eval compared on the same cases: which is good enough, and cheapest.

A group's tests are parametrized over variants (models, prompts, configs): each
`VariantRow` is one variant's result on one case. `compare_variants` turns the rows of
one group into a `VariantComparison`:

* **Pairing.** Cases are paired across variants by their case key (the test's other
  parameters). A case present in the reference and a variant enters their paired test;
  a case one of them lacks is listed in `unpaired` and left out of the test (it still
  counts in each variant's own statistics).
* **Per variant** (over all its cases): n, mean score with its interval
  (`decision.interval`: Wilson for 0/1 scores, Student t for graded ones, as the
  gate's group table), pass rate with its Wilson interval, cost per case (null when any
  case is unpriced: a partial sum would flatter the variant), tokens per case, and the
  p50/p95 of the cases' latencies.
* **Against the reference** (`reference=`, else the first variant of `order`): the
  mean difference (variant - reference, positive = better) over the paired cases and
  the two-sided sign-flip permutation test over them (`stats.paired_permutation_test`,
  the test the gate's ``statistical`` rule uses for scores, `decision.sign_flip_test`;
  exact up to 16 changed cases, seeded Monte Carlo above). The p-values of a group's
  comparisons are Holm-corrected over those that could reach alpha (the gate's
  correction and Tarone's refinement, `comparison.could_reject`): the verdict is
  ``better`` or ``worse`` when the adjusted p is below alpha, ``no_difference``
  otherwise, and ``not_testable`` when there are no paired cases or too few changed
  ones for the test to reach alpha at all (2 * 2^-m >= alpha for m changed cases).
  Cases that flipped between pass and fail are listed both ways; cost and latency
  ratios are over the paired cases (cost per case, median latency).
  The gate's other rules do not apply here: the within-case test conditions on the
  cases (it asks whether these very cases changed beyond repeat noise), and the
  ``replayed`` rule treats every change as real; choosing a variant is a claim about
  cases like these, so the case is the unit of sampling.
* **The bar**: mean >= threshold (when set) and pass rate >= min_pass_rate (when set).
* **Non-inferiority** to the best variant by mean: the one-sided upper (1 - alpha)
  Student-t bound of the paired difference best - variant does not exceed `margin`.
  The burden of proof is on the cheaper variant: recommending it claims it is good
  enough, and a claim needs evidence. The reverse test (exclude a variant only when it
  is *significantly* worse beyond the margin) would recommend, with few cases, any
  variant that meets the bar however far below the best it scored: the less one
  measured, the cheaper the pick. The t bound rather than a permutation test because
  a sign-flip test cannot reach alpha with fewer than 5 pairs even when two variants
  agree on every case (the t bound of equal differences is the difference itself);
  rather than the bootstrap because the percentile bootstrap is too narrow below
  about 20 pairs. The coverage of the t bound is approximate for few cases (the mean
  of bounded differences is only close to normal); fewer than 2 pairs prove nothing.
* **Recommendation**: among the variants that meet the bar and are non-inferior, the
  cheapest by cost per case; ties by higher mean, then by `order`. Unpriced variants
  rank after priced ones, and the reason says so. When none qualifies, `recommended`
  is null and the reason says why each variant failed.
* **Pareto front** over (mean up, cost per case down): the priced variants no other
  priced variant dominates (at least as good on both, strictly better on one).
  Unpriced variants have no place on the cost axis and are left out.

Deterministic: variants are ordered by `order` (the rest by name), cases by key, sums
are `math.fsum`, so neither the order of the rows nor the hash seed changes a result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_llmeval.records import stats
from pytest_llmeval.records.decision import correct, interval, min_changed_cases
from pytest_llmeval.records.variant_models import (
    VariantComparison,
    VariantRow,
    VariantStats,
    VariantVsReference,
    Verdict,
)

_SLACK = 1e-9
#: Rounds of the Monte Carlo sign-flip test past 16 changed cases (the gate's default).
_ROUNDS = 10_000


def _check_unit(name: str, value: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"compare_variants: {name} must be between 0 and 1, got {value!r}")


def _check_row(group: str, row: VariantRow) -> None:
    """Refuse a row whose numbers cannot be compared, naming the group, variant and case."""
    problem = None
    if isinstance(row.score, bool) or not isinstance(row.score, (int, float)):
        problem = f"score {row.score!r} is not a number"
    elif not math.isfinite(row.score) or not 0 <= row.score <= 1:
        problem = f"score {row.score!r} is not between 0 and 1"
    elif row.cost_usd is not None and not (math.isfinite(row.cost_usd) and row.cost_usd >= 0):
        problem = f"cost_usd {row.cost_usd!r} is not a non-negative number"
    elif row.latency_s is not None and not (math.isfinite(row.latency_s) and row.latency_s >= 0):
        problem = f"latency_s {row.latency_s!r} is not a non-negative number"
    elif isinstance(row.tokens, bool) or not isinstance(row.tokens, int) or row.tokens < 0:
        problem = f"tokens {row.tokens!r} is not a non-negative integer"
    if problem is not None:
        raise ValueError(
            f"compare_variants: group {group!r}, variant {row.variant!r}, case "
            f"{row.case!r}: {problem}; leave a case without a score out of the rows"
        )


def _ordered(names: set[str], order: Sequence[str] | None) -> list[str]:
    """The variants in `order`, then the others by name."""
    first = [name for name in dict.fromkeys(order or ()) if name in names]
    return first + sorted(names - set(first))


def _percentile(values: list[float], q: float) -> float | None:
    return stats.percentile(values, q) if values else None


def _latencies(rows: Sequence[VariantRow]) -> list[float]:
    return [row.latency_s for row in rows if row.latency_s is not None]


def _cost_per_case(rows: Sequence[VariantRow]) -> float | None:
    costs = [row.cost_usd for row in rows]
    if not costs or any(cost is None for cost in costs):
        return None
    return math.fsum(cost for cost in costs if cost is not None) / len(costs)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _bar(
    mean: float, pass_rate: float, threshold: float | None, min_pass_rate: float | None
) -> str | None:
    """Why a variant misses the bar (None when it meets it)."""
    missed = []
    if threshold is not None and threshold - mean > _SLACK:
        missed.append(f"mean {mean:.3f} < threshold {threshold:g}")
    if min_pass_rate is not None and min_pass_rate - pass_rate > _SLACK:
        missed.append(f"pass rate {pass_rate:.0%} < min_pass_rate {min_pass_rate:.0%}")
    return "; ".join(missed) or None


def _difference_upper(best: list[float], other: list[float], alpha: float) -> float | None:
    """One-sided upper (1 - alpha) t bound of mean(best - other); None under 2 pairs."""
    if len(best) < 2:
        return None
    differences = sorted(b - o for b, o in zip(best, other, strict=True))
    _, high = stats.mean_confidence_interval(differences, 1.0 - 2.0 * alpha, clip=(-1.0, 1.0))
    return high


def _paired(
    first: dict[str, VariantRow], second: dict[str, VariantRow]
) -> tuple[list[str], list[str]]:
    """Cases both have (sorted), and cases only one has (sorted)."""
    shared = sorted(set(first) & set(second))
    unpaired = sorted(set(first) ^ set(second))
    return shared, unpaired


def _versus(
    name: str,
    reference: str,
    rows: dict[str, VariantRow],
    base: dict[str, VariantRow],
    alpha: float,
) -> tuple[VariantVsReference, bool]:
    """The variant against the reference (verdict before the correction), and whether
    its test could reach alpha at all (it then enters the correction's family)."""
    shared, unpaired = _paired(rows, base)
    before = [base[c].score for c in shared]
    after = [rows[c].score for c in shared]
    changed = sum(1 for b, a in zip(before, after, strict=True) if a != b)
    mean_diff = stats.mean(after) - stats.mean(before) if shared else 0.0
    # two-sided: the smallest p with m changed cases is 2 * 2^-m
    testable = changed >= 1 and changed >= min_changed_cases(alpha / 2.0)
    p_value: float | None = None
    verdict: Verdict = "not_testable"
    if shared and changed == 0:
        p_value, verdict = 1.0, "no_difference"
    elif testable:
        p_value = stats.paired_permutation_test(
            before, after, alternative="two-sided", rounds=_ROUNDS
        )
        verdict = "no_difference"
    result = VariantVsReference(
        name=name,
        reference=reference,
        pairs=len(shared),
        changed=changed,
        mean_diff=mean_diff,
        p_value=p_value,
        adjusted_p=p_value if not testable else None,
        verdict=verdict,
        flipped_to_fail=[c for c in shared if base[c].passed and not rows[c].passed],
        flipped_to_pass=[c for c in shared if rows[c].passed and not base[c].passed],
        cost_ratio=_ratio(
            _cost_per_case([rows[c] for c in shared]), _cost_per_case([base[c] for c in shared])
        ),
        latency_ratio=_ratio(
            _percentile(_latencies([rows[c] for c in shared]), 50.0),
            _percentile(_latencies([base[c] for c in shared]), 50.0),
        ),
        unpaired=unpaired,
    )
    return result, testable


def _corrected(
    judged: list[tuple[VariantVsReference, bool]], alpha: float
) -> list[VariantVsReference]:
    """Holm over the testable comparisons; each verdict from its adjusted p."""
    tested = [i for i, (_, testable) in enumerate(judged) if testable]
    adjusted = correct([judged[i][0].p_value or 1.0 for i in tested], "holm")
    by_index = dict(zip(tested, adjusted, strict=True))
    result = []
    for index, (versus, _) in enumerate(judged):
        if index in by_index:
            p = by_index[index]
            verdict: Verdict = "no_difference"
            if p < alpha:
                verdict = "better" if versus.mean_diff > 0 else "worse"
            versus = versus.model_copy(update={"adjusted_p": p, "verdict": verdict})
        result.append(versus)
    return result


def _variant_stats(
    name: str,
    rows: dict[str, VariantRow],
    threshold: float | None,
    min_pass_rate: float | None,
) -> VariantStats:
    cases = [rows[c] for c in sorted(rows)]
    scores = [row.score for row in cases]
    n = len(cases)
    passed = sum(1 for row in cases if row.passed)
    kind, low, high = interval(scores)
    pass_low, pass_high = stats.wilson_interval(passed, n)
    latencies = _latencies(cases)
    mean = stats.mean(scores)
    pass_rate = passed / n
    why_not = _bar(mean, pass_rate, threshold, min_pass_rate)
    return VariantStats(
        name=name,
        n=n,
        mean=mean,
        interval=kind,
        low=low if math.isfinite(low) else None,
        high=high if math.isfinite(high) else None,
        pass_rate=pass_rate,
        pass_low=pass_low,
        pass_high=pass_high,
        cost_per_case_usd=_cost_per_case(cases),
        tokens_per_case=math.fsum(row.tokens for row in cases) / n,
        p50_latency_s=_percentile(latencies, 50.0),
        p95_latency_s=_percentile(latencies, 95.0),
        meets_bar=why_not is None,
        why_not=why_not,
        non_inferior=False,
        difference_upper=None,
    )


def pareto_front(variants: Sequence[VariantStats]) -> list[str]:
    """The priced variants no other priced variant dominates on (mean up, cost down),
    cheapest first (ties: higher mean first, then the given order)."""
    priced = [v for v in variants if v.cost_per_case_usd is not None]

    def dominates(a: VariantStats, b: VariantStats) -> bool:
        cost_a, cost_b = a.cost_per_case_usd or 0.0, b.cost_per_case_usd or 0.0
        at_least = a.mean >= b.mean - _SLACK and cost_a <= cost_b
        strictly = a.mean - b.mean > _SLACK or cost_a < cost_b
        return at_least and strictly

    front = [v for v in priced if not any(dominates(o, v) for o in priced if o is not v)]
    position = {v.name: i for i, v in enumerate(variants)}
    front.sort(key=lambda v: (v.cost_per_case_usd or 0.0, -v.mean, position[v.name]))
    return [v.name for v in front]


def _money(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:.6g}/case"


def _recommend(
    variants: list[VariantStats], best: VariantStats, margin: float
) -> tuple[str | None, str]:
    """The pick and its reason (see the module docstring)."""
    position = {v.name: i for i, v in enumerate(variants)}
    qualified = [v for v in variants if v.meets_bar and v.non_inferior]
    if not qualified:
        why = []
        for v in variants:
            parts = []
            if v.why_not:
                parts.append(v.why_not)
            if not v.non_inferior:
                parts.append(_inferior_reason(v, best, margin))
            why.append(f"{v.name}: {'; '.join(parts)}")
        return None, "none qualifies: " + " | ".join(why)
    qualified.sort(
        key=lambda v: (
            v.cost_per_case_usd is None,
            v.cost_per_case_usd or 0.0,
            -v.mean,
            position[v.name],
        )
    )
    pick = qualified[0]
    others = [v.name for v in qualified[1:]]
    unpriced = [v.name for v in qualified if v.cost_per_case_usd is None]
    if pick.cost_per_case_usd is None:
        reason = (
            f"{pick.name}: no qualifying variant is priced, so the one with the highest "
            f"mean ({pick.mean:.3f}) among {', '.join(v.name for v in qualified)}"
        )
    else:
        which = "the cheapest" if others else "the only one"
        reason = (
            f"{pick.name}: {which} ({_money(pick.cost_per_case_usd)}, mean "
            f"{pick.mean:.3f}) of the variants that meet the bar and are within "
            f"{margin:g} of the best ({best.name}, mean {best.mean:.3f})"
        )
        if unpriced:
            reason += f"; unpriced, so ranked after the priced ones: {', '.join(unpriced)}"
    if others and pick.cost_per_case_usd is not None:
        reason += f"; also qualified: {', '.join(others)}"
    return pick.name, reason


def _inferior_reason(v: VariantStats, best: VariantStats, margin: float) -> str:
    if v.difference_upper is None:
        return (
            f"fewer than 2 cases paired with the best ({best.name}): cannot show it is "
            f"within {margin:g}"
        )
    return (
        f"not shown within {margin:g} of the best ({best.name}): mean {v.mean:.3f} vs "
        f"{best.mean:.3f}, upper bound of the shortfall {v.difference_upper:.3f}"
    )


def compare_variants(
    group: str,
    axis: str,
    rows: Sequence[VariantRow],
    *,
    reference: str | None = None,
    threshold: float | None = None,
    min_pass_rate: float | None = None,
    margin: float = 0.05,
    alpha: float = 0.05,
    order: Sequence[str] | None = None,
) -> VariantComparison:
    """Compare a group's variants on their shared cases (see the module docstring):
    per-variant statistics, each variant against the reference, the recommendation and
    the Pareto front. `order` is the display order (the parametrize order); the
    reference defaults to its first variant (by name without an order)."""
    _check_unit("threshold", threshold)
    _check_unit("min_pass_rate", min_pass_rate)
    if not isinstance(margin, (int, float)) or not 0 <= margin <= 1:
        raise ValueError(f"compare_variants: margin must be between 0 and 1, got {margin!r}")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise ValueError(
            f"compare_variants: alpha must be strictly between 0 and 0.5, got {alpha!r}"
        )
    if not rows:
        raise ValueError(f"compare_variants: group {group!r} has no results to compare")
    by_variant: dict[str, dict[str, VariantRow]] = {}
    for row in rows:
        _check_row(group, row)
        cases = by_variant.setdefault(row.variant, {})
        if row.case in cases:
            raise ValueError(
                f"compare_variants: group {group!r} has two results for variant "
                f"{row.variant!r} on case {row.case!r}; give one row per case (the mean "
                "over its repeats)"
            )
        cases[row.case] = row
    names = _ordered(set(by_variant), order)
    reference = reference if reference is not None else names[0]
    if reference not in by_variant:
        raise ValueError(
            f"compare_variants: reference {reference!r} of group {group!r} is not one of "
            f"its variants ({', '.join(names)}); set reference= to one of them"
        )
    variants = [_variant_stats(n, by_variant[n], threshold, min_pass_rate) for n in names]
    best = max(variants, key=lambda v: (v.mean, -names.index(v.name)))
    updated = []
    for v in variants:
        shared, _ = _paired(by_variant[best.name], by_variant[v.name])
        upper = (
            0.0
            if v.name == best.name
            else _difference_upper(
                [by_variant[best.name][c].score for c in shared],
                [by_variant[v.name][c].score for c in shared],
                alpha,
            )
        )
        within = upper is not None and upper - margin <= _SLACK
        updated.append(v.model_copy(update={"non_inferior": within, "difference_upper": upper}))
    variants = updated
    best = next(v for v in variants if v.name == best.name)
    judged = [
        _versus(n, reference, by_variant[n], by_variant[reference], alpha)
        for n in names
        if n != reference
    ]
    recommended, reason = _recommend(variants, best, margin)
    return VariantComparison(
        group=group,
        axis=axis,
        reference=reference,
        margin=margin,
        alpha=alpha,
        threshold=threshold,
        min_pass_rate=min_pass_rate,
        best=best.name,
        variants=variants,
        versus=_corrected(judged, alpha),
        recommended=recommended,
        reason=reason,
        pareto=pareto_front(variants),
    )
