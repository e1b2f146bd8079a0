"""Request matching: the canonical form of a request, and the nearest-miss diff.

Two requests match when their method, path (query parameters kept, in sorted order) and
canonical body are equal. The canonical body of a JSON request is the redacted body with
the configured ignored paths removed, dumped with sorted keys and no whitespace, so key
order and formatting never matter but every value does: an edited prompt is a miss.
JSON numbers are compared as Python reads them (`1` and `1.0` differ, `1e5` and
`100000.0` do not), because the cassette stores the parsed body and both sides must
produce the same canonical text.

Judge fences: a judge that fences the judged text with a boundary derived from a hash of
that text produces the same request for the same input, so nothing needs normalising.
A judge with a random boundary would pass `normalize`, a function applied to the body
text (both live and recorded) before it is parsed, e.g. one made by `replace_pattern`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pytest_llmeval.capture.cassettes.models import RecordedRequest
from pytest_llmeval.core.redact import Redactor
from pytest_llmeval.core.wire import parse_json

#: A function applied to request body text before matching (see the module docstring).
Normalizer = Callable[[str], str]

# How much of a differing value a miss message shows (all of it with -vv).
_WIDTH = 80

# How many recorded URLs a Matcher keeps the canonical path of.
_RECORDED_PATHS = 1024

_PATH_TOKEN = re.compile(r"\[(\*|\d+)\]|([^.\[\]]+)")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: Stands for "no value here" in a `first_difference` result.
MISSING: Any = _Missing()


@dataclass(frozen=True)
class LiveRequest:
    """A live request as it will be stored (redacted) and as it is matched."""

    canonical: CanonicalRequest
    url: str
    body_format: Literal["empty", "json", "text", "base64"]
    body: Any

    def without_headers(self) -> RecordedRequest:
        """The request as an exchange reports it when none was recorded (a refused call)."""
        return RecordedRequest(
            method=self.canonical.method, url=self.url, body_format=self.body_format, body=self.body
        )


@dataclass(frozen=True)
class CanonicalRequest:
    """A request reduced to what matching compares; `key` indexes the replay queues."""

    method: str
    path: str
    body: str
    parsed: Any

    @property
    def key(self) -> tuple[str, str, str]:
        """The replay-index key: method, path with sorted query, canonical body."""
        return (self.method, self.path, self.body)

    def digest(self) -> str:
        """A sha256 of the whole canonical request (method, path, body)."""
        text = f"{self.method} {self.path}\n{self.body}"
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def parse_ignore_path(path: str) -> tuple[str | int, ...]:
    """Parse `a.b`, `a[*].b`, `a[0]` into keys, indexes and `*` wildcards."""
    tokens: list[str | int] = []
    position = 0
    for found in _PATH_TOKEN.finditer(path):
        between = path[position : found.start()]
        if between not in ("", "."):
            raise ValueError(f"invalid JSON path {path!r}: unexpected {between!r}")
        index, key = found.groups()
        if key is not None:
            tokens.append(key)
        else:
            tokens.append("*" if index == "*" else int(index))
        position = found.end()
    if not tokens or path[position:]:
        raise ValueError(f"invalid JSON path {path!r}; use forms like a.b, a[*].b, a[0]")
    return tuple(tokens)


def remove_paths(value: Any, paths: Sequence[tuple[str | int, ...]]) -> Any:
    """Return `value` without the given paths; untouched parts are shared, not copied."""
    for path in paths:
        value = _remove(value, path)
    return value


def _remove(value: Any, path: tuple[str | int, ...]) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and isinstance(head, str) and head in value:
        if not rest:
            return {key: item for key, item in value.items() if key != head}
        return {**value, head: _remove(value[head], rest)}
    if isinstance(value, list) and head == "*":
        if not rest:
            return []
        return [_remove(item, rest) for item in value]
    if isinstance(value, list) and isinstance(head, int) and 0 <= head < len(value):
        if not rest:
            return [*value[:head], *value[head + 1 :]]
        return [*value[:head], _remove(value[head], rest), *value[head + 1 :]]
    return value


@functools.lru_cache(maxsize=256)
def canonical_path(url: str) -> str:
    """Path plus query parameters in sorted order (scheme and host are not compared);
    every call of a session goes to one of a few URLs, each is read once."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{'&'.join(sorted(parts.query.split('&')))}"
    return path


# One encoder for every dump: json.dumps with arguments builds a new one each call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dump_canonical(value: Any) -> str:
    """JSON with sorted keys and no whitespace."""
    return _CANONICAL.encode(value)


class Matcher:
    """Turns live requests and recorded ones into comparable canonical requests."""

    def __init__(
        self,
        redactor: Redactor,
        ignore_paths: Sequence[str] = (),
        normalize: Normalizer | None = None,
    ) -> None:
        self.redactor = redactor
        self._ignore = [parse_ignore_path(path) for path in ignore_paths]
        self._normalize = normalize
        # recorded URL -> its redacted canonical path: the same few URLs come back in
        # every cassette of a session (a runtime shares one Matcher between its tests)
        self._recorded_paths: dict[str, str] = {}

    def live(
        self, method: str, url: str, content: bytes, content_type: str | None = None
    ) -> LiveRequest:
        """Canonicalise a live request, redacting it the way it will be stored."""
        method = method.upper()
        url = self.redactor.url(url)
        path = canonical_path(url)
        if not content:
            return LiveRequest(CanonicalRequest(method, path, "", None), url, "empty", None)
        boundary = _multipart_boundary(content_type)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            encoded = base64.b64encode(content).decode("ascii")
            digest = _digest(content, boundary)
            return LiveRequest(CanonicalRequest(method, path, digest, None), url, "base64", encoded)
        try:
            if boundary:
                raise ValueError("multipart")
            parsed = parse_json(text)
        except ValueError:
            text = self.redactor.text(text)
            body = self._text(text, boundary)
            return LiveRequest(CanonicalRequest(method, path, body, None), url, "text", text)
        # a JSON escape inside a secret (Bearer\\t...) hides it from the raw-text check
        if "\\" in text or self.redactor.contains_secret(text):
            parsed = self.redactor.value(parsed)
        return LiveRequest(self._json(method, path, parsed), url, "json", parsed)

    def recorded(self, request: RecordedRequest) -> CanonicalRequest:
        """Canonicalise a stored request, re-applying the current redaction."""
        method = request.method.upper()
        path = self._recorded_paths.get(request.url)
        if path is None:
            path = canonical_path(self.redactor.url(request.url))
            if len(self._recorded_paths) < _RECORDED_PATHS:
                self._recorded_paths[request.url] = path
        if request.body_format == "json":
            canonical = self._json(method, path, request.body)
            if self._redacted_already(canonical.body):
                return canonical
            return self._json(method, path, self.redactor.value(request.body))
        boundary = _multipart_boundary(request.headers.get("content-type"))
        if request.body_format == "text":
            body = self._text(self.redactor.text(str(request.body)), boundary)
            return CanonicalRequest(method, path, body, None)
        if request.body_format == "base64":
            digest = _digest(base64.b64decode(str(request.body)), boundary)
            return CanonicalRequest(method, path, digest, None)
        return CanonicalRequest(method, path, "", None)

    def _redacted_already(self, canonical: str) -> bool:
        """Whether redacting a stored JSON body string by string would change nothing:
        its canonical text shows no secret, no escape that could hide one, and no `=` (a
        built-in pattern matches `name=value` at the start of a string, which the whole
        text does not show). Only with the built-in patterns: yours may be anchored the
        same way. A cassette was redacted when written, so this is the common case, and
        the body is not copied string by string on every replay."""
        return (
            not self.redactor.patterns
            and "\\" not in canonical
            and "=" not in canonical
            and not self.redactor.contains_secret(canonical)
        )

    def _text(self, text: str, boundary: str | None) -> str:
        if boundary:
            text = text.replace(boundary, "<boundary>")
        return self._normalize(text) if self._normalize else text

    def _json(self, method: str, path: str, parsed: Any) -> CanonicalRequest:
        if self._normalize is not None:
            parsed = json.loads(self._normalize(dump_canonical(parsed)))
        if self._ignore:
            parsed = remove_paths(parsed, self._ignore)
        return CanonicalRequest(method, path, dump_canonical(parsed), parsed)


def _multipart_boundary(content_type: str | None) -> str | None:
    # httpx picks a random multipart boundary per request; it must not decide matching.
    if not content_type or not content_type.lower().startswith("multipart/"):
        return None
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    return found.group(1) if found else None


def _digest(content: bytes, boundary: str | None) -> str:
    if boundary:
        content = content.replace(boundary.encode("latin-1"), b"<boundary>")
    return "sha256:" + hashlib.sha256(content).hexdigest()


def replace_pattern(pattern: str, replacement: str = "<normalized>") -> Normalizer:
    """A normaliser replacing every match of `pattern` (e.g. a random fence boundary)."""
    regex = re.compile(pattern)
    return lambda text: regex.sub(replacement, text)


def first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first JSON path (in sorted-key order) where `a` and `b` differ, with both values.

    Returns None when they are equal. A key or item present on one side only is reported
    with `MISSING` on the other.
    """
    if type(a) is not type(b):
        return (path, a, b)
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            child = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                return (child, a.get(key, MISSING), b.get(key, MISSING))
            found = first_difference(a[key], b[key], child)
            if found is not None:
                return found
        return None
    if isinstance(a, list):
        for index in range(max(len(a), len(b))):
            child = f"{path}[{index}]"
            if index >= len(a) or index >= len(b):
                left = a[index] if index < len(a) else MISSING
                return (child, left, b[index] if index < len(b) else MISSING)
            found = first_difference(a[index], b[index], child)
            if found is not None:
                return found
        return None
    return None if a == b else (path, a, b)


def count_differences(a: Any, b: Any, limit: int = 1000) -> int:
    """How many leaves differ between two JSON values (capped at `limit`)."""
    if type(a) is not type(b):
        return 1
    if isinstance(a, dict):
        total = 0
        for key in set(a) | set(b):
            total += 1 if key not in a or key not in b else count_differences(a[key], b[key], limit)
            if total >= limit:
                return limit
        return total
    if isinstance(a, list):
        total = abs(len(a) - len(b))
        for left, right in zip(a, b, strict=False):
            total += count_differences(left, right, limit)
            if total >= limit:
                return limit
        return total
    return 0 if a == b else 1


def describe_value(value: Any, width: int = 80) -> str:
    """A one-line rendering of a JSON value, truncated to about `width` characters."""
    text = repr(value) if value is MISSING else dump_canonical(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def difference_window(
    recorded: str, live: str, *, width: int = 80, before: int = 24
) -> tuple[int, str, str]:
    """Where two texts first differ, and both cut to the same window around that place.

    The window starts up to `before` characters ahead of the difference and is about
    `width` characters wide; `...` marks text cut off at either end. Texts that fit
    in `width` are returned whole.
    """
    position = next(
        (i for i, (a, b) in enumerate(zip(recorded, live, strict=False)) if a != b),
        min(len(recorded), len(live)),
    )
    if len(recorded) <= width and len(live) <= width:
        return position, recorded, live
    start = max(0, position - before)
    if start <= 3:
        start = 0
    inner = width - (3 if start else 0)

    def cut(text: str) -> str:
        piece = text[start : start + inner]
        return ("..." if start else "") + piece + ("..." if start + inner < len(text) else "")

    return position, cut(recorded), cut(live)


def missing_key_message(
    live: LiveRequest, variable: str, *, nodeid: str, path: object, mode: str
) -> str:
    """Why a live call carrying the plugin's placeholder key was refused, and the fix."""
    return (
        f"{variable} is not set, so {live.canonical.method} {live.canonical.path} cannot "
        "be recorded: it carried the plugin's placeholder key and was not sent.\n"
        f"  test:     {nodeid}\n"
        f"  cassette: {path} (record mode {mode!r})\n"
        f"Set {variable} to record it; replaying the recording needs no key."
    )


def miss_message(
    live: LiveRequest,
    recorded: Sequence[tuple[RecordedRequest, Any]],
    *,
    nodeid: str,
    path: object,
    mode: str,
    file_exists: bool,
    already_replayed: int,
    verbosity: int = 0,
) -> str:
    """The CassetteMiss text: what was asked, where we looked, the nearest miss, the fix.

    `recorded` pairs every stored request with its canonical parsed body, in file order.
    The differing values are shown around their first differing character; with
    `verbosity` 2 (`-vv`) they are shown whole.
    """
    method, request_path = live.canonical.method, live.canonical.path
    lines = [
        f"No recorded response for {method} {request_path}",
        f"  test:     {nodeid}",
        f"  cassette: {path} (record mode {mode!r}: replay only, the network is blocked)",
    ]
    same = [
        (number, request, parsed)
        for number, (request, parsed) in enumerate(recorded, start=1)
        if request.method.upper() == method and canonical_path(request.url) == request_path
    ]
    if not file_exists:
        lines.append("The cassette file does not exist yet.")
    elif already_replayed:
        lines.append(
            f"An identical request was recorded {already_replayed} time(s) and every recorded "
            "copy was already replayed in this test: this call is one more than was recorded."
        )
    elif same:
        number, request, parsed = min(
            same, key=lambda item: count_differences(live.canonical.parsed, item[2])
        )
        lines.append(f"Closest recorded request: interaction #{number} of {len(recorded)}, "
                     f"{request.method} {canonical_path(request.url)}")  # fmt: skip
        lines.extend(_body_difference(live, request, parsed, whole=verbosity >= 2))
    elif recorded:
        seen = sorted({f"{r.method.upper()} {canonical_path(r.url)}" for r, _ in recorded})
        shown = ", ".join(seen[:5]) + (f", ... ({len(seen)} in all)" if len(seen) > 5 else "")
        lines.append(f"No recorded request has this method and path. Recorded: {shown}.")
    else:
        lines.append("The cassette has no interactions.")
    command = f"pytest {shlex.quote(nodeid)} --llmeval-record=all"
    lines.append(
        f"To re-record this test's cassette (and no other): {command}\n"
        "(--llmeval-record=new would add this call but keep the recordings it replaces; "
        f"drop those with: llmeval cassettes prune --unplayed --apply {shlex.quote(nodeid)})"
    )
    return "\n".join(lines)


def _body_difference(
    live: LiveRequest, request: RecordedRequest, parsed: Any, *, whole: bool = False
) -> list[str]:
    if live.canonical.parsed is not None and parsed is not None:
        found = first_difference(parsed, live.canonical.parsed)
        if found is not None:
            where, recorded_value, live_value = found
            recorded_text, live_text = _rendered(recorded_value), _rendered(live_value)
            return [
                f"  first difference at {where or '(the whole body)'}"
                + _at_character(recorded_value, live_value, recorded_text, live_text, whole)
                + ":",
                *_pair(recorded_text, live_text, whole),
            ]
    recorded_text = "" if request.body is None else str(request.body)
    live_text = "" if live.body is None else str(live.body)
    position, _, _ = difference_window(recorded_text, live_text)
    return [
        f"  bodies differ from character {position}:",
        *_pair(json.dumps(recorded_text, ensure_ascii=False),
               json.dumps(live_text, ensure_ascii=False), whole),
    ]  # fmt: skip


def _rendered(value: Any) -> str:
    return repr(value) if value is MISSING else dump_canonical(value)


def _at_character(
    recorded_value: Any, live_value: Any, recorded_text: str, live_text: str, whole: bool
) -> str:
    """`, character N` when two strings are too long to show whole."""
    if not (isinstance(recorded_value, str) and isinstance(live_value, str)):
        return ""
    if not whole and max(len(recorded_text), len(live_text)) <= _WIDTH:
        return ""
    position, _, _ = difference_window(recorded_value, live_value)
    return f", character {position}"


def _pair(recorded_text: str, live_text: str, whole: bool) -> list[str]:
    if not whole:
        _, recorded_text, live_text = difference_window(recorded_text, live_text, width=_WIDTH)
    return [f"    recorded:  {recorded_text}", f"    this call: {live_text}"]
