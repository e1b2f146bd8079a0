"""Gemini wire shapes (the google-genai SDK's Developer API): generateContent and
streamGenerateContent (`?alt=sse`), answered by the same pure function as the others.

A Gemini request is read as the equivalent Chat Completions request (contents as
messages, `generationConfig.maxOutputTokens` as max_tokens, `responseSchema` /
`responseJsonSchema` as a json_schema response format), so the replies, scripts,
truncation and structured output of `replies.resolve` hold for Gemini too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .openai_api import SseEvent
from .replies import Outcome, Usage, resolve
from .specs import RecordedRequest, ReplySpec

__all__ = ["GEMINI_PATH", "as_chat_request", "error_body", "generate_body", "generate_events"]

#: `/v1beta/models/<model>:generateContent` or `...:streamGenerateContent`.
GEMINI_PATH = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^/:]+):(?P<method>\w+)$")

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Google's error document for an HTTP status."""
    name = _STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": name}}


def _text(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return "".join(
        str(part.get("text", "")) for part in parts if isinstance(part, Mapping) and "text" in part
    )


def as_chat_request(request: RecordedRequest) -> RecordedRequest:
    """The Chat Completions request that asks what this Gemini request asks."""
    match = GEMINI_PATH.match(request.path)
    model = match["model"] if match else "fake-model"
    body = request.body if isinstance(request.body, Mapping) else {}
    messages: list[dict[str, Any]] = []
    system = body.get("systemInstruction")
    if isinstance(system, Mapping):
        messages.append({"role": "system", "content": _text(system.get("parts"))})
    for turn in body.get("contents") or []:
        if isinstance(turn, Mapping):
            role = "assistant" if turn.get("role") == "model" else "user"
            messages.append({"role": role, "content": _text(turn.get("parts"))})
    chat: dict[str, Any] = {"model": model, "messages": messages}
    config = body.get("generationConfig")
    config = config if isinstance(config, Mapping) else {}
    if isinstance(config.get("maxOutputTokens"), int):
        chat["max_tokens"] = config["maxOutputTokens"]
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if isinstance(schema, Mapping):
        json_schema = {"schema": _lower_types(schema)}
        chat["response_format"] = {"type": "json_schema", "json_schema": json_schema}
    elif config.get("responseMimeType") == "application/json":
        chat["response_format"] = {"type": "json_object"}
    raw = json.dumps(chat).encode()
    return replace(request, path="/v1/chat/completions", body=chat, raw_body=raw)


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI-style schema (`"type": "OBJECT"`) as JSON Schema."""
    if isinstance(schema, Mapping):
        return {
            key: value.lower() if key == "type" and isinstance(value, str) else _lower_types(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    return schema


def answer(request: RecordedRequest, spec: ReplySpec | None) -> Outcome:
    """What the fake model answers this Gemini request."""
    return resolve(as_chat_request(request), spec)


def _usage(usage: Usage, *, thoughts: int) -> dict[str, Any]:
    """usageMetadata: the prompt count includes cached tokens; thoughts are counted apart
    from the candidates."""
    document: dict[str, Any] = {
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": usage.output_tokens,
        "totalTokenCount": usage.prompt_tokens + usage.output_tokens + thoughts,
    }
    if usage.cache_read_input_tokens:
        document["cachedContentTokenCount"] = usage.cache_read_input_tokens
    if thoughts:
        document["thoughtsTokenCount"] = thoughts
    return document


def _thoughts(request: RecordedRequest) -> int:
    """Thinking tokens: the request's thinkingBudget, when it sets one (a fixed count)."""
    config = request.body.get("generationConfig") if isinstance(request.body, Mapping) else None
    thinking = config.get("thinkingConfig") if isinstance(config, Mapping) else None
    budget = None
    if isinstance(thinking, Mapping):  # the SDK sends either spelling
        budget = thinking.get("thinkingBudget", thinking.get("thinking_budget"))
    return min(budget, 7) if isinstance(budget, int) and budget > 0 else 0


def _candidate(text: str, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "index": 0,
    }
    if finish is not None:
        candidate["finishReason"] = _FINISH.get(finish, "OTHER")
    return candidate


def generate_body(request: RecordedRequest, outcome: Outcome) -> dict[str, Any]:
    """A generateContent response."""
    return {
        "candidates": [_candidate(outcome.text or "", outcome.finish)],
        "usageMetadata": _usage(outcome.usage, thoughts=_thoughts(request)),
        "modelVersion": outcome.model,
        "responseId": f"resp_{outcome.ident[:20]}",
    }


def generate_events(request: RecordedRequest, outcome: Outcome) -> list[SseEvent]:
    """A streamGenerateContent?alt=sse response: one chunk per piece of text, the last
    with the finish reason; every chunk carries the usage so far (as Gemini does)."""
    pieces = outcome.text_chunks() or [""]
    events: list[SseEvent] = []
    thoughts = _thoughts(request)
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        usage = outcome.usage if last else replace(outcome.usage, output_tokens=index + 1)
        chunk = {
            "candidates": [_candidate(piece, outcome.finish if last else None)],
            "usageMetadata": _usage(usage, thoughts=thoughts),
            "modelVersion": outcome.model,
            "responseId": f"resp_{outcome.ident[:20]}",
        }
        events.append((None, json.dumps(chunk)))
    return events
