"""Secrets never reach disk: patterns, URLs, headers, JSON values."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from pytest_llmeval.capture.cassettes.cache import ResponseCache
from pytest_llmeval.capture.cassettes.models import RecordedRequest, received_interaction
from pytest_llmeval.capture.cassettes.session import CassetteSession
from pytest_llmeval.core.redact import (
    REDACTED,
    Redactor,
    is_secret_header,
    redact_across_events,
)
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


def test_a_pattern_with_a_secret_group_replaces_only_the_group() -> None:
    redactor = Redactor([r"pin=(?P<secret>\d+)"])
    assert redactor.text('{"note": "pin=123456, ok"}') == '{"note": "pin=<redacted>, ok"}'


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
    assert Redactor().value(value) == {
        "messages": [{"content": "use <redacted>"}],
        REDACTED: 1,
        "n": 2,
    }


# -- end to end: a planted key through the real SDKs and httpx ----------------------------


def test_planted_key_never_reaches_disk(fake_provider: FakeProviderServer, tmp_path: Path) -> None:
    cassette = tmp_path / "c.json"

    def calls() -> None:
        oa = openai.OpenAI(base_url=f"{fake_provider.url}/v1", api_key=PLANTED, max_retries=0)
        an = anthropic.Anthropic(base_url=fake_provider.url, api_key=PLANTED, max_retries=0)
        oa.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": f"my key is {PLANTED}, customer-42"}],
                                   extra_query={"api_key": PLANTED, "token": "t0k"})  # fmt: skip
        an.messages.create(
            model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
        with httpx.Client(headers={"Cookie": "session=abc", "X-Custom-Token": PLANTED}) as client:
            client.get(f"{fake_provider.url}/v1/models?key={PLANTED}")

    recording = CassetteSession(
        path=cassette, mode="once", nodeid="t", redact_patterns=[r"customer-\d+"]
    )
    recording.start()
    calls()
    recording.stop()
    sent = [request.to_json() for request in fake_provider.requests]
    assert len(sent) == 3 and all(PLANTED in json.dumps(request) for request in sent)  # really sent
    text = cassette.read_text(encoding="utf-8")
    for secret in (PLANTED, "PLANTED", "customer-42", "t0k", "session=abc"):
        assert secret not in text
    assert "authorization" not in text.lower() and "x-api-key" not in text.lower()
    replay = CassetteSession(
        path=cassette, mode="none", nodeid="t", redact_patterns=[r"customer-\d+"]
    )
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
    data = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }
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


# -- every file the cassette layer writes: cassettes and the cache database ------------------


def _stored_bytes(*places: Path) -> bytes:
    """Every byte under (or of) the given paths: the cassette and the diskcache folder."""
    found = b""
    for place in places:
        files = [place] if place.is_file() else sorted(p for p in place.rglob("*") if p.is_file())
        found += b"".join(path.read_bytes() for path in files)
    return found


def _record(tmp_path: Path, calls: Callable[[], object]) -> bytes:
    """Run `calls` under a recording cassette session with the cache on; the bytes stored."""
    cache = ResponseCache(tmp_path / "cache")
    recording = CassetteSession(path=tmp_path / "c.json", mode="once", nodeid="t", cache=cache)
    recording.start()
    try:
        calls()
    finally:
        recording.stop()
        cache.close()
    return _stored_bytes(tmp_path / "c.json", tmp_path / "cache")


def _replay(tmp_path: Path, calls: Callable[[], object]) -> int:
    replay = CassetteSession(path=tmp_path / "c.json", mode="none", nodeid="t")
    replay.start()
    try:
        calls()
    finally:
        outcome = replay.stop()
    return outcome.replayed


def test_url_userinfo_and_camel_case_credential_names_are_redacted() -> None:
    redactor = Redactor()
    url = "http://alice:s3cretPass@h.test/v1/x?accessToken=a1&authToken=a2&clientSecret=a3&sessionToken=a4&apiKey=a5&pageSize=10&max_tokens=5"
    assert redactor.url(url) == (
        "http://<redacted>@h.test/v1/x?accessToken=<redacted>&authToken=<redacted>"
        "&clientSecret=<redacted>&sessionToken=<redacted>&apiKey=<redacted>&pageSize=10&max_tokens=5"
    )
    # in any text (an error message quoting the URL, a form body), not only in URLs
    assert redactor.text("failed: GET https://bob:hunter2hunter2@h.test/v1?sessionToken=zz9") == (
        "failed: GET https://<redacted>@h.test/v1?sessionToken=<redacted>"
    )
    assert redactor.text("grant_type=x&clientSecret=abc") == "grant_type=x&clientSecret=<redacted>"


def test_credentials_in_the_url_reach_neither_cassette_nor_cache(
    fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    password, tokens = (
        "Pw0rdUserinfo5678",
        ["AccessTok9x1", "AuthTok9x2", "ClientSec9x3", "SessTok9x4"],
    )
    host = fake_provider.url.split("://", 1)[1]
    client = openai.OpenAI(
        base_url=f"http://alice:{password}@{host}/v1",
        api_key="k",
        max_retries=0,
        default_query=dict(
            zip(["accessToken", "authToken", "clientSecret", "sessionToken"], tokens, strict=True)
        ),
    )

    def calls() -> None:
        client.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])

    stored = _record(tmp_path, calls)
    sent = json.dumps([request.to_json() for request in fake_provider.requests])
    assert all(token in sent for token in tokens)  # they really went out
    assert b"alice:" not in stored and password.encode() not in stored
    assert [token for token in tokens if token.encode() in stored] == []
    assert b"<redacted>@" in stored and b"accessToken=<redacted>" in stored
    assert _replay(tmp_path, calls) == 1  # matched against the live URL, redacted alike


TAB_TOKEN = "TabTok3nQ8w2Zx7Lp4Rv"


def test_a_tab_inside_a_bearer_token_in_a_responses_stream(
    fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    """`response.output_text.done` (and the other events repeating the text) carry the
    whole text once, JSON-escaped: `Bearer\\t<token>` hid from the per-event patterns."""
    fake_provider.reply_with(f"Sure: Authorization: Bearer\t{TAB_TOKEN} ok", match="tabby")
    client = openai.OpenAI(base_url=f"{fake_provider.url}/v1", api_key="k", max_retries=0)

    def calls() -> list[str]:
        events = client.responses.create(model="gpt-x", input="tabby", stream=True)
        return [event.type for event in events]

    stored = _record(tmp_path, calls)
    assert TAB_TOKEN.encode() not in stored and TAB_TOKEN[-8:].encode() not in stored
    cassette = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    done = [
        e for e in cassette["interactions"][0]["response"]["events"]
        if e["event"] == "response.output_text.done"
    ]  # fmt: skip
    assert done and done[0]["data"]["text"] == f"Sure: Authorization: {REDACTED} ok"
    assert _replay(tmp_path, calls) == 1


def _raw_fault(
    server: FakeProviderServer, path: str, payload: bytes, content_type: str, code: int = 200
) -> None:
    server.enqueue_fault(
        "raw",
        path=path,
        payload=base64.b64encode(payload).decode(),
        content_type=content_type,
        code=code,
    )


def test_a_key_split_across_plain_text_stream_events(
    fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    key = "sk-" + "Pl41nT3xtK3ySplit0v3rTw0Ev3nts"
    bearer = "Pl41nB34rerT0k3n77"
    stream = (
        f"data: my key is {key[:10]}\n\ndata: {key[10:]} and Authorization: Bear\n\n"
        f"data: er {bearer[:6]}\n\ndata: {bearer[6:]} done\n\ndata: [DONE]\n\n"
    ).encode()

    def calls() -> list[str]:
        _raw_fault(fake_provider, "/v1/text-stream", stream, "text/event-stream")
        with httpx.Client() as client:
            with client.stream("POST", f"{fake_provider.url}/v1/text-stream", json={}) as reply:
                return list(reply.iter_lines())

    live = calls()
    assert key[10:] in "".join(live)  # the stream really carried it
    stored = _record(tmp_path, calls)
    for tail in (key[10:], key[-8:], bearer[6:], bearer[-6:]):
        assert tail.encode() not in stored
    events = json.loads((tmp_path / "c.json").read_text())["interactions"][0]["response"]["events"]
    assert "".join(e["data"] for e in events[:4]) == (
        f"my key is {REDACTED} and Authorization: {REDACTED} done"
    )
    assert _replay(tmp_path, lambda: None) == 0  # (the stream is served from the file)


def test_a_json_escaped_slash_inside_a_token_leaves_no_tail(
    fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    head, tail = "Esc4pedSl4sh", "T41lAfterTheSlash99"
    chunk = {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
        "choices": [{"index": 0, "delta": {"content": "Authorization: Bearer HEAD\\/TAIL ok"},
                     "finish_reason": None}],
    }  # fmt: skip
    data = json.dumps(chunk).replace("HEAD\\\\/TAIL", f"{head}\\/{tail}")
    assert f"{head}\\/{tail}" in data  # a server that escapes slashes, as PHP's json_encode does
    stream = f"data: {data}\n\ndata: [DONE]\n\n".encode()
    client = openai.OpenAI(base_url=f"{fake_provider.url}/v1", api_key="k", max_retries=0)

    def calls() -> str:
        _raw_fault(fake_provider, "/v1/chat/completions", stream, "text/event-stream")
        chunks = client.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    stored = _record(tmp_path, calls)
    assert tail.encode() not in stored and head.encode() not in stored
    replayed: list[str] = []
    assert _replay(tmp_path, lambda: replayed.append(calls())) == 1
    assert replayed == [f"Authorization: {REDACTED} ok"]


def test_a_non_utf8_error_body_is_decoded_redacted_and_re_encoded(
    fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    key = "sk-proj-" + "N0nUtf8B0dyK3yInsideIt42"
    body = b"Invalid API key: " + key.encode() + b" (cl\xe9 refus\xe9e)\n"
    client = openai.OpenAI(base_url=f"{fake_provider.url}/v1", api_key="k", max_retries=0)
    messages: list[str] = []

    def calls() -> None:
        _raw_fault(fake_provider, "/v1/models", body, "text/plain; charset=latin-1", code=401)
        with pytest.raises(openai.AuthenticationError) as error:
            client.models.list()
        messages.append(str(error.value.body))

    stored = _record(tmp_path, calls)
    assert key in messages[0]  # the SDK's error carries it
    response = json.loads((tmp_path / "c.json").read_text())["interactions"][0]["response"]
    assert response["body_encoding"] == "base64"
    decoded = base64.b64decode(response["body_text"])
    assert decoded == b"Invalid API key: <redacted> (cl\xe9 refus\xe9e)\n"  # every other byte kept
    assert key[-10:].encode() not in stored
    assert _replay(tmp_path, calls) == 1
    assert key not in messages[1] and REDACTED in messages[1]
