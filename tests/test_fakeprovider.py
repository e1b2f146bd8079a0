"""The fake provider server, exercised with the real openai and anthropic SDKs."""

from __future__ import annotations

import asyncio
import base64
import datetime
import enum
import json
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Literal

import anthropic
import httpx2
import openai
import pydantic
import pytest

from tests.fakeprovider import (
    FakeProviderControl,
    FakeProviderServer,
    RecordedRequest,
    ReplySpec,
    ToolCall,
    closed_port_url,
)
from tests.fakeprovider.schema import example_from_schema

GPT = "gpt-4.1-mini"
CLAUDE = "claude-haiku-4-5"
ROOT = Path(__file__).resolve().parent.parent


def chat(text: str = "What is the refund window?") -> dict[str, Any]:
    return {"model": GPT, "messages": [{"role": "user", "content": text}]}


def message(text: str = "What is the refund window?") -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 200, "messages": [{"role": "user", "content": text}]}


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Citation(pydantic.BaseModel):
    source: str
    page: int = pydantic.Field(ge=3, le=7)
    tags: list[str] = pydantic.Field(min_length=2)


class Verdict(pydantic.BaseModel):
    reasoning: str
    score: float = pydantic.Field(ge=0, le=1)
    grade: Literal["pass", "fail"]
    color: Color
    citation: Citation
    extra: Citation | None = None
    citations: list[Citation]
    when: datetime.datetime
    confident: bool


class Weather(pydantic.BaseModel):
    city: str
    unit: Literal["c", "f"]
    days: int = pydantic.Field(ge=1, le=14)


# -- OpenAI Chat Completions -------------------------------------------------------


def test_openai_chat_is_deterministic_with_word_usage(
    openai_client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    first = openai_client.chat.completions.create(**chat("hello there world"))
    second = openai_client.chat.completions.create(**chat("hello there world"))
    assert first.choices[0].message.content == "Fake reply to: hello there world"
    assert first.model_dump() == second.model_dump()
    assert first.choices[0].finish_reason == "stop"
    assert first.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (3, 6)
    assert first._request_id is not None and first._request_id.startswith("req_")
    recorded = fake_provider.requests[0]
    assert (recorded.method, recorded.path, recorded.api) == (
        "POST",
        "/v1/chat/completions",
        "openai.chat",
    )
    assert recorded.headers["authorization"] == "Bearer test-key"
    assert recorded.body["messages"][0]["content"] == "hello there world"


@pytest.mark.anyio
async def test_openai_chat_async(async_openai_client: openai.AsyncOpenAI) -> None:
    reply = await async_openai_client.chat.completions.create(**chat("async hello"))
    assert reply.choices[0].message.content == "Fake reply to: async hello"


def test_openai_chat_stream_with_usage(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        **chat("stream me please"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Fake reply to: stream me please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6


@pytest.mark.anyio
async def test_openai_chat_stream_async(async_openai_client: openai.AsyncOpenAI) -> None:
    stream = await async_openai_client.chat.completions.create(**chat("async stream"), stream=True)
    pieces = [c.choices[0].delta.content or "" async for c in stream]
    assert "".join(pieces) == "Fake reply to: async stream"


def test_openai_forced_tool_call_has_schema_valid_arguments(openai_client: openai.OpenAI) -> None:
    tool = openai.pydantic_function_tool(Weather, name="get_weather")
    reply = openai_client.chat.completions.parse(
        **chat("weather in Paris?"),
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert Weather.model_validate_json(call.function.arguments) == call.function.parsed_arguments


def test_openai_streamed_tool_call_with_stream_helper(openai_client: openai.OpenAI) -> None:
    tool = openai.pydantic_function_tool(Weather, name="get_weather")
    with openai_client.chat.completions.stream(
        **chat("weather?"), tools=[tool], tool_choice="required"
    ) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert isinstance(call.function.parsed_arguments, Weather)


def test_openai_parse_json_schema_structured_output(
    openai_client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    reply = openai_client.chat.completions.parse(**chat("judge this"), response_format=Verdict)
    parsed = reply.choices[0].message.parsed
    assert isinstance(parsed, Verdict)
    assert parsed.score == 1.0 and parsed.citation.page == 7 and len(parsed.citation.tags) == 2
    sent = fake_provider.requests[0].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True


def test_openai_max_tokens_truncates_with_length_finish(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(**chat("one two three four"), max_tokens=3)
    assert reply.choices[0].message.content == "Fake reply to: "
    assert reply.choices[0].finish_reason == "length"
    with pytest.raises(openai.LengthFinishReasonError):
        openai_client.chat.completions.parse(
            **chat(), response_format=Verdict, max_completion_tokens=2
        )


# -- OpenAI Responses and Embeddings -------------------------------------------------


def test_openai_responses_non_stream(openai_client: openai.OpenAI) -> None:
    response = openai_client.responses.create(
        model=GPT, input="hello responses", instructions="Be brief."
    )
    assert response.output_text == "Fake reply to: hello responses"
    assert response.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (4, 5)


def test_openai_responses_stream_events(openai_client: openai.OpenAI) -> None:
    events = list(openai_client.responses.create(model=GPT, input="stream responses", stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Fake reply to: stream responses"
    last = events[-1]
    assert last.type == "response.completed" and last.response.usage is not None


def test_openai_responses_parse_and_stream_helper(openai_client: openai.OpenAI) -> None:
    parsed = openai_client.responses.parse(model=GPT, input="weather", text_format=Weather)
    assert isinstance(parsed.output_parsed, Weather)
    with openai_client.responses.stream(model=GPT, input="weather", text_format=Weather) as stream:
        final = stream.get_final_response()
    assert final.output_parsed == parsed.output_parsed


def test_openai_responses_forced_function_call(openai_client: openai.OpenAI) -> None:
    tool: Any = {
        "type": "function",
        "name": "get_weather",
        "parameters": Weather.model_json_schema(),
        "strict": False,
    }
    choice: Any = {"type": "function", "name": "get_weather"}
    response = openai_client.responses.create(
        model=GPT, input="weather?", tools=[tool], tool_choice=choice
    )
    call = response.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    Weather.model_validate_json(call.arguments)
    events = list(
        openai_client.responses.create(
            model=GPT, input="weather?", tools=[tool], tool_choice="required", stream=True
        )
    )
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done and done[0].arguments == call.arguments


def test_openai_embeddings_float_and_base64(
    openai_client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    floats = openai_client.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float"
    )
    default = openai_client.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"]
    )
    assert fake_provider.requests[1].body["encoding_format"] == "base64"  # the SDK's default
    assert [d.embedding for d in floats.data] == [d.embedding for d in default.data]
    assert floats.data[0].embedding != floats.data[1].embedding
    assert abs(sum(v * v for v in floats.data[0].embedding) - 1.0) < 1e-5
    raw = openai_client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="alpha", encoding_format="base64", dimensions=4
    )
    encoded = json.loads(raw.http_response.text)["data"][0]["embedding"]
    assert len(struct.unpack("<4f", base64.b64decode(encoded))) == 4
    assert floats.usage.prompt_tokens == 2


# -- Anthropic Messages -----------------------------------------------------------


def test_anthropic_message(
    anthropic_client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    reply = anthropic_client.messages.create(**message("hello claude"), system="You are terse.")
    assert (
        reply.content[0].type == "text" and reply.content[0].text == "Fake reply to: hello claude"
    )
    assert reply.stop_reason == "end_turn"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (5, 5)
    assert reply.usage.cache_read_input_tokens == 0
    assert reply._request_id is not None and reply._request_id.startswith("req_")
    # anthropic 2.x sends its API key as a bearer token, not x-api-key
    assert fake_provider.requests[0].headers["authorization"] == "Bearer test-key"


@pytest.mark.anyio
async def test_anthropic_message_async(async_anthropic_client: anthropic.AsyncAnthropic) -> None:
    reply = await async_anthropic_client.messages.create(**message("async claude"))
    assert (
        reply.content[0].type == "text" and reply.content[0].text == "Fake reply to: async claude"
    )
    async with async_anthropic_client.messages.stream(**message("async claude")) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == reply.content[0].text


def test_anthropic_raw_stream_events(anthropic_client: anthropic.Anthropic) -> None:
    events = list(anthropic_client.messages.create(**message("raw stream"), stream=True))
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "Fake reply to: raw stream"
    assert events[-2].type == "message_delta" and events[-2].usage.output_tokens == 5


def test_anthropic_stream_helper_final_message(anthropic_client: anthropic.Anthropic) -> None:
    with anthropic_client.messages.stream(**message("helper stream")) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Fake reply to: helper stream"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 5


def test_anthropic_forced_tool_use(anthropic_client: anthropic.Anthropic) -> None:
    tool: Any = {
        "name": "get_weather",
        "description": "Weather",
        "input_schema": Weather.model_json_schema(),
    }
    reply = anthropic_client.messages.create(
        **message("weather?"), tools=[tool], tool_choice={"type": "tool", "name": "get_weather"}
    )
    block = reply.content[0]
    assert reply.stop_reason == "tool_use" and block.type == "tool_use"
    Weather.model_validate(block.input)
    with anthropic_client.messages.stream(
        **message("weather?"), tools=[tool], tool_choice={"type": "any"}
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == block.input


def test_anthropic_output_config_structured_output(
    anthropic_client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    parsed = anthropic_client.messages.parse(**message("judge"), output_format=Verdict)
    assert isinstance(parsed.parsed_output, Verdict) and parsed.parsed_output.citation.page == 7
    schema = fake_provider.requests[0].body["output_config"]["format"]["schema"]
    assert '"minimum"' not in json.dumps(schema)  # the SDK moves bounds into descriptions
    raw = anthropic_client.messages.create(
        **message("judge"),
        output_config={"format": {"type": "json_schema", "schema": Weather.model_json_schema()}},
    )
    assert raw.content[0].type == "text"
    Weather.model_validate_json(raw.content[0].text)


def test_anthropic_count_tokens(anthropic_client: anthropic.Anthropic) -> None:
    counted = anthropic_client.messages.count_tokens(
        model=CLAUDE, messages=[{"role": "user", "content": "four words right here"}]
    )
    assert counted.input_tokens == 4


def test_anthropic_beta_path_and_prompt_cache_usage(
    anthropic_client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    system: Any = [
        {
            "type": "text",
            "text": "a long cached policy text",
            "cache_control": {"type": "ephemeral"},
        }
    ]
    # anthropic 2.x no longer puts ?beta=true on the wire; older SDKs did, so it is accepted
    first = anthropic_client.beta.messages.create(
        **message("question one"), system=system, extra_query={"beta": "true"}
    )
    second = anthropic_client.beta.messages.create(**message("question two"), system=system)
    assert fake_provider.requests[0].query == {"beta": "true"}
    assert fake_provider.requests[0].api == "anthropic.messages"
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (5, 0)
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (
        0,
        5,
    )
    assert second.usage.input_tokens == 2


# -- scripting -----------------------------------------------------------------


def test_reply_with_text_json_match_and_queue(
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
    fake_provider: FakeProviderServer,
) -> None:
    fake_provider.reply_with(json={"score": 0.25}, match="grade this")
    fake_provider.reply_with("for claude", match=lambda r: r.provider == "anthropic")
    fake_provider.script("turn one", ReplySpec(text="turn two", usage={"output_tokens": 42}))
    graded = openai_client.chat.completions.create(**chat("please grade this"))
    assert json.loads(graded.choices[0].message.content or "") == {"score": 0.25}
    claude = anthropic_client.messages.create(**message())
    assert claude.content[0].type == "text" and claude.content[0].text == "for claude"
    one = openai_client.chat.completions.create(**chat())
    two = openai_client.chat.completions.create(**chat())
    three = openai_client.chat.completions.create(**chat())
    assert [one.choices[0].message.content, two.choices[0].message.content] == [
        "turn one",
        "turn two",
    ]
    assert two.usage is not None and two.usage.completion_tokens == 42
    assert three.choices[0].message.content == "Fake reply to: What is the refund window?"


def test_handler_and_scripted_tool_calls(
    openai_client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    seen: list[RecordedRequest] = []

    def handler(request: RecordedRequest) -> ReplySpec | None:
        seen.append(request)
        if "lookup" in request.last_user_text:
            return ReplySpec(tool_calls=[ToolCall("search", {"query": "refunds"})])
        return None

    fake_provider.set_handler(handler)
    reply = openai_client.chat.completions.create(**chat("lookup refunds"))
    calls = reply.choices[0].message.tool_calls or []
    assert calls[0].function.name == "search"
    assert json.loads(calls[0].function.arguments) == {"query": "refunds"}
    plain = openai_client.chat.completions.create(**chat("other"))
    assert plain.choices[0].message.content == "Fake reply to: other"
    assert [r.last_user_text for r in seen] == ["lookup refunds", "other"]


def test_fake_provider_fixture_resets_between_tests_part_one(
    fake_provider: FakeProviderServer,
) -> None:
    fake_provider.reply_with("leftover")
    fake_provider.enqueue_fault(500)
    fake_provider.latency = 5.0


def test_fake_provider_fixture_resets_between_tests_part_two(
    openai_client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    assert fake_provider.requests == [] and fake_provider.latency == 0.0
    reply = openai_client.chat.completions.create(**chat("fresh"))
    assert reply.choices[0].message.content == "Fake reply to: fresh"


# -- faults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "openai_error", "anthropic_error"),
    [
        ("429", openai.RateLimitError, anthropic.RateLimitError),
        ("500", openai.InternalServerError, anthropic.InternalServerError),
        ("502", openai.InternalServerError, anthropic.InternalServerError),
        ("503", openai.InternalServerError, anthropic.ServiceUnavailableError),
        ("529", openai.InternalServerError, anthropic.OverloadedError),
        ("400", openai.BadRequestError, anthropic.BadRequestError),
        ("malformed", json.JSONDecodeError, json.JSONDecodeError),
        ("empty", json.JSONDecodeError, json.JSONDecodeError),
        ("cut", openai.APIConnectionError, anthropic.APIConnectionError),
    ],
)
def test_fault_raises_the_sdk_error(
    kind: str,
    openai_error: type[Exception],
    anthropic_error: type[Exception],
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
    fake_provider: FakeProviderServer,
) -> None:
    fake_provider.enqueue_fault(kind)
    with pytest.raises(openai_error):
        openai_client.chat.completions.create(**chat())
    fake_provider.enqueue_fault(kind)
    with pytest.raises(anthropic_error):
        anthropic_client.messages.create(**message())
    assert openai_client.chat.completions.create(**chat()).choices[0].message.content


def test_error_bodies_use_each_api_shape(
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
    fake_provider: FakeProviderServer,
) -> None:
    fake_provider.enqueue_fault(429, retry_after=7, message="slow down")
    with pytest.raises(openai.RateLimitError) as openai_info:
        openai_client.chat.completions.create(**chat())
    assert openai_info.value.body == {
        "message": "slow down",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert openai_info.value.response.headers["retry-after"] == "7"
    fake_provider.enqueue_fault(429, message="slow down")
    with pytest.raises(anthropic.RateLimitError) as anthropic_info:
        anthropic_client.messages.create(**message())
    body: Any = anthropic_info.value.body
    assert body["error"] == {"type": "rate_limit_error", "message": "slow down"}
    assert "retry-after" not in anthropic_info.value.response.headers
    assert anthropic_info.value.request_id is not None


def test_wrong_content_type_returns_text_or_fails_strict_validation(
    fake_provider: FakeProviderServer,
) -> None:
    fake_provider.enqueue_fault("wrong_content_type", times=2)
    lenient = openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="k", max_retries=0)
    assert isinstance(lenient.chat.completions.create(**chat()), str)
    strict = openai.OpenAI(
        base_url=fake_provider.openai_base_url,
        api_key="k",
        max_retries=0,
        _strict_response_validation=True,
    )
    with pytest.raises(openai.APIResponseValidationError):
        strict.chat.completions.create(**chat())


def test_timeout_and_slow_faults_time_out_the_client(fake_provider: FakeProviderServer) -> None:
    client = openai.OpenAI(
        base_url=fake_provider.openai_base_url, api_key="k", max_retries=0, timeout=0.2
    )
    fake_provider.enqueue_fault("timeout")
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(**chat())
    fake_provider.enqueue_fault("slow", seconds=1.0)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(**chat())
    fake_provider.enqueue_fault("slow", seconds=0.1)
    started = time.perf_counter()
    assert client.chat.completions.create(**chat()).choices[0].message.content
    assert time.perf_counter() - started >= 0.1


def test_refused_connection(fake_provider: FakeProviderServer) -> None:
    client = anthropic.Anthropic(base_url=closed_port_url(), api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**message())


def test_fault_header_and_control_endpoint(
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
    fake_provider: FakeProviderServer,
) -> None:
    with pytest.raises(openai.InternalServerError):
        openai_client.chat.completions.create(**chat(), extra_headers={"x-fake-fault": "502"})
    with pytest.raises(anthropic.RateLimitError) as info:
        anthropic_client.messages.create(
            **message(), extra_headers=fake_provider.fault_header(429, retry_after=3)
        )
    assert info.value.response.headers["retry-after"] == "3"
    control = FakeProviderControl(fake_provider.url)
    control.enqueue_fault("503", path="/v1/messages", times=2)
    control.reply_with("remote script", match="remote")
    assert (
        openai_client.chat.completions.create(**chat("remote")).choices[0].message.content
        == "remote script"
    )
    for _ in range(2):
        with pytest.raises(anthropic.InternalServerError):
            anthropic_client.messages.create(**message())
    assert anthropic_client.messages.create(**message()).content
    assert [r["path"] for r in control.requests()][-1] == "/v1/messages"
    with pytest.raises(ValueError, match="unknown fault kind 'teapot'"):
        fake_provider.enqueue_fault("teapot")


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_retry_after_is_honoured_and_retry_succeeds(
    sdk: str, fake_provider: FakeProviderServer
) -> None:
    fake_provider.enqueue_fault(429, retry_after=0.05)
    started = time.perf_counter()
    if sdk == "openai":
        client = openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="k", max_retries=1)
        assert client.chat.completions.create(**chat()).choices[0].message.content
    else:
        aclient = anthropic.Anthropic(
            base_url=fake_provider.anthropic_base_url, api_key="k", max_retries=1
        )
        assert aclient.messages.create(**message()).content
    elapsed = time.perf_counter() - started
    assert len(fake_provider.requests) == 2
    assert 0.05 <= elapsed < 0.3  # the SDK's own backoff would wait >= 0.375 s


def test_cut_stream_raises_in_the_sdk(
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
    fake_provider: FakeProviderServer,
) -> None:
    fake_provider.enqueue_fault("cut", after=2)
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in openai_client.chat.completions.create(**chat(), stream=True):
            received.append(chunk)
    assert len(received) == 2
    fake_provider.enqueue_fault("cut", after=3)
    # anthropic before 2.17 let the transport error through unwrapped while streaming;
    # 2.17 wraps it in APIConnectionError. The fake provider's promise is the cut, not
    # which of the two the SDK raises.
    events = []
    with (
        pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)),
        anthropic_client.messages.stream(**message()) as stream,
    ):
        for event in stream:
            events.append(event)
    assert 0 < len(events) <= 3


# -- timing, concurrency, lifecycle ---------------------------------------------


def test_streaming_is_incremental(
    openai_client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.event_delay = 0.04
    arrivals = []
    for _ in openai_client.chat.completions.create(**chat("one two three four five"), stream=True):
        arrivals.append(time.perf_counter())
    assert len(arrivals) >= 9
    assert arrivals[-1] - arrivals[0] >= 0.04 * (len(arrivals) - 2)


def test_concurrent_requests_do_not_serialise(fake_provider: FakeProviderServer) -> None:
    fake_provider.latency = 0.2
    client = openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="k", max_retries=0)
    results: list[str] = []

    def call(index: int) -> None:
        reply = client.chat.completions.create(**chat(f"request {index}"))
        results.append(reply.choices[0].message.content or "")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert len(results) == 16 and elapsed < 1.0, elapsed


def test_concurrent_async_requests_do_not_serialise(fake_provider: FakeProviderServer) -> None:
    fake_provider.latency = 0.2

    async def main() -> float:
        async with anthropic.AsyncAnthropic(
            base_url=fake_provider.anthropic_base_url, api_key="k", max_retries=0
        ) as client:
            started = time.perf_counter()
            await asyncio.gather(*(client.messages.create(**message(f"q{i}")) for i in range(16)))
            return time.perf_counter() - started

    assert asyncio.run(main()) < 1.0


def test_start_and_stop_are_fast_even_with_a_hanging_request() -> None:
    started = time.perf_counter()
    server = FakeProviderServer().start()
    assert time.perf_counter() - started < 0.05
    server.enqueue_fault("timeout")
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0, timeout=10)
    errors: list[BaseException] = []

    def hang() -> None:
        try:
            client.chat.completions.create(**chat())
        except openai.APIError as error:
            errors.append(error)

    thread = threading.Thread(target=hang)
    thread.start()
    while not server.requests:
        time.sleep(0.005)
    stopping = time.perf_counter()
    server.stop()
    assert time.perf_counter() - stopping < 0.05
    thread.join(timeout=5)
    assert isinstance(errors[0], openai.APIConnectionError)


def test_bad_requests_get_api_errors(
    openai_client: openai.OpenAI, anthropic_client: anthropic.Anthropic
) -> None:
    with pytest.raises(openai.BadRequestError, match="model"):
        openai_client.chat.completions.create(messages=[{"role": "user", "content": "x"}], model="")
    with pytest.raises(openai.NotFoundError):
        openai_client.models.list()
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client.post(
            "/v1/messages", body={"model": CLAUDE, "messages": []}, cast_to=object
        )


def test_standalone_module_prints_url_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeprovider", "--port", "0", "--latency", "0.2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
        started = time.perf_counter()
        assert client.chat.completions.create(**chat("standalone")).choices[0].message.content
        assert time.perf_counter() - started >= 0.2
        FakeProviderControl(url).configure(latency=0)
        assert (
            FakeProviderControl(url).requests()[0]["body"]["messages"][0]["content"] == "standalone"
        )
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


# -- the schema generator --------------------------------------------------------


def test_schema_examples_validate_for_pydantic_and_both_sdk_transforms() -> None:
    from anthropic.lib._parse._transform import transform_schema
    from openai.lib._pydantic import to_strict_json_schema

    for schema in (
        Verdict.model_json_schema(),
        to_strict_json_schema(Verdict),
        transform_schema(Verdict),
    ):
        Verdict.model_validate(example_from_schema(schema))


def test_schema_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {
            "ratio": {"type": "number", "exclusiveMaximum": 1, "minimum": 0},
            "count": {"type": "integer", "minimum": 10},
            "name": {"type": "string", "minLength": 12, "maxLength": 14},
            "ids": {
                "type": "array",
                "items": {"type": "string", "format": "uuid"},
                "minItems": 3,
                "uniqueItems": True,
            },
            "none": {"type": "null"},
            "either": {"type": ["null", "integer"], "maximum": 4},
            "fixed": {"const": "x"},
            "merged": {
                "allOf": [
                    {"properties": {"a": {"type": "boolean"}}},
                    {"properties": {"b": {"enum": [2, 3]}}},
                ]
            },
        },
    }
    value = example_from_schema(schema)
    assert 0 <= value["ratio"] < 1
    assert value["count"] == 10 and isinstance(value["count"], int)
    assert 12 <= len(value["name"]) <= 14
    assert len(set(value["ids"])) == 3
    assert value["none"] is None and value["either"] == 4 and value["fixed"] == "x"
    assert value["merged"] == {"a": True, "b": 2}


class Node(pydantic.BaseModel):
    name: str
    children: list[Node]
    parent: Node | None = None


def test_schema_examples_terminate_for_recursive_models() -> None:
    from openai.lib._pydantic import to_strict_json_schema

    for schema in (Node.model_json_schema(), to_strict_json_schema(Node)):
        Node.model_validate(example_from_schema(schema))


def test_restart_keeps_the_url_and_stopped_server_refuses() -> None:
    server = FakeProviderServer().start()
    url = server.url
    server.stop()
    assert server.url == url
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(**chat())
    with server:
        assert server.url == url
        assert client.chat.completions.create(**chat()).choices[0].message.content


def test_hangup_closes_the_connection_without_a_response(
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
    fake_provider: FakeProviderServer,
) -> None:
    fake_provider.enqueue_fault("hangup", times=2)
    with pytest.raises(openai.APIConnectionError) as openai_info:
        openai_client.chat.completions.create(**chat())
    assert isinstance(openai_info.value.__cause__, httpx2.RemoteProtocolError)
    with pytest.raises(anthropic.APIConnectionError, match="without sending a response"):
        anthropic_client.messages.create(**message())
    assert len(fake_provider.requests) == 2


def test_stall_sends_some_events_then_times_out_the_client(
    fake_provider: FakeProviderServer,
) -> None:
    client = openai.OpenAI(
        base_url=fake_provider.openai_base_url, api_key="k", max_retries=0, timeout=0.3
    )
    fake_provider.enqueue_fault("stall", after=2, seconds=5)
    received = []
    with pytest.raises(openai.APITimeoutError):
        for chunk in client.chat.completions.create(**chat(), stream=True):
            received.append(chunk)
    assert len(received) == 2


@pytest.mark.parametrize(
    ("path", "body", "end"),
    [
        ("/v1/chat/completions", {**chat(), "stream": True}, b"data: [DONE]"),
        ("/v1/responses", {"model": GPT, "input": "hi", "stream": True}, b"response.completed"),
        ("/v1/messages", {**message(), "stream": True}, b"message_stop"),
    ],
)
def test_early_end_ends_a_stream_cleanly_before_its_protocol_end(
    path: str, body: dict[str, Any], end: bytes, fake_provider: FakeProviderServer
) -> None:
    with httpx2.Client(base_url=fake_provider.url) as client:
        whole = client.post(path, json=body).content
        fake_provider.enqueue_fault("early_end", after=3)
        early = client.post(path, json=body)  # read to its end: no transport error
    assert end in whole
    events = early.content.split(b"\n\n")
    assert events[-1] == b"" and len(events) == 4  # three whole events, nothing after
    assert early.content == b"\n\n".join(whole.split(b"\n\n")[:3]) + b"\n\n"
    assert end not in early.content


def test_latin1_header_sends_a_header_value_that_is_not_ascii(
    fake_provider: FakeProviderServer,
) -> None:
    fake_provider.enqueue_fault("latin1_header")
    with httpx2.Client(base_url=fake_provider.url) as client:
        reply = client.post("/v1/chat/completions", json=chat())
    assert (b"x-region", b"Z\xfcrich") in reply.headers.raw
    assert reply.json()["choices"][0]["message"]["content"]


# -- Scripted tool calls: parallel, with text, malformed, on every API ----------------

PARALLEL = [
    ToolCall("get_weather", {"city": "Paris"}),
    ToolCall("get_time", {"zone": "Europe/Paris"}, id="call_fixed_time"),
]
FUNCTION_TOOL: Any = {"name": "get_weather", "parameters": {"type": "object"}}


def test_openai_chat_scripted_parallel_tool_calls_streamed_and_not(
    openai_client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.reply_with("Checking both.", tool_calls=PARALLEL)
    tools: Any = [{"type": "function", "function": FUNCTION_TOOL}]
    reply = openai_client.chat.completions.create(**chat("weather and time"), tools=tools)
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "tool_calls"
    assert message.content == "Checking both."
    calls = message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "Europe/Paris"}),
    ]
    assert calls[0].id.startswith("call_") and calls[1].id == "call_fixed_time"
    # the SDK's stream helper assembles the same calls from the deltas, by index
    with openai_client.chat.completions.stream(**chat("weather and time"), tools=tools) as stream:
        final = stream.get_final_completion()
    streamed = final.choices[0].message
    assert streamed.content == "Checking both."
    assert [(c.id, c.function.name, c.function.arguments) for c in streamed.tool_calls or []] == [
        (streamed.tool_calls[0].id, "get_weather", '{"city": "Paris"}'),  # type: ignore[index]
        ("call_fixed_time", "get_time", '{"zone": "Europe/Paris"}'),
    ]


def test_openai_responses_scripted_parallel_function_calls_streamed_and_not(
    openai_client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.reply_with(tool_calls=PARALLEL)
    tools: Any = [{"type": "function", **FUNCTION_TOOL, "strict": False}]
    response = openai_client.responses.create(model=GPT, input="weather and time", tools=tools)
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "Europe/Paris"}),
    ]
    assert calls[1].call_id == "call_fixed_time"
    with openai_client.responses.stream(model=GPT, input="weather and time", tools=tools) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [(i.type, i.name, i.arguments) for i in final.output] == [  # type: ignore[union-attr]
        (c.type, c.name, c.arguments) for c in calls
    ]
    assert final.output[1].call_id == "call_fixed_time"  # type: ignore[union-attr]
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert "".join(deltas) == "".join(c.arguments for c in calls)


def test_anthropic_scripted_parallel_tool_use_streamed_and_not(
    anthropic_client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.reply_with("Checking both.", tool_calls=PARALLEL)
    tools: Any = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    reply = anthropic_client.messages.create(**message("weather and time"), tools=tools)
    assert reply.stop_reason == "tool_use"
    assert [block.type for block in reply.content] == ["text", "tool_use", "tool_use"]
    uses = [block for block in reply.content if block.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "Europe/Paris"}),
    ]
    assert uses[0].id.startswith("toolu_") and uses[1].id == "call_fixed_time"
    with anthropic_client.messages.stream(**message("weather and time"), tools=tools) as stream:
        final = stream.get_final_message()
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [
        (b.type, getattr(b, "input", None)) for b in reply.content
    ]
    assert final.content[2].id == "call_fixed_time"  # type: ignore[union-attr]


def test_malformed_tool_arguments_are_sent_verbatim_on_every_api(
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
    fake_provider: FakeProviderServer,
) -> None:
    broken = '{"city": "Par'
    fake_provider.reply_with(tool_calls=[ToolCall("get_weather", broken)])
    chat_call = openai_client.chat.completions.create(**chat("weather")).choices[0].message
    assert chat_call.tool_calls[0].function.arguments == broken  # type: ignore[index,union-attr]
    pieces = [
        call.function.arguments or ""  # type: ignore[union-attr]
        for chunk in openai_client.chat.completions.create(**chat("weather"), stream=True)
        for call in (chunk.choices[0].delta.tool_calls or [] if chunk.choices else [])
    ]
    assert "".join(pieces) == broken
    item = openai_client.responses.create(model=GPT, input="weather").output[0]
    assert item.type == "function_call" and item.arguments == broken
    # Anthropic sends `input` as an object; unstreamed, the broken text stands in its place
    # (a faulty compatible server), streamed it is the input_json_delta text
    block = anthropic_client.messages.create(**message("weather")).content[0]
    assert block.type == "tool_use" and block.input == broken  # type: ignore[comparison-overlap]
    partial = [
        event.delta.partial_json
        for event in anthropic_client.messages.create(**message("weather"), stream=True)
        if event.type == "content_block_delta" and event.delta.type == "input_json_delta"
    ]
    assert "".join(partial) == broken


def test_tool_results_of_a_request_script_an_agent_loop(
    openai_client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.reply_with(tool_calls=PARALLEL, match=lambda r: not r.tool_results)
    fake_provider.reply_with("Sunny, 14:00.", match=lambda r: bool(r.tool_results))
    messages: list[Any] = [{"role": "user", "content": "weather and time"}]
    first = openai_client.chat.completions.create(model=GPT, messages=messages)
    calls = first.choices[0].message.tool_calls or []
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages += [
        {"role": "tool", "tool_call_id": call.id, "content": f"result {index}"}
        for index, call in enumerate(calls)
    ]
    second = openai_client.chat.completions.create(model=GPT, messages=messages)
    assert second.choices[0].message.content == "Sunny, 14:00."
    assert fake_provider.requests[0].tool_results == []
    assert fake_provider.requests[1].tool_results == [
        (calls[0].id, "result 0"),
        ("call_fixed_time", "result 1"),
    ]


def test_control_endpoint_scripts_tool_calls_with_ids_and_malformed_arguments(
    anthropic_client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    control = FakeProviderControl(fake_provider.url)
    control.reply_with(
        tool_calls=[
            {"name": "lookup", "arguments": {"q": "x"}, "id": "toolu_a"},
            {"name": "lookup", "arguments": "{not json", "id": "toolu_b"},
        ]
    )
    reply = anthropic_client.messages.create(**message("look it up"))
    assert [(b.id, b.input) for b in reply.content if b.type == "tool_use"] == [
        ("toolu_a", {"q": "x"}),
        ("toolu_b", "{not json"),
    ]
