"""`llmeval diff OLD NEW`: what changed between two runs (a report or a baseline against a
report), as text, the review summary's markdown or its JSON."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from pytest_llmeval.cli.common import (
    EXIT_OK,
    _gate_policy,
    _load,
)

if TYPE_CHECKING:
    from pytest_llmeval.records.baseline import Baseline
    from pytest_llmeval.records.comparison import BaselineComparison
    from pytest_llmeval.reporting.json import Report


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
