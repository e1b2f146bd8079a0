"""Each exchange is read by the provider adapters once and priced once, on every path.

A live call is read and priced when it is recorded (its cassette meta), and the Inference
reuses that reading; a replayed, cached or failed call is read once by `build_inference`.
The real openai / anthropic SDKs talk to the loopback fake provider through a real
`CassetteSession`; the adapters and the pricer run for real, counted as they are called.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from pytest_llmeval.capture import inference as capture
from pytest_llmeval.capture import pricing
from pytest_llmeval.capture.cassettes.cache import ResponseCache
from pytest_llmeval.capture.cassettes.calls import Exchange
from pytest_llmeval.capture.cassettes.session import CassetteSession
from pytest_llmeval.capture.price_overrides import ModelPrice
from pytest_llmeval.records.models import Inference
from tests.fakeprovider import FakeProviderServer, closed_port_url

pytestmark = pytest.mark.usefixtures("stop_leaked_cassette_sessions")

MESSAGES: Any = [{"role": "user", "content": "hello"}]
# the loopback server is no known cloud: calls are priced by these overrides or not at all
OVERRIDES = {
    "gpt-x": ModelPrice(input=1.0, output=2.0),
    "anthropic-compatible:claude-x": ModelPrice(input=3.0, output=4.0),
}


@pytest.fixture
def provider() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


class Counted:
    """Counts the outermost calls of a capture function; the real one still does the work.
    `price_call` is counted in `pricing`, which `capture.inference` imports it from
    where it prices (a replay of priced recordings never loads the pricing module); a
    call it makes to itself is part of the one pricing, not a second."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.calls = 0
        self.depth = 0
        module: Any = pricing if name == "price_call" else capture
        real: Callable[..., Any] = getattr(module, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += self.depth == 0
            self.depth += 1
            try:
                return real(*args, **kwargs)
            finally:
                self.depth -= 1

        monkeypatch.setattr(module, name, counted)


class Recorder:
    """The session's observer, doing what runner.py's ItemRun does with each call."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.inferences: list[Inference] = []

    def before_live(self, request: Any) -> None:
        pass

    def annotate(self, interaction: Any) -> dict[str, Any]:
        return capture.annotate_interaction(interaction, OVERRIDES)

    def exchanged(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        self.inferences.append(capture.build_inference(exchange, "t", OVERRIDES))


def calls(url: str) -> None:
    """A chat call, a chat stream, a Responses call and an Anthropic message stream."""
    oa = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    an = anthropic.Anthropic(base_url=url, api_key="sk-test", max_retries=0)
    oa.chat.completions.create(model="gpt-x", messages=MESSAGES)
    stream = oa.chat.completions.create(
        model="gpt-y",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    list(stream)
    oa.responses.create(model="nobody-prices-me", input="hello")
    with an.messages.stream(model="claude-x", max_tokens=11, messages=MESSAGES) as s:
        s.get_final_message()


def run(path: Path, mode: str, url: str, **options: Any) -> Recorder:
    recorder = Recorder()
    session = CassetteSession(
        path=path,
        mode=mode,  # type: ignore[arg-type]
        nodeid="tests/test_mod.py::test_x",
        observer=recorder,
        **options,
    )
    session.start()
    try:
        calls(url)
    finally:
        session.stop()
    return recorder


def test_a_live_call_is_read_and_priced_once(
    provider: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read, priced = Counted(monkeypatch, "describe_call"), Counted(monkeypatch, "price_call")
    recorder = run(tmp_path / "c.json", "all", provider.url)
    assert len(recorder.inferences) == 4
    assert (read.calls, priced.calls) == (4, 4)
    assert [i.priced for i in recorder.inferences] == [True, False, False, True]
    assert all(not i.replayed and i.input_tokens for i in recorder.inferences)


def test_the_reused_reading_gives_the_inference_a_second_reading_would(
    provider: FakeProviderServer, tmp_path: Path
) -> None:
    recorder = run(tmp_path / "c.json", "all", provider.url)
    assert all(exchange.annotation is not None for exchange in recorder.exchanges)
    reread = [
        capture.build_inference(dataclasses.replace(exchange, annotation=None), "t", OVERRIDES)
        for exchange in recorder.exchanges
    ]
    assert reread == recorder.inferences


def test_a_replayed_or_cached_call_is_read_once_and_not_priced_again(
    provider: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ResponseCache(tmp_path / "cache")
    live = run(tmp_path / "a.json", "all", provider.url, cache=cache)
    read, priced = Counted(monkeypatch, "describe_call"), Counted(monkeypatch, "price_call")
    replayed = run(tmp_path / "a.json", "none", provider.url)
    # a recording left unpriced is priced again (by the overrides only), once
    assert (read.calls, priced.calls) == (4, 2)
    cached = run(tmp_path / "b.json", "all", provider.url, cache=cache)
    assert (read.calls, priced.calls) == (8, 4)
    assert [i.cost_usd for i in replayed.inferences] == [i.cost_usd for i in live.inferences]
    assert all(i.replayed for i in replayed.inferences + cached.inferences)
    assert [i.cost_usd for i in cached.inferences] == [i.cost_usd for i in live.inferences]


def test_a_failed_call_is_read_once_and_priced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read, priced = Counted(monkeypatch, "describe_call"), Counted(monkeypatch, "price_call")
    recorder = Recorder()
    session = CassetteSession(
        path=tmp_path / "c.json",
        mode="all",
        nodeid="tests/test_mod.py::test_x",
        observer=recorder,
    )
    session.start()
    try:
        client = openai.OpenAI(base_url=f"{closed_port_url()}/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.APIConnectionError):
            client.chat.completions.create(model="gpt-x", messages=MESSAGES)
    finally:
        session.stop()
    assert (read.calls, priced.calls) == (1, 1)
    [inference] = recorder.inferences
    assert inference.error is not None and "ConnectError" in inference.error
    assert recorder.exchanges[0].annotation is None
