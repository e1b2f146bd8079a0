"""The HTML report (`--llmeval-html=PATH`): one self-contained file with tables and charts.

The file is the template `report.html` (next to this module) with the JSON report's
data embedded in a `<script type="application/json" id="llmeval-data">` element; a
small vanilla script in the template draws everything from that data when the page
opens: summary cards, the group table with baseline deltas, SVG charts and the
paginated case list with each case's scores, judge reasons, metadata and transcript.
A case whose app called tools also gets its trajectory as a timeline (model call, tool
calls with their arguments, tool results, answer): read here from the result's own
inferences (`trajectory.Trajectory`) and embedded beside the data as a second JSON
element, `llmeval-trajectories`, keyed by node id.
Groups whose tests compared variants (`variants=`) get a Variants section, rendered
here as static HTML and inline SVG (`html_variants`): a quality-vs-cost scatter with
the Pareto front and the recommendation, and a table; it reads the report's
`variants` (a list of `records.variants.VariantComparison`) unless given explicitly.
A run with judge diagnostics (`--llmeval-rejudge`, pairwise comparisons,
`--llmeval-judge-probes`) gets a Judges section after it, also static: the terminal's
lines, read from the results as `llmeval show` reads them (`records.diagnostics`).
Without JavaScript, a `<noscript>` element shows the summary rendered here in Python
(totals, baseline verdict, group table: the terminal's text, HTML-escaped).

Self-contained by construction: CSS, script and charts are inline, and the page's
Content-Security-Policy (`default-src 'none'`, inline style and script only, images
from `data:` only) forbids every fetch, so even a bug cannot make the report phone
out or break when opened offline.

Safe by construction: the script builds the page with `textContent` and
`createElement`, never `innerHTML` with data, so prompts and responses (which may
contain markup) are shown, never interpreted. The embedded JSON cannot end its
script element early: every `</` is written `<\\/`, `<!--` as `\\u003c!--`, and
U+2028/U+2029 as escapes; the data still parses to the report's JSON unchanged.

Deterministic: the template is fixed and the data is the JSON report's own form
(sorted keys, NaN/inf as null), so two files rendered from equal reports differ only
in the report's volatile fields (`created_at`, durations).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from pytest_llmeval.core.errors import LLMEvalError
from pytest_llmeval.core.files import (
    iter_model_text,
    spread_pieces,
    tight_pieces,
    write_text_atomic,
    write_texts_atomic,
)
from pytest_llmeval.reporting.json import Report, StreamedReport

if TYPE_CHECKING:
    from pytest_llmeval.core.redact import Redactor
    from pytest_llmeval.records.models import EvalResult
    from pytest_llmeval.records.trajectory import Trajectory
    from pytest_llmeval.records.variant_models import VariantComparison

_TEMPLATE = "report.html"
_PLACEHOLDER = "__LLMEVAL_DATA__"
_SUMMARY_PLACEHOLDER = "__LLMEVAL_SUMMARY__"
_TRAJECTORIES_PLACEHOLDER = "__LLMEVAL_TRAJECTORIES__"
_SECTIONS_PLACEHOLDER = "__LLMEVAL_SECTIONS__"

# Sequences that could end (or change the parsing of) a script element, and the
# line separators old JavaScript parsers reject; their replacements are JSON escapes.
_UNSAFE = (
    ("</", "<\\/"),
    ("<!--", "\\u003c!--"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _template() -> str:
    return (
        resources.files("pytest_llmeval.reporting").joinpath(_TEMPLATE).read_text(encoding="utf-8")
    )


def embed_json(text: str) -> str:
    """JSON text made safe to place inside a `<script>` element; it parses the same.
    (Each unsafe sequence starts with `<` or is not ASCII: most pieces hold neither.)"""
    if "<" not in text and text.isascii():
        return text
    for unsafe, escaped in _UNSAFE:
        text = text.replace(unsafe, escaped)
    return text


def summary_html(report: Report) -> str:
    """The report's summary as static HTML, for readers without JavaScript: the totals
    line, the baseline verdict and the group table the terminal printed, all escaped."""
    from html import escape

    from pytest_llmeval.reporting.regression import summary_lines
    from pytest_llmeval.reporting.terminal import baseline_deltas, group_rows, totals_line

    aggregate = report.aggregate
    parts = [f'<p id="noscript-totals">{escape(totals_line(aggregate))}</p>']
    if report.baseline is not None:
        fail_on = report.settings.get("fail_on") or ("score",)
        parts += [
            f"<p>{escape(line.strip())}</p>"
            for line in summary_lines(report.baseline, fail_on=fail_on)
        ]
    if aggregate.groups:
        header, *rows = group_rows(
            aggregate.groups, aggregate.usage.calls > 0, baseline_deltas(report.baseline)
        )
        parts.append('<div class="table-wrap"><table id="noscript-groups"><thead><tr>')
        parts += [f"<th>{escape(cell)}</th>" for cell in header]
        parts.append("</tr></thead><tbody>")
        for row in rows:
            cells = "".join(f"<td>{escape(cell)}</td>" for cell in row)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table></div>")
    return "".join(parts)


def judges_section(report: Report | StreamedReport) -> str:
    """The Judges section of the page: the run's judge diagnostics (re-judge agreement,
    position swaps, the probes) as the terminal gives them, each summary a paragraph and
    the calls it names a list; empty when the run has none. A streamed report carries
    them (the session's own); a built one's are read from its results."""
    from html import escape

    if isinstance(report, StreamedReport):
        judges = report.judges
    else:
        from pytest_llmeval.records.diagnostics import diagnostics_of

        judges = diagnostics_of(report.results)
    lines = judges.lines()
    if not lines:
        return ""
    parts = ['<section id="judges" aria-labelledby="judges-title">']
    parts.append('<h2 id="judges-title">Judges</h2>')
    named: list[str] = []
    for line in [*lines, ""]:  # the empty line closes the last list
        if line.startswith("  "):
            named.append(f"<li>{escape(line.strip())}</li>")
            continue
        if named:
            parts.append(f"<ul>{''.join(named)}</ul>")
            named = []
        if line:
            parts.append(f"<p>{escape(line)}</p>")
    parts.append("</section>")
    return "".join(parts)


def trajectory_view(trajectory: Trajectory) -> dict[str, Any]:
    """One case's trajectory as the timeline the page draws: steps, each with its model,
    usage, what the model said, and its tool calls with arguments and results."""
    from pytest_llmeval.records.trajectory import describe_call

    steps = []
    for step in trajectory.steps:
        inference = step.inference
        tools = [
            {
                "call": describe_call(use.call),
                "name": use.name,
                "id": use.call.id,
                "arguments": use.arguments if use.call.arguments_valid else None,
                "arguments_raw": use.call.arguments_raw,
                "arguments_valid": use.call.arguments_valid,
                "result": None if use.result is None else use.result.content,
                "is_error": use.is_error,
            }
            for use in step.tools
        ]
        steps.append(
            {
                "number": step.number,
                "model": f"{inference.provider}:{inference.model or 'unknown'}",
                "api": inference.api,
                "input_tokens": inference.input_tokens,
                "output_tokens": inference.output_tokens,
                "cost_usd": inference.cost_usd,
                "latency_s": inference.latency_s,
                "text": step.text,
                "final": step.is_final,
                "tools": tools,
            }
        )
    return {
        "summary": trajectory.summary(),
        "steps": steps,
        "final_answer": trajectory.final_answer,
    }


def trajectories(results: Sequence[EvalResult]) -> dict[str, dict[str, Any]]:
    """node id -> timeline, for the results whose app calls requested a tool."""
    from pytest_llmeval.records.trajectory import Trajectory

    found: dict[str, dict[str, Any]] = {}
    for result in results:
        if not any(call.tool_calls for call in result.inferences):
            continue  # no tool call, no tool use: most results, not worth a Trajectory
        trajectory = Trajectory.from_inferences(result.inferences)
        if trajectory.tool_uses:
            found[result.nodeid] = trajectory_view(trajectory)
    return found


def report_variants(report: Report) -> list[VariantComparison]:
    """The report's variant comparisons (its `variants` field, as models), or none."""
    from pytest_llmeval.records.variant_models import VariantComparison

    found = getattr(report, "variants", None) or []
    return [
        item if isinstance(item, VariantComparison) else VariantComparison.model_validate(item)
        for item in found
    ]


def iter_html(
    report: Report | StreamedReport,
    *,
    variants: Sequence[VariantComparison] | None = None,
    data: Iterable[str] | None = None,
) -> Iterator[str]:
    """The self-contained HTML report of a session's report, in pieces; `variants`
    defaults to the report's own (see `report_variants`), `data` is the report's compact
    JSON text in pieces when the JSON file shares its making (see
    `write_report_and_html`)."""
    from pytest_llmeval.reporting.html_variants import variants_section

    head = report.head if isinstance(report, StreamedReport) else report
    before, placeholder, after = _template().partition(_PLACEHOLDER)
    head_html, summary_slot, rest = before.partition(_SUMMARY_PLACEHOLDER)
    between, trajectories_slot, tail = after.partition(_TRAJECTORIES_PLACEHOLDER)
    above, sections_slot, below = rest.partition(_SECTIONS_PLACEHOLDER)
    if (
        not placeholder
        or _PLACEHOLDER in after
        or not summary_slot
        or _SUMMARY_PLACEHOLDER in rest + after
        or not trajectories_slot
        or _TRAJECTORIES_PLACEHOLDER in before + tail
        or not sections_slot
        or _SECTIONS_PLACEHOLDER in head_html + below + after
    ):
        raise LLMEvalError(
            f"the HTML report template {_TEMPLATE} is damaged (no single {_PLACEHOLDER}, "
            f"{_SUMMARY_PLACEHOLDER}, {_SECTIONS_PLACEHOLDER} and "
            f"{_TRAJECTORIES_PLACEHOLDER} slots); reinstall pytest-llm-eval"
        )
    yield head_html
    yield summary_html(head)
    yield above
    yield variants_section(report_variants(head) if variants is None else variants)
    yield judges_section(report)
    yield below
    # the JSON report's own serialisation, compact: schema_version first, keys sorted
    if data is None:
        data = (
            report.pieces(spread=False)
            if isinstance(report, StreamedReport)
            else iter_model_text(report, spread=False)
        )
    for piece in data:
        yield embed_json(piece)
    yield between
    from pydantic_core import to_jsonable_python

    views = to_jsonable_python(trajectories(report.results), inf_nan_mode="null")
    yield embed_json(json.dumps(views, sort_keys=True, ensure_ascii=False, allow_nan=False))
    yield tail


def render_html(
    report: Report | StreamedReport, *, variants: Sequence[VariantComparison] | None = None
) -> str:
    """The self-contained HTML report of a session's report."""
    return "".join(iter_html(report, variants=variants))


def write_html(
    path: str | os.PathLike[str],
    report: Report | StreamedReport,
    *,
    redactor: Redactor | None = None,
    variants: Sequence[VariantComparison] | None = None,
) -> None:
    """Write the HTML report atomically and redacted, piece by piece."""
    write_text_atomic(path, iter_html(report, variants=variants), redactor=redactor)


def write_report_and_html(
    report_path: str | os.PathLike[str],
    html_path: str | os.PathLike[str],
    report: StreamedReport,
    *,
    redactor: Redactor | None = None,
) -> list[LLMEvalError | None]:
    """Write the JSON report and the HTML report together, the report's text made once
    for both (`write_report` then `write_html` would make it twice): its neutral pieces,
    each laid out for the file and compact for the page; each file is written or fails
    on its own, its error in the list returned (see `write_texts_atomic`)."""
    for_report, for_html = itertools.tee(report.neutral_pieces())
    # a piece of each file in turn: `tee` holds the few pieces between the two
    report_pieces = spread_pieces(for_report)
    html_pieces = iter_html(report, data=tight_pieces(for_html))
    del for_report, for_html  # held by the pieces alone: a file that stops lets go of them
    return write_texts_atomic(
        [(report_path, report_pieces), (html_path, html_pieces)], redactor=redactor
    )
