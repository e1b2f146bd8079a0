"""Value objects of the fake provider: scripted replies, faults and recorded requests."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FAULT_HEADER",
    "FAULT_KINDS",
    "LATIN1_HEADER",
    "cached_prefix_words",
    "Fault",
    "RecordedRequest",
    "ReplyHandler",
    "ReplySpec",
    "ToolCall",
    "make_fault",
    "parse_fault_header",
]

FAULT_HEADER = "x-fake-fault"
"""Request header that triggers a fault for that request: `<kind>[;key=value...]`."""

FAULT_KINDS = frozenset(
    {
        "slow", "timeout", "malformed", "empty", "wrong_content_type", "cut", "hangup",
        "stall", "early_end", "latin1_header", "raw",
    }
)  # fmt: skip
"""Named fault kinds; any HTTP error status from 400 to 599 (e.g. "429") is a kind too.

`raw` answers with exact bytes: `payload` (base64), `content_type` and status `code`
(200 unless given); a `text/event-stream` payload is sent one event per chunk."""

LATIN1_HEADER = ("x-region", "Z\u00fcrich")
"""The header the `latin1_header` fault adds, its value sent as the Latin-1 bytes b"Z\\xfcrich"."""

_USAGE_KEYS = frozenset(
    {"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}
)


@dataclass(frozen=True)
class ToolCall:
    """A tool call the fake model makes: the tool's name, its arguments and optionally its id.

    `arguments` is a JSON object (sent serialised), or a string sent verbatim as the
    arguments text: `ToolCall("search", '{"query": "unterminated')` makes the model send
    malformed JSON (on Anthropic, the `input_json_delta` text of a stream, or a string
    `input` unstreamed, as a faulty compatible server would). `id` replaces the
    deterministic call id (`call_...`, `toolu_...`) the server otherwise makes up.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ReplySpec:
    """What the fake model answers instead of its default reply.

    Give `text`, or `json` (sent as the text of the JSON document), and/or `tool_calls`
    (several make parallel calls; with text too, the text comes first, as a model that
    says what it is about to do); with none of them the default reply is used.
    `finish_reason` uses OpenAI's words ("stop", "length", "tool_calls",
    "content_filter"), mapped for the other APIs.
    `usage` overrides token counts: keys `input_tokens` (uncached input),
    `output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`.
    `model` is the model the response reports instead of the requested one (as Azure
    OpenAI reports the model behind a deployment, or a gateway the model it routed to).
    """

    text: str | None = None
    json: Any = None
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: str | None = None
    usage: Mapping[str, int] | None = None
    #: The model the reply reports (a dated snapshot, say); default: the requested one.
    model: str | None = None

    def __post_init__(self) -> None:
        if self.usage is not None and not set(self.usage) <= _USAGE_KEYS:
            unknown = sorted(set(self.usage) - _USAGE_KEYS)
            raise ValueError(f"ReplySpec.usage: unknown keys {unknown}; use {sorted(_USAGE_KEYS)}")
        calls = tuple(c if isinstance(c, ToolCall) else ToolCall(**c) for c in self.tool_calls)
        object.__setattr__(self, "tool_calls", calls)

    @property
    def content(self) -> str | None:
        """The text the reply carries, with `json` serialised compactly."""
        if self.text is not None:
            return self.text
        if self.json is not None:
            return json.dumps(self.json, ensure_ascii=False)
        return None


ReplyHandler = Callable[["RecordedRequest"], "ReplySpec | None"]
"""A callable that scripts replies: gets the request, returns a ReplySpec or None (default)."""


@dataclass(frozen=True)
class Fault:
    """A failure the server produces for one request instead of its normal reply.

    `retry_after` / `retry_after_ms` set those headers on error statuses, `should_retry`
    sets `x-should-retry`; `seconds` is the delay of `slow` and the longest wait of
    `timeout`; `after` is how many events (or half the body) `cut` sends before closing.

    Transport faults: `timeout` never answers; `hangup` closes the connection without a
    response; `cut` drops it mid-body; `stall` sends `after` events of a stream and then
    waits like `timeout` (a read timeout mid-stream); `early_end` ends a stream cleanly
    (a well-formed end of the chunked body) after `after` events, before its protocol end
    (`data: [DONE]`, `response.completed`, `message_stop`); a plain reply is sent whole.
    `latin1_header` sends the normal reply with the header `LATIN1_HEADER`, whose value
    is not ASCII (Latin-1 bytes, as RFC 9110 allows for obsolete text).
    """

    kind: str
    retry_after: float | None = None
    retry_after_ms: float | None = None
    should_retry: bool | None = None
    seconds: float | None = None
    after: int = 1
    message: str | None = None
    payload: str | None = None
    content_type: str = "application/json"
    code: int = 200

    @property
    def status(self) -> int | None:
        """The HTTP status of an error-status fault, None for the other kinds."""
        return int(self.kind) if self.kind.isdigit() else None


def make_fault(kind: str | int, **options: Any) -> Fault:
    """Build a validated Fault from a kind and loosely typed options (header or JSON)."""
    kind = str(kind).strip()
    if not (kind in FAULT_KINDS or (kind.isdigit() and 400 <= int(kind) <= 599)):
        raise ValueError(
            f"fake provider: unknown fault kind {kind!r}; "
            f"use an HTTP status 400-599 or one of {sorted(FAULT_KINDS)}"
        )
    converters: dict[str, Callable[[Any], Any]] = {
        "retry_after": float,
        "retry_after_ms": float,
        "should_retry": _to_bool,
        "seconds": float,
        "delay": float,
        "after": int,
        "message": str,
        "payload": str,
        "content_type": str,
        "code": int,
    }
    values: dict[str, Any] = {}
    for key, value in options.items():
        if key not in converters:
            raise ValueError(
                f"fake provider: fault {kind!r} got unknown option {key!r}; "
                f"use {sorted(converters)}"
            )
        values["seconds" if key == "delay" else key] = (
            None if value is None else converters[key](value)
        )
    return Fault(kind=kind, **values)


def parse_fault_header(value: str) -> Fault:
    """Parse an `x-fake-fault: <kind>[;key=value...]` header value into a Fault."""
    kind, *pairs = [part.strip() for part in value.split(";") if part.strip()]
    options: dict[str, str] = {}
    for pair in pairs:
        key, separator, raw = pair.partition("=")
        if not separator:
            raise ValueError(f"fake provider: bad x-fake-fault option {pair!r}, expected key=value")
        options[key.strip()] = raw.strip()
    return make_fault(kind, **options)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received: method, path, query, headers and parsed JSON body."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any
    raw_body: bytes = b""
    received_at: float = 0.0

    @property
    def api(self) -> str:
        """Which API the path belongs to, e.g. "openai.chat" or "anthropic.messages"."""
        path = self.path.rstrip("/")
        for suffix, name in (
            ("/messages/count_tokens", "anthropic.count_tokens"),
            ("/messages", "anthropic.messages"),
            ("/chat/completions", "openai.chat"),
            ("/responses", "openai.responses"),
            ("/embeddings", "openai.embeddings"),
        ):
            if path.endswith(suffix):
                return name
        return "unknown"

    @property
    def provider(self) -> str:
        """The provider the path belongs to: "anthropic" for Messages paths, else "openai"."""
        return "anthropic" if self.api.startswith("anthropic") else "openai"

    @property
    def model(self) -> str:
        """The `model` the request asked for (empty when absent)."""
        body = self.body if isinstance(self.body, Mapping) else {}
        return str(body.get("model") or "")

    @property
    def stream(self) -> bool:
        """Whether the request asked for a streamed (SSE) response."""
        return isinstance(self.body, Mapping) and bool(self.body.get("stream"))

    @property
    def last_user_text(self) -> str:
        """The text of the last user turn (Chat, Responses or Messages shape)."""
        body = self.body if isinstance(self.body, Mapping) else {}
        turns = body.get("messages")
        if turns is None:
            turns = body.get("input")
        if isinstance(turns, str):
            return turns
        for turn in reversed(turns or []):
            if isinstance(turn, Mapping) and turn.get("role") == "user":
                text = _text_of(turn.get("content"), text_only=True)
                return text if text else _text_of(turn.get("content"))
        return ""

    @property
    def tool_results(self) -> list[tuple[str, str]]:
        """The tool results the request carries back, as (call id, text) in order: Chat
        `tool` messages, Responses `function_call_output` items, Messages `tool_result`
        blocks. Empty on an agent's first turn, so a `match` on it scripts the loop."""
        body = self.body if isinstance(self.body, Mapping) else {}
        found: list[tuple[str, str]] = []
        turns = body.get("messages")
        turns = body.get("input") if turns is None else turns
        for turn in turns if isinstance(turns, list) else []:
            if not isinstance(turn, Mapping):
                continue
            if turn.get("role") == "tool":
                found.append((str(turn.get("tool_call_id")), _text_of(turn.get("content"))))
            elif turn.get("type") == "function_call_output":
                found.append((str(turn.get("call_id")), _text_of(turn.get("output"))))
            content = turn.get("content")
            for block in content if isinstance(content, list) else []:
                if isinstance(block, Mapping) and block.get("type") == "tool_result":
                    found.append((str(block.get("tool_use_id")), _text_of(block.get("content"))))
        return found

    @property
    def text(self) -> str:
        """All prompt text of the request: system, instructions and every message."""
        body = self.body if isinstance(self.body, Mapping) else {}
        parts = [_text_of(body.get(key)) for key in ("system", "instructions", "messages", "input")]
        return "\n".join(part for part in parts if part)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of the request, for the control endpoint."""
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "body": self.body,
            "received_at": self.received_at,
        }


def _text_of(value: Any, *, text_only: bool = False) -> str:
    """Concatenate the human-readable text inside a content value of any of the APIs."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "\n".join(t for t in (_text_of(v, text_only=text_only) for v in value) if t)
    if not isinstance(value, Mapping):
        return ""
    if isinstance(value.get("text"), str):
        return str(value["text"])
    if text_only:
        return _text_of(value.get("content"), text_only=True) if "role" in value else ""
    for key in ("content", "output"):
        if key in value:
            return _text_of(value[key])
    for key in ("input", "arguments"):
        if key in value:
            raw = value[key]
            return raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True)
    return ""


def cached_prefix_words(body: Any) -> int:
    """Words of the Anthropic prompt (system, then messages) up to its last `cache_control` block."""
    if not isinstance(body, Mapping):
        return 0
    blocks: list[Any] = []
    system = body.get("system")
    blocks.extend(system if isinstance(system, list) else [{"text": system or ""}])
    for message in body.get("messages") or []:
        if isinstance(message, Mapping):
            content = message.get("content")
            blocks.extend(content if isinstance(content, list) else [{"text": content or ""}])
    words = 0
    cached = 0
    for block in blocks:
        if isinstance(block, Mapping):
            words += len(_text_of(block).split())
            if block.get("cache_control"):
                cached = words
    return cached
