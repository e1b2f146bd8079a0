"""Adapter for Gemini's `generateContent` and `streamGenerateContent` (the Gemini
Developer API the google-genai SDK calls: `POST .../models/<model>:generateContent`).

Gemini's `usageMetadata` counts the prompt with its cached part included
(`promptTokenCount` includes `cachedContentTokenCount`) and the thinking apart from the
answer (`thoughtsTokenCount` beside `candidatesTokenCount`); the summary's convention
is the other way round on both, so the cached tokens are taken off the input and the
thinking tokens added to the output (and given on their own as `reasoning_tokens`).
A stream (`?alt=sse`) is a series of partial responses: their texts are joined, and
the last usage and finish reason win. The model is the response's `modelVersion`,
else the one in the URL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pytest_llmeval.capture.providers.generic import (
    as_count,
    as_dict,
    as_list,
    as_str,
    dig,
    error_message,
    event_payloads,
    first_str,
    http_error,
    join_lines,
    load_json,
    render_call,
    role_line,
)
from pytest_llmeval.capture.providers.types import CallSummary, SSEEvent

#: The path of a Gemini call: the model and the method (`generateContent`, ...).
GEMINI_PATH = re.compile(
    r"/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$"
)

# generationConfig -> the summary's parameter names (those of the other adapters).
_PARAMS = {
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "maxOutputTokens": "max_output_tokens",
    "seed": "seed",
}


def describe_generate_content(
    *,
    provider: str,
    api_url: str | None,
    request_body: object,
    status: int,
    response_body: object,
    events: Sequence[SSEEvent] | None,
) -> CallSummary:
    """Summarise a generateContent or streamGenerateContent call; thought parts are left
    out of the output text."""
    request = as_dict(request_body)
    match = GEMINI_PATH.search(api_url or "")
    requested = match["model"] if match else None
    stream = events is not None
    responses = event_payloads(events) if events is not None else [as_dict(response_body)]
    usage: dict[str, Any] = {}
    model = response_id = finish = message = None
    texts: list[str] = []
    calls: list[str] = []
    for response in responses:
        usage = as_dict(response.get("usageMetadata")) or usage
        model = first_str(response.get("modelVersion"), model)
        response_id = first_str(response.get("responseId"), response_id)
        message = message or error_message(response)
        candidate = as_dict(next(iter(as_list(response.get("candidates"))), None))
        finish = first_str(candidate.get("finishReason"), finish)
        for part in as_list(dig(candidate, "content", "parts")):
            call = dig(part, "functionCall")
            if isinstance(call, dict):
                calls.append(render_call(call.get("name"), call.get("args")))
            else:
                texts += _part_pieces(part)  # a stream's text arrives in pieces
    prompt = as_count(usage.get("promptTokenCount"))
    cached = as_count(usage.get("cachedContentTokenCount"))
    tool_prompt = as_count(usage.get("toolUsePromptTokenCount")) or 0
    answer = as_count(usage.get("candidatesTokenCount"))
    thoughts = as_count(usage.get("thoughtsTokenCount"))
    input_tokens = None if prompt is None else max(prompt + tool_prompt - (cached or 0), 0)
    output_tokens = None
    if answer is not None or thoughts is not None:
        output_tokens = (answer or 0) + (thoughts or 0)
    params = _params(request)
    if stream:
        params["stream"] = True
    return CallSummary(
        provider=provider,
        api="generate_content",
        api_url=api_url,
        model=first_str(model, requested),
        requested_model=requested,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached if prompt is not None else None,
        reasoning_tokens=thoughts,
        params=params,
        input_text=join_lines(_prompt(request)),
        output_text=join_lines(([("".join(texts))] if texts else []) + calls),
        stop_reason=finish,
        error=http_error(status, message),
        response_id=response_id,
    )


def stream_end_missing(last: SSEEvent) -> str | None:
    """Why a streamGenerateContent stream whose last event is `last` is incomplete, or
    None: its last chunk gives the finish reason (or blocks the prompt, or is an error)."""
    payload = as_dict(load_json(last.data))
    if "error" in payload or dig(payload, "promptFeedback", "blockReason") is not None:
        return None
    for candidate in as_list(payload.get("candidates")):
        if dig(candidate, "finishReason") is not None:
            return None
    return (
        "the server ended the stream before a chunk with its finishReason: the answer is cut short"
    )


def _params(request: dict[str, Any]) -> dict[str, Any]:
    config = as_dict(request.get("generationConfig"))
    params: dict[str, Any] = {}
    for key, name in _PARAMS.items():
        value = config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            params[name] = value
    tools = [
        tool_name
        for tool in as_list(request.get("tools"))
        for declaration in as_list(dig(tool, "functionDeclarations"))
        if (tool_name := as_str(dig(declaration, "name")))
    ]
    if tools:
        params["tools"] = tools
    if config.get("responseSchema") or config.get("responseJsonSchema"):
        params["response_format"] = "json_schema"
    elif config.get("responseMimeType") == "application/json":
        params["response_format"] = "json_object"
    return params


def _prompt(request: dict[str, Any]) -> list[str]:
    system = dig(request, "systemInstruction", "parts")
    lines = role_line("system", [piece for part in as_list(system) for piece in _part_pieces(part)])
    for content in as_list(request.get("contents")):
        role = "assistant" if dig(content, "role") == "model" else as_str(dig(content, "role"))
        role = role or "user"
        pieces: list[str] = []
        for part in as_list(dig(content, "parts")):
            response = dig(part, "functionResponse")
            if isinstance(response, dict):
                lines += role_line(role, pieces)
                lines += role_line(
                    "tool", [render_call(response.get("name"), response.get("response"))]
                )
                pieces = []
            else:
                pieces += _part_pieces(part)
        lines += role_line(role, pieces)
    return lines


def _part_pieces(part: object) -> list[str]:
    """The text of one part: text (not a thought), a function call, or a media placeholder."""
    if dig(part, "thought") is True:
        return []
    call = dig(part, "functionCall")
    if isinstance(call, dict):
        return [render_call(call.get("name"), call.get("args"))]
    text = as_str(dig(part, "text"))
    if text is not None:
        return [text]
    if isinstance(dig(part, "inlineData"), dict) or isinstance(dig(part, "fileData"), dict):
        return ["[file]"]
    return []
