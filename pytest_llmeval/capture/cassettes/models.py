"""The cassette file format (schema versions 1 and 2): pydantic models and the SSE grammar.

A cassette is one JSON file per test holding the HTTP exchanges the test made. Replay
serves `response.body_text` (or the `raw` text of each SSE event) byte for byte; the
parsed `body` / `event` / `data` fields sit beside them only so that a human reviewing
a diff can read them, and replay never looks at them.

Version 2 adds what version 1 could not hold: header values that are not UTF-8
(`headers_latin1`), an exchange that failed in the transport before any response
(`response: null` with `meta.failure`), and how a body that ended early ended
(`meta.failure` beside `meta.truncated`). A cassette is written with the lowest version
that holds it, so one without any of these stays a version 1 file, byte for byte.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from pytest_llmeval.core.factories import empty_list
from pytest_llmeval.core.frozen import FrozenModel
from pytest_llmeval.core.vocabulary import Role
from pytest_llmeval.core.wire import parse_json, parse_sse_event

if TYPE_CHECKING:
    from pytest_llmeval.core.redact import Redactor

#: The newest cassette schema version this code reads and writes (it reads 1 and 2).
SCHEMA_VERSION = 2

#: How a stream cut short in a version 1 cassette ends on replay (v1 kept no class).
LEGACY_CUT = "RemoteProtocolError"


_LATIN1 = (
    "Headers whose value bytes are not UTF-8: their value is the Latin-1 decoding of the "
    "bytes (one character per byte), so the exact bytes come back. Other values are UTF-8 "
    "text. Omitted when empty (schema 2)."
)


class _Headers(FrozenModel):
    """Header storage shared by both sides: text values, with non-UTF-8 ones marked."""

    headers: dict[str, str]
    headers_latin1: list[str]

    def header_bytes(self) -> list[tuple[bytes, bytes]]:
        """The headers as the bytes that were sent or received (what replay serves)."""
        latin1 = set(self.headers_latin1)
        return [
            (name.encode("latin-1"), value.encode("latin-1" if name in latin1 else "utf-8"))
            for name, value in self.headers.items()
        ]

    @model_serializer(mode="wrap")
    def _omit_empty_marks(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and not data.get("headers_latin1"):
            data.pop("headers_latin1", None)  # a version 1 file has no such key
        return data


def _check_base64(value: Any) -> None:
    """Refuse what replay could not decode, so a hand-edited body fails at load, naming
    the file and the field, not as a binascii traceback mid-test."""
    if not isinstance(value, str):
        raise ValueError(f"base64 text expected, found {type(value).__name__}")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not valid base64 ({error})") from None


class RecordedRequest(_Headers):
    """The request side of an interaction, redacted: what matching compares."""

    method: str = Field(description="HTTP method, upper case.")
    url: str = Field(description="Full URL; secret query parameters replaced by <redacted>.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Request headers, lower-cased names, secrets and volatile headers dropped.",
    )
    headers_latin1: list[str] = Field(default_factory=empty_list, description=_LATIN1)
    body_format: Literal["empty", "json", "text", "base64"] = Field(
        default="empty",
        description="How `body` is stored: parsed JSON, text, base64 of binary bytes, or none.",
    )
    body: Any = Field(
        default=None,
        validate_default=True,
        description="The request body, redacted, per `body_format`.",
    )

    @field_validator("body")
    @classmethod
    def _base64_body_decodes(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("body_format") == "base64":
            _check_base64(value)
        return value


class SSEEvent(FrozenModel):
    """One server-sent event of a streamed response, with its arrival time."""

    offset_s: float = Field(description="Seconds from sending the request to this event.")
    raw: str = Field(description="Exact event text, including its terminating blank line.")
    event: str | None = Field(default=None, description="The `event:` field (informational).")
    data: Any = Field(
        default=None, description="The `data:` field, parsed as JSON when it is (informational)."
    )


class RecordedResponse(_Headers):
    """The response side of an interaction: exact bytes for replay, parsed forms for people."""

    status: int = Field(description="HTTP status code.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Response headers, lower-cased; volatile, transport and secret ones dropped.",
    )
    headers_latin1: list[str] = Field(default_factory=empty_list, description=_LATIN1)
    body_encoding: Literal["utf-8", "base64"] = Field(
        default="utf-8", description="How `body_text` holds the body bytes."
    )
    body_text: str | None = Field(
        default=None,
        description="The exact decoded body bytes (what replay serves); None for SSE responses.",
    )
    body: Any = Field(
        default=None, description="The body parsed as JSON, when it is (informational only)."
    )
    events: list[SSEEvent] | None = Field(
        default=None, description="For text/event-stream responses: every event, in order."
    )

    @field_validator("body_text")
    @classmethod
    def _base64_body_decodes(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("body_encoding") == "base64":
            _check_base64(value)
        return value


class InteractionMeta(BaseModel):
    """Facts about how an interaction was recorded; extra keys come from the plugin."""

    model_config = ConfigDict(extra="allow", frozen=True)

    role: Role = Field(default="app", description="Who made the call.")
    model: str | None = Field(default=None, description="`model` of the request body, if any.")
    latency_s: float | None = Field(default=None, description="Request sent to last byte.")
    ttft_s: float | None = Field(default=None, description="Request sent to first SSE event.")
    recorded_at: str | None = Field(default=None, description="UTC ISO 8601 time of recording.")
    truncated: bool = Field(
        default=False,
        description=(
            "The body ended early: the consumer stopped, the transport failed, or the server "
            "ended a stream before its protocol end (`data: [DONE]`, `message_stop`, ...)."
        ),
    )
    error: str | None = Field(
        default=None, description="Why it was truncated, or why the exchange failed."
    )
    failure: str | None = Field(
        default=None,
        description=(
            "The httpx transport error (its class name: ReadTimeout, ConnectError, "
            "RemoteProtocolError, ...) that ended the exchange, before any response "
            "(`response` is then null) or in the middle of the body; replay raises the same "
            "class at the same point. Null when none did. Written only when set or when "
            "`truncated` (schema 2); a version 1 cut stream reads as RemoteProtocolError."
        ),
    )

    @model_serializer(mode="wrap")
    def _omit_unset_failure(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("failure") is None and not self.truncated:
            data.pop("failure", None)  # a version 1 file has no such key
        return data


class Interaction(FrozenModel):
    """One HTTP request and its response (or the transport failure that came instead)."""

    request: RecordedRequest = Field(description="What was sent.")
    response: RecordedResponse | None = Field(
        description="What came back; null when the transport failed first (`meta.failure`)."
    )
    meta: InteractionMeta = Field(
        default_factory=InteractionMeta, description="Timings, role and annotations."
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_cut(cls, data: Any) -> Any:
        """A version 1 stream marked truncated ended in a transport error of no recorded
        class, and replayed as RemoteProtocolError: say so, so that replay stays the same."""
        if not isinstance(data, dict):
            return data
        meta, response = data.get("meta"), data.get("response")
        if (
            isinstance(meta, dict)
            and meta.get("truncated") is True
            and "failure" not in meta
            and isinstance(response, dict)
            and response.get("events") is not None
        ):
            return {**data, "meta": {**meta, "failure": LEGACY_CUT}}
        return data

    @model_validator(mode="after")
    def _failure_without_response(self) -> Interaction:
        if self.response is None and self.meta.failure is None:
            raise ValueError("an interaction without a response needs meta.failure")
        return self

    @property
    def is_stream(self) -> bool:
        """Whether the response is a server-sent event stream."""
        return self.response is not None and self.response.events is not None

    @property
    def needs_version(self) -> int:
        """The lowest cassette schema version that can hold this interaction."""
        response = self.response
        if (
            response is None
            or response.headers_latin1
            or self.request.headers_latin1
            or self.meta.failure is not None
            or self.meta.truncated
        ):
            return 2
        return 1


class Cassette(FrozenModel):
    """A cassette file: the version first, then the interactions in recorded order."""

    schema_version: int = Field(
        default=SCHEMA_VERSION, description="Version of this file format; always first."
    )
    interactions: list[Interaction] = Field(
        default_factory=empty_list, description="Recorded exchanges, in the order they were made."
    )

    @model_validator(mode="after")
    def _lowest_version(self) -> Cassette:
        """A cassette built without a version gets the lowest one that holds it (files
        read give theirs), so a cassette using nothing new stays a version 1 file."""
        if "schema_version" not in self.model_fields_set:
            needed = max((item.needs_version for item in self.interactions), default=1)
            object.__setattr__(self, "schema_version", needed)  # frozen: set once, here
        return self


# Events after which a stream is complete, so a consumer closing it then (as openai's SDK
# does right after `[DONE]`) has not cut it short.
_TERMINAL_EVENTS = frozenset(
    {"message_stop", "response.completed", "response.failed", "response.incomplete", "error"}
)


def is_terminal_event(raw: bytes) -> bool:
    """Whether an SSE event ends its stream (`data: [DONE]`, message_stop, ...)."""
    name, data = parse_sse_event(raw.decode("utf-8", "replace"))
    if data == "[DONE]" or name in _TERMINAL_EVENTS:
        return True
    return isinstance(data, dict) and data.get("type") in _TERMINAL_EVENTS


def received_interaction(
    request: RecordedRequest,
    status: int,
    headers: dict[str, str],
    body: bytes,
    events: list[tuple[bytes, float]] | None,
    *,
    role: Role,
    latency: float,
    error: str | None,
    truncated: bool,
    redact: Redactor,
    headers_latin1: Sequence[str] = (),
    failure: str | None = None,
) -> Interaction:
    """Build the stored form of a live response: `body`, or SSE `events` with offsets.

    `headers` come from `stored_headers` (which lists the Latin-1 ones in
    `headers_latin1`); `failure` names the transport error that ended the body early.
    """
    stored_events: list[SSEEvent] | None = None
    body_text: str | None = None
    parsed: Any = None
    encoding: Literal["utf-8", "base64"] = "utf-8"
    if events is not None:
        raws = redact.events([raw.decode("utf-8", "replace") for raw, _ in events])
        stored_events = [
            sse_event(raw, round(offset, 4)) for raw, (_, offset) in zip(raws, events, strict=True)
        ]
    else:
        body_text, encoding = redact.body(body)
        if encoding == "utf-8":
            try:
                parsed = parse_json(body_text)
            except ValueError:
                parsed = None
    model = request.body.get("model") if isinstance(request.body, dict) else None
    meta = InteractionMeta(
        role=role,
        model=model if isinstance(model, str) else None,
        latency_s=round(latency, 4),
        ttft_s=stored_events[0].offset_s if stored_events else None,
        recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        truncated=truncated,
        error=redact.text(error) if error else None,
        failure=failure,
    )
    response = RecordedResponse(
        status=status,
        headers=headers,
        headers_latin1=sorted(headers_latin1),
        body_encoding=encoding,
        body_text=body_text,
        body=parsed,
        events=stored_events,
    )
    return Interaction(request=request, response=response, meta=meta)


def failed_interaction(
    request: RecordedRequest,
    *,
    role: Role,
    latency: float,
    error: str,
    failure: str,
    redact: Redactor,
) -> Interaction:
    """Build the stored form of a request the transport failed before any response."""
    model = request.body.get("model") if isinstance(request.body, dict) else None
    meta = InteractionMeta(
        role=role,
        model=model if isinstance(model, str) else None,
        latency_s=round(latency, 4),
        recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        error=redact.text(error),
        failure=failure,
    )
    return Interaction(request=request, response=None, meta=meta)


def stored_headers(
    raw: Iterable[tuple[bytes, bytes]], redact: Redactor, *, response: bool
) -> tuple[dict[str, str], list[str]]:
    """Headers as a cassette keeps them, from the bytes on the wire, and the names of
    those whose value is not UTF-8 (kept as Latin-1 text, one character per byte).

    Values of one name are joined with ", " (as bytes, before decoding); names are
    lower-cased; secret and volatile headers are dropped and secrets redacted (`core.redact`).
    """
    joined: dict[bytes, bytes] = {}
    for raw_name, value in raw:
        key = raw_name.lower()
        joined[key] = joined[key] + b", " + value if key in joined else value
    texts: list[tuple[str, str]] = []
    latin1: set[str] = set()
    for key, value in joined.items():
        name = key.decode("latin-1")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
            latin1.add(name)
        texts.append((name, text))
    kept = redact.headers(texts, response=response)
    return kept, sorted(name for name in latin1 if name in kept)


def sse_event(raw: str, offset_s: float) -> SSEEvent:
    """Build the stored form of one raw event received `offset_s` after the request."""
    name, data = parse_sse_event(raw)
    return SSEEvent(offset_s=offset_s, raw=raw, event=name, data=data)
