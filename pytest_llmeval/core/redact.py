"""Keeping secrets off disk: the one redaction every written byte goes through.

`Redactor` holds the built-in rules and the configured patterns (`--llmeval-redact`);
the session builds one and everything that writes shares it: the cassette layer
(headers, URLs, bodies, SSE events), the item's result (score reasons, failure
messages, errors), the cache, and the writer of every file (`files.write_text_atomic`
applies `Redactor.text` to each piece it writes).

The same redaction is applied to live requests before they are matched, so a cassette
recorded with a secret in the prompt still replays (both sides compare the redacted
form).

Text is searched as it stands and, when it holds a backslash, once more with its JSON
escapes decoded (`\\t`, `\\/`, `\\uXXXX`; nested JSON such as an SSE event inside a
cassette string is decoded level by level), so an escape inside a secret
(`Bearer\\t<token>`, `abc\\/def`) does not hide it. A match is replaced in the text as
it stands, escapes included, by `<redacted>`; nothing else changes, so JSON stays JSON.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from pytest_llmeval.core.wire import parse_sse_event

#: What a redacted value is replaced with.
REDACTED = "<redacted>"

#: Always-on value patterns. They stop at quotes and backslashes, so applying them to
#: raw JSON text (response bodies, SSE events) never breaks the JSON around a secret.
BUILTIN_PATTERNS: tuple[str, ...] = (
    r"sk-ant-[A-Za-z0-9_-]{16,}",
    r"sk-[A-Za-z0-9_-]{16,}",
    r"Bearer\s+[^\s\"'\\]+",
    # the userinfo of a URL (http://user:password@host/): everything between :// and @
    r"://(?P<secret>[^/?#@\s\"'\\<>]+)@",
)
# A text each built-in pattern needs: without it, the pattern is not run (a fast skip).
_BUILTIN_NEEDLES = ("sk-ant-", "sk-", "Bearer", "://")
# What a text must hold for an escape in it to hide a built-in match (see _may_hide).
_ESCAPE_TRIGGERS = ("\\u", "\\/", "Bearer", "://", "=")

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

# A credential's name, once camelCase is split into words (accessToken -> access_token).
# `tokens` is left out on purpose: max_tokens counts, it does not authenticate.
_SECRET_QUERY_NAME = re.compile(
    r"(?:^|[-_.\[])(?:keys?|apikeys?|token|secrets?|passwords?|passwd|pwd|signatures?|sig|"
    r"auth|credentials?|jwt)\]?$",
    re.IGNORECASE,
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# `name=value` in a query string, or at the start of a form body; the name decides
# (is_secret_name). Two patterns: an alternation with ^ would scan several times slower.
_PAIR = r"(?P<name>[A-Za-z0-9_.~%\[\]-]+)=(?P<secret>[^=&#\s\"'\\<>][^&#\s\"'\\<>]*)"
_QUERY_PAIRS = (re.compile(r"[?&]" + _PAIR), re.compile(r"\A" + _PAIR))
# One JSON string escape; a backslash before anything else is an ordinary character.
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_SIMPLE_ESCAPES = {
    '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"
}  # fmt: skip
# How many levels of JSON escaping are decoded (an SSE event's JSON inside a cassette
# string is two).
_ESCAPE_DEPTH = 3
# How many distinct URLs a redactor remembers the redaction of.
_URLS_KEPT = 256

Span = tuple[int, int]

_SIMPLE_ESCAPE_PAIRS = tuple(
    (f"\\{code}", char) for code, char in _SIMPLE_ESCAPES.items() if code != "\\"
)
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape_quickly(text: str) -> str | None:
    """`text` with its JSON escapes decoded, by str.replace (None if it holds a NUL,
    the stand-in for an escaped backslash). The same as `_Unescaped(text).text`: once
    escaped backslashes are set aside, every backslash left starts an escape."""
    pairs = "\\\\" in text
    if pairs:
        if "\0" in text:
            return None
        text = text.replace("\\\\", "\0")
    for escape, char in _SIMPLE_ESCAPE_PAIRS:
        text = text.replace(escape, char)
    if "\\u" in text:
        text = _UNICODE_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
    return text.replace("\0", "\\") if pairs else text


def _may_hold_builtin(text: str) -> bool:
    """Whether a built-in rule could find anything in `text`, as it stands or decoded:
    it holds a rule's needle, or an escape that could hide one (see
    `Redactor._may_hide`). Most texts (prompts, replies, model names) hold none, and
    this is the one check they get instead of a pass of every rule.

    A character of each longer needle is looked for first: a one-character search is
    a few dozen times cheaper than a longer one, and most texts hold no backslash, `/`
    or `B`; the answer is the same."""
    return (
        "=" in text
        or ("\\" in text and ("\\u" in text or "\\/" in text))
        or ("/" in text and "://" in text)
        or ("B" in text and "Bearer" in text)
        or "sk-" in text  # the needle of sk-ant- too
    )


def is_secret_header(name: str) -> bool:
    """Whether a header (any case) carries credentials and must never be written."""
    lowered = name.lower()
    return lowered in SECRET_HEADERS or _SECRET_HEADER_NAME.search(lowered) is not None


def is_secret_name(name: str) -> bool:
    """Whether a query or form parameter name (`api_key`, `accessToken`, `X-Amz-Signature`)
    names a credential."""
    words = _CAMEL_BOUNDARY.sub("_", unquote_plus(name))
    return _SECRET_QUERY_NAME.search(words) is not None


def _names_a_secret(match: re.Match[str]) -> bool:
    return is_secret_name(match.group("name"))


@dataclass(frozen=True)
class _Rule:
    """A pattern, and optionally a test a match must pass; a `secret` group, when the
    pattern has one, is the part replaced (the rest of the match is context)."""

    regex: re.Pattern[str]
    accept: Callable[[re.Match[str]], bool] | None = None
    needle: str | None = None

    def spans(self, text: str) -> Iterator[Span]:
        if self.needle is not None and self.needle not in text:
            return
        group = "secret" if "secret" in self.regex.groupindex else 0
        for match in self.regex.finditer(text):
            if self.accept is None or self.accept(match):
                start, end = match.span(group)
                if end > start:
                    yield start, end


def _merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        elif end > start:
            merged.append((start, end))
    return merged


class _Unescaped:
    """A text with its JSON escapes decoded, and the way back to the text's offsets."""

    def __init__(self, text: str) -> None:
        pieces: list[str] = []
        # (start in the decoded text, start in the text, length in the text, is escape)
        self._segments: list[tuple[int, int, int, bool]] = []
        position = decoded = 0
        for match in _ESCAPE.finditer(text):
            if match.start() > position:
                pieces.append(text[position : match.start()])
                self._segments.append((decoded, position, match.start() - position, False))
                decoded += match.start() - position
            escape = match.group()
            code = escape[1]
            pieces.append(chr(int(escape[2:], 16)) if code == "u" else _SIMPLE_ESCAPES[code])
            self._segments.append((decoded, match.start(), len(escape), True))
            decoded += 1
            position = match.end()
        if position < len(text):
            pieces.append(text[position:])
            self._segments.append((decoded, position, len(text) - position, False))
        self.text = "".join(pieces)
        self._starts = [segment[0] for segment in self._segments]

    def _segment(self, offset: int) -> tuple[int, int, int, bool]:
        return self._segments[bisect.bisect_right(self._starts, offset) - 1]

    def original(self, span: Span) -> Span:
        """The span of the text that the decoded span came from (whole escapes)."""
        start, end = span
        decoded, source, _, escape = self._segment(start)
        low = source if escape else source + (start - decoded)
        decoded, source, length, escape = self._segment(end - 1)
        high = source + length if escape else source + (end - decoded)
        return low, high


class Redactor:
    """Applies the built-in and configured secret patterns to text, URLs, headers, JSON,
    response bodies and SSE streams."""

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        # compiled one by one: a user's pattern may carry inline flags such as (?i)
        self.patterns = tuple(extra_patterns)
        self._rules = (
            *(
                _Rule(re.compile(p), None, needle)
                for p, needle in zip(BUILTIN_PATTERNS, _BUILTIN_NEEDLES, strict=True)
            ),
            *(_Rule(re.compile(p)) for p in extra_patterns),
            *(_Rule(pair, _names_a_secret, "=") for pair in _QUERY_PAIRS),
        )
        # every call of a session goes to one of a few URLs: each is redacted once
        self._urls: dict[str, str] = {}

    def _plain_spans(self, text: str) -> Iterator[Span]:
        for rule in self._rules:
            yield from rule.spans(text)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where secrets are in `text`: sorted (start, end) spans, overlaps merged; found
        in the text as it stands and with its JSON escapes decoded."""
        if not self.patterns and not _may_hold_builtin(text):
            return []
        found = list(self._plain_spans(text))
        if "\\" in text and self._may_hide(text) and self._hides_a_match(text):
            found += self._escaped_spans(text)
        return _merge(found)

    def _may_hide(self, text: str) -> bool:
        """Whether an escape in `text` could hide a match. Encoders escape no ASCII letter,
        digit, `-` or `_`, so a built-in match can only hide behind `\\uXXXX`, an escaped
        slash, or in a text that has `Bearer` (whitespace, slashes in the token), a URL or
        an `=`; your own patterns may match anything, so with them it always could."""
        return bool(self.patterns) or any(trigger in text for trigger in _ESCAPE_TRIGGERS)

    def _hides_a_match(self, text: str) -> bool:
        """Whether the text with its escapes decoded (each level) shows any match: the
        quick test, at C speed, before the exact search that maps spans back."""
        view = text
        for _ in range(_ESCAPE_DEPTH):
            if "\\" not in view:
                return False
            decoded = _unescape_quickly(view)
            if decoded is None:
                return True  # cannot tell quickly: search exactly
            if decoded == view:
                return False
            if any(True for _ in self._plain_spans(decoded)):
                return True
            view = decoded
        return False

    def _escaped_spans(self, text: str) -> list[Span]:
        """The spans, in `text`, of the matches its decoded views show."""
        found: list[Span] = []
        views: list[_Unescaped] = []
        current = text
        while "\\" in current and len(views) < _ESCAPE_DEPTH:
            view = _Unescaped(current)
            if view.text == current:
                break
            views.append(view)
            current = view.text
            for span in self._plain_spans(current):
                for outer in reversed(views):
                    span = outer.original(span)
                found.append(span)
        return found

    def text(self, text: str) -> str:
        """Replace every secret in `text` by `<redacted>`."""
        spans = self.spans(text)
        if not spans:
            return text
        pieces, position = [], 0
        for start, end in spans:
            pieces += [text[position:start], REDACTED]
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def contains_secret(self, text: str) -> bool:
        """Whether `text` holds anything the patterns would redact."""
        return bool(self.spans(text))

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
        known = self._urls.get(url)
        if known is None:
            known = self._url(url)
            if len(self._urls) < _URLS_KEPT:
                self._urls[url] = known
        return known

    def _url(self, url: str) -> str:
        base, question, rest = url.partition("?")
        if question:
            query, hash_mark, fragment = rest.partition("#")
            parts = []
            for part in query.split("&"):
                name, equals, value = part.partition("=")
                # a percent-encoded secret (Bearer%20..., base64 with %2F) hides from the
                # patterns until decoded
                if equals and (is_secret_name(name) or self.contains_secret(unquote_plus(value))):
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

    def body(self, raw: bytes) -> tuple[str, Literal["utf-8", "base64"]]:
        """A response body as stored: redacted text, or base64 of the redacted bytes
        when it is not UTF-8 (decoded with surrogateescape, so every byte that is not
        part of a secret comes back as it was)."""
        try:
            return self.text(raw.decode("utf-8")), "utf-8"
        except UnicodeDecodeError:
            pass
        text = raw.decode("utf-8", "surrogateescape")
        redacted = self.text(text)
        if redacted != text:
            raw = redacted.encode("utf-8", "surrogateescape")
        return base64.b64encode(raw).decode("ascii"), "base64"

    def events(self, raws: list[str]) -> list[str]:
        """The raw SSE events of a stream as stored: secrets the stream sends in pieces
        redacted across events (see `redact_across_events`), then each event redacted."""
        return [self.text(raw) for raw in redact_across_events(raws, self)]


def redact_across_events(raws: list[str], redact: Redactor) -> list[str]:
    """Redact secrets a stream sends in pieces (`Bearer ` in one delta, the token in the
    next), which the per-event redaction cannot see.

    The string values found at the same JSON path in the events' data (a delta's text,
    say) are joined in order, unless they are all equal (repeated ids and model names);
    so is the data of events that is not JSON (a plain-text stream). A match of the
    patterns in the joined text is replaced by `<redacted>` in the first event holding
    part of it and removed from the others. Events that change are written again with
    their data re-serialised; the others keep their exact bytes.
    """
    pieces: dict[tuple[Any, ...], list[tuple[int, tuple[Any, ...], str]]] = {}
    parsed: dict[int, Any] = {}
    for index, raw in enumerate(raws):
        _, data = parse_sse_event(raw)
        if data is None:
            continue
        parsed[index] = data
        if isinstance(data, str):
            # plain text, or a JSON string: one leaf with no path
            pieces.setdefault((), []).append((index, (), data))
            continue
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
        if path:
            _set_leaf(parsed[index], path, text)
        else:
            parsed[index] = text
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


_LINE_END = re.compile(r"\r\n|\r|\n")


def _with_data(raw: str, data: Any) -> str:
    """The event `raw` with its data line(s) replaced: JSON data as one line of JSON,
    plain-text data (it did not parse as JSON) as one `data:` line per line of text."""
    lines = _LINE_END.split(raw)
    ending = raw[len(raw.rstrip("\r\n")) :]
    kept = [line for line in lines if line and not line.startswith("data:")]
    if isinstance(data, str) and not _was_json(raw):
        payload = [f"data: {line}" for line in _LINE_END.split(data)]
    else:
        payload = [f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}"]
    return "\n".join([*kept, *payload]) + ending


def _was_json(raw: str) -> bool:
    """Whether the data of an event that parsed to a string was a JSON string literal."""
    data = "\n".join(
        line[5:].removeprefix(" ") for line in _LINE_END.split(raw) if line.startswith("data:")
    )
    return data.lstrip().startswith('"')
