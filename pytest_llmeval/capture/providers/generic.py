"""Readers that accept any JSON value, shared by the adapters, and the adapter for unknown APIs.

Every reader here is total: whatever it is given (a missing key, a list where a dict
should be, a string where a number should be), it returns a value of its declared
type. The adapters are built from these readers only, which is what lets
`describe_call` promise never to raise on a malformed body.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pytest_llmeval.capture.providers.types import (
    CallSummary,
    SSEEvent,
    ToolCallSummary,
    ToolResultSummary,
)

# Request fields copied into CallSummary.params when they have the expected type.
_NUMBER_PARAMS = ("temperature", "top_p")
_COUNT_PARAMS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "seed")
# Where each API names the response format, first found first.
_RESPONSE_FORMAT_PATHS = (
    ("response_format", "type"),  # OpenAI chat
    ("text", "format", "type"),  # OpenAI Responses
    ("output_config", "format", "type"),  # Anthropic
    ("output_format", "type"),  # Anthropic structured-outputs beta
)


def as_dict(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """`value` if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_str(value: object) -> str | None:
    """`value` if it is a string, else None."""
    return value if isinstance(value, str) else None


def as_count(value: object) -> int | None:
    """A token count: a non-negative whole number, else None (never a bool or a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    return None


def dig(value: object, *keys: str) -> Any:
    """Follow object keys from `value`; None as soon as one is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def first_str(*values: object) -> str | None:
    """The first value that is a non-empty string."""
    for value in values:
        if isinstance(value, str) and value:
            return value
    return None


def dump_json(value: object) -> str:
    """`value` as JSON text, for rendering tool arguments; never raises.

    A value the API sent already parsed (Anthropic's `input` object) has no text of its
    own: its keys are sorted, so the live body and the cassette's copy of it (stored with
    sorted keys) render alike and a replay sees the text the recording saw."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def load_json(text: str) -> Any:
    """Parse one SSE `data:` payload; None when it is not JSON (e.g. `[DONE]`)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def event_payloads(events: Iterable[SSEEvent]) -> list[dict[str, Any]]:
    """The JSON objects carried by `events`, in order; other payloads are skipped."""
    payloads = []
    for event in events:
        data = event.data if isinstance(event.data, str) else ""
        if data.strip() == "[DONE]":
            continue
        payload = load_json(data)
        if isinstance(payload, dict):
            payloads.append(payload)
    return payloads


def render_call(name: object, arguments: object) -> str:
    """A tool call as `name(arguments json)`."""
    return f"{as_str(name) or '?'}({dump_json(arguments) if arguments is not None else ''})"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_arguments(raw: str) -> tuple[Any, bool]:
    """Tool-call arguments text -> (parsed JSON, True), or (None, False) when it is not
    strict JSON (NaN and Infinity are refused, as JSON has no such numbers)."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant), True
    except (ValueError, RecursionError):
        return None, False


def tool_call(
    call_id: object, name: object, arguments: object, *, text_input: bool = False
) -> ToolCallSummary:
    """A requested tool call. `arguments` is the JSON text the model sent (parsed here),
    or a value the API already parsed (Anthropic's `input`); a custom tool's free-text
    input (`text_input`) is kept as text and is valid by definition."""
    if isinstance(arguments, str) or arguments is None:
        raw = arguments or ""
        parsed, valid = (raw, True) if text_input else parse_arguments(raw)
    else:  # re-read from its text, so a NaN in a parsed body is refused like one in text
        raw = dump_json(arguments)
        parsed, valid = parse_arguments(raw)
    return ToolCallSummary(
        id=first_str(call_id),
        name=first_str(name) or "?",
        arguments=parsed,
        arguments_raw=raw,
        arguments_valid=valid,
    )


def tool_result(
    call_id: object, content: object, names: dict[str, str], *, is_error: object = False
) -> ToolResultSummary:
    """A tool result the request carried, named after the call with the same id in `names`."""
    ident = first_str(call_id)
    return ToolResultSummary(
        call_id=ident,
        name=names.get(ident) if ident is not None else None,
        content=content_text(content) if isinstance(content, (str, list)) else "",
        is_error=is_error is True,
    )


def tool_schema(schema: object) -> Any:
    """The JSON Schema a tool declared for its arguments; `{}` (anything) when it gave none."""
    return schema if isinstance(schema, dict) else {}


# Parts that carry no text are shown as a placeholder, so the prompt still reads right.
_PLACEHOLDERS = {
    "image": "[image]",
    "image_url": "[image]",
    "input_image": "[image]",
    "audio": "[audio]",
    "input_audio": "[audio]",
    "file": "[file]",
    "input_file": "[file]",
    "document": "[document]",
}


def part_text(part: object) -> str | None:
    """The text of one content part (text, refusal, or a placeholder for media)."""
    if isinstance(part, str):
        return part
    kind = as_str(dig(part, "type"))
    if kind in _PLACEHOLDERS:
        return _PLACEHOLDERS[kind]
    return first_str(dig(part, "text"), dig(part, "refusal"))


def content_text(content: object) -> str:
    """The text of a message's content: a string, or a list of parts joined by newlines."""
    if isinstance(content, str):
        return content
    return "\n".join(text for part in as_list(content) if (text := part_text(part)))


def role_line(role: object, pieces: Sequence[str]) -> list[str]:
    """A `role: text` line for the non-empty pieces of one message (none if all are empty)."""
    text = "\n".join(piece for piece in pieces if piece).rstrip()
    return [f"{as_str(role) or '?'}: {text}"] if text else []


def join_lines(lines: Sequence[str]) -> str | None:
    """Lines joined by newlines, or None when there are none."""
    return "\n".join(lines) if lines else None


def error_message(body: object) -> str | None:
    """The message of an error body, for OpenAI's, Anthropic's and Google's shapes."""
    error = dig(body, "error")
    if isinstance(error, str):
        return error or None
    if isinstance(error, dict):
        return first_str(
            error.get("message"), error.get("type"), error.get("code"), error.get("status")
        )
    return None


def http_error(status: int, message: str | None) -> str | None:
    """The error to report: the body's message, else `HTTP <status>` for a 4xx/5xx."""
    if message is not None:
        return message
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        return f"HTTP {status}"
    return None


def request_params(request: dict[str, Any]) -> dict[str, Any]:
    """The sampling parameters of a request, for every API: only those present and well typed."""
    params: dict[str, Any] = {}
    for key in _NUMBER_PARAMS:
        value = request.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            params[key] = value
    for key in _COUNT_PARAMS:
        value = request.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            params[key] = value
    if isinstance(request.get("stream"), bool):
        params["stream"] = request["stream"]
    tools = [name for tool in as_list(request.get("tools")) if (name := _tool_name(tool))]
    if tools:
        params["tools"] = tools
    response_format = first_str(
        *(dig(request, *path) for path in _RESPONSE_FORMAT_PATHS if path[0] in request)
    )
    if response_format is not None:
        params["response_format"] = response_format
    return params


def _tool_name(tool: object) -> str | None:
    # Function tools are named; built-in tools (web_search, code_interpreter) only typed.
    return first_str(dig(tool, "name"), dig(tool, "function", "name"), dig(tool, "type"))


_MODEL_IN_PATH = re.compile(r"/models/([^/:]+)")


def describe_unknown(
    *,
    provider: str,
    api_url: str | None,
    request_body: object,
    status: int,
    response_body: object,
    events: Sequence[SSEEvent] | None,
) -> CallSummary:
    """What can be read from a call to an API we have no adapter for: model, usage, error."""
    request = as_dict(request_body)
    bodies = event_payloads(events) if events is not None else [as_dict(response_body)]
    model = requested = first_str(request.get("model"))
    if requested is None and api_url is not None:
        match = _MODEL_IN_PATH.search(api_url)  # Google: /v1beta/models/<model>:generateContent
        requested = match.group(1) if match else None
    input_tokens = output_tokens = None
    message = request_id = response_id = None
    for body in bodies:
        model = first_str(body.get("model"), body.get("modelVersion"), model)
        usage = as_dict(body.get("usage")) or as_dict(body.get("usageMetadata"))
        for key in ("input_tokens", "prompt_tokens", "promptTokenCount"):
            input_tokens = as_count(usage.get(key)) if key in usage else input_tokens
        for key in ("output_tokens", "completion_tokens", "candidatesTokenCount"):
            output_tokens = as_count(usage.get(key)) if key in usage else output_tokens
        message = message or error_message(body)
        request_id = request_id or first_str(body.get("request_id"))
        response_id = response_id or first_str(body.get("id"), body.get("responseId"))
    return CallSummary(
        provider=provider,
        api="unknown",
        api_url=api_url,
        model=model or requested,
        requested_model=requested,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        params=request_params(request),
        error=http_error(status, message),
        request_id=request_id,
        response_id=response_id,
    )
