"""The context judges of the RAG triad: relevance, precision and recall of the context.

The maths is checked by hand; the judges run through the real openai and anthropic
SDKs against the fake provider, whose scripted judge decides each passage by a token
in it (`REL` relevant, `IRR` not) and each statement of the reference by whether the
context contains it word for word. As a user: `llm_eval.case()` material, both
providers, recorded then replayed offline.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.core.errors import JudgeError
from pytest_llmeval.judges import (
    ContextPrecision,
    ContextRecall,
    ContextRelevance,
    LLMJudge,
    SelfConsistency,
)
from pytest_llmeval.judges.answers import InvalidAnswer, ItemListSpec, ItemVerdict
from pytest_llmeval.judges.context import average_precision
from pytest_llmeval.judges.kinds import Material
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, closed_port_url
from tests.test_judges_sdk import KEYS, schema_of

_PIECE = r"<{label}-([0-9a-f]{{16}})>\n(.*?)\n</{label}-\1>"


def piece(text: str, label: str) -> str | None:
    found = re.search(_PIECE.format(label=label), text, re.DOTALL)
    return None if found is None else found.group(2)


def context_judge(request: RecordedRequest) -> ReplySpec | None:
    """A judge that decides passages by their REL / IRR token and statements by lookup."""
    body = request.body
    messages = body["messages"]
    user = next(m["content"] for m in messages if m["role"] == "user")
    properties = schema_of(body)["properties"]
    context = piece(user, "context") or ""
    if "verdicts" in properties:
        tokens = re.findall(r"\b(REL|IRR)\b", context)
        if "SKIP-ONE" in context and len(messages) <= 2:  # the first reply leaves one out
            tokens = tokens[:-1]
        verdicts = [
            {"passage": n, "reasoning": f"scripted: {t}", "relevant": int(t == "REL")}
            for n, t in enumerate(tokens, 1)
        ]
        return ReplySpec(json={"reasoning": "scripted passages", "verdicts": verdicts[::-1]})
    if "statements" in properties:
        reference = piece(user, "reference") or ""
        statements = [s.strip() for s in reference.split(".") if s.strip()]
        found = [
            {
                "statement": s,
                "reasoning": "scripted lookup",
                "supported": int(s.lower() in context.lower()),
            }
            for s in statements
        ]
        return ReplySpec(json={"reasoning": "scripted statements", "statements": found})
    return None


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


MODELS = ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"]


def make_judge(model: str, fake_provider: FakeProviderServer) -> LLMJudge:
    fake_provider.set_handler(context_judge)
    url = fake_provider.openai_base_url if model.startswith("openai") else fake_provider.url
    return LLMJudge(model, base_url=url)


# -- the maths, by hand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([1, 0, 1], (1 / 1 + 2 / 3) / 2),  # 0.8333
        ([0, 1, 1], (1 / 2 + 2 / 3) / 2),  # 0.5833
        ([0, 0, 1], 1 / 3),
        ([1, 1, 0], (1 / 1 + 2 / 2) / 2),  # relevant first: perfect
        ([1, 0, 0, 1], (1 / 1 + 2 / 4) / 2),  # 0.75
        ([1], 1.0),
        ([0], 0.0),
        ([0, 0, 0], 0.0),  # nothing relevant: 0, not a division by zero
        ([], 0.0),
    ],
)
def test_average_precision_by_hand(verdicts: list[int], expected: float) -> None:
    assert average_precision(verdicts) == pytest.approx(expected, abs=1e-12)


def test_the_same_relevant_passages_score_higher_ranked_first() -> None:
    assert average_precision([1, 1, 0, 0]) > average_precision([0, 1, 0, 1]) > 0


# -- the list answer -------------------------------------------------------------------


def passage_spec(count: int) -> ItemListSpec:
    passages = tuple(f"p{n}" for n in range(count))
    return ContextRelevance().answer(Material(output="", input="q", context=passages))


def test_the_list_answer_is_read_in_passage_order() -> None:
    spec = passage_spec(3)
    reply = {
        "reasoning": "r",
        "verdicts": [
            {"passage": 3, "reasoning": "c", "relevant": 1},
            {"passage": 1, "reasoning": "a", "relevant": 0},
            {"passage": 2, "reasoning": "b", "relevant": "1"},
        ],
    }
    reading = spec.read(json.dumps(reply))
    assert reading.reasoning == "r" and reading.decision == 2
    assert reading.items == (
        ItemVerdict(1, 0, "a"),
        ItemVerdict(2, 1, "b"),
        ItemVerdict(3, 1, "c"),
    )
    schema = spec.schema()
    item = schema["properties"]["verdicts"]["items"]
    assert item["properties"]["passage"]["enum"] == [1, 2, 3]
    assert item["required"] == ["passage", "reasoning", "relevant"]
    assert item["additionalProperties"] is False and schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("verdicts", "message"),
    [
        (
            [{"passage": 1, "reasoning": "a", "relevant": 1}],
            '"verdicts" must give one verdict for each passage from 1 to 2: missing 2',
        ),
        (
            [
                {"passage": 1, "reasoning": "a", "relevant": 1},
                {"passage": 1, "reasoning": "b", "relevant": 0},
            ],
            '"verdicts" must give one verdict for each passage from 1 to 2: missing 2, repeated 1',
        ),
        (
            [
                {"passage": 1, "reasoning": "a", "relevant": 2},
                {"passage": 2, "reasoning": "b", "relevant": 0},
            ],
            '"verdicts" item 1: "relevant" must be 0 or 1, got 2',
        ),
        (
            [{"passage": 1, "reasoning": "a"}, {"passage": 2, "reasoning": "b", "relevant": 0}],
            "\"verdicts\" item 1: the JSON object lacks 'relevant'",
        ),
        ([], '"verdicts" must be a non-empty list of objects'),
    ],
    ids=["missing", "repeated", "bad-verdict", "no-verdict", "empty"],
)
def test_an_unusable_list_answer_says_what_is_wrong(
    verdicts: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(InvalidAnswer) as raised:
        passage_spec(2).read(json.dumps({"reasoning": "r", "verdicts": verdicts}))
    assert str(raised.value) == message


# -- through the SDKs ------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_context_relevance_is_the_share_of_relevant_passages(
    model: str, fake_provider: FakeProviderServer, keys: None
) -> None:
    judge = make_judge(model, fake_provider)
    passages = ["REL Paris is the capital.", "IRR Lyon has silk.", "REL Paris has 2M people."]
    verdict = judge("", ContextRelevance(), input="Tell me about Paris", context=passages)
    assert (verdict.score, verdict.passed, verdict.kind) == (2 / 3, True, "context_relevance")
    assert verdict.raw_score == 2.0 and verdict.model == model
    assert verdict.reason.splitlines() == [
        "2 of 3 passages relevant to the input. scripted passages",
        "[1] relevant: scripted: REL",
        "[2] not relevant: scripted: IRR",
        "[3] relevant: scripted: REL",
    ]
    (request,) = fake_provider.requests
    schema = schema_of(request.body)
    assert list(schema["properties"]) == ["reasoning", "verdicts"]
    assert schema["properties"]["verdicts"]["items"]["properties"]["passage"]["enum"] == [1, 2, 3]
    if model.startswith("openai"):
        assert request.body["response_format"]["json_schema"]["strict"] is True
    else:
        assert request.body["output_config"]["format"]["type"] == "json_schema"
    user = request.body["messages"][-1]["content"]
    assert "3 passages, numbered [1] to [3]" in user and "Tell me about Paris" in user
    assert "<output-" not in user  # a context judge reads no output


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    ("tokens", "expected", "summary"),
    [
        (["REL", "IRR", "REL"], (1 + 2 / 3) / 2, "2 relevant at ranks 1, 3"),
        (["IRR", "REL", "REL"], (1 / 2 + 2 / 3) / 2, "2 relevant at ranks 2, 3"),
        (["IRR", "IRR", "REL"], 1 / 3, "1 relevant at rank 3"),
        (["REL", "REL", "IRR"], 1.0, "2 relevant at ranks 1, 2"),
        (["IRR", "IRR", "IRR"], 0.0, "0 relevant"),
    ],
)
def test_context_precision_is_the_average_precision_of_the_ranking(
    model: str,
    tokens: list[str],
    expected: float,
    summary: str,
    fake_provider: FakeProviderServer,
    keys: None,
) -> None:
    judge = make_judge(model, fake_provider)
    passages = [f"{token} passage {n}" for n, token in enumerate(tokens, 1)]
    verdict = judge("", ContextPrecision(), input="q?", context=passages, reference="ref")
    assert verdict.score == pytest.approx(expected, abs=1e-12)
    assert verdict.passed == (expected >= 0.5)
    first = verdict.reason.splitlines()[0]
    assert first == f"average precision {expected:.3f} over 3 passages ({summary}). " + (
        "scripted passages"
    )
    (request,) = fake_provider.requests
    assert "ref" in (piece(request.body["messages"][-1]["content"], "reference") or "")


@pytest.mark.parametrize("model", MODELS)
def test_one_passage(model: str, fake_provider: FakeProviderServer, keys: None) -> None:
    judge = make_judge(model, fake_provider)
    relevant = judge("", ContextPrecision(), input="q?", context="REL the only passage")
    assert (relevant.score, relevant.reason.splitlines()[0]) == (
        1.0,
        "average precision 1.000 over 1 passage (1 relevant at rank 1). scripted passages",
    )
    missed = judge("", ContextRelevance(), input="q?", context=["IRR the only passage"])
    assert (missed.score, missed.passed) == (0.0, False)
    assert (
        missed.reason.splitlines()[0] == "0 of 1 passage relevant to the input. scripted passages"
    )
    request = fake_provider.requests[-1]
    assert "The context holds one passage (passage 1)." in request.body["messages"][-1]["content"]
    assert schema_of(request.body)["properties"]["verdicts"]["items"]["properties"]["passage"][
        "enum"
    ] == [1]


@pytest.mark.parametrize("model", MODELS)
def test_context_recall_is_the_share_of_supported_reference_statements(
    model: str, fake_provider: FakeProviderServer, keys: None
) -> None:
    judge = make_judge(model, fake_provider)
    context = ["Paris is the capital of France. It is on the Seine.", "The Louvre is in Paris."]
    reference = "Paris is the capital of France. The Louvre is in Paris. It has 20 bridges."
    verdict = judge("", ContextRecall(), context=context, reference=reference)
    assert (verdict.score, verdict.raw_score, verdict.kind) == (2 / 3, 2.0, "context_recall")
    assert verdict.reason.splitlines() == [
        "2 of 3 reference statements supported by the context. scripted statements",
        '1. "Paris is the capital of France" supported: scripted lookup',
        '2. "The Louvre is in Paris" supported: scripted lookup',
        '3. "It has 20 bridges" not supported: scripted lookup',
    ]
    (request,) = fake_provider.requests
    schema = schema_of(request.body)
    assert list(schema["properties"]) == ["reasoning", "statements"]
    item = schema["properties"]["statements"]["items"]["properties"]
    assert list(item) == ["statement", "reasoning", "supported"]


def test_an_incomplete_list_is_reasked_quoting_what_is_missing(
    fake_provider: FakeProviderServer, keys: None
) -> None:
    judge = make_judge("openai:gpt-4.1-mini", fake_provider)
    verdict = judge("", ContextRelevance(), input="q", context=["REL a", "IRR b SKIP-ONE"])
    assert verdict.score == 0.5
    first, second = fake_provider.requests
    reask = second.body["messages"][-1]["content"]
    assert reask.startswith(
        'Your reply could not be used: "verdicts" must give one verdict for each passage from '
        "1 to 2: missing 2. Answer again with only the JSON object"
    )
    assert 'then "verdicts" (a list with one object per passage, 1 to 2, each with "passage"' in (
        reask
    )


def test_self_consistency_averages_the_shares(
    fake_provider: FakeProviderServer, keys: None
) -> None:
    judge = make_judge("openai:gpt-4.1-mini", fake_provider)
    verdict = judge(
        "", SelfConsistency(ContextRelevance(), 3), input="q", context=["REL a", "IRR b", "IRR c"]
    )
    assert verdict.score == pytest.approx(1 / 3) and verdict.samples == 3
    assert verdict.reason.endswith("[0 of 3 samples pass, mode mean]")


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (
            ContextRelevance(),
            {"context": ["REL a"]},
            "the context_relevance judge needs input=... (the question the passages were "
            "retrieved for); pass it to llm_eval.judge() or set it once with llm_eval.case()",
        ),
        (
            ContextRecall(),
            {"input": "q"},
            "the context_recall judge needs context=[...] (the retrieved passages, in rank "
            "order) and reference=... (the answer the context should support); pass it to "
            "llm_eval.judge() or set it once with llm_eval.case()",
        ),
        (
            ContextPrecision(),
            {"input": "q", "context": []},
            "the context_precision judge needs at least one passage in context=..., got an "
            "empty context: a retrieval that found nothing leaves nothing to judge (record it "
            "with llm_eval.check(), or score the retrieval with scorers.recall_at_k)",
        ),
    ],
    ids=["relevance-no-input", "recall-no-context-no-reference", "precision-empty"],
)
def test_missing_material_names_the_judge_and_what_to_pass(
    kind: Any, options: dict[str, Any], message: str, fake_provider: FakeProviderServer, keys: None
) -> None:
    judge = make_judge("openai:gpt-4.1-mini", fake_provider)
    with pytest.raises(ValueError) as raised:
        judge("", kind, **options)
    assert str(raised.value) == message
    assert fake_provider.requests == []  # refused before anything was sent


def test_the_context_judges_take_no_scale() -> None:
    with pytest.raises(TypeError, match="scale"):
        ContextRelevance(scale="1-5")  # type: ignore[call-arg]
    kind = ContextPrecision()
    assert kind.with_scale("0-10") is kind  # a marker's judge_scale leaves it alone
    with pytest.raises(ValueError, match="ContextRecall: criteria must be a non-empty string"):
        ContextRecall(criteria=" ")


def test_a_judge_error_is_not_swallowed(fake_provider: FakeProviderServer, keys: None) -> None:
    fake_provider.set_handler(lambda request: ReplySpec(text="not json"))
    judge = LLMJudge("openai:gpt-4.1-mini", base_url=fake_provider.openai_base_url)
    with pytest.raises(JudgeError, match="gave no valid answer, also after a re-ask"):
        judge("", ContextRelevance(), input="q", context=["REL a"])


# -- as a user: the case material, both providers, recorded then replayed --------------

CASES = (
    '{"id": "paris", "input": "What is the capital of France?", '
    '"expected": "Paris is the capital of France. It has 20 bridges.", '
    '"context": ["IRR Lyon is in the south-east.", "REL Paris is the capital of France.", '
    '"REL Paris is on the Seine."]}\n'
)

SUITE = """
import json, os
import pytest
from pytest_llmeval import load_cases
from pytest_llmeval.judges import ContextPrecision, ContextRecall, ContextRelevance

pytestmark = pytest.mark.llm_eval(threshold=0.5, judge_scale="0-10")

@pytest.fixture(params=["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"])
def model(request):
    return request.param

def keep(request, *verdicts):
    with open(os.environ["VERDICTS"], "a") as f:
        for v in verdicts:
            f.write(json.dumps([request.node.nodeid, v.model_dump(mode="json", by_alias=True)]) + "\\n")

@pytest.mark.parametrize("case", load_cases("rag.jsonl"))
def test_retrieval(case, model, llm_eval, request):
    llm_eval.case(case)  # no output: the context judges judge the retrieval alone
    relevance = llm_eval.judge(ContextRelevance(), model=model)
    precision = llm_eval.judge(ContextPrecision(), model=model)
    recall = llm_eval.judge(ContextRecall(), model=model, threshold=0.6)
    assert list(llm_eval.scores) == ["context_relevance", "context_precision", "context_recall"]
    keep(request, relevance, precision, recall)

def test_without_a_case(model, llm_eval, request):
    verdict = llm_eval.judge(ContextRelevance(), input="q", context=["REL a", "IRR b"], model=model)
    assert (verdict.score, verdict.name) == (0.5, "context_relevance")
    keep(request, verdict)

@pytest.mark.anyio
@pytest.mark.parametrize("case", load_cases("rag.jsonl"))
async def test_async(case, model, llm_eval, request):
    llm_eval.case(case, output="Paris.")
    verdict = await llm_eval.ajudge(ContextPrecision(criteria="About the capital"), model=model)
    keep(request, verdict)
"""


@pytest.fixture
def judged(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    keys: None,
) -> pytest.Pytester:
    fake_provider.set_handler(context_judge)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_provider.url)
    return pytester_env


def cassettes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("cassettes/**/*.json"))
    }


def test_the_case_material_both_providers_recorded_then_replayed_offline(
    judged: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    judged.makefile(".jsonl", rag=CASES)
    judged.makepyfile(test_rag=SUITE)
    monkeypatch.setenv("VERDICTS", str(judged.path / "recorded.jsonl"))
    recorded = judged.runpytest("--llmeval-report=recorded.json")
    # recall: 1 of 2 reference statements supported, below its own threshold 0.6
    recorded.assert_outcomes(passed=4, failed=2)
    recorded.stdout.fnmatch_lines(
        [
            "*but context_recall missed its own threshold:",
            "*context_relevance  0.667*",
            "*context_precision  0.583*",
            "*context_recall     0.500  threshold 0.600 BELOW  reason: 1 of 2 reference "
            "statements supported by the context. scripted statements*",
        ]
    )
    sent = fake_provider.requests
    assert len(sent) == 10 and {r.path for r in sent} == {"/v1/chat/completions", "/v1/messages"}
    texts = [request.body["messages"][-1]["content"] for request in sent]
    assert all("<output-" not in text for text in texts)  # never an output
    from_case = [text for text in texts if "What is the capital of France?" in text]
    assert len(from_case) == 8  # the case's material: six retrieval calls, two async
    assert not any("Paris." in text.replace("France.", "") for text in from_case)
    files = cassettes(judged.path)
    assert len(files) == 6

    # the provider and the keys are gone: every verdict comes from the cassettes
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", closed_port_url())
    for name in KEYS:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VERDICTS", str(judged.path / "replayed.jsonl"))
    replayed = judged.runpytest("--llmeval-record=none", "--llmeval-report=replayed.json")
    replayed.assert_outcomes(passed=4, failed=2)
    assert len(fake_provider.requests) == 10
    assert cassettes(judged.path) == files
    recorded_verdicts = (judged.path / "recorded.jsonl").read_text().splitlines()
    assert len(recorded_verdicts) == 10
    assert sorted((judged.path / "replayed.jsonl").read_text().splitlines()) == sorted(
        recorded_verdicts
    )
    by_test = {}
    for line in recorded_verdicts:
        nodeid, verdict = json.loads(line)
        by_test.setdefault(nodeid, []).append(verdict)
    for nodeid, verdicts in by_test.items():
        if "test_retrieval" in nodeid:
            scores = [v["score"] for v in verdicts]
            assert scores == pytest.approx([2 / 3, (1 / 2 + 2 / 3) / 2, 1 / 2])
            assert [v["kind"] for v in verdicts] == [
                "context_relevance",
                "context_precision",
                "context_recall",
            ]
        elif "test_without_a_case" in nodeid:
            assert [v["score"] for v in verdicts] == [0.5]
        else:
            (verdict,) = verdicts
            assert verdict["kind"] == "context_precision"
            assert verdict["name"] == "context_precision:about-the-capital"

    def scores(report: str) -> list[tuple[str, str, float]]:
        data = json.loads((judged.path / report).read_text())
        return sorted(
            (r["case_id"], s["name"], s["value"]) for r in data["results"] for s in r["scores"]
        )

    assert scores("replayed.json") == scores("recorded.json") != []


def test_a_retrieval_test_without_material_says_what_to_pass(
    pytester_env: pytest.Pytester,
) -> None:
    pytester_env.makepyfile(
        """
import pytest
from pytest_llmeval.judges import ContextRecall

@pytest.mark.llm_eval
def test_t(llm_eval):
    llm_eval.case(input="q", context=["a passage"])
    llm_eval.judge(ContextRecall())
"""
    )
    result = pytester_env.runpytest("--llmeval-record=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ValueError: *llm_eval.judge(): the context_recall judge needs reference=... (the answer the context "
            "should support); pass it to llm_eval.judge() or set it once with llm_eval.case()"
        ]
    )
