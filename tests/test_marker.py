"""The llm_eval marker: registration and validation (a bad marker errors its own test)."""

from __future__ import annotations

import fnmatch

import pytest


def test_marker_is_registered(pytester_env: pytest.Pytester) -> None:
    result = pytester_env.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.llm_eval(threshold=0.5, *, aggregate='mean'*"])


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            "threshold=1.5",
            "*test_bad*llm_eval(threshold=1.5) is invalid; allowed: a number from 0 to 1*",
        ),
        ("repeat=0", "*test_bad*llm_eval(repeat=0) is invalid; allowed: a whole number >= 1*"),
        (
            "aggregate='avg'",
            "*test_bad*llm_eval(aggregate='avg') is invalid; allowed: 'mean'*'min'*",
        ),
        ("threshold='high'", "*llm_eval(threshold='high') is invalid*"),
        ("threshold=True", "*llm_eval(threshold=True) is invalid*"),
        ("min_pass_rate=-0.1", "*llm_eval(min_pass_rate=-0.1) is invalid*"),
        ("repeat=2.5", "*llm_eval(repeat=2.5) is invalid*"),
        ("group=''", "*llm_eval(group='') is invalid; allowed: None or a non-empty string*"),
        (
            "judge_model='gpt-4'",
            "*llm_eval(judge_model='gpt-4') is invalid; allowed: None or 'provider:model'*",
        ),
        ("budget_usd=0", "*llm_eval(budget_usd=0) is invalid*"),
        ("max_latency_s=float('nan')", "*llm_eval(max_latency_s=nan) is invalid*"),
        (
            "thresold=0.8",
            "*test_bad*unknown argument thresold=0.8. Allowed arguments: threshold, aggregate*",
        ),
        ("0.5, 0.6", "*test_bad*at most one positional argument*"),
    ],
)
def test_invalid_marker_errors_its_test_once(
    pytester_env: pytest.Pytester, arguments: str, expected: str
) -> None:
    pytester_env.makepyfile(
        f"""
        import pytest

        @pytest.mark.llm_eval({arguments})
        def test_bad():
            pass

        def test_plain():
            pass
        """
    )
    # -rN: no short summary, so each line below is counted in the error section alone
    result = pytester_env.runpytest("-rN")
    # only the test that carries the bad marker errors; the module's other tests run
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_bad*", expected])
    output = result.stdout.str()
    # one message, printed once: not chained to the validation error it was made from
    assert "During handling of the above exception" not in output
    assert len(fnmatch.filter(result.outlines, expected)) == 1
    # the message is the user's error, not a traceback into the plugin
    assert "pytest_llmeval/records/spec.py" not in output
    assert "pytest_llmeval/plugin.py" not in output


@pytest.mark.parametrize("xdist", [[], ["-n", "0"], ["-n", "2"]], ids=["serial", "n0", "n2"])
def test_invalid_marker_spares_the_other_eval_tests(
    pytester_env: pytest.Pytester, xdist: list[str]
) -> None:
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.5, repeat=2)
        def test_good(llm_eval):
            llm_eval.score("s", 1.0)

        @pytest.mark.llm_eval(threshold=0.5, repat=2)
        @pytest.mark.parametrize("case", ["a", "b"])
        def test_typo(case, llm_eval):
            llm_eval.score("s", 1.0)
        """
    )
    result = pytester_env.runpytest("-rN", *xdist)
    result.assert_outcomes(passed=2, errors=2)
    for case in ("a", "b"):
        line = (
            f"test_invalid_marker_spares_the_other_eval_tests.py::test_typo[[]{case}[]]: "
            "@pytest.mark.llm_eval got an unknown argument repat=2. Allowed arguments: *"
        )
        assert len(fnmatch.filter(result.outlines, line)) == 1, result.outlines
    result.stdout.fnmatch_lines(["llm_eval: 1 case (2 test items*), 1 passed*"])
    assert "During handling of the above exception" not in result.stdout.str()


def test_marker_on_class_and_function_merge(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.llm_eval(threshold=0.9, group="shared")

        class TestA:
            @pytest.mark.llm_eval(threshold=0.3)
            def test_low_threshold(self, llm_eval):
                llm_eval.score("s", 0.5)

            def test_module_threshold(self, llm_eval):
                llm_eval.score("s", 0.5)
        """
    )
    result = pytester_env.runpytest("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*TestA.test_module_threshold*", "llm_eval score 0.500 is below the threshold 0.900*"]
    )
    result.stdout.fnmatch_lines(["shared *2 *1 *1 *0 *"])


def test_positional_threshold(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.llm_eval(0.8)
        def test_it(llm_eval):
            llm_eval.score("s", 0.7)
        """
    )
    result = pytester_env.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*below the threshold 0.800*"])
