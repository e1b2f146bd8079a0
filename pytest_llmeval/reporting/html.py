"""The HTML report (`--llmeval-html=PATH`): one self-contained file with tables and charts.

The file is the template `report.html` (next to this module) with the JSON report's
data embedded in a `<script type="application/json" id="llmeval-data">` element; a
small vanilla script in the template draws everything from that data when the page
opens: summary cards, the group table with baseline deltas, SVG charts and the
paginated case list with each case's scores, judge reasons, metadata and transcript.

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

import json
import os
from importlib import resources

from pytest_llmeval.errors import LLMEvalError
from pytest_llmeval.files import write_text_atomic
from pytest_llmeval.reporting.json import Report

_TEMPLATE = "report.html"
_PLACEHOLDER = "__LLMEVAL_DATA__"

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
    """JSON text made safe to place inside a `<script>` element; it parses the same."""
    for unsafe, escaped in _UNSAFE:
        text = text.replace(unsafe, escaped)
    return text


def report_data_json(report: Report) -> str:
    """The report's data as compact JSON: schema_version first, keys sorted, NaN as null.

    The same data as the JSON report (`files.dump_model`), without its indentation.
    """
    # model_dump_json writes NaN/inf as null; the json module then sorts the keys in C,
    # which keeps 5,000 cases well under a second.
    data = json.loads(report.model_dump_json())
    version = json.dumps(data.pop("schema_version"))
    rest = json.dumps(
        data, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
    )
    return f'{{"schema_version":{version},{rest[1:]}' if data else f'{{"schema_version":{version}}}'


def render_html(report: Report) -> str:
    """The self-contained HTML report of a session's report."""
    template = _template()
    if template.count(_PLACEHOLDER) != 1:
        raise LLMEvalError(
            f"the HTML report template {_TEMPLATE} is damaged (no single {_PLACEHOLDER} "
            "slot); reinstall pytest-llm-eval"
        )
    return template.replace(_PLACEHOLDER, embed_json(report_data_json(report)), 1)


def write_html(path: str | os.PathLike[str], report: Report) -> None:
    """Write the HTML report atomically."""
    write_text_atomic(path, render_html(report))
