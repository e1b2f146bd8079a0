"""Stream plumbing of the interceptor: the tee that records a live body as the consumer
reads it, and the stream that serves a recorded body again.

`Recording` collects one live response and hands the finished interaction to its
session through `RecordingSink`, the part of `intercept.InterceptedSession` this module
calls; nothing here knows the session class (STYLE lesson 14).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pytest_llmeval.capture.cassettes.models import is_terminal_event, received_interaction
from pytest_llmeval.capture.providers import missing_stream_end
from pytest_llmeval.core.wire import split_sse

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.calls import Call, Replayable
    from pytest_llmeval.capture.cassettes.models import Interaction, RecordedRequest
    from pytest_llmeval.core.redact import Redactor


class RecordingSink(Protocol):
    """What a `Recording` needs of the session it records for."""

    @property
    def redactor(self) -> Redactor:
        """Redacts the interaction before it leaves the recording."""
        ...

    def recording_done(self, recording: Recording, interaction: Interaction) -> None:
        """A teed response is complete (or was cut short): keep and report it."""
        ...


class Recording:
    """The tee's sink: collects a live body (splitting SSE events as they complete)."""

    def __init__(
        self,
        session: RecordingSink,
        call: Call,
        request: RecordedRequest,
        status: int,
        headers: dict[str, str],
        started: float,
        headers_latin1: Sequence[str] = (),
    ) -> None:
        self.session = session
        self.call = call
        self.request = request
        self.status = status
        self.headers = headers
        self.headers_latin1 = headers_latin1
        self.started = started
        self.sse = headers.get("content-type", "").startswith("text/event-stream")
        self.failed = False
        self._body = bytearray()
        self._pending = b""
        self._events: list[tuple[bytes, float]] = []
        self._finished = False
        self._lock = threading.Lock()

    def feed(self, chunk: bytes) -> None:
        """Take one chunk on its way to the consumer."""
        if not self.sse:
            self._body += chunk
            return
        complete, self._pending = split_sse(self._pending + chunk)
        if complete:
            offset = time.perf_counter() - self.started
            self._events.extend((raw, offset) for raw in complete)

    def fail(self, error: BaseException, failure: str | None) -> None:
        """The body broke off with `error` (`failure`: its transport class name, if the
        HTTP library's; any other error is recorded as a TransportError)."""
        self.failed = True
        self.finish(error=f"{type(error).__name__}: {error}", failure=failure or "TransportError")

    def finish(
        self, *, error: str | None = None, exhausted: bool = False, failure: str | None = None
    ) -> None:
        """Close the recording once: complete, cut short (by the consumer, or by a server
        that ended a stream before its protocol end), or failed (`failure`: the transport
        error's class name)."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        latency = time.perf_counter() - self.started
        events: list[tuple[bytes, float]] | None = None
        complete = exhausted
        if self.sse:
            tail, rest = split_sse(self._pending, final=True)
            events = self._events + [(raw, latency) for raw in tail]
            if rest:
                events.append((rest, latency))
            elif not complete and events:
                complete = is_terminal_event(events[-1][0])
        truncated = error is not None or not complete
        if truncated and error is None:
            error = "the consumer closed the response before its end"
        elif not truncated and events is not None and 200 <= self.status < 300:
            # a clean end of the connection is no proof of a complete answer
            error = missing_stream_end(
                self.request.method,
                self.request.url,
                [raw.decode("utf-8", "replace") for raw, _ in events],
            )
            truncated = error is not None
        interaction = received_interaction(
            self.request, self.status, self.headers, bytes(self._body), events,
            role=self.call.role, latency=latency, error=error, truncated=truncated,
            redact=self.session.redactor, headers_latin1=self.headers_latin1, failure=failure,
        )  # fmt: skip
        self.session.recording_done(self, interaction)


class SyncTee:
    """Passes each decoded chunk to the consumer as it arrives, and to the recording."""

    failure_of: Callable[[BaseException], str | None]  # the adapter's, set per library

    def __init__(self, upstream: Any, recording: Recording) -> None:
        self._upstream = upstream
        self._recording = recording
        self._chunks: Iterator[bytes] = upstream.iter_bytes()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._chunks:
                self._recording.feed(chunk)
                yield chunk
        except Exception as error:
            self._recording.fail(error, self.failure_of(error))
            raise
        self._recording.finish(exhausted=True)

    def close(self) -> None:
        try:
            self._upstream.close()
        finally:
            self._recording.finish()


class AsyncTee:
    """The asynchronous tee."""

    failure_of: Callable[[BaseException], str | None]  # the adapter's, set per library

    def __init__(self, upstream: Any, recording: Recording) -> None:
        self._upstream = upstream
        self._recording = recording
        self._chunks: Any = upstream.aiter_bytes()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                self._recording.feed(chunk)
                yield chunk
        except Exception as error:
            self._recording.fail(error, self.failure_of(error))
            raise
        self._recording.finish(exhausted=True)

    async def aclose(self) -> None:
        try:
            try:
                await self._chunks.aclose()
            finally:
                await self._upstream.aclose()
        finally:
            self._recording.finish()


class ReplayStream:
    """Yields recorded SSE events, optionally at their recorded pace (`realtime`)."""

    def __init__(
        self,
        entry: Replayable,
        realtime: bool,
        done: Callable[[], None],
        cut: Exception | None = None,
    ) -> None:
        # a plain body is served as one chunk (replayed as a stream when it ended early)
        self._events = entry.events if entry.events is not None else (entry.body,)
        self._offsets = entry.offsets if entry.events is not None else (0.0,)
        self._realtime = realtime
        self._done = done
        # a stream recorded as cut short ends the same way on replay
        self._cut = cut

    def __iter__(self) -> Iterator[bytes]:
        started = time.perf_counter()
        for raw, offset in zip(self._events, self._offsets, strict=True):
            if self._realtime:
                time.sleep(max(0.0, offset - (time.perf_counter() - started)))
            yield raw
        self._done()
        if self._cut is not None:
            raise self._cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        started = time.perf_counter()
        for raw, offset in zip(self._events, self._offsets, strict=True):
            if self._realtime:
                import anyio

                await anyio.sleep(max(0.0, offset - (time.perf_counter() - started)))
            yield raw
        self._done()
        if self._cut is not None:
            raise self._cut

    def close(self) -> None:
        self._done()

    async def aclose(self) -> None:
        self._done()
