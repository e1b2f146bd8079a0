"""What passes between the interceptor, a cassette session and the session's observer.

`Call` is one intercepted request on its way through a session, `FaultResponse` what an
injected fault serves in its place, `Replayable` a recorded interaction ready to be
served again, `Exchange` what a session reports, once a call is complete, to its
`ExchangeObserver` (the one object the session calls back: the item's run or a budget
meter). Neither `intercept` nor `session` is imported here, so both
import this module and the import arrows point one way (STYLE lessons 14 and 15).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.match import LiveRequest
    from pytest_llmeval.capture.cassettes.models import Interaction, RecordedRequest
    from pytest_llmeval.core.errors import LLMEvalError
    from pytest_llmeval.core.vocabulary import Role


@dataclass(frozen=True)
class FaultResponse:
    """What to serve for one faulted request."""

    description: str  # the fault as reports name it
    status: int  # 0: no response at all (the transport fails)
    headers: tuple[tuple[bytes, bytes], ...]
    chunks: tuple[bytes, ...]  # the body, as the chunks (SSE events) sent
    failure: str | None  # the HTTP library's error class raised (after the chunks)
    message: str  # that error's text, or the error the exchange reports
    stream: bool  # whether the body is an SSE stream
    wait_s: float = 0.0  # how long to wait before serving (a read timeout's wait)

    @property
    def error(self) -> str | None:
        """The exchange's error text (None for a 200 the app must read itself)."""
        if self.failure is not None:
            return f"{self.failure}: {self.message} (injected {self.description})"
        if self.status >= 400:
            return f"HTTP {self.status}: {self.message} (injected {self.description})"
        return None


@dataclass(frozen=True)
class Exchange:
    """One completed HTTP exchange of a test, live or replayed: what the session's
    observer gets (`ExchangeObserver.exchanged`)."""

    interaction: Interaction | None  # None when the call failed before any response came
    request: RecordedRequest
    role: Role
    replayed: bool
    cached: bool
    latency_s: float | None  # request sent to last byte; the recorded value on replay
    ttft_s: float | None  # request sent to the first SSE event; None if not streamed
    error: str | None  # transport error or cassette miss, when the call failed
    started_at: float  # wall-clock time.time() when the request was made
    # what the observer's `annotate` returned for a newly recorded interaction (else
    # None), handed back so that its reading and pricing of the call is not made twice
    annotation: dict[str, Any] | None = None
    # the fault the plugin injected into this request (`injection.FaultRule.describe`)
    injected_fault: str | None = None


class Replayable:
    """A recorded interaction with its response bytes prepared once, at load (headers as
    the bytes received; no status, headers or body when the transport failed instead)."""

    __slots__ = ("body", "events", "headers", "interaction", "key", "offsets", "parsed", "status")

    def __init__(
        self, interaction: Interaction, key: tuple[str, str, str] = ("", "", ""), parsed: Any = None
    ) -> None:
        response = interaction.response
        self.interaction = interaction
        self.key = key
        self.parsed = parsed
        self.status = response.status if response is not None else 0
        self.headers = [
            (name, value)
            for name, value in (response.header_bytes() if response is not None else ())
            if name not in (b"content-length", b"content-encoding", b"transfer-encoding")
        ]
        self.events: tuple[bytes, ...] | None = None
        self.offsets: tuple[float, ...] = ()
        self.body = b""
        if response is None:
            return
        if response.events is not None:
            self.events = tuple(event.raw.encode("utf-8") for event in response.events)
            self.offsets = tuple(event.offset_s for event in response.events)
        elif response.body_text is not None:
            if response.body_encoding == "base64":
                import base64

                self.body = base64.b64decode(response.body_text)
            else:
                self.body = response.body_text.encode("utf-8")


@dataclass
class Call:
    """Internal: one intercepted request on its way through a session."""

    live: LiveRequest
    role: Role
    started_at: float
    seq: int = -1
    replay: Replayable | None = None
    cached: bool = False
    refusal: LLMEvalError | None = None  # a miss, or a live call the plugin refused
    cache_key: str | None = None  # the response cache's key, when the cache is on
    raw_headers: tuple[tuple[bytes, bytes], ...] = ()  # as on the wire, for the cassette
    done: bool = field(default=False, repr=False)
    fault: FaultResponse | None = None  # an injected fault, served instead of the answer
    delay_s: float = 0.0  # an injected slow first token: the wait before the answer
    injected: str | None = None  # the injected fault's description, for the exchange

    @cached_property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """The headers decoded, for the cache key and the key check: made on first use,
        as a replayed call needs neither."""
        return tuple((name.decode("latin-1"), _text(value)) for name, value in self.raw_headers)


class ExchangeObserver(Protocol):
    """What a session calls on the one object that watches its calls (the pytest item's
    run, or the budget meter of an `llm_cassette` test)."""

    def before_live(self, request: LiveRequest) -> None:
        """Runs before a request goes live; raising an `LLMEvalError` refuses it."""
        ...

    def annotate(self, interaction: Interaction) -> dict[str, Any]:
        """Meta fields to store with a recorded interaction (provider, model, usage)."""
        ...

    def exchanged(self, exchange: Exchange) -> None:
        """A call is complete, live or replayed, or failed: once per request."""
        ...


def _text(value: bytes) -> str:
    """A header value as text: UTF-8, else Latin-1 (one character per byte)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")
