"""Gemini through the real google-genai SDK: the adapter, record then replay offline
(sync, async, streaming) with identical scores and accounting, pricing, and a
`google:<model>` judge with structured output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.capture.pricing import price_call
from pytest_llmeval.capture.providers import describe_call, missing_stream_end, parse_sse
from tests.fakeprovider import FakeProviderServer, closed_port_url

GOOGLE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
KEY = "AIzaFakeGeminiKey0123456789abcdefghij"


def test_usage_follows_the_house_convention() -> None:
    # promptTokenCount includes the cached part; thoughts come beside the candidates
    response = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "thinking it over", "thought": True},
                        {"text": "30 days."},
                        {"functionCall": {"name": "refund", "args": {"days": 30}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 120,
            "cachedContentTokenCount": 100,
            "candidatesTokenCount": 9,
            "thoughtsTokenCount": 40,
            "totalTokenCount": 169,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r-1",
    }
    request = {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Refund window?"}]},
            {"role": "model", "parts": [{"text": "Which order?"}]},
        ],
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64},
    }
    summary = describe_call(
        method="POST",
        url=GOOGLE + ":generateContent?key=" + KEY,
        request_body=request,
        status=200,
        response_body=response,
        events=None,
    )
    assert (summary.provider, summary.api) == ("google", "generate_content")
    assert summary.api_url == GOOGLE + ":generateContent"  # no key in it
    assert (summary.model, summary.requested_model) == ("gemini-2.5-flash", "gemini-2.5-flash")
    assert (summary.input_tokens, summary.cache_read_tokens) == (20, 100)
    assert (summary.output_tokens, summary.reasoning_tokens) == (49, 40)
    assert summary.input_text == "system: Be brief.\nuser: Refund window?\nassistant: Which order?"
    assert summary.output_text == '30 days.\nrefund({"days": 30})'  # no thought
    assert summary.params == {"temperature": 0.2, "max_output_tokens": 64}
    assert (summary.stop_reason, summary.response_id) == ("STOP", "r-1")
    price = price_call(summary)
    assert (
        price.priced and price.source == "genai-prices" and price.usd is not None and price.usd > 0
    )


def test_a_stream_folds_into_one_answer() -> None:
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "Thirty "}]}}],
         "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 1}},
        {"candidates": [{"content": {"parts": [{"text": "days."}]}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3},
         "modelVersion": "gemini-2.5-flash"},
    ]  # fmt: skip
    text = "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks)
    summary = describe_call(
        method="POST",
        url="http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        request_body={"contents": [{"parts": [{"text": "Refund window?"}]}]},
        status=200,
        response_body=None,
        events=parse_sse(text),
    )
    assert (summary.provider, summary.api) == ("google-compatible", "generate_content")
    assert (summary.output_text, summary.stop_reason) == ("Thirty days.", "STOP")
    assert (summary.input_tokens, summary.output_tokens) == (7, 3)  # the last usage wins
    assert summary.params == {"stream": True}


def test_a_stream_without_its_finish_reason_is_cut_short() -> None:
    url = GOOGLE + ":streamGenerateContent?alt=sse"
    partial = {"candidates": [{"content": {"parts": [{"text": "Thirty "}]}}]}
    final = {"candidates": [{"content": {"parts": [{"text": "days."}]}, "finishReason": "STOP"}]}
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}}
    cut = missing_stream_end("POST", url, [f"data: {json.dumps(partial)}\n\n"])
    assert cut is not None and "cut short" in cut
    for last in (final, blocked, {"error": {"code": 500, "message": "x"}}):
        raw = [f"data: {json.dumps(partial)}\n\n", f"data: {json.dumps(last)}\n\n"]
        assert missing_stream_end("POST", url, raw) is None


def test_an_error_body_is_named() -> None:
    summary = describe_call(
        method="POST",
        url=GOOGLE + ":generateContent",
        request_body={},
        status=429,
        response_body={"error": {"code": 429, "message": "Resource exhausted.", "status": "X"}},
        events=None,
    )
    assert summary.error == "Resource exhausted."
    assert summary.model == "gemini-2.5-flash"


SUITE = f"""
import asyncio
import os

import pytest
from google import genai
from google.genai import types

MODEL = "gemini-2.5-flash"


def client():
    options = types.HttpOptions(base_url=os.environ["FAKE_URL"], api_version="v1beta")
    return genai.Client(api_key="{KEY}", http_options=options)


@pytest.mark.llm_eval(threshold=0.5)
def test_sync(llm_eval):
    config = types.GenerateContentConfig(
        temperature=0.2, thinking_config=types.ThinkingConfig(thinking_budget=100)
    )
    gemini = client()  # kept: a google-genai client closes its connections when collected
    reply = gemini.models.generate_content(
        model=MODEL, contents="What is the refund window?", config=config
    )
    llm_eval.score("echoes", "refund" in reply.text)


@pytest.mark.llm_eval(threshold=0.5)
def test_stream(llm_eval):
    gemini = client()
    chunks = gemini.models.generate_content_stream(model=MODEL, contents="shipping costs?")
    text = "".join(chunk.text or "" for chunk in chunks)
    llm_eval.score("echoes", "shipping" in text)


@pytest.mark.llm_eval(threshold=0.5)
def test_async(llm_eval):
    async def ask():
        gemini = client()
        aio = gemini.aio
        reply = await aio.models.generate_content(model=MODEL, contents="async refunds?")
        stream = await aio.models.generate_content_stream(model=MODEL, contents="async stream?")
        return reply.text + "".join([chunk.text or "" async for chunk in stream])

    text = asyncio.run(ask())
    llm_eval.score("echoes", "async refunds" in text and "async stream" in text)


@pytest.mark.llm_eval(threshold=0.0, judge_model="google:gemini-2.5-flash")
def test_judged(llm_eval):
    verdict = llm_eval.judge("Refunds within 30 days.", "Mentions the refund window")
    again = asyncio.run(llm_eval.ajudge("Refunds in a month.", "Mentions the refund window", name="async"))
    llm_eval.log(judge_reason=verdict.reason, async_reason=again.reason)
"""

PRICE = "google-compatible:gemini-2.5-flash = 0.3 / 2.5 cache_read=0.03"


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    pytest.importorskip("google.genai", reason="needs the [gemini] extra")
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake_provider.url)
    pytester_env.makepyfile(test_gemini_app=SUITE)
    return pytester_env


def results(path: Path) -> dict[str, dict[str, Any]]:
    report = json.loads(path.read_text())
    return {entry["nodeid"].split("::")[-1]: entry for entry in report["results"]}


VOLATILE = ("replayed", "spent_usd")


def accounting(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in call.items() if k not in VOLATILE} for call in entry["inferences"]]


def test_record_then_replay_offline(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    price = f"--llmeval-price={PRICE}"
    first = suite.runpytest(price, "--llmeval-report=first.json")
    first.assert_outcomes(passed=4)
    sent = len(fake_provider.requests)
    assert sent == 6  # sync, stream, async, async stream, the judge sync and async
    recorded = results(suite.path / "first.json")
    cassettes = {p: p.read_text() for p in sorted((suite.path / "cassettes").rglob("*.json"))}
    assert len(cassettes) == 4 and not any(KEY in text for text in cassettes.values())

    monkeypatch.setenv("FAKE_URL", closed_port_url())
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", closed_port_url())
    monkeypatch.delenv("GEMINI_API_KEY")  # replay needs no key, the judge's included
    second = suite.runpytest(price, "--llmeval-record=none", "--llmeval-report=second.json")
    second.assert_outcomes(passed=4)
    assert len(fake_provider.requests) == sent
    replayed = results(suite.path / "second.json")
    assert {cassette: text for cassette, text in cassettes.items()} == {
        p: p.read_text() for p in sorted((suite.path / "cassettes").rglob("*.json"))
    }
    for name, entry in recorded.items():
        again = replayed[name]
        assert (again["score"], again["scores"]) == (entry["score"], entry["scores"])
        assert accounting(again) == accounting(entry)
        assert all(call["replayed"] for call in again["inferences"])

    sync = recorded["test_sync"]["inferences"][0]
    assert (sync["provider"], sync["api"], sync["model"]) == (
        "google-compatible",
        "generate_content",
        "gemini-2.5-flash",
    )
    words = len("Fake reply to: What is the refund window?".split())
    assert sync["output_tokens"] == words + 7  # the fake's 7 thinking tokens count as output
    assert sync["priced"] and sync["cost_usd"] == pytest.approx(
        (sync["input_tokens"] * 0.3 + sync["output_tokens"] * 2.5) / 1e6
    )
    stream = recorded["test_stream"]["inferences"][0]
    assert stream["stream"] and stream["ttft_s"] is not None
    assert stream["output_text"] == "Fake reply to: shipping costs?"
    assert [call["stream"] for call in recorded["test_async"]["inferences"]] == [False, True]
    judges = recorded["test_judged"]["inferences"]
    assert [(j["role"], j["model"]) for j in judges] == [("judge", "gemini-2.5-flash")] * 2


def test_the_judge_asks_for_structured_output(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    result = suite.runpytest("-k", "judged", "--llmeval-report=r.json")
    result.assert_outcomes(passed=1)
    assert len(fake_provider.requests) == 2  # sync and async, both through httpx
    for request in fake_provider.requests:
        assert request.path.endswith("/models/gemini-2.5-flash:generateContent")
        config = request.body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"]["required"]
        assert config["temperature"] == 0
    (entry,) = results(suite.path / "r.json").values()
    for score in entry["scores"]:
        assert 0.0 <= score["value"] <= 1.0 and score["reason"]
    assert len(entry["scores"]) == 2
