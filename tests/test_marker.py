"""The llm_eval marker: registration and validation at collection."""

from __future__ import annotations

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
def test_invalid_marker_is_a_collection_error(
    pytester_env: pytest.Pytester, arguments: str, expected: str
) -> None:
    pytester_env.makepyfile(
        f"""
        import pytest

        @pytest.mark.llm_eval({arguments})
        def test_bad():
            pass
        """
    )
    result = pytester_env.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting*", expected])
    # the message is the user's error, not a traceback into the plugin
    assert "pytest_llmeval/spec.py" not in result.stdout.str()


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
