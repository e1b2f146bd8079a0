"""What the terminal says about repeated cases: their runs' statistics, the cases whose
runs straddle the threshold, and the cases that miss their per-case rule.

Plain text from the aggregate (`models.CaseAggregate`, `models.GroupAggregate`); the
terminal summary prints it, `llmeval show` could too.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_llmeval.records.models import CaseAggregate, GroupAggregate


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def run_stats(case: CaseAggregate) -> str:
    """One case's runs: how many passed with the Wilson interval, pass^k and pass@k."""
    if case.passed_runs is None or case.pass_k is None:
        return ""
    text = (
        f"{case.passed_runs} of {case.runs} runs passed "
        f"({_rate(case.run_pass_rate_low)}-{_rate(case.run_pass_rate_high)} Wilson 95%)"
        f" · pass^{case.pass_k} {case.pass_hat_k:.2f} · pass@{case.pass_k} {case.pass_at_k:.2f}"
    )
    if case.adaptive_runs:
        text += f" · {case.adaptive_runs} adaptive run{'s' if case.adaptive_runs != 1 else ''}"
    if case.unstable:
        text += " · UNSTABLE"
    return text


def group_repeat_line(group: GroupAggregate) -> str | None:
    """A repeated group in one line: runs passed, mean pass^k and pass@k over its cases
    (each case's unbiased estimate, averaged), unstable and rule-failing cases."""
    repeated = [c for c in group.cases if c.passed_runs is not None and c.pass_k is not None]
    if not repeated:
        return None
    runs = sum(c.runs for c in repeated)
    passed = sum(c.passed_runs or 0 for c in repeated)
    ks = {c.pass_k for c in repeated}
    k = str(ks.pop()) if len(ks) == 1 else "k"
    hat = sum(c.pass_hat_k or 0.0 for c in repeated) / len(repeated)
    at = sum(c.pass_at_k or 0.0 for c in repeated) / len(repeated)
    parts = [
        f"  {group.label}: {passed} of {runs} runs passed",
        f"pass^{k} {hat:.2f}",
        f"pass@{k} {at:.2f}",
    ]
    if group.unstable:
        parts.append(f"{group.unstable} unstable")
    failing = sum(1 for c in group.cases if c.failed_case_rule)
    if failing:
        parts.append(f"{failing} missing their case rule")
    return " · ".join(parts)


def unstable_lines(groups: Sequence[GroupAggregate]) -> list[str]:
    """Every case whose runs straddle its threshold, with its run scores: shown at every
    verbosity but -q, so a straddle is never hidden in a mean."""
    lines = []
    for group in groups:
        for case in group.cases:
            if case.unstable:
                scores = " ".join(f"{value:.2f}" for value in case.run_scores)
                lines.append(
                    f"UNSTABLE {case.case_id}: {case.passed_runs} of {case.runs} runs passed "
                    f"(scores {scores}; threshold {case.threshold:.2f})"
                )
    return lines


def summary_lines(groups: Sequence[GroupAggregate]) -> list[str]:
    """Under the group table: one line per repeated group, then the unstable cases."""
    lines = [line for line in map(group_repeat_line, groups) if line is not None]
    return lines + unstable_lines(groups)


def rule_text(case: CaseAggregate) -> str:
    """The per-case rule a case was held to, in words."""
    rules = []
    if case.case_rule == "pass^k":
        rules.append("case_rule='pass^k' needs every run to pass")
    elif case.case_rule == "pass@k":
        k = case.pass_k if case.pass_k is not None else case.runs
        rules.append(
            f"case_rule='pass@k' needs at least one pass in every {k} runs (fewer than {k} failing)"
            if k < case.runs
            else "case_rule='pass@k' needs at least one run to pass"
        )
    if case.min_case_pass_rate is not None:
        rules.append(f"min_case_pass_rate {case.min_case_pass_rate:.0%}")
    return " and ".join(rules)


def failing_case_lines(cases: Sequence[CaseAggregate]) -> list[str]:
    """One line per case that misses its per-case rule, then the test ids of its runs."""
    lines = []
    for case in cases:
        passed = case.passed_runs if case.passed_runs is not None else int(case.status == "passed")
        lines.append(
            f"FAILED case {case.case_id}: {passed} of {case.runs} "
            f"run{'s' if case.runs != 1 else ''} passed; {rule_text(case)}"
        )
        for nodeid in case.nodeids:
            lines.append(f"  {nodeid}")
    return lines
