"""Keeping secrets off disk: header filtering and `<redacted>` substitution.

Redaction happens before anything is serialised, and the same redaction is applied to
live requests before they are matched, so a cassette recorded with a secret in the
prompt still replays (both sides compare the redacted form).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote_plus

#: What a redacted value is replaced with.
REDACTED = "<redacted>"

#: Always-on value patterns. They stop at quotes and backslashes, so applying them to
#: raw JSON text (response bodies, SSE events) never breaks the JSON around a secret.
BUILTIN_PATTERNS: tuple[str, ...] = (
    r"sk-ant-[A-Za-z0-9_-]{16,}",
    r"sk-[A-Za-z0-9_-]{16,}",
    r"Bearer\s+[^\s\"'\\]+",
)

#: Headers never written, whatever their value.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
_SECRET_HEADER_NAME = re.compile(r"key|token|secret|password|credential", re.IGNORECASE)

# Request headers that change from run to run or describe the client, not the request.
_VOLATILE_REQUEST_HEADERS = frozenset(
    {
        "user-agent", "host", "content-length", "connection", "keep-alive", "accept-encoding",
        "transfer-encoding", "te", "upgrade", "expect", "idempotency-key", "traceparent",
        "tracestate", "baggage", "openai-organization", "openai-project",
    }
)  # fmt: skip
# Response headers about the transport, the server or the moment, not the answer.
_VOLATILE_RESPONSE_HEADERS = frozenset(
    {
        "date", "server", "via", "alt-svc", "connection", "keep-alive", "transfer-encoding",
        "content-length", "content-encoding", "strict-transport-security", "report-to", "nel",
        "openai-processing-ms", "openai-organization", "openai-project",
        "anthropic-organization-id", "x-envoy-upstream-service-time", "age", "expires",
    }
)  # fmt: skip
_VOLATILE_PREFIXES = ("x-stainless-", "cf-", "x-ratelimit-", "anthropic-ratelimit-")

_SECRET_QUERY_NAME = re.compile(
    r"(?:^|[-_])(?:key|apikey|token|secret|password|passwd|signature|sig|auth|credential)s?$",
    re.IGNORECASE,
)


def is_secret_header(name: str) -> bool:
    """Whether a header (any case) carries credentials and must never be written."""
    lowered = name.lower()
    return lowered in SECRET_HEADERS or _SECRET_HEADER_NAME.search(lowered) is not None


class Redactor:
    """Applies the built-in and configured secret patterns to text, URLs, headers and JSON."""

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        # compiled one by one: a user's pattern may carry inline flags such as (?i)
        self._regexes = tuple(re.compile(p) for p in (*BUILTIN_PATTERNS, *extra_patterns))

    def text(self, text: str) -> str:
        """Replace every secret in `text` by `<redacted>`."""
        for regex in self._regexes:
            if regex.search(text) is not None:
                text = regex.sub(REDACTED, text)
        return text

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the patterns match in `text`: sorted (start, end) spans, overlaps merged."""
        found = sorted(match.span() for regex in self._regexes for match in regex.finditer(text))
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            elif end > start:
                merged.append((start, end))
        return merged

    def contains_secret(self, text: str) -> bool:
        """Whether `text` holds anything the patterns would redact."""
        return any(regex.search(text) is not None for regex in self._regexes)

    def value(self, value: Any) -> Any:
        """Redact every string inside a parsed JSON value (returns a new value if changed)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key): self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    def url(self, url: str) -> str:
        """Redact secret query parameters by name, then secrets anywhere in the URL."""
        base, question, rest = url.partition("?")
        if question:
            query, hash_mark, fragment = rest.partition("#")
            parts = []
            for part in query.split("&"):
                name, equals, value = part.partition("=")
                secret_name = _SECRET_QUERY_NAME.search(unquote_plus(name)) is not None
                # a percent-encoded secret (Bearer%20..., base64 with %2F) hides from the
                # patterns until decoded
                if equals and (secret_name or self.contains_secret(unquote_plus(value))):
                    part = f"{name}={REDACTED}"
                parts.append(part)
            url = f"{base}?{'&'.join(parts)}{hash_mark}{fragment}"
        return self.text(url)

    def headers(self, headers: Iterable[tuple[str, str]], *, response: bool) -> dict[str, str]:
        """Keep the headers worth storing: lower-cased, no secrets, nothing volatile."""
        volatile = _VOLATILE_RESPONSE_HEADERS if response else _VOLATILE_REQUEST_HEADERS
        kept: dict[str, str] = {}
        for raw_name, value in headers:
            name = raw_name.lower()
            if name in volatile or name.startswith(_VOLATILE_PREFIXES) or is_secret_header(name):
                continue
            value = self.text(value)
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
        return kept
