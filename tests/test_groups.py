"""Groups, min_pass_rate, repeats and the terminal section (serial and under xdist)."""

from __future__ import annotations

import pytest

GROUP_SUITE = """
import pytest

SCORES = {"a": 1.0, "b": 0.9, "c": 0.8, "d": 0.2}

@pytest.mark.llm_eval(threshold=0.5, min_pass_rate=0.7)
@pytest.mark.parametrize("case", sorted(SCORES))
def test_answers(case, llm_eval):
    llm_eval.score("quality", SCORES[case])

@pytest.mark.llm_eval(threshold=0.5, min_pass_rate=0.9, group="strict")
@pytest.mark.parametrize("case", ["x", "y"])
def test_strict_one(case, llm_eval):
    llm_eval.score("quality", 1.0 if case == "x" else 0.0)

@pytest.mark.llm_eval(threshold=0.5, group="strict")
def test_strict_two(llm_eval):
    llm_eval.score("quality", 1.0)
"""


def test_below_threshold_cases_get_their_own_status(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_suite=GROUP_SUITE)
    result = pytester_env.runpytest("-v")
    # below-threshold cases are neither passes nor failures...
    result.stdout.fnmatch_lines(["*test_answers?d? BELOW*", "*test_strict_one?y? BELOW*"])
    # ...and are counted in pytest's own summary line, which also says that the eval
    # results fail the session (exit status 1 with no failed test), and the line right
    # above it says why
    result.stdout.fnmatch_lines(
        [
            "llm_eval fails the session (exit status 1): group strict passed 67% of its "
            "cases, under its min_pass_rate 90%",
            "=*= 5 passed, 2 below, 1 llm_eval gate failure in *=",
        ]
    )
    assert result.outlines[-1].startswith("=") and "gate failure" in result.outlines[-1]
    # group answers: 3 of 4 passed (75% >= 70%): fine; group strict: 2 of 3 (67% < 90%): fails
    result.stdout.fnmatch_lines(
        [
            "*= llm_eval =*",
            "group *n *pass *below *fail *score (95% CI) *pass rate",
            # strict's case scores are all 0 or 1: the Wilson interval of 2 of 3 (W)
            "strict *3 *2 *1 *0 *0.67 (0.21-0.94 W) *67% (min 90%)",
            "test_answers *4 *3 *1 *0 *0.72 (0.15-1.00 t) *75% (min 70%)",
        ]
    )
    result.stdout.fnmatch_lines(
        ["FAILED group strict: pass rate 67% (2 of 3 cases) is below min_pass_rate 90%"]
    )
    result.stdout.fnmatch_lines(["llm_eval: 7 cases, 5 passed, 2 below threshold · mean 0.70"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_group_meeting_min_pass_rate_exits_zero(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.5, min_pass_rate=0.5)
        @pytest.mark.parametrize("v", [1.0, 0.0])
        def test_half(v, llm_eval):
            llm_eval.score("q", v)
        """
    )
    result = pytester_env.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 passed, 1 below*"])
    assert "FAILED group" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.OK


def test_ci_matches_hand_computation(pytester_env: pytest.Pytester) -> None:
    # scores 1.0, 0.9, 0.8, 0.2: mean 0.725; squared deviations sum to 0.3875, so the
    # sample sd is sqrt(0.3875 / 3) = 0.359398; t(0.975, df=3) = 3.182446;
    # half-width = 3.182446 * 0.359398 / sqrt(4) = 0.571873 -> (0.153, 1.297) -> clipped (0.15, 1.00)
    pytester_env.makepyfile(test_suite=GROUP_SUITE)
    result = pytester_env.runpytest("-k", "test_answers")
    result.stdout.fnmatch_lines(["test_answers *4 *3 *1 *0 *0.72 (0.15-1.00 t) *75% (min 70%)"])


REPEAT_SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0.5, repeat=3)
@pytest.mark.parametrize("case", ["p", "q"])
def test_sampled(case, llm_eval, request):
    run = request.node.callspec.params["_llmeval_repeat"]
    # case p: 1.0, 0.4, 0.0 -> mean 0.467, below 0.5; case q always 1.0
    llm_eval.score("s", {1: 1.0, 2: 0.4, 3: 0.0}[run] if case == "p" else 1.0)
"""


def test_repeat_makes_items_and_case_means(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(REPEAT_SUITE)
    result = pytester_env.runpytest("-v")
    result.stdout.fnmatch_lines(
        [
            "*test_sampled?p-r1? PASSED*",
            "*test_sampled?p-r2? FAILED*",
            "*test_sampled?p-r3? FAILED*",
            "*test_sampled?q-r3? PASSED*",
        ]
    )
    result.assert_outcomes(passed=4, failed=2)
    # two cases of 3 runs each; the case score is the mean of its runs (sd of 1.0, 0.4, 0.0)
    result.stdout.fnmatch_lines(
        [
            "test_sampled  (3 runs) *2 *1 *1 *0 *0.73 (0.00-1.00 t)*",
            "*BELOW   0.47  *test_sampled?p?  mean of 3 runs, sd 0.50",
        ]
    )


def test_repeat_option_overrides_marker(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.llm_eval(repeat=5)
        def test_one(llm_eval):
            llm_eval.score("s", 1.0)
        """
    )
    result = pytester_env.runpytest("--llmeval-repeat", "2", "-v")
    result.stdout.fnmatch_lines(["*test_one?r1? PASSED*", "*test_one?r2? PASSED*"])
    result.assert_outcomes(passed=2)
    # pytest counts 2 items, the plugin 1 case: the totals line says why they differ
    result.stdout.fnmatch_lines(
        [
            "llm_eval: 1 case (2 test items: the runs of a repeated case count as one case), "
            "1 passed · mean 1.00"
        ]
    )


def test_quiet_shows_totals_only(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_suite=GROUP_SUITE)
    result = pytester_env.runpytest("-q")
    out = result.stdout.str()
    assert "score (95% CI)" not in out
    result.stdout.fnmatch_lines(
        ["FAILED group strict*", "llm_eval: 7 cases, 5 passed, 2 below threshold · mean 0.70"]
    )


def _section(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "llm_eval" in line and line.startswith("="))
    end = next(i for i, line in enumerate(lines) if line.startswith("llm_eval:"))
    return lines[start : end + 1]


@pytest.mark.parametrize("xdist_args", [["-n", "0"], ["-n", "2"]])
def test_xdist_prints_the_same_section(
    pytester_env: pytest.Pytester, xdist_args: list[str]
) -> None:
    pytester_env.makepyfile(test_suite=GROUP_SUITE, test_repeat=REPEAT_SUITE)
    serial = pytester_env.runpytest_subprocess("-p", "no:xdist")
    distributed = pytester_env.runpytest_subprocess(*xdist_args)
    assert _section(serial.stdout.str()) == _section(distributed.stdout.str())
    assert serial.ret == distributed.ret == pytest.ExitCode.TESTS_FAILED
    distributed.stdout.fnmatch_lines(["*2 below*"])


def test_no_section_without_eval_tests(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile("def test_plain():\n    assert True\n")
    result = pytester_env.runpytest()
    result.assert_outcomes(passed=1)
    assert "llm_eval" not in result.stdout.str()
