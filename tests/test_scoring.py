"""The llm_eval fixture: scores, thresholds, the test score and the failure message."""

from __future__ import annotations

import pytest


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(source)
    return pytester.runpytest(*args)


def test_weighted_mean_meets_threshold(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.7)
        def test_ok(llm_eval):
            # (1.0*3 + 0.0*1) / 4 = 0.75
            assert llm_eval.score("a", True, weight=3) == 1.0
            llm_eval.score("b", 0)
            assert llm_eval.scores["a"].weight == 3.0
            assert list(llm_eval.scores) == ["a", "b"]
        """,
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["test_ok *1 *1 *0 *0 *0.75 *100%"])


def test_below_threshold_fails_with_every_score_listed(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.8)
        def test_low(llm_eval):
            llm_eval.score("polite", 0.9, threshold=0.5)
            llm_eval.score("correct", 0.25, weight=2, reason="The answer cites the wrong policy.")
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            # (0.9 + 0.25*2) / 3 = 0.4667
            "*llm_eval score 0.467 is below the threshold 0.800 (weighted mean of 2 scores):",
            "*polite   0.900  threshold 0.500 ok",
            "*correct  0.250  weight 2  reason: The answer cites the wrong policy.",
        ]
    )
    # a score failure is reported as a plain message, not a traceback into the plugin
    assert "runner.py" not in result.stdout.str()


def test_own_threshold_missed_fails_even_when_mean_passes(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.5)
        def test_t(llm_eval):
            llm_eval.score("safety", 0.6, threshold=0.99)
            llm_eval.score("style", 1.0)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*score 0.800 meets the threshold 0.500, but safety missed its own threshold:*",
            "*safety  0.600  threshold 0.990 BELOW",
        ]
    )


def test_aggregate_min(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.5, aggregate="min")
        def test_t(llm_eval):
            llm_eval.score("a", 1.0)
            llm_eval.score("b", 0.4)
            llm_eval.score("info", 0.0, weight=0)   # weight 0: informational only
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*score 0.400 is below the threshold 0.500 (minimum of 2 scores)*"]
    )


def test_no_scores_scores_one_when_body_passes(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval(threshold=1.0)
        def test_plain():
            assert 1 + 1 == 2

        @pytest.mark.llm_eval
        def test_assert_fails(llm_eval):
            assert "30 days" in "refunds within 14 days"
        """,
        "-vv",
    )
    result.assert_outcomes(passed=1, failed=1)
    # the assertion failure is pytest's usual one, with assertion rewriting intact
    result.stdout.fnmatch_lines(["*AssertionError: assert '30 days' in 'refunds within 14 days'*"])
    result.stdout.fnmatch_lines(
        ["*PASSED  1.00  test_no_scores_scores_one_when_body_passes.py::test_plain*"]
    )
    result.stdout.fnmatch_lines(
        ["*FAILED  0.00  test_no_scores_scores_one_when_body_passes.py::test_assert_fails*"]
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            "llm_eval.score('x', 1.5)",
            "*ValueError: llm_eval.score('x') value must be from 0 to 1, got 1.5*",
        ),
        (
            "llm_eval.score('x', -0.1)",
            "*ValueError: llm_eval.score('x') value must be from 0 to 1, got -0.1*",
        ),
        (
            "llm_eval.score('x', float('nan'))",
            "*ValueError: llm_eval.score('x') value must be from 0 to 1, got nan*",
        ),
        (
            "llm_eval.score('x', 'high')",
            "*TypeError: llm_eval.score('x') value must be a bool or a number from 0 to 1, got str 'high'*",
        ),
        (
            "llm_eval.score('x', None)",
            "*TypeError: llm_eval.score('x') value must be a bool or a number*got NoneType None*",
        ),
        (
            "llm_eval.score('', 1)",
            "*TypeError: llm_eval.score(): name must be a non-empty string, got ''*",
        ),
        (
            "llm_eval.score('x', 1, weight=-1)",
            "*ValueError: llm_eval.score('x'): weight must be >= 0, got -1*",
        ),
        (
            "llm_eval.score('x', 1, threshold=2)",
            "*ValueError: llm_eval.score('x') threshold must be from 0 to 1, got 2*",
        ),
        (
            "llm_eval.score('x', 1); llm_eval.score('x', 0)",
            "*ValueError: llm_eval.score(): a score named 'x' was already recorded*",
        ),
        (
            "llm_eval.log(when=object())",
            "*TypeError: llm_eval.log(when=...): the value must be JSON-serialisable*",
        ),
    ],
)
def test_bad_score_is_a_clear_error_at_the_call(
    pytester_env: pytest.Pytester, call: str, message: str
) -> None:
    result = run(
        pytester_env,
        f"""
        import pytest

        @pytest.mark.llm_eval
        def test_t(llm_eval):
            {call}
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    # the traceback points at the user's call, not into the recorder
    assert "recorder.py" not in result.stdout.str()


def test_fixture_without_marker_says_to_add_it(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        def test_unmarked(llm_eval):
            pass
        """,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_unmarked uses the llm_eval fixture but has no llm_eval marker.",
            "*Add @pytest.mark.llm_eval(threshold=...) to the test*",
        ]
    )


def test_log_metadata_and_skips(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval
        def test_logs(llm_eval):
            llm_eval.log(prompt_version="v2", tags=["a", "b"])
            assert llm_eval.metadata == {"prompt_version": "v2", "tags": ["a", "b"]}
            assert llm_eval.inferences == [] and llm_eval.cost_usd == 0.0

        @pytest.mark.llm_eval
        def test_skipped(llm_eval):
            pytest.skip("no data")
        """,
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["llm_eval: 1 case, 1 passed, 1 skipped · mean 1.00"])


def test_setup_error_counts_as_failed_case(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("no model")

        @pytest.mark.llm_eval
        def test_t(broken, llm_eval):
            pass
        """,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["llm_eval: 1 case, 0 passed, 1 failed*"])
