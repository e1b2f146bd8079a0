"""The JSON report: complete, versioned, stable apart from its volatile fields."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_llmeval.core.errors import FileFormatError
from pytest_llmeval.core.files import dump_model
from pytest_llmeval.items.settings import Settings
from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.baseline import baseline_from_aggregate
from pytest_llmeval.records.comparison import compare_to_baseline
from pytest_llmeval.records.models import EvalResult, Inference, Score
from pytest_llmeval.reporting.json import (
    VOLATILE_FIELDS,
    Report,
    build_report,
    load_report,
    report_settings,
    without_volatile,
    write_report,
)


def result(case: str, score: float, duration: float = 0.5) -> EvalResult:
    nodeid = f"tests/test_bot.py::test_answers[{case}]"
    return EvalResult(
        nodeid=nodeid,
        case_id=nodeid,
        group="tests/test_bot.py::test_answers",
        threshold=0.5,
        aggregate="mean",
        scores=[Score(name="quality", value=score, reason="ünïcode ✓")],
        score=score,
        status="passed" if score >= 0.5 else "below",
        duration_s=duration,
        inferences=[
            Inference(
                nodeid=nodeid,
                role="app",
                provider="openai",
                model="gpt-4.1-mini",
                input_tokens=10,
                output_tokens=5,
                cost_usd=0.001,
                latency_s=0.3,
                replayed=True,
            )
        ],
    )


RESULTS = [result("b", 0.2), result("a", 1.0), result("c", 0.75)]


def build(results: list[EvalResult], **overrides: object) -> Report:
    baseline = baseline_from_aggregate(aggregate_session(results))
    comparison = compare_to_baseline(aggregate_session(results), baseline, source="b.json")
    options: dict[str, object] = {
        "comparison": comparison,
        "settings": {"tolerance": 0.02, "alpha": 0.05, "record_mode": "none"},
        "pytest_version": "9.0.0",
        "duration_s": 1.25,
        "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    options.update(overrides)
    return build_report(results, **options)  # type: ignore[arg-type]


def test_report_holds_everything_sorted_and_versioned() -> None:
    report = build(RESULTS)
    data = json.loads(dump_model(report))
    assert list(data)[0] == "schema_version" and data["schema_version"] == 1
    assert [r["nodeid"] for r in data["results"]] == sorted(r.nodeid for r in RESULTS)
    assert data["aggregate"] == aggregate_session(RESULTS).model_dump(mode="json")
    assert data["baseline"]["source"] == "b.json"
    assert data["created_at"] == "2025-01-02T03:04:05+00:00"
    assert data["duration_s"] == 1.25
    assert data["pytest_version"] == "9.0.0"
    assert data["plugin_version"]
    assert data["volatile_fields"] == list(VOLATILE_FIELDS)


def test_report_names_no_host() -> None:
    text = dump_model(build(RESULTS))
    assert "hostname" not in text
    node = platform.node()
    if len(node) >= 4:
        assert node not in text


def test_two_builds_differ_only_in_volatile_fields() -> None:
    first = dump_model(build(RESULTS))
    second = dump_model(
        build(
            [result(r.nodeid[-2], r.score or 0.0, duration=9.0) for r in reversed(RESULTS)],
            duration_s=99.0,
            created_at=datetime(2030, 6, 7, 8, 9, 10, tzinfo=UTC),
        )
    )
    assert first != second
    changed = [
        (old, line)
        for old, line in zip(first.splitlines(), second.splitlines(), strict=True)
        if old != line
    ]
    # the two top-level fields, and each result's line (one line per result)
    assert {old.split(":")[0].strip() for old, _ in changed[:2]} == {
        '"created_at"',
        '"duration_s"',
    }
    assert len(changed) == 2 + len(RESULTS)
    assert all('"nodeid"' in old and '"duration_s": 9.0' in line for old, line in changed[2:])
    stripped = [
        json.dumps(without_volatile(json.loads(text)), sort_keys=True) for text in (first, second)
    ]
    assert stripped[0] == stripped[1]


def test_same_inputs_give_the_same_bytes() -> None:
    assert dump_model(build(RESULTS)) == dump_model(build(list(reversed(RESULTS))))


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    report = build(RESULTS)
    write_report(path, report)
    assert load_report(path) == report
    assert path.read_text(encoding="utf-8").endswith("}\n")
    assert "ünïcode ✓" in path.read_text(encoding="utf-8")


def test_half_an_emoji_and_nan_are_written_and_read_back(tmp_path: Path) -> None:
    """A lone surrogate (half an emoji in a reply) is escaped; NaN is written as null."""
    broken = result("d", 0.9)
    inference = broken.inferences[0].model_copy(update={"output_text": "cut \ud83d here"})
    score = broken.scores[0].model_copy(update={"reason": "nan below"})
    item = broken.model_copy(update={"inferences": [inference], "scores": [score]})
    report = build([item]).model_copy(update={"duration_s": float("nan")})
    path = tmp_path / "report.json"
    write_report(path, report)
    text = path.read_text(encoding="utf-8")
    assert "\\ud83d" in text and '"duration_s": null' in text
    loaded = load_report(path)
    assert loaded.results[0].inferences[0].output_text == "cut \ud83d here"
    assert loaded.duration_s is None


def test_a_corrupt_report_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"schema_version": 1, "created_at": 5}')
    with pytest.raises(FileFormatError) as info:
        load_report(path)
    assert str(info.value).startswith(f"{path}: invalid report at created_at: ")
    assert "pytest --llmeval-report=PATH" in str(info.value)


def test_report_settings_are_relative_to_the_rootdir(tmp_path: Path) -> None:
    settings = Settings(rootdir=tmp_path, cassette_dir=tmp_path / "cassettes", record_mode="none")
    picked = report_settings(settings)
    assert picked["cassette_dir"] == "cassettes"
    assert picked["record_mode"] == "none"
    assert picked["match_ignore"] == []
    assert "rootdir" not in picked and "is_ci" not in picked


def test_without_volatile_blanks_nested_paths() -> None:
    data = json.loads(dump_model(build(RESULTS)))
    blank = without_volatile(data)
    assert blank["created_at"] is None and blank["duration_s"] is None
    assert all(r["duration_s"] is None for r in blank["results"])
    assert data["created_at"] is not None  # the input is not modified


def test_the_report_records_the_strictness_of_the_budget_and_the_baseline() -> None:
    from pytest_llmeval.items.settings import Settings
    from pytest_llmeval.reporting.json import report_settings

    recorded = report_settings(Settings(max_cost_strict=True, require_baseline=True))
    assert recorded["max_cost_strict"] is True
    assert recorded["require_baseline"] is True
