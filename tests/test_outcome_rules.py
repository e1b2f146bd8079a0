"""The rules that turn a test's scores into its score and status (records/outcome.py)."""

from __future__ import annotations

from pytest_llmeval.records.models import Score
from pytest_llmeval.records.outcome import evaluate
from pytest_llmeval.records.spec import EvalSpec


def test_a_body_that_passed_with_no_weighted_score_scores_one() -> None:
    strict = EvalSpec(threshold=1.0)
    assert evaluate(strict, [], body_passed=True) == evaluate(EvalSpec(), [], body_passed=True)
    outcome = evaluate(strict, [], body_passed=True)
    assert (outcome.score, outcome.status, outcome.message) == (1.0, "passed", None)
    # a score of weight 0 is reported but not counted: the same 1.0
    unweighted = [Score(name="style", value=0.2, weight=0.0)]
    assert evaluate(strict, unweighted, body_passed=True).score == 1.0


def test_a_body_that_raised_scores_zero_whatever_it_recorded() -> None:
    outcome = evaluate(EvalSpec(), [], body_passed=False)
    assert (outcome.score, outcome.status) == (0.0, "failed")


def test_scores_below_the_threshold_say_why() -> None:
    # (0.5 * 1 + 0.8 * 3) / 4 = 0.725, under 0.8
    scores = [Score(name="a", value=0.5), Score(name="b", value=0.8, weight=3.0)]
    outcome = evaluate(EvalSpec(threshold=0.8), scores, body_passed=True)
    assert abs(outcome.score - 0.725) < 1e-12 and outcome.status == "below"
    assert outcome.message is not None
    assert outcome.message.startswith("llm_eval score 0.725 is below the threshold 0.800")
