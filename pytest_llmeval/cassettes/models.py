"""The cassette file format (schema version 1): pydantic models and the SSE event grammar.

A cassette is one JSON file per test holding the HTTP exchanges the test made. Replay
serves `response.body_text` (or the `raw` text of each SSE event) byte for byte; the
parsed `body` / `event` / `data` fields sit beside them only so that a human reviewing
a diff can read them, and replay never looks at them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from pytest_llmeval.cassettes.redact import REDACTED

if TYPE_CHECKING:
    from pytest_llmeval.cassettes.redact import Redactor

#: The cassette schema version this code writes, and the newest one it can read.
SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_base64(value: Any) -> None:
    """Refuse what replay could not decode, so a hand-edited body fails at load, naming
    the file and the field, not as a binascii traceback mid-test."""
    if not isinstance(value, str):
        raise ValueError(f"base64 text expected, found {type(value).__name__}")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not valid base64 ({error})") from None


class RecordedRequest(_Model):
    """The request side of an interaction, redacted: what matching compares."""

    method: str = Field(description="HTTP method, upper case.")
    url: str = Field(description="Full URL; secret query parameters replaced by <redacted>.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Request headers, lower-cased names, secrets and volatile headers dropped.",
    )
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


class SSEEvent(_Model):
    """One server-sent event of a streamed response, with its arrival time."""

    offset_s: float = Field(description="Seconds from sending the request to this event.")
    raw: str = Field(description="Exact event text, including its terminating blank line.")
    event: str | None = Field(default=None, description="The `event:` field (informational).")
    data: Any = Field(
        default=None, description="The `data:` field, parsed as JSON when it is (informational)."
    )


class RecordedResponse(_Model):
    """The response side of an interaction: exact bytes for replay, parsed forms for people."""

    status: int = Field(description="HTTP status code.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Response headers, lower-cased; volatile, transport and secret ones dropped.",
    )
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

    role: Literal["app", "judge"] = Field(default="app", description="Who made the call.")
    model: str | None = Field(default=None, description="`model` of the request body, if any.")
    latency_s: float | None = Field(default=None, description="Request sent to last byte.")
    ttft_s: float | None = Field(default=None, description="Request sent to first SSE event.")
    recorded_at: str | None = Field(default=None, description="UTC ISO 8601 time of recording.")
    truncated: bool = Field(
        default=False, description="The body ended early (consumer stopped, or stream error)."
    )
    error: str | None = Field(default=None, description="Why it was truncated, if it was.")


class Interaction(_Model):
    """One HTTP request and its response."""

    request: RecordedRequest = Field(description="What was sent.")
    response: RecordedResponse = Field(description="What came back.")
    meta: InteractionMeta = Field(
        default_factory=InteractionMeta, description="Timings, role and annotations."
    )

    @property
    def is_stream(self) -> bool:
        """Whether the response is a server-sent event stream."""
        return self.response.events is not None


class Cassette(_Model):
    """A cassette file: the version first, then the interactions in recorded order."""

    schema_version: int = Field(
        default=SCHEMA_VERSION, description="Version of this file format; always first."
    )
    interactions: list[Interaction] = Field(
        default_factory=list, description="Recorded exchanges, in the order they were made."
    )


# An SSE event ends at an empty line; a line ends at CRLF, a lone CR or LF (WHATWG spec).
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
_LINE_END = re.compile(r"\r\n|\r|\n")


def split_sse(buffer: bytes, *, final: bool = False) -> tuple[list[bytes], bytes]:
    """Split complete events off the front of `buffer`; return them and the rest.

    Each event keeps its exact bytes including the blank line ending it, so joining
    the events and the rest gives back `buffer`. A trailing CR is held back unless
    `final`, because the LF that completes a CRLF may still be on its way.
    """
    events: list[bytes] = []
    limit = len(buffer) - 1 if (not final and buffer.endswith(b"\r")) else len(buffer)
    start = 0
    while True:
        found = _EVENT_END.search(buffer, start, limit)
        if found is None:
            break
        events.append(buffer[start : found.end()])
        start = found.end()
    return events, buffer[start:]


def parse_sse_event(raw: str) -> tuple[str | None, Any]:
    """Read the `event:` name and `data:` payload (JSON when it parses) of one raw event."""
    name: str | None = None
    data_lines: list[str] = []
    for line in _LINE_END.split(raw):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data_lines.append(value)
    if not data_lines:
        return name, None
    data = "\n".join(data_lines)
    try:
        return name, parse_json(data)
    except ValueError:
        return name, data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """Parse strict JSON: NaN and Infinity are refused, so such bodies are kept as text.

    They have no standard JSON form, so a parsed copy could not be written faithfully.
    """
    return json.loads(text, parse_constant=_reject_constant)


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
    role: Literal["app", "judge"],
    latency: float,
    error: str | None,
    truncated: bool,
    redact: Redactor,
) -> Interaction:
    """Build the stored form of a live response: `body`, or SSE `events` with offsets."""
    stored_events: list[SSEEvent] | None = None
    body_text: str | None = None
    parsed: Any = None
    encoding: Literal["utf-8", "base64"] = "utf-8"
    if events is not None:
        # across events first: per-event redaction of a token's first piece would hide
        # the match its remaining pieces belong to
        joined = redact_across_events([raw.decode("utf-8", "replace") for raw, _ in events], redact)
        raws = [redact.text(raw) for raw in joined]
        stored_events = [
            sse_event(raw, round(offset, 4)) for raw, (_, offset) in zip(raws, events, strict=True)
        ]
    else:
        try:
            body_text = redact.text(body.decode("utf-8"))
        except UnicodeDecodeError:
            body_text, encoding = base64.b64encode(body).decode("ascii"), "base64"
        else:
            try:
                parsed = parse_json(body_text)
            except ValueError:
                parsed = None
            if parsed is not None and "\\" in body_text:
                # a JSON escape inside a secret (Bearer\\t...) hides it from the text
                # patterns; then the body is stored re-serialised, without the secret
                cleaned = redact.value(parsed)
                if cleaned != parsed:
                    parsed, body_text = cleaned, json.dumps(cleaned, ensure_ascii=False)
    model = request.body.get("model") if isinstance(request.body, dict) else None
    meta = InteractionMeta(
        role=role,
        model=model if isinstance(model, str) else None,
        latency_s=round(latency, 4),
        ttft_s=stored_events[0].offset_s if stored_events else None,
        recorded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        truncated=truncated,
        error=redact.text(error) if error else None,
    )
    response = RecordedResponse(
        status=status,
        headers=headers,
        body_encoding=encoding,
        body_text=body_text,
        body=parsed,
        events=stored_events,
    )
    return Interaction(request=request, response=response, meta=meta)


def redact_across_events(raws: list[str], redact: Redactor) -> list[str]:
    """Redact secrets a stream sends in pieces (`Bearer ` in one delta, the token in the
    next), which the per-event redaction cannot see.

    The string values found at the same JSON path in the events' data (a delta's text,
    say) are joined in order, unless they are all equal (repeated ids and model names);
    a match of the patterns in the joined text is replaced by `<redacted>` in the first
    event holding part of it and removed from the others. Events that change are written
    again with their data re-serialised; the others keep their exact bytes.
    """
    pieces: dict[tuple[Any, ...], list[tuple[int, tuple[Any, ...], str]]] = {}
    parsed: dict[int, Any] = {}
    for index, raw in enumerate(raws):
        _, data = parse_sse_event(raw)
        if isinstance(data, (dict, list)):
            parsed[index] = data
            for path, text in _string_leaves(data, ()):
                pieces.setdefault(path, []).append((index, path, text))
    edits: dict[tuple[int, tuple[Any, ...]], str] = {}
    for found in pieces.values():
        if len(found) < 2 or len({text for _, _, text in found}) == 1:
            continue
        joined = "".join(text for _, _, text in found)
        spans = redact.spans(joined)
        if not spans:
            continue
        position, replaced = 0, []
        for index, path, text in found:
            start, end, kept = position, position + len(text), []
            for low, high in spans:
                if high <= start or low >= end:
                    continue
                kept.append((max(low, start) - start, min(high, end) - start, low >= start))
            new = text
            for low, high, first in reversed(kept):
                new = new[:low] + (REDACTED if first else "") + new[high:]
            if new != text:
                replaced.append(((index, path), new))
            position = end
        edits.update(replaced)
    if not edits:
        return raws
    result = list(raws)
    for (index, path), text in edits.items():
        _set_leaf(parsed[index], path, text)
    for index in {index for index, _ in edits}:
        result[index] = _with_data(raws[index], parsed[index])
    return result


def _string_leaves(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _string_leaves(item, (*path, position))


def _set_leaf(value: Any, path: tuple[Any, ...], text: str) -> None:
    for step in path[:-1]:
        value = value[step]
    value[path[-1]] = text


def _with_data(raw: str, data: Any) -> str:
    """The event `raw` with its data line(s) replaced by one line of `data` as JSON."""
    lines = _LINE_END.split(raw)
    ending = raw[len(raw.rstrip("\r\n")) :]
    kept = [line for line in lines if line and not line.startswith("data:")]
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return "\n".join([*kept, f"data: {payload}"]) + ending


def sse_event(raw: str, offset_s: float) -> SSEEvent:
    """Build the stored form of one raw event received `offset_s` after the request."""
    name, data = parse_sse_event(raw)
    return SSEEvent(offset_s=offset_s, raw=raw, event=name, data=data)
