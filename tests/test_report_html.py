"""The HTML report: self-contained, XSS-safe, round-trips its data, copes with 5,000 cases."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmeval.core.files import dump_model
from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.baseline import baseline_from_aggregate
from pytest_llmeval.records.comparison import compare_to_baseline
from pytest_llmeval.records.decision import GatePolicy
from pytest_llmeval.records.models import EvalResult, Inference, Score
from pytest_llmeval.reporting.html import embed_json, render_html, write_html
from pytest_llmeval.reporting.json import Report, build_report, without_volatile

#: What a hostile transcript tries: end the data element and run a script, load remote
#: resources, open an HTML comment that changes how the script element is parsed.
INJECTION = "</script><script>alert(1)</script>"
HOSTILE = (
    f"{INJECTION} <img src=x onerror=\"document.body.id='pwned'\"> "
    '<link rel="stylesheet" href="https://evil.invalid/x.css"> '
    "<!-- <script> url(//evil.invalid/y.png) \u2028line\u2029para"
)

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
DATA_ELEMENT = re.compile(
    r'<script type="application/json" id="llmeval-data">(?P<blob>.*?)</script>', re.DOTALL
)
GROUPS = ("test_refunds", "test_summaries", "test_tone")
STATUSES_CYCLE = ("passed",) * 14 + ("below", "below", "failed", "error", "skipped")


def _inference(nodeid: str, role: str, i: int, text: str, replayed: bool) -> Inference:
    return Inference(
        nodeid=nodeid,
        role=role,  # type: ignore[arg-type]
        provider="anthropic" if role == "judge" else "openai",
        api="messages" if role == "judge" else "chat",
        model="claude-sonnet-4-5" if role == "judge" else "gpt-4.1-mini",
        params={"max_tokens": 256, "temperature": 0.0} if role == "app" else {"max_tokens": 512},
        input_text=f"[{role}] Customer {i}: where is my refund for order {1000 + i}?",
        output_text=text,
        input_tokens=40 + i % 50,
        output_tokens=20 + i % 30,
        cache_read_tokens=8 if i % 7 == 0 else None,
        cost_usd=round(0.0002 + (i % 13) * 0.00005, 6) if i % 97 else None,
        priced=bool(i % 97),
        spent_usd=0.0 if replayed else 0.0003,
        latency_s=round(0.2 + (i * 37 % 100) / 40, 3),
        ttft_s=round(0.05 + (i % 10) / 50, 3) if role == "app" else None,
        status=200,
        replayed=replayed,
        stream=role == "app" and i % 3 == 0,
    )


def make_result(i: int, *, shift: float = 0.0, hostile: bool = False) -> EvalResult:
    """One hand-made eval result; `i` picks its group, score, status and transcript."""
    group = GROUPS[i % len(GROUPS)]
    status = STATUSES_CYCLE[i % len(STATUSES_CYCLE)]
    nodeid = f"tests/test_bot.py::{group}[case-{i:05d}]"
    value = min(1.0, max(0.0, ((i * 7919) % 1000) / 1000 * 0.5 + 0.5 - shift))
    if status == "below":
        value = min(value, 0.3)
    answer = f"Refunds take 30 days. Your order {1000 + i} is on its way."
    if hostile:
        answer = f"{answer} {HOSTILE}"
    scores = [
        Score(name="mentions_policy", value=1.0 if i % 5 else 0.0),
        Score(
            name="judge",
            value=value,
            threshold=0.5,
            reason=HOSTILE if hostile else f"Polite and cites the policy (case {i}).",
        ),
    ]
    skipped = status == "skipped"
    return EvalResult(
        nodeid=nodeid,
        case_id=nodeid,
        group=f"tests/test_bot.py::{group}" if group != "test_tone" else "tone",
        threshold=0.5,
        aggregate="mean",
        min_pass_rate=0.8 if group == "test_refunds" else None,
        scores=[] if skipped else scores,
        score=None if skipped else value,
        status=status,  # type: ignore[arg-type]
        message=None if status == "passed" else f"{status}: score {value:.2f} < 0.50",
        duration_s=0.01 * (i % 10),
        metadata={"ticket": i, "lang": "en", "note": HOSTILE} if hostile else {"ticket": i},
        inferences=[]
        if skipped
        else [
            _inference(nodeid, "app", i, answer, replayed=i % 4 != 0),
            _inference(nodeid, "judge", i, f"score {value:.2f}: polite", replayed=i % 4 != 0),
        ],
    )


def make_report(cases: int = 40, *, created_at: datetime | None = None) -> Report:
    """A report of `cases` results (case 3 hostile) compared with a better baseline."""
    results = [make_result(i, hostile=i == 3) for i in range(cases)]
    older = [make_result(i, shift=-0.2 if i % 3 == 0 else 0.0) for i in range(cases)]
    baseline = baseline_from_aggregate(aggregate_session(older))
    current = aggregate_session(results)
    comparison = compare_to_baseline(
        current, baseline, GatePolicy(cost_tolerance=0.1), source="llmeval-baseline.json"
    )
    return build_report(
        results,
        aggregate=current,
        comparison=comparison,
        settings={"record_mode": "none", "tolerance": 0.02, "alpha": 0.05, "fail_on": ["score"]},
        pytest_version="9.0.0",
        duration_s=12.5,
        created_at=created_at or datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def split_html(html: str) -> tuple[str, str]:
    """(the page without its data, the data element's text)."""
    match = DATA_ELEMENT.search(html)
    assert match is not None, "no llmeval-data element"
    return html[: match.start("blob")] + html[match.end("blob") :], match.group("blob")


@pytest.fixture(scope="module")
def report() -> Report:
    return make_report()


@pytest.fixture(scope="module")
def html(report: Report) -> str:
    return render_html(report)


def test_page_references_no_outside_resource(html: str) -> None:
    page, _ = split_html(html)
    references = re.findall(
        r"""(?:\b(?:src|href|action|poster|srcset|data|xlink:href)\s*=\s*["']?\s*"""
        r"""|url\(\s*["']?\s*|@import\s+["']?)(?:[a-z][a-z0-9+.-]*:)?//""",
        page,
        flags=re.IGNORECASE,
    )
    assert references == []
    # The only absolute URL in the page is the SVG namespace name, which is never fetched.
    assert set(re.findall(r"https?://[^\s\"'<>)]*", page)) == {"http://www.w3.org/2000/svg"}
    assert (
        re.search(r"<(?:script|img|iframe|embed|object|audio|video)\b[^>]*\bsrc\s*=", page) is None
    )
    assert re.search(r"<link\b(?![^>]*href=\"data:)", page) is None  # only the data: favicon


def test_content_security_policy_forbids_fetches(html: str) -> None:
    head = html[: html.index("</head>")]
    match = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
    assert match is not None
    assert match.group(1).startswith(CSP)
    assert "base-uri 'none'" in match.group(1) and "form-action 'none'" in match.group(1)
    # It must come before any style or script to govern them.
    assert match.start() < head.index("<style>")


def test_data_round_trips_to_the_json_report(report: Report, html: str) -> None:
    _, blob = split_html(html)
    data = json.loads(blob)
    assert data == json.loads(dump_model(report))
    assert Report.model_validate(data) == report
    assert list(data)[0] == "schema_version"


def test_script_injection_stays_inert(html: str) -> None:
    page, blob = split_html(html)
    assert INJECTION not in html
    assert "<\\/script><script>alert(1)<\\/script>" in blob
    assert "</" not in blob and "<!--" not in blob
    assert "\u2028" not in html and "\u2029" not in html
    # Three script elements, the data, the trajectories and the app, and nothing in the
    # data can end one (`<script` inside it is inert text once `</` and `<!--` cannot occur).
    assert page.count("<script") == 3 and html.count("</script") == 3
    hostile = next(r for r in json.loads(blob)["results"] if r["nodeid"].endswith("[case-00003]"))
    assert hostile["scores"][1]["reason"] == HOSTILE
    assert hostile["inferences"][0]["output_text"].endswith(HOSTILE)


def test_app_never_parses_data_as_html(html: str) -> None:
    page, _ = split_html(html)
    script = page[page.rindex("<script>") :]
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "DOMParser",
        "createContextualFragment",
        "srcdoc",
    ):
        assert sink not in script, sink
    assert re.search(r"setAttribute\(\s*['\"](?:src|href|on\w+)", script) is None


@given(st.text())
def test_embedded_json_parses_back_and_cannot_close_the_element(text: str) -> None:
    embedded = embed_json(json.dumps({"t": text}, ensure_ascii=False))
    assert json.loads(embedded) == {"t": text}
    assert "</" not in embedded and "<!--" not in embedded
    assert "\u2028" not in embedded and "\u2029" not in embedded


def test_output_is_deterministic_apart_from_volatile_fields(report: Report, html: str) -> None:
    assert render_html(report) == html
    later = make_report(created_at=datetime(2026, 6, 7, 8, 9, 10, tzinfo=UTC))
    other = render_html(later.model_copy(update={"duration_s": 99.0}))
    page, blob = split_html(html)
    other_page, other_blob = split_html(other)
    assert other_page == page
    assert other_blob != blob
    assert without_volatile(json.loads(other_blob)) == without_volatile(json.loads(blob))


def test_write_html_is_atomic(tmp_path: Path, report: Report, html: str) -> None:
    target = tmp_path / "nested" / "report.html"
    write_html(target, report)
    assert target.read_text(encoding="utf-8") == html
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_an_empty_report_renders() -> None:
    html = render_html(build_report([], created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    data = json.loads(split_html(html)[1])
    assert data["results"] == [] and data["aggregate"]["cases"] == 0


def test_five_thousand_cases_cost_only_their_data() -> None:
    report = make_report(5000)
    html = render_html(report)
    page, blob = split_html(html)
    # The page adds nothing per case: its markup is fixed and the data is the JSON
    # report in compact form (here ~2.4 KB per case: two calls, scores, the test's usage
    # rollup, aggregates).
    assert len(page.encode("utf-8")) < 80_000
    compact = json.dumps(json.loads(dump_model(report)), ensure_ascii=False, separators=(",", ":"))
    assert len(blob) < 1.01 * len(compact)
    size = len(html.encode("utf-8"))
    assert size < 13_000_000, f"{size:,} bytes"
    assert len(json.loads(blob)["results"]) == 5000


def test_plugin_writes_the_html_report(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.5)
        @pytest.mark.parametrize("v", [1.0, 0.25])
        def test_answers(v, llm_eval):
            llm_eval.score("quality", v)
            llm_eval.log(note="</script><b>x</b>")
        """
    )
    result = pytester_env.runpytest("--llmeval-html=out/report.html")
    result.assert_outcomes(passed=1, failed=1)
    html = (pytester_env.path / "out" / "report.html").read_text(encoding="utf-8")
    data = json.loads(split_html(html)[1])
    assert [r["score"] for r in data["results"]] == [0.25, 1.0]
    assert data["results"][0]["metadata"] == {"note": "</script><b>x</b>"}
    assert "</script><b>" not in html


class _Noscript(HTMLParser):
    """The text of the <noscript> element: its paragraphs and its table's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.paragraphs: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "noscript":
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self._cell = []
        elif self.inside and tag == "p":
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "noscript":
            self.inside = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "p" and self._text is not None:
            self.paragraphs.append("".join(self._text))
            self._text = None

    def handle_data(self, data: str) -> None:
        for sink in (self._cell, self._text):
            if sink is not None:
                sink.append(data)


def _noscript(html: str) -> _Noscript:
    parser = _Noscript()
    # as a browser without JavaScript reads it: <noscript> content is markup
    parser.feed(html[: html.index('<script type="application/json"')])
    return parser


def test_without_javascript_the_page_shows_the_summary(report: Report, html: str) -> None:
    from pytest_llmeval.reporting.regression import summary_lines
    from pytest_llmeval.reporting.terminal import totals_line

    seen = _noscript(html)
    assert totals_line(report.aggregate) in seen.paragraphs
    assert report.baseline is not None
    assert summary_lines(report.baseline)[0] in seen.paragraphs
    header, *rows = seen.rows
    assert header[:3] == ["group", "n", "pass"]
    for column in ("Δ base", "p50/p95 s", "tokens", "cost $"):
        assert column in header
    assert [row[0] for row in rows] == [group.label for group in report.aggregate.groups]
    assert [row[1] for row in rows] == [str(group.n) for group in report.aggregate.groups]


def test_the_noscript_summary_escapes_names(tmp_path: Path) -> None:
    hostile = "</noscript><script>alert(1)</script>"
    result = make_result(1).model_copy(update={"group": hostile})
    page = render_html(build_report([result]))
    # outside the (escaped) data element, no markup of the name survives
    assert "<script>alert(1)" not in split_html(page)[0]
    assert _noscript(page).rows[1][0] == hostile


def test_plugin_html_report_reads_without_javascript(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.5, min_pass_rate=0.5)
        @pytest.mark.parametrize("v", [1.0, 0.25])
        def test_answers(v, llm_eval):
            llm_eval.score("quality", v)
        """
    )
    result = pytester_env.runpytest("--llmeval-html=report.html")
    assert result.ret == pytest.ExitCode.OK
    seen = _noscript((pytester_env.path / "report.html").read_text(encoding="utf-8"))
    assert "llm_eval: 2 cases, 1 passed, 1 below threshold · mean 0.62" in seen.paragraphs
    assert seen.rows[1][:5] == ["test_answers", "2", "1", "1", "0"]
