"""The `rubric` dataset assertion (promptfoo's `llm-rubric`): parsed at load, judged by
the test's judge in `llm_eval.run_checks()`, recorded as a check or a weighted score.

The judge is the real one through the openai and anthropic SDKs against the fake
provider, scripted by tokens in the judged output (`tests.test_judges_sdk.scripted`:
PASS-ME scores the top of the scale, FAIL-ME the bottom, GRADE-4 a 4), recorded and
then replayed offline; and a custom `llm_judge` from a conftest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmeval.records.assertions import Assertion, InvalidAssertion, parse_assertions
from tests.fakeprovider import FakeProviderServer, closed_port_url
from tests.test_judges_sdk import KEYS, schema_of, scripted


def test_rubric_and_its_promptfoo_spelling_parse_to_one_type() -> None:
    parsed = parse_assertions(
        [
            {"type": "rubric", "value": "is polite"},
            {"type": "llm-rubric", "value": "cites the policy", "threshold": 0.8},
            {"type": "rubric", "value": "short", "name": "brevity", "weight": 2, "threshold": 1},
        ]
    )
    assert parsed == (
        Assertion("rubric", "is polite", "rubric"),
        Assertion("rubric", "cites the policy", "rubric-2", None, 0.8),
        Assertion("rubric", "short", "brevity", 2.0, 1.0),
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"type": "rubric"},
            "assertion 1: rubric needs the criteria as a non-empty string 'value', "
            'e.g. {"type": "rubric", "value": "is polite"}',
        ),
        (
            {"type": "llm-rubric", "value": {"criteria": "polite"}},
            "assertion 1: rubric needs the criteria as a non-empty string 'value', "
            'e.g. {"type": "rubric", "value": "is polite"}',
        ),
        (
            {"type": "rubric", "value": "polite", "threshold": 1.5},
            "assertion 1: 'threshold' must be a number from 0 to 1, got 1.5",
        ),
        (
            {"type": "rubric", "value": "polite", "threshold": True},
            "assertion 1: 'threshold' must be a number from 0 to 1, got True",
        ),
        (
            {"type": "rubric", "value": "polite", "provider": "openai:gpt-4.1"},
            "assertion 1: unknown key provider (allowed: name, threshold, type, value, weight)",
        ),
        (
            {"type": "contains", "value": "x", "threshold": 0.5},
            "assertion 1: unknown key threshold (allowed: name, type, value, weight)",
        ),
    ],
    ids=[
        "no-value",
        "object-value",
        "threshold-above-1",
        "threshold-bool",
        "bad-key",
        "not-rubric",
    ],
)
def test_a_bad_rubric_is_refused_saying_why(entry: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidAssertion) as raised:
        parse_assertions([entry])
    assert str(raised.value) == message


CASES = """\
{"id": "polite", "input": "Can I get a refund?", "assert": [{"type": "rubric", "value": "Is polite"}, {"type": "icontains", "value": "refund"}]}
{"id": "rude", "input": "Can I get a refund?", "assert": [{"type": "llm-rubric", "value": "Is polite"}, {"type": "icontains", "value": "refund"}]}
{"id": "graded", "input": "How long?", "assert": [{"type": "rubric", "value": "States the window", "threshold": 0.7, "name": "window"}, {"type": "rubric", "value": "Names the policy", "threshold": 0.8, "weight": 1}]}
"""

SUITE = """
import pytest
from pytest_llmeval import load_cases

ANSWERS = {
    "polite": "PASS-ME Yes, a refund within 30 days, gladly.",
    "rude": "FAIL-ME No refund. Go away.",
    "graded": "GRADE-4 Thirty days.",
}

def app_test(model):
    @pytest.mark.llm_eval(threshold=0.5, judge_model=model, judge_scale="1-5")
    @pytest.mark.parametrize("case", load_cases("rows.jsonl"))
    def test_app(case, llm_eval):
        llm_eval.case(case, output=ANSWERS[case.id])
        print("RESULTS", case.id, model, sorted(llm_eval.run_checks().items()))
    return test_app

test_openai = app_test("openai:gpt-4.1-mini")
test_anthropic = app_test("anthropic:claude-haiku-4-5")
"""


@pytest.fixture
def judged(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_provider.url)
    fake_provider.set_handler(scripted)
    return pytester_env


def scores_of(path: Path) -> dict[str, list[tuple[str, bool | None, float, float | None]]]:
    report = json.loads(path.read_text())
    return {
        result["case_id"]: [
            (s["name"], s.get("check"), s["value"], s.get("threshold")) for s in result["scores"]
        ]
        for result in report["results"]
    }


def test_rubric_assertions_are_judged_and_recorded_then_replayed_offline(
    judged: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    judged.makefile(".jsonl", rows=CASES)
    judged.makepyfile(test_rows=SUITE)
    recorded = judged.runpytest("-s", "--llmeval-report=recorded.json")
    recorded.assert_outcomes(passed=2, failed=4)
    printed = recorded.stdout.str()
    for model in ("openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"):
        for line in (
            f"RESULTS polite {model} [('icontains', True), ('rubric', True)]",
            f"RESULTS rude {model} [('icontains', True), ('rubric', False)]",
            # a 4 on 1-5 is 0.75: above the window's 0.7, below the policy's 0.8
            f"RESULTS graded {model} [('rubric', False), ('window', True)]",
        ):
            assert line in printed
    recorded.stdout.fnmatch_lines(
        [
            # the failed rubric check fails the test although the mean is 1.0
            "*llm_eval score 1.000 meets the threshold 0.500, but check rubric failed:",
            "*rubric     0.000  check FAILED  reason: rubric: scripted: 1",
        ]
    )
    recorded.stdout.fnmatch_lines(
        [
            "*rubric  0.750  threshold 0.800 BELOW  reason: rubric: scripted: 4",
        ]
    )
    scores = scores_of(judged.path / "recorded.json")
    assert scores["test_rows.py::test_openai[polite]"] == [
        ("rubric", True, 1.0, 1.0),
        ("icontains", True, 1.0, 1.0),
    ]
    assert scores["test_rows.py::test_anthropic[rude]"] == [
        ("rubric", True, 0.0, 1.0),
        ("icontains", True, 1.0, 1.0),
    ]
    assert scores["test_rows.py::test_openai[graded]"] == [
        ("window", True, 1.0, 1.0),
        ("rubric", None, 0.75, 0.8),
    ]
    # each rubric was one judge call with its criteria, the output and the case's input
    sent = fake_provider.requests
    assert len(sent) == 8
    first = sent[0].body["messages"][-1]["content"]
    assert "Criteria:\nIs polite" in first
    assert "PASS-ME Yes, a refund within 30 days, gladly." in first
    assert "Can I get a refund?" in first
    assert schema_of(sent[0].body)["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    cassettes = sorted(p.name for p in judged.path.rglob("cassettes/**/*.json"))
    assert len(cassettes) == 6

    # offline: the judge's verdicts come from the cassettes, the scores are the same
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", closed_port_url())
    for name in KEYS:
        monkeypatch.delenv(name)
    replayed = judged.runpytest("--llmeval-record=none", "--llmeval-report=replayed.json")
    replayed.assert_outcomes(passed=2, failed=4)
    assert len(fake_provider.requests) == 8
    assert scores_of(judged.path / "replayed.json") == scores


CUSTOM_JUDGE = """
import pytest

@pytest.fixture
def llm_judge():
    def judge(output, criteria, *, input=None):
        # the test's judge gets the rubric as its criteria, and the case's input
        return 1.0 if criteria == "Says please" and "please" in output and input == "q" else 0.2
    return judge
"""


def test_the_rubric_goes_to_the_judge_configured_for_the_test(
    pytester_env: pytest.Pytester,
) -> None:
    pytester_env.makeconftest(CUSTOM_JUDGE)
    pytester_env.makefile(
        ".jsonl",
        rows='{"id": "a", "input": "q", "assert": [{"type": "rubric", "value": "Says please"}]}\n',
    )
    pytester_env.makepyfile(
        """
import pytest
from pytest_llmeval import load_cases

@pytest.mark.llm_eval
@pytest.mark.parametrize("case", load_cases("rows.jsonl"))
def test_t(case, llm_eval):
    llm_eval.case(case, output="yes please")
    assert llm_eval.run_checks() == {"rubric": True}
    score = llm_eval.scores["rubric"]
    assert (score.check, score.value, score.reason) == (True, 1.0, "rubric: llm_judge.<locals>.judge returned 1")

@pytest.mark.llm_eval
@pytest.mark.parametrize("case", load_cases("rows.jsonl"))
def test_twice(case, llm_eval):
    llm_eval.case(case, output="yes please")
    llm_eval.run_checks()
    llm_eval.run_checks()
"""
    )
    result = pytester_env.runpytest("--llmeval-record=none")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ValueError: test_*.py::test_twice?a?: case 'a', rubric: a score named 'rubric' "
            "was already recorded in this test*"
        ]
    )
