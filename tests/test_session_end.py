"""The end of a session at scale: reports written result by result, reports that do not
keep every result's data, and no full garbage collection of the session's heap."""

from __future__ import annotations

import gc
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import to_jsonable_python

from pytest_llmeval.core.files import dump_model
from pytest_llmeval.items.session import EvalSession
from pytest_llmeval.items.settings import Settings
from pytest_llmeval.records.accounting import rollup, usage_data
from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.baseline import baseline_from_aggregate
from pytest_llmeval.records.comparison import compare_to_baseline
from pytest_llmeval.records.models import EvalResult, Inference, Score, VariantTag, result_fields
from pytest_llmeval.reporting.html import render_html, write_html, write_report_and_html
from pytest_llmeval.reporting.json import build_report, stream_report, write_report


def result(case: str, score: float, calls: int) -> EvalResult:
    nodeid = f"tests/test_bot.py::test_answers[{case}]"
    return EvalResult(
        nodeid=nodeid,
        case_id=nodeid,
        group="tests/test_bot.py::test_answers",
        threshold=0.5,
        aggregate="mean",
        scores=[Score(name="quality", value=score, reason="</script> ✓")],
        score=score,
        status="passed" if score >= 0.5 else "below",
        duration_s=0.25,
        inferences=[
            Inference(
                nodeid=nodeid,
                role="judge" if n else "app",
                provider="openai",
                model="gpt-4.1-mini",
                input_tokens=10 + n,
                output_tokens=5,
                cost_usd=0.001 * (n + 1),
                latency_s=0.3 + n,
                replayed=True,
            )
            for n in range(calls)
        ],
    )


RESULTS = [result("b", 0.2, 2), result("a", 1.0, 1), result("c", 0.75, 0)]


def _options() -> dict[str, object]:
    aggregate = aggregate_session(RESULTS)
    comparison = compare_to_baseline(aggregate, baseline_from_aggregate(aggregate), source="b.json")
    return {
        "aggregate": aggregate,
        "comparison": comparison,
        "settings": {"tolerance": 0.02, "record_mode": "none"},
        "pytest_version": "9.0.0",
        "duration_s": 1.25,
        "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    }


def test_a_streamed_report_writes_the_built_reports_bytes(tmp_path: Path) -> None:
    built = build_report(RESULTS, **_options())  # type: ignore[arg-type]
    streamed = stream_report(RESULTS, **_options())  # type: ignore[arg-type]
    assert streamed.head.results == []
    assert [r.nodeid for r in streamed.results] == sorted(r.nodeid for r in RESULTS)
    write_report(tmp_path / "built.json", built)
    write_report(tmp_path / "streamed.json", streamed)
    text = (tmp_path / "streamed.json").read_text(encoding="utf-8")
    assert text == (tmp_path / "built.json").read_text(encoding="utf-8") == dump_model(built)
    # each result carries the rollup of its own calls, as a built report's does
    usage = {r["nodeid"].split("[")[1]: r["usage"] for r in json.loads(text)["results"]}
    assert (usage["a]"]["calls"], usage["b]"]["calls"], usage["c]"]["calls"]) == (1, 2, 0)
    assert usage["b]"]["judge_calls"] == 1 and usage["b]"]["input_tokens"] == 21
    assert render_html(streamed) == render_html(built)


def test_the_report_and_the_page_written_together_are_the_files_written_alone(
    tmp_path: Path,
) -> None:
    many = [result(f"{n:03}", (n % 4) / 3, n % 3) for n in range(300)]  # a long results list
    options = {**_options(), "aggregate": aggregate_session(many), "comparison": None}
    streamed = stream_report(many, **options)  # type: ignore[arg-type]
    errors = write_report_and_html(tmp_path / "r.json", tmp_path / "r.html", streamed)
    assert errors == [None, None]
    write_report(tmp_path / "alone.json", streamed)
    write_html(tmp_path / "alone.html", streamed)
    assert (tmp_path / "r.json").read_bytes() == (tmp_path / "alone.json").read_bytes()
    assert (tmp_path / "r.html").read_bytes() == (tmp_path / "alone.html").read_bytes()
    built = build_report(many, **options)  # type: ignore[arg-type]
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == dump_model(built)
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == render_html(built)


def test_a_streamed_report_without_results_writes_an_empty_list(tmp_path: Path) -> None:
    options = _options()
    options["aggregate"] = aggregate_session([])
    options["comparison"] = None
    streamed = stream_report([], **options)  # type: ignore[arg-type]
    write_report(tmp_path / "empty.json", streamed)
    text = (tmp_path / "empty.json").read_text(encoding="utf-8")
    assert '"results": []' in text
    assert text == dump_model(build_report([], **options))  # type: ignore[arg-type]
    assert render_html(streamed) == render_html(build_report([], **options))  # type: ignore[arg-type]


def test_finish_unfreezes_the_heap_it_froze(tmp_path: Path) -> None:
    session = EvalSession(Settings(rootdir=tmp_path, report=tmp_path / "r.json"))
    for item in RESULTS:
        session.add(item.model_dump(mode="json"))
    assert gc.get_freeze_count() == 0
    outcome = session.finish()
    assert gc.get_freeze_count() == 0
    assert outcome.aggregate.cases == 3
    assert len(json.loads((tmp_path / "r.json").read_text())["results"]) == 3


def test_finish_leaves_a_freeze_it_did_not_make(tmp_path: Path) -> None:
    session = EvalSession(Settings(rootdir=tmp_path))
    session.add(RESULTS[0].model_dump(mode="json"))
    gc.freeze()
    try:
        assert gc.get_freeze_count() > 0
        session.finish()
        # still frozen (objects freed meanwhile leave the count, so it is not compared)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0.5, min_pass_rate=0.5)
@pytest.mark.parametrize("case", ["a", "b"])
def test_answers(case, llm_eval):
    llm_eval.score("quality", 1.0 if case == "a" else 0.25)
"""

# pytest's terminal reporter keeps every report; what is left of the result data on them
# once the session is over is written out at the very end
CONFTEST = """
import json

def pytest_unconfigure(config):
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    kept = {
        report.nodeid.split("::")[-1]: getattr(report, "llm_eval", None)
        for reports in reporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
    }
    with open("kept.json", "w") as handle:
        json.dump(kept, handle, sort_keys=True)
"""


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_reports_keep_only_the_status_once_the_session_has_the_result(
    pytester_env: pytest.Pytester, xdist_args: list[str]
) -> None:
    pytester_env.makepyfile(test_suite=SUITE)
    pytester_env.makeconftest(CONFTEST)
    run = pytester_env.runpytest_subprocess if xdist_args else pytester_env.runpytest
    result = run("--llmeval-report=report.json", "--junitxml=out.xml", *xdist_args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 passed, 1 below*"])
    kept = json.loads((pytester_env.path / "kept.json").read_text())
    assert kept == {
        "test_answers[a]": {"status": "passed"},
        "test_answers[b]": {"status": "below"},
    }
    # the session had the whole result: the report and the JUnit properties have it
    report = json.loads((pytester_env.path / "report.json").read_text())
    assert [r["score"] for r in report["results"]] == [1.0, 0.25]
    assert "llm_eval.score.quality" in (pytester_env.path / "out.xml").read_text()


CALLS = st.builds(
    Inference,
    nodeid=st.just("t"),
    provider=st.sampled_from(["openai", "anthropic"]),
    model=st.sampled_from([None, "a", "b"]),
    role=st.sampled_from(["app", "judge", "simulator", "evaluation"]),
    input_text=st.sampled_from(["x", "y"]),
    status=st.sampled_from([None, 200, 429, 500]),
    error=st.sampled_from([None, "boom"]),
    priced=st.booleans(),
    price_source=st.sampled_from([None, "by model name; host h unknown", "catalogue"]),
    unpriced_reason=st.sampled_from([None, "no known price", "gateway"]),
    cost_usd=st.sampled_from([None, 0.0, 1e-7, 0.1, 3.3]),
    spent_usd=st.sampled_from([0.0, 0.2]),
    latency_s=st.sampled_from([None, 0.1, 0.5, 2.0]),
    ttft_s=st.sampled_from([None, 0.05, 0.3]),
    replayed=st.booleans(),
    injected_fault=st.sampled_from([None, "timeout"]),
    input_tokens=st.sampled_from([None, 0, 3]),
    cache_write_tokens=st.sampled_from([None, 2]),
)


@given(st.lists(st.lists(CALLS, max_size=4), max_size=4))
def test_a_reports_usage_data_is_the_rollups_json(per_test: list[list[Inference]]) -> None:
    # the streamed report writes usage_data; a built report serialises the rollup model
    as_model = to_jsonable_python(rollup(per_test), inf_nan_mode="null")
    as_data = to_jsonable_python(usage_data(per_test), inf_nan_mode="null")
    assert json.dumps(as_data, sort_keys=True) == json.dumps(as_model, sort_keys=True)


RUNS = st.builds(
    EvalResult,
    nodeid=st.just("t.py::test_a[1]"),
    case_id=st.just("t.py::test_a[1]"),
    group=st.just("t.py::test_a"),
    threshold=st.sampled_from([0.0, 0.5, 1]),
    aggregate=st.just("mean"),
    status=st.sampled_from(["passed", "below", "failed", "error", "skipped"]),
    score=st.sampled_from([None, 0.0, 0.25, 1]),
    scores=st.lists(
        st.builds(
            Score,
            name=st.sampled_from(["a", "b", "c"]),
            value=st.sampled_from([0.0, 0.3, 1]),
            threshold=st.sampled_from([None, 0.5]),
        ),
        max_size=3,
    ),
    adaptive=st.booleans(),
    repeat_index=st.sampled_from([None, 1]),
)


def test_a_results_rules_across_runs_are_written_only_when_set() -> None:
    # files of suites without repeats or variants keep their bytes: the fields are left out
    plain = to_jsonable_python(RESULTS[0])
    assert {"case_rule", "pass_k", "min_case_pass_rate", "adaptive", "variant"} & set(
        plain
    ) == set()
    ruled = RESULTS[0].model_copy(
        update={"case_rule": "pass^k", "pass_k": 2, "min_case_pass_rate": 0.5, "adaptive": True}
    )
    data = ruled.model_dump(mode="json")
    assert (data["case_rule"], data["pass_k"], data["min_case_pass_rate"], data["adaptive"]) == (
        "pass^k",
        2,
        0.5,
        True,
    )
    assert "variant" not in data


@given(st.lists(st.lists(st.lists(CALLS, max_size=3), max_size=3), max_size=3))
def test_tallies_merged_are_the_tally_of_all_their_tests(
    parts: list[list[list[Inference]]],
) -> None:
    # the session's usage is its groups' tallies merged, not a second walk of every call
    from pytest_llmeval.records.accounting import UsageTally

    merged = UsageTally()
    for part in parts:
        tally = UsageTally()
        for inferences in part:
            tally.add(inferences)
        merged.merge(tally)
    every_test = [inferences for part in parts for inferences in part]
    assert merged.data() == usage_data(every_test)
    assert merged.rollup() == rollup(every_test)


@given(
    RUNS,
    st.fixed_dictionaries(
        {},
        optional={
            "case_rule": st.sampled_from([None, "pass^k", "pass@k"]),
            "pass_k": st.sampled_from([None, 1, 3]),
            "min_case_pass_rate": st.sampled_from([None, 0.0, 0.5]),
            "variant": st.sampled_from(
                [None, VariantTag(axis="m", label="b", index=1, case="t", reference="a")]
            ),
            "started_at": st.sampled_from([None, 1.5]),
            "metadata": st.sampled_from([{}, {"k": [1, 2.5, None], "when": math.inf}]),
            "inferences": st.lists(CALLS, max_size=2),
            "message": st.sampled_from([None, "why \ud800"]),
        },
    ),
)
def test_a_reports_result_data_is_the_results_json(run: EvalResult, update: dict) -> None:
    # the report serialises result_fields, not the model through its wrap serialiser
    result = EvalResult.model_validate({**run.model_dump(), **update})
    fields = to_jsonable_python(result_fields(result), inf_nan_mode="null")
    assert fields == to_jsonable_python(result, inf_nan_mode="null")
    assert json.dumps(fields, sort_keys=True) == json.dumps(
        to_jsonable_python(result, inf_nan_mode="null"), sort_keys=True
    )
