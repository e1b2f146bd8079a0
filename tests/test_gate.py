"""The regression gate end to end: baseline, re-recorded degraded answers, noise, shards."""

from __future__ import annotations

import fnmatch
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProviderServer
from tests.suites import quality_suite, script_quality

# 24 questions; each answer's score is the quality figure the fake provider puts in it.
QUESTIONS = [f"question {i:02d}" for i in range(24)]

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
    pytester_env.runpytest("--llmeval-update-baseline").assert_outcomes(passed=24)
    assert (pytester_env.path / "llmeval-baseline.json").exists()
    return pytester_env


def rerecord(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest("--llmeval-record=all", "--llmeval-report=report.json", *args)


def test_degraded_answers_fail_the_session(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    degraded = dict.fromkeys(QUESTIONS, 0.9)
    for q in QUESTIONS[:8]:  # a third of the answers get much worse
        degraded[q] = 0.2
    script_quality(fake_provider, degraded)
    before = (suite.path / "llmeval-baseline.json").read_bytes()
    result = rerecord(suite)
    # every test passed on its own (min_pass_rate keeps them BELOW): the gate fails the run
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*= REGRESSION =*"])
    out = result.stdout.str()
    assert "test_answers" in out.split("REGRESSION")[-1]
    # drop = 8 * 0.7 / 24 = 0.2333; p = 2^-8 (exact sign-flip test over 8 changed cases)
    result.stdout.fnmatch_lines(["*-0.23*"])
    report = json.loads((suite.path / "report.json").read_text())
    group = report["baseline"]["groups"][0]
    assert group["regressed"] is True
    assert group["p_value"] == pytest.approx(2**-8)
    assert sorted(group["newly_failing"]) == sorted(
        f"test_app.py::test_answers[{q}]" for q in QUESTIONS[:8]
    )
    # the baseline is only ever replaced by --llmeval-update-baseline
    assert (suite.path / "llmeval-baseline.json").read_bytes() == before
    # every test passed, yet the exit status is 1: pytest's last line and the line right
    # above it say so, after the REGRESSION section
    assert result.outlines[-2] == (
        "llm_eval fails the session (exit status 1): score regression against the "
        "baseline in test_answers"
    )
    assert fnmatch.fnmatch(
        result.outlines[-1], "=*= 16 passed, 8 below, 1 llm_eval gate failure in *"
    )


def test_fail_on_none_reports_the_regression_it_does_not_fail_on(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    degraded = dict.fromkeys(QUESTIONS, 0.9)
    for q in QUESTIONS[:8]:
        degraded[q] = 0.2
    script_quality(fake_provider, degraded)
    result = rerecord(suite, "--llmeval-fail-on=none")
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "no regression" not in out
    assert "REGRESSION" not in out and "gate failure" not in out
    result.stdout.fnmatch_lines(
        [
            "baseline llmeval-baseline.json: regression (score) in test_answers, reported "
            "only: --llmeval-fail-on is none",
            "  test_answers: regression, mean -0.23 over 24 shared cases, decided by the "
            "statistical rule: p=* (reported only: --llmeval-fail-on has no score)",
        ]
    )


def test_noise_does_not_fail_the_session(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    rng = random.Random(7)
    noisy = {q: 0.9 + rng.uniform(-0.01, 0.01) for q in QUESTIONS}
    script_quality(fake_provider, noisy)
    result = rerecord(suite)
    assert result.ret == pytest.ExitCode.OK
    assert "REGRESSION" not in result.stdout.str()
    result.stdout.fnmatch_lines(["baseline llmeval-baseline.json: no regression*"])


def test_corrupt_baseline_is_an_error_and_kept(suite: pytest.Pytester) -> None:
    path = suite.path / "llmeval-baseline.json"
    path.write_text('{"schema_version": 1, "groups": ')
    result = suite.runpytest("--llmeval-record=none")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["pytest-llm-eval: *llmeval-baseline.json: not valid JSON*"])
    assert path.read_text() == '{"schema_version": 1, "groups": '


def test_shards_merge_to_the_single_run_and_gate(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    single = suite.runpytest("--llmeval-record=none", "--llmeval-report=single.json")
    assert single.ret == 0
    for shard, expr in (("a", "question and not 0"), ("b", "0")):
        suite.runpytest("--llmeval-record=none", f"--llmeval-report=shard-{shard}.json", "-k", expr)

    def llmeval(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_llmeval.cli", *args],
            cwd=suite.path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    merged = llmeval("merge", "shard-a.json", "shard-b.json", "-o", "merged.json")
    assert merged.returncode == 0, merged.stderr

    def aggregate(name: str) -> object:
        return json.loads(Path(suite.path / name).read_text())["aggregate"]

    assert aggregate("merged.json") == aggregate("single.json")
    gate = llmeval("gate", "merged.json", "--baseline", "llmeval-baseline.json")
    assert gate.returncode == 0, gate.stdout + gate.stderr


# -- the gate cannot be switched off by a typo -----------------------------------------

PLAIN_SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("case", ["a", "b"])
def test_answers(case, llm_eval):
    llm_eval.score("quality", 0.9)
"""


@pytest.mark.parametrize(
    ("how", "named_by"),
    [
        (["--llmeval-baseline=does-not-exist.json"], "--llmeval-baseline"),
        (["--llmeval-require-baseline"], "--llmeval-require-baseline"),
        (["-o", "llmeval_baseline=does-not-exist.json"], "ini option llmeval_baseline"),
        (["-o", "llmeval_require_baseline=true"], "--llmeval-require-baseline"),
    ],
    ids=["typo", "required", "ini-path", "ini-required"],
)
def test_a_named_or_required_baseline_that_is_missing_is_an_error(
    pytester_env: pytest.Pytester, how: list[str], named_by: str
) -> None:
    pytester_env.makepyfile(test_app=PLAIN_SUITE)
    result = pytester_env.runpytest(*how)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    shown = "does-not-exist.json" if "does-not-exist" in " ".join(how) else "llmeval-baseline.json"
    result.stdout.fnmatch_lines(
        [
            f"pytest-llm-eval: baseline {shown} (named by {named_by}) does not exist, so the "
            "regression gate cannot run; fix the path, or create the file with "
            "--llmeval-update-baseline and commit it"
        ]
    )
    assert "no regression" not in result.stdout.str()
    assert not (pytester_env.path / shown).exists()


def test_a_baseline_named_in_the_environment_that_is_missing_is_an_error(
    pytester_env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester_env.makepyfile(test_app=PLAIN_SUITE)
    monkeypatch.setenv("LLMEVAL_BASELINE", "gone.json")
    result = pytester_env.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        ["pytest-llm-eval: baseline gone.json (named by environment variable LLMEVAL_BASELINE)*"]
    )


def test_the_default_baseline_may_be_missing_unless_required(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_app=PLAIN_SUITE)
    result = pytester_env.runpytest()
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["no baseline at llmeval-baseline.json: run with *"])


def test_a_named_baseline_is_created_by_update_and_then_required(
    pytester_env: pytest.Pytester,
) -> None:
    pytester_env.makepyfile(test_app=PLAIN_SUITE)
    named = ("--llmeval-baseline=gate/base.json", "--llmeval-require-baseline")
    (pytester_env.path / "gate").mkdir()
    written = pytester_env.runpytest(*named, "--llmeval-update-baseline")
    assert written.ret == pytest.ExitCode.OK
    assert (pytester_env.path / "gate" / "base.json").exists()
    compared = pytester_env.runpytest(*named)
    assert compared.ret == pytest.ExitCode.OK
    compared.stdout.fnmatch_lines(["baseline gate/base.json: no regression*"])


def test_require_baseline_is_inert_without_eval_tests(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_plain="def test_it():\n    pass\n")
    result = pytester_env.runpytest("--llmeval-require-baseline", "--llmeval-baseline=x.json")
    assert result.ret == pytest.ExitCode.OK
    assert "llm_eval" not in result.stdout.str()


# -- shards: groups outside the run are not "vanished" -----------------------------------

SHARD_TEST = """
import pytest

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("case", ["x", "y", "z"])
def test_{name}(case, llm_eval):
    llm_eval.score("quality", 0.9)

@pytest.mark.llm_eval(threshold=0.5)
def test_{name}_single(llm_eval):
    llm_eval.score("quality", 0.9)
"""


@pytest.fixture
def sharded(pytester_env: pytest.Pytester) -> pytest.Pytester:
    for name in ("refunds", "routing"):
        folder = pytester_env.mkdir(name)
        (folder / f"test_{name}.py").write_text(SHARD_TEST.format(name=name))
    assert pytester_env.runpytest("--llmeval-update-baseline").ret == 0
    return pytester_env


XDIST = pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "n2"])


@XDIST
def test_a_shard_by_folder_does_not_report_the_other_folders_groups_as_vanished(
    sharded: pytest.Pytester, xdist: list[str]
) -> None:
    result = sharded.runpytest("refunds", "--llmeval-report=shard-refunds.json", *xdist)
    assert result.ret == pytest.ExitCode.OK
    assert "vanished groups" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["  2 baseline groups not collected in this run (another shard's, or deselected): *"]
    )
    report = json.loads((sharded.path / "shard-refunds.json").read_text())
    assert report["baseline"]["vanished_groups"] == []
    assert report["baseline"]["outside_groups"] == [
        "routing/test_routing.py::test_routing",
        "routing/test_routing.py::test_routing_single",
    ]


@XDIST
def test_a_shard_by_keyword_does_not_report_deselected_groups_as_vanished(
    sharded: pytest.Pytester, xdist: list[str]
) -> None:
    result = sharded.runpytest("-k", "not single", *xdist)
    assert result.ret == pytest.ExitCode.OK
    assert "vanished groups" not in result.stdout.str()
    result.stdout.fnmatch_lines(["  2 baseline groups not collected in this run *"])


@XDIST
def test_a_group_gone_from_a_collected_file_or_folder_is_vanished(
    sharded: pytest.Pytester, xdist: list[str]
) -> None:
    refunds = sharded.path / "refunds" / "test_refunds.py"
    refunds.write_text(refunds.read_text().replace("def test_refunds_single", "def test_renamed"))
    (sharded.path / "routing" / "test_routing.py").unlink()
    result = sharded.runpytest("refunds", "routing", *xdist)
    result.stdout.fnmatch_lines(
        [
            "  vanished groups (in the baseline, not run now): "
            "refunds/test_refunds.py::test_refunds_single, routing/test_routing.py::test_routing, "
            "routing/test_routing.py::test_routing_single"
        ]
    )


def test_merged_shards_gate_against_the_whole_baseline(sharded: pytest.Pytester) -> None:
    for name in ("refunds", "routing"):
        shard = sharded.runpytest(name, f"--llmeval-report=shard-{name}.json")
        assert shard.ret == pytest.ExitCode.OK

    def llmeval(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_llmeval.cli", *args],
            cwd=sharded.path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    merged = llmeval("merge", "shard-refunds.json", "shard-routing.json", "-o", "merged.json")
    assert merged.returncode == 0, merged.stderr
    gate = llmeval("gate", "merged.json", "--baseline", "llmeval-baseline.json")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert gate.stdout.startswith("baseline llmeval-baseline.json: no regression")
    assert "vanished" not in gate.stdout and "not collected" not in gate.stdout
    # one shard alone, gated against the whole baseline, misses the other's groups
    alone = llmeval("gate", "shard-refunds.json", "--baseline", "llmeval-baseline.json")
    assert "vanished groups (in the baseline, not run now): routing/" in alone.stdout
