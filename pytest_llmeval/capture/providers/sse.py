"""Server-sent events: a `text/event-stream` body split into `SSEEvent`s."""

from __future__ import annotations

import re

from pytest_llmeval.capture.providers.types import SSEEvent

__all__ = ["parse_sse"]

# SSE lines end only at CRLF, LF or CR (str.splitlines would also split at U+2028 and
# friends, which JSON may carry unescaped inside a string).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def parse_sse(text: str) -> list[SSEEvent]:
    """Split a `text/event-stream` body into events (the WHATWG rules, tolerant of a
    missing final blank line); comments, `id:` and `retry:` fields are dropped."""
    events: list[SSEEvent] = []
    name: str | None = None
    data: list[str] = []
    for line in [*_LINE_BREAK.split(text), ""]:
        if not line:
            if data:
                events.append(SSEEvent(event=name, data="\n".join(data)))
            name, data = None, []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "data":
            data.append(value)
        elif key == "event":
            name = value or None
    return events
