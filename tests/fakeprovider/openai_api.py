"""OpenAI wire shapes: Chat Completions, Responses and Embeddings bodies and SSE events."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from .replies import Outcome
from .specs import RecordedRequest

__all__ = [
    "CREATED",
    "SseEvent",
    "chat_body",
    "chat_events",
    "embeddings_body",
    "error_body",
    "responses_body",
    "responses_events",
]

CREATED = 1_700_000_000
"""The fixed `created` timestamp, so that bodies are a pure function of the request."""

DEFAULT_EMBEDDING_DIMENSIONS = 16
"""Vector length when the request gives no `dimensions` (real models use 1536+)."""

SseEvent = tuple[str | None, str]
"""One server-sent event: its `event:` name (or None) and its `data:` text."""

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error document for an HTTP status."""
    kind, code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _chat_usage(outcome: Outcome) -> dict[str, Any]:
    usage = outcome.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.prompt_tokens + usage.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_envelope(outcome: Outcome, obj: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{outcome.ident[:24]}",
        "object": obj,
        "created": CREATED,
        "model": outcome.model,
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def chat_body(request: RecordedRequest, outcome: Outcome) -> dict[str, Any]:
    """A non-streamed `chat.completion` body."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": outcome.text,
        "refusal": None,
        "annotations": [],
    }
    if outcome.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.wire_id("call_"),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in outcome.tool_calls
        ]
    return {
        **_chat_envelope(outcome, "chat.completion"),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": outcome.finish}
        ],
        "usage": _chat_usage(outcome),
    }


def chat_events(request: RecordedRequest, outcome: Outcome) -> list[SseEvent]:
    """The `chat.completion.chunk` events of a streamed reply, ending with `[DONE]`."""
    body = request.body if isinstance(request.body, Mapping) else {}
    options = body.get("stream_options")
    include_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
    envelope = _chat_envelope(outcome, "chat.completion.chunk")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> SseEvent:
        data: dict[str, Any] = {
            **envelope,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return None, json.dumps(data)

    first_content = "" if outcome.text is not None else None
    events = [chunk({"role": "assistant", "content": first_content, "refusal": None})]
    events += [chunk({"content": piece}) for piece in outcome.text_chunks()]
    for index, call in enumerate(outcome.tool_calls):
        start = {
            "index": index,
            "id": call.wire_id("call_"),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(chunk({"tool_calls": [start]}))
        for piece in _pieces(call.arguments):
            events.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    events.append(chunk({}, outcome.finish))
    if include_usage:
        events.append(
            (None, json.dumps({**envelope, "choices": [], "usage": _chat_usage(outcome)}))
        )
    events.append((None, "[DONE]"))
    return events


def _pieces(text: str, size: int = 16) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _responses_usage(outcome: Outcome) -> dict[str, Any]:
    usage = outcome.usage
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.output_tokens,
    }


def _responses_items(outcome: Outcome) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if outcome.text is not None:
        items.append(
            {
                "id": f"msg_{outcome.ident[:24]}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": outcome.text, "annotations": [], "logprobs": []}
                ],
            }
        )
    for call in outcome.tool_calls:
        items.append(
            {
                "id": f"fc_{call.id}",
                "type": "function_call",
                "status": "completed",
                "call_id": call.wire_id("call_"),
                "name": call.name,
                "arguments": call.arguments,
            }
        )
    return items


def responses_body(
    request: RecordedRequest, outcome: Outcome, *, in_progress: bool = False
) -> dict[str, Any]:
    """A `response` object, complete (or as announced by `response.created`)."""
    body = request.body if isinstance(request.body, Mapping) else {}
    incomplete = outcome.finish == "length"
    status = "in_progress" if in_progress else ("incomplete" if incomplete else "completed")
    text_config = body.get("text") if isinstance(body.get("text"), Mapping) else None
    return {
        "id": f"resp_{outcome.ident[:24]}",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"}
        if incomplete and not in_progress
        else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": outcome.model,
        "output": [] if in_progress else _responses_items(outcome),
        "parallel_tool_calls": bool(body.get("parallel_tool_calls", True)),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": bool(body.get("store", True)),
        "temperature": body.get("temperature", 1.0),
        "text": text_config or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": None if in_progress else _responses_usage(outcome),
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def responses_events(request: RecordedRequest, outcome: Outcome) -> list[SseEvent]:
    """The named events of a streamed Responses reply, from `response.created` to the end."""
    events: list[SseEvent] = []

    def emit(kind: str, **fields: Any) -> None:
        data = {"type": kind, "sequence_number": len(events), **fields}
        events.append((kind, json.dumps(data)))

    started = responses_body(request, outcome, in_progress=True)
    emit("response.created", response=started)
    emit("response.in_progress", response=started)
    for output_index, item in enumerate(_responses_items(outcome)):
        if item["type"] == "message":
            emit(
                "response.output_item.added",
                output_index=output_index,
                item={**item, "status": "in_progress", "content": []},
            )
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            where = {"item_id": item["id"], "output_index": output_index, "content_index": 0}
            emit("response.content_part.added", **where, part=part)
            for piece in outcome.text_chunks():
                emit("response.output_text.delta", **where, delta=piece, logprobs=[])
            emit("response.output_text.done", **where, text=outcome.text or "", logprobs=[])
            emit("response.content_part.done", **where, part=item["content"][0])
        else:
            emit(
                "response.output_item.added",
                output_index=output_index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            where = {"item_id": item["id"], "output_index": output_index}
            for piece in _pieces(item["arguments"]):
                emit("response.function_call_arguments.delta", **where, delta=piece)
            emit(
                "response.function_call_arguments.done",
                **where,
                name=item["name"],
                arguments=item["arguments"],
            )
        emit("response.output_item.done", output_index=output_index, item=item)
    final = responses_body(request, outcome)
    emit(
        "response.incomplete" if final["status"] == "incomplete" else "response.completed",
        response=final,
    )
    return events


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A unit vector derived from a hash of the text: same text, same vector."""
    raw = b""
    counter = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [
        (n / 0xFFFFFFFF) * 2 - 1 for n in struct.unpack(f"<{dimensions}I", raw[: dimensions * 4])
    ]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    # float32 round-trip so float and base64 encodings carry the same numbers
    return list(
        struct.unpack(
            f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in values))
        )
    )


def float32(values: Sequence[float]) -> list[float]:
    """The values as float32 would hold them (what a base64 embedding carries)."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def embeddings_body(
    request: RecordedRequest, scripted: Mapping[str, Sequence[float]] | None = None
) -> dict[str, Any]:
    """An embeddings `list` body, float or base64 encoded as the request asks; a text in
    `scripted` gets its vector from there (`ProviderState.embed_as`)."""
    body = request.body if isinstance(request.body, Mapping) else {}
    raw_input = body.get("input")
    if isinstance(raw_input, str) or (
        isinstance(raw_input, list) and raw_input and isinstance(raw_input[0], int)
    ):
        inputs: list[Any] = [raw_input]
    else:
        inputs = list(raw_input or [])
    dimensions = int(body.get("dimensions") or DEFAULT_EMBEDDING_DIMENSIONS)
    encoding = body.get("encoding_format", "float")
    data = []
    words = 0
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else json.dumps(item)
        words += len(item.split()) if isinstance(item, str) else len(item)
        given = (scripted or {}).get(text)
        vector = float32(given) if given is not None else embedding_vector(text, dimensions)
        encoded: Any = vector
        if encoding == "base64":
            packed = struct.pack(f"<{len(vector)}f", *vector)
            encoded = base64.b64encode(packed).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model") or "fake-embedding"),
        "usage": {"prompt_tokens": words, "total_tokens": words},
    }
