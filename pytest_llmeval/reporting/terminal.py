"""The "llm_eval" section of the terminal summary.

Default: one row per group and a totals line. `-q`: the totals line and failing
groups only. `-v`: also one row per case that did not pass; `-vv`: every case, with
each named score. Every line goes out through `printable`: a control character in a
group or score name, a test id or a model name is shown as its escape (`\\x1b`),
never sent raw to the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.core.money import format_usd, usd
from pytest_llmeval.core.printable import printable
from pytest_llmeval.records.models import (
    CaseAggregate,
    GroupAggregate,
    SessionAggregate,
    UsageRollup,
)

if TYPE_CHECKING:
    from pytest_llmeval.records.comparison import BaselineComparison
    from pytest_llmeval.records.session_outcome import SessionOutcome


def _fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _fmt_ci(group: GroupAggregate) -> str:
    if group.mean is None:
        return "-"
    if group.ci_low is None or group.ci_high is None:
        return f"{group.mean:.2f}"
    kind = CI_KINDS.get(group.ci_kind or "", "")
    return f"{group.mean:.2f} ({group.ci_low:.2f}-{group.ci_high:.2f}{kind})"


#: How the score column marks which interval it shows (ci_kind): Wilson for groups whose
#: case scores are all 0 or 1, the mean's Student t interval for graded scores.
CI_KINDS = {"wilson": " W", "t": " t"}


def _fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def render_table(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Align rows into columns (the first row is the header); control characters in
    cells are escaped first, so the columns line up as printed."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _fmt_latency(usage: UsageRollup) -> str:
    if usage.latency_p50_s is None or usage.latency_p95_s is None:
        return "-"
    return f"{usage.latency_p50_s:.2f}/{usage.latency_p95_s:.2f}"


def _fmt_cost(usage: UsageRollup) -> str:
    if not usage.calls:
        return "-"
    text = format_usd(usage.cost_usd)
    return text + "*" if usage.unpriced else text


def _fmt_tokens(usage: UsageRollup) -> str:
    if not usage.calls:
        return "-"
    total = (
        usage.input_tokens
        + usage.output_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens
    )
    return f"{total:,}"


def _fmt_delta(group: str, deltas: Mapping[str, float | None]) -> str:
    if group not in deltas:
        return "new"
    delta = deltas[group]
    return "-" if delta is None else f"{delta:+.2f}"


def group_rows(
    groups: Sequence[GroupAggregate],
    with_usage: bool = False,
    deltas: Mapping[str, float | None] | None = None,
) -> list[list[str]]:
    """Header plus one row per group, with a Δ-vs-baseline column when deltas are given
    (group key -> new mean minus baseline mean) and latency, token and cost columns."""
    header = ["group", "n", "pass", "below", "fail", "score (95% CI)", "pass rate"]
    if deltas is not None:
        header.append("Δ base")
    if with_usage:
        header += ["p50/p95 s", "tokens", "cost $"]
    rows = [header]
    for g in groups:
        label = g.label if g.runs_per_case == 1 else f"{g.label}  ({g.runs_per_case} runs)"
        rate = _fmt_rate(g.pass_rate)
        if g.min_pass_rate is not None:
            rate += f" (min {g.min_pass_rate:.0%})"
        row = [label, str(g.n), str(g.passed), str(g.below), str(g.failed), _fmt_ci(g), rate]
        if deltas is not None:
            delta = deltas.get(g.group)
            row.append(
                "new" if g.group not in deltas else "-" if delta is None else f"{delta:+.2f}"
            )
        if with_usage:
            row += [_fmt_latency(g.usage), _fmt_tokens(g.usage), _fmt_cost(g.usage)]
        rows.append(row)
    return rows


def usage_lines(usage: UsageRollup) -> list[str]:
    """Judge calls, simulated users' and evaluation helpers' calls, unpriced calls and
    errors, one line each, when there are any."""
    lines = []
    if usage.judge_calls:
        models = ", ".join(usage.judge_models)
        lines.append(
            f"judges: {usage.judge_calls} call{'s' if usage.judge_calls != 1 else ''}, "
            f"{models}, ${format_usd(usage.judge_cost_usd)}"
        )
    if usage.simulator_calls:
        models = ", ".join(usage.simulator_models)
        lines.append(
            f"simulated users: {usage.simulator_calls} "
            f"call{'s' if usage.simulator_calls != 1 else ''}, "
            f"{models}, ${format_usd(usage.simulator_cost_usd)}"
        )
    if usage.evaluation_calls:
        models = ", ".join(usage.evaluation_models)
        lines.append(
            f"evaluation helpers: {usage.evaluation_calls} "
            f"call{'s' if usage.evaluation_calls != 1 else ''}, "
            f"{models}, ${format_usd(usage.evaluation_cost_usd)}"
        )
    if usage.unpriced:
        reasons = usage.unpriced_reasons or {"no known price": usage.unpriced_models}
        lines.append(
            f"* {usage.unpriced} call{'s' if usage.unpriced != 1 else ''} not in the cost: "
            + "; ".join(_unpriced_text(reason, models) for reason, models in reasons.items())
        )
    if usage.priced_by_model_name:
        count = usage.priced_by_model_name
        lines.append(
            f"~ {count} call{'s' if count != 1 else ''} priced by model name (host unknown to "
            f"genai-prices: a gateway, proxy or local server): "
            f"{', '.join(usage.priced_by_model_name_models)}; set exact prices with the "
            "llmeval_prices ini option ('@host = input / output'), or list free hosts in "
            "llmeval_free_hosts"
        )
    if usage.errors:
        injected = ""
        if usage.injected:
            how_many = "all" if usage.injected == usage.errors else str(usage.injected)
            injected = f"; {how_many} injected by the tests' faults"
        lines.append(
            f"errors: {usage.errors} failed call{'s' if usage.errors != 1 else ''}"
            f" ({usage.retries} retried{injected})"
        )
    return lines


def _unpriced_text(reason: str, models: list[str]) -> str:
    """One reason calls are unpriced, their models, and the fix."""
    text = f"{reason} for {', '.join(models)}"
    if "include_usage" in reason:
        text += "; pass stream_options={'include_usage': True}"
    if "no known price" in reason:
        text += (
            "; set prices with the llmeval_prices ini option "
            "('provider:model = input / output', USD per Mtok)"
        )
    return text


def _case_line(case: CaseAggregate, with_scores: bool) -> str:
    runs = "" if case.runs <= 1 else f"  mean of {case.runs} runs, sd {case.stdev or 0.0:.2f}"
    line = f"    {case.status.upper():<7} {_fmt_score(case.score)}  {case.case_id}{runs}"
    if with_scores and case.scores:
        line += "  [" + ", ".join(f"{k} {v:.2f}" for k, v in case.scores.items()) + "]"
    return line


def totals_line(agg: SessionAggregate) -> str:
    """The one-line totals, counted in cases: when repeats make the test items more than
    the cases it says so (pytest's own last line counts items); then cost and latency."""
    cases = f"{agg.cases} case{'s' if agg.cases != 1 else ''}"
    if agg.items != agg.cases + agg.skipped:
        cases += f" ({agg.items} test items: the runs of a repeated case count as one case)"
    parts = [cases, f"{agg.passed} passed"]
    if agg.below:
        parts.append(f"{agg.below} below threshold")
    if agg.failed:
        parts.append(f"{agg.failed} failed")
    if agg.skipped:
        parts.append(f"{agg.skipped} skipped")
    text = "llm_eval: " + ", ".join(parts)
    if agg.mean is not None:
        text += f" · mean {agg.mean:.2f}"
    usage = agg.usage
    if usage.calls:
        text += (
            f" · ${format_usd(usage.cost_usd)} recorded / ${format_usd(usage.spent_usd)} spent"
            f" ({usage.replayed}/{usage.calls} replayed)"
        )
        if usage.latency_p95_s is not None:
            text += f" · p95 {usage.latency_p95_s:.2f} s"
    return text


def budget_blind_lines(outcome: SessionOutcome) -> list[str]:
    """Live calls --llmeval-max-cost could not count, by cause: shown at every verbosity."""
    budget = outcome.budget
    if budget is None or not budget.unpriced:
        return []
    total = sum(count for _, count in budget.unpriced)
    lines = [
        f"BUDGET INCOMPLETE: {total} live call{'s' if total != 1 else ''} could not be priced, "
        f"so --llmeval-max-cost={usd(budget.limit_usd)} did not count "
        f"{'them' if total != 1 else 'it'} (--llmeval-max-cost-strict refuses such calls):"
    ]
    lines += [f"  {count} x {cause}" for cause, count in budget.unpriced]
    return lines


def baseline_deltas(comparison: BaselineComparison | None) -> dict[str, float | None] | None:
    """Group key -> new mean minus baseline mean, for the Δ base column (None: no column)."""
    if comparison is None:
        return None
    return {g.group: None if g.drop is None else 0.0 - g.drop for g in comparison.groups}


def table_lines(agg: SessionAggregate, comparison: BaselineComparison | None) -> list[str]:
    """The group table, with Δ base when compared and usage columns when calls were made."""
    rows = group_rows(agg.groups, agg.usage.calls > 0, baseline_deltas(comparison))
    right = {i for i, name in enumerate(rows[0]) if name not in ("group", "score (95% CI)")}
    return render_table(rows, right=right)


class _PrintableTerminal:
    """pytest's terminal reporter, with every line passed through `printable`."""

    def __init__(self, terminal: Any) -> None:
        self._terminal = terminal
        self.config = terminal.config

    def write_line(self, line: str, **markup: bool) -> None:
        self._terminal.write_line(printable(line), **markup)

    def write_sep(self, sep: str, title: str, **markup: bool) -> None:
        self._terminal.write_sep(sep, printable(title), **markup)

    def write(self, content: str, **markup: bool) -> None:
        self._terminal.write(printable(content, keep_newlines=True), **markup)

    def line(self, text: str = "", **markup: bool) -> None:
        self._terminal.line(printable(text), **markup)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._terminal, name)  # everything else as pytest's reporter has it


def write_summary(terminal: Any, outcome: SessionOutcome) -> None:
    """Write the llm_eval section to pytest's terminal reporter."""
    from pytest_llmeval.reporting import repeats
    from pytest_llmeval.reporting.regression import outcome_lines, outcome_section

    agg = outcome.aggregate
    terminal = _PrintableTerminal(terminal)
    verbosity = terminal.config.get_verbosity()
    terminal.write_sep("=", "llm_eval")
    if verbosity >= 0:
        for line in table_lines(agg, outcome.comparison):
            terminal.write_line(line)
        for line in usage_lines(agg.usage):
            terminal.write_line(line)
        for line in repeats.summary_lines(agg.groups):
            terminal.write_line(line, yellow=line.startswith("UNSTABLE"))
        if verbosity >= 1:
            for group in agg.groups:
                shown = [c for c in group.cases if verbosity >= 2 or c.status != "passed"]
                if shown:
                    terminal.write_line(f"  {group.label}:")
                for case in shown:
                    terminal.write_line(_case_line(case, with_scores=verbosity >= 2))
                    if repeats.run_stats(case):
                        terminal.write_line(f"            {repeats.run_stats(case)}")
    if outcome.variants is not None:
        _write_variants(terminal, outcome, verbosity)
    for line in repeats.failing_case_lines(outcome.failing_cases):
        terminal.write_line(line, red=line.startswith("FAILED"), bold=line.startswith("FAILED"))
    for group in outcome.failing_groups:
        terminal.write_line(
            f"FAILED group {group.label}: pass rate {_fmt_rate(group.pass_rate)} "
            f"({group.passed} of {group.n} cases) is below min_pass_rate "
            f"{group.min_pass_rate:.0%}",
            red=True,
            bold=True,
        )
    for line in outcome_lines(outcome, every_group=verbosity >= 1, moved_groups=verbosity >= 0):
        terminal.write_line(line)
    if outcome.file_error is not None:
        for line in outcome.file_error.splitlines():  # one line per file
            terminal.write_line(line, red=True, bold=True)
    if outcome.budget is not None and outcome.budget.exceeded:
        terminal.write_line(
            f"BUDGET EXCEEDED: live calls cost ${format_usd(outcome.budget.spent_usd)}, "
            f"--llmeval-max-cost is {usd(outcome.budget.limit_usd)}; later live calls were refused",
            red=True,
            bold=True,
        )
    for line in budget_blind_lines(outcome):
        terminal.write_line(line, yellow=True, bold=True)
    for line in outcome.judges.lines():
        terminal.write_line(line)
    terminal.write_line(totals_line(agg), bold=True)
    section = outcome_section(outcome)
    if section:
        terminal.write_sep("=", "REGRESSION", red=True, bold=True)
        for line in section:
            terminal.write_line(line)


def _write_variants(terminal: Any, outcome: SessionOutcome, verbosity: int) -> None:
    """The variants evals compared: a section per group (-q: the pick alone)."""
    from pytest_llmeval.reporting.variant_lines import recommendation_lines, variant_lines

    variants = outcome.variants
    if variants is None:
        return
    labels = {group.group: group.label for group in outcome.aggregate.groups}
    if verbosity < 0:
        lines = recommendation_lines(variants.comparisons, labels) + list(variants.notes)
    else:
        lines = variant_lines(variants.comparisons, variants.notes, labels, verbose=verbosity >= 1)
    for line in lines:
        terminal.write_line(line)


def gate_failures(outcome: SessionOutcome) -> list[str]:
    """Why the eval results fail the session (exit status 1), one reason each; empty
    when they do not."""
    reasons = []
    for group in outcome.failing_groups:
        reasons.append(
            f"group {group.label} passed {_fmt_rate(group.pass_rate)} of its cases, "
            f"under its min_pass_rate {_fmt_rate(group.min_pass_rate)}"
        )
    if outcome.failing_cases:
        count = len(outcome.failing_cases)
        reasons.append(
            f"{count} case{'s' if count != 1 else ''} missed {'their' if count != 1 else 'its'} "
            "per-case rule across runs (case_rule / min_case_pass_rate)"
        )
    comparison = outcome.comparison
    if comparison is not None and outcome.regressed:
        kinds = comparison.failing_kinds(outcome.policy.fail_on)
        groups = [g.label for g in comparison.failing_groups(kinds)]
        reasons.append(f"{'/'.join(kinds)} regression against the baseline in {', '.join(groups)}")
    if outcome.budget_exceeded:
        reasons.append("live spending reached --llmeval-max-cost")
    return reasons


def write_verdict(terminal: Any, outcome: SessionOutcome) -> None:
    """Say, right above pytest's last line, why the eval results fail the session, and
    count the reasons on that last line (which otherwise counts only test outcomes)."""
    reasons = gate_failures(outcome)
    if not reasons:
        return
    terminal.write_line(
        "llm_eval fails the session (exit status 1): " + "; ".join(reasons), red=True, bold=True
    )
    key = "llm_eval gate failure" if len(reasons) == 1 else "llm_eval gate failures"
    terminal.stats.setdefault(key, []).extend(reasons)
