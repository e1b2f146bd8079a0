"""The wire formats the providers speak, read as text: strict JSON and the framing of
server-sent events. Standard library only, so every layer may use it (the cassette
format, the redactor, the interception)."""

from __future__ import annotations

import json
import re
from typing import Any

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


# One decoder for every parse: json.loads with an argument builds a new one each call.
_STRICT = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(text: str) -> Any:
    """Parse strict JSON: NaN and Infinity are refused, so such bodies are kept as text.

    They have no standard JSON form, so a parsed copy could not be written faithfully.
    """
    if text.startswith("\ufeff"):
        return json.loads(text)  # raises json.loads's own error for a byte order mark
    return _STRICT.decode(text)
