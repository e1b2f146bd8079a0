"""Embedding similarity through the real openai SDK against the fake provider: recorded,
replayed offline byte for byte, accounted as evaluation calls; the `similar` assertion."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fakeprovider import FakeProviderServer, closed_port_url

#: Texts and the vectors the fake provider embeds them as, so every cosine is by hand:
#: (3, 4, 0)·(4, 3, 0) / (5 * 5) = 24/25 = 0.96; (3, 4, 0)·(0, 0, 2) = 0;
#: (3, 4, 0)·(-3, -4, 0) / 25 = -1.
VECTORS = {
    "refund policy": (3.0, 4.0, 0.0),
    "money back": (4.0, 3.0, 0.0),
    "weather today": (0.0, 0.0, 2.0),
    "no refunds": (-3.0, -4.0, 0.0),
}

#: $1000 per million input tokens; the fake provider counts one token per word.
PRICES = "[pytest]\nllmeval_prices = openai-compatible:text-embedding-3-small = 1000 / 0\n"


@pytest.fixture
def embedded(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    """A pytester whose openai SDK reaches the fake provider, with the vectors above."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-embeddings")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    for text, vector in VECTORS.items():
        fake_provider.embed_as(text, vector)
    pytester_env.makeini(PRICES)
    return pytester_env


def report_of(pytester: pytest.Pytester, name: str = "report.json") -> dict[str, Any]:
    return dict(json.loads((pytester.path / name).read_text()))


SIMILARITY_SUITE = """
import pytest
from pytest_llmeval import scorers

@pytest.mark.llm_eval(threshold=0.5)
def test_similar(llm_eval):
    near = scorers.embedding_similarity("refund policy", "money back")
    llm_eval.score("near", near)
    llm_eval.score("apart", scorers.embedding_similarity("refund policy", "weather today"), weight=0)
    llm_eval.score("opposite", scorers.embedding_similarity("refund policy", "no refunds"), weight=0)
    assert near.details["cosine"] == pytest.approx(0.96)
    assert [i.role for i in llm_eval.inferences] == ["evaluation"] * 3
"""


def test_embedding_similarity_is_recorded_replayed_byte_identically_and_accounted_apart(
    embedded: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded.makepyfile(test_sim=SIMILARITY_SUITE)
    live = embedded.runpytest("--llmeval-report=live.json")
    live.assert_outcomes(passed=1)
    # the cosine clipped to [0, 1], each with its reason
    (result,) = report_of(embedded, "live.json")["results"]
    scores = {s["name"]: s for s in result["scores"]}
    assert scores["near"]["value"] == pytest.approx(0.96)
    assert scores["near"]["reason"] == (
        "cosine similarity 0.960 of the openai:text-embedding-3-small embeddings"
    )
    assert scores["apart"]["value"] == 0.0
    assert scores["opposite"]["value"] == 0.0
    assert scores["opposite"]["reason"].startswith("cosine similarity -1.000 ")
    assert scores["opposite"]["reason"].endswith(", clipped to 0")
    # one request per pair, through the SDK, both texts in it
    requests = fake_provider.requests
    assert [r.path for r in requests] == ["/v1/embeddings"] * 3
    assert requests[0].body["input"] == ["refund policy", "money back"]
    assert requests[0].body["model"] == "text-embedding-3-small"
    # evaluation calls: 3 calls x 4 words at $1000 per million tokens, none of it the app's
    usage = result["usage"]
    assert usage["evaluation_calls"] == 3 and usage["app_calls"] == 0
    assert usage["evaluation_cost_usd"] == pytest.approx(3 * 4 * 1000 / 1e6)
    assert usage["app_cost_usd"] == 0.0 and usage["judge_cost_usd"] == 0.0
    assert usage["evaluation_models"] == ["openai-compatible:text-embedding-3-small"]
    assert {i["role"] for i in result["inferences"]} == {"evaluation"}
    live.stdout.fnmatch_lines(
        ["evaluation helpers: 3 calls, openai-compatible:text-embedding-3-small, $0.0120"]
    )
    cassette = embedded.path / "cassettes" / "test_sim" / "test_similar.json"
    recorded = cassette.read_bytes()
    roles = {i["meta"]["role"] for i in json.loads(recorded)["interactions"]}
    assert roles == {"evaluation"}

    # offline: no key, the provider unreachable, replay only
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    replay = embedded.runpytest("--llmeval-record=none", "--llmeval-report=replay.json")
    replay.assert_outcomes(passed=1)
    assert cassette.read_bytes() == recorded
    assert len(fake_provider.requests) == 3
    (again,) = report_of(embedded, "replay.json")["results"]
    assert again["scores"] == result["scores"]
    assert again["usage"]["evaluation_cost_usd"] == usage["evaluation_cost_usd"]
    assert again["usage"]["replayed"] == 3 and again["usage"]["spent_usd"] == 0.0


def test_a_report_without_evaluation_calls_leaves_the_evaluation_fields_out(
    pytester_env: pytest.Pytester,
) -> None:
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.llm_eval
        def test_plain(llm_eval):
            llm_eval.score("x", 1.0)
        """
    )
    pytester_env.runpytest("--llmeval-report=report.json").assert_outcomes(passed=1)
    report = report_of(pytester_env)
    assert "evaluation_calls" not in report["aggregate"]["usage"]
    assert "evaluation_cost_usd" not in report["results"][0]["usage"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            'embedding_similarity(b"x", "y")',
            "TypeError: embedding_similarity: a must be a str, got bytes",
        ),
        (
            'embedding_similarity("x", "y", model="text-embedding-3-small")',
            "ValueError: embedding_similarity: model 'text-embedding-3-small' is not of the "
            "form provider:model, e.g. openai:text-embedding-3-small",
        ),
        (
            'embedding_similarity("x", "y", model="anthropic:claude-haiku-4-5")',
            "ValueError: embedding_similarity: model 'anthropic:claude-haiku-4-5': only "
            "OpenAI's embeddings API is supported; use openai:<model>, or "
            "openai-compatible:<model> with a base URL",
        ),
    ],
    ids=["not-text", "no-provider", "no-embeddings-api"],
)
def test_bad_arguments_are_refused_before_any_call(
    call: str, message: str, fake_provider: FakeProviderServer
) -> None:
    from pytest_llmeval.scorers import embedding_similarity

    with pytest.raises((TypeError, ValueError)) as raised:
        eval(call, {"embedding_similarity": embedding_similarity})
    assert f"{raised.type.__name__}: {raised.value}" == message
    assert fake_provider.requests == []


def test_empty_texts_score_without_a_call(fake_provider: FakeProviderServer) -> None:
    from pytest_llmeval.scorers import embedding_similarity

    base = fake_provider.openai_base_url
    assert embedding_similarity("", "", base_url=base) == 1.0
    empty = embedding_similarity("", "money back", base_url=base)
    assert (empty, empty.reason) == (0.0, "a is empty")
    assert fake_provider.requests == []


def test_outside_an_eval_test_it_calls_the_server_of_base_url(
    fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-embeddings")
    fake_provider.embed_as("refund policy", VECTORS["refund policy"])
    fake_provider.embed_as("money back", VECTORS["money back"])
    from pytest_llmeval.scorers import embedding_similarity

    scored = embedding_similarity(
        "refund policy", "money back", base_url=fake_provider.openai_base_url
    )
    assert scored == pytest.approx(0.96)
    (request,) = fake_provider.requests
    assert request.headers["authorization"] == "Bearer sk-test-embeddings"


# -- the similar assertion ---------------------------------------------------------------

SIMILAR_CASES = """\
{"id": "near", "input": "q", "assert": [{"type": "similar", "value": "money back", "threshold": 0.9}]}
{"id": "far", "input": "q", "assert": [{"type": "similar", "value": "money back", "threshold": 0.97}]}
{"id": "any-of", "input": "q", "assert": [{"type": "similar", "value": ["weather today", "money back"], "threshold": 0.95}]}
{"id": "unlike", "input": "q", "assert": [{"type": "not-similar", "value": "weather today"}]}
{"id": "weighted", "input": "q", "assert": [{"type": "similar", "value": "weather today", "weight": 1, "name": "on-topic"}]}
"""

SIMILAR_SUITE = """
import pytest
from pytest_llmeval import load_cases

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("case", load_cases("similar.jsonl"), ids=lambda c: c.id)
def test_answer(case, llm_eval):
    llm_eval.case(case, output="refund policy")
    llm_eval.run_checks()
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["no-xdist", "xdist"])
def test_the_similar_assertion_passes_and_fails_on_the_threshold(
    embedded: pytest.Pytester, fake_provider: FakeProviderServer, xdist: list[str]
) -> None:
    embedded.makefile(".jsonl", similar=SIMILAR_CASES)
    embedded.makepyfile(test_similar=SIMILAR_SUITE)
    result = embedded.runpytest("--llmeval-report=report.json", "-p", "no:randomly", *xdist)
    result.assert_outcomes(passed=3, failed=2)
    outcomes = {r["case_id"].split("[")[1][:-1]: r for r in report_of(embedded)["results"]}
    assert {case: r["status"] for case, r in outcomes.items()} == {
        "near": "passed",
        "far": "below",
        "any-of": "passed",
        "unlike": "passed",
        "weighted": "below",
    }
    (far,) = outcomes["far"]["scores"]
    assert far["check"] is True and far["value"] == 0.0
    assert far["reason"] == "similar: similarity 0.960 to 'money back', below 0.97"
    (any_of,) = outcomes["any-of"]["scores"]
    assert any_of["reason"] == (
        "similar: similarity 0.960 to 'money back' (the closest of 2), at least 0.95"
    )
    (unlike,) = outcomes["unlike"]["scores"]
    assert unlike["reason"] == "not-similar: similarity 0.000 to 'weather today', below 0.75"
    (weighted,) = outcomes["weighted"]["scores"]
    assert (weighted["name"], weighted["weight"], weighted["value"]) == ("on-topic", 1.0, 0.0)
    assert "check" not in weighted
    # one evaluation call per assertion: the output and its texts in one request
    for record in outcomes.values():
        assert [i["role"] for i in record["inferences"]] == ["evaluation"]
        assert record["usage"]["app_calls"] == 0
    inputs = sorted(tuple(r.body["input"]) for r in fake_provider.requests)
    assert ("refund policy", "weather today", "money back") in inputs
    result.stdout.fnmatch_lines(
        ["*far*", "*similar  0.000  check FAILED  reason: similar: similarity 0.960 to*"]
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            '{"type": "similar"}',
            "similar needs a 'value': the expected text, or a list of them (the best match counts)",
        ),
        (
            '{"type": "similar", "value": "x", "threshold": 1.5}',
            "'threshold' must be a number from 0 to 1 (a cosine similarity), got 1.5",
        ),
        (
            '{"type": "similar", "value": "x", "provider": "anthropic:claude"}',
            "'provider' 'anthropic:claude': similar embeds through OpenAI's embeddings API; "
            "use openai:<model>, or openai-compatible:<model> with OPENAI_BASE_URL set",
        ),
        (
            '{"type": "contains", "value": "x", "threshold": 0.5}',
            "unknown key threshold (allowed: name, type, value, weight)",
        ),
    ],
    ids=["no-value", "threshold-out-of-range", "not-openai", "threshold-on-contains"],
)
def test_a_bad_similar_assertion_is_refused_at_load_naming_the_file_and_row(
    tmp_path: Path, entry: str, message: str
) -> None:
    from pytest_llmeval.core.errors import FileFormatError
    from pytest_llmeval.records.cases import load_cases

    cases = tmp_path / "cases.jsonl"
    cases.write_text(f'{{"id": "c1", "input": "q", "assert": [{entry}]}}\n')
    with pytest.raises(FileFormatError) as raised:
        load_cases(cases)
    assert f"cases.jsonl, line 1: assertion 1: {message}; write it like" in str(raised.value)


def test_promptfoos_provider_spelling_names_the_openai_model(tmp_path: Path) -> None:
    from pytest_llmeval.records.cases import load_cases

    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        '{"id": "c1", "input": "q", "assert": [{"type": "similar", "value": "x", '
        '"provider": "openai:embedding:text-embedding-3-large"}, '
        '{"type": "similar", "value": "y"}]}\n'
    )
    (case,) = load_cases(cases)
    large, default = case.assertions
    assert (large.model, large.threshold) == ("openai:text-embedding-3-large", 0.75)
    assert (default.model, default.name) == (None, "similar-2")


def test_the_similar_assertion_uses_the_models_it_names(
    embedded: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    embedded.makefile(
        ".jsonl",
        similar='{"id": "c", "input": "q", "assert": [{"type": "similar", "value": '
        '"money back", "provider": "openai:text-embedding-3-large"}]}\n',
    )
    embedded.makepyfile(test_similar=SIMILAR_SUITE)
    embedded.runpytest().assert_outcomes(passed=1)
    (request,) = fake_provider.requests
    assert request.body["model"] == "text-embedding-3-large"
    assert os.environ["OPENAI_BASE_URL"] == fake_provider.openai_base_url


def test_the_fake_provider_embeds_a_scripted_text_as_its_vector_in_both_encodings(
    fake_provider: FakeProviderServer, openai_client: Any
) -> None:
    from tests.fakeprovider import FakeProviderControl

    FakeProviderControl(fake_provider.url).embed_as("scripted", [1.0, -2.5, 0.0])
    floats = openai_client.embeddings.create(
        model="m", input=["scripted", "other"], encoding_format="float"
    )
    assert floats.data[0].embedding == [1.0, -2.5, 0.0]
    assert len(floats.data[1].embedding) == 16  # an unscripted text keeps its hash vector
    encoded = openai_client.embeddings.create(model="m", input="scripted")  # base64
    assert encoded.data[0].embedding == [1.0, -2.5, 0.0]
    fake_provider.reset()
    again = openai_client.embeddings.create(model="m", input="scripted", encoding_format="float")
    assert len(again.data[0].embedding) == 16


FAULTED_SUITE = """
import pytest
from pytest_llmeval import fault, scorers

@pytest.mark.llm_eval(threshold=0.5, faults=[fault("503", role="evaluation")])
def test_embedding_outage(llm_eval, llm_faults):
    near = scorers.embedding_similarity("refund policy", "money back")
    llm_eval.score("near", near)
    assert near.details["cosine"] == pytest.approx(0.96)  # the retry was answered
    [call] = llm_faults.calls(role="evaluation")
    assert call.faults == ("503",) and call.retries == 1 and call.answered, call.describe()
    assert llm_faults.calls() == []  # the app made no call
"""


def test_a_fault_can_target_the_evaluation_helpers_calls(embedded: pytest.Pytester) -> None:
    embedded.makepyfile(test_outage=FAULTED_SUITE)
    result = embedded.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["errors: 1 failed call (1 retried; all injected by the tests' faults)"]
    )


ASYNC_SUITE = """
import pytest
from pytest_llmeval import scorers

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.anyio
async def test_similar_async(llm_eval):
    near = await scorers.aembedding_similarity("refund policy", "money back")
    llm_eval.score("near", near)
    assert near.details["cosine"] == pytest.approx(0.96)
    assert near.reason == scorers.embedding_similarity("refund policy", "money back").reason
    assert [i.role for i in llm_eval.inferences] == ["evaluation"] * 2
"""


def test_the_async_twin_goes_through_the_async_client_and_replays(
    embedded: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded.makepyfile(test_async=ASYNC_SUITE)
    embedded.runpytest("-p", "anyio").assert_outcomes(passed=1)
    assert [r.path for r in fake_provider.requests] == ["/v1/embeddings"] * 2
    # the SDK says which client sent each: the async twin's, then the sync check's
    sent_by = [r.headers.get("x-stainless-async") for r in fake_provider.requests]
    assert sent_by[0].startswith("async:") and sent_by[1] == "false", sent_by
    (cassette,) = (embedded.path / "cassettes" / "test_async").glob("test_similar_async*.json")
    recorded = cassette.read_bytes()
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    embedded.runpytest("-p", "anyio", "--llmeval-record=none").assert_outcomes(passed=1)
    assert cassette.read_bytes() == recorded and len(fake_provider.requests) == 2
