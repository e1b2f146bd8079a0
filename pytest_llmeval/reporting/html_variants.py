"""The HTML report's Variants section: per group, a quality-vs-cost scatter and a table.

Rendered here in Python, as static HTML with inline SVG, from the groups' variant
comparisons (`records.variants.VariantComparison`): it needs no script, so it shows the
same with JavaScript off, and it is deterministic (fixed formatting, the comparison's
own order). Every text is HTML-escaped (variant labels are the user's parametrize ids).

The scatter: x is the cost per case in USD (from zero, so distances read as ratios),
y the mean score with its 95% interval as a whisker; one point per priced variant,
labelled; the Pareto front as a dashed polyline, cheapest first; the recommended
variant ringed. Unpriced variants have no x and are listed under the chart instead.
Elements a reader (or a test) can find: each group is `div.vc-group` with `data-group`;
points are `[data-role=point]` with `data-variant`, `data-mean`, `data-cost`,
`data-pareto` and `data-recommended`; the front is `[data-role=front]` (id
`variants-N-front`, `data-variants` listing it in order); the ring is
`[data-role=recommended]` (id `variants-N-recommended`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_llmeval.records.variant_models import VariantComparison, VariantStats

_WIDTH, _HEIGHT = 640, 340
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 40, 16, 46
_DASH = "\u2013"


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: float) -> str:
    """A coordinate: two decimals, no trailing zeros, never -0."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def usd(value: float | None) -> str:
    """A cost per case with three significant digits, never in exponent form."""
    if value is None:
        return "unpriced"
    if value == 0:
        return "$0"
    decimals = max(2, 2 - math.floor(math.log10(abs(value))))
    return f"${value:.{decimals}f}"


def _tick_usd(value: float) -> str:
    """An axis tick in USD: as few decimals as the tick needs."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return f"${text}"


def _score(value: float | None) -> str:
    return _DASH if value is None else f"{value:.3f}"


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _seconds(value: float | None) -> str:
    return _DASH if value is None else f"{value:.2f} s"


def _nice_step(span: float, count: int = 4) -> float:
    """A 1, 2, 2.5 or 5 times a power of ten step giving about `count` ticks over span."""
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)


def _ticks(low: float, high: float, step: float) -> list[float]:
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


class _Axes:
    """The scatter's scales: cost per case from zero on x, mean score on y."""

    def __init__(self, points: Sequence[VariantStats]) -> None:
        most = max((p.cost_per_case_usd or 0.0 for p in points), default=0.0)
        self.x_step = _nice_step(most * 1.08 if most > 0 else 0.001)
        self.x_high = math.ceil(most * 1.08 / self.x_step - 1e-9) * self.x_step or self.x_step
        values = [p.mean for p in points]
        values += [v for p in points for v in (p.low, p.high) if v is not None]
        low, high = min(values, default=0.0), max(values, default=1.0)
        self.y_low = max(0.0, math.floor(low * 10 - 1e-9) / 10)
        self.y_high = min(1.0, math.ceil(high * 10 + 1e-9) / 10)
        if self.y_high - self.y_low < 0.2:
            self.y_low = max(0.0, min(self.y_low, self.y_high - 0.2))
            self.y_high = min(1.0, self.y_low + 0.2)
        self.y_step = 0.1 if self.y_high - self.y_low <= 0.5 else 0.2

    def x(self, cost: float) -> float:
        return _LEFT + (_WIDTH - _LEFT - _RIGHT) * cost / self.x_high

    def y(self, score: float) -> float:
        span = self.y_high - self.y_low
        return _HEIGHT - _BOTTOM - (_HEIGHT - _TOP - _BOTTOM) * (score - self.y_low) / span


def _frame(axes: _Axes) -> list[str]:
    """The axes, their ticks and titles."""
    bottom, right = _HEIGHT - _BOTTOM, _WIDTH - _RIGHT
    parts = [
        f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}"/>',
    ]
    for tick in _ticks(0.0, axes.x_high, axes.x_step):
        x = _number(axes.x(tick))
        parts.append(f'<line class="axis" x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 4}"/>')
        parts.append(
            f'<text class="tick" x="{x}" y="{bottom + 16}" text-anchor="middle">'
            f"{escape(_tick_usd(tick))}</text>"
        )
    for tick in _ticks(axes.y_low, axes.y_high, axes.y_step):
        y = _number(axes.y(tick))
        parts.append(f'<line class="axis grid" x1="{_LEFT}" y1="{y}" x2="{right}" y2="{y}"/>')
        parts.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{tick:.1f}</text>'
        )
    parts.append(
        f'<text class="axis-title" x="{(_LEFT + right) / 2:g}" y="{_HEIGHT - 6}" '
        'text-anchor="middle">cost per case (USD)</text>'
    )
    parts.append(
        f'<text class="axis-title" x="14" y="{(_TOP + bottom) / 2:g}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(_TOP + bottom) / 2:g})">mean score</text>'
    )
    return parts


def _labels(
    placed: list[tuple[float, float, str]], ringed: str | None
) -> dict[str, tuple[float, float, str]]:
    """Label positions (x, y, anchor) by variant: right of the point (left near the
    right edge; clear of the ring round the recommended one), moved down while another
    label sits within 13 px on the same side."""
    taken: list[tuple[float, float, str]] = []
    result: dict[str, tuple[float, float, str]] = {}
    for x, y, name in sorted(placed, key=lambda p: (p[1], p[0], p[2])):
        anchor = "end" if x > _WIDTH * 0.72 else "start"
        gap = 15 if name == ringed else 9
        lx, ly = (x - gap, y + 4) if anchor == "end" else (x + gap, y + 4)
        while any(abs(ly - ty) < 13 and abs(lx - tx) < 90 and a == anchor for tx, ty, a in taken):
            ly += 13
        taken.append((lx, ly, anchor))
        result[name] = (lx, ly, anchor)
    return result


def scatter_svg(comparison: VariantComparison, index: int) -> str:
    """The group's quality-vs-cost scatter as an inline SVG element."""
    priced = [v for v in comparison.variants if v.cost_per_case_usd is not None]
    axes = _Axes(priced)
    by_name = {v.name: v for v in priced}
    front = [by_name[name] for name in comparison.pareto if name in by_name]
    title = f"Mean score against cost per case, {comparison.group}"
    parts = [
        f'<svg class="vc-scatter" id="variants-{index}-scatter" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{_attr(title)}">',
        f"<title>{escape(title)}</title>",
        *_frame(axes),
    ]
    if front:
        coordinates = " ".join(
            f"{_number(axes.x(v.cost_per_case_usd or 0.0))},{_number(axes.y(v.mean))}"
            for v in front
        )
        parts.append(
            f'<polyline class="vc-front" id="variants-{index}-front" data-role="front" '
            f'data-variants="{_attr(" ".join(v.name for v in front))}" points="{coordinates}"/>'
        )
    labels = _labels(
        [(axes.x(v.cost_per_case_usd or 0.0), axes.y(v.mean), v.name) for v in priced],
        comparison.recommended,
    )
    on_front = set(comparison.pareto)
    for v in priced:
        cost = v.cost_per_case_usd or 0.0
        x, y = _number(axes.x(cost)), _number(axes.y(v.mean))
        classes = ["vc-point"]
        classes += ["vc-on-front"] if v.name in on_front else []
        classes += [] if v.meets_bar else ["vc-off-bar"]
        tip = (
            f"{v.name}: mean {v.mean:.3f} [{_score(v.low)}, {_score(v.high)}], "
            f"pass rate {_percent(v.pass_rate)}, {usd(cost)} per case"
            + ("" if v.meets_bar else f"; misses the bar: {v.why_not}")
        )
        parts.append(
            f'<g class="{" ".join(classes)}" data-role="point" data-variant="{_attr(v.name)}" '
            f'data-mean="{v.mean!r}" data-cost="{cost!r}" '
            f'data-pareto="{str(v.name in on_front).lower()}" '
            f'data-recommended="{str(v.name == comparison.recommended).lower()}">'
            f"<title>{escape(tip)}</title>"
        )
        if v.low is not None and v.high is not None:
            parts.append(
                f'<line class="vc-whisker" x1="{x}" y1="{_number(axes.y(v.low))}" '
                f'x2="{x}" y2="{_number(axes.y(v.high))}"/>'
            )
        lx, ly, anchor = labels[v.name]
        parts.append(f'<circle cx="{x}" cy="{y}" r="5"/>')
        parts.append(
            f'<text class="vc-label" x="{_number(lx)}" y="{_number(ly)}" '
            f'text-anchor="{anchor}">{escape(v.name)}</text></g>'
        )
    pick = by_name.get(comparison.recommended or "")
    if pick is not None:
        parts.append(
            f'<circle class="vc-recommended" id="variants-{index}-recommended" '
            f'data-role="recommended" data-variant="{_attr(pick.name)}" '
            f'cx="{_number(axes.x(pick.cost_per_case_usd or 0.0))}" '
            f'cy="{_number(axes.y(pick.mean))}" r="10"><title>recommended: '
            f"{escape(pick.name)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _versus_cells(comparison: VariantComparison, name: str) -> list[str]:
    """The vs-reference columns of one variant's row."""
    if name == comparison.reference:
        return ['<td colspan="3" class="muted">reference</td>']
    v = next(item for item in comparison.versus if item.name == name)
    verdict_class = {"better": "good", "worse": "bad"}.get(v.verdict, "")
    p = "" if v.adjusted_p is None else f" p={v.adjusted_p:.3g}"
    unpaired = f" ({len(v.unpaired)} unpaired)" if v.unpaired else ""
    ratios = " / ".join(
        _DASH if r is None else f"\u00d7{r:.2f}" for r in (v.cost_ratio, v.latency_ratio)
    )
    flips = f"flips \u2212{len(v.flipped_to_fail)} / +{len(v.flipped_to_pass)}"
    return [
        f'<td class="num">{v.mean_diff:+.3f}<span class="sub">{v.pairs} pairs'
        f"{escape(unpaired)}</span></td>",
        f'<td><span class="badge {verdict_class}">{v.verdict.replace("_", " ")}</span>'
        f'<span class="sub">{escape(p.strip())}</span><span class="sub">{flips}</span></td>',
        f'<td class="num">{ratios}</td>',
    ]


def _table(comparison: VariantComparison, index: int) -> str:
    head = (
        "<th>variant</th><th class='num'>cases</th><th class='num'>mean (95% CI)</th>"
        "<th class='num'>pass rate</th><th class='num'>cost / case</th>"
        "<th class='num'>tokens / case</th><th class='num'>p50 / p95</th>"
        "<th class='num'>\u0394 mean vs ref</th><th>paired test</th>"
        "<th class='num'>cost / latency vs ref</th><th>bar and margin</th>"
    ).replace("'", '"')
    rows = []
    on_front = set(comparison.pareto)
    for v in comparison.variants:
        badges = []
        if v.name == comparison.recommended:
            badges.append('<span class="badge good">recommended</span>')
        if v.name in on_front:
            badges.append('<span class="badge">Pareto front</span>')
        bar = (
            '<span class="badge good">meets</span>'
            if v.meets_bar
            else f'<span class="badge bad">misses</span><span class="sub">{escape(v.why_not or "")}'
            "</span>"
        )
        bound = "" if v.difference_upper is None else f" (bound {v.difference_upper:.3f})"
        margin = (
            f'<span class="sub">{"within" if v.non_inferior else "not within"} margin{bound}</span>'
        )
        rows.append(
            f'<tr data-variant="{_attr(v.name)}"'
            + (' class="vc-picked"' if v.name == comparison.recommended else "")
            + f"><td>{escape(v.name)} {''.join(badges)}</td>"
            f'<td class="num">{v.n}</td>'
            f'<td class="num">{v.mean:.3f}<span class="sub">{_score(v.low)}{_DASH}'
            f"{_score(v.high)}</span></td>"
            f'<td class="num">{_percent(v.pass_rate)}<span class="sub">'
            f"{_percent(v.pass_low)}{_DASH}{_percent(v.pass_high)}</span></td>"
            f'<td class="num">{escape(usd(v.cost_per_case_usd))}</td>'
            f'<td class="num">{v.tokens_per_case:,.0f}</td>'
            f'<td class="num">{_seconds(v.p50_latency_s)} / {_seconds(v.p95_latency_s)}</td>'
            + "".join(_versus_cells(comparison, v.name))
            + f"<td>{bar}{margin}</td></tr>"
        )
    return (
        f'<div class="table-wrap"><table class="vc-table" id="variants-{index}-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def variants_section(comparisons: Sequence[VariantComparison]) -> str:
    """The Variants section of the page; empty when no group compared variants."""
    if not comparisons:
        return ""
    parts = [
        '<section id="variants" aria-labelledby="variants-title">',
        '<h2 id="variants-title">Variants</h2>',
    ]
    for index, comparison in enumerate(comparisons):
        bar = []
        if comparison.threshold is not None:
            bar.append(f"threshold {comparison.threshold:g}")
        if comparison.min_pass_rate is not None:
            bar.append(f"min pass rate {_percent(comparison.min_pass_rate)}")
        settings = (
            f"over {comparison.axis}; reference {comparison.reference}; best {comparison.best}; "
            f"bar: {', '.join(bar) or 'none'}; margin {comparison.margin:g}; "
            f"alpha {comparison.alpha:g}"
        )
        reason = comparison.reason
        if comparison.recommended is not None:
            # the reason opens with the pick's name, which the line already shows
            reason = reason.removeprefix(f"{comparison.recommended}: ")
            pick = f"Recommended: <strong>{escape(comparison.recommended)}</strong>"
        else:
            pick = "<strong>No recommendation</strong>"
        unpriced = [v for v in comparison.variants if v.cost_per_case_usd is None]
        unplotted = (
            " Unpriced, not plotted: "
            + ", ".join(f"{escape(v.name)} (mean {v.mean:.3f})" for v in unpriced)
            + "."
            if unpriced
            else ""
        )
        parts += [
            f'<div class="vc-group" id="variants-{index}" data-group="{_attr(comparison.group)}" '
            f'data-recommended="{_attr(comparison.recommended or "")}">',
            f'<h3>{escape(comparison.group)} <span class="muted">{escape(settings)}</span></h3>',
            f'<p class="vc-reason" data-role="reason">{pick} {_DASH} {escape(reason)}</p>',
            '<figure class="vc-chart">',
            scatter_svg(comparison, index),
            "<figcaption>Each point is a variant: its mean score (whisker: 95% interval) "
            "against its cost per case. Dashed line: the Pareto front (no variant is both "
            "cheaper and better); ring: the recommendation." + unplotted + "</figcaption>",
            "</figure>",
            _table(comparison, index),
            "</div>",
        ]
    parts.append("</section>")
    return "".join(parts)
