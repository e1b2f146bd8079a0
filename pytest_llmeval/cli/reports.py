"""`llmeval show`, `merge`, `gate` and `baseline`: a report printed, shards merged, the
gate judged, a baseline written."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from pytest_llmeval.cli.common import (
    DEFAULT_ALPHA,
    EXIT_OK,
    EXIT_REGRESSION,
    InputError,
    _check_output,
    _gate_policy,
    _load,
    _report_outcome,
)

if TYPE_CHECKING:
    from pytest_llmeval.reporting.json import Report


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
    for line in outcome.judges.lines():
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
