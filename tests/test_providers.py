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

from pytest_llmeval.providers import CallSummary, SSEEvent, describe_call, parse_sse

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
    from pytest_llmeval.providers import missing_stream_end

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
    from pytest_llmeval.providers import missing_stream_end

    # the error is the stream's end (the SDKs raise it), not a truncation
    assert missing_stream_end("POST", url, ['data: {"x":1}\n\n', error_event]) is None


def test_streams_of_unknown_apis_have_no_end_to_miss() -> None:
    from pytest_llmeval.providers import missing_stream_end

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
    from pytest_llmeval.cassettes.models import split_sse
    from pytest_llmeval.providers import missing_stream_end

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
