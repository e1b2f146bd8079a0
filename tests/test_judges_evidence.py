"""Evidence-checked verdicts: the judge quotes its evidence, the plugin looks it up.

Unit tests of the lookup (whitespace, case, ellipses, quotation marks), of the answer
schema (old replies without evidence still load), then the real SDKs against the fake
provider (a fabricated quote is caught, a real one passes, strict scoring), and a user's
run through pytester: the failure message and the JSON report name the missing quote.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmeval.judges import Correctness, Faithfulness, LLMJudge, Rubric
from pytest_llmeval.judges.answers import InvalidAnswer, score_spec
from pytest_llmeval.judges.evidence import missing_quotes, normalise
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec
from tests.test_judges_sdk import KEYS, schema_of

CONTEXT = [
    "Refunds are accepted within 30 days of purchase.",
    "Shipping is free on orders above 50 euros.",
]

#: What the scripted judge quotes, by a token in the judged output.
QUOTES: dict[str, list[str]] = {
    "REAL-QUOTE": ["refunds are  accepted\nwithin 30 DAYS"],
    "FABRICATED-QUOTE": ["Refunds are accepted within 90 days", "free on orders above 50"],
    "ELLIPSIS-QUOTE": ["“Refunds are accepted … 30 days”"],
    "OUTPUT-QUOTE": ["you may return it"],
}


def quoting(request: RecordedRequest) -> ReplySpec | None:
    """A judge that quotes the evidence named by the token in the output (1 = passes)."""
    properties = schema_of(request.body)["properties"]
    answer: dict[str, Any] = {"reasoning": "scripted with evidence"}
    if "evidence" in properties:
        token = next((t for t in QUOTES if t in request.text), None)
        answer["evidence"] = QUOTES[token] if token else []
    answer["score"] = max(properties["score"]["enum"])
    return ReplySpec(json=answer)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


# -- the lookup --------------------------------------------------------------------------


def test_normalise_folds_whitespace_and_case() -> None:
    assert normalise("  Refunds\tARE\n\n accepted ") == "refunds are accepted"


@pytest.mark.parametrize(
    ("quote", "found"),
    [
        ("refunds are  accepted\nwithin 30 DAYS", True),
        ('"Shipping is free"', True),
        ("Refunds are accepted … 30 days", True),
        ("Refunds are accepted ... purchase", True),
        ("30 days ... Refunds", False),  # the parts must come in order
        ("Refunds are accepted within 90 days", False),
        ("accepted within 30 days of purchase. Shipping", False),  # not across passages
        ("  ", None),  # nothing to look up: ignored
    ],
)
def test_a_quote_is_found_after_normalising(quote: str, found: bool | None) -> None:
    missing = missing_quotes([quote], CONTEXT)
    assert missing == ([] if found in (True, None) else [quote])


def test_missing_quotes_are_listed_once_in_order() -> None:
    quotes = ["made up", "Shipping is free", "also made up", "made up"]
    assert missing_quotes(quotes, CONTEXT) == ["made up", "also made up"]


# -- the answer ---------------------------------------------------------------------------


def test_the_evidence_schema_puts_evidence_between_reasoning_and_score() -> None:
    schema = score_spec("binary", evidence=True).schema()
    assert list(schema["properties"]) == ["reasoning", "evidence", "score"]
    assert schema["required"] == ["reasoning", "evidence", "score"]
    assert schema["properties"]["evidence"]["items"] == {"type": "string"}
    assert list(score_spec("binary").schema()["properties"]) == ["reasoning", "score"]


def test_an_answer_without_evidence_still_loads() -> None:
    spec = score_spec("binary", evidence=True)
    assert spec.parse_with_evidence('{"reasoning": "r", "score": 1}') == ("r", 1, None)
    text = '{"reasoning": "r", "evidence": ["a", "b"], "score": 0}'
    assert spec.parse_with_evidence(text) == ("r", 0, ("a", "b"))
    with pytest.raises(InvalidAnswer, match='"evidence" must be a list of strings'):
        spec.parse_with_evidence('{"reasoning": "r", "evidence": "a", "score": 0}')
    with pytest.raises(InvalidAnswer, match="unexpected key"):
        score_spec("binary").parse('{"reasoning": "r", "evidence": [], "score": 0}')


def test_only_kinds_asked_for_evidence_ask_for_it() -> None:
    from pytest_llmeval.judges.kinds import Material

    material = Material(output="o", reference="r", context=("c",))
    (plain,) = Faithfulness().prompts(material)
    (quoting_prompt,) = Faithfulness(evidence=True).prompts(material)
    assert not plain.answer.evidence and '"evidence"' not in plain.system
    assert quoting_prompt.answer.evidence
    assert "exactly three keys" in quoting_prompt.system
    assert "never paraphrase" in quoting_prompt.system
    assert Correctness(strict_evidence=True).prompts(material)[0].answer.evidence
    with pytest.raises(TypeError, match="Faithfulness: evidence must be True or False"):
        Faithfulness(evidence="yes")  # type: ignore[arg-type]


# -- through the SDKs ---------------------------------------------------------------------


@pytest.mark.parametrize("model", ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"])
def test_a_fabricated_quote_is_caught_and_a_real_one_passes(
    fake_provider: FakeProviderServer, keys: None, model: str
) -> None:
    fake_provider.set_handler(quoting)
    base_url = fake_provider.openai_base_url if model.startswith("openai") else fake_provider.url
    judge = LLMJudge(model, base_url=base_url)

    real = judge("REAL-QUOTE: within 30 days", Faithfulness(evidence=True), context=CONTEXT)
    assert schema_of(fake_provider.requests[-1].body)["required"] == [
        "reasoning",
        "evidence",
        "score",
    ]
    assert (real.passed, real.evidence_missing) == (True, [])
    assert real.evidence == QUOTES["REAL-QUOTE"]
    assert real.reason == "scripted with evidence"

    fabricated = judge("FABRICATED-QUOTE", Faithfulness(evidence=True), context=CONTEXT)
    assert fabricated.evidence_missing == ["Refunds are accepted within 90 days"]
    assert (fabricated.score, fabricated.passed) == (1.0, True)  # marked, not scored down
    assert fabricated.reason.endswith(
        '[evidence not found in the material: "Refunds are accepted within 90 days"]'
    )

    strict = Faithfulness(strict_evidence=True)
    scored_down = judge("FABRICATED-QUOTE", strict, context=CONTEXT)
    assert (scored_down.score, scored_down.passed) == (0.0, False)
    assert "[scored 0: evidence not found" in scored_down.reason

    # quotes may come from the output or the reference too, and an ellipsis joins parts
    correct = Correctness(strict_evidence=True)
    assert judge("OUTPUT-QUOTE: you may return it", correct, reference="30 days").passed
    assert judge("ELLIPSIS-QUOTE", strict, context=CONTEXT).evidence_missing == []


def test_kinds_without_evidence_send_what_they_always_sent(
    fake_provider: FakeProviderServer, keys: None
) -> None:
    fake_provider.set_handler(quoting)
    judge = LLMJudge("openai:gpt-4.1-mini", base_url=fake_provider.openai_base_url)
    verdict = judge("FABRICATED-QUOTE", Faithfulness(), context=CONTEXT)
    rubric = judge("FABRICATED-QUOTE", Rubric("Polite"))
    assert (verdict.evidence, verdict.evidence_missing) == (None, [])
    assert rubric.evidence is None
    for request in fake_provider.requests:
        assert list(schema_of(request.body)["properties"]) == ["reasoning", "score"]


# -- as a user ----------------------------------------------------------------------------

USER_SUITE = """
import pytest
from pytest_llmeval.judges import Faithfulness

CONTEXT = ["Refunds are accepted within 30 days of purchase."]

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("output", ["REAL-QUOTE", "FABRICATED-QUOTE"])
def test_grounded(output, llm_eval):
    llm_eval.judge(output, Faithfulness(strict_evidence=True), context=CONTEXT, name="faithful")
"""


def test_a_missing_quote_is_reported_per_case(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    keys: None,
) -> None:
    fake_provider.set_handler(quoting)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    pytester_env.makepyfile(test_grounded=USER_SUITE)
    result = pytester_env.runpytest("--llmeval-report=report.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ['*faithful*[[]scored 0: evidence not found in the material: "Refunds are accepted*']
    )
    report = json.loads((pytester_env.path / "report.json").read_text())
    by_case = {r["nodeid"].split("[")[1]: r for r in report["results"]}
    fabricated = by_case["FABRICATED-QUOTE]"]
    assert fabricated["metadata"]["evidence_missing"] == {
        "faithful": ["Refunds are accepted within 90 days", "free on orders above 50"]
    }
    assert "evidence_missing" not in by_case["REAL-QUOTE]"]["metadata"]
