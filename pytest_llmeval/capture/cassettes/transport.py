"""What a patched httpx / httpx2 transport does with one request, and the protocol of
the session it asks (`InterceptedSession`).

`intercept` patches the transports and routes each call (`route`); the handlers here
ask the routed session what to do (`begin`: replay, go live, refuse, or serve an
injected fault), build the response from recorded bytes or tee the live one through
`streams`, and report back through the protocol only (this module never imports the
cassette session).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

from pytest_llmeval.capture.cassettes.streams import (
    AsyncTee,
    Recording,
    RecordingSink,
    ReplayStream,
    SyncTee,
)
from pytest_llmeval.core.errors import LLMEvalError

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.calls import Call, FaultResponse, Replayable


class InterceptedSession(RecordingSink, Protocol):
    """What the interceptor calls on the session a request is routed to (the cassette
    session implements it): the one seam between interception and the session."""

    @property
    def active(self) -> bool:
        """Whether the session is started (a stopped one gets no more calls)."""
        ...

    @property
    def realtime(self) -> bool:
        """Whether replayed streams keep their recorded pace."""
        ...

    @property
    def path(self) -> Path:
        """The cassette file (named in messages about the call, e.g. a judge's)."""
        ...

    def begin(
        self,
        method: str,
        url: str,
        content: bytes,
        content_type: str | None,
        headers: Iterable[tuple[bytes, bytes]] = (),
        *,
        read_timeout: float | None = None,
    ) -> Call:
        """Decide what to do with a request: replay, go live, refuse (`Call.refusal`) or
        serve an injected fault (`Call.fault`; `read_timeout` is the client's, in seconds)."""
        ...

    def fault_served(self, call: Call) -> None:
        """An injected fault (`Call.fault`) is being served instead of an answer."""
        ...

    def replay_done(self, call: Call) -> None:
        """A replayed response was served (or its stream consumed or closed)."""
        ...

    def live_failed(
        self,
        call: Call,
        error: BaseException,
        started: float,
        *,
        failure: str | None = None,
        request_headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        """A live request raised before any response arrived."""
        ...

    def open_recording(
        self,
        call: Call,
        status: int,
        response_headers: Iterable[tuple[bytes, bytes]],
        request_headers: Iterable[tuple[bytes, bytes]],
        started: float,
    ) -> Recording:
        """A live response arrived: the recording its body is teed into."""
        ...


#: The session a call made here and now goes to, or None (the call goes out untouched).
Route = Callable[[], "InterceptedSession | None"]


def sync_handler(adapter: Adapter, original: Any, route: Route) -> Callable[[Any, Any], Any]:
    """The patched `handle_request`: `route` names the session a call goes to, if any."""

    def handle_request(transport: Any, request: Any) -> Any:
        session = route()
        if session is None:
            return original(transport, request)
        call = adapter.begin(session, request, request.read())
        wait = call.fault.wait_s if call.fault is not None else call.delay_s
        if wait:  # an injected slow first token, or the read timeout it ran into
            time.sleep(wait)
        if call.fault is not None:
            return adapter.serve_fault(session, call, call.fault)
        if call.replay is not None:
            return adapter.replay(session, call, call.replay)
        started = time.perf_counter()
        try:
            upstream = original(transport, request)
        except BaseException as error:
            recordable = not getattr(transport, "_llmeval_unsendable", False)
            adapter.failed(session, call, request, error, started, recordable=recordable)
            raise
        return adapter.record(session, call, request, upstream, started, adapter.tee_sync)

    handle_request.__wrapped__ = original  # type: ignore[attr-defined]
    return handle_request


def async_handler(adapter: Adapter, original: Any, route: Route) -> Callable[[Any, Any], Any]:
    """The patched `handle_async_request` (see sync_handler)."""

    async def handle_async_request(transport: Any, request: Any) -> Any:
        session = route()
        if session is None:
            return await original(transport, request)
        call = adapter.begin(session, request, await request.aread())
        wait = call.fault.wait_s if call.fault is not None else call.delay_s
        if wait:  # an injected slow first token, or the read timeout it ran into
            await _async_sleep(wait)
        if call.fault is not None:
            return adapter.serve_fault(session, call, call.fault)
        if call.replay is not None:
            return adapter.replay(session, call, call.replay)
        started = time.perf_counter()
        try:
            upstream = await original(transport, request)
        except BaseException as error:
            recordable = not getattr(transport, "_llmeval_unsendable", False)
            adapter.failed(session, call, request, error, started, recordable=recordable)
            raise
        return adapter.record(session, call, request, upstream, started, adapter.tee_async)

    handle_async_request.__wrapped__ = original  # type: ignore[attr-defined]
    return handle_async_request


async def _async_sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


@cache
def adapter_for(module: ModuleType) -> Adapter:
    """One adapter per HTTP library (it builds three classes): not one per test."""
    return Adapter(module)


class Adapter:
    """Builds responses and byte streams of one HTTP library (httpx2 or legacy httpx)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.response = module.Response
        tee = {"failure_of": staticmethod(self.failure_of)}
        self.tee_sync: Any = type("TeeStream", (SyncTee, module.SyncByteStream), tee)
        self.tee_async: Any = type("AsyncTeeStream", (AsyncTee, module.AsyncByteStream), tee)
        bases = (ReplayStream, module.SyncByteStream, module.AsyncByteStream)
        self.replay_stream: Any = type("ReplayStream", bases, {})

    def begin(self, session: InterceptedSession, request: Any, content: bytes) -> Call:
        """Match a request: raise a refusal, or return the call (to replay, serve a fault
        or send live)."""
        headers = request.headers.raw
        content_type = _content_type(headers, request)
        timeout = request.extensions.get("timeout")
        read = timeout.get("read") if isinstance(timeout, dict) else None
        call = session.begin(
            request.method,
            str(request.url),
            content,
            content_type,
            headers,
            read_timeout=read if isinstance(read, (int, float)) else None,
        )
        if call.refusal is not None:
            raise sdk_passthrough(call.refusal)
        return call

    def record(
        self,
        session: InterceptedSession,
        call: Call,
        request: Any,
        upstream: Any,
        started: float,
        tee: Callable[[Any, Recording], Any],
    ) -> Any:
        """The live response, its body teed into a new recording as it is read."""
        recording = session.open_recording(
            call, upstream.status_code, upstream.headers.raw, request.headers.raw, started
        )
        return self.live(upstream, tee(upstream, recording))

    def failed(
        self,
        session: InterceptedSession,
        call: Call,
        request: Any,
        error: BaseException,
        started: float,
        *,
        recordable: bool = True,
    ) -> None:
        """A live request raised before any response: a transport error is recorded
        (unless the transport is `mark_unsendable`)."""
        failure = self.failure_of(error) if recordable else None
        session.live_failed(
            call, error, started, failure=failure, request_headers=request.headers.raw
        )

    def failure_of(self, error: BaseException) -> str | None:
        """The name replay raises for `error`: its nearest class this library exports
        among its request errors (timeouts, connect and protocol errors, ...), or None
        for anything else (a cancellation, an error of the plugin or of the caller)."""
        if not isinstance(error, self.module.RequestError):
            return None
        for cls in type(error).__mro__:
            name: str = cls.__name__
            if getattr(self.module, name, None) is cls:
                return name
        return "TransportError"

    def failure(self, name: str, message: str | None) -> Exception:
        """The exception a recorded failure replays as: the class of that name (any class
        that is not one of this library's request errors reads as its TransportError)."""
        cls = getattr(self.module, name, None)
        if not (isinstance(cls, type) and issubclass(cls, self.module.RequestError)):
            cls = self.module.TransportError
        text = message or ""
        if text.startswith(f"{name}: ") or text == name:  # stored as "ReadTimeout: timed out"
            text = text[len(name) + 2 :]
        error: Exception = cls(text)
        return error

    def replay(self, session: InterceptedSession, call: Call, entry: Replayable) -> Any:
        meta = entry.interaction.meta
        if entry.interaction.response is None:
            session.replay_done(call)
            raise self.failure(meta.failure or "TransportError", meta.error)
        # a body recorded as ended by a transport error ends the same way on replay
        cut = None if meta.failure is None else self.failure(meta.failure, meta.error)
        if entry.events is None and cut is None:
            response = self.response(entry.status, headers=entry.headers, content=entry.body)
            session.replay_done(call)
            return response
        stream = self.replay_stream(entry, session.realtime, lambda: session.replay_done(call), cut)
        return self.response(entry.status, headers=entry.headers, stream=stream)

    def serve_fault(self, session: InterceptedSession, call: Call, fault: FaultResponse) -> Any:
        """An injected fault as the provider would send it: a transport error, an error
        response, or a body that breaks off (`fault.failure` raised after its chunks)."""
        session.fault_served(call)
        if fault.status == 0:
            raise self.failure(fault.failure or "TransportError", fault.message)
        headers = list(fault.headers)
        cut = None if fault.failure is None else self.failure(fault.failure, fault.message)
        if not fault.stream and cut is None:
            return self.response(fault.status, headers=headers, content=b"".join(fault.chunks))
        body = SimpleNamespace(events=fault.chunks, offsets=(0.0,) * len(fault.chunks), body=b"")
        stream = self.replay_stream(body, False, lambda: None, cut)
        return self.response(fault.status, headers=headers, stream=stream)

    def live(self, upstream: Any, stream: Any) -> Any:
        # The tee hands out decoded bytes, so the length and encoding headers no longer apply.
        # Headers stay the bytes received: decoded and encoded again, a value that is not
        # ASCII (Latin-1 `Zürich`) would not encode.
        headers = [
            (name, value)
            for name, value in upstream.headers.raw
            if name.lower() not in (b"content-encoding", b"content-length")
        ]
        return self.response(
            upstream.status_code, headers=headers, stream=stream, extensions=upstream.extensions
        )


def _content_type(headers: list[tuple[bytes, bytes]], request: Any) -> str | None:
    """The request's content type, read from the raw headers the call takes anyway:
    `Headers.get` first works out the encoding of every header of a new request (3.6 us
    against 1.2 for an SDK's request, in a loop). A value that is not ASCII is left to
    `Headers.get`, which decodes it as httpx does."""
    values = [value for name, value in headers if name.lower() == b"content-type"]
    if not values:
        return None
    try:
        return ", ".join(value.decode("ascii") for value in values)  # as Headers.get joins
    except UnicodeDecodeError:
        content_type: str | None = request.headers.get("content-type")
        return content_type


def sdk_passthrough(error: LLMEvalError) -> LLMEvalError:
    """The error (a miss, a refused live call) as one the SDKs let through and never retry.

    anthropic wraps any `Exception` from the transport into a retried APIConnectionError
    except its own `AnthropicError`s; openai re-raises its `OpenAIError`s as they are.
    So the raised error also derives from the base errors of whichever SDKs are loaded.
    """
    bases = []
    for module_name, class_name in (("openai", "OpenAIError"), ("anthropic", "AnthropicError")):
        module = sys.modules.get(module_name)
        base = getattr(module, class_name, None) if module is not None else None
        if isinstance(base, type) and issubclass(base, Exception):
            bases.append(base)
    # exception classes are hashable; mypy misreads their unbound __hash__
    return _passthrough_class(type(error), tuple(bases))(*error.args)  # type: ignore[arg-type]


@cache
def _passthrough_class(
    error_class: type[LLMEvalError], sdk_bases: tuple[type[Exception], ...]
) -> type[LLMEvalError]:
    if not sdk_bases:
        return error_class

    def __reduce__(self: LLMEvalError) -> tuple[Any, ...]:
        return (error_class, self.args)  # unpickles as the plain class (xdist, multiprocessing)

    namespace = {"__reduce__": __reduce__, "__module__": error_class.__module__}
    return type(error_class.__name__, (error_class, *sdk_bases), namespace)
