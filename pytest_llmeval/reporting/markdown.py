"""A review summary as pull-request-ready markdown (CommonMark with GitHub's tables).

Renders a `reporting.summary.ReviewSummary` (data, never the session): the verdict on
the first line, then the group table, the flipped cases, the cost and latency deltas,
and the per-case lists folded in `<details>` blocks. `llmeval diff --format markdown`
and `pytest --llmeval-summary-md=PATH` print the same text.

Size: GitHub refuses a comment over 65,536 characters. The text is rendered with every
list capped at `limit` items, and rendered again with smaller caps (and shorter names)
until it fits `max_chars`; each cut list says how many items it leaves out, and a last
line says where the full lists are (the JSON summary or report).

Escaping: user text (group names, case ids, paths) is always written as a code span,
so no `*`, `_`, `[`, `<`, `@` or `#` in it can emphasise, link, mention or inject
HTML; control characters (line breaks included) are shown as escapes first
(`core.printable`), so none can end a line, a list item or a table row; the code span's
fence is longer than any run of backticks inside; and in a table cell `|` is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_llmeval.reporting.markdown_text import (
    as_float,
    change,
    code,
    number,
    p_value,
    plain,
    plural,
    rate,
    score,
    seconds,
    signed,
    usd,
)

if TYPE_CHECKING:
    from pytest_llmeval.reporting.summary import CaseChange, GroupChange, ReviewSummary, Totals

_Item = TypeVar("_Item")

#: GitHub's limit on a comment's length, in characters.
GITHUB_COMMENT_LIMIT = 65_536

#: What render_markdown keeps under by default: the limit less room for a caller's
#: own heading or marker (a sticky-comment action adds one).
DEFAULT_MAX_CHARS = 60_000

#: Where the full lists are, named in a truncation note.
DEFAULT_FULL_LISTS = "the JSON report (`--llmeval-report`) or `llmeval diff OLD NEW --format json`"

_CAPS = (200, 100, 50, 25, 10, 5, 2, 1, 0)
_NAME_LENGTHS = (300, 300, 200, 120, 120, 80, 60, 60, 40)

_HEADLINE = {
    "regressed": "🔴 **Regressed**",
    "improved": "🟢 **Improved**",
    "unchanged": "⚪ **Unchanged**",
    "passed": "🟢 **Passed**",
    "failed": "🔴 **Failed**",
}


def _side(totals: Totals | None, name: str) -> float | None:
    """One figure of a run's totals; None when the run is not known."""
    return None if totals is None else as_float(getattr(totals, name))


class _Renderer:
    """One rendering at one cap; `cut` counts what the caps left out."""

    def __init__(self, summary: ReviewSummary, cap: int, length: int, full_lists: str) -> None:
        self.summary = summary
        self.cap = cap
        self.length = length
        self.full_lists = full_lists
        self.cut = 0
        #: Each group's score changes by case, for the flipped lists.
        self.changes = {g.group: {c.case: c for c in g.score_changes} for g in summary.groups}

    def name(self, text: str, *, table: bool = False) -> str:
        return code(text, table=table, length=self.length)

    def capped(self, items: Sequence[Any]) -> tuple[Sequence[Any], str | None]:
        """The first `cap` items and, when some are left out, the note saying so."""
        if len(items) <= self.cap:
            return items, None
        left = len(items) - self.cap
        self.cut += left
        return items[: self.cap], f"*… and {left:,} more, not shown ({self.full_lists}).*"

    def lines(self) -> list[str]:
        s = self.summary
        out = [self.verdict_line(), ""]
        out += self.context()
        out += self.groups_table()
        if s.old is None:
            out += self.failing_cases()
        else:
            out += self.flipped_cases()
        out += self.cost_and_latency()
        if s.old is not None:
            out += self.score_changes()
            out += self.added_and_removed()
        out += self.variants()
        if self.cut:
            out += [
                "---",
                "",
                f"*This summary leaves out {self.cut:,} list "
                f"item{'' if self.cut == 1 else 's'} to stay under GitHub's comment limit; "
                f"the full lists are in {self.full_lists}.*",
                "",
            ]
        return out

    def verdict_line(self) -> str:
        s = self.summary
        parts = [_HEADLINE[s.verdict]]
        if s.gate is None:
            t = s.new_totals
            parts.append(
                f"{plural(t.passed, 'case')} of {t.cases:,} passed in "
                f"{plural(t.groups, 'group')} · mean {score(t.mean)}"
            )
            failed = [g for g in s.groups if g.verdict == "failed"]
            if failed:
                parts.append(f"failing: {self.few(g.label for g in failed)}")
            return " · ".join(parts)
        gate = s.gate
        regressed = [g for g in s.groups if g.verdict == "regressed"]
        if regressed:
            kinds = "/".join(gate.flagged_kinds)
            parts.append(f"{kinds} in {self.few(g.label for g in regressed)}")
        else:
            improved = [g for g in s.groups if g.verdict == "improved"]
            lower = [g for g in s.groups if g.verdict == "lower"]
            if improved:
                parts.append(f"mean up in {self.few(g.label for g in improved)}")
            if lower:
                parts.append(f"mean down in {self.few(g.label for g in lower)}, not significant")
            if not improved and not lower:
                parts.append(f"no group changed past the tolerance {gate.tolerance:g}")
        if gate.fails:
            parts.append(f"gate **fails** on {'/'.join(gate.failing_kinds)}")
        elif gate.flagged_kinds and gate.fail_on:
            parts.append(f"gate passes (fails on {'/'.join(gate.fail_on)} only)")
        elif gate.flagged_kinds:
            parts.append("gate passes (fails on none)")
        else:
            parts.append("gate passes")
        rules = [
            f"{rule} ({count})" if len(gate.decided_by) > 1 else rule
            for rule, count in gate.decided_by.items()
        ]
        if gate.rule is not None:
            parts.append(
                f"rule {gate.rule}" + (f": decided by {', '.join(rules)}" if rules else "")
            )
        return " · ".join(parts)

    def few(self, labels: Iterable[str], most: int = 3) -> str:
        names = list(labels)
        shown = ", ".join(self.name(label) for label in names[:most])
        return shown + (f" and {len(names) - most:,} more" if len(names) > most else "")

    def context(self) -> list[str]:
        s = self.summary
        if s.old is None:
            line = f"Run {self.name(s.new)}, not compared"
            return [f"{line}: {plain(s.note)}." if s.note else f"{line}.", ""]
        line = f"Compared {self.name(s.old)} → {self.name(s.new)}"
        if s.gate is not None:
            gate = s.gate
            line += f" · tolerance {gate.tolerance:g}, alpha {gate.alpha:g}" + (
                f", {gate.correction} correction" if gate.correction else ""
            )
        return [line + ".", ""]

    def groups_table(self) -> list[str]:
        s = self.summary
        out = ["### Groups", ""]
        if not s.groups:
            return [*out, "No group in both runs." if s.old is not None else "No group.", ""]
        groups, note = self.capped(s.groups)
        if s.old is None:
            out += [
                "| Group | Cases | Mean | Pass rate | Cost per case | p95 latency | Verdict |",
                "|---|--:|--:|--:|--:|--:|---|",
            ]
            for g in groups:
                out.append(
                    f"| {self.name(g.label, table=True)} | {g.n:,} | {score(g.new_mean)} | "
                    f"{rate(g.new_pass_rate)} | {usd(g.new_cost_per_case_usd)} | "
                    f"{seconds(g.new_latency_p95_s)} | {self.group_verdict(g)} |"
                )
        else:
            out += [
                "| Group | Shared cases | Mean | Δ mean | Pass rate | p | Verdict |",
                "|---|--:|--:|--:|--:|--:|---|",
            ]
            for g in groups:
                out.append(
                    f"| {self.name(g.label, table=True)} | {g.shared or 0:,} | "
                    f"{score(g.old_mean)} → {score(g.new_mean)} | {signed(g.delta)} | "
                    f"{rate(g.old_pass_rate)} → {rate(g.new_pass_rate)} | "
                    f"{p_value(g.adjusted_p if g.adjusted_p is not None else g.p_value)} | "
                    f"{self.group_verdict(g)} |"
                )
        out.append("")
        if note:
            out += [note, ""]
        return out

    def group_verdict(self, group: GroupChange) -> str:
        if group.verdict == "regressed":
            detail = ", ".join(group.regressed_kinds)
            if "score" in group.regressed_kinds and group.rule:
                detail += f"; {group.rule} rule"
            return f"**regressed** ({detail})"
        if group.verdict == "failed":
            return "**failed**"
        if group.verdict == "lower":
            return "lower, not significant"
        return group.verdict

    def case_list(
        self, title: str, items: Sequence[_Item], show: Callable[[_Item], str]
    ) -> list[str]:
        """A folded list; only the items shown are formatted."""
        shown, note = self.capped(items)
        out = [f"<details><summary>{title} ({len(items):,})</summary>", ""]
        out += [f"- {show(item)}" for item in shown]
        if note:
            out += ["", note]
        return [*out, "", "</details>", ""]

    def flipped_cases(self) -> list[str]:
        s = self.summary
        failing = [
            (case, g) for g in s.groups for case in g.newly_failing
        ]  # newly failing first: what a reviewer must look at
        passing = [(case, g) for g in s.groups for case in g.newly_passing]
        out = [
            "### Flipped cases",
            "",
            f"**{plural(len(failing), 'case')} newly failing**, {len(passing):,} newly passing.",
            "",
        ]
        if failing:
            out += self.case_list("Newly failing", failing, self.flip)
        if passing:
            out += self.case_list("Newly passing", passing, self.flip)
        return out

    def flip(self, item: tuple[str, GroupChange]) -> str:
        case, group = item
        found = self.changes.get(group.group, {}).get(case)
        if found is None:
            return self.name(case)
        return f"{self.name(case)}: {score(found.old_score)} → {score(found.new_score)}"

    def failing_cases(self) -> list[str]:
        failing = [case for g in self.summary.groups for case in g.failing]
        out = ["### Failing cases", "", f"**{plural(len(failing), 'case')} not passing.**", ""]
        if failing:
            out += self.case_list("Failing cases", failing, self.name)
        return out

    def cost_and_latency(self) -> list[str]:
        s = self.summary
        old: Totals | None = s.old_totals
        new = s.new_totals
        figures = ("cost_usd", "latency_p50_s", "latency_p95_s")
        if all(_side(t, f) is None for t in (old, new) for f in figures):
            return ["### Cost and latency", "", "No call with a known cost or latency.", ""]
        out = [
            "### Cost and latency",
            "",
            "| | Cost | Cost per case | p50 latency | p95 latency |",
            "|---|--:|--:|--:|--:|",
            f"| All groups | {change(_side(old, 'cost_usd'), new.cost_usd, usd)} | "
            f"{change(_side(old, 'cost_per_case_usd'), new.cost_per_case_usd, usd)} | "
            f"{change(_side(old, 'latency_p50_s'), new.latency_p50_s, seconds)} | "
            f"{change(_side(old, 'latency_p95_s'), new.latency_p95_s, seconds)} |",
            "",
        ]
        if not s.groups:
            return out
        groups, note = self.capped(s.groups)
        out += [
            "<details><summary>Per group</summary>",
            "",
            "| Group | Cost per case | p50 latency | p95 latency |",
            "|---|--:|--:|--:|",
        ]
        for g in groups:
            flagged = [k for k in ("cost", "latency") if k in g.regressed_kinds]
            mark = f" **{'/'.join(flagged)} up**" if flagged else ""
            out.append(
                f"| {self.name(g.label, table=True)}{mark} | "
                f"{change(g.old_cost_per_case_usd, g.new_cost_per_case_usd, usd)} | "
                f"{change(g.old_latency_p50_s, g.new_latency_p50_s, seconds)} | "
                f"{change(g.old_latency_p95_s, g.new_latency_p95_s, seconds)} |"
            )
        out.append("")
        if note:
            out += [note, ""]
        return [*out, "</details>", ""]

    def score_changes(self) -> list[str]:
        changes = sorted(
            (change for g in self.summary.groups for change in g.score_changes),
            key=lambda c: (c.new_score - c.old_score, c.case),
        )
        if not changes:
            return []

        def show(c: CaseChange) -> str:
            return (
                f"{self.name(c.case)}: {score(c.old_score)} → {score(c.new_score)} "
                f"({signed(c.new_score - c.old_score)})"
            )

        return self.case_list("Score changes, largest drop first", changes, show)

    def added_and_removed(self) -> list[str]:
        s = self.summary
        entries = [("new group", key) for key in s.new_groups]
        entries += [("vanished group", key) for key in s.vanished_groups]
        entries += [("new case", c) for g in s.groups for c in g.new_cases]
        entries += [("vanished case", c) for g in s.groups for c in g.vanished_cases]
        if not entries:
            return []
        return self.case_list(
            "New and vanished, not compared", entries, lambda e: f"{e[0]} {self.name(e[1])}"
        )

    def variants(self) -> list[str]:
        comparisons = self.summary.variants
        if not comparisons:
            return []
        out = ["### Variants", ""]
        shown, note = self.capped(comparisons)
        for comparison in shown:
            out += self.variant_table(comparison)
        if note:
            out += [note, ""]
        return out

    def variant_table(self, comparison: dict[str, Any]) -> list[str]:
        """One group's variant comparison, read tolerantly from its JSON form (a key
        it lacks shows as a dash)."""
        group = str(comparison.get("group", ""))
        axis = str(comparison.get("axis", "variant"))
        recommended = comparison.get("recommended")
        head = f"{self.name(group)} over {self.name(axis)}: "
        if recommended:
            head += f"**recommended {self.name(str(recommended))}**"
        else:
            head += "**none qualifies**"
        reason = comparison.get("reason")
        if reason:
            head += f" ({plain(str(reason)[: self.length])})"
        out = [head, ""]
        rows = [v for v in comparison.get("variants") or [] if isinstance(v, dict)]
        versus = {
            str(v.get("name")): v for v in comparison.get("versus") or [] if isinstance(v, dict)
        }
        reference = str(comparison.get("reference", ""))
        front = {str(name) for name in comparison.get("pareto") or []}
        if not rows:
            return out
        out += [
            "| Variant | n | Mean | Pass rate | Cost per case | vs reference | Meets bar |",
            "|---|--:|--:|--:|--:|---|---|",
        ]
        shown, note = self.capped(rows)
        for v in shown:
            name = str(v.get("name", ""))
            against = versus.get(name)
            if name == reference:
                vs = "reference"
            elif against is not None:
                vs = f"{plain(str(against.get('verdict', '–')))} "
                vs += f"({signed(as_float(against.get('mean_diff')))})"
            else:
                vs = "–"
            meets = v.get("meets_bar")
            bar = ("yes" if meets else "no") if isinstance(meets, bool) else "–"
            out.append(
                f"| {self.name(name, table=True)}{' ◆' if name in front else ''} | "
                f"{number(v.get('n'), '{:,}')} | {number(v.get('mean'), '{:.2f}')} | "
                f"{number(v.get('pass_rate'), '{:.0%}')} | "
                f"{usd(as_float(v.get('cost_per_case_usd')))} | {vs} | {bar} |"
            )
        out.append("")
        if front:
            out += ["◆ on the quality-cost Pareto front.", ""]
        if note:
            out += [note, ""]
        return out


def render_markdown(
    summary: ReviewSummary,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    full_lists: str = DEFAULT_FULL_LISTS,
) -> str:
    """The summary as markdown, under `max_chars` characters (lists cut to fit)."""
    text = ""
    for cap, length in zip(_CAPS, _NAME_LENGTHS, strict=True):
        text = "\n".join(_Renderer(summary, cap, length, full_lists).lines()).rstrip() + "\n"
        if len(text) <= max_chars:
            return text
    # only the fixed parts left, and still too long (thousands of groups' table rows
    # are capped too, so this needs a very small max_chars): cut at a line
    note = f"\n\n*Cut to {max_chars:,} characters; the full summary is in {full_lists}.*\n"
    kept = text[: max(max_chars - len(note), 0)]
    return kept[: kept.rfind("\n") + 1 if "\n" in kept else 0].rstrip() + note
