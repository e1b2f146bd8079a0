"""Adapter for Anthropic's Messages API (`POST .../v1/messages`, beta or not) and compatibles.

Anthropic reports cache reads and writes apart from `input_tokens`, which is already
the uncached count the summary wants. A stream is folded back into the message it built:
`message_start` carries the first usage, and each `message_delta` carries updated
(cumulative) counts, of which the last one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    part_text,
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

# Content blocks that call a tool: the client's tools, and Anthropic's server and MCP tools.
_CALL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
# The key under which a folded stream keeps a tool_use block's JSON text as it arrived.
_RAW_INPUT = "_llmeval_partial_json"


def messages_stream_end_missing(last: SSEEvent) -> str | None:
    """Why a Messages stream whose last event is `last` is incomplete, or None: it ends
    with `message_stop`, or with an `error` event."""
    kind = last.event or as_str(as_dict(load_json(last.data)).get("type"))
    if kind in ("message_stop", "error"):
        return None
    return "the server ended the stream before its `message_stop`: the answer is cut short"


def describe_messages(
    *,
    provider: str,
    api_url: str | None,
    request_body: object,
    status: int,
    response_body: object,
    events: Sequence[SSEEvent] | None,
) -> CallSummary:
    """Summarise a Messages API call; thinking blocks are left out of the output text."""
    request = as_dict(request_body)
    stream_error = None
    if events is not None:
        response, stream_error = _message_from_events(events)
    else:
        response = as_dict(response_body)
    usage = as_dict(response.get("usage"))
    requested = first_str(request.get("model"))
    output = []
    for block in as_list(response.get("content")):
        output += _block_pieces(block)
    return CallSummary(
        provider=provider,
        api="messages",
        api_url=api_url,
        model=first_str(response.get("model"), requested),
        requested_model=requested,
        input_tokens=as_count(usage.get("input_tokens")),
        output_tokens=as_count(usage.get("output_tokens")),
        cache_read_tokens=as_count(usage.get("cache_read_input_tokens")),
        cache_write_tokens=as_count(usage.get("cache_creation_input_tokens")),
        # The shape genai-prices reads for thinking tokens; absent from most responses.
        reasoning_tokens=as_count(dig(usage, "output_tokens_details", "thinking_tokens")),
        params=request_params(request),
        input_text=join_lines(_prompt(request)),
        output_text=join_lines(output),
        stop_reason=as_str(response.get("stop_reason")),
        error=http_error(status, error_message(response) or stream_error),
        request_id=first_str(response.get("request_id")),
        response_id=first_str(response.get("id")),
        tool_calls=_tool_calls(response.get("content")),
        tool_results=_tool_results(request),
        tool_schemas={
            name: tool_schema(tool["input_schema"])
            for tool in as_list(request.get("tools"))
            if isinstance(tool, dict)
            and "input_schema" in tool
            and (name := first_str(tool.get("name")))
        },
    )


def _tool_calls(content: object) -> tuple[ToolCallSummary, ...]:
    """The client tools' `tool_use` blocks of a message (server and MCP tools run remotely).

    A streamed block keeps the JSON text exactly as it arrived (`_RAW_INPUT`).
    """
    calls = []
    for block in as_list(content):
        if dig(block, "type") == "tool_use":
            raw = block.get(_RAW_INPUT)
            arguments = raw if isinstance(raw, str) else block.get("input")
            calls.append(tool_call(block.get("id"), block.get("name"), arguments))
    return tuple(calls)


def _tool_results(request: dict[str, Any]) -> tuple[ToolResultSummary, ...]:
    """The `tool_result` blocks of the request's messages, named by the `tool_use` before them."""
    names: dict[str, str] = {}
    results = []
    for message in as_list(request.get("messages")):
        for block in as_list(dig(message, "content")):
            kind = dig(block, "type")
            if kind == "tool_use" and (ident := first_str(block.get("id"))):
                names[ident] = first_str(block.get("name")) or "?"
            elif kind == "tool_result":
                results.append(
                    tool_result(
                        block.get("tool_use_id"),
                        block.get("content"),
                        names,
                        is_error=block.get("is_error"),
                    )
                )
    return tuple(results)


def _prompt(request: dict[str, Any]) -> list[str]:
    lines = role_line("system", [content_text(request.get("system"))])
    for message in as_list(request.get("messages")):
        role = dig(message, "role")
        content = dig(message, "content")
        if isinstance(content, str):
            lines += role_line(role, [content])
            continue
        pieces: list[str] = []
        for block in as_list(content):
            if dig(block, "type") == "tool_result":
                # Flushing first keeps the lines in the order the blocks came in.
                lines += role_line(role, pieces) + role_line("tool", [_tool_result(block)])
                pieces = []
            else:
                pieces += _block_pieces(block)
        lines += role_line(role, pieces)
    return lines


def _tool_result(block: object) -> str:
    content = dig(block, "content")
    return content_text(content) if isinstance(content, (str, list)) else ""


def _block_pieces(block: object) -> list[str]:
    """The text of one content block: text, a tool call, or a media placeholder."""
    kind = as_str(dig(block, "type"))
    if kind in _CALL_BLOCKS:
        return [render_call(dig(block, "name"), dig(block, "input"))]
    if kind in ("thinking", "redacted_thinking") or (kind or "").endswith("_tool_result"):
        return []  # reasoning, and server tools' raw results, are not the answer
    text = part_text(block)
    return [text] if text else []


def _message_from_events(events: Sequence[SSEEvent]) -> tuple[dict[str, Any], str | None]:
    """The message a Messages stream built, and the message of an `error` event if any."""
    message: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    blocks: dict[int, dict[str, Any]] = {}
    texts: dict[int, list[str]] = {}
    inputs: dict[int, list[str]] = {}
    error = None
    for payload in event_payloads(events):
        kind = payload.get("type")
        index = as_count(payload.get("index"))
        if kind == "message_start":
            message = as_dict(payload.get("message"))
            usage.update(as_dict(message.get("usage")))
        elif kind == "content_block_start" and index is not None:
            blocks[index] = as_dict(payload.get("content_block"))
        elif kind == "content_block_delta" and index is not None:
            delta = as_dict(payload.get("delta"))
            if delta.get("type") == "text_delta":
                texts.setdefault(index, []).append(as_str(delta.get("text")) or "")
            elif delta.get("type") == "input_json_delta":
                inputs.setdefault(index, []).append(as_str(delta.get("partial_json")) or "")
        elif kind == "message_delta":
            delta = as_dict(payload.get("delta"))
            if "stop_reason" in delta:
                message = {**message, "stop_reason": delta["stop_reason"]}
            latest = as_dict(payload.get("usage"))
            usage.update({key: value for key, value in latest.items() if value is not None})
        elif kind == "error":
            error = error_message(payload)
            message = {**message, "request_id": payload.get("request_id")}
    content = []
    for index in sorted(blocks.keys() | texts.keys() | inputs.keys()):
        block = blocks.get(index, {"type": "text"})
        if index in texts:
            block = {**block, "text": (as_str(block.get("text")) or "") + "".join(texts[index])}
        if index in inputs and "".join(inputs[index]).strip():
            raw = "".join(inputs[index])
            parsed = load_json(raw)
            block = {**block, "input": raw if parsed is None else parsed, _RAW_INPUT: raw}
        elif index in inputs:  # no JSON at all: the SDKs read an empty input as {}
            block = {**block, "input": {}}
        content.append(block)
    return {**message, "content": content, "usage": usage}, error
