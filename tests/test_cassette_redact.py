"""Secrets never reach disk: patterns, URLs, headers, JSON values."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from pytest_llmeval.cassettes.models import RecordedRequest, received_interaction
from pytest_llmeval.cassettes.redact import (
    REDACTED,
    Redactor,
    is_secret_header,
    redact_across_events,
)
from pytest_llmeval.cassettes.session import CassetteSession
from tests.fakeprovider import FakeProviderServer

# a test that fails between start() and stop() must not leave interception on
pytestmark = pytest.mark.usefixtures("stop_leaked_cassette_sessions")

PLANTED = "sk-test-PLANTED0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {PLANTED} end", "key <redacted> end"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz", REDACTED),
        ("Authorization: Bearer abc.def-ghi", f"Authorization: {REDACTED}"),
        ("sk-short", "sk-short"),
        ("nothing secret", "nothing secret"),
    ],
)
def test_builtin_patterns(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


def test_patterns_keep_raw_json_valid() -> None:
    raw = json.dumps({"a": f"Bearer {PLANTED}", "b": "x"}, separators=(",", ":"))
    redacted = Redactor().text(raw)
    assert json.loads(redacted) == {"a": REDACTED, "b": "x"}


def test_extra_patterns() -> None:
    redactor = Redactor([r"\b\d{3}-\d{2}-\d{4}\b"])
    assert redactor.text("ssn 123-45-6789.") == f"ssn {REDACTED}."


def test_url_query_parameters_by_name_and_value() -> None:
    redactor = Redactor()
    url = f"https://h.test/v1/x?api_key={PLANTED}&key=abc&access_token=t&model=gpt&q=sk"
    assert redactor.url(url) == (
        "https://h.test/v1/x?api_key=<redacted>&key=<redacted>&access_token=<redacted>&model=gpt&q=sk"
    )
    assert redactor.url(f"https://h.test/p/{PLANTED}") == "https://h.test/p/<redacted>"
    assert redactor.url("https://h.test/v1/x") == "https://h.test/v1/x"


def test_request_headers_filtered() -> None:
    headers = [
        ("Authorization", f"Bearer {PLANTED}"),
        ("X-Api-Key", PLANTED),
        ("api-key", "x"),
        ("Cookie", "a=b"),
        ("X-Goog-Api-Key", "x"),
        ("X-Amz-Security-Token", "x"),
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "a"),
        ("anthropic-beta", "b"),
        ("OpenAI-Beta", "assistants=v2"),
        ("User-Agent", "OpenAI/Python 3.54"),
        ("X-Stainless-OS", "Linux"),
        ("Idempotency-Key", "stainless-python-retry-1"),
        ("X-Custom", f"has {PLANTED}"),
    ]
    assert Redactor().headers(headers, response=False) == {
        "content-type": "application/json",
        "accept": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "a, b",
        "openai-beta": "assistants=v2",
        "x-custom": "has <redacted>",
    }


def test_response_headers_filtered() -> None:
    headers = [
        ("Content-Type", "text/event-stream"),
        ("Set-Cookie", "a=b"),
        ("Date", "Mon"),
        ("CF-RAY", "1"),
        ("Content-Encoding", "gzip"),
        ("x-request-id", "req_1"),
        ("x-ratelimit-remaining-tokens", "1"),
    ]
    assert Redactor().headers(headers, response=True) == {
        "content-type": "text/event-stream",
        "x-request-id": "req_1",
    }


def test_is_secret_header() -> None:
    assert is_secret_header("Proxy-Authorization")
    assert is_secret_header("x-my-token")
    assert not is_secret_header("content-type")


def test_value_redacts_nested_strings_and_keys() -> None:
    value = {"messages": [{"content": f"use {PLANTED}"}], PLANTED: 1, "n": 2}
    assert Redactor().value(value) == {"messages": [{"content": "use <redacted>"}], REDACTED: 1, "n": 2}


# -- end to end: a planted key through the real SDKs and httpx ----------------------------


def test_planted_key_never_reaches_disk(fake_provider: FakeProviderServer, tmp_path: Path) -> None:
    cassette = tmp_path / "c.json"

    def calls() -> None:
        oa = openai.OpenAI(base_url=f"{fake_provider.url}/v1", api_key=PLANTED, max_retries=0)
        an = anthropic.Anthropic(base_url=fake_provider.url, api_key=PLANTED, max_retries=0)
        oa.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": f"my key is {PLANTED}, customer-42"}],
                                   extra_query={"api_key": PLANTED, "token": "t0k"})  # fmt: skip
        an.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        with httpx.Client(headers={"Cookie": "session=abc", "X-Custom-Token": PLANTED}) as client:
            client.get(f"{fake_provider.url}/v1/models?key={PLANTED}")

    recording = CassetteSession(path=cassette, mode="once", nodeid="t", redact_patterns=[r"customer-\d+"])
    recording.start()
    calls()
    recording.stop()
    sent = [request.to_json() for request in fake_provider.requests]
    assert len(sent) == 3 and all(PLANTED in json.dumps(request) for request in sent)  # really sent
    text = cassette.read_text(encoding="utf-8")
    for secret in (PLANTED, "PLANTED", "customer-42", "t0k", "session=abc"):
        assert secret not in text
    assert "authorization" not in text.lower() and "x-api-key" not in text.lower()
    replay = CassetteSession(path=cassette, mode="none", nodeid="t", redact_patterns=[r"customer-\d+"])
    replay.start()
    calls()  # still matches: both sides are compared redacted
    assert replay.stop().replayed == 3


def _openai_chunk(text: str) -> str:
    data = {"id": "chatcmpl-1", "model": "gpt-4o-mini", "choices": [{"delta": {"content": text}}]}
    return f"data: {json.dumps(data)}\n\n"


def test_a_secret_split_across_stream_events_is_redacted() -> None:
    token = "Zq81xLmN0pRsTuVw2yAbCdEf"
    raws = [
        _openai_chunk("Sure: Authorization: Bear"),
        _openai_chunk("er "),
        _openai_chunk(token[:10]),
        _openai_chunk(token[10:] + " done"),
        "data: [DONE]\n\n",
    ]
    redactor = Redactor()
    out = [redactor.text(raw) for raw in redact_across_events(raws, redactor)]
    assert token[:10] not in "".join(out) and token[10:] not in "".join(out)
    texts = [json.loads(raw[len("data: ") :])["choices"][0]["delta"]["content"] for raw in out[:4]]
    # the first piece of the match carries the marker; the later pieces lose theirs
    assert "".join(texts) == f"Sure: Authorization: {REDACTED} done"
    assert out[4] == raws[4], "an event without a secret keeps its exact bytes"
    assert all(raw.endswith("\n\n") for raw in out)


def test_a_token_cut_in_the_middle_leaves_no_tail() -> None:
    """Split inside the token: the first piece alone matches the pattern, so redacting
    event by event first would leave the rest of the token in the next event."""
    token = "Zq81xLmN0pRsTuVw2yAbCdEf"
    raws = [_openai_chunk("Bearer " + token[:6]), _openai_chunk(token[6:] + " ok")]
    request = RecordedRequest(method="POST", url="http://x/v1/chat/completions", body={})
    interaction = received_interaction(
        request, 200, {"content-type": "text/event-stream"}, b"",
        [(raw.encode(), 0.1) for raw in raws],
        role="app", latency=0.2, error=None, truncated=False, redact=Redactor(),
    )  # fmt: skip
    assert interaction.response.events is not None
    out = [event.raw for event in interaction.response.events]
    assert token[6:] not in "".join(out)
    texts = [json.loads(raw[len("data: ") :])["choices"][0]["delta"]["content"] for raw in out]
    assert "".join(texts) == f"{REDACTED} ok"


def _anthropic_delta(text: str) -> str:
    data = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    return f"event: content_block_delta\ndata: {json.dumps(data)}\n\n"


def test_repeated_fields_and_events_without_secrets_are_left_alone() -> None:
    raws = [_anthropic_delta(word) for word in ("sk-", "not", "a", "key", "but words")]
    assert redact_across_events(raws, Redactor()) == raws


def test_an_anthropic_key_sent_in_three_pieces_is_found() -> None:
    key = "sk-ant-" + "a1B2c3D4e5F6g7H8i9J0k"
    raws = [_anthropic_delta(piece) for piece in ("key: " + key[:5], key[5:14], key[14:] + ".")]
    out = redact_across_events(raws, Redactor())
    assert key[5:14] not in "".join(out) and key[14:] not in "".join(out)
    texts = [json.loads(raw.split("data: ", 1)[1])["delta"]["text"] for raw in out]
    assert "".join(texts) == f"key: {REDACTED}."
    assert all(raw.startswith("event: content_block_delta\ndata: ") for raw in out)
