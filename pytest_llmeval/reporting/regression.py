"""Text of the baseline verdict: the status line(s) and the REGRESSION section.

Pure functions returning lines (no pytest, no colour): the terminal reporter and the
`llmeval gate` command print the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pytest_llmeval.core.money import format_usd

if TYPE_CHECKING:  # the baseline module is loaded only when a baseline is compared
    from pytest_llmeval.records.comparison import BaselineComparison, GroupComparison
    from pytest_llmeval.records.session_outcome import SessionOutcome

#: Title of the section printed when the comparison fails the session.
SECTION_TITLE = "REGRESSION"

#: How many newly failing cases are listed before "and N more".
CASE_LIMIT = 10

DEFAULT_FAIL_ON = ("score",)


def format_p(p: float | None) -> str:
    """A p-value with the precision that matters near the usual levels."""
    if p is None:
        return "-"
    return f"{p:.2f}" if p >= 0.1 else f"{p:.2g}"


def format_delta(drop: float | None) -> str:
    """A drop shown as the signed change of the mean: a drop of 0.08 is -0.08."""
    if drop is None:
        return "-"
    change = -drop
    return f"{change:+.2f}" if round(change, 2) != 0 else "0.00"


def _percent(increase: float | None) -> str:
    return "from zero" if increase is None else f"{increase:+.0%}"


def _source(comparison: BaselineComparison, path: str | None) -> str:
    return path or comparison.source or "baseline"


def missing_baseline_line(path: str) -> str:
    """The line shown when the baseline file does not exist yet."""
    return f"no baseline at {path}: run with --llmeval-update-baseline to create one"


def missing_required_baseline(path: str, demanded_by: str) -> str:
    """The error when a baseline that was named or required does not exist."""
    return (
        f"baseline {path} (named by {demanded_by}) does not exist, so the regression gate "
        "cannot run; fix the path, or create the file with --llmeval-update-baseline and "
        "commit it"
    )


def baseline_written_line(path: str, groups: int, cases: int) -> str:
    """The line shown after --llmeval-update-baseline wrote the file."""
    return (
        f"baseline {path} written: {groups} group{'s' if groups != 1 else ''}, "
        f"{cases} case{'s' if cases != 1 else ''}"
    )


def _cases(count: int) -> str:
    return f"{count} case{'s' if count != 1 else ''}"


def _score_line(group: GroupComparison, comparison: BaselineComparison | None = None) -> str:
    head = (
        f"{group.label}: mean {format_delta(group.drop)} "
        f"({group.old_mean or 0.0:.2f} -> {group.new_mean or 0.0:.2f} over {group.shared} "
        f"shared case{'s' if group.shared != 1 else ''})"
    )
    if group.rule is None or comparison is None:  # a report written before the rules
        return (
            f"{head}, p={format_p(group.p_value)} (paired permutation), "
            f"McNemar p={format_p(group.mcnemar_p)}"
        )
    return f"{head}, {decided_by(group, comparison)}; McNemar p={format_p(group.mcnemar_p)}"


#: How each rule is named on a verdict line.
RULE_NAMES = {
    "statistical": "the statistical rule",
    "within-case": "the within-case rule",
    "conservative": "the conservative rule",
    "replayed": "the replayed rule",
    "none": "no rule",
}

#: How each correction is named on a verdict line.
CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}


def _adjusted(group: GroupComparison, comparison: BaselineComparison) -> str:
    if group.adjusted_p is None or comparison.tested_groups <= 1:
        return ""
    name = CORRECTION_NAMES.get(comparison.correction or "none", comparison.correction)
    if comparison.correction == "none":
        return ", no correction across groups"
    return f", {name}-adjusted p={format_p(group.adjusted_p)}"


def decided_by(group: GroupComparison, comparison: BaselineComparison) -> str:
    """Which rule decided a group, and on what evidence."""
    rule = group.rule or "statistical"
    name = RULE_NAMES.get(rule, rule)
    if rule == "statistical":
        units = "clusters" if group.clusters is not None else "cases"
        return (
            f"decided by {name}: p={format_p(group.p_value)} (paired sign-flip over {units})"
            + _adjusted(group, comparison)
        )
    if rule == "within-case":
        return (
            f"decided by {name}: p={format_p(group.within_case_p)} (t test against the "
            "cases' own spread between repeats)" + _adjusted(group, comparison)
        )
    if rule == "conservative":
        failing, passing = len(group.newly_failing), len(group.newly_passing)
        if comparison.gate not in (None, "auto"):
            why = "--llmeval-gate=conservative"
        elif group.changed == 0:
            why = "no shared case changed"
        else:
            why = f"{_cases(group.changed)} changed, too few for p < {comparison.alpha:g}"
        return (
            f"decided by {name} ({why}): {failing} newly failing - {passing} newly "
            f"passing, {comparison.min_newly_failing or 2} needed"
        )
    if rule == "replayed":
        return (
            f"decided by {name}: every call was replayed, so the scores are deterministic "
            "and a change comes from the code or the scorers, not sampling noise"
        )
    return "not decided: no shared cases"


def detectable_line(group: GroupComparison, comparison: BaselineComparison) -> str | None:
    """What the group could detect: the smallest drop, and the cases a smaller one needs."""
    if group.rule is None or group.shared == 0:
        return None
    rule = RULE_NAMES.get(group.detectable_by or "", group.detectable_by)
    if group.detectable_drop is None:
        text = f"no drop is detectable by {rule} with {_cases(group.shared)}"
    else:
        at = (
            f", alpha {comparison.alpha:g}, power {comparison.power:g}"
            if group.detectable_by in ("statistical", "within-case") and comparison.power
            else ""
        )
        text = f"detects drops >= {group.detectable_drop:.2f} ({rule}{at})"
    if group.cases_needed is not None and group.smaller_drop is not None:
        text += (
            f"; a drop of {group.smaller_drop:.2f} would need about {_cases(group.cases_needed)}"
        )
    return text


def _verdict_word(group: GroupComparison) -> str:
    return "regression" if group.regressed else "no regression"


def group_verdict_lines(group: GroupComparison, comparison: BaselineComparison) -> list[str]:
    """One group's verdict with the rule that decided, then what it could detect."""
    if group.rule is None:
        return []
    if group.shared == 0:
        return [f"{group.label}: not compared (no shared cases)"]
    head = (
        f"{group.label}: {_verdict_word(group)}, mean {format_delta(group.drop)} over "
        f"{group.shared} shared case{'s' if group.shared != 1 else ''}, "
    )
    if group.drop is None or group.drop - comparison.tolerance <= 1e-9:
        # no rule flags a drop within the tolerance: the tolerance decided
        tested = group.rule in ("statistical", "within-case")
        p = group.within_case_p if group.rule == "within-case" else group.p_value
        head += f"within the tolerance {comparison.tolerance:g}" + (
            f" (p={format_p(p)})" if tested else ""
        )
    else:
        head += decided_by(group, comparison)
    lines = [head]
    detectable = detectable_line(group, comparison)
    if detectable is not None:
        lines.append(f"  {detectable}")
    return lines


def policy_line(comparison: BaselineComparison) -> str | None:
    """The gate policy the verdict was reached under, correction included."""
    if comparison.gate is None:
        return None
    tested = comparison.tested_groups
    correction = CORRECTION_NAMES.get(comparison.correction or "none", comparison.correction)
    if comparison.correction == "none" or comparison.correction is None:
        across = "no correction across groups"
    elif tested == 0:
        across = f"{correction} correction across groups (no group's test could reach alpha)"
    elif tested == 1:
        across = f"{correction} correction across groups (1 group tested: nothing to adjust)"
    else:
        across = f"{correction} correction across the {tested} groups a test decided"
    cluster = f", cases clustered by {comparison.cluster_key}" if comparison.cluster_key else ""
    return (
        f"gate {comparison.gate} (tolerance {comparison.tolerance:g}, alpha "
        f"{comparison.alpha:g}), {across}{cluster}"
    )


def _case_lines(title: str, cases: Sequence[str], limit: int) -> list[str]:
    if not cases:
        return []
    lines = [f"  {title} ({len(cases)}):"]
    lines += [f"    {case}" for case in cases[:limit]]
    if len(cases) > limit:
        lines.append(f"    and {len(cases) - limit} more")
    return lines


def _cost_line(group: GroupComparison, tolerance: float | None) -> str:
    old = group.old_cost_per_case_usd or 0.0
    new = group.new_cost_per_case_usd or 0.0
    limit = "" if tolerance is None else f", over the {tolerance:.0%} tolerance"
    return (
        f"cost {group.label}: {_percent(group.cost_increase)} per case "
        f"(${format_usd(old)} -> ${format_usd(new)}){limit}"
    )


def _latency_line(group: GroupComparison, tolerance: float | None) -> str:
    old = group.old_latency_p95_s or 0.0
    new = group.new_latency_p95_s or 0.0
    limit = "" if tolerance is None else f", over the {tolerance:.0%} tolerance"
    return (
        f"latency {group.label}: p95 {_percent(group.latency_increase)} "
        f"({old:.2f} s -> {new:.2f} s){limit}"
    )


def _not_failing(kind: str, fail_on: Iterable[str]) -> str:
    return "" if kind in set(fail_on) else f" (reported only: --llmeval-fail-on has no {kind})"


def _group_lines(comparison: BaselineComparison) -> list[str]:
    lines = []
    if comparison.new_groups:
        lines.append("new groups (not in the baseline): " + ", ".join(comparison.new_groups))
    if comparison.vanished_groups:
        lines.append(
            "vanished groups (in the baseline, not run now): "
            + ", ".join(comparison.vanished_groups)
        )
    if comparison.outside_groups:
        count = len(comparison.outside_groups)
        lines.append(
            f"{count} baseline group{'s' if count != 1 else ''} not collected in this run "
            "(another shard's, or deselected): not compared"
        )
    return lines


def _weak_drop_line(group: GroupComparison, comparison: BaselineComparison) -> str | None:
    """A note for a drop past the tolerance that the test could not call significant
    (reports written before the gate named its rules)."""
    if group.rule is not None:
        return None
    if group.regressed or group.drop is None or group.drop - comparison.tolerance <= 1e-9:
        return None
    head = (
        f"{group.label}: mean {format_delta(group.drop)} over {group.shared} shared "
        f"case{'s' if group.shared != 1 else ''}"
    )
    if group.underpowered:
        return (
            f"{head} cannot be significant: with {group.shared} shared "
            f"case{'s' if group.shared != 1 else ''} the smallest possible p is "
            f"{format_p(group.min_p)}, not below alpha {comparison.alpha:g} "
            "(underpowered; add cases)"
        )
    bound = 0.5**group.changed
    if not bound < comparison.alpha:
        return (
            f"{head} is not significant (p={format_p(group.p_value)}): only {group.changed} "
            f"case{'s' if group.changed != 1 else ''} changed, and with {group.changed} the "
            f"smallest possible p is {format_p(bound)}"
        )
    return f"{head} is not significant (p={format_p(group.p_value)}): likely noise"


def _moved(group: GroupComparison) -> bool:
    """Whether the group's mean over its shared cases changed at all."""
    return group.drop is not None and group.drop != 0.0


def summary_lines(
    comparison: BaselineComparison,
    path: str | None = None,
    *,
    fail_on: Iterable[str] = DEFAULT_FAIL_ON,
    every_group: bool = True,
    moved_groups: bool = True,
) -> list[str]:
    """The baseline status for the llm_eval section: one line, then notes if any (the
    policy, each group's verdict). Without every_group (no -v), only the verdicts of the
    groups whose mean moved, so an unchanged suite stays short; without moved_groups
    either (-q), only those of the groups that regressed."""
    fail_on = tuple(fail_on)
    source = _source(comparison, path)
    kinds = comparison.failing_kinds(fail_on)
    notes: list[str] = []
    if kinds:
        failing = [g.label for g in comparison.failing_groups(kinds)]
        head = (
            f"baseline {source}: REGRESSION ({', '.join(kinds)}) in {', '.join(failing)}; "
            f"see the {SECTION_TITLE} section"
        )
        policy = policy_line(comparison)
        notes = [policy] if policy is not None else []
        for group in comparison.groups:
            if (every_group or (moved_groups and _moved(group))) and not group.regressed:
                notes += group_verdict_lines(group, comparison)
        return [head] + [f"  {note}" for note in notes]
    from pytest_llmeval.records.comparison import REGRESSION_KINDS  # loaded: there is a comparison

    dropped = [g for g in comparison.groups if g.drop is not None]
    found = comparison.failing_kinds(REGRESSION_KINDS)
    if found:
        # regressions of kinds --llmeval-fail-on leaves out: found, so never "no regression"
        regressed = [
            g.label
            for g in comparison.groups
            if g.regressed or g.cost_regressed or g.latency_regressed
        ]
        head = (
            f"baseline {source}: regression ({', '.join(found)}) in {', '.join(regressed)}, "
            f"reported only: --llmeval-fail-on is {','.join(fail_on) or 'none'}"
        )
    elif not comparison.groups:
        head = f"baseline {source}: no regression (no group in common with the baseline)"
    elif not dropped or max(g.drop or 0.0 for g in dropped) <= 0.0:
        head = f"baseline {source}: no regression (no group's mean dropped)"
    else:
        worst = max(dropped, key=lambda g: (g.drop or 0.0, g.group))
        head = (
            f"baseline {source}: no regression (largest drop {worst.label} "
            f"{format_delta(worst.drop)}, p={format_p(worst.p_value)})"
            if worst.rule in (None, "statistical")
            else f"baseline {source}: no regression (largest drop {worst.label} "
            f"{format_delta(worst.drop)}, {RULE_NAMES.get(worst.rule, worst.rule)})"
        )
    policy = policy_line(comparison)
    if policy is not None:
        notes.append(policy)
    for group in comparison.groups:
        note = _weak_drop_line(group, comparison)
        if note is not None:
            notes.append(note)
        shown = every_group or group.regressed or (moved_groups and _moved(group))
        verdict = group_verdict_lines(group, comparison) if shown else []
        if verdict and group.regressed:
            verdict[0] += _not_failing("score", fail_on)
        notes += verdict
        if group.regressed and not verdict:
            notes.append(_score_line(group) + _not_failing("score", fail_on))
        if group.cost_regressed:
            notes.append(
                _cost_line(group, comparison.cost_tolerance) + _not_failing("cost", fail_on)
            )
        if group.latency_regressed:
            notes.append(
                _latency_line(group, comparison.latency_tolerance)
                + _not_failing("latency", fail_on)
            )
    notes += _group_lines(comparison)
    return [head] + [f"  {note}" for note in notes]


def regression_lines(
    comparison: BaselineComparison,
    path: str | None = None,
    *,
    fail_on: Iterable[str] = DEFAULT_FAIL_ON,
    limit: int = CASE_LIMIT,
) -> list[str]:
    """The body of the REGRESSION section; empty when nothing fails the session."""
    fail_on = tuple(fail_on)
    kinds = comparison.failing_kinds(fail_on)
    if not kinds:
        return []
    lines = [
        (
            f"against baseline {_source(comparison, path)} (tolerance {comparison.tolerance:g}, "
            f"alpha {comparison.alpha:g}):"
        )
    ]
    for group in comparison.groups:
        if group.regressed:
            lines.append(_score_line(group, comparison) + _not_failing("score", fail_on))
            detectable = detectable_line(group, comparison)
            if detectable is not None:
                lines.append(f"  {detectable}")
            lines += _case_lines("newly failing", group.newly_failing, limit)
        else:
            note = _weak_drop_line(group, comparison)
            if note is not None:
                lines.append(note)
        if group.cost_regressed:
            lines.append(
                _cost_line(group, comparison.cost_tolerance) + _not_failing("cost", fail_on)
            )
        if group.latency_regressed:
            lines.append(
                _latency_line(group, comparison.latency_tolerance)
                + _not_failing("latency", fail_on)
            )
    lines += _group_lines(comparison)
    return lines


def outcome_lines(
    outcome: SessionOutcome, *, every_group: bool = True, moved_groups: bool = True
) -> list[str]:
    """The baseline lines of a session's outcome: its verdict, or the file missing or
    written; empty without a baseline (every_group, moved_groups: see summary_lines)."""
    if outcome.comparison is not None:
        return summary_lines(
            outcome.comparison,
            fail_on=outcome.policy.fail_on,
            every_group=every_group,
            moved_groups=moved_groups,
        )
    status = outcome.baseline
    if status is None:
        return []
    if status.action == "missing":
        return [missing_baseline_line(status.path)]
    if status.action == "written":
        return [baseline_written_line(status.path, status.groups, status.cases)]
    return []


def outcome_section(outcome: SessionOutcome, *, limit: int = CASE_LIMIT) -> list[str]:
    """The body of a session outcome's REGRESSION section; empty unless it fails."""
    if outcome.comparison is None:
        return []
    return regression_lines(outcome.comparison, fail_on=outcome.policy.fail_on, limit=limit)
