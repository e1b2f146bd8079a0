"""Repeats used (issue 18): per-case statistics across runs, per-case rules, straddling
cases, the within-case test fed by the aggregate, and adaptive repeats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.decision import GatePolicy, PairedGroup, decide_group
from pytest_llmeval.records.models import EvalResult
from pytest_llmeval.records.spec import SpecError, build_spec
from tests.fakeprovider import FakeProviderServer, closed_port_url
from tests.suites import ASK

FILE = "tests/test_bot.py"

# Case "p" passes runs 1, 2 and 4 of 5 (scores 0.9 0.8 0.1 0.7 0.2, threshold 0.5);
# case "q" passes every run; case "r" none.
RUNS = {
    "p": [0.9, 0.8, 0.1, 0.7, 0.2],
    "q": [1.0, 1.0, 1.0, 1.0, 1.0],
    "r": [0.0, 0.2, 0.1, 0.3, 0.4],
}


def _suite(marker: str) -> str:
    return f"""
import pytest

RUNS = {RUNS!r}

@pytest.mark.llm_eval({marker})
@pytest.mark.parametrize("case", sorted(RUNS))
def test_sampled(case, llm_eval, request):
    run = request.node.callspec.params["_llmeval_repeat"]
    llm_eval.score("s", RUNS[case][run - 1])
"""


def _report(pytester: pytest.Pytester) -> dict[str, dict[str, object]]:
    data = json.loads((pytester.path / "report.json").read_text())
    return {c["case_id"].split("[")[1][:-1]: c for c in data["aggregate"]["groups"][0]["cases"]}


def test_case_statistics_match_hand_computations(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_bot=_suite("threshold=0.5, repeat=5, pass_k=2, min_pass_rate=0"))
    result = pytester_env.runpytest("--llmeval-report=report.json")
    cases = _report(pytester_env)
    p = cases["p"]
    # 3 of 5 runs pass. pass^2 = C(3,2)/C(5,2) = 3/10; pass@2 = 1 - C(2,2)/C(5,2) = 9/10
    assert p["passed_runs"] == 3 and p["runs"] == 5 and p["pass_k"] == 2
    assert p["pass_hat_k"] == pytest.approx(0.3)
    assert p["pass_at_k"] == pytest.approx(0.9)
    assert p["run_pass_rate"] == pytest.approx(0.6)
    # Wilson 95% for 3/5: centre (0.6 + z²/10) / (1 + z²/5), half-width as in Wilson (1927)
    z = 1.959963984540054
    centre = (0.6 + z * z / 10) / (1 + z * z / 5)
    half = z * math.sqrt(0.6 * 0.4 / 5 + z * z / 100) / (1 + z * z / 5)
    assert p["run_pass_rate_low"] == pytest.approx(centre - half)
    assert p["run_pass_rate_high"] == pytest.approx(centre + half)
    # sample sd: deviations from 0.54 squared sum to 0.532; sqrt(0.532 / 4)
    assert p["stdev"] == pytest.approx(math.sqrt(0.532 / 4))
    assert p["run_scores"] == RUNS["p"]
    assert p["unstable"] is True
    assert p["nodeids"] == [f"test_bot.py::test_sampled[p-r{i}]" for i in range(1, 6)]
    # q: all pass, so pass^2 = pass@2 = 1; r: none, so both 0; neither straddles
    assert (cases["q"]["pass_hat_k"], cases["q"]["pass_at_k"]) == (1.0, 1.0)
    assert (cases["r"]["pass_hat_k"], cases["r"]["pass_at_k"]) == (0.0, 0.0)
    assert not cases["q"]["unstable"] and not cases["r"]["unstable"]
    # compact in the terminal: one line for the group, the straddling case named
    result.stdout.fnmatch_lines(
        [
            "  test_sampled: 8 of 15 runs passed · pass^2 0.43 · pass@2 0.63 · 1 unstable",
            "UNSTABLE test_bot.py::test_sampled[[]p[]]: 3 of 5 runs passed "
            "(scores 0.90 0.80 0.10 0.70 0.20; threshold 0.50)",
        ]
    )


def test_case_statistics_at_verbose(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_bot=_suite("threshold=0.5, repeat=5, min_pass_rate=0"))
    result = pytester_env.runpytest("-vv")
    # k defaults to the runs: pass^5 and pass@5 are all-pass and any-pass; p passes on
    # its mean (0.54), and the line under it says its runs straddle the threshold
    result.stdout.fnmatch_lines(
        [
            "    PASSED  0.54  test_bot.py::test_sampled?p?  mean of 5 runs, sd 0.36*",
            "            3 of 5 runs passed (23%-88% Wilson 95%) · pass^5 0.00 · pass@5 1.00"
            " · UNSTABLE",
        ]
    )


@pytest.mark.parametrize(
    ("marker", "failing"),
    [
        ("case_rule='pass^k'", ["p", "r"]),
        ("case_rule='pass@k'", ["r"]),
        ("case_rule='pass@k', pass_k=2", ["p", "r"]),  # p fails 2 runs: a pair may fail
        ("case_rule='pass@k', pass_k=3", ["r"]),
        ("min_case_pass_rate=0.6", ["r"]),
        ("min_case_pass_rate=0.7", ["p", "r"]),
        ("case_rule='pass@k', min_case_pass_rate=0.7", ["p", "r"]),
    ],
)
def test_case_rules_fail_the_right_cases(
    pytester_env: pytest.Pytester, marker: str, failing: list[str]
) -> None:
    pytester_env.makepyfile(test_bot=_suite(f"threshold=0.5, repeat=5, {marker}"))
    result = pytester_env.runpytest("--llmeval-report=report.json")
    cases = _report(pytester_env)
    assert sorted(k for k, c in cases.items() if c["failed_case_rule"]) == failing
    assert {k: c["status"] for k, c in cases.items()} == {
        k: "below" if k in failing else "passed" for k in RUNS
    }
    # a run below its threshold no longer fails its test item: the case's rule decides,
    # and a case that misses it fails the session, naming its runs' test ids
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["below"], outcomes.get("failed")) == (8, 7, None)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    for case in failing:
        result.stdout.fnmatch_lines(
            [
                f"FAILED case test_bot.py::test_sampled[[]{case}[]]: * of 5 runs passed; *",
                *[f"  test_bot.py::test_sampled[[]{case}-r{i}[]]" for i in range(1, 6)],
            ]
        )
    count = len(failing)
    result.stdout.fnmatch_lines(
        [
            f"llm_eval fails the session (exit status 1): {count} case{'s' if count > 1 else ''} "
            "missed * per-case rule across runs (case_rule / min_case_pass_rate)"
        ]
    )
    passing = [case for case in RUNS if case not in failing]
    assert not any(
        f"FAILED case test_bot.py::test_sampled[{c}]" in result.stdout.str() for c in passing
    )


def test_case_rule_under_min_pass_rate_counts_towards_the_group(
    pytester_env: pytest.Pytester,
) -> None:
    # with a group min_pass_rate, a case missing its rule is a below case of the group
    pytester_env.makepyfile(
        test_bot=_suite("threshold=0.5, repeat=5, case_rule='pass@k', min_pass_rate=0.6")
    )
    result = pytester_env.runpytest()
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["below"], outcomes.get("failed")) == (8, 7, None)
    assert result.ret == pytest.ExitCode.OK  # 2 of 3 cases pass: 67% >= 60%
    assert "FAILED case" not in result.stdout.str()


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("case_rule='all'", "case_rule='all') is invalid; allowed: None, 'pass^k'"),
        ("case_rule=1", "case_rule=1) is invalid"),
        ("pass_k=0, repeat=3", "pass_k=0) is invalid; allowed: None or a whole number"),
        ("pass_k=True, repeat=3", "pass_k=True) is invalid"),
        ("pass_k=4, repeat=3", "pass_k=4) is invalid with repeat=3: k counts runs"),
        ("min_case_pass_rate=1.5", "min_case_pass_rate=1.5) is invalid; allowed: None or a"),
        ("min_case_pass_rate='0.5'", "min_case_pass_rate='0.5') is invalid"),
        ("adaptive=3, repeat=3", "adaptive=3) is invalid with repeat=3: adaptive caps"),
        ("adaptive=5", "adaptive=5) is invalid with repeat=1"),
        ("adaptive=2.5, repeat=2", "adaptive=2.5) is invalid; allowed: None or a whole"),
    ],
)
def test_invalid_rule_arguments_name_the_test(argument: str, message: str) -> None:
    kwargs = eval(f"dict({argument})")  # the marker's keyword syntax, as a user writes it
    with pytest.raises(SpecError) as raised:
        build_spec([((), kwargs)], "tests/test_bot.py::test_sampled")
    assert str(raised.value).startswith("tests/test_bot.py::test_sampled: @pytest.mark.llm_eval(")
    assert message in str(raised.value)


def test_invalid_rule_argument_is_a_setup_error(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(
        test_bot="""
        import pytest

        @pytest.mark.llm_eval(repeat=2, case_rule="pass^2")
        def test_one(llm_eval):
            llm_eval.score("s", 1.0)

        def test_plain():
            pass
        """
    )
    result = pytester_env.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*test_bot.py::test_one*llm_eval(case_rule='pass^2') is invalid; allowed: None, *"]
    )


def _results(function: str, runs: dict[str, list[float]]) -> list[EvalResult]:
    return [
        EvalResult(
            nodeid=f"{FILE}::{function}[{case}-r{i}]",
            case_id=f"{FILE}::{function}[{case}]",
            group=f"{FILE}::{function}",
            repeat_index=i,
            threshold=0.5,
            aggregate="mean",
            score=value,
            status="passed" if value >= 0.5 else "below",
        )
        for case, values in runs.items()
        for i, value in enumerate(values, start=1)
    ]


def _paired(before: dict[str, list[float]], after: dict[str, list[float]]) -> PairedGroup:
    """The within-case test's input, from the case aggregates of two sessions (what the
    baseline stores per case: score, runs, stdev)."""
    old = aggregate_session(_results("test_x", before)).groups[0].cases
    new = aggregate_session(_results("test_x", after)).groups[0].cases
    return PairedGroup(
        before=[c.score for c in old],
        after=[c.score for c in new],
        passed_before=[c.status == "passed" for c in old],
        passed_after=[c.status == "passed" for c in new],
        variance_before=[(c.stdev or 0.0) ** 2 for c in old],
        variance_after=[(c.stdev or 0.0) ** 2 for c in new],
        repeats_before=min(c.runs for c in old),
        repeats_after=min(c.runs for c in new),
    )


def test_wide_spread_absorbs_a_drop_inside_its_noise() -> None:
    # 4 cases whose runs swing between 0 and 1; the new run's means are 0.1 lower
    before = {f"c{i}": [1.0, 0.0, 1.0, 0.4] for i in range(4)}
    after = {f"c{i}": [1.0, 0.0, 0.8, 0.2] for i in range(4)}
    group = _paired(before, after)
    decision = decide_group(group, GatePolicy())
    assert decision.rule == "within-case"
    assert decision.drop_beyond_tolerance
    assert decision.p_value is not None and decision.p_value > 0.05
    assert not decision.regressed


def test_tight_spread_alarms_on_a_drop_far_outside_it() -> None:
    # the same 4 cases and the same number of runs, each run within 0.02 of its mean: a
    # 0.3 drop is far outside that noise, and only 4 cases changed (sign-flip p >= 1/16)
    before = {f"c{i}": [0.90, 0.92, 0.88, 0.90] for i in range(4)}
    after = {f"c{i}": [0.60, 0.62, 0.58, 0.60] for i in range(4)}
    group = _paired(before, after)
    decision = decide_group(group, GatePolicy())
    assert decision.rule == "within-case"
    assert decision.p_value is not None and decision.p_value < 1e-6
    assert decision.regressed


ADAPTIVE_SUITE = (
    ASK
    + """
@pytest.mark.llm_eval(threshold=0.5, repeat=3, adaptive=6, min_case_pass_rate=0.5)
@pytest.mark.parametrize("case", ["steady", "shaky"])
def test_answers(case, llm_eval, llm_cassette):
    answer = ask(case)
    llm_eval.score("good", answer.startswith("good"))
    llm_eval.log(cassette=llm_cassette.path.name)
"""
)


def _cassette_files(root: Path) -> dict[str, str]:
    """Cassettes by test name (the file name without its hash suffix)."""
    return {
        p.name.split("--")[0]: p.read_text() for p in sorted((root / "cassettes").rglob("*.json"))
    }


def test_adaptive_records_extra_runs_then_replays_them_offline(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_bot=ADAPTIVE_SUITE)
    # in run order: "shaky" straddles after its 3 runs (good, bad, good), so its last
    # item samples runs 4 to 6 (bad, good, good); "steady" passes its 3 runs and stops
    fake_provider.script(*"good good good good bad good bad good good".split())
    first = pytester_env.runpytest("--llmeval-report=report.json", "-p", "no:randomly")
    first.assert_outcomes(passed=5)
    assert first.parseoutcomes()["below"] == 1
    assert len(fake_provider.requests) == 9
    recorded = _cassette_files(pytester_env.path)
    # every run, the extra ones included, has its own cassette under its own test id
    assert sorted(recorded) == sorted(
        [f"test_answers.steady-r{i}" for i in (1, 2, 3)]
        + [f"test_answers.shaky-r{i}" for i in range(1, 7)]
    )

    def check(report_file: Path) -> dict[str, object]:
        data = json.loads(report_file.read_text())
        cases = {c["case_id"]: c for c in data["aggregate"]["groups"][0]["cases"]}
        shaky = cases["test_bot.py::test_answers[shaky]"]
        steady = cases["test_bot.py::test_answers[steady]"]
        assert (shaky["runs"], shaky["adaptive_runs"], shaky["passed_runs"]) == (6, 3, 4)
        assert shaky["run_scores"] == [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
        assert shaky["unstable"] and shaky["status"] == "passed"  # 4/6 >= 0.5
        assert shaky["nodeids"][3:] == [f"test_bot.py::test_answers[shaky-r{i}]" for i in (4, 5, 6)]
        assert (steady["runs"], steady["adaptive_runs"], steady["unstable"]) == (3, 0, False)
        # each extra run ran with its own cassette and recorder, as its own result
        extra = {r["nodeid"]: r for r in data["results"] if r.get("adaptive")}
        assert sorted(extra) == [f"test_bot.py::test_answers[shaky-r{i}]" for i in (4, 5, 6)]
        assert [extra[k]["metadata"]["cassette"].split("--")[0] for k in sorted(extra)] == [
            f"test_answers.shaky-r{i}" for i in (4, 5, 6)
        ]
        assert all(len(r["inferences"]) == 1 for r in extra.values())
        return cases

    recorded_cases = check(pytester_env.path / "report.json")
    first.stdout.fnmatch_lines(
        [
            "  test_answers: 7 of 9 runs passed · pass^k 0.50 · pass@k 1.00 · 1 unstable",
            # pytest ran 6 items; the 3 adaptive runs ran inside the last one
            "llm_eval: 2 cases (6 test items: the runs of a repeated case count as one case)*",
        ]
    )

    # the provider is unreachable now: every run, the adaptive ones too, replays
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    second = pytester_env.runpytest(
        "--llmeval-report=replay.json", "--llmeval-record=none", "-p", "no:randomly"
    )
    second.assert_outcomes(passed=5)
    assert len(fake_provider.requests) == 9
    assert _cassette_files(pytester_env.path) == recorded
    replayed_cases = check(pytester_env.path / "replay.json")
    assert replayed_cases == recorded_cases


def test_adaptive_runs_that_cannot_see_the_case_warn(
    pytester_env: pytest.Pytester,
) -> None:
    # the first run of the case never reaches its body, so its last run cannot tell
    # whether the runs straddle: a warning, never a silent "no extra run"
    pytester_env.makepyfile(
        test_bot="""
        import pytest

        @pytest.fixture
        def setup_skips_run_one(_llmeval_repeat):
            if _llmeval_repeat == 1:
                pytest.skip("first run skipped at setup")

        @pytest.mark.llm_eval(threshold=0.5, repeat=2, adaptive=4)
        def test_one(llm_eval, setup_skips_run_one):
            llm_eval.score("s", 1.0)
        """
    )
    result = pytester_env.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*AdaptiveRepeatsWarning: adaptive=4 made no extra run of "
            "test_bot.py::test_one: this process has the results of 1 of its 2 runs*"
        ]
    )


def test_an_adaptive_run_that_fails_fails_the_item_naming_it(
    pytester_env: pytest.Pytester,
) -> None:
    # runs 1-2 straddle (0.9, 0.1); run 3, made adaptively inside run 2's item, raises
    pytester_env.makepyfile(
        test_bot="""
        import pytest

        @pytest.mark.llm_eval(threshold=0.5, repeat=2, adaptive=3, min_case_pass_rate=0.5)
        def test_one(llm_eval, _llmeval_repeat):
            if _llmeval_repeat == 3:
                raise RuntimeError("the model went away")
            llm_eval.score("s", {1: 0.9, 2: 0.1}[_llmeval_repeat])
        """
    )
    result = pytester_env.runpytest("-p", "no:randomly", "--llmeval-report=report.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*llm_eval adaptive runs failed:",
            "*test_bot.py::test_one[[]r3[]]: RuntimeError: the model went away",
        ]
    )
    data = json.loads((pytester_env.path / "report.json").read_text())
    (case,) = data["aggregate"]["groups"][0]["cases"]
    assert (case["status"], case["runs"], case["adaptive_runs"]) == ("failed", 3, 1)


@pytest.mark.parametrize("xdist_args", [["-n", "2", "--dist", "loadscope"]])
def test_adaptive_under_xdist_loadscope_matches_serial(
    pytester_env: pytest.Pytester, xdist_args: list[str]
) -> None:
    pytester_env.makepyfile(
        test_bot="""
        import pytest

        SCORES = {"a": [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], "b": [1.0] * 6}

        @pytest.mark.llm_eval(threshold=0.5, repeat=3, adaptive=6, min_case_pass_rate=0.5)
        @pytest.mark.parametrize("case", sorted(SCORES))
        def test_one(case, llm_eval, _llmeval_repeat):
            llm_eval.score("s", SCORES[case][_llmeval_repeat - 1])
        """
    )
    serial = pytester_env.runpytest_subprocess("-p", "no:xdist", "--llmeval-report=serial.json")
    distributed = pytester_env.runpytest_subprocess(*xdist_args, "--llmeval-report=xdist.json")
    assert serial.ret == distributed.ret == pytest.ExitCode.OK
    aggregates = [
        json.loads((pytester_env.path / name).read_text())["aggregate"]
        for name in ("serial.json", "xdist.json")
    ]
    assert aggregates[0] == aggregates[1]
    cases = {c["case_id"][-2]: c for c in aggregates[0]["groups"][0]["cases"]}
    assert (cases["a"]["runs"], cases["a"]["adaptive_runs"]) == (6, 3)
    assert (cases["b"]["runs"], cases["b"]["adaptive_runs"]) == (3, 0)
    assert "AdaptiveRepeatsWarning" not in distributed.stdout.str()


def test_adaptive_under_concurrency_warns_and_makes_no_extra_run(
    pytester_env: pytest.Pytester,
) -> None:
    pytester_env.makepyfile(
        test_bot="""
        import pytest

        @pytest.mark.llm_eval(threshold=0.5, repeat=2, adaptive=3, min_case_pass_rate=0.5)
        def test_one(llm_eval, _llmeval_repeat):
            llm_eval.score("s", {1: 0.9, 2: 0.1, 3: 0.9}[_llmeval_repeat])
        """
    )
    result = pytester_env.runpytest(
        "-p", "no:randomly", "--llmeval-concurrency=2", "--llmeval-report=report.json"
    )
    result.stdout.fnmatch_lines(
        [
            "*AdaptiveRepeatsWarning: adaptive=3 made no extra run of test_bot.py::test_one: "
            "under --llmeval-concurrency the bodies of its runs interleave*"
        ]
    )
    data = json.loads((pytester_env.path / "report.json").read_text())
    (case,) = data["aggregate"]["groups"][0]["cases"]
    assert (case["runs"], case["adaptive_runs"], case["unstable"]) == (2, 0, True)
