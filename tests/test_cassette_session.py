"""Record and replay through the real openai / anthropic SDKs and httpx clients.

The SDKs talk to the loopback fake provider; a tiny raw server adds what it does not
serve (exact bytes, gzip, events split across chunks).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from pytest_llmeval.capture.cassettes import intercept
from pytest_llmeval.capture.cassettes.session import CassetteSession
from pytest_llmeval.core import context
from pytest_llmeval.core.errors import CassetteMiss
from tests.fakeprovider import FakeProviderServer, closed_port_url
from tests.observers import ExchangeLog

# a test that fails between start() and stop() must not leave interception on
pytestmark = pytest.mark.usefixtures("stop_leaked_cassette_sessions")

PLANTED = "sk-test-PLANTED0123456789abcdef"
EXACT = b'{"a": 1.0, "b": 1e5, "c": 0.1000000000000000055511151231257827, "d": "\xc3\xa9"}'


class RawHandler(BaseHTTPRequestHandler):
    """Routes the fake provider does not have: exact bytes, gzip, events split mid-chunk."""

    protocol_version = "HTTP/1.1"
    server: RawServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.do_GET()

    def do_GET(self) -> None:
        if self.path == "/sse":
            return self._stream()
        content = gzip.compress(EXACT) if self.path == "/exact/gzip" else EXACT
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(content)))
        if self.path == "/exact/gzip":
            self.send_header("content-encoding", "gzip")
        self.end_headers()
        self.wfile.write(content)

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for number in range(4):
            event = f'event: tick\r\ndata: {{"n": {number}}}\r\n\r\n'.encode()
            time.sleep(self.server.event_delay if number else 0)
            for part in (event[:9], event[9:]):  # each event split across two chunks
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
            self.server.sent_at.append(time.perf_counter())
            self.server.sent += event
        self.wfile.write(b"0\r\n\r\n")


class RawServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RawHandler)
        self.event_delay = 0.0
        self.sent_at: list[float] = []
        self.sent = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    local = RawServer()
    threading.Thread(target=local.serve_forever, args=(0.02,), daemon=True).start()
    yield local
    local.shutdown()
    local.server_close()


@pytest.fixture
def provider() -> Iterator[FakeProviderServer]:
    """A fake provider of this test's own, so that the test can stop it before replaying."""
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def cassette(tmp_path: Path) -> Path:
    return tmp_path / "cassettes" / "test_mod" / "test_x.json"


def session(path: Path, mode: str = "once", **options: Any) -> CassetteSession:
    return CassetteSession(path=path, mode=mode, nodeid="tests/test_mod.py::test_x", **options)  # type: ignore[arg-type]


def clients(url: str, **options: Any) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    options = {"api_key": PLANTED, "max_retries": 0, **options}
    return openai.OpenAI(base_url=f"{url}/v1", **options), anthropic.Anthropic(
        base_url=url, **options
    )


MESSAGES: Any = [{"role": "user", "content": "hello"}]


def exercise_sync(url: str) -> list[Any]:
    """Every sync flavour once; returns what the SDKs parsed."""
    oa, an = clients(url)
    results: list[Any] = [oa.chat.completions.create(model="gpt-x", messages=MESSAGES)]
    stream = oa.chat.completions.create(model="gpt-x", messages=MESSAGES, stream=True)
    results.append([chunk.choices[0].delta.content for chunk in stream if chunk.choices])
    results.append(oa.responses.create(model="gpt-x", input="hello"))
    results.append(
        [event.type for event in oa.responses.create(model="gpt-x", input="hi", stream=True)]
    )
    results.append(oa.embeddings.create(model="emb", input=["a", "b"]))
    results.append(an.messages.create(model="claude-x", max_tokens=10, messages=MESSAGES))
    events = an.messages.create(model="claude-x", max_tokens=10, messages=MESSAGES, stream=True)
    results.append([event.type for event in events])
    with an.messages.stream(model="claude-x", max_tokens=11, messages=MESSAGES) as helper:
        results.append(helper.get_final_message())
    return results


async def exercise_async(url: str) -> list[Any]:
    oa = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=PLANTED, max_retries=0)
    an = anthropic.AsyncAnthropic(base_url=url, api_key=PLANTED, max_retries=0)
    results: list[Any] = [await oa.chat.completions.create(model="gpt-x", messages=MESSAGES)]
    stream = await oa.chat.completions.create(model="gpt-x", messages=MESSAGES, stream=True)
    results.append([chunk.choices[0].delta.content async for chunk in stream if chunk.choices])
    results.append(await an.messages.create(model="claude-x", max_tokens=10, messages=MESSAGES))
    events = await an.messages.create(
        model="claude-x", max_tokens=10, messages=MESSAGES, stream=True
    )
    results.append([event.type async for event in events])
    async with an.messages.stream(model="claude-x", max_tokens=11, messages=MESSAGES) as helper:
        results.append(await helper.get_final_message())
    return results


def test_sync_sdks_record_then_replay_offline(provider: FakeProviderServer, cassette: Path) -> None:
    url = provider.url
    exchanges = ExchangeLog()
    recording = session(cassette, observer=exchanges)
    recording.start()
    live = exercise_sync(url)
    outcome = recording.stop()
    assert (outcome.recorded, outcome.replayed, outcome.written) == (8, 0, cassette)
    assert [e.replayed for e in exchanges] == [False] * 8
    streamed = [e.interaction.is_stream for e in exchanges if e.interaction]
    assert streamed == [False, True, False, True, False, False, True, True]
    provider.stop()

    exchanges.clear()
    replay = session(cassette, "none", observer=exchanges)
    replay.start()
    replayed = exercise_sync(url)
    outcome = replay.stop()
    assert replayed == live
    assert (outcome.recorded, outcome.replayed, outcome.unplayed, outcome.written) == (
        0,
        8,
        (),
        None,
    )
    assert [e.replayed for e in exchanges] == [True] * 8
    for exchange in exchanges:
        assert exchange.interaction is not None
        assert (exchange.latency_s, exchange.ttft_s) == (
            exchange.interaction.meta.latency_s,
            exchange.interaction.meta.ttft_s,
        )
        assert (exchange.ttft_s is not None) == exchange.interaction.is_stream


def test_async_sdks_record_then_replay_offline(
    provider: FakeProviderServer, cassette: Path
) -> None:
    url = provider.url
    recording = session(cassette)
    recording.start()
    live = asyncio.run(exercise_async(url))
    assert recording.stop().recorded == 5
    provider.stop()
    replay = session(cassette, "none")
    replay.start()
    replayed = asyncio.run(exercise_async(url))
    assert replay.stop().replayed == 5
    assert replayed == live


@pytest.mark.parametrize("library", [httpx2, httpx])
def test_user_supplied_clients(provider: FakeProviderServer, cassette: Path, library: Any) -> None:
    url = f"{provider.url}/v1/chat/completions"
    body = {"model": "m", "messages": MESSAGES}

    async def post_async() -> Any:
        async with library.AsyncClient() as client:
            return (await client.post(url, json={**body, "model": "a"})).json()

    recording = session(cassette)
    recording.start()
    with library.Client() as client:
        live = client.post(url, json=body).json()
    live_async = asyncio.run(post_async())
    assert recording.stop().recorded == 2
    provider.stop()
    replay = session(cassette, "none")
    replay.start()
    with library.Client() as client:
        assert client.post(url, json=body).json() == live
    assert asyncio.run(post_async()) == live_async
    assert replay.stop().replayed == 2


@pytest.mark.parametrize("path", ["/exact", "/exact/gzip"])
def test_replay_is_byte_exact(raw_server: RawServer, cassette: Path, path: str) -> None:
    recording = session(cassette)
    recording.start()
    with httpx2.Client() as client:
        live = client.get(raw_server.url + path)
    recording.stop()
    assert live.content == EXACT
    stored = json.loads(cassette.read_text(encoding="utf-8"))["interactions"][0]["response"]
    assert stored["body_text"] == EXACT.decode()
    assert "content-encoding" not in stored["headers"]
    replay = session(cassette, "none")
    replay.start()
    with httpx2.Client() as client:
        again = client.get(raw_server.url + path)
    replay.stop()
    assert again.content == EXACT
    assert again.headers["content-length"] == str(len(EXACT))


def test_tee_hands_events_over_as_they_arrive(raw_server: RawServer, cassette: Path) -> None:
    raw_server.event_delay = 0.15
    recording = session(cassette)
    recording.start()
    with httpx2.Client() as client, client.stream("GET", f"{raw_server.url}/sse") as response:
        arrivals = [time.perf_counter() for _ in response.iter_raw()]
    recording.stop()
    assert (
        arrivals[0] < raw_server.sent_at[-1] - 0.3
    )  # the first chunk came before the last was sent
    events = json.loads(cassette.read_text())["interactions"][0]["response"]["events"]
    assert [event["data"] for event in events] == [{"n": n} for n in range(4)]
    offsets = [event["offset_s"] for event in events]
    assert offsets == sorted(offsets) and offsets[-1] - offsets[0] > 0.4
    assert "".join(event["raw"] for event in events).encode() == raw_server.sent


def test_tee_with_the_sdk_and_realtime_replay(provider: FakeProviderServer, cassette: Path) -> None:
    url = provider.url
    provider.event_delay = 0.06
    oa, _ = clients(url)
    recording = session(cassette)
    recording.start()
    chunks = [
        time.perf_counter()
        for _ in oa.chat.completions.create(model="gpt-x", messages=MESSAGES, stream=True)
    ]
    recording.stop()
    events = recording.interactions[0].response.events or []
    # The server sleeps before every event; a buffering tee would hand them all over at once.
    assert len(chunks) >= 3 and chunks[-1] - chunks[0] >= (len(chunks) - 1) * 0.06 * 0.8
    provider.stop()
    replay = session(cassette, "none", realtime=True)
    replay.start()
    started = time.perf_counter()
    list(oa.chat.completions.create(model="gpt-x", messages=MESSAGES, stream=True))
    replay.stop()
    assert time.perf_counter() - started >= events[-1].offset_s - 0.01


def test_interception_is_exact_and_refcounted(cassette: Path, tmp_path: Path) -> None:
    methods = [(httpx2.HTTPTransport, "handle_request"), (httpx2.AsyncHTTPTransport, "handle_async_request"),
               (httpx.HTTPTransport, "handle_request"), (httpx.AsyncHTTPTransport, "handle_async_request")]  # fmt: skip
    originals = [cls.__dict__[name] for cls, name in methods]
    one, two = session(cassette), session(tmp_path / "two.json")
    one.start()
    two.start()
    assert all(
        cls.__dict__[name] is not original
        for (cls, name), original in zip(methods, originals, strict=True)
    )
    assert intercept.current_cassette.get() is two
    two.stop()
    assert intercept.is_installed()
    assert intercept.current_cassette.get() is one
    one.stop()
    assert not intercept.is_installed()
    assert intercept.current_cassette.get() is None
    assert all(
        cls.__dict__[name] is original
        for (cls, name), original in zip(methods, originals, strict=True)
    )


# -- modes, misses, order --------------------------------------------------------------


def chat(url: str, content: str = "hello", **options: Any) -> str:
    oa, _ = clients(url, **options)
    reply = oa.chat.completions.create(
        model="gpt-x", messages=[{"role": "user", "content": content}]
    )
    return reply.choices[0].message.content or ""


def test_modes(fake_provider: FakeProviderServer, cassette: Path) -> None:
    url = fake_provider.url
    fake_provider.script("first", "second", "third")
    none = session(cassette, "none")
    none.start()
    with pytest.raises(CassetteMiss, match="The cassette file does not exist yet"):
        chat(url)
    assert none.stop().written is None and not cassette.exists()

    once = session(cassette, "once")
    once.start()
    assert chat(url) == "first"
    assert once.stop().recorded == 1
    again = session(cassette, "once")  # the file exists now: replay only
    again.start()
    assert chat(url) == "first"
    with pytest.raises(CassetteMiss):
        chat(url, "something else")
    assert again.stop().written is None

    new = session(cassette, "new")
    new.start()
    assert chat(url) == "first"
    assert chat(url, "something else") == "second"
    outcome = new.stop()
    assert (outcome.replayed, outcome.recorded, outcome.unplayed) == (1, 1, ())
    assert len(json.loads(cassette.read_text())["interactions"]) == 2

    everything = session(cassette, "all")
    everything.start()
    assert chat(url) == "third"
    assert everything.stop().recorded == 1
    stored = json.loads(cassette.read_text())["interactions"]
    assert [i["response"]["body"]["choices"][0]["message"]["content"] for i in stored] == ["third"]
    assert len(fake_provider.requests) == 3


# -- failures, truncation, context ------------------------------------------------------


def test_on_exchange_once_per_request_also_for_failures(
    fake_provider: FakeProviderServer, cassette: Path
) -> None:
    exchanges = ExchangeLog()
    recording = session(cassette, "all", observer=exchanges)
    recording.start()
    oa, _ = clients(fake_provider.url, max_retries=1)
    with pytest.raises(openai.InternalServerError):
        oa.chat.completions.create(
            model="gpt-x", messages=MESSAGES, extra_headers=fake_provider.fault_header(500)
        )
    dead, _ = clients(closed_port_url())
    with pytest.raises(openai.APIConnectionError):
        dead.chat.completions.create(model="gpt-x", messages=MESSAGES)
    outcome = recording.stop()
    assert [(e.interaction.response.status if e.interaction else None) for e in exchanges] == [
        500,
        500,
        None,
    ]
    assert exchanges[2].error and exchanges[2].error.startswith("ConnectError")
    assert exchanges[2].request.url.endswith("/v1/chat/completions")
    assert outcome.recorded == 3  # the two 500s, and the refused connection (replayed as such)


def test_truncated_streams_are_recorded_as_such(
    fake_provider: FakeProviderServer, cassette: Path
) -> None:
    exchanges = ExchangeLog()
    recording = session(cassette, observer=exchanges)
    recording.start()
    oa, _ = clients(fake_provider.url)
    stream = oa.chat.completions.create(model="gpt-x", messages=MESSAGES, stream=True)
    next(iter(stream))
    stream.close()
    # openai 3.x wraps the cut in APIConnectionError; 1.x and 2.x let the transport's
    # error through. The plugin's promise is the recording of the cut, asserted below.
    with pytest.raises(
        (openai.APIConnectionError, httpx2.RemoteProtocolError, httpx.RemoteProtocolError)
    ):
        list(oa.chat.completions.create(model="gpt-x", messages=MESSAGES, stream=True,
                                        extra_headers=fake_provider.fault_header("cut", after=2)))  # fmt: skip
    recording.stop()
    metas = [i.meta for i in recording.interactions]
    assert (
        metas[0].truncated and metas[0].error == "the consumer closed the response before its end"
    )
    assert metas[1].truncated and metas[1].error and "RemoteProtocolError" in metas[1].error
    assert len(recording.interactions[1].response.events or []) == 2
    assert (
        exchanges[0].error is None
        and exchanges[1].error
        and "RemoteProtocolError" in exchanges[1].error
    )


def test_role_and_threads_without_context(
    fake_provider: FakeProviderServer, cassette: Path
) -> None:
    exchanges = ExchangeLog()
    recording = session(cassette, observer=exchanges)
    recording.start()
    token = context.current_role.set("judge")
    try:
        chat(fake_provider.url, "judged")
    finally:
        context.current_role.reset(token)
    worker = threading.Thread(target=chat, args=(fake_provider.url, "from a thread"))
    worker.start()
    worker.join()
    recording.stop()
    assert [(e.role, e.request.body["messages"][0]["content"]) for e in exchanges] == [
        ("judge", "judged"), ("app", "from a thread")]  # fmt: skip
    assert [i.meta.role for i in recording.interactions] == ["judge", "app"]


def test_concurrent_async_calls_record_and_replay(
    fake_provider: FakeProviderServer, cassette: Path
) -> None:
    async def many() -> list[str]:
        client = openai.AsyncOpenAI(base_url=f"{fake_provider.url}/v1", api_key="k", max_retries=0)
        replies = await asyncio.gather(*[
            client.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": f"q{n}"}])
            for n in range(20)])  # fmt: skip
        return [reply.choices[0].message.content or "" for reply in replies]

    recording = session(cassette)
    recording.start()
    live = asyncio.run(many())
    assert recording.stop().recorded == 20
    replay = session(cassette, "none")
    replay.start()
    assert asyncio.run(many()) == live
    assert replay.stop().replayed == 20
    assert len(set(live)) == 20


def test_rerecording_identical_traffic_changes_only_timings(
    raw_server: RawServer, cassette: Path
) -> None:
    import re

    def record() -> str:
        raw_server.sent = b""
        recording = session(
            cassette,
            "all",
            observer=ExchangeLog(lambda i: {"provider": "raw", "n": len(i.request.url)}),
        )
        recording.start()
        with httpx2.Client() as client:
            client.post(f"{raw_server.url}/exact", json={"b": 1, "a": [1.5, "é"]})
            with client.stream("GET", f"{raw_server.url}/sse") as response:
                response.read()
        recording.stop()
        text = cassette.read_text(encoding="utf-8")
        return re.sub(r'"(offset_s|latency_s|ttft_s|recorded_at)": [^,\n]+', r'"\1": X', text)

    first = record()
    assert first == record()
    assert '"provider": "raw"' in first and '"é"' in first and '"status": 200' in first


def test_a_hold_keeps_the_patches_between_sessions(cassette: Path, tmp_path: Path) -> None:
    original = httpx2.HTTPTransport.__dict__["handle_request"]
    intercept.hold()
    try:
        patched = httpx2.HTTPTransport.__dict__["handle_request"]
        assert patched is not original
        for name in ("a.json", "b.json"):
            one = session(tmp_path / name)
            one.start()
            one.stop()
            # the session came and went; the patch stayed, the very same function
            assert httpx2.HTTPTransport.__dict__["handle_request"] is patched
    finally:
        intercept.release()
    assert not intercept.is_installed()
    assert httpx2.HTTPTransport.__dict__["handle_request"] is original


LATE_HTTPX = """
import sys

import pytest

from pytest_llmeval.core.errors import CassetteMiss

pytestmark = pytest.mark.llm_eval

def test_imports_httpx_inside_the_test():
    assert "httpx" not in sys.modules  # nothing, the plugin included, imported it yet
    import httpx

    with pytest.raises(CassetteMiss):
        httpx.post(URL + "/v1/chat/completions", json={"model": "m", "messages": []})
"""


def test_legacy_httpx_imported_during_a_test_is_intercepted(pytester_env: pytest.Pytester) -> None:
    """Legacy httpx is patched when first imported, not up front (with click and rich
    installed, importing it costs every session ~60 ms); a call through it is still
    refused in `none` mode rather than sent (here: to a closed port, a ConnectError).
    The test catches the miss, and an eval test fails on a miss it swallowed all the same."""
    pytester_env.makepyfile(test_late=f"URL = {closed_port_url()!r}\n" + LATE_HTTPX)
    result = pytester_env.runpytest_subprocess("--llmeval-record=none", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["No recorded response for POST /v1/chat/completions"])
    assert "ConnectError" not in result.stdout.str()
