"""The scriptable, thread-safe state of a fake provider: replies, faults, requests, caches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .replies import cache_key
from .specs import Fault, RecordedRequest, ReplyHandler, ReplySpec, ToolCall, make_fault

__all__ = ["Matcher", "ProviderState"]

Matcher = Callable[[RecordedRequest], bool] | str
"""Selects requests: a predicate, or a substring of the request's prompt text."""


@dataclass(eq=False)
class _Rule:
    spec: ReplySpec
    match: Matcher | None
    remaining: int | None

    def matches(self, request: RecordedRequest) -> bool:
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in request.text
        return bool(self.match(request))


@dataclass(eq=False)
class _QueuedFault:
    fault: Fault
    path: str | None
    remaining: int


class ProviderState:
    """Everything a test scripts or inspects, guarded by one lock (handlers run in threads)."""

    def __init__(self, *, latency: float = 0.0, event_delay: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._initial = (latency, event_delay)
        self.latency = latency
        self.event_delay = event_delay
        self._requests: list[RecordedRequest] = []
        self._rules: list[_Rule] = []
        self._faults: list[_QueuedFault] = []
        self._handler: ReplyHandler | None = None
        self._cache: set[str] = set()
        self._vectors: dict[str, tuple[float, ...]] = {}

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the API requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget requests, scripted replies, handler, faults and prompt caches; restore timings."""
        with self._lock:
            self._requests.clear()
            self._rules.clear()
            self._faults.clear()
            self._handler = None
            self._cache.clear()
            self._vectors.clear()
            self.latency, self.event_delay = self._initial

    def reply_with(
        self,
        text: str | None = None,
        *,
        json: Any = None,
        tool_calls: Sequence[ToolCall | Mapping[str, Any]] = (),
        finish_reason: str | None = None,
        usage: Mapping[str, int] | None = None,
        match: Matcher | None = None,
        times: int | None = None,
    ) -> None:
        """Script a reply for matching requests (all of them, or `times` of them).

        Rules are tried in the order they were added; the first match wins, so
        `times=1` rules form a queue for multi-turn conversations.
        """
        calls = tuple(c if isinstance(c, ToolCall) else ToolCall(**c) for c in tool_calls)
        spec = ReplySpec(
            text=text, json=json, tool_calls=calls, finish_reason=finish_reason, usage=usage
        )
        self.add_reply(spec, match=match, times=times)

    def add_reply(
        self, spec: ReplySpec, *, match: Matcher | None = None, times: int | None = None
    ) -> None:
        """Script a ready-made ReplySpec, like `reply_with`."""
        if times is not None and times < 1:
            raise ValueError(f"fake provider: times must be >= 1 or None, got {times}")
        with self._lock:
            self._rules.append(_Rule(spec=spec, match=match, remaining=times))

    def script(self, *replies: ReplySpec | str) -> None:
        """Queue replies for the next requests, one each, in order (a multi-turn script)."""
        for reply in replies:
            self.add_reply(ReplySpec(text=reply) if isinstance(reply, str) else reply, times=1)

    def embed_as(self, text: str, vector: Sequence[float]) -> None:
        """Answer embeddings of exactly `text` with `vector` (as given: not normalised,
        whatever `dimensions` asks), so a test can compute its cosines by hand; other
        texts keep their hash-derived unit vectors."""
        values = tuple(float(v) for v in vector)
        if not values:
            raise ValueError("fake provider: an embedding vector needs at least one number")
        with self._lock:
            self._vectors[text] = values

    def embedding_vectors(self) -> dict[str, tuple[float, ...]]:
        """A snapshot of the vectors scripted with `embed_as`."""
        with self._lock:
            return dict(self._vectors)

    def set_handler(self, handler: ReplyHandler | None) -> None:
        """Install a callable consulted after the scripted rules; None removes it."""
        with self._lock:
            self._handler = handler

    def enqueue_fault(
        self, kind: str | int, *, path: str | None = None, times: int = 1, **options: Any
    ) -> None:
        """Make the next `times` requests (to `path`, if given) fail with a fault of `kind`."""
        fault = make_fault(kind, **options)
        if times < 1:
            raise ValueError(f"fake provider: times must be >= 1, got {times}")
        with self._lock:
            self._faults.append(_QueuedFault(fault=fault, path=path, remaining=times))

    def record(self, request: RecordedRequest) -> None:
        """Append a received API request."""
        with self._lock:
            self._requests.append(request)

    def take_fault(self, path: str) -> Fault | None:
        """Pop the first queued fault that applies to `path`."""
        with self._lock:
            for queued in self._faults:
                if queued.path is None or queued.path == path:
                    queued.remaining -= 1
                    if queued.remaining <= 0:
                        self._faults.remove(queued)
                    return queued.fault
        return None

    def take_reply(self, request: RecordedRequest) -> ReplySpec | None:
        """The scripted reply for a request: first matching rule, then the handler."""
        with self._lock:
            rules = list(self._rules)
            handler = self._handler
        for rule in rules:
            if not rule.matches(request):
                continue
            with self._lock:
                if rule.remaining is not None:
                    if rule not in self._rules:
                        continue  # another thread consumed its last use
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
            return rule.spec
        return handler(request) if handler is not None else None

    def cache_usage(self, request: RecordedRequest) -> tuple[int, int]:
        """(cache read, cache write) tokens: a marked prefix is written once, then read."""
        key = cache_key(request)
        if key is None:
            return 0, 0
        digest, words = key
        with self._lock:
            if digest in self._cache:
                return words, 0
            self._cache.add(digest)
            return 0, words
