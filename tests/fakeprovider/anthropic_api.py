"""Anthropic wire shapes: Messages bodies, SSE events, count_tokens and errors."""

from __future__ import annotations

import json
from typing import Any

from .openai_api import SseEvent
from .replies import Outcome
from .specs import RecordedRequest

__all__ = ["count_tokens_body", "error_body", "message_body", "message_events"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def error_body(status: int, message: str, request_id: str) -> dict[str, Any]:
    """Anthropic's error document for an HTTP status."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def _usage(outcome: Outcome, *, output_tokens: int | None = None) -> dict[str, Any]:
    usage = outcome.usage
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.cache_creation_input_tokens,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": usage.output_tokens if output_tokens is None else output_tokens,
        "service_tier": "standard",
    }


def _blocks(outcome: Outcome) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if outcome.text is not None:
        blocks.append({"type": "text", "text": outcome.text, "citations": None})
    for call in outcome.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.wire_id("toolu_"),
                "name": call.name,
                "input": call.parsed_arguments(),
            }
        )
    return blocks


def _stop_reason(outcome: Outcome) -> str:
    return _STOP_REASONS.get(outcome.finish, outcome.finish)


def message_body(request: RecordedRequest, outcome: Outcome) -> dict[str, Any]:
    """A non-streamed `message` body."""
    return {
        "id": f"msg_{outcome.ident[:24]}",
        "type": "message",
        "role": "assistant",
        "model": outcome.model,
        "content": _blocks(outcome),
        "stop_reason": _stop_reason(outcome),
        "stop_sequence": None,
        "usage": _usage(outcome),
    }


def message_events(request: RecordedRequest, outcome: Outcome) -> list[SseEvent]:
    """The named events of a streamed Messages reply, `message_start` to `message_stop`."""
    events: list[SseEvent] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, json.dumps({"type": kind, **fields})))

    start = {
        **message_body(request, outcome),
        "content": [],
        "stop_reason": None,
        "usage": _usage(outcome, output_tokens=1),
    }
    emit("message_start", message=start)
    arguments = [call.arguments for call in outcome.tool_calls]
    for index, block in enumerate(_blocks(outcome)):
        if block["type"] == "text":
            emit("content_block_start", index=index, content_block={**block, "text": ""})
            if index == 0:
                emit("ping")
            for piece in outcome.text_chunks():
                emit(
                    "content_block_delta", index=index, delta={"type": "text_delta", "text": piece}
                )
        else:
            emit("content_block_start", index=index, content_block={**block, "input": {}})
            if index == 0:
                emit("ping")
            text = arguments.pop(0)  # sent as scripted, malformed JSON included
            for offset in range(0, len(text), 16):
                delta = {"type": "input_json_delta", "partial_json": text[offset : offset + 16]}
                emit("content_block_delta", index=index, delta=delta)
        emit("content_block_stop", index=index)
    usage = _usage(outcome)
    usage.pop("cache_creation")
    usage.pop("service_tier")
    emit(
        "message_delta",
        delta={"stop_reason": _stop_reason(outcome), "stop_sequence": None},
        usage=usage,
    )
    emit("message_stop")
    return events


def count_tokens_body(request: RecordedRequest) -> dict[str, Any]:
    """The `count_tokens` reply: words of the prompt."""
    return {"input_tokens": len(request.text.split())}
