"""The provider adapters over real recorded cassettes, hand-written edge cases, and fuzz.

The real cassettes (26 vcrpy YAML files from pydantic-ai, crewAI and langsmith-sdk, in
three on-disk formats) are committed under tests/data/realworld/, with SOURCES.md there
naming each origin and licence. Every expected value below was read from those files by
eye.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmeval.capture.providers import CallSummary, SSEEvent, describe_call, parse_sse

CASSETTES = Path(__file__).parent / "data" / "realworld"

# short name -> path under CASSETTES (the numbering of SOURCES.md)
FILES = {
    "openai_instructions": "pydantic-ai/tests/models/cassettes/test_openai/"
    "test_openai_instructions.yaml",
    "openai_tool_output": "pydantic-ai/tests/models/cassettes/test_openai/"
    "test_openai_tool_output.yaml",
    "openai_stream_tool": "pydantic-ai/tests/models/cassettes/test_openai/"
    "test_run_stream_sync_streams_real_model.yaml",
    "openai_o1_400": "pydantic-ai/tests/models/cassettes/test_openai/"
    "test_openai_o1_mini_system_role[system].yaml",
    "responses_simple": "pydantic-ai/tests/models/cassettes/test_openai_responses/"
    "test_openai_responses_model_simple_response.yaml",
    "responses_stream": "pydantic-ai/tests/models/cassettes/test_openai_responses/"
    "test_openai_responses_stream.yaml",
    "embeddings": "pydantic-ai/tests/cassettes/test_embeddings/TestOpenAI.test_query.yaml",
    "embeddings_404": "pydantic-ai/tests/cassettes/test_embeddings/TestOpenAI.test_embed_error.yaml",
    "anthropic_instructions": "pydantic-ai/tests/models/cassettes/test_anthropic/"
    "test_anthropic_model_instructions.yaml",
    "anthropic_parallel_tools": "pydantic-ai/tests/models/cassettes/test_anthropic/"
    "test_multiple_parallel_tool_calls.yaml",
    "anthropic_stream_minimal": "pydantic-ai/tests/models/cassettes/test_anthropic/"
    "test_request_stream_fallback_for_high_max_tokens.yaml",
    "anthropic_stream_thinking": "pydantic-ai/tests/models/cassettes/test_anthropic/"
    "test_anthropic_model_thinking_part_stream.yaml",
    "anthropic_stream_tool_search": "pydantic-ai/tests/cassettes/test_tool_search/"
    "test_anthropic_native_tool_search_streaming.yaml",
    "anthropic_400": "pydantic-ai/tests/models/cassettes/test_anthropic/"
    "test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml",
    "crewai_openai_async": "crewAI/lib/crewai/tests/cassettes/llms/openai/"
    "test_openai_async_basic_call.yaml",
    "crewai_openai_stream_tool": "crewAI/lib/crewai/tests/cassettes/llms/"
    "TestOpenAIToolCallStreaming.test_openai_streaming_emits_tool_call_events.yaml",
    "crewai_responses": "crewAI/lib/crewai/tests/cassettes/llms/openai/"
    "test_openai_responses_api_basic_call.yaml",
    "crewai_anthropic_async": "crewAI/lib/crewai/tests/cassettes/llms/anthropic/"
    "test_anthropic_async_basic_call.yaml",
    "crewai_anthropic_tools": "crewAI/lib/crewai/tests/cassettes/llms/anthropic/"
    "test_anthropic_function_calling.yaml",
    "crewai_anthropic_stream_tool": "crewAI/lib/crewai/tests/cassettes/llms/"
    "TestAnthropicToolCallStreaming.test_anthropic_streaming_emits_tool_call_events.yaml",
    "crewai_chat_404": "crewAI/lib/crewai/tests/cassettes/agents/test_llm_call_with_error.yaml",
    "crewai_gemini_429": "crewAI/lib/crewai/tests/cassettes/"
    "TestAgentMultimodalGemini.test_mixed_files[gemini-gemini-2.0-flash].yaml",
    "langsmith_gzip": "langsmith-sdk/python/tests/cassettes/58e9f031-846d-412e-82a3-7dcc7e6370d2.yaml",
    "langsmith_chat_stream_tool": "langsmith-sdk/python/tests/integration_tests/cassettes/"
    "test_openai_test_tool_call_chunking.yaml",
    "langsmith_responses_stream": "langsmith-sdk/python/tests/integration_tests/cassettes/"
    "test_openai_test_responses_stream_sync_api.yaml",
    "langsmith_anthropic_stream": "langsmith-sdk/python/tests/integration_tests/cassettes/"
    "test_anthropic_test_chat_sync_api_stream.yaml",
}


def _headers(part: dict[str, Any]) -> dict[str, str]:
    return {
        str(name).lower(): ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        for name, value in (part.get("headers") or {}).items()
    }


def _body_text(part: dict[str, Any]) -> str | None:
    """The body of a vcrpy request or response: a string, {string: ...}, or gzip !!binary."""
    body = part.get("body")
    if isinstance(body, dict):
        body = body.get("string")
    if isinstance(body, bytes):  # F3a: base64 of the gzip bytes, Content-Encoding kept
        if "gzip" in _headers(part).get("content-encoding", ""):
            body = gzip.decompress(body)
        body = body.decode("utf-8")
    return body or None


def _json_body(part: dict[str, Any]) -> Any:
    if "parsed_body" in part:  # F1: pydantic-ai stores JSON bodies parsed
        return part["parsed_body"]
    text = _body_text(part)
    return json.loads(text) if text is not None else None


def summarise(name: str) -> list[CallSummary]:
    """describe_call over every interaction of one real cassette, in recorded order."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load((CASSETTES / FILES[name]).read_text(encoding="utf-8"), Loader=loader)
    summaries = []
    for interaction in data["interactions"]:
        request, response = interaction["request"], interaction["response"]
        streamed = "text/event-stream" in _headers(response).get("content-type", "")
        summaries.append(
            describe_call(
                method=request["method"],
                url=request["uri"],
                request_body=_json_body(request),
                status=response["status"]["code"],
                response_body=None if streamed else _json_body(response),
                events=parse_sse(_body_text(response) or "") if streamed else None,
            )
        )
    return summaries


def test_every_recorded_file_is_covered() -> None:
    on_disk = {str(path.relative_to(CASSETTES)) for path in CASSETTES.rglob("*.yaml")}
    assert on_disk == set(FILES.values())
    assert len(on_disk) == 26


# --- OpenAI Chat Completions -----------------------------------------------------------


def test_chat_plain_answer_with_system_message() -> None:  # F1
    [call] = summarise("openai_instructions")
    assert (call.provider, call.api) == ("openai", "chat")
    assert call.api_url == "https://api.openai.com/v1/chat/completions"
    assert (call.model, call.requested_model) == ("gpt-4o-2024-08-06", "gpt-4o")
    assert (call.input_tokens, call.output_tokens) == (24, 8)
    assert (call.cache_read_tokens, call.cache_write_tokens, call.reasoning_tokens) == (0, None, 0)
    assert (
        call.input_text
        == "system: You are a helpful assistant.\nuser: What is the capital of France?"
    )
    assert call.output_text == "The capital of France is Paris."
    assert call.stop_reason == "stop"
    assert call.params == {"stream": False}
    assert call.response_id == "chatcmpl-BJjf61mLb9z5H45ClJzbx0UWKwjo1"
    assert call.error is None


def test_chat_tool_calls_and_tool_results() -> None:  # F1
    first, second = summarise("openai_tool_output")
    assert first.output_text == "get_user_country({})"
    assert first.stop_reason == "tool_calls"
    assert (first.input_tokens, first.output_tokens) == (68, 12)
    assert first.params == {"stream": False, "tools": ["get_user_country", "final_result"]}
    assert second.input_text == (
        "user: What is the largest city in the user country?\n"
        "assistant: get_user_country({})\n"
        "tool: Mexico"
    )
    assert second.output_text == 'final_result({"city": "Mexico City", "country": "Mexico"})'
    assert (second.input_tokens, second.output_tokens) == (89, 36)


def test_chat_stream_tool_call_then_answer() -> None:  # F1, SSE with include_usage
    first, second = summarise("openai_stream_tool")
    assert first.model == "gpt-4o-mini-2024-07-18"
    assert first.output_text == 'get_capital({"country":"UK"})'
    assert first.stop_reason == "tool_calls"
    assert (first.input_tokens, first.output_tokens) == (53, 15)
    assert first.params == {"stream": True, "tools": ["get_capital"]}
    assert second.input_text is not None and second.input_text.endswith("tool: London")
    assert second.output_text == "The capital of the UK is London."
    assert (second.input_tokens, second.output_tokens, second.stop_reason) == (78, 9, "stop")
    assert second.response_id == "chatcmpl-Dx0Xq5Xx9rHB2ehcHZCRDsnuymUXc"


def test_chat_400_error() -> None:  # F1
    [call] = summarise("openai_o1_400")
    assert call.error == (
        "Unsupported value: 'messages[0].role' does not support 'system' with this model."
    )
    assert call.model == "o1-mini"
    assert (call.input_tokens, call.output_tokens, call.output_text) == (None, None, None)


def test_chat_async_raw_vcrpy_body() -> None:  # F2: the request body is a raw JSON string
    [call] = summarise("crewai_openai_async")
    assert (call.model, call.requested_model) == ("gpt-4o-mini-2024-07-18", "gpt-4o-mini")
    assert (call.input_tokens, call.output_tokens) == (9, 9)
    assert call.input_text == "user: Say hello"
    assert call.output_text == "Hello! How can I assist you today?"
    assert call.params == {}


def test_chat_stream_tool_call_in_raw_vcrpy() -> None:  # F2, SSE
    [call] = summarise("crewai_openai_stream_tool")
    assert call.output_text == 'get_current_temperature({"city":"San Francisco"})'
    assert (call.input_tokens, call.output_tokens, call.stop_reason) == (66, 16, "tool_calls")
    assert call.input_text == "user: What is the temperature in San Francisco?"


def test_chat_404_model_not_found() -> None:  # F2
    [call] = summarise("crewai_chat_404")
    assert call.error == (
        "The model `non-existent-model` does not exist or you do not have access to it."
    )
    assert call.model == "non-existent-model"
    assert call.input_text == "user: This should fail"


def test_chat_stream_without_include_usage_reports_no_tokens() -> None:  # F3b, SSE
    [call] = summarise("langsmith_chat_stream_tool")
    assert call.model == "gpt-4o-2024-08-06"
    assert call.output_text == 'get_weather({"location":"Paris"})'
    assert call.stop_reason == "tool_calls"
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (None, None, None)


def test_gzip_binary_chat_and_embeddings() -> None:  # F3a: !!binary gzip bodies
    chat, embeddings = summarise("langsmith_gzip")
    assert (chat.model, chat.input_tokens, chat.output_tokens) == ("gpt-3.5-turbo-0125", 20, 9)
    assert chat.input_text == "system: You are a helpful assistant.\nuser: Say hello!"
    assert chat.output_text == "Hello! How can I assist you today?"
    assert (embeddings.api, embeddings.model) == ("embeddings", "text-embedding-3-small")
    assert embeddings.input_tokens == 11
    assert embeddings.input_text == "Hello! How can I assist you today?\nHello!"
    assert embeddings.output_text == "[2 embeddings, 1536 dimensions]"


# --- OpenAI Responses API ---------------------------------------------------------------


def test_responses_plain_answer() -> None:  # F1
    [call] = summarise("responses_simple")
    assert (call.api, call.model) == ("responses", "gpt-4o-2024-08-06")
    assert (call.input_tokens, call.output_tokens, call.reasoning_tokens) == (14, 8, 0)
    assert call.input_text == "user: What is the capital of France?"
    assert call.output_text == "The capital of France is Paris."
    assert call.stop_reason == "completed"
    assert call.response_id == "resp_68c2e8c147ac819491bcd667055eadbc02e845978fbbb592"


def test_responses_stream_function_call_then_text() -> None:  # F1, SSE with event: lines
    first, second = summarise("responses_stream")
    assert first.output_text == 'get_capital({"country":"France"})'
    assert (first.input_tokens, first.output_tokens) == (255, 16)
    assert first.params == {"stream": True, "tools": ["get_capital"]}
    assert second.input_text == (
        "user: What is the capital of France?\n"
        'assistant: get_capital({"country":"France"})\n'
        "tool: Paris"
    )
    assert second.output_text == "The capital of France is Paris."
    assert (second.input_tokens, second.output_tokens, second.stop_reason) == (278, 9, "completed")


def test_responses_with_instructions() -> None:  # F2
    [call] = summarise("crewai_responses")
    assert call.input_text == (
        "system: You are a helpful assistant. Be concise.\n"
        "user: What is 2 + 2? Answer with just the number."
    )
    assert (call.output_text, call.input_tokens, call.output_tokens) == ("4", 34, 2)
    assert call.model == "gpt-4o-mini-2024-07-18"


def test_responses_stream_with_reasoning_tokens() -> None:  # F3b: two identical requests
    first, second = summarise("langsmith_responses_stream")
    for call in (first, second):
        assert (call.model, call.requested_model) == ("gpt-5-nano-2025-08-07", "gpt-5-nano")
        assert call.input_text == "user: Say 'foo' then stop."
        assert call.output_text == "foo"
        assert call.params == {"max_output_tokens": 1024, "stream": True}
    assert (first.input_tokens, first.output_tokens, first.reasoning_tokens) == (13, 162, 128)
    assert (second.input_tokens, second.output_tokens, second.reasoning_tokens) == (13, 209, 192)


# --- OpenAI embeddings ------------------------------------------------------------------


def test_embeddings_base64() -> None:  # F1
    [call] = summarise("embeddings")
    assert (call.api, call.model, call.input_tokens) == ("embeddings", "text-embedding-3-small", 4)
    assert call.input_text == "Hello, world!"
    assert call.output_text == "[1 embedding, 1536 dimensions]"
    assert call.output_tokens is None


def test_embeddings_404() -> None:  # F1
    [call] = summarise("embeddings_404")
    assert call.error == "The model `nonexistent` does not exist or you do not have access to it."
    assert call.model == "nonexistent"


# --- Anthropic Messages -----------------------------------------------------------------


def test_messages_beta_query_string_and_system() -> None:  # F1
    [call] = summarise("anthropic_instructions")
    assert (call.provider, call.api) == ("anthropic", "messages")
    assert call.api_url == "https://api.anthropic.com/v1/messages"  # ?beta=true dropped
    assert (call.model, call.requested_model) == ("claude-3-opus-20240229", "claude-3-opus-latest")
    assert (call.input_tokens, call.output_tokens) == (20, 10)
    assert (call.cache_read_tokens, call.cache_write_tokens) == (0, 0)
    assert (
        call.input_text
        == "system: You are a helpful assistant.\nuser: What is the capital of France?"
    )
    assert call.output_text == "The capital of France is Paris."
    assert call.stop_reason == "end_turn"
    assert call.params == {"max_tokens": 4096, "stream": False}


def test_messages_parallel_tool_use_and_results() -> None:  # F1
    first, second = summarise("anthropic_parallel_tools")
    assert first.stop_reason == "tool_use"
    assert first.output_text is not None
    assert first.output_text.splitlines()[1:] == [
        'retrieve_entity_info({"name": "Alice"})',
        'retrieve_entity_info({"name": "Bob"})',
        'retrieve_entity_info({"name": "Charlie"})',
        'retrieve_entity_info({"name": "Daisy"})',
    ]
    assert (first.input_tokens, first.output_tokens) == (423, 202)
    assert second.input_text is not None
    assert second.input_text.splitlines()[-4:] == [
        "tool: alice is bob's wife",
        "tool: bob is alice's husband",
        "tool: charlie is alice's son",
        "tool: daisy is bob's daughter and charlie's younger sister",
    ]
    assert second.output_text is not None and "Daisy is the youngest" in second.output_text
    assert (second.input_tokens, second.output_tokens, second.stop_reason) == (771, 77, "end_turn")


def test_messages_minimal_stream() -> None:  # F1, SSE
    [call] = summarise("anthropic_stream_minimal")
    assert call.model == "claude-sonnet-4-5-20250929"
    assert (call.input_tokens, call.output_tokens) == (20, 5)  # 5 from message_delta, not 1
    assert (call.output_text, call.stop_reason) == ("2", "end_turn")
    assert call.params == {"max_tokens": 32000, "stream": True}


def test_messages_stream_leaves_thinking_out_of_the_answer() -> None:  # F1, SSE
    [call] = summarise("anthropic_stream_thinking")
    assert (call.model, call.input_tokens, call.output_tokens) == (
        "claude-sonnet-4-20250514",
        43,
        282,
    )
    assert call.output_text is not None
    assert call.output_text.startswith("Here are the basic steps for safely crossing the street:")
    assert "straightforward question about" not in call.output_text  # a thinking_delta


def test_messages_stream_server_tool_then_tool_use() -> None:  # F1, SSE
    first, second = summarise("anthropic_stream_tool_search")
    # message_start says 702 input tokens; the final message_delta's 1591 wins
    assert (first.input_tokens, first.output_tokens) == (1591, 175)
    assert first.output_text is not None
    assert 'tool_search_tool_bm25({"query": "USD EUR exchange rate currency conversion"})' in (
        first.output_text
    )
    assert first.output_text.endswith(
        'get_exchange_rate({"from_currency": "USD", "to_currency": "EUR"})'
    )
    assert first.params["tools"] == ["get_exchange_rate", "stock_lookup", "tool_search_tool_bm25"]
    assert second.input_text is not None and second.input_text.endswith("tool: 1 USD = 0.92 EUR")
    assert second.output_text is not None
    assert second.output_text.startswith("The current exchange rate is **1 USD = 0.92 EUR**.")
    assert (second.input_tokens, second.output_tokens) == (1007, 59)


def test_messages_400_with_request_id() -> None:  # F1
    [call] = summarise("anthropic_400")
    assert call.error == (
        "This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium."
    )
    assert call.request_id == "req_011Ca7jT9AHpgXgdv8igm4z9"
    assert call.model == "claude-opus-4-6"


def test_messages_identical_requests_different_answers() -> None:  # F2
    first, second = summarise("crewai_anthropic_async")
    assert first.input_text == second.input_text == "user: Say hello"
    assert first.response_id == "msg_013PpkaYgnUGGRvrYJ9XExPo"
    assert first.output_text == "Hello! It's nice to meet you. How are you doing today?"
    assert (first.input_tokens, first.output_tokens) == (9, 18)
    assert second.response_id == "msg_018utWLVmfYu7Tmix2AfB1RW"
    assert (
        second.output_text
        == "Hello! How are you doing today? Is there anything I can help you with?"
    )
    assert (second.input_tokens, second.output_tokens) == (9, 20)


def test_messages_tool_use_round_trip() -> None:  # F2
    first, second = summarise("crewai_anthropic_tools")
    assert (first.model, first.requested_model) == (
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5",
    )
    assert first.output_text == 'get_weather({"location": "Tokyo, Japan"})'
    assert (first.input_tokens, first.output_tokens, first.stop_reason) == (620, 55, "tool_use")
    assert second.input_text is not None
    assert second.input_text.endswith("tool: The weather in Tokyo, Japan is sunny and 72°F")
    assert second.output_text == (
        "The weather in Tokyo is currently sunny and 72°F (approximately 22°C)."
    )
    assert (second.input_tokens, second.output_tokens) == (701, 22)


def test_messages_stream_padded_data_lines() -> None:  # F2, SSE with padded `data:` lines
    first, second = summarise("crewai_anthropic_stream_tool")
    assert first.output_text is not None
    assert first.output_text.startswith("I'll help you find out the current temperature")
    assert first.output_text.endswith('\nget_current_temperature({"city": "San Francisco"})')
    assert (first.input_tokens, first.output_tokens, first.stop_reason) == (351, 85, "tool_use")
    assert second.output_text is not None
    assert second.output_text.startswith("The current temperature in San Francisco is 72°F.")
    assert (second.input_tokens, second.output_tokens) == (457, 33)


def test_messages_many_streams_and_a_404() -> None:  # F3b: 33 interactions
    calls = summarise("langsmith_anthropic_stream")
    assert len(calls) == 33
    for call in calls[:24]:
        assert call.model == "claude-3-5-haiku-20241022"
    for call in calls[25:]:
        assert call.model == "claude-haiku-4-5-20251001"
    for call in calls[:24] + calls[25:]:
        assert (call.output_text, call.stop_reason) == ("foo", "max_tokens")
        assert (call.input_tokens, call.output_tokens) == (12, 3)
        assert call.params == {"temperature": 0, "max_tokens": 3, "stream": True}
    assert calls[0].response_id == "msg_01Hwzd4txAVmazVvLdovsvkS"
    missing = calls[24]
    assert missing.error == "model: claude-4-5-haiku"
    assert missing.request_id == "req_011CYYx4DTnHwABihfifAXRd"
    assert missing.output_tokens is None


# --- other APIs ---------------------------------------------------------------------------


def test_gemini_has_its_adapter() -> None:  # F2: not OpenAI or Anthropic
    ok, throttled = summarise("crewai_gemini_429")
    assert (ok.provider, ok.api, ok.model) == ("google", "generate_content", "gemini-2.0-flash")
    assert (ok.input_tokens, ok.output_tokens) == (1454, 100)
    assert ok.input_text is not None and ok.input_text.startswith("system: ")
    assert ok.output_text is not None
    assert ok.output_text.startswith("I see a line graph") and ok.stop_reason == "STOP"
    assert throttled.api == "generate_content"
    assert ok.response_id == "lyqOabaLKfLkjMcPs-amqA8"
    assert throttled.error is not None
    assert throttled.error.startswith("Resource exhausted. Please try again later.")
    assert throttled.model == "gemini-2.0-flash"  # from the URL path


# --- SSE parsing ----------------------------------------------------------------------------


def test_parse_sse_follows_the_line_rules() -> None:
    text = (
        ": a comment\r\n"
        "event: message_start\r\n"
        'data: {"a":\r\n'
        "data:1}\r\n"
        "id: 7\r\n"
        "\r\n"
        "data: [DONE]\n"
        "\n"
        "event: lonely\n"
        "\n"
        "data: no blank line at the end"
    )
    assert parse_sse(text) == [
        SSEEvent(event="message_start", data='{"a":\n1}'),
        SSEEvent(event=None, data="[DONE]"),
        SSEEvent(event=None, data="no blank line at the end"),
    ]


def test_parse_sse_keeps_unicode_line_separators_inside_data() -> None:
    data = json.dumps({"text": "a\u2028b\x85c"}, ensure_ascii=False)
    assert parse_sse(f"data: {data}\n\n") == [SSEEvent(event=None, data=data)]


# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "provider", "api"),
    [
        ("POST", "https://api.openai.com/v1/chat/completions", "openai", "chat"),
        ("post", "https://eu.api.openai.com/v1/responses", "openai", "responses"),
        ("POST", "https://api.openai.com/v1/embeddings", "openai", "embeddings"),
        ("POST", "https://api.anthropic.com/v1/messages?beta=true", "anthropic", "messages"),
        ("POST", "https://api.anthropic.com/v1/chat/completions", "anthropic", "chat"),
        ("POST", "http://localhost:11434/v1/chat/completions", "openai-compatible", "chat"),
        (
            "POST",
            "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=1",
            "openai-compatible",
            "chat",
        ),
        ("POST", "https://api.groq.com/openai/v1/responses/", "openai-compatible", "responses"),
        ("POST", "http://127.0.0.1:4000/anthropic/v1/messages", "anthropic-compatible", "messages"),
        ("GET", "https://api.openai.com/v1/chat/completions", "openai", "unknown"),
        ("POST", "https://api.openai.com/v1/responses/resp_1/cancel", "openai", "unknown"),
        ("POST", "https://api.anthropic.com/v1/messages/count_tokens", "anthropic", "unknown"),
        ("POST", "https://example.com/v1/threads/t/messages", "unknown", "unknown"),
        ("POST", "http://[::1/v1/chat/completions", "unknown", "unknown"),
        ("POST", "", "unknown", "unknown"),
    ],
)
def test_route(method: str, url: str, provider: str, api: str) -> None:
    call = describe_call(
        method=method, url=url, request_body=None, status=200, response_body=None, events=None
    )
    assert (call.provider, call.api) == (provider, api)


def test_api_url_drops_query_and_credentials() -> None:
    call = describe_call(
        method="POST",
        url="https://user:secret@Proxy.example.com:8443/v1/chat/completions?key=abc",
        request_body=None,
        status=200,
        response_body=None,
        events=None,
    )
    assert call.api_url == "https://proxy.example.com:8443/v1/chat/completions"


# --- hand-written edge cases -------------------------------------------------------------------

CHAT = "https://api.openai.com/v1/chat/completions"
RESPONSES = "https://api.openai.com/v1/responses"
MESSAGES = "https://api.anthropic.com/v1/messages"


def describe(url: str, request: Any = None, response: Any = None, **kwargs: Any) -> CallSummary:
    arguments: dict[str, Any] = {"status": 200, "events": None, **kwargs}
    return describe_call(
        method="POST", url=url, request_body=request, response_body=response, **arguments
    )


def sse(*payloads: Any) -> list[SSEEvent]:
    return [SSEEvent(event=None, data=p if isinstance(p, str) else json.dumps(p)) for p in payloads]


def test_chat_cached_tokens_are_split_from_the_prompt() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 300,
        "prompt_tokens_details": {"cached_tokens": 800},
        "completion_tokens_details": {"reasoning_tokens": 256},
    }
    call = describe(CHAT, {"model": "o3"}, {"model": "o3-2025", "usage": usage, "choices": []})
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (200, 800, None)
    assert (call.output_tokens, call.reasoning_tokens) == (300, 256)


def test_chat_deepseek_cache_hit_tokens() -> None:
    usage = {"prompt_tokens": 50, "completion_tokens": 5, "prompt_cache_hit_tokens": 30}
    call = describe("https://api.deepseek.com/chat/completions", {}, {"usage": usage})
    assert (call.provider, call.input_tokens, call.cache_read_tokens) == (
        "openai-compatible",
        20,
        30,
    )


def test_chat_params_only_those_present_and_well_typed() -> None:
    request = {
        "model": "gpt-4.1",
        "temperature": 0.2,
        "top_p": 1,
        "max_completion_tokens": 500,
        "seed": 7,
        "stream": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x"}},
        "tools": [{"type": "function", "function": {"name": "lookup"}}, {"type": "web_search"}],
        "max_tokens": "many",  # wrong type: left out
        "presence_penalty": 0.5,  # not a tracked parameter
    }
    assert describe(CHAT, request).params == {
        "temperature": 0.2,
        "top_p": 1,
        "max_completion_tokens": 500,
        "seed": 7,
        "stream": False,
        "tools": ["lookup", "web_search"],
        "response_format": "json_schema",
    }


def test_chat_multimodal_refusal_and_legacy_function_call() -> None:
    request = {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:..."}},
                ],
            },
        ]
    }
    response = {
        "choices": [
            {
                "message": {
                    "content": None,
                    "refusal": "I can't help with that.",
                    "function_call": {"name": "old", "arguments": "{}"},
                },
                "finish_reason": "stop",
            }
        ]
    }
    call = describe(CHAT, request, response)
    assert call.input_text == "developer: Be brief.\nuser: What is this?\n[image]"
    assert call.output_text == "I can't help with that.\nold({})"


def test_chat_strings_where_numbers_should_be() -> None:
    usage = {"prompt_tokens": "12", "completion_tokens": True, "prompt_tokens_details": []}
    call = describe(CHAT, {"model": 5}, {"model": None, "usage": usage, "choices": "none"})
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (None, None, None)
    assert (call.model, call.output_text) == (None, None)


def test_chat_stream_reassembles_parallel_tool_calls_and_error_chunk() -> None:
    events = sse(
        {
            "id": "c1",
            "model": "m",
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x"'}},
                            {"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}},
                        ]
                    }
                }
            ],
        },
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}}]},
        {"error": {"message": "stream broke"}},
        "[DONE]",
        "not json",
    )
    call = describe(CHAT, {"stream": True}, events=events)
    assert call.output_text == 'f({"x":1})\ng({})'
    assert call.error == "stream broke"
    assert (call.model, call.response_id, call.input_tokens) == ("m", "c1", None)


def test_http_error_without_a_json_body() -> None:
    call = describe(CHAT, {"model": "gpt-4o"}, None, status=502)
    assert call.error == "HTTP 502"
    assert describe(CHAT, {}, None, status=200).error is None


def test_responses_incomplete_reason_and_cached_tokens() -> None:
    response = {
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [
            {"type": "reasoning", "summary": []},
            {"type": "message", "content": [{"type": "output_text", "text": "Partial"}]},
        ],
        "usage": {
            "input_tokens": 2000,
            "output_tokens": 64,
            "input_tokens_details": {"cached_tokens": 1536},
            "output_tokens_details": {"reasoning_tokens": 60},
        },
    }
    call = describe(RESPONSES, {"input": "hi", "max_output_tokens": 64}, response)
    assert call.stop_reason == "max_output_tokens"
    assert (call.input_tokens, call.cache_read_tokens, call.reasoning_tokens) == (464, 1536, 60)
    assert call.output_text == "Partial"


def test_responses_stream_cut_short_is_rebuilt_from_deltas() -> None:
    events = sse(
        {"type": "response.created", "response": {"id": "r1", "model": "gpt-4.1", "output": []}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "function_call", "name": "lookup", "arguments": ""},
        },
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"q":'},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '"a"}'},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"type": "message", "content": []},
        },
        {"type": "response.output_text.delta", "output_index": 1, "delta": "Hel"},
        {"type": "response.output_text.delta", "output_index": 1, "delta": "lo"},
        {"type": "error", "code": "server_error", "message": "The server had an error"},
    )
    call = describe(RESPONSES, {"model": "gpt-4.1", "stream": True}, events=events)
    assert call.output_text == 'lookup({"q":"a"})\nHello'
    assert call.error == "The server had an error"
    assert (call.model, call.response_id, call.input_tokens) == ("gpt-4.1", "r1", None)


def test_responses_failed_event_carries_the_error() -> None:
    failed = {"id": "r2", "status": "failed", "error": {"code": "x", "message": "Model crashed"}}
    events = sse({"type": "response.failed", "response": failed})
    call = describe(RESPONSES, {}, events=events)
    assert (call.error, call.stop_reason) == ("Model crashed", "failed")


def test_responses_input_items_and_text_format() -> None:
    request = {
        "instructions": "Answer in JSON.",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Hi"},
                    {"type": "input_file", "file_id": "f"},
                ],
            },
            {"type": "reasoning", "summary": []},
            {"type": "custom_tool_call", "name": "sql", "input": "select 1"},
            {"type": "custom_tool_call_output", "output": "1"},
        ],
        "text": {"format": {"type": "json_schema"}},
        "tools": [{"type": "function", "name": "f"}],
    }
    call = describe(RESPONSES, request)
    assert call.input_text == (
        "system: Answer in JSON.\nuser: Hi\n[file]\nassistant: sql(select 1)\ntool: 1"
    )
    assert call.params == {"tools": ["f"], "response_format": "json_schema"}


def test_embeddings_token_input() -> None:
    url = "https://api.openai.com/v1/embeddings"
    assert describe(url, {"input": [1, 2, 3]}).input_text == "[3 tokens]"
    assert describe(url, {"input": [[1, 2], "text"]}).input_text == "[2 tokens]\ntext"
    response = {"data": [{"embedding": [0.1, 0.2]}], "usage": {"prompt_tokens": 3}}
    call = describe(url, {"input": "x"}, response)
    assert (call.output_text, call.input_tokens) == ("[1 embedding, 2 dimensions]", 3)
    assert describe(url, {}, {"data": [{"embedding": "%%%"}]}).output_text == "[1 embedding]"


def test_messages_cache_tokens_are_reported_apart() -> None:
    usage = {
        "input_tokens": 50,
        "output_tokens": 20,
        "cache_read_input_tokens": 4000,
        "cache_creation_input_tokens": 1200,
    }
    call = describe(MESSAGES, {"model": "claude-sonnet-4-5"}, {"usage": usage, "content": []})
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (50, 4000, 1200)
    assert call.output_tokens == 20


def test_messages_stream_usage_is_cumulative_and_error_event_is_read() -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "model": "claude-haiku-4-5",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 900, "output_tokens": 1},
        },
    }
    events = [
        *sse(start),
        *sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        ),
        SSEEvent(
            event="content_block_delta",
            data=json.dumps(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "Hi"},
                }
            ),
        ),
        *sse(
            {"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"output_tokens": 7}}
        ),
        *sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 12, "input_tokens": None},
            }
        ),
        SSEEvent(
            event="error",
            data=json.dumps(
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            ),
        ),
    ]
    call = describe(MESSAGES, {"stream": True}, events=events)
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (10, 900, 12)
    assert (call.output_text, call.stop_reason, call.error) == ("Hi", "end_turn", "Overloaded")
    assert (call.model, call.response_id) == ("claude-haiku-4-5", "msg_1")


def test_messages_system_blocks_images_and_tool_result_order() -> None:
    request = {
        "system": [{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "source": {}}, {"type": "text", "text": "Look"}],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "secret"},
                    {"type": "tool_use", "name": "zoom", "input": {"x": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "content": [{"type": "text", "text": "zoomed"}]},
                    {"type": "text", "text": "And now?"},
                ],
            },
        ],
        "output_config": {"format": {"type": "json_schema"}},
    }
    call = describe(MESSAGES, request)
    assert call.input_text == (
        "system: Rule one.\nRule two.\n"
        "user: [image]\nLook\n"
        'assistant: zoom({"x": 1})\n'
        "tool: zoomed\n"
        "user: And now?"
    )
    assert call.params == {"response_format": "json_schema"}


def test_anthropic_compatible_host() -> None:
    call = describe("https://api.deepseek.com/anthropic/v1/messages", {"model": "deepseek-chat"})
    assert (call.provider, call.api, call.model) == (
        "anthropic-compatible",
        "messages",
        "deepseek-chat",
    )


# --- fuzz: no input makes describe_call raise ----------------------------------------------------

# Key and string vocabularies of the real APIs, so that generated documents reach deep paths.
KEYS = [
    "model",
    "usage",
    "choices",
    "message",
    "delta",
    "content",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "cached_tokens",
    "completion_tokens_details",
    "reasoning_tokens",
    "input_tokens",
    "output_tokens",
    "input_tokens_details",
    "output_tokens_details",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "type",
    "text",
    "index",
    "id",
    "role",
    "messages",
    "system",
    "input",
    "instructions",
    "output",
    "item",
    "output_index",
    "response",
    "status",
    "incomplete_details",
    "reason",
    "error",
    "request_id",
    "stop_reason",
    "content_block",
    "partial_json",
    "tools",
    "response_format",
    "stream",
    "temperature",
    "max_tokens",
    "data",
    "embedding",
    "refusal",
    "tool_result",
    "usageMetadata",
    "modelVersion",
    "tool_call_id",
    "tool_use_id",
    "call_id",
    "is_error",
    "parameters",
    "input_schema",
    "functions",
    "function_call",
    "custom",
]
WORDS = [
    "user",
    "assistant",
    "tool",
    "system",
    "text",
    "tool_use",
    "tool_result",
    "server_tool_use",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "message",
    "output_text",
    "input_text",
    "image_url",
    "thinking",
    "message_start",
    "message_delta",
    "content_block_start",
    "content_block_delta",
    "text_delta",
    "input_json_delta",
    "error",
    "response.created",
    "response.completed",
    "response.failed",
    "response.output_item.added",
    "response.output_item.done",
    "response.output_text.delta",
    "response.function_call_arguments.delta",
    "[DONE]",
    "{",
    "",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=30,
)
event_data = json_values.map(json.dumps) | st.text(max_size=20) | st.sampled_from(WORDS)
events = st.none() | st.lists(
    st.builds(SSEEvent, event=st.none() | st.sampled_from(WORDS), data=event_data), max_size=8
)
URLS = [
    CHAT,
    RESPONSES,
    "https://api.openai.com/v1/embeddings",
    MESSAGES + "?beta=true",
    "http://localhost:8000/v1/chat/completions",
    "http://localhost:8000/v1/responses",
    "http://localhost:8000/v1/embeddings",
    "http://localhost:8000/v1/messages",
    "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent",
    "https://api.openai.com/v1/images/generations",
    "http://[::1/v1/chat/completions",
    "not a url",
]


def check_summary(call: CallSummary) -> None:
    assert isinstance(call, CallSummary)
    for count in (
        call.input_tokens,
        call.output_tokens,
        call.cache_read_tokens,
        call.cache_write_tokens,
        call.reasoning_tokens,
    ):
        assert count is None or (type(count) is int and count >= 0)
    for text in (
        call.model,
        call.requested_model,
        call.input_text,
        call.output_text,
        call.stop_reason,
        call.error,
        call.request_id,
        call.response_id,
    ):
        assert text is None or isinstance(text, str)
    assert isinstance(call.params, dict)
    json.dumps(call.params)  # params stay JSON data
    for tool in call.tool_calls:
        assert isinstance(tool.name, str) and isinstance(tool.arguments_raw, str)
        assert tool.id is None or isinstance(tool.id, str)
        if tool.arguments_valid:  # valid arguments are strict JSON, the raw text included
            json.dumps(tool.arguments, allow_nan=False)
            assert (
                isinstance(tool.arguments, str) or json.loads(tool.arguments_raw) == tool.arguments
            )
        else:
            assert tool.arguments is None
    for result in call.tool_results:
        assert isinstance(result.content, str) and isinstance(result.is_error, bool)
        assert result.name is None or isinstance(result.name, str)
    assert all(isinstance(name, str) for name in call.tool_schemas)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    url=st.sampled_from(URLS),
    method=st.sampled_from(["POST", "post", "GET"]),
    request_body=json_values,
    status=st.integers(min_value=0, max_value=600),
    response_body=json_values,
    stream=events,
)
def test_describe_call_never_raises(
    url: str,
    method: str,
    request_body: Any,
    status: int,
    response_body: Any,
    stream: list[SSEEvent] | None,
) -> None:
    call = describe_call(
        method=method,
        url=url,
        request_body=request_body,
        status=status,
        response_body=response_body,
        events=stream,
    )
    check_summary(call)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("data:event :{}\r\n\u2028x")), max_size=80))
def test_parse_sse_never_raises(text: str) -> None:
    for event in parse_sse(text):
        assert isinstance(event.data, str)
        assert event.event is None or isinstance(event.event, str)


# -- protocol-level truncation: a stream that ends before its last event ---------------------

CHAT_URL = "https://api.openai.com/v1/chat/completions"
RESPONSES_URL = "https://api.openai.com/v1/responses"
MESSAGES_URL = "https://api.anthropic.com/v1/messages"
CHAT_STREAM = [
    'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
    'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    "data: [DONE]\n\n",
]
RESPONSES_STREAM = [
    'event: response.created\ndata: {"type":"response.created","response":{}}\n\n',
    'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n',
    'event: response.completed\ndata: {"type":"response.completed","response":{}}\n\n',
]
MESSAGES_STREAM = [
    'event: message_start\ndata: {"type":"message_start","message":{}}\n\n',
    'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"Hi"}}\n\n',
    'event: message_stop\ndata: {"type":"message_stop"}\n\n',
]


@pytest.mark.parametrize(
    ("url", "events", "missing"),
    [
        (CHAT_URL, CHAT_STREAM, "data: [DONE]"),
        (RESPONSES_URL, RESPONSES_STREAM, "response.completed"),
        (MESSAGES_URL, MESSAGES_STREAM, "message_stop"),
        ("http://localhost:8000/v1/chat/completions", CHAT_STREAM, "data: [DONE]"),  # vLLM
    ],
)
def test_a_stream_is_complete_only_with_its_last_event(
    url: str, events: list[str], missing: str
) -> None:
    from pytest_llmeval.capture.providers import missing_stream_end

    assert missing_stream_end("POST", url, events) is None
    assert missing_stream_end("POST", url, [*events, ": keep-alive\n\n"]) is None
    for cut in range(len(events)):
        reason = missing_stream_end("POST", url, events[:cut])
        assert reason is not None and missing in reason, (cut, reason)


@pytest.mark.parametrize(
    ("url", "error_event"),
    [
        (CHAT_URL, 'data: {"error":{"message":"overloaded"}}\n\n'),
        (RESPONSES_URL, 'event: error\ndata: {"type":"error","message":"overloaded"}\n\n'),
        (MESSAGES_URL, 'event: error\ndata: {"type":"error","error":{"type":"overloaded"}}\n\n'),
    ],
)
def test_a_stream_ended_by_an_error_event_is_not_cut_short(url: str, error_event: str) -> None:
    from pytest_llmeval.capture.providers import missing_stream_end

    # the error is the stream's end (the SDKs raise it), not a truncation
    assert missing_stream_end("POST", url, ['data: {"x":1}\n\n', error_event]) is None


def test_streams_of_unknown_apis_have_no_end_to_miss() -> None:
    from pytest_llmeval.capture.providers import missing_stream_end

    assert missing_stream_end("POST", "https://example.com/v1/generate", ["data: {}\n\n"]) is None
    assert missing_stream_end("GET", CHAT_URL, ["data: {}\n\n"]) is None


@pytest.mark.parametrize(
    "name",
    [
        "openai_stream_tool",
        "responses_stream",
        "anthropic_stream_minimal",
        "anthropic_stream_thinking",
        "anthropic_stream_tool_search",
        "crewai_openai_stream_tool",
        "crewai_anthropic_stream_tool",
        "langsmith_chat_stream_tool",
        "langsmith_responses_stream",
        "langsmith_anthropic_stream",
    ],
)
def test_real_recorded_streams_are_complete(name: str) -> None:
    """No false alarm on what the real APIs sent; each one cut anywhere is caught."""
    from pytest_llmeval.capture.providers import missing_stream_end
    from pytest_llmeval.core.wire import split_sse

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load((CASSETTES / FILES[name]).read_text(encoding="utf-8"), Loader=loader)
    streams = 0
    for interaction in data["interactions"]:
        request, response = interaction["request"], interaction["response"]
        if "text/event-stream" not in _headers(response).get("content-type", ""):
            continue
        text = _body_text(response) or ""
        complete, rest = split_sse(text.encode("utf-8"), final=True)
        events = [raw.decode("utf-8") for raw in complete] + ([rest.decode()] if rest else [])
        assert missing_stream_end(request["method"], request["uri"], events) is None
        for cut in range(len(events) - 1, 0, -1):
            if parse_sse(events[cut - 1]):  # the stream as it stood after an event with data
                assert missing_stream_end(request["method"], request["uri"], events[:cut])
                break
        streams += 1
    assert streams > 0


# --- Structured tool calls, results and declared schemas -------------------------------


def calls_of(call: CallSummary) -> list[tuple[str | None, str, Any, bool]]:
    return [(c.id, c.name, c.arguments, c.arguments_valid) for c in call.tool_calls]


def results_of(call: CallSummary) -> list[tuple[str | None, str | None, str, bool]]:
    return [(r.call_id, r.name, r.content, r.is_error) for r in call.tool_results]


def test_realworld_chat_tool_calls_and_results_by_id() -> None:  # F1
    first, second = summarise("openai_tool_output")
    assert calls_of(first) == [("call_iXFttys57ap0o16JSlC8yhYo", "get_user_country", {}, True)]
    assert first.tool_calls[0].arguments_raw == "{}"
    assert first.tool_results == ()
    assert set(first.tool_schemas) == {"get_user_country", "final_result"}
    assert calls_of(second) == [
        (
            "call_gmD2oUZUzSoCkmNmp3JPUF7R",
            "final_result",
            {"city": "Mexico City", "country": "Mexico"},
            True,
        )
    ]
    assert results_of(second) == [
        ("call_iXFttys57ap0o16JSlC8yhYo", "get_user_country", "Mexico", False)
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "openai_stream_tool",  # F1, SSE with include_usage
            ("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", {"country": "UK"}, True),
        ),
        (
            "crewai_openai_stream_tool",  # F2
            (
                "call_QXZLQbxriC1eBnOMXLPMopfe",
                "get_current_temperature",
                {"city": "San Francisco"},
                True,
            ),
        ),
        (
            "langsmith_chat_stream_tool",  # F3
            ("call_WV6bvIiiSk0mp1W544x914V5", "get_weather", {"location": "Paris"}, True),
        ),
    ],
)
def test_realworld_chat_streamed_tool_call_deltas_are_assembled(
    name: str, expected: tuple[Any, ...]
) -> None:
    first = summarise(name)[0]
    assert calls_of(first) == [expected]
    assert json.loads(first.tool_calls[0].arguments_raw) == expected[2]


def test_realworld_chat_stream_result_named_from_the_request() -> None:  # F1
    _, second = summarise("openai_stream_tool")
    assert results_of(second) == [("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", "London", False)]


def test_realworld_responses_stream_function_call_and_output() -> None:  # F1
    first, second = summarise("responses_stream")
    assert calls_of(first) == [
        ("call_kL0PCQV7M2WMoVX8V8OtYSAL", "get_capital", {"country": "France"}, True)
    ]
    assert first.tool_calls[0].arguments_raw == '{"country":"France"}'
    # pydantic-ai sent the item id as the call id, on the call and on its output alike
    item = "fc_67e554a1de488191af0831d35cbe082e0794405d35281ae2"
    assert results_of(second) == [(item, "get_capital", "Paris", False)]
    assert second.tool_schemas["get_capital"]["required"] == ["country"]


def test_realworld_messages_parallel_tool_use_and_results() -> None:  # F1
    first, second = summarise("anthropic_parallel_tools")
    ids = [
        "toolu_0167cfEnoQaPviGdVXA95zcu",
        "toolu_01EEe2V5HD1Ac4rKiUR4HD2T",
        "toolu_01XFyAjstT3966qvRynZyVPo",
        "toolu_013mnQZbgtK2oe3Mo3XKJsx3",
    ]
    names = ["Alice", "Bob", "Charlie", "Daisy"]
    assert calls_of(first) == [
        (ident, "retrieve_entity_info", {"name": name}, True)
        for ident, name in zip(ids, names, strict=True)
    ]
    assert [r.call_id for r in second.tool_results] == ids
    assert {r.name for r in second.tool_results} == {"retrieve_entity_info"}
    assert second.tool_results[0].content == "alice is bob's wife"


def test_realworld_messages_tool_use_round_trip_with_schema() -> None:  # F2
    first, second = summarise("crewai_anthropic_tools")
    assert calls_of(first) == [
        ("toolu_01AoUFM2koNLsFscK6xjnLPo", "get_weather", {"location": "Tokyo, Japan"}, True)
    ]
    assert first.tool_schemas["get_weather"]["required"] == ["location"]
    assert results_of(second) == [
        (
            "toolu_01AoUFM2koNLsFscK6xjnLPo",
            "get_weather",
            "The weather in Tokyo, Japan is sunny and 72°F",
            False,
        )
    ]


def test_realworld_messages_stream_input_json_delta_assembled() -> None:  # F2, SSE
    first, second = summarise("crewai_anthropic_stream_tool")
    assert calls_of(first) == [
        (
            "toolu_01Lfr3kUnHMZApePPRWMv1uS",
            "get_current_temperature",
            {"city": "San Francisco"},
            True,
        )
    ]
    assert first.tool_calls[0].arguments_raw == '{"city": "San Francisco"}'  # as streamed
    assert [r.call_id for r in second.tool_results] == ["toolu_01Lfr3kUnHMZApePPRWMv1uS"]


def test_realworld_messages_server_tool_is_not_a_client_tool_call() -> None:  # F1, SSE
    first, _ = summarise("anthropic_stream_tool_search")
    # the server-side tool_search call is in the text, not among the client's calls
    assert "tool_search_tool_bm25(" in (first.output_text or "")
    assert calls_of(first) == [
        (
            "toolu_01EFn5wTNBYA8Reni8rbmnHT",
            "get_exchange_rate",
            {"from_currency": "USD", "to_currency": "EUR"},
            True,
        )
    ]
    assert set(first.tool_schemas) == {"get_exchange_rate", "stock_lookup"}


@pytest.mark.parametrize(
    ("raw", "parsed", "valid"),
    [
        ('{"city": "Par', None, False),
        ("", None, False),
        ('{"n": NaN}', None, False),  # JSON has no NaN
        ("[1, 2]", [1, 2], True),
        ('"just text"', "just text", True),
    ],
)
def test_tool_arguments_that_do_not_parse_are_kept_raw(raw: str, parsed: Any, valid: bool) -> None:
    message = {"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": raw}}]}
    call = describe(CHAT_URL, {}, {"choices": [{"message": message}]})
    [summary] = call.tool_calls
    assert (summary.arguments, summary.arguments_raw, summary.arguments_valid) == (
        parsed,
        raw,
        valid,
    )


def test_chat_legacy_custom_and_object_arguments() -> None:
    request = {
        "functions": [{"name": "legacy", "parameters": {"type": "object"}}],
        "tools": [{"type": "function", "function": {"name": "plain"}}],
        "messages": [
            {"role": "assistant", "function_call": {"name": "legacy", "arguments": "{}"}},
            {"role": "function", "name": "legacy", "content": "done"},
        ],
    }
    message = {
        "tool_calls": [
            {"id": "c1", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}},
            # an OpenAI-compatible server that sends the arguments as an object
            {"id": "c2", "function": {"name": "plain", "arguments": {"a": 1}}},
        ],
        "function_call": {"name": "legacy", "arguments": '{"x": 2}'},
    }
    call = describe(CHAT_URL, request, {"choices": [{"message": message}]})
    assert calls_of(call) == [
        ("c1", "sql", "SELECT 1", True),
        ("c2", "plain", {"a": 1}, True),
        (None, "legacy", {"x": 2}, True),
    ]
    assert call.tool_calls[1].arguments_raw == '{"a": 1}'
    assert results_of(call) == [(None, "legacy", "done", False)]
    assert call.tool_schemas == {"legacy": {"type": "object"}, "plain": {}}


def test_chat_stream_deltas_without_index_and_with_repeated_ids() -> None:
    def chunk(call: dict[str, Any]) -> SSEEvent:
        delta = {"tool_calls": [call]}
        return SSEEvent(None, json.dumps({"choices": [{"delta": delta}]}))

    events = [
        chunk({"id": "a", "function": {"name": "one", "arguments": '{"x"'}}),
        chunk({"function": {"arguments": ": 1}"}}),
        chunk({"id": "b", "function": {"name": "two", "arguments": "{}"}}),
        SSEEvent(None, "[DONE]"),
    ]
    call = describe(CHAT_URL, {"stream": True}, events=events)
    assert calls_of(call) == [("a", "one", {"x": 1}, True), ("b", "two", {}, True)]


def test_responses_results_without_their_call_in_the_request_have_no_name() -> None:
    request = {
        "previous_response_id": "resp_1",
        "input": [
            {"type": "function_call_output", "call_id": "call_9", "output": "42"},
            {
                "type": "function_call_output",
                "call_id": "call_10",
                "output": [{"type": "input_text", "text": "seen"}, {"type": "input_image"}],
            },
        ],
        "tools": [
            {"type": "function", "name": "f", "parameters": {"type": "object"}},
            {"type": "web_search"},
        ],
    }
    response = {"output": [{"type": "custom_tool_call", "call_id": "c", "name": "g", "input": "x"}]}
    call = describe(RESPONSES_URL, request, response)
    assert results_of(call) == [
        ("call_9", None, "42", False),
        ("call_10", None, "seen\n[image]", False),
    ]
    assert call.tool_schemas == {"f": {"type": "object"}}
    assert calls_of(call) == [("c", "g", "x", True)]


def test_responses_stream_cut_short_rebuilds_the_function_call() -> None:
    def event(kind: str, **fields: Any) -> SSEEvent:
        return SSEEvent(kind, json.dumps({"type": kind, **fields}))

    item = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""}
    events = [
        event("response.created", response={"id": "r", "output": []}),
        event("response.output_item.added", output_index=0, item=item),
        event("response.function_call_arguments.delta", output_index=0, delta='{"a":'),
        event("response.function_call_arguments.delta", output_index=0, delta=" 1"),
    ]
    call = describe(RESPONSES_URL, {}, events=events)
    assert [(c.id, c.name, c.arguments_raw, c.arguments_valid) for c in call.tool_calls] == [
        ("call_1", "f", '{"a": 1', False)
    ]


def test_messages_tool_results_with_blocks_and_errors() -> None:
    request = {
        "tools": [
            {"name": "lookup", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "checking"},
                    {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": 1}},
                    {"type": "tool_use", "id": "t2", "name": "lookup", "input": {"q": 2}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t2",
                        "is_error": True,
                        "content": [{"type": "text", "text": "boom"}, {"type": "image"}],
                    },
                    {"type": "tool_result", "tool_use_id": "t3"},  # no content, unknown call
                ],
            },
        ],
    }
    call = describe(MESSAGES_URL, request, {"content": []})
    assert results_of(call) == [
        ("t1", "lookup", "one", False),
        ("t2", "lookup", "boom\n[image]", True),
        ("t3", None, "", False),
    ]
    assert call.tool_schemas == {"lookup": {"type": "object"}}


def test_messages_stream_tool_use_raw_text_kept_even_when_broken() -> None:
    def event(kind: str, **fields: Any) -> SSEEvent:
        return SSEEvent(kind, json.dumps({"type": kind, **fields}))

    def use(index: int, ident: str) -> SSEEvent:
        block = {"type": "tool_use", "id": ident, "name": "f", "input": {}}
        return event("content_block_start", index=index, content_block=block)

    def piece(index: int, text: str) -> SSEEvent:
        delta = {"type": "input_json_delta", "partial_json": text}
        return event("content_block_delta", index=index, delta=delta)

    events = [
        event("message_start", message={"id": "m", "usage": {}}),
        use(0, "t0"),
        piece(0, ""),  # no input at all: the SDKs read it as {}
        use(1, "t1"),
        piece(1, '{"a": '),
        piece(1, "1}"),
        use(2, "t2"),
        piece(2, '{"a": '),
        event("message_stop"),
    ]
    call = describe(MESSAGES_URL, {}, events=events)
    assert [(c.id, c.arguments, c.arguments_raw, c.arguments_valid) for c in call.tool_calls] == [
        ("t0", {}, "{}", True),
        ("t1", {"a": 1}, '{"a": 1}', True),
        ("t2", None, '{"a": ', False),
    ]
    assert call.output_text == 'f({})\nf({"a": 1})\nf({"a": )'


tool_arguments = json_values | json_values.map(json.dumps) | st.text(max_size=12)


@st.composite
def tool_exchanges(draw: st.DrawFn) -> tuple[str, Any, Any, list[SSEEvent] | None]:
    """A request and a response of one API in the shape of a tool-calling turn, with any
    JSON value where an id, a name, arguments, a result or a flag should be."""
    value = draw(json_values)
    calls = draw(st.lists(st.tuples(json_values, json_values, tool_arguments), max_size=3))
    api = draw(st.sampled_from(["chat", "responses", "messages"]))
    if api == "chat":
        assistant = {
            "role": "assistant",
            "tool_calls": [{"id": i, "function": {"name": n, "arguments": a}} for i, n, a in calls],
        }
        request = {
            "tools": [{"type": "function", "function": {"name": value, "parameters": value}}],
            "messages": [assistant, {"role": "tool", "tool_call_id": value, "content": value}],
        }
        if draw(st.booleans()):
            deltas = [
                {"choices": [{"delta": {"tool_calls": [{"index": draw(json_values), **call}]}}]}
                for call in assistant["tool_calls"]
            ]
            return CHAT, request, None, [SSEEvent(None, json.dumps(d)) for d in deltas]
        return CHAT, request, {"choices": [{"message": assistant}]}, None
    if api == "responses":
        items = [
            {"type": "function_call", "call_id": i, "name": n, "arguments": a} for i, n, a in calls
        ]
        output = {"type": "function_call_output", "call_id": value, "output": value}
        request = {"input": [*items, output], "tools": [{"type": "function", "name": value}]}
        return RESPONSES, request, {"output": items}, None
    blocks = [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in calls]
    result = {"type": "tool_result", "tool_use_id": value, "content": value, "is_error": value}
    request = {
        "tools": [{"name": value, "input_schema": value}],
        "messages": [
            {"role": "assistant", "content": blocks},
            {"role": "user", "content": [result]},
        ],
    }
    if draw(st.booleans()):
        events = []
        for index, (_, _, arguments) in enumerate(calls):
            start = {"type": "content_block_start", "index": index, "content_block": blocks[index]}
            delta = {"type": "input_json_delta", "partial_json": arguments}
            events += [start, {"type": "content_block_delta", "index": index, "delta": delta}]
        return MESSAGES, request, None, [SSEEvent(None, json.dumps(e)) for e in events]
    return MESSAGES, request, {"content": blocks}, None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exchange=tool_exchanges())
def test_tool_shapes_with_any_values_never_raise(
    exchange: tuple[str, Any, Any, list[SSEEvent] | None],
) -> None:
    url, request, response, events = exchange
    call = describe(url, request, response, events=events)
    check_summary(call)
