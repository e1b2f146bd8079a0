"""The "variants" lines of the terminal section and of `llmeval show` (pure text).

Per compared group: a header naming the axis, the reference and the margin; one row per
variant (n, mean with its 95% interval, pass rate, cost per case, p50/p95 latency of a
case, whether it qualifies for the recommendation or what keeps it out, and its verdict
against the reference with the cases that flipped and the cost and latency ratios);
then the recommendation (or why none qualifies) and the Pareto front. With `verbose`,
the flipped cases by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_llmeval.core.printable import printable
from pytest_llmeval.records.variant_models import (
    VariantComparison,
    VariantStats,
    VariantVsReference,
)

#: How each verdict against the reference reads.
VERDICTS = {
    "better": "better",
    "worse": "worse",
    "no_difference": "no difference",
    "not_testable": "not testable",
}


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    """Rows aligned into columns, control characters escaped first, as the group table
    (`terminal` imports this module, so its `render_table` is not imported back)."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def _mean(stats: VariantStats) -> str:
    if stats.low is None or stats.high is None:
        return f"{stats.mean:.2f}"
    return f"{stats.mean:.2f} [{stats.low:.2f}, {stats.high:.2f}]"


def _cost(value: float | None) -> str:
    return "unpriced" if value is None else f"{value:.6f}"


def _latency(stats: VariantStats) -> str:
    if stats.p50_latency_s is None or stats.p95_latency_s is None:
        return "-"
    return f"{stats.p50_latency_s:.2f}/{stats.p95_latency_s:.2f}"


def qualifies_text(stats: VariantStats, margin: float) -> str:
    """Whether a variant can be recommended: `yes`, or what keeps it out (the bar, or a
    shortfall from the best not shown to be within the margin)."""
    reasons = [stats.why_not] if stats.why_not else []
    if not stats.non_inferior:
        if stats.difference_upper is None:
            reasons.append("too few cases paired with the best")
        else:
            reasons.append(f"shortfall up to {stats.difference_upper:.2f} > margin {margin:g}")
    return "no: " + "; ".join(reasons) if reasons else "yes"


def versus_text(versus: VariantVsReference | None) -> str:
    """A variant's verdict against the reference: test, flips both ways, ratios."""
    if versus is None:
        return "reference"
    text = VERDICTS[versus.verdict]
    if versus.adjusted_p is not None:
        text += f" (p {versus.adjusted_p:.2f})"
    text += f", flips -{len(versus.flipped_to_fail)}/+{len(versus.flipped_to_pass)}"
    if versus.cost_ratio is not None:
        text += f", cost x{versus.cost_ratio:.2f}"
    if versus.latency_ratio is not None:
        text += f", latency x{versus.latency_ratio:.2f}"
    if versus.unpaired:
        text += f", {len(versus.unpaired)} unpaired"
    return text


def _flip_lines(comparison: VariantComparison) -> list[str]:
    lines = []
    for versus in comparison.versus:
        if versus.flipped_to_fail:
            lines.append(
                f"    {versus.name} fails where {versus.reference} passes: "
                + ", ".join(versus.flipped_to_fail)
            )
        if versus.flipped_to_pass:
            lines.append(
                f"    {versus.name} passes where {versus.reference} fails: "
                + ", ".join(versus.flipped_to_pass)
            )
    return lines


def comparison_lines(
    comparison: VariantComparison, label: str, *, verbose: bool = False
) -> list[str]:
    """The lines of one group's variants: header, table, flips (verbose), pick, front."""
    versus = {v.name: v for v in comparison.versus}
    rows = [
        [
            "variant",
            "n",
            "mean [95% CI]",
            "pass",
            "cost/case $",
            "p50/p95 s",
            "qualifies",
            f"vs {comparison.reference}",
        ]
    ]
    for stats in comparison.variants:
        rows.append(
            [
                stats.name,
                str(stats.n),
                _mean(stats),
                f"{stats.pass_rate:.0%}",
                _cost(stats.cost_per_case_usd),
                _latency(stats),
                qualifies_text(stats, comparison.margin),
                versus_text(versus.get(stats.name)),
            ]
        )
    lines = [
        f"variants of {label} ({comparison.axis}; reference {comparison.reference}, "
        f"margin {comparison.margin:g}, alpha {comparison.alpha:g}):"
    ]
    lines += ["  " + line for line in _table(rows, right={1, 3, 4, 5})]
    if verbose:
        lines += _flip_lines(comparison)
    if comparison.recommended is not None:
        lines.append(f"  recommended: {comparison.reason}")
    else:
        lines.append(f"  {comparison.reason}")
    front = ", ".join(comparison.pareto) if comparison.pareto else "none (no variant is priced)"
    lines.append(f"  Pareto front (quality vs cost): {front}")
    return lines


def variant_lines(
    comparisons: Sequence[VariantComparison],
    notes: Sequence[str],
    labels: Mapping[str, str],
    *,
    verbose: bool = False,
) -> list[str]:
    """Every compared group's lines, then the groups that could not be compared;
    `labels` maps group keys to their display names."""
    lines: list[str] = []
    for comparison in comparisons:
        label = labels.get(comparison.group, comparison.group)
        lines += comparison_lines(comparison, label, verbose=verbose)
    lines += list(notes)
    return lines


def recommendation_lines(
    comparisons: Sequence[VariantComparison], labels: Mapping[str, str]
) -> list[str]:
    """One line per compared group: its pick or why none qualifies (for -q)."""
    lines = []
    for comparison in comparisons:
        label = labels.get(comparison.group, comparison.group)
        pick = comparison.recommended
        lines.append(
            f"variants of {label}: recommended {pick}"
            if pick is not None
            else f"variants of {label}: {comparison.reason}"
        )
    return lines
