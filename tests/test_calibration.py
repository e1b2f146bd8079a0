"""Calibration of a judge against human labels: the maths by hand, then as a user.

The maths (`pytest_llmeval.records.calibration`) is checked against hand computations. The
pytester tests run `llm_eval.calibrate` over the shipped labelled set
(`tests/data/calibration/`, its README gives the numbers by hand) with a scripted judge
on the fake provider, through the real openai SDK: the kappa, rates and matrix; a floor
that fails the test and lists the disagreements; and a replay with the server gone.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from pytest_llmeval.records.calibration import (
    Rating,
    cohen_kappa,
    confusion_matrix,
    describe,
    measure_agreement,
    parse_label,
    read_labelled,
)
from pytest_llmeval.records.cases import Case, load_cases
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, closed_port_url
from tests.test_judges_sdk import KEYS, schema_of

LABELLED = Path(__file__).parent / "data" / "calibration" / "faithfulness.jsonl"

_NUMBER = re.compile(r"\d+(?:[.:]\d+)?")


def ratings(pairs: list[tuple[int, int]]) -> list[Rating]:
    return [Rating(f"c{index}", expected, judged) for index, (expected, judged) in enumerate(pairs)]


# -- the maths, by hand -------------------------------------------------------------------


def test_binary_kappa_rates_and_matrix_match_a_hand_computation() -> None:
    # 20 agreed fails, 5 fails the judge passed, 10 passes it failed, 15 agreed passes:
    # p_o = 35/50 = 0.7; p_e = (25*30 + 25*20)/50^2 = 0.5; kappa = 0.2/0.5 = 0.4
    pairs = [(0, 0)] * 20 + [(0, 1)] * 5 + [(1, 0)] * 10 + [(1, 1)] * 15
    agreement = measure_agreement(ratings(pairs), (0, 1))
    assert agreement.matrix == ((20, 5), (10, 15))
    assert agreement.weighting == "none"
    assert math.isclose(agreement.kappa, 0.4)
    assert math.isclose(agreement.observed, 0.7)
    assert math.isclose(agreement.true_positive_rate or 0, 15 / 25)
    assert math.isclose(agreement.true_negative_rate or 0, 20 / 25)
    assert len(agreement.disagreements) == 15


def test_quadratic_weighted_kappa_matches_a_hand_computation() -> None:
    # weights 1, 0.75, 0 for distance 0, 1, 2; matrix [[1,1,0],[0,1,1],[0,0,2]]:
    # p_o = (4 + 2*0.75)/6 = 11/12; rows (2,2,2), columns (1,2,3):
    # p_e = (2*1 + .75*2*2 + .75*2*1 + 2*2 + .75*2*3 + .75*2*2 + 2*3)/36 = 24/36
    # kappa = (11/12 - 2/3) / (1/3) = 0.75
    matrix = ((1, 1, 0), (0, 1, 1), (0, 0, 2))
    kappa, exact = cohen_kappa(matrix, "quadratic")
    assert math.isclose(kappa, 0.75)
    assert math.isclose(exact, 4 / 6)
    unweighted, _ = cohen_kappa(matrix, "none")
    # p_o = 4/6; p_e = (2*1 + 2*2 + 2*3)/36 = 1/3; kappa = (2/3 - 1/3)/(2/3) = 0.5
    assert math.isclose(unweighted, 0.5)


def test_grades_use_quadratic_weights_and_a_pass_mark() -> None:
    pairs = [(1, 1), (2, 3), (3, 3), (4, 5), (5, 5), (5, 4)]
    agreement = measure_agreement(ratings(pairs), (1, 2, 3, 4, 5))
    assert agreement.weighting == "quadratic"
    assert confusion_matrix(ratings(pairs), (1, 2, 3, 4, 5))[4] == (0, 0, 0, 1, 1)
    # a grade passes at (g - 1)/4 >= 0.5, i.e. 3 and up: 4 human passes, all judged passing
    assert agreement.true_positive_rate == 1.0
    assert agreement.true_negative_rate == 0.5  # 1 -> 1 fails, 2 -> 3 passes
    assert [r.case_id for r in agreement.disagreements] == ["c1", "c3", "c5"]


def test_kappa_when_everything_is_one_category() -> None:
    same = measure_agreement(ratings([(1, 1)] * 4), (0, 1))
    assert same.kappa == 1.0 and same.true_negative_rate is None
    assert math.isnan(cohen_kappa(((0, 0), (0, 0)))[0])
    # all labels fail, all answers pass: p_o = 0, p_e = 0, kappa = 0
    assert cohen_kappa(((0, 2), (0, 0))) == (0.0, 0.0)
    assert measure_agreement([], (0, 1)).to_json()["kappa"] is None


def test_labels_are_parsed_with_clear_errors() -> None:
    assert [parse_label(v, (0, 1)) for v in ("PASS", "fail", True, 0, "1")] == [1, 0, 1, 0, 1]
    assert parse_label("4", (1, 2, 3, 4, 5)) == 4
    with pytest.raises(ValueError, match="the label must be pass or fail, got 'maybe'"):
        parse_label("maybe", (0, 1))
    with pytest.raises(ValueError, match="an integer grade from 1 to 5, got 7"):
        parse_label(7, (1, 2, 3, 4, 5))
    case = Case(id="row-1", input="q", metadata={"output": "a"})
    with pytest.raises(ValueError, match="labelled case 'row-1': needs a `label`"):
        read_labelled(case, (0, 1))
    bad = Case(id="row-2", input="q", metadata={"output": "a", "label": "meh"})
    with pytest.raises(ValueError, match="labelled case 'row-2': the label must be pass or fail"):
        read_labelled(bad, (0, 1))


def test_describe_lists_every_disagreement_with_its_reason() -> None:
    rows = [Rating("a", 1, 1), Rating("b", 0, 1, "looked fine")]
    text = describe(measure_agreement(rows, (0, 1)))
    assert "confusion matrix (rows: expected, columns: judge): fail: [0 1]  pass: [0 1]" in text
    assert text.endswith("1 disagreement(s):\n  b: expected fail, judge said pass: looked fine")


def test_the_shipped_set_loads_with_its_labels() -> None:
    cases = load_cases(LABELLED)
    rows = [read_labelled(case, (0, 1)) for case in cases]
    assert len(rows) == 30
    assert sum(row.label for row in rows) == 17
    assert all(row.context and row.input for row in rows)


# -- as a user: a scripted judge over the shipped set ------------------------------------


def fenced(text: str, label: str) -> str:
    found = re.search(rf"<{label}-([0-9a-f]{{16}})>\n(.*?)\n</{label}-\1>", text, re.DOTALL)
    assert found is not None, f"no {label} piece in the judge request"
    return found.group(2)


def numbers_judge(request: RecordedRequest) -> ReplySpec | None:
    """A faithfulness judge that only checks that the output's numbers are in the context."""
    if "score" not in schema_of(request.body)["properties"]:
        return None
    output, context = fenced(request.text, "output"), fenced(request.text, "context")
    unknown = sorted(set(_NUMBER.findall(output)) - set(_NUMBER.findall(context)))
    reasoning = (
        f"numbers not in the context: {', '.join(unknown)}"
        if unknown
        else ("every number is in the context")
    )
    return ReplySpec(json={"reasoning": reasoning, "score": 0 if unknown else 1})


SUITE = """
import pytest
from pytest_llmeval import load_cases
from pytest_llmeval.judges import Faithfulness

CASES = load_cases({path!r})

@pytest.mark.llm_eval(threshold=0)
def test_judge_agrees_with_humans(llm_eval):
    agreement = llm_eval.calibrate(Faithfulness(), CASES{extra})
    print("KAPPA", round(agreement.kappa, 6), agreement.matrix)
"""


@pytest.fixture
def calibrating(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    for name in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    fake_provider.set_handler(numbers_judge)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    return pytester_env


def write_suite(pytester: pytest.Pytester, extra: str = "") -> None:
    pytester.makepyfile(test_calibrate=SUITE.format(path=str(LABELLED), extra=extra))


def test_calibration_matches_the_hand_computation_then_replays_offline(
    calibrating: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_suite(calibrating)
    recorded = calibrating.runpytest("-s", "--llmeval-report=report.json")
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines(["*KAPPA 0.447005 ((8, 5), (3, 14))*"])
    assert len(fake_provider.requests) == 30
    report = json.loads((calibrating.path / "report.json").read_text())
    (result,) = report["results"]
    summary = result["metadata"]["calibration"]
    assert summary["confusion_matrix"] == [[8, 5], [3, 14]]
    assert math.isclose(summary["kappa"], 194 / 434)
    assert math.isclose(summary["true_positive_rate"], 14 / 17)
    assert math.isclose(summary["true_negative_rate"], 8 / 13)
    assert math.isclose(summary["observed_agreement"], 22 / 30)
    assert sorted(d["case"] for d in summary["disagreements"]) == sorted(
        [
            "damaged-30-days", "gift-wrapping", "gift-card-return", "weekend-support",
            "return-used-item", "damaged-2-weeks", "support-8-hours", "cost-490-cents",
        ]
    )  # fmt: skip
    scores = {score["name"]: score for score in result["scores"]}
    assert math.isclose(scores["calibration:kappa"]["value"], 194 / 434)
    assert scores["calibration:gift-wrapping"]["weight"] == 0.0
    assert math.isclose(result["score"], 194 / 434)  # only the kappa weighs
    cassette_files = sorted(calibrating.path.rglob("cassettes/**/*.json"))
    assert len(cassette_files) == 1
    before = cassette_files[0].read_bytes()

    # the server is gone: every judge call replays, and the numbers are the same
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    for name in KEYS:
        monkeypatch.delenv(name)
    replayed = calibrating.runpytest("-s", "--llmeval-record=none")
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*KAPPA 0.447005 ((8, 5), (3, 14))*"])
    assert len(fake_provider.requests) == 30
    assert cassette_files[0].read_bytes() == before


def test_a_judge_below_the_floor_fails_listing_the_disagreements(
    calibrating: pytest.Pytester,
) -> None:
    write_suite(calibrating)
    result = calibrating.runpytest("--llmeval-judge-min-kappa=0.6")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*judge calibration 'calibration': kappa 0.447 is below the floor 0.6 *",
            "kappa 0.447 over 30 cases (observed agreement 0.73, true-positive rate 0.82, "
            "true-negative rate 0.62)",
            "confusion matrix (rows: expected, columns: judge): fail: [8 5]  pass: [3 14]",
            "8 disagreement(s):",
            "  damaged-30-days: expected fail, judge said pass: every number is in the context",
        ]
    )
    result.stdout.fnmatch_lines(
        ["  cost-490-cents: expected pass, judge said fail: numbers not in the context: 490"]
    )

    # the marker-side argument overrides the option, either way
    write_suite(calibrating, extra=", min_kappa=0.4")
    calibrating.runpytest("--llmeval-judge-min-kappa=0.6").assert_outcomes(passed=1)


def test_a_bad_floor_names_the_option(calibrating: pytest.Pytester) -> None:
    write_suite(calibrating)
    result = calibrating.runpytest("--llmeval-judge-min-kappa=2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llmeval-judge-min-kappa*must be between -1 and 1*"])
