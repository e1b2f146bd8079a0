"""Decide what the fake model answers: a pure function of the request (and a script)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .schema import example_from_schema
from .specs import RecordedRequest, ReplySpec, cached_prefix_words

__all__ = ["DEFAULT_REPLY_WORDS", "Outcome", "ResolvedToolCall", "Usage", "default_text", "resolve"]

DEFAULT_REPLY_WORDS = 64
"""The default reply echoes at most this many words of the last user message."""

_CHUNKS = re.compile(r"\s*\S+\s*|\s+")


@dataclass(frozen=True)
class Usage:
    """Token counts of one reply; `input_tokens` excludes cache reads and writes."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """All input tokens, cached or not (OpenAI's `prompt_tokens`)."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


@dataclass(frozen=True)
class ResolvedToolCall:
    """A tool call ready to render: a deterministic id, the name and the arguments text."""

    id: str
    name: str
    arguments: str
    scripted_id: str | None = None

    def wire_id(self, prefix: str) -> str:
        """The call id to send: the scripted one, else `prefix` + the deterministic id."""
        return self.scripted_id or f"{prefix}{self.id}"

    def parsed_arguments(self) -> Any:
        """The arguments as JSON, or their text when it is not JSON (scripted malformed)."""
        try:
            return json.loads(self.arguments)
        except ValueError:
            return self.arguments


@dataclass(frozen=True)
class Outcome:
    """The reply to render: text or tool calls, finish reason ("stop", "length", "tool_calls"...)."""

    ident: str
    model: str
    text: str | None
    tool_calls: tuple[ResolvedToolCall, ...]
    finish: str
    usage: Usage

    def text_chunks(self) -> list[str]:
        """The text split into word-sized stream deltas that join back to the text."""
        return _CHUNKS.findall(self.text or "")


def default_text(request: RecordedRequest) -> str:
    """The default answer: a fixed phrase echoing the start of the last user message."""
    words = request.last_user_text.split()
    echoed = " ".join(words[:DEFAULT_REPLY_WORDS]) if words else "(no user text)"
    return f"Fake reply to: {echoed}"


def cache_key(request: RecordedRequest) -> tuple[str, int] | None:
    """Identify the Anthropic prompt prefix marked with `cache_control`, if any."""
    if request.provider != "anthropic":
        return None
    prefix = cached_prefix_words(request.body)
    if prefix <= 0:
        return None
    words = request.text.split()[:prefix]
    digest = hashlib.sha256(f"{request.model}\n{' '.join(words)}".encode()).hexdigest()
    return digest, len(words)


def resolve(
    request: RecordedRequest,
    spec: ReplySpec | None,
    *,
    cache_read: int = 0,
    cache_write: int = 0,
) -> Outcome:
    """Turn a request (and an optional scripted reply) into the Outcome to render."""
    body: Mapping[str, Any] = request.body if isinstance(request.body, Mapping) else {}
    ident = hashlib.sha256(
        request.raw_body or json.dumps(body, sort_keys=True).encode()
    ).hexdigest()
    tools = _tools(request.api, body)
    forced = _forced_tool(request.api, body, tools)
    text: str | None = None
    calls: list[tuple[str, Any, str | None]] = []
    if spec is not None and (spec.tool_calls or spec.content is not None):
        text = spec.content
        calls = [
            (c.name, c.arguments if isinstance(c.arguments, str) else dict(c.arguments), c.id)
            for c in spec.tool_calls
        ]
    elif forced is not None:
        schema = tools.get(forced) or {"type": "object"}
        calls = [(forced, example_from_schema(schema), None)]
    else:
        schema = _output_schema(request.api, body)
        if schema is not None:
            text = json.dumps(example_from_schema(schema), ensure_ascii=False)
        elif _wants_json_object(request.api, body):
            text = json.dumps({"answer": default_text(request)}, ensure_ascii=False)
        else:
            text = default_text(request)
    finish = "tool_calls" if calls else "stop"
    limit = _max_tokens(request.api, body)
    if text is not None and limit is not None and len(text.split()) > limit:
        text = "".join(_truncate_words(text, limit))
        finish = "length"
    if spec is not None and spec.finish_reason is not None:
        finish = spec.finish_reason
    resolved = tuple(
        ResolvedToolCall(
            id=f"{index}{ident}"[:24],
            name=name,
            arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
            scripted_id=scripted_id,
        )
        for index, (name, arguments, scripted_id) in enumerate(calls)
    )
    output_words = len((text or "").split()) + sum(len(c.arguments.split()) for c in resolved)
    total = len(request.text.split())
    usage = Usage(
        input_tokens=max(total - cache_read - cache_write, 0),
        output_tokens=output_words,
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_write,
    )
    if spec is not None and spec.usage:
        usage = Usage(**{**usage.__dict__, **spec.usage})
    return Outcome(
        ident=ident,
        model=(spec.model if spec is not None and spec.model else None)
        or request.model
        or "fake-model",
        text=text,
        tool_calls=resolved,
        finish=finish,
        usage=usage,
    )


def _truncate_words(text: str, limit: int) -> list[str]:
    kept: list[str] = []
    for chunk in _CHUNKS.findall(text):
        if chunk.strip() and sum(1 for k in kept if k.strip()) >= limit:
            break
        kept.append(chunk)
    return kept


def _tools(api: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's function tools as name -> JSON schema of the arguments."""
    found: dict[str, Any] = {}
    for tool in body.get("tools") or []:
        if not isinstance(tool, Mapping):
            continue
        if api == "openai.chat" and isinstance(tool.get("function"), Mapping):
            function = tool["function"]
            found[str(function.get("name"))] = function.get("parameters") or {"type": "object"}
        elif api == "openai.responses" and tool.get("type") == "function":
            found[str(tool.get("name"))] = tool.get("parameters") or {"type": "object"}
        elif api == "anthropic.messages" and "input_schema" in tool:
            found[str(tool.get("name"))] = tool["input_schema"]
    return found


def _forced_tool(api: str, body: Mapping[str, Any], tools: Mapping[str, Any]) -> str | None:
    """The tool the request forces the model to call, if it forces one."""
    choice = body.get("tool_choice")
    first = next(iter(tools), None)
    if api.startswith("openai"):
        if choice == "required":
            return first
        if isinstance(choice, Mapping) and choice.get("type") == "function":
            function = choice.get("function")
            name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
            return str(name) if name else None
    elif isinstance(choice, Mapping):
        if choice.get("type") == "tool":
            return str(choice.get("name"))
        if choice.get("type") == "any":
            return first
    return None


def _output_format(api: str, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if api == "openai.chat":
        value = body.get("response_format")
    elif api == "openai.responses":
        text = body.get("text")
        value = text.get("format") if isinstance(text, Mapping) else None
    else:
        config = body.get("output_config")
        value = config.get("format") if isinstance(config, Mapping) else None
        value = value or body.get("output_format")
    return value if isinstance(value, Mapping) else None


def _output_schema(api: str, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema the reply text must satisfy, for each API's structured output."""
    fmt = _output_format(api, body)
    if fmt is None or fmt.get("type") != "json_schema":
        return None
    if api == "openai.chat":
        wrapper = fmt.get("json_schema")
        schema = wrapper.get("schema") if isinstance(wrapper, Mapping) else None
    else:
        schema = fmt.get("schema")
    return schema if isinstance(schema, Mapping) else {"type": "object"}


def _wants_json_object(api: str, body: Mapping[str, Any]) -> bool:
    fmt = _output_format(api, body)
    return fmt is not None and fmt.get("type") == "json_object"


def _max_tokens(api: str, body: Mapping[str, Any]) -> int | None:
    keys = {
        "openai.chat": ("max_completion_tokens", "max_tokens"),
        "openai.responses": ("max_output_tokens",),
        "anthropic.messages": ("max_tokens",),
    }.get(api, ())
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
