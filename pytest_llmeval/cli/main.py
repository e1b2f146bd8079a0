"""The `llmeval` console tool: show, diff, merge and gate JSON reports, write baselines.

Exit status: 0 success, 1 a regression (`gate` only), 2 bad input (a missing, corrupt
or too-new file, conflicting shards, bad arguments), always with one line naming the
file and never a traceback. Runnable as `python -m pytest_llmeval.cli` too. What it
prints passes through `printable`: a control character in a report's group names,
case ids or model names shows as its escape (`\\x1b`), never raw.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.core.errors import LLMEvalError
from pytest_llmeval.records.decision import CORRECTIONS, GATE_RULES, GatePolicy

if TYPE_CHECKING:
    from pytest_llmeval.records.baseline import Baseline
    from pytest_llmeval.records.comparison import BaselineComparison
    from pytest_llmeval.records.session_outcome import SessionOutcome
    from pytest_llmeval.reporting.json import Report

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_BAD_INPUT = 2

DEFAULT_TOLERANCE = GatePolicy.tolerance
DEFAULT_ALPHA = GatePolicy.alpha

Handler = Callable[[argparse.Namespace], int]


class InputError(LLMEvalError):
    """A command cannot run on the input it was given (the message says why)."""


def _load(path: str, what: str) -> Any:
    """Load a report or baseline, turning a missing or unreadable file into InputError."""
    from pytest_llmeval.records.baseline import load_baseline
    from pytest_llmeval.reporting.json import load_report

    loader: Callable[[str], Any] = load_report if what == "report" else load_baseline
    try:
        return loader(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a {what} file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the {what} file ({error.strerror})") from None


def _check_output(path: str, what: str) -> None:
    """Refuse an output path that cannot be a file, before any work is done."""
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise InputError(f"{path}: is a folder; give the path of the {what} file to write")
    for folder in target.parents:
        if folder.exists():
            if not folder.is_dir():
                raise InputError(f"{path}: {folder} is a file, not a folder; give another path")
            break


def _number(low: float, high: float, hint: str) -> Callable[[str], float]:
    """An argparse type: a number from low to high."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if math.isnan(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must be {hint}")
        return value

    return parse


_fraction = _number(0.0, 1.0, "between 0 and 1")
_increase = _number(0.0, math.inf, "0 or more (0.2 means +20%)")


def _kinds(text: str) -> tuple[str, ...]:
    """argparse type: a comma-separated subset of score,cost,latency (or none)."""
    from pytest_llmeval.records.comparison import REGRESSION_KINDS

    parts = [part.strip().lower() for part in text.split(",") if part.strip()]
    if parts == ["none"]:
        return ()
    unknown = [part for part in parts if part not in REGRESSION_KINDS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use a comma-separated subset of {','.join(REGRESSION_KINDS)}, or none"
        )
    return tuple(kind for kind in REGRESSION_KINDS if kind in parts)


def _add_gate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tolerance",
        type=_fraction,
        help="Smallest mean drop that can count as a regression "
        f"(default: the report's setting, else {DEFAULT_TOLERANCE}).",
    )
    parser.add_argument(
        "--alpha",
        type=_fraction,
        help="Significance level of the paired test "
        f"(default: the report's setting, else {DEFAULT_ALPHA}).",
    )
    parser.add_argument(
        "--cost-tolerance",
        type=_increase,
        help="Allowed relative increase of cost per case, e.g. 0.2 for a 20 percent rise "
        "(default: the report's setting, else not checked).",
    )
    parser.add_argument(
        "--latency-tolerance",
        type=_increase,
        help="Allowed relative increase of p95 latency "
        "(default: the report's setting, else not checked).",
    )
    parser.add_argument(
        "--gate",
        choices=GATE_RULES,
        help="Which rule decides a score regression: auto, statistical or conservative "
        "(default: the report's setting, else auto).",
    )
    parser.add_argument(
        "--gate-correction",
        choices=CORRECTIONS,
        help="Correction of p-values across groups: holm, bh or none "
        "(default: the report's setting, else holm).",
    )
    parser.add_argument(
        "--cluster-key",
        help="The llm_eval.log field whose cases the paired test resamples together "
        "(default: the report's setting, else none).",
    )


def _gate_policy(args: argparse.Namespace, settings: dict[str, Any]) -> GatePolicy:
    """The gate policy: each threshold from the command line, else the report's
    settings, else the policy's default."""

    def pick(name: str) -> Any:
        given = getattr(args, name, None)
        if given is not None:
            return given
        recorded = settings.get(name)
        return recorded if recorded is not None else getattr(GatePolicy, name)

    # --fail-on none is (); a report that recorded none (or nothing) gates on score
    fail_on = getattr(args, "fail_on", None)
    if fail_on is None:
        fail_on = settings.get("fail_on") or None
    return GatePolicy(
        tolerance=pick("tolerance"),
        alpha=pick("alpha"),
        rule=_recorded(args, settings, "gate", GATE_RULES) or GatePolicy.rule,
        correction=_recorded(args, settings, "gate_correction", CORRECTIONS)
        or GatePolicy.correction,
        cost_tolerance=pick("cost_tolerance"),
        latency_tolerance=pick("latency_tolerance"),
        fail_on=tuple(fail_on) if fail_on is not None else GatePolicy.fail_on,
        cluster_key=getattr(args, "cluster_key", None) or settings.get("cluster_key"),
    )


def _recorded(
    args: argparse.Namespace, settings: dict[str, Any], name: str, allowed: tuple[Any, ...]
) -> Any:
    """A choice from the command line, else the report's settings (a value this version
    does not know is an error naming it); None when neither has one."""
    given = getattr(args, name, None)
    if given is not None:
        return given
    recorded = settings.get(name)
    if recorded is None:
        return None
    if recorded not in allowed:
        raise InputError(
            f"the report's setting {name}={recorded!r} is not one of {', '.join(allowed)}; "
            f"pass --{name.replace('_', '-')} to choose"
        )
    return recorded


def _report_outcome(report: Report) -> SessionOutcome:
    """A report's outcome as the session had it: its aggregate and baseline verdict."""
    from pytest_llmeval.records.session_outcome import BaselineStatus, SessionOutcome

    comparison = report.baseline
    status = None
    if comparison is not None:
        status = BaselineStatus(comparison.source or "baseline", "compared")
    return SessionOutcome(
        aggregate=report.aggregate,
        policy=_gate_policy(argparse.Namespace(), report.settings),
        baseline=status,
        comparison=comparison,
    )


def _show(args: argparse.Namespace) -> int:
    from pytest_llmeval.reporting.regression import outcome_lines
    from pytest_llmeval.reporting.terminal import table_lines, totals_line, usage_lines

    report = _load(args.report, "report")
    outcome = _report_outcome(report)
    aggregate = outcome.aggregate
    print(f"{args.report}: pytest-llm-eval {report.plugin_version}, created {report.created_at}")
    # the same table, extra lines and totals as the terminal section of the run
    if aggregate.groups:
        for line in table_lines(aggregate, outcome.comparison):
            print(line)
    for line in usage_lines(aggregate.usage):
        print(line)
    if report.variants:
        from pytest_llmeval.reporting.variant_lines import variant_lines

        labels = {group.group: group.label for group in aggregate.groups}
        for line in variant_lines(report.variants, (), labels):
            print(line)
    for line in outcome_lines(outcome, every_group=False):  # as the run printed without -v
        print(line)
    print(totals_line(aggregate))
    # then what the run's terminal did not print: each test's usage
    if any(result.usage.calls for result in report.results):
        for line in test_usage_lines(report):
            print(line)
    return EXIT_OK


def _pair(first: float | None, second: float | None) -> str:
    if first is None or second is None:
        return "-"
    return f"{first:.2f}/{second:.2f}"


def test_usage_lines(report: Report) -> list[str]:
    """Each test's usage, as the report's results carry it: calls (app/judge), tokens
    in/out, cost (`*` when some calls are unpriced, `~` when some were priced by model
    name), slowest and median latency, median time to first token."""
    from pytest_llmeval.core.money import format_usd
    from pytest_llmeval.reporting.terminal import render_table

    rows = [["test", "calls app/judge", "tokens in/out", "cost $", "max/p50 s", "TTFT s"]]
    for result in report.results:
        usage = result.usage
        if not usage.calls:
            continue
        cost = format_usd(usage.cost_usd) if usage.calls > usage.unpriced else "?"
        cost += ("~" if usage.priced_by_model_name else "") + ("*" if usage.unpriced else "")
        rows.append(
            [
                result.nodeid,
                f"{usage.calls} ({usage.app_calls}/{usage.judge_calls})",
                f"{usage.input_tokens:,}/{usage.output_tokens:,}",
                cost,
                _pair(usage.latency_max_s, usage.latency_p50_s),
                "-" if usage.ttft_p50_s is None else f"{usage.ttft_p50_s:.2f}",
            ]
        )
    return ["per test:", *render_table(rows, right={1, 2, 3, 4, 5})]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _signed(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{value:+.0%}" if round(value, 2) != 0 else "0%"
    return f"{value:+.2f}" if round(value, 2) != 0 else "0.00"


def _variants_of(report: Report) -> list[dict[str, Any]] | None:
    """The report's variant comparisons as JSON data, when it holds any."""
    return [v.model_dump(mode="json") for v in report.variants] or None


def _load_earlier(path: str) -> tuple[Report | None, Baseline]:
    """The earlier run of `diff`: a report, or else a baseline file (whose error is
    the report's when it is neither)."""
    from pytest_llmeval.core.errors import FileFormatError
    from pytest_llmeval.records.baseline import load_baseline

    try:
        report: Report = _load(path, "report")
    except FileFormatError as not_a_report:
        try:
            return None, load_baseline(path)
        except FileFormatError:
            raise not_a_report from None
    from pytest_llmeval.records.baseline import baseline_from_aggregate

    return report, baseline_from_aggregate(report.aggregate)


def _diff(args: argparse.Namespace) -> int:
    from pytest_llmeval.records.comparison import case_clusters, compare_to_baseline

    old_report, old_baseline = _load_earlier(args.old)
    new_report = _load(args.new, "report")
    # judged as `llmeval gate` would judge the new run against a baseline of the old
    policy = _gate_policy(args, new_report.settings)
    comparison = compare_to_baseline(
        new_report.aggregate,
        old_baseline,
        policy,
        source=args.old,
        clusters=case_clusters(new_report.results, policy.cluster_key),
    )
    if args.format == "text":
        return _diff_text(args, comparison)
    from pytest_llmeval.reporting.summary import summarize_comparison

    summary = summarize_comparison(
        comparison,
        new_report.aggregate,
        old_name=args.old,
        new_name=args.new,
        fail_on=policy.fail_on,
        old_baseline=old_baseline,
        old_aggregate=old_report.aggregate if old_report is not None else None,
        variants=_variants_of(new_report),
    )
    if args.format == "json":
        from pytest_llmeval.core.files import dump_model

        sys.stdout.write(dump_model(summary))
    else:
        from pytest_llmeval.reporting.markdown import render_markdown
        from pytest_llmeval.reporting.markdown_text import code

        rest = code(f"llmeval diff {args.old} {args.new} --format json")
        sys.stdout.write(render_markdown(summary, full_lists=rest))
    return EXIT_OK


def _diff_text(args: argparse.Namespace, comparison: BaselineComparison) -> int:
    from pytest_llmeval.reporting.regression import format_p
    from pytest_llmeval.reporting.terminal import render_table

    print(f"{args.old} -> {args.new}")
    rows = [["group", "n", "mean", "Δ mean", "pass rate", "Δ pass", "p", "flipped"]]
    for g in comparison.groups:
        pass_delta = None
        if g.old_pass_rate is not None and g.new_pass_rate is not None:
            pass_delta = g.new_pass_rate - g.old_pass_rate
        rows.append(
            [
                g.label,
                str(g.shared),
                f"{_score(g.old_mean)} -> {_score(g.new_mean)}",
                _signed(None if g.drop is None else -g.drop),
                f"{_rate(g.old_pass_rate)} -> {_rate(g.new_pass_rate)}",
                _signed(pass_delta, percent=True),
                format_p(g.p_value),
                f"-{len(g.newly_failing)} +{len(g.newly_passing)}",
            ]
        )
    if comparison.groups:
        for line in render_table(rows, right={1, 3, 5, 6}):
            print(line)
    for g in comparison.groups:
        for case in g.newly_failing:
            print(f"  now failing: {case}")
        for case in g.newly_passing:
            print(f"  now passing: {case}")
        if g.new_cases or g.vanished_cases:
            print(
                f"  {g.label}: {len(g.new_cases)} new, {len(g.vanished_cases)} vanished "
                "case(s), not compared"
            )
    for key in comparison.new_groups:
        print(f"new group: {key}")
    for key in comparison.vanished_groups:
        print(f"vanished group: {key}")
    return EXIT_OK


def _same(a: Any, b: Any) -> bool:
    """Two results of one node id agree, up to their durations (volatile)."""
    exclude = {"duration_s"}
    return bool(a.model_dump(exclude=exclude) == b.model_dump(exclude=exclude))


def _merge(args: argparse.Namespace) -> int:
    from pytest_llmeval.records.aggregate import aggregate_session
    from pytest_llmeval.records.comparison import case_clusters, compare_to_baseline
    from pytest_llmeval.reporting.json import build_report, write_report

    _check_output(args.output, "merged report")
    shards = [(path, _load(path, "report")) for path in args.shards]
    results: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for path, report in shards:
        for result in report.results:
            seen = results.get(result.nodeid)
            if seen is not None and not _same(seen, result):
                raise InputError(
                    f"{path}: {result.nodeid} is also in {origin[result.nodeid]} with a "
                    "different result; shards must split the tests, not repeat them "
                    "(check the CI matrix's split, or merge the reports of one run only)"
                )
            results.setdefault(result.nodeid, result)
            origin.setdefault(result.nodeid, path)
    first = shards[0][1]
    settings = dict(first.settings)
    for path, report in shards[1:]:
        if report.settings != first.settings:
            print(
                f"llmeval merge: note: {path} ran with other settings than {shards[0][0]}; "
                f"the merged report records those of {shards[0][0]}",
                file=sys.stderr,
            )
    aggregate = aggregate_session(results.values())
    comparison = None
    if args.baseline:
        baseline = _load(args.baseline, "baseline")
        policy = _gate_policy(args, settings)
        comparison = compare_to_baseline(
            aggregate,
            baseline,
            policy,
            source=args.baseline,
            clusters=case_clusters(results.values(), policy.cluster_key),
        )
    durations = [r.duration_s for _, r in shards if r.duration_s is not None]
    variants = _merged_variants(results.values(), aggregate, settings)
    report = build_report(
        results.values(),
        aggregate=aggregate,
        comparison=comparison,
        settings=settings,
        duration_s=max(durations) if durations else None,
        pytest_version=first.pytest_version,
        variants=variants,
    )
    write_report(args.output, report)
    print(
        f"merged {len(shards)} report{'s' if len(shards) != 1 else ''} "
        f"({len(results)} results, {aggregate.cases} cases) into {args.output}"
    )
    return EXIT_OK


def _merged_variants(results: Any, aggregate: Any, settings: dict[str, Any]) -> list[Any]:
    """The variants evals compared again over the merged results, with the margin and
    alpha the first shard ran with (as the session compares them)."""
    from pytest_llmeval.records.variant_results import compare_session_variants

    numbers = {}
    for name, default in (("variant_margin", 0.05), ("alpha", DEFAULT_ALPHA)):
        value = settings.get(name, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InputError(f"the report's setting {name}={value!r} is not a number")
        numbers[name] = float(value)
    outcome = compare_session_variants(
        results, aggregate, margin=numbers["variant_margin"], alpha=numbers["alpha"]
    )
    for note in outcome.notes:
        print(f"llmeval merge: note: {note}", file=sys.stderr)
    return list(outcome.comparisons)


def _gate(args: argparse.Namespace) -> int:
    from pytest_llmeval.records.comparison import case_clusters, compare_to_baseline
    from pytest_llmeval.records.session_outcome import BaselineStatus, SessionOutcome
    from pytest_llmeval.reporting.regression import SECTION_TITLE, outcome_lines, outcome_section

    report = _load(args.report, "report")
    baseline = _load(args.baseline, "baseline")
    policy = _gate_policy(args, report.settings)
    outcome = SessionOutcome(
        aggregate=report.aggregate,
        policy=policy,
        baseline=BaselineStatus(args.baseline, "compared"),
        comparison=compare_to_baseline(
            report.aggregate,
            baseline,
            policy,
            source=args.baseline,
            clusters=case_clusters(report.results, policy.cluster_key),
        ),
    )
    for line in outcome_lines(outcome):
        print(line)
    section = outcome_section(outcome)
    if not section:
        return EXIT_OK
    print(f" {SECTION_TITLE} ".center(72, "="))
    for line in section:
        print(line)
    return EXIT_REGRESSION


def _baseline(args: argparse.Namespace) -> int:
    from pytest_llmeval.records.baseline import baseline_from_aggregate, write_baseline
    from pytest_llmeval.reporting.regression import baseline_written_line

    _check_output(args.output, "baseline")
    report = _load(args.report, "report")
    baseline = baseline_from_aggregate(report.aggregate)
    write_baseline(args.output, baseline)
    cases = sum(len(group.cases) for group in baseline.groups.values())
    print(baseline_written_line(args.output, len(baseline.groups), cases))
    return EXIT_OK


def _add_show(commands: Any) -> None:
    parser = commands.add_parser(
        "show", help="Print a report's group table.", description="Print a report's table."
    )
    parser.add_argument("report", help="A JSON report written with --llmeval-report.")
    parser.set_defaults(handler=_show)


def _add_diff(commands: Any) -> None:
    parser = commands.add_parser(
        "diff",
        help="Compare two reports: per group deltas and flipped cases.",
        description="Per group mean and pass-rate deltas and the cases that flipped; with "
        "--format markdown or json, a pull-request summary (verdict first) of the change.",
    )
    parser.add_argument("old", help="The earlier report (or a baseline file).")
    parser.add_argument("new", help="The later report.")
    parser.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text (default): the table; markdown: a pull-request summary, verdict first; "
        "json: the same summary as data.",
    )
    _add_gate_options(parser)
    parser.add_argument(
        "--fail-on",
        type=_kinds,
        help="Which regressions the summary's gate verdict fails on "
        "(default: the new report's setting, else score).",
    )
    parser.set_defaults(handler=_diff)


def _add_merge(commands: Any) -> None:
    parser = commands.add_parser(
        "merge",
        help="Merge the reports of CI shards into one.",
        description="Concatenate the shards' results, aggregate them again and, with "
        "--baseline, compare the whole against the baseline.",
    )
    parser.add_argument("shards", nargs="+", metavar="SHARD", help="Shard reports.")
    parser.add_argument("-o", "--output", required=True, help="Where to write the merge.")
    parser.add_argument("--baseline", help="Baseline to compare the merged results with.")
    _add_gate_options(parser)
    parser.set_defaults(handler=_merge)


def _add_gate(commands: Any) -> None:
    parser = commands.add_parser(
        "gate",
        help="Exit 1 when a report regresses against a baseline.",
        description="Compare a report with a baseline; print the REGRESSION section and "
        "exit 1 on a regression, exit 0 otherwise.",
    )
    parser.add_argument("report", help="A JSON report (or a merge of shards).")
    parser.add_argument("--baseline", required=True, help="The baseline file.")
    _add_gate_options(parser)
    parser.add_argument(
        "--fail-on",
        type=_kinds,
        help="Which regressions fail: a comma-separated subset of score,cost,latency, or "
        "none (default: the report's setting, else score).",
    )
    parser.set_defaults(handler=_gate)


def _add_baseline(commands: Any) -> None:
    parser = commands.add_parser(
        "baseline",
        help="Write a baseline from a report.",
        description="Write the baseline file --llmeval-update-baseline would have written.",
    )
    parser.add_argument("report", help="A JSON report (or a merge of shards).")
    parser.add_argument("-o", "--output", required=True, help="The baseline file to write.")
    parser.set_defaults(handler=_baseline)


def _add_cassettes(commands: Any) -> None:
    from pytest_llmeval.cli.cassettes import add_cassettes_command

    add_cassettes_command(commands)


def _add_label(commands: Any) -> None:
    from pytest_llmeval.cli.label import add_label_command

    add_label_command(commands)


def _add_import(commands: Any) -> None:
    from pytest_llmeval.cli.import_promptfoo import add_import_command

    add_import_command(commands)


#: Each adds one subcommand.
_COMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_show,
    _add_diff,
    _add_merge,
    _add_gate,
    _add_baseline,
    _add_cassettes,
    _add_label,
    _add_import,
)


def _installed_version() -> str:
    """The version of the installed pytest-llm-eval distribution."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-llm-eval")
    except PackageNotFoundError:
        return "unknown (not installed as a distribution)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `llmeval`."""
    parser = argparse.ArgumentParser(
        prog="llmeval",
        description="Inspect, merge and gate pytest-llm-eval reports; look after cassettes.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"llmeval (pytest-llm-eval) {_installed_version()}",
        help="Print the installed pytest-llm-eval version and exit.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(commands)
    return parser


class _PrintableStream:
    """A text stream writing control characters as visible escapes (line breaks kept)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from pytest_llmeval.core.printable import printable

        return int(self._stream.write(printable(text, keep_newlines=True)))

    def isatty(self) -> bool:
        return False  # what goes through here carries no colour codes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command with its output escaped, unless it prints pytest's own output."""
    if getattr(args, "raw_output", False):
        return handler(args)
    from contextlib import redirect_stderr, redirect_stdout

    with redirect_stdout(_PrintableStream(sys.stdout)):
        with redirect_stderr(_PrintableStream(sys.stderr)):
            return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `llmeval` with argv (default: the command line) and return the exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    from pytest_llmeval.core.printable import printable

    try:
        return _run(handler, args)
    except LLMEvalError as error:
        print(printable(f"llmeval {args.command}: error: {error}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        problem = f"{where}{error.strerror or error}"
        print(printable(f"llmeval {args.command}: error: {problem}"), file=sys.stderr)
        return EXIT_BAD_INPUT
