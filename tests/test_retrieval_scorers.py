"""Retrieval metrics (pytest_llmeval.scorers, from retrieval_scorers) against hand computations."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from pytest_llmeval.scorers import (
    Scored,
    hit_rate_at_k,
    mrr,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

RETRIEVED = ["d3", "d1", "d7", "d2", "d9"]
RELEVANT = {"d1", "d2", "d5"}


@pytest.mark.parametrize(
    ("k", "expected"),
    [(1, 0 / 1), (3, 1 / 3), (5, 2 / 5), (10, 2 / 10)],  # k past the list still divides by k
)
def test_precision_at_k(k: int, expected: float) -> None:
    assert precision_at_k(RETRIEVED, RELEVANT, k) == pytest.approx(expected)


@pytest.mark.parametrize(("k", "expected"), [(1, 0 / 3), (3, 1 / 3), (5, 2 / 3), (10, 2 / 3)])
def test_recall_at_k(k: int, expected: float) -> None:
    assert recall_at_k(RETRIEVED, RELEVANT, k) == pytest.approx(expected)


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 1.0), (10, 1.0)])
def test_hit_rate_at_k(k: int, expected: float) -> None:
    assert hit_rate_at_k(RETRIEVED, RELEVANT, k) == expected


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant_id() -> None:
    assert mrr(RETRIEVED, RELEVANT) == 0.5  # d1 at rank 2
    assert mrr(["d2", "d1"], RELEVANT) == 1.0
    assert mrr(["x", "y", "z", "d5"], RELEVANT) == 0.25
    assert mrr(RETRIEVED, RELEVANT, k=1) == 0.0
    assert mrr(["x", "y"], RELEVANT) == 0.0


def test_ndcg_binary_by_hand() -> None:
    # hits at ranks 2 (d1) and 4 (d2); the ideal puts the 3 relevant ids at ranks 1-3
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # 0.63093 + 0.43068
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # 1 + 0.63093 + 0.5
    score = ndcg_at_k(RETRIEVED, RELEVANT, 5)
    assert score == pytest.approx(dcg / ideal)
    assert score == pytest.approx(0.49819, abs=1e-5)
    assert score.details == pytest.approx({"dcg": dcg, "ideal_dcg": ideal})
    # k=2: dcg = 1/log2(3), ideal = 1 + 1/log2(3)
    assert ndcg_at_k(RETRIEVED, RELEVANT, 2) == pytest.approx(0.63093 / 1.63093, abs=1e-5)


def test_ndcg_graded_by_hand() -> None:
    grades = {"a": 3, "b": 2, "c": 1}
    # c, b, a: 1/1 + 2/log2(3) + 3/log2(4) = 3.76186; ideal a, b, c: 3 + 1.26186 + 0.5
    assert ndcg_at_k(["c", "b", "a"], grades, 3) == pytest.approx(3.76186 / 4.76186, abs=1e-5)
    assert ndcg_at_k(["a", "b", "c"], grades, 3) == 1.0
    # an unknown id and a grade-0 id gain nothing: only b at rank 3 counts
    zero = ndcg_at_k(["x", "z", "b"], {**grades, "z": 0}, 2)
    assert zero == 0.0
    assert ndcg_at_k(["x", "b"], grades, 2) == pytest.approx(
        (2 / math.log2(3)) / (3 + 2 / math.log2(3))
    )


def test_ties_of_equal_grade_cost_nothing() -> None:
    assert ndcg_at_k(["b", "a", "c"], {"a": 2, "b": 2, "c": 1}, 3) == 1.0
    assert ndcg_at_k(["a", "b"], {"a", "b"}, 2) == ndcg_at_k(["b", "a"], {"a", "b"}, 2) == 1.0


def test_a_repeated_id_counts_once_and_wastes_its_slot() -> None:
    retrieved = ["d1", "d1", "d2"]
    assert precision_at_k(retrieved, {"d1", "d2"}, 2) == 0.5
    assert recall_at_k(retrieved, {"d1", "d2"}, 2) == 0.5
    assert recall_at_k(retrieved, {"d1", "d2"}, 3) == 1.0
    # dcg = 1 + 1/log2(4); ideal = 1 + 1/log2(3)
    assert ndcg_at_k(retrieved, {"d1", "d2"}, 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_empty_results_score_zero() -> None:
    assert precision_at_k([], RELEVANT, 3) == 0.0
    assert recall_at_k([], RELEVANT, 3) == 0.0
    assert hit_rate_at_k([], RELEVANT, 3) == 0.0
    assert mrr([], RELEVANT) == 0.0
    assert ndcg_at_k([], RELEVANT, 3) == 0.0
    assert precision_at_k(RETRIEVED, [], 3) == 0.0  # nothing relevant: no hit, defined


@pytest.mark.parametrize(
    "call",
    [
        lambda: recall_at_k(RETRIEVED, [], 3),
        lambda: hit_rate_at_k(RETRIEVED, set(), 3),
        lambda: mrr(RETRIEVED, ()),
        lambda: ndcg_at_k(RETRIEVED, {"d1": 0}, 3),
    ],
    ids=["recall", "hit_rate", "mrr", "ndcg"],
)
def test_an_empty_relevant_set_is_refused(call: object) -> None:
    with pytest.raises(ValueError, match=r"^\w+: .*(relevant is empty|no relevant id).*leave"):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: precision_at_k(RETRIEVED, RELEVANT, 0), "precision_at_k: k must be a whole"),
        (lambda: recall_at_k(RETRIEVED, RELEVANT, True), "recall_at_k: k must be a whole"),
        (lambda: mrr("d1 d2", RELEVANT), "mrr: retrieved must be a list of ids"),
        (lambda: hit_rate_at_k(RETRIEVED, "d1", 1), "hit_rate_at_k: relevant must be a coll"),
        (lambda: ndcg_at_k(RETRIEVED, {"d1": -1}, 3), "ndcg_at_k: the grade of 'd1' must be"),
        (lambda: ndcg_at_k(RETRIEVED, {"d1": "high"}, 3), "ndcg_at_k: the grade of 'd1' must"),
        (lambda: precision_at_k([["a"]], RELEVANT, 1), "precision_at_k: retrieved ids must be"),
    ],
)
def test_bad_arguments_name_the_scorer(call: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError)) as raised:
        call()  # type: ignore[operator]
    assert str(raised.value).startswith(message)


def test_reasons_name_the_ranks() -> None:
    assert isinstance(precision_at_k(RETRIEVED, RELEVANT, 5), Scored)
    assert precision_at_k(RETRIEVED, RELEVANT, 5).reason == (
        "2 of the top 5 relevant: 'd1' at rank 2, 'd2' at rank 4"
    )
    assert recall_at_k(RETRIEVED, RELEVANT, 5).reason == (
        "found 2 of 3 relevant in the top 5; missing 'd5'"
    )
    assert hit_rate_at_k(RETRIEVED, RELEVANT, 1).reason == "no relevant id in the top 1 ('d3')"
    assert mrr(RETRIEVED, RELEVANT).reason == "first relevant 'd1' at rank 2"


def test_a_retrieval_metric_is_recorded_with_its_reason(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(
        """
        import pytest
        from pytest_llmeval.scorers import recall_at_k

        @pytest.mark.llm_eval(threshold=0.9)
        def test_search(llm_eval):
            llm_eval.score("recall@3", recall_at_k(["a", "x", "y"], ["a", "b"], 3))
        """
    )
    result = pytester_env.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*recall@3  0.500  reason: found 1 of 2 relevant in the top 3; missing 'b'"]
    )


def test_importing_the_scorers_stays_stdlib_only_when_a_retrieval_metric_is_used() -> None:
    code = (
        "import sys, pytest_llmeval.scorers as s\n"
        "before = 'pytest_llmeval.scorers.retrieval' in sys.modules\n"
        "s.ndcg_at_k(['a'], ['a'], 1)\n"
        "print(before, 'pytest_llmeval.scorers.retrieval' in sys.modules,\n"
        "      'pydantic' in sys.modules, 'pytest_llmeval.records.trajectory' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "False", "False"]
