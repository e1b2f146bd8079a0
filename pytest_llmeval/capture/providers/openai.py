"""Adapters for OpenAI's Chat Completions, Responses and Embeddings APIs (and compatibles).

A streamed response is first folded back into the body the same call would have
returned unstreamed, so one reader serves both.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pytest_llmeval.capture.providers.generic import (
    as_count,
    as_dict,
    as_list,
    as_str,
    content_text,
    dig,
    error_message,
    event_payloads,
    first_str,
    http_error,
    join_lines,
    load_json,
    render_call,
    request_params,
    role_line,
    tool_call,
    tool_result,
    tool_schema,
)
from pytest_llmeval.capture.providers.types import (
    CallSummary,
    SSEEvent,
    ToolCallSummary,
    ToolResultSummary,
)

# Streamed Responses events that carry the finished response.
_FINAL_RESPONSE_EVENTS = frozenset(
    {"response.completed", "response.incomplete", "response.failed", "response.cancelled"}
)
# Streamed Responses events whose `delta` extends the text of output item `output_index`.
_DELTA_EVENTS = frozenset({"response.output_text.delta", "response.function_call_arguments.delta"})


def describe_chat(
    *,
    provider: str,
    api_url: str | None,
    request_body: object,
    status: int,
    response_body: object,
    events: Sequence[SSEEvent] | None,
) -> CallSummary:
    """Summarise a Chat Completions call (`POST .../chat/completions`)."""
    request = as_dict(request_body)
    response = _chat_from_events(events) if events is not None else as_dict(response_body)
    choice = _first_choice(response.get("choices"))
    usage = as_dict(response.get("usage"))
    prompt_tokens = as_count(usage.get("prompt_tokens"))
    cached = as_count(dig(usage, "prompt_tokens_details", "cached_tokens"))
    if cached is None:  # DeepSeek's OpenAI-compatible API names it differently
        cached = as_count(usage.get("prompt_cache_hit_tokens"))
    requested = first_str(request.get("model"))
    lines = []
    for message in as_list(request.get("messages")):
        lines += role_line(dig(message, "role"), _message_pieces(message))
    return CallSummary(
        provider=provider,
        api="chat",
        api_url=api_url,
        model=first_str(response.get("model"), requested),
        requested_model=requested,
        input_tokens=_uncached(prompt_tokens, cached),
        output_tokens=as_count(usage.get("completion_tokens")),
        cache_read_tokens=cached,
        reasoning_tokens=as_count(dig(usage, "completion_tokens_details", "reasoning_tokens")),
        params=request_params(request),
        input_text=join_lines(lines),
        output_text=join_lines(_message_pieces(choice.get("message"))),
        stop_reason=as_str(choice.get("finish_reason")),
        error=http_error(status, error_message(response)),
        request_id=first_str(response.get("request_id")),
        response_id=first_str(response.get("id")),
        tool_calls=_chat_tool_calls(choice.get("message")),
        tool_results=_chat_tool_results(request),
        tool_schemas=_chat_tool_schemas(request),
    )


def describe_responses(
    *,
    provider: str,
    api_url: str | None,
    request_body: object,
    status: int,
    response_body: object,
    events: Sequence[SSEEvent] | None,
) -> CallSummary:
    """Summarise a Responses API call (`POST .../responses`).

    Its stop_reason is `incomplete_details.reason` when the response stopped early
    (e.g. `max_output_tokens`), else its status (`completed`, `failed`, ...).
    """
    request = as_dict(request_body)
    stream_error = None
    if events is not None:
        response, stream_error = _responses_from_events(events)
    else:
        response = as_dict(response_body)
    usage = as_dict(response.get("usage"))
    cached = as_count(dig(usage, "input_tokens_details", "cached_tokens"))
    requested = first_str(request.get("model"))
    output = []
    for item in as_list(response.get("output")):
        output += _item_pieces(item)
    return CallSummary(
        provider=provider,
        api="responses",
        api_url=api_url,
        model=first_str(response.get("model"), requested),
        requested_model=requested,
        input_tokens=_uncached(as_count(usage.get("input_tokens")), cached),
        output_tokens=as_count(usage.get("output_tokens")),
        cache_read_tokens=cached,
        reasoning_tokens=as_count(dig(usage, "output_tokens_details", "reasoning_tokens")),
        params=request_params(request),
        input_text=join_lines(_responses_prompt(request)),
        output_text=join_lines([piece for piece in output if piece]),
        stop_reason=first_str(
            dig(response, "incomplete_details", "reason"), response.get("status")
        ),
        error=http_error(status, error_message(response) or stream_error),
        request_id=first_str(response.get("request_id")),
        response_id=first_str(response.get("id")),
        tool_calls=tuple(
            call for item in as_list(response.get("output")) if (call := _item_call(item))
        ),
        tool_results=_responses_tool_results(request),
        tool_schemas={
            name: tool_schema(dig(tool, "parameters"))
            for tool in as_list(request.get("tools"))
            if dig(tool, "type") == "function" and (name := first_str(dig(tool, "name")))
        },
    )


def describe_embeddings(
    *,
    provider: str,
    api_url: str | None,
    request_body: object,
    status: int,
    response_body: object,
    events: Sequence[SSEEvent] | None,
) -> CallSummary:
    """Summarise an Embeddings call (`POST .../embeddings`): the input, and the vectors' shape."""
    request = as_dict(request_body)
    if events is not None:  # embeddings do not stream; read the first JSON event if any
        response = next(iter(event_payloads(events)), {})
    else:
        response = as_dict(response_body)
    requested = first_str(request.get("model"))
    return CallSummary(
        provider=provider,
        api="embeddings",
        api_url=api_url,
        model=first_str(response.get("model"), requested),
        requested_model=requested,
        input_tokens=as_count(dig(response, "usage", "prompt_tokens")),
        params=request_params(request),
        input_text=_embedding_input(request.get("input")),
        output_text=_embedding_output(response.get("data")),
        error=http_error(status, error_message(response)),
        request_id=first_str(response.get("request_id")),
    )


def chat_stream_end_missing(last: SSEEvent) -> str | None:
    """Why a Chat Completions stream whose last event is `last` is incomplete, or None:
    it ends with `data: [DONE]`, or with an error object (which the SDKs raise)."""
    if last.data.strip() == "[DONE]" or "error" in as_dict(load_json(last.data)):
        return None
    return "the server ended the stream before its `data: [DONE]`: the answer is cut short"


def responses_stream_end_missing(last: SSEEvent) -> str | None:
    """Why a Responses stream whose last event is `last` is incomplete, or None: it ends
    with `response.completed`, `response.failed`, `response.incomplete` or `error`."""
    kind = last.event or as_str(as_dict(load_json(last.data)).get("type"))
    if kind in _FINAL_RESPONSE_EVENTS or kind == "error":
        return None
    return (
        "the server ended the stream before its `response.completed` (or failed, "
        "incomplete) event: the answer is cut short"
    )


def _uncached(total: int | None, cached: int | None) -> int | None:
    # OpenAI counts cached tokens inside the input total; the summary keeps them apart.
    if total is None or cached is None:
        return total
    return max(total - cached, 0)


def _first_choice(choices: object) -> dict[str, Any]:
    # Only the first choice (n=1 is what eval code asks for) is rendered.
    for choice in as_list(choices):
        if isinstance(choice, dict):
            return choice
    return {}


def _message_pieces(message: object) -> list[str]:
    """A chat message's text, refusal and tool calls, in that order."""
    if not isinstance(message, dict):
        return []
    pieces = [content_text(message.get("content")), as_str(message.get("refusal")) or ""]
    for call in as_list(message.get("tool_calls")):
        function = dig(call, "function")
        if isinstance(function, dict):
            pieces.append(render_call(function.get("name"), function.get("arguments")))
    legacy_call = message.get("function_call")
    if isinstance(legacy_call, dict):
        pieces.append(render_call(legacy_call.get("name"), legacy_call.get("arguments")))
    return [piece for piece in pieces if piece]


def _chat_tool_calls(message: object) -> tuple[ToolCallSummary, ...]:
    """The tool calls of a chat message: function and custom tools, or a legacy function_call."""
    calls = []
    for call in as_list(dig(message, "tool_calls")):
        if isinstance(dig(call, "function"), dict):
            function = call["function"]
            calls.append(tool_call(call.get("id"), function.get("name"), function.get("arguments")))
        elif isinstance(dig(call, "custom"), dict):
            custom = call["custom"]
            calls.append(
                tool_call(call.get("id"), custom.get("name"), custom.get("input"), text_input=True)
            )
    legacy_call = dig(message, "function_call")
    if isinstance(legacy_call, dict):
        calls.append(tool_call(None, legacy_call.get("name"), legacy_call.get("arguments")))
    return tuple(calls)


def _chat_tool_results(request: dict[str, Any]) -> tuple[ToolResultSummary, ...]:
    """The `tool` (and legacy `function`) messages of a chat request, named by their calls."""
    names: dict[str, str] = {}
    results = []
    for message in as_list(request.get("messages")):
        role = dig(message, "role")
        if role == "assistant":
            names.update(
                (call.id, call.name) for call in _chat_tool_calls(message) if call.id is not None
            )
        elif role == "tool":
            results.append(tool_result(message.get("tool_call_id"), message.get("content"), names))
        elif role == "function":  # the legacy function-calling shape: no id, named
            result = tool_result(None, message.get("content"), names)
            results.append(replace(result, name=first_str(message.get("name"))))
    return tuple(results)


def _chat_tool_schemas(request: dict[str, Any]) -> dict[str, Any]:
    """name -> parameters schema of the request's function tools (and legacy `functions`)."""
    schemas: dict[str, Any] = {}
    if "tools" not in request and "functions" not in request:
        return schemas
    for function in [dig(tool, "function") for tool in as_list(request.get("tools"))] + as_list(
        request.get("functions")
    ):
        name = first_str(dig(function, "name"))
        if name is not None:
            schemas[name] = tool_schema(dig(function, "parameters"))
    return schemas


def _chat_from_events(events: Sequence[SSEEvent]) -> dict[str, Any]:
    """The non-streamed body equivalent to a stream of chat.completion.chunk events."""
    body: dict[str, Any] = {}
    text: list[str] = []
    refusal: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish_reason = None
    for chunk in event_payloads(events):
        for key in ("id", "model"):
            if key not in body and first_str(chunk.get(key)):
                body[key] = chunk[key]
        if isinstance(chunk.get("usage"), dict):  # only with stream_options.include_usage
            body["usage"] = chunk["usage"]
        if chunk.get("error") is not None:
            body["error"] = chunk["error"]
        choice = _first_choice(chunk.get("choices"))
        delta = as_dict(choice.get("delta"))
        text.append(as_str(delta.get("content")) or "")
        refusal.append(as_str(delta.get("refusal")) or "")
        for call in as_list(delta.get("tool_calls")):
            _merge_call_delta(calls, as_dict(call))
        finish_reason = as_str(choice.get("finish_reason")) or finish_reason
    message = {
        "content": "".join(text),
        "refusal": "".join(refusal),
        "tool_calls": [
            {
                "id": call["id"],
                "function": {"name": call["name"], "arguments": "".join(call["arguments"])},
            }
            for _, call in sorted(calls.items())
        ],
    }
    return {**body, "choices": [{"message": message, "finish_reason": finish_reason}]}


def _merge_call_delta(calls: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
    index = as_count(delta.get("index"))
    if index is None:  # compatible servers sometimes omit it: a new id starts a new call
        last = max(calls, default=-1)
        index = last + 1 if first_str(delta.get("id")) or last < 0 else last
    call = calls.setdefault(index, {"id": None, "name": None, "arguments": []})
    function = as_dict(delta.get("function"))
    # The name and id arrive whole in the first delta; some servers repeat them: keep the first.
    call["id"] = call["id"] or first_str(delta.get("id"))
    call["name"] = call["name"] or first_str(function.get("name"))
    call["arguments"].append(as_str(function.get("arguments")) or "")


def _responses_prompt(request: dict[str, Any]) -> list[str]:
    lines = role_line("system", [content_text(request.get("instructions"))])
    prompt = request.get("input")
    if isinstance(prompt, str):
        return [*lines, *role_line("user", [prompt])]
    for item in as_list(prompt):
        kind = as_str(dig(item, "type"))
        if kind in ("function_call", "custom_tool_call"):
            lines += role_line("assistant", _item_pieces(item))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            lines += role_line("tool", [content_text(dig(item, "output"))])
        elif kind in (None, "message"):
            lines += role_line(dig(item, "role"), [content_text(dig(item, "content"))])
    return lines


def _item_call(item: object) -> ToolCallSummary | None:
    """The tool call a Responses item holds (function or custom tool), or None."""
    kind = as_str(dig(item, "type"))
    if kind == "function_call":
        return tool_call(dig(item, "call_id"), dig(item, "name"), dig(item, "arguments"))
    if kind == "custom_tool_call":
        return tool_call(
            dig(item, "call_id"), dig(item, "name"), dig(item, "input"), text_input=True
        )
    return None


def _responses_tool_results(request: dict[str, Any]) -> tuple[ToolResultSummary, ...]:
    """The `function_call_output` (and custom) input items, named by the calls before them.

    A call made in an earlier response that the request only points to
    (`previous_response_id`) is not in the request: its result has no name.
    """
    names: dict[str, str] = {}
    results = []
    for item in as_list(request.get("input")):
        kind = as_str(dig(item, "type"))
        call = _item_call(item)
        if call is not None and call.id is not None:
            names[call.id] = call.name
        elif kind in ("function_call_output", "custom_tool_call_output"):
            results.append(tool_result(item.get("call_id"), item.get("output"), names))
    return tuple(results)


def _item_pieces(item: object) -> list[str]:
    """The text of one Responses output item: message text or a tool call."""
    kind = as_str(dig(item, "type"))
    if kind == "message":
        return [content_text(dig(item, "content"))]
    if kind == "function_call":
        return [render_call(dig(item, "name"), dig(item, "arguments"))]
    if kind == "custom_tool_call":
        return [render_call(dig(item, "name"), dig(item, "input"))]
    return []  # reasoning and built-in tool calls carry no answer text


def _responses_from_events(events: Sequence[SSEEvent]) -> tuple[dict[str, Any], str | None]:
    """The response a Responses stream built, and the message of an `error` event if any.

    The final `response.completed` (or failed/incomplete) event carries the whole
    response; a stream cut short is rebuilt from its item and delta events.
    """
    snapshot: dict[str, Any] = {}
    final: dict[str, Any] | None = None
    items: dict[int, dict[str, Any]] = {}
    finished: set[int] = set()
    deltas: dict[int, list[str]] = {}
    error = None
    for payload in event_payloads(events):
        kind = as_str(payload.get("type")) or ""
        if isinstance(payload.get("response"), dict):
            snapshot = payload["response"]
            final = snapshot if kind in _FINAL_RESPONSE_EVENTS else final
        index = as_count(payload.get("output_index"))
        if kind in ("response.output_item.added", "response.output_item.done"):
            if index is not None and isinstance(payload.get("item"), dict):
                items[index] = payload["item"]
                if kind == "response.output_item.done":  # the finished item holds its deltas
                    finished.add(index)
        elif kind in _DELTA_EVENTS and index is not None and index not in finished:
            deltas.setdefault(index, []).append(as_str(payload.get("delta")) or "")
        elif kind == "error":
            error = error_message(payload) or first_str(payload.get("message"), payload.get("code"))
    if final is not None and as_list(final.get("output")):
        return final, error
    output = []
    for index in sorted(items.keys() | deltas.keys()):
        item = items.get(index, {"type": "message"})
        if index not in finished and index in deltas:
            joined = "".join(deltas[index])
            if item.get("type") == "function_call":
                item = {**item, "arguments": joined}
            else:
                item = {"type": "message", "content": [{"type": "output_text", "text": joined}]}
        output.append(item)
    return {**(final or snapshot), "output": output}, error


def _embedding_input(value: object) -> str | None:
    if isinstance(value, str):
        return value
    items = as_list(value)
    if items and all(isinstance(item, int) for item in items):
        return f"[{len(items)} tokens]"
    lines = [item if isinstance(item, str) else f"[{len(as_list(item))} tokens]" for item in items]
    return join_lines(lines)


def _embedding_output(data: object) -> str | None:
    vectors = as_list(data)
    if not vectors:
        return None
    embedding = dig(vectors[0], "embedding")
    dimensions = None
    if isinstance(embedding, list):
        dimensions = len(embedding)
    elif isinstance(embedding, str):  # encoding_format=base64: little-endian float32s
        try:
            dimensions = len(b64decode(embedding, validate=True)) // 4
        except (binascii.Error, ValueError):
            dimensions = None
    shape = f", {dimensions} dimensions" if dimensions is not None else ""
    return f"[{len(vectors)} embedding{'' if len(vectors) == 1 else 's'}{shape}]"
