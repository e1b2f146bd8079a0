"""The `llmeval` console tool, end to end: show, diff, merge, gate, baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_llmeval.cli import main
from pytest_llmeval.core.files import dump_model
from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.baseline import baseline_from_aggregate, load_baseline, write_baseline
from pytest_llmeval.records.models import EvalResult, Score
from pytest_llmeval.reporting.json import build_report, load_report, write_report

FILE = "tests/test_bot.py"


def result(function: str, case: str, score: float, repeat: int | None = None) -> EvalResult:
    case_id = f"{FILE}::{function}[{case}]"
    nodeid = case_id if repeat is None else f"{FILE}::{function}[{case}-r{repeat}]"
    return EvalResult(
        nodeid=nodeid,
        case_id=case_id,
        group=f"{FILE}::{function}",
        repeat_index=repeat,
        threshold=0.5,
        aggregate="mean",
        scores=[Score(name="quality", value=score)],
        score=score,
        status="passed" if score >= 0.5 else "below",
        duration_s=0.1,
    )


GOOD = [result("test_answers", f"c{i}", 1.0) for i in range(8)] + [
    result("test_summaries", f"s{i}", 0.9, repeat=r) for i in range(3) for r in (1, 2)
]
# five of eight answers fall from 1.0 to 0.0: p = 2^-5 = 0.03125 < 0.05
BAD = [result("test_answers", f"c{i}", 0.0 if i < 5 else 1.0) for i in range(8)] + GOOD[8:]


def write(tmp_path: Path, name: str, results: list[EvalResult], **settings: object) -> str:
    path = tmp_path / name
    write_report(path, build_report(results, settings=settings, duration_s=1.0))
    return str(path)


def baseline_file(tmp_path: Path, results: list[EvalResult] = GOOD) -> str:
    path = tmp_path / "llmeval-baseline.json"
    write_baseline(path, baseline_from_aggregate(aggregate_session(results)))
    return str(path)


def test_show_prints_the_group_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = write(tmp_path, "r.json", BAD)
    assert main(["show", report]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{report}: pytest-llm-eval ")
    assert out[1].split() == [
        "group",
        "n",
        "pass",
        "below",
        "fail",
        "score",
        "(95%",
        "CI)",
        "pass",
        "rate",
    ]
    assert out[2].split()[:5] == ["test_answers", "8", "3", "5", "0"]
    assert out[3].startswith("test_summaries  (2 runs)")
    assert out[-1] == (
        "llm_eval: 11 cases (14 test items: the runs of a repeated case count as one case), "
        "6 passed, 5 below threshold · mean 0.52"
    )


def test_show_prints_the_baseline_verdict_a_report_carries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    merged = str(tmp_path / "merged.json")
    assert (
        main(
            [
                "merge",
                write(tmp_path, "r.json", BAD),
                "-o",
                merged,
                "--baseline",
                baseline_file(tmp_path),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["show", merged]) == 0
    assert "REGRESSION (score) in test_answers" in capsys.readouterr().out


def test_diff_shows_deltas_and_flipped_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = write(tmp_path, "old.json", GOOD), write(tmp_path, "new.json", BAD)
    assert main(["diff", old, new]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{old} -> {new}"
    assert out[1].split() == [
        "group",
        "n",
        "mean",
        "Δ",
        "mean",
        "pass",
        "rate",
        "Δ",
        "pass",
        "p",
        "flipped",
    ]
    assert out[2].split() == [
        "test_answers",
        "8",
        "1.00",
        "->",
        "0.38",
        "-0.62",
        "100%",
        "->",
        "38%",
        "-62%",
        "0.031",
        "-5",
        "+0",
    ]
    assert out[3].split() == [
        "test_summaries",
        "3",
        "0.90",
        "->",
        "0.90",
        "0.00",
        "100%",
        "->",
        "100%",
        "0%",
        "1.00",
        "-0",
        "+0",
    ]
    assert out[4:] == [f"  now failing: {FILE}::test_answers[c{i}]" for i in range(5)]


def test_merge_of_shards_equals_a_single_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    everything = BAD + [result("test_extra", f"e{i}", i / 10) for i in range(10)]
    # an uneven split, with the two repeats of one case in different shards
    shards = [everything[0::3], everything[1::3], everything[2::3]]
    paths = [
        write(tmp_path, f"shard{i}.json", shard, tolerance=0.02) for i, shard in enumerate(shards)
    ]
    merged = tmp_path / "merged.json"
    assert main(["merge", *paths, "-o", str(merged)]) == 0
    assert capsys.readouterr().out == f"merged 3 reports (24 results, 21 cases) into {merged}\n"
    report = load_report(merged)
    assert report.aggregate == aggregate_session(everything)
    assert [r.nodeid for r in report.results] == sorted(r.nodeid for r in everything)
    assert report.settings == {"tolerance": 0.02}
    assert report.baseline is None
    single = build_report(everything, settings={"tolerance": 0.02})
    assert (
        json.loads(dump_model(report))["aggregate"] == json.loads(dump_model(single))["aggregate"]
    )


def test_merge_compares_with_a_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [write(tmp_path, "a.json", BAD[:4]), write(tmp_path, "b.json", BAD[4:])]
    merged = tmp_path / "merged.json"
    assert main(["merge", *paths, "-o", str(merged), "--baseline", baseline_file(tmp_path)]) == 0
    comparison = load_report(merged).baseline
    assert comparison is not None and comparison.regressed
    assert comparison.source == str(tmp_path / "llmeval-baseline.json")


def test_merge_accepts_the_same_result_twice_but_not_two_different_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    twice = [write(tmp_path, "a.json", GOOD[:3]), write(tmp_path, "b.json", GOOD[2:5])]
    assert main(["merge", *twice, "-o", str(tmp_path / "m.json")]) == 0
    assert len(load_report(tmp_path / "m.json").results) == 5
    capsys.readouterr()
    clash = write(tmp_path, "c.json", [result("test_answers", "c2", 0.1)])
    assert main(["merge", twice[0], clash, "-o", str(tmp_path / "n.json")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"llmeval merge: error: {clash}: {FILE}::test_answers[c2] is also in {twice[0]} with a "
        "different result; shards must split the tests, not repeat them (check the CI "
        "matrix's split, or merge the reports of one run only)\n"
    )
    assert not (tmp_path / "n.json").exists()


def test_merge_notes_shards_with_different_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path, "a.json", GOOD[:3], tolerance=0.02)
    b = write(tmp_path, "b.json", GOOD[3:], tolerance=0.05)
    assert main(["merge", a, b, "-o", str(tmp_path / "m.json")]) == 0
    assert f"note: {b} ran with other settings than {a}" in capsys.readouterr().err


def test_gate_passes_without_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = baseline_file(tmp_path)
    assert main(["gate", write(tmp_path, "r.json", GOOD), "--baseline", baseline]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        f"baseline {baseline}: no regression (no group's mean dropped)",
        "  gate auto (tolerance 0.02, alpha 0.05), Holm correction across groups (no group's "
        "test could reach alpha)",
        "  test_answers: no regression, mean 0.00 over 8 shared cases, within the tolerance 0.02",
    ]


def test_gate_fails_on_regression_with_the_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = baseline_file(tmp_path)
    assert main(["gate", write(tmp_path, "r.json", BAD), "--baseline", baseline]) == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == f"baseline {baseline}: REGRESSION (score) in test_answers; see the REGRESSION section"
    )
    # the unchanged test_summaries could not reject, so Holm's family is test_answers alone
    assert out[1] == (
        "  gate auto (tolerance 0.02, alpha 0.05), Holm correction across groups (1 group "
        "tested: nothing to adjust)"
    )
    section = out.index(" REGRESSION ".center(72, "="))
    assert out[section + 1] == f"against baseline {baseline} (tolerance 0.02, alpha 0.05):"
    assert out[section + 2] == (
        "test_answers: mean -0.62 (1.00 -> 0.38 over 8 shared cases), decided by the "
        "statistical rule: p=0.031 (paired sign-flip over cases); McNemar p=0.031"
    )
    assert out[section + 3].startswith("  detects drops >= 0.62 (the statistical rule")
    assert out[section + 4] == "  newly failing (5):"


def test_gate_options_override_the_report_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = baseline_file(tmp_path)
    # recorded: alpha 0.01 and the statistical rule; 0.03125 is not < 0.01
    report = write(tmp_path, "r.json", BAD, alpha=0.01, gate="statistical")
    assert main(["gate", report, "--baseline", baseline]) == 0
    assert main(["gate", report, "--baseline", baseline, "--alpha", "0.05"]) == 1
    assert (
        main(["gate", report, "--baseline", baseline, "--alpha", "0.05", "--tolerance", "0.7"]) == 0
    )
    assert (
        main(["gate", report, "--baseline", baseline, "--alpha", "0.05", "--fail-on", "cost"]) == 0
    )
    # under --gate auto, 5 changed cases cannot reach 0.01 (2^-5): the conservative rule
    # decides, and 5 newly failing cases are a regression
    capsys.readouterr()
    assert main(["gate", report, "--baseline", baseline, "--gate", "auto"]) == 1
    assert "decided by the conservative rule (5 cases changed, too few for p < 0.01)" in (
        capsys.readouterr().out
    )
    assert main(["gate", report, "--baseline", baseline, "--gate", "conservative"]) == 1
    # a rule the report recorded that this version does not know is bad input
    odd = write(tmp_path, "odd.json", BAD, gate="bayesian")
    assert main(["gate", odd, "--baseline", baseline]) == 2
    assert "the report's setting gate='bayesian' is not one of auto, statistical, conservative" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "{path}: no such baseline file"),
        (b"{oops", "{path}: not valid JSON (line 1, column 2"),
        (
            b'{"schema_version": 7, "groups": {}}',
            "{path}: this baseline has schema_version 7, newer",
        ),
    ],
)
def test_gate_on_a_bad_baseline_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, expected: str
) -> None:
    path = tmp_path / "llmeval-baseline.json"
    if content is not None:
        path.write_bytes(content)
    assert main(["gate", write(tmp_path, "r.json", GOOD), "--baseline", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("llmeval gate: error: " + expected.format(path=path))
    if content is not None:
        assert path.read_bytes() == content


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["gate", "r.json", "--baseline", "b.json", "--alpha", "2"])
    assert info.value.code == 2
    assert "'2' must be between 0 and 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["gate", "r.json", "--baseline", "b.json", "--fail-on", "speed"])
    assert info.value.code == 2


def test_baseline_command_writes_what_update_baseline_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "llmeval-baseline.json"
    assert main(["baseline", write(tmp_path, "r.json", GOOD), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"baseline {out} written: 2 groups, 11 cases\n"
    expected = tmp_path / "expected.json"
    write_baseline(expected, baseline_from_aggregate(aggregate_session(GOOD)))
    assert out.read_bytes() == expected.read_bytes()
    assert load_baseline(out) == baseline_from_aggregate(aggregate_session(GOOD))


def test_module_entry_point_reports_a_newer_report_without_traceback(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text('{"schema_version": 2}\n')
    done = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", "show", str(report)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"llmeval show: error: {report}: this report has schema_version 2, newer than this "
        "pytest-llm-eval reads (1); upgrade pytest-llm-eval (pip install -U "
        "pytest-llm-eval) to read it.\n"
    )


@pytest.mark.parametrize("command", [[], ["show"], ["diff"], ["merge"], ["gate"], ["baseline"]])
def test_every_help_text_renders(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: llmeval")


def test_version_names_the_installed_distribution() -> None:
    from importlib.metadata import version

    done = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"llmeval (pytest-llm-eval) {version('pytest-llm-eval')}\n"


SHOW_SUITE = """
import os
import openai
import pytest

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("q", ["one", "two", "three"])
def test_answers(q, llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": q}])
    llm_eval.score("quality", 0.9)
"""


def _terminal_section(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.startswith("=") and " llm_eval " in line)
    end = next(i for i, line in enumerate(lines) if line.startswith("llm_eval: "))
    return lines[start + 1 : end + 1]


def test_show_prints_the_columns_and_totals_the_terminal_printed(
    pytester_env: pytest.Pytester, fake_provider: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)  # type: ignore[attr-defined]
    pytester_env.makepyfile(test_app=SHOW_SUITE)
    assert pytester_env.runpytest("--llmeval-update-baseline").ret == 0
    run = pytester_env.runpytest("--llmeval-record=none", "--llmeval-report=report.json")
    assert run.ret == 0
    section = _terminal_section(run.outlines)
    for column in ("Δ base", "p50/p95 s", "tokens", "cost $"):
        assert column in section[0]
    shown = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", "show", "report.json"],
        cwd=pytester_env.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    # the same table (latency, tokens, cost, Δ base), verdict and totals as the run printed
    shown_lines = shown.stdout.splitlines()
    assert shown_lines[1 : len(section) + 1] == section
    # then each test's usage
    per_test = shown_lines[len(section) + 1 :]
    assert per_test[0] == "per test:" and len(per_test) == 2 + 3
    assert all(line.split()[1:3] == ["1", "(1/0)"] for line in per_test[2:])


def test_gate_fail_on_precedence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --fail-on none beats the report's setting; a report that recorded score fails on it
    baseline = baseline_file(tmp_path)
    report = write(tmp_path, "r.json", BAD, fail_on=["score"])
    assert main(["gate", report, "--baseline", baseline, "--fail-on", "none"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[0].endswith("reported only: --llmeval-fail-on is none")
    )
    assert main(["gate", report, "--baseline", baseline]) == 1
    # a report that recorded a cost-only gate does not fail on a score regression
    cost_only = write(tmp_path, "c.json", BAD, fail_on=["cost"])
    assert main(["gate", cost_only, "--baseline", baseline]) == 0
    assert main(["gate", cost_only, "--baseline", baseline, "--fail-on", "score"]) == 1
