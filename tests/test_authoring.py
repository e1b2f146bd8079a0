"""The eval author's API: keyword-only score options, checks, the case, dataset assertions."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(source)
    return pytester.runpytest(*args)


def test_a_positional_weight_or_threshold_is_refused_naming_the_test(
    pytester_env: pytest.Pytester,
) -> None:
    # score("x", 0.6, 0.9) used to record weight 0.9 without a word
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval
        def test_positional(llm_eval):
            llm_eval.score("x", 0.6, 0.9)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TypeError: test_*.py::test_positional: llm_eval.score('x', 0.6, 0.9): weight and "
            "threshold are keyword-only; write llm_eval.score('x', 0.6, weight=..., threshold=...)"
        ]
    )


def test_weight_and_threshold_by_keyword_still_work(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval
        def test_t(llm_eval):
            llm_eval.score("x", 0.6, weight=2, threshold=0.5)
            assert llm_eval.scores["x"].weight == 2.0
            assert llm_eval.scores["x"].threshold == 0.5
        """,
    )
    result.assert_outcomes(passed=1)


CHECK_TEST = """
import pytest

@pytest.mark.llm_eval(threshold=0.5)
def test_answer(llm_eval):
    llm_eval.score("brevity", 1.0)
    assert llm_eval.check("polite", True) is True
    assert llm_eval.check("mentions_refund", False, reason="no 'refund' in the answer") is False
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["no-xdist", "xdist"])
def test_a_failed_check_fails_the_test_whatever_the_mean(
    pytester_env: pytest.Pytester, xdist: list[str]
) -> None:
    result = run(
        pytester_env,
        CHECK_TEST,
        "--llmeval-report=report.json",
        "--junitxml=out.xml",
        *xdist,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            # the check does not move the mean: brevity alone is 1.0
            "*llm_eval score 1.000 meets the threshold 0.500, but check mentions_refund failed:",
            "*brevity          1.000",
            "*polite           1.000  check passed",
            "*mentions_refund  0.000  check FAILED  reason: no 'refund' in the answer",
        ]
    )
    report = json.loads((pytester_env.path / "report.json").read_text())
    (case,) = report["results"]
    assert case["status"] == "below"
    by_name = {s["name"]: s for s in case["scores"]}
    assert by_name["mentions_refund"] == {
        "check": True,
        "name": "mentions_refund",
        "reason": "no 'refund' in the answer",
        "threshold": 1.0,
        "value": 0.0,
        "weight": 0.0,
    }
    assert by_name["polite"]["check"] is True and by_name["polite"]["value"] == 1.0
    assert by_name["brevity"]["check"] is False
    properties = {
        p.get("name"): p.get("value")
        for p in ET.parse(pytester_env.path / "out.xml").iter("property")
    }
    assert properties["llm_eval.score.mentions_refund"] == "0"
    assert properties["llm_eval.score.polite"] == "1"
    assert properties["llm_eval.status"] == "below"


def test_checks_that_pass_let_the_mean_decide(pytester_env: pytest.Pytester) -> None:
    # a passed check must not lift a weak score over the threshold
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.5)
        def test_weak(llm_eval):
            llm_eval.score("quality", 0.2)
            llm_eval.check("format", True)
            llm_eval.check("length", True)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*llm_eval score 0.200 is below the threshold 0.500 (weighted mean of 1 score):"]
    )


def test_several_misses_are_named_with_the_right_grammar(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest
        from pytest_llmeval import scorers

        @pytest.mark.llm_eval(threshold=0.1)
        def test_t(llm_eval):
            llm_eval.score("relevance", 0.4, threshold=0.8)
            llm_eval.score("faithfulness", 0.6, threshold=0.8)
            llm_eval.check("a", scorers.contains("hello", "bye"))
            llm_eval.check("b", 0.5)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*but checks a, b failed and relevance, faithfulness missed their own thresholds:",
        ]
    )


def test_a_check_refuses_what_is_not_a_verdict(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval
        def test_t(llm_eval):
            llm_eval.check("c", "yes")
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*TypeError: llm_eval.check('c') passed must be a bool or a number from 0 to 1, got str*"]
    )
