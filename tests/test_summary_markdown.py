"""The review summary: `llmeval diff --format markdown|json` and `--llmeval-summary-md`.

The markdown is checked by parsing it with a CommonMark parser (markdown-it-py, with
GitHub's tables), not by looking for strings: the verdict is the first block, the
tables are tables with the right cells, the per-case lists sit in `<details>` blocks,
hostile test ids stay inside their code spans, and 10,000 cases stay under GitHub's
comment limit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.cli import main
from pytest_llmeval.core.files import dump_model
from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.baseline import baseline_from_aggregate, write_baseline
from pytest_llmeval.records.comparison import compare_to_baseline
from pytest_llmeval.records.models import EvalResult, Inference, Score
from pytest_llmeval.reporting.json import build_report, write_report
from pytest_llmeval.reporting.markdown import (
    DEFAULT_FULL_LISTS,
    GITHUB_COMMENT_LIMIT,
    render_markdown,
)
from pytest_llmeval.reporting.markdown_text import code, plain, usd
from pytest_llmeval.reporting.summary import (
    CaseChange,
    ReviewSummary,
    summarize_comparison,
    summarize_run,
)
from tests.fakeprovider import FakeProviderServer
from tests.suites import quality_suite, script_quality

FILE = "tests/test_bot.py"


def result(
    function: str,
    case: str,
    score: float,
    *,
    cost: float | None = None,
    latency: float | None = None,
    case_id: str | None = None,
) -> EvalResult:
    nodeid = case_id or f"{FILE}::{function}[{case}]"
    calls = []
    if cost is not None or latency is not None:
        calls.append(
            Inference(
                nodeid=nodeid,
                role="app",
                provider="openai",
                model="gpt-4.1-mini",
                input_tokens=10,
                output_tokens=5,
                cost_usd=cost,
                priced=cost is not None,
                latency_s=latency,
            )
        )
    return EvalResult(
        nodeid=nodeid,
        case_id=nodeid,
        group=f"{FILE}::{function}",
        threshold=0.5,
        aggregate="mean",
        scores=[Score(name="quality", value=score)],
        score=score,
        status="passed" if score >= 0.5 else "below",
        duration_s=0.1,
        inferences=calls,
    )


# test_answers: 8 cases at 1.0, $0.001 and 0.3 s a case; test_tone: 4 cases at 0.6
OLD = [result("test_answers", f"c{i}", 1.0, cost=0.001, latency=0.3) for i in range(8)] + [
    result("test_tone", f"t{i}", 0.6, cost=0.001, latency=0.3) for i in range(4)
]
# five answers fall to 0.0 (p = 2^-5 = 0.03125 < 0.05); the tone rises by 0.3 (past the
# tolerance 0.02); every call costs twice as much and takes twice as long
NEW = (
    [result("test_answers", f"c{i}", 0.0, cost=0.002, latency=0.6) for i in range(5)]
    + [result("test_answers", f"c{i}", 1.0, cost=0.002, latency=0.6) for i in range(5, 8)]
    + [result("test_tone", f"t{i}", 0.9, cost=0.002, latency=0.6) for i in range(4)]
)


def write(tmp_path: Path, name: str, results: list[EvalResult], **settings: object) -> str:
    path = tmp_path / name
    write_report(path, build_report(results, settings=settings, duration_s=1.0))
    return str(path)


def parse(text: str) -> list[Any]:
    """The block tokens of CommonMark with GitHub's tables."""
    markdown_it = pytest.importorskip(
        "markdown_it", reason="markdown-it-py (in the test extra) parses the markdown"
    )
    return list(markdown_it.MarkdownIt("commonmark").enable("table").parse(text))


def html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py parses the markdown")
    return str(markdown_it.MarkdownIt("commonmark").enable("table").render(text))


def inline_text(token: Any) -> str:
    """An inline token's text as a reader sees it (code spans' content included)."""
    return "".join(
        child.content for child in token.children or () if child.type in ("text", "code_inline")
    )


def tables(tokens: list[Any]) -> list[list[list[str]]]:
    """Every table: its rows (the header first), each a list of cell texts."""
    found: list[list[list[str]]] = []
    row: list[str] | None = None
    for token in tokens:
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            row = []
            found[-1].append(row)
        elif token.type == "inline" and row is not None and token.level >= 4:
            row.append(inline_text(token))
        elif token.type == "tr_close":
            row = None
    return found


def table_with(tokens: list[Any], *header: str) -> list[list[str]]:
    """The one table whose header row starts with these cells."""
    matching = [table for table in tables(tokens) if table[0][: len(header)] == list(header)]
    assert len(matching) == 1, [table[0] for table in tables(tokens)]
    return matching[0]


def first_block(tokens: list[Any]) -> str:
    assert tokens[0].type == "paragraph_open"
    return inline_text(tokens[1])


def compared(old: list[EvalResult], new: list[EvalResult], **options: Any) -> ReviewSummary:
    old_aggregate, new_aggregate = aggregate_session(old), aggregate_session(new)
    comparison = compare_to_baseline(new_aggregate, baseline_from_aggregate(old_aggregate))
    return summarize_comparison(
        comparison,
        new_aggregate,
        old_name="old.json",
        new_name="new.json",
        old_aggregate=old_aggregate,
        **options,
    )


def test_the_verdict_comes_first_then_tables_that_parse_as_tables() -> None:
    text = render_markdown(compared(OLD, NEW))
    tokens = parse(text)
    verdict = first_block(tokens)
    assert text.splitlines()[0].startswith("🔴 **Regressed** · score in `test_answers`")
    assert verdict.startswith("🔴 Regressed · score in test_answers · gate fails on score")
    assert "rule auto" in verdict
    groups = table_with(tokens, "Group", "Shared cases")
    assert groups == [
        ["Group", "Shared cases", "Mean", "Δ mean", "Pass rate", "p", "Verdict"],
        # mean 1.0 -> 3/8; p = 2^-5 = 0.03125 (alone in the correction's family: Holm
        # leaves it as it is)
        [
            "test_answers",
            "8",
            "1.00 → 0.38",
            "-0.62",
            "100% → 38%",
            "0.031",
            "regressed (score; statistical rule)",
        ],
        ["test_tone", "4", "0.60 → 0.90", "+0.30", "100% → 100%", "1.00", "improved"],
    ]
    costs = table_with(tokens, "")
    # 12 cases: $0.012 -> $0.024, $0.001 -> $0.002 a case; every call 0.3 s -> 0.6 s
    assert costs[1] == [
        "All groups",
        "$0.012 → $0.024 (+100%)",
        "$0.001 → $0.002 (+100%)",
        "0.30 s → 0.60 s (+100%)",
        "0.30 s → 0.60 s (+100%)",
    ]


def test_flipped_cases_and_per_case_lists_fold_in_details() -> None:
    tokens = parse(render_markdown(compared(OLD, NEW)))
    blocks = [t.content for t in tokens if t.type == "html_block"]
    summaries = [b for b in blocks if b.startswith("<details><summary>")]
    assert [s.strip() for s in summaries] == [
        "<details><summary>Newly failing (5)</summary>",
        "<details><summary>Per group</summary>",
        "<details><summary>Score changes, largest drop first (9)</summary>",
    ]
    assert sum(b.strip() == "</details>" for b in blocks) == 3
    items = [inline_text(t) for t in tokens if t.type == "inline" and t.level == 3]
    failing = [f"{FILE}::test_answers[c{i}]: 1.00 → 0.00" for i in range(5)]
    assert items[:5] == failing
    # the score changes: the five drops of 1.0 first, then the four rises of 0.3
    assert items[5:10] == [f"{FILE}::test_answers[c{i}]: 1.00 → 0.00 (-1.00)" for i in range(5)]
    assert items[10:] == [f"{FILE}::test_tone[t{i}]: 0.60 → 0.90 (+0.30)" for i in range(4)]


def test_newly_failing_cases_come_before_newly_passing_ones() -> None:
    old = [result("test_a", "x", 0.0), result("test_b", "y", 1.0)]
    new = [result("test_a", "x", 1.0), result("test_b", "y", 0.0)]
    text = render_markdown(compared(old, new))
    assert text.index("Newly failing (1)") < text.index("Newly passing (1)")
    assert text.index("test_b[y]") < text.index("test_a[x]")


def test_an_unchanged_run_says_so_and_the_gate_passes() -> None:
    summary = compared(OLD, OLD)
    assert summary.verdict == "unchanged" and summary.gate is not None
    assert not summary.gate.fails
    line = first_block(parse(render_markdown(summary)))
    assert line.startswith("⚪ Unchanged · no group changed past the tolerance 0.02 · gate passes")


def test_an_improved_run_and_a_cost_rise_the_gate_does_not_fail_on() -> None:
    better = [r for r in NEW if "test_tone" in r.group]
    before = [r for r in OLD if "test_tone" in r.group]
    old_aggregate, new_aggregate = aggregate_session(before), aggregate_session(better)
    from pytest_llmeval.records.decision import GatePolicy

    comparison = compare_to_baseline(
        new_aggregate, baseline_from_aggregate(old_aggregate), GatePolicy(cost_tolerance=0.5)
    )
    summary = summarize_comparison(
        comparison, new_aggregate, old_name="a", new_name="b", old_aggregate=old_aggregate
    )
    # cost per case doubled (+100% > 50%): flagged, but fail_on is score only
    assert summary.verdict == "regressed"
    assert summary.gate is not None and summary.gate.flagged_kinds == ["cost"]
    line = first_block(parse(render_markdown(summary)))
    assert "cost in test_tone · gate passes (fails on score only)" in line
    # without the cost tolerance the mean's rise of 0.3 is an improvement
    unflagged = compared(before, better)
    assert unflagged.verdict == "improved"
    assert first_block(parse(render_markdown(unflagged))).startswith(
        "🟢 Improved · mean up in test_tone · gate passes"
    )


def test_a_drop_the_gate_does_not_flag_is_lower_not_regressed() -> None:
    old = [result("test_a", f"c{i}", 1.0) for i in range(3)]
    # one case of three falls: mean -0.33, p = 1/2 (sign flip over one changed case), and
    # one newly failing case is under the conservative rule's 2: no regression
    new = [result("test_a", "c0", 0.0), *old[1:]]
    summary = compared(old, new)
    assert summary.verdict == "unchanged" and summary.groups[0].verdict == "lower"
    tokens = parse(render_markdown(summary))
    assert first_block(tokens).startswith(
        "⚪ Unchanged · mean down in test_a, not significant · gate passes"
    )
    assert table_with(tokens, "Group", "Shared cases")[1][-1] == "lower, not significant"


def test_a_session_without_eval_tests_writes_no_summary(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile("def test_plain():\n    assert True\n")
    result = pytester_env.runpytest("--llmeval-summary-md=summary.md")
    result.assert_outcomes(passed=1)
    assert not (pytester_env.path / "summary.md").exists()
    assert "markdown summary" not in result.stdout.str()


HOSTILE = [
    "x|y",
    "a`b``c",
    "<script>alert(1)</script>",
    "line\nbreak",
    "[click](javascript:alert(1))",
    "**bold** _it_ @octocat #12",
    "`edge`",
    "back\\|slash",
]


def test_hostile_test_ids_stay_inside_their_code_spans() -> None:
    def run(score: float) -> list[EvalResult]:
        cases = [result("test_x", "", score, case_id=f"{FILE}::test_x[{n}]") for n in HOSTILE]
        evil = result("evil", "", 1.0, case_id="g|<b>`\n")
        return [*cases, evil.model_copy(update={"group": "grp|<b>`\nx"})]

    old, new = run(1.0), run(0.0)
    text = render_markdown(compared(old, new))
    tokens = parse(text)
    rendered = html(text)
    assert "<script" not in rendered and "<b>" not in rendered
    assert "href" not in rendered and "<em>" not in rendered
    # every group row keeps its seven cells, the hostile label whole in its first
    rows = table_with(tokens, "Group", "Shared cases")[1:]
    assert all(len(row) == 7 for row in rows)
    labels = [row[0] for row in rows]
    assert "grp|<b>`\\nx" in labels
    items = [inline_text(t) for t in tokens if t.type == "inline" and t.level == 3]
    for name in HOSTILE:
        shown = name.replace("\n", "\\n")
        assert f"{FILE}::test_x[{shown}]: 1.00 → 0.00" in items


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "`plain`"),
        ("a`b", "``a`b``"),
        ("`x`", "`` `x` ``"),
        ("a|b", "`a|b`"),
        ("new\nline", "`new\\nline`"),
        ("", "*(empty)*"),
    ],
)
def test_a_code_span_holds_any_text(text: str, expected: str) -> None:
    assert code(text) == expected


def test_a_pipe_is_escaped_only_in_a_table_cell() -> None:
    assert code("a|b", table=True) == "`a\\|b`"


def test_prose_holding_user_text_is_no_markup() -> None:
    text = "a *b* _c_ [d](e) <i>f</i> &amp; `g` | h ~~i~~ \\ !"
    rendered = html(f"x {plain(text)}")
    assert (
        rendered == "<p>x a *b* _c_ [d](e) &lt;i&gt;f&lt;/i&gt; &amp;amp; `g` | h ~~i~~ \\ !</p>\n"
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "–"), (0.0, "$0.00"), (0.5, "$0.50"), (0.001, "$0.001"), (0.0123456, "$0.012346"),
     (0.0000012, "$0.000001"), (1.5, "$1.50"), (1234.5, "$1,234.50")],
)  # fmt: skip
def test_dollars_show_what_a_replayed_call_costs(value: float | None, shown: str) -> None:
    assert usd(value) == shown


NAME = "tests/evals/test_refund_policy_answers.py::test_answers_follow_the_policy"


def left_out(tokens: list[Any]) -> list[int]:
    """The counts the truncation notes give, in order."""
    notes = [t.content for t in tokens if t.type == "inline" and t.content.startswith("*… and ")]
    for note in notes:
        assert note.endswith(f"not shown ({DEFAULT_FULL_LISTS}).*")
    return [int(note.split()[2].replace(",", "")) for note in notes]


def test_ten_thousand_cases_stay_under_githubs_comment_limit() -> None:
    count = 10_000
    old = [result("t", "", 1.0, case_id=f"{NAME}[case-{i:05d}]") for i in range(count)]
    # every tenth case falls: 1,000 newly failing cases and 1,000 score changes
    new = [
        result("t", "", 0.0 if i % 10 == 0 else 1.0, case_id=f"{NAME}[case-{i:05d}]")
        for i in range(count)
    ]
    text = render_markdown(compared(old, new))
    assert len(text) < GITHUB_COMMENT_LIMIT
    tokens = parse(text)
    assert first_block(tokens).startswith("🔴 Regressed")
    items = [inline_text(t) for t in tokens if t.type == "inline" and t.level == 3]
    flipped = [item for item in items if not item.endswith("(-1.00)")]
    changes = [item for item in items if item.endswith("(-1.00)")]
    # each list says how many it leaves out: with what it shows, all 1,000 cases
    assert left_out(tokens) == [1_000 - len(flipped), 1_000 - len(changes)]
    assert flipped[0] == f"{NAME}[case-00000]: 1.00 → 0.00"
    assert "This summary leaves out" in text.rsplit("---", 1)[-1]


def test_ten_thousand_cases_in_every_list_stay_under_the_limit_too() -> None:
    summary = compared(OLD, NEW)
    group = summary.groups[0]
    many = [f"{NAME}[case-{i:05d}]" for i in range(10_000)]
    changes = [
        CaseChange(case=case, old_score=1.0, new_score=0.0, old_passed=True, new_passed=False)
        for case in many
    ]
    worst = summary.model_copy(
        update={
            "groups": [
                group.model_copy(
                    update={
                        "newly_failing": many,
                        "newly_passing": many,
                        "new_cases": many,
                        "vanished_cases": many,
                        "score_changes": changes,
                    }
                )
            ]
        }
    )
    text = render_markdown(worst)
    assert len(text) < GITHUB_COMMENT_LIMIT
    tokens = parse(text)
    summaries = [t.content.strip() for t in tokens if t.type == "html_block"]
    assert "<details><summary>Newly failing (10,000)</summary>" in summaries
    assert "<details><summary>New and vanished, not compared (20,000)</summary>" in summaries
    shown = sum(1 for t in tokens if t.type == "list_item_open")
    # four lists cut (newly failing, newly passing, score changes, new and vanished):
    # what they show and what their notes count add up to every item
    counts = left_out(tokens)
    assert len(counts) == 4 and shown > 0
    assert shown + sum(counts) == 3 * 10_000 + 20_000


def test_a_tiny_limit_still_gives_the_verdict_and_a_note() -> None:
    text = render_markdown(compared(OLD, NEW), max_chars=300)
    assert len(text) <= 300
    assert text.startswith("🔴 **Regressed**")
    assert text.rstrip().endswith("`llmeval diff OLD NEW --format json`.*")


def test_a_run_alone_is_summarised_by_its_own_results() -> None:
    summary = summarize_run(aggregate_session(NEW), name="this run", note="no baseline at b.json")
    assert summary.verdict == "failed"  # five answers below threshold, no min_pass_rate
    # mean (3 x 1.0 + 4 x 0.9) / 12 = 0.55
    text = render_markdown(summary)
    tokens = parse(text)
    assert first_block(tokens) == (
        "🔴 Failed · 7 cases of 12 passed in 2 groups · mean 0.55 · failing: test_answers"
    )
    assert table_with(tokens, "Group", "Cases")[1][:4] == ["test_answers", "8", "0.38", "38%"]
    assert "Run `this run`, not compared: no baseline at b.json." in text
    assert "<details><summary>Failing cases (5)</summary>" in text


def test_the_variants_of_a_report_get_a_short_section() -> None:
    variants = [
        {
            "group": "tests/test_bot.py::test_answers",
            "axis": "model",
            "reference": "gpt-4.1",
            "variants": [
                {"name": "gpt-4.1", "n": 8, "mean": 0.9, "pass_rate": 1.0,
                 "cost_per_case_usd": 0.01, "meets_bar": True},
                {"name": "gpt|mini", "n": 8, "mean": 0.88, "pass_rate": 0.875,
                 "meets_bar": True},
                {"name": "nano"},  # a variant the comparison knows little of
            ],
            "versus": [
                {"name": "gpt|mini", "verdict": "no_difference", "mean_diff": -0.02},
            ],
            "recommended": "gpt|mini",
            "reason": "cheapest that meets the bar <b>*and*</b> [is](x) within 0.05",
            "pareto": ["gpt|mini", "gpt-4.1"],
        },
        {"group": "tests/test_bot.py::test_tone", "recommended": None, "reason": "no variant"},
    ]  # fmt: skip
    text = render_markdown(compared(OLD, NEW, variants=variants))
    tokens = parse(text)
    table = table_with(tokens, "Variant")
    assert table[1:] == [
        ["gpt-4.1 ◆", "8", "0.90", "100%", "$0.01", "reference", "yes"],
        ["gpt|mini ◆", "8", "0.88", "88%", "–", "no_difference (-0.02)", "yes"],
        ["nano", "–", "–", "–", "–", "–", "–"],
    ]
    rendered = html(text)
    assert "<b>" not in rendered and "<em>" not in rendered and "href" not in rendered
    heads = [inline_text(t) for t in tokens if t.type == "inline" and "over" in t.content]
    assert heads == [
        "tests/test_bot.py::test_answers over model: recommended gpt|mini (cheapest that "
        "meets the bar <b>*and*</b> [is](x) within 0.05)",
        "tests/test_bot.py::test_tone over variant: none qualifies (no variant)",
    ]


# --- the command ------------------------------------------------------------------


def test_diff_json_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = write(tmp_path, "old.json", OLD), write(tmp_path, "new.json", NEW)
    assert main(["diff", old, new, "--format", "json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert list(data)[0] == "schema_version" and data["schema_version"] == 1
    assert data["verdict"] == "regressed" and data["gate"]["fails"] is True
    summary = ReviewSummary.model_validate_json(out)
    assert dump_model(summary) == out
    assert summary == compared(OLD, NEW).model_copy(update={"old": old, "new": new})
    answers = summary.groups[0]
    assert answers.newly_failing == [f"{FILE}::test_answers[c{i}]" for i in range(5)]
    assert answers.old_latency_p50_s == 0.3 and answers.new_latency_p50_s == 0.6


def test_diff_markdown_against_a_baseline_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "llmeval-baseline.json"
    write_baseline(baseline, baseline_from_aggregate(aggregate_session(OLD)))
    new = write(tmp_path, "new.json", NEW)
    assert main(["diff", str(baseline), new, "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    tokens = parse(text)
    assert first_block(tokens).startswith("🔴 Regressed · score in test_answers")
    # a baseline keeps each group's cost, not its latency percentiles
    costs = table_with(tokens, "")
    assert costs[1][1:3] == ["$0.012 → $0.024 (+100%)", "$0.001 → $0.002 (+100%)"]
    assert costs[1][3] == "0.60 s"


def test_diff_uses_the_recorded_gate_settings_and_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path, "old.json", OLD)
    new = write(tmp_path, "new.json", NEW, fail_on=["cost"], cost_tolerance=0.5)
    assert main(["diff", old, new, "--format", "json"]) == 0
    gate = json.loads(capsys.readouterr().out)["gate"]
    assert gate["fail_on"] == ["cost"] and gate["failing_kinds"] == ["cost"]
    assert gate["flagged_kinds"] == ["score", "cost"]
    assert main(["diff", old, new, "--format", "json", "--fail-on", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["gate"]["fails"] is False


def test_diff_refuses_a_file_that_is_neither_report_nor_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "nonsense": true}')
    new = write(tmp_path, "new.json", NEW)
    assert main(["diff", str(bad), new, "--format", "markdown"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llmeval diff: error: {bad}: invalid report at ")


# --- pytest --llmeval-summary-md ----------------------------------------------------

QUESTIONS = [f"question {i}" for i in range(8)]

SUITE = quality_suite(QUESTIONS)


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_app=SUITE)
    script_quality(fake_provider, dict.fromkeys(QUESTIONS, 0.9))
    pytester_env.runpytest("--llmeval-update-baseline").assert_outcomes(passed=8)
    return pytester_env


def test_the_session_writes_the_summary_against_its_baseline_serial_and_under_xdist(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    degraded = dict.fromkeys(QUESTIONS, 0.9)
    for q in QUESTIONS[:4]:
        degraded[q] = 0.2
    script_quality(fake_provider, degraded)
    suite.runpytest("--llmeval-record=all")  # the new answers, recorded once
    fake_provider.reset()  # replayed from here on: nothing may reach the provider
    serial = suite.runpytest("--llmeval-record=none", "--llmeval-summary-md=out/serial.md")
    xdist = suite.runpytest("--llmeval-record=none", "--llmeval-summary-md=out/n2.md", "-n", "2")
    for run, name in ((serial, "serial"), (xdist, "n2")):
        assert run.ret == pytest.ExitCode.TESTS_FAILED  # the regression fails the session
        run.stdout.fnmatch_lines([f"*- generated llm_eval markdown summary: out/{name}.md -*"])
    assert fake_provider.requests == []
    text = (suite.path / "out" / "serial.md").read_text(encoding="utf-8")
    # replayed calls keep their recorded latency and cost: the same bytes either way,
    # written once (no temp file left by a second writer)
    assert (suite.path / "out" / "n2.md").read_text(encoding="utf-8") == text
    assert sorted(os.listdir(suite.path / "out")) == ["n2.md", "serial.md"]
    tokens = parse(text)
    verdict = first_block(tokens)
    assert verdict.startswith("🔴 Regressed · score in test_answers · gate fails on score")
    assert "rule auto: decided by replayed" in verdict
    assert "Compared `llmeval-baseline.json` → `this run`" in text
    groups = table_with(tokens, "Group", "Shared cases")
    # 8 cases: 0.9 -> (4 x 0.2 + 4 x 0.9) / 8 = 0.55; pass rate 100% -> 50%
    assert groups[1][:6] == ["test_answers", "8", "0.90 → 0.55", "-0.35", "100% → 50%", "0.062"]
    items = [inline_text(t) for t in tokens if t.type == "inline" and t.level == 3]
    assert items[:4] == [f"test_app.py::test_answers[question {i}]: 0.90 → 0.20" for i in range(4)]
    costs = table_with(tokens, "")
    assert costs[1][0] == "All groups" and costs[1][1].startswith("$")


def test_a_run_without_a_baseline_is_summarised_alone(suite: pytest.Pytester) -> None:
    (suite.path / "llmeval-baseline.json").unlink()
    run = suite.runpytest("--llmeval-record=none", "--llmeval-summary-md=summary.md")
    assert run.ret == pytest.ExitCode.OK
    text = (suite.path / "summary.md").read_text(encoding="utf-8")
    assert first_block(parse(text)) == "🟢 Passed · 8 cases of 8 passed in 1 group · mean 0.90"
    assert "Run `this run`, not compared: no baseline at llmeval-baseline.json." in text


def test_a_summary_that_cannot_be_written_is_a_file_error(suite: pytest.Pytester) -> None:
    (suite.path / "taken").mkdir()
    run = suite.runpytest("--llmeval-record=none", "--llmeval-summary-md=taken")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stdout.fnmatch_lines(["pytest-llm-eval: cannot write taken: *"])
    assert "generated llm_eval markdown summary" not in run.stdout.str()


def test_the_option_has_an_ini_twin(suite: pytest.Pytester) -> None:
    suite.makeini("[pytest]\nllmeval_summary_md = reports/summary.md\n")
    assert suite.runpytest("--llmeval-record=none").ret == pytest.ExitCode.OK
    assert (
        (suite.path / "reports" / "summary.md")
        .read_text(encoding="utf-8")
        .startswith("⚪ **Unchanged**")
    )
