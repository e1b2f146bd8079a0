"""One test's cassette: decides, per HTTP request, whether to replay, record or refuse.

The plugin creates a `CassetteSession` per eval test, `start()`s it before the test body
and `stop()`s it after; while any session is started, `intercept` routes every httpx /
httpx2 request through `begin()` of the session that owns the call (the session
implements `intercept.InterceptedSession`, the one protocol the interceptor calls), and
the session reports to its one `calls.ExchangeObserver`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmeval.capture.cassettes import intercept
from pytest_llmeval.capture.cassettes.calls import Call, Exchange, ExchangeObserver, Replayable
from pytest_llmeval.capture.cassettes.match import (
    LiveRequest,
    Matcher,
    Normalizer,
    miss_message,
    missing_key_message,
)
from pytest_llmeval.capture.cassettes.models import (
    Interaction,
    InteractionMeta,
    RecordedRequest,
    failed_interaction,
    stored_headers,
)
from pytest_llmeval.capture.cassettes.outcome import CassetteOutcome, unplayed_message
from pytest_llmeval.capture.cassettes.shelf import index_interactions
from pytest_llmeval.capture.cassettes.store import (
    DEFAULT_MAX_BYTES,
    Signature,
    file_signature,
    read_cassette,
)
from pytest_llmeval.capture.cassettes.streams import Recording
from pytest_llmeval.capture.keys import PLACEHOLDER_KEYS, placeholder_variable
from pytest_llmeval.core import context
from pytest_llmeval.core.errors import (
    CassetteMiss,
    LLMEvalError,
)
from pytest_llmeval.core.redact import Redactor
from pytest_llmeval.core.vocabulary import RecordMode

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.cache import ResponseCache
    from pytest_llmeval.capture.cassettes.shelf import Shelf
    from pytest_llmeval.records.injection import FaultPlan, FaultRule

# what a session did lives in outcome.py; imported from here as before
__all__ = ["CassetteOutcome", "CassetteSession", "unplayed_message"]

_MODES = ("none", "once", "new", "all")


class CassetteSession:
    """Record and replay the HTTP traffic of one test against one cassette file."""

    def __init__(
        self,
        *,
        path: Path,
        mode: RecordMode,
        nodeid: str,
        ignore_paths: Sequence[str] = (),
        redact_patterns: Sequence[str] = (),
        redactor: Redactor | None = None,
        cache: ResponseCache | None = None,
        observer: ExchangeObserver | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        normalize: Normalizer | None = None,
        realtime: bool = False,
        verbosity: int = 0,
        pending_folders: Sequence[Path] = (),
        faults: FaultPlan | None = None,
        matcher: Matcher | None = None,
        shelf: Shelf | None = None,
    ) -> None:
        if mode not in _MODES:
            raise LLMEvalError(f"unknown record mode {mode!r}; expected one of {_MODES}")
        self._path = path if isinstance(path, Path) else Path(path)
        self._mode: RecordMode = mode
        self.nodeid = nodeid
        self.realtime = realtime
        # the session's one redactor when given (redact_patterns is then not used)
        self.redactor = redactor if redactor is not None else Redactor(redact_patterns)
        # the runtime's one Matcher when given, built on `redactor` (ignore_paths and
        # normalize are then not used)
        self._matcher = matcher or Matcher(self.redactor, ignore_paths, normalize)
        self._cache = cache
        self._observer = observer
        self._verbosity = verbosity  # -vv: a miss shows the differing values whole
        self._max_bytes = max_bytes
        self._pending_folders = tuple(pending_folders)
        # cassettes read ahead (replay-only sessions), taken in place of reading the file
        self._shelf = shelf
        self._base_signature: Signature = None
        self._lock = threading.Lock()
        self._loaded: list[Interaction] = []
        self._index: list[Replayable] = []
        self._queues: dict[tuple[str, str, str], deque[Replayable]] = {}
        self._recorded: list[tuple[int, Interaction]] = []
        self._open: set[Recording] = set()
        self._seq = itertools.count()
        self._replay_on = self._record_on = False
        self._file_exists = False
        self._replayed = self._cached = 0
        self._misses: list[str] = []
        self.active = False
        self._token: Any = None
        # the test's injected faults, asked about each request before the cassette is
        self.faults = faults

    @property
    def path(self) -> Path:
        """The cassette file."""
        return self._path

    @property
    def mode(self) -> RecordMode:
        """The record mode: none, once, new or all."""
        return self._mode

    @property
    def interactions(self) -> list[Interaction]:
        """The cassette as it stands: loaded interactions, then those recorded so far."""
        with self._lock:
            recorded = [item for _, item in sorted(self._recorded, key=lambda pair: pair[0])]
        return [*self._loaded, *recorded]

    def unplayed_positions(self) -> tuple[int, ...]:
        """Positions (0-based) in the loaded cassette of the interactions no request has
        replayed so far; after `stop()`, those the test never requested."""
        with self._lock:
            waiting = {id(entry) for queue in self._queues.values() for entry in queue}
        if not self._replay_on:
            return ()
        return tuple(n for n, entry in enumerate(self._index) if id(entry) in waiting)

    def misses(self) -> tuple[str, ...]:
        """The messages of the requests refused so far (misses, refused live calls),
        whether or not the code under test swallowed the error."""
        with self._lock:
            return tuple(self._misses)

    def refused_calls(self) -> int:
        """How many requests were refused (misses, live calls refused), swallowed or not."""
        with self._lock:
            return len(self._misses)

    def start(self) -> None:
        """Load the cassette, install interception and make this the current cassette."""
        if self.active:
            raise LLMEvalError(f"cassette session for {self.nodeid} is already started")
        mode = self._mode
        if mode in ("once", "new"):
            self._adopt_pending()
        self._loaded, self._index, self._queues, self._recorded = [], [], {}, []
        prepared = None
        if mode == "none" and self._shelf is not None:
            prepared = self._shelf.take(self._path)
        if prepared is not None:
            self._base_signature = prepared.signature
            self._loaded, self._index, self._queues = (
                prepared.interactions,
                prepared.index,
                prepared.queues,
            )
        elif mode == "all":  # re-recorded whatever it holds: only whether it is there
            self._base_signature = file_signature(self._path)
        else:
            self._base_signature, cassette = read_cassette(self._path, max_bytes=self._max_bytes)
            if cassette is not None:
                self._loaded = list(cassette.interactions)
                self._index, self._queues = index_interactions(self._loaded, self._matcher)
        self._file_exists = self._base_signature is not None
        self._replay_on = mode in ("none", "new") or (mode == "once" and self._file_exists)
        self._record_on = mode in ("new", "all") or (mode == "once" and not self._file_exists)
        PLACEHOLDER_KEYS.acquire()  # replays need no key (see pytest_llmeval.capture.keys)
        intercept.install(self)
        self.active = True
        self._token = intercept.current_cassette.set(self)

    def stop(self) -> CassetteOutcome:
        """Restore the transports, write what was recorded, and report what happened."""
        if not self.active:
            raise LLMEvalError(f"cassette session for {self.nodeid} is not started")
        self.active = False
        intercept.uninstall(self)
        PLACEHOLDER_KEYS.release()
        try:
            intercept.current_cassette.reset(self._token)
        except ValueError:  # stopped from another context than the one that started it
            if intercept.current_cassette.get() is self:
                intercept.current_cassette.set(None)
        for recording in list(self._open):
            recording.finish(error="the response was still open when the test ended")
        unplayed: tuple[Interaction, ...] = ()
        if self._replay_on and not self._record_on and any(self._queues.values()):
            waiting = {id(entry) for queue in self._queues.values() for entry in queue}
            unplayed = tuple(e.interaction for e in self._index if id(e) in waiting)
        written = None
        if self._recorded:
            self._save()
            written = self._path
        return CassetteOutcome(
            path=self._path,
            mode=self._mode,
            recorded=len(self._recorded),
            replayed=self._replayed,
            cached=self._cached,
            unplayed=unplayed,
            misses=tuple(self._misses),
            written=written,
        )

    # -- saving -------------------------------------------------------------------------

    def _key(self, interaction: Interaction) -> tuple[str, str, str]:
        return self._matcher.recorded(interaction.request).key

    def _save(self) -> None:
        """Merge this recording into the cassette, or keep it pending (see
        pending.save_session_recording)."""
        from pytest_llmeval.capture.cassettes.pending import save_session_recording

        save_session_recording(
            self._path,
            self.interactions,
            base=[] if self._mode == "all" else self._loaded,
            base_signature=self._base_signature,
            key=self._key,
            nodeid=self.nodeid,
            live_calls=len(self._recorded) - self._cached,
            max_bytes=self._max_bytes,
            pending_folders=self._pending_folders,
            redactor=self.redactor,
        )

    def _adopt_pending(self) -> None:
        """Merge recordings an earlier run could not write into this cassette first."""
        if any(folder.is_dir() for folder in self._pending_folders):
            from pytest_llmeval.capture.cassettes.pending import adopt_for

            adopt_for(self._path, self._pending_folders, self._key, self.nodeid, self.redactor)

    # -- intercept.InterceptedSession -----------------------------------------------------

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
        """Internal: decide what to do with a request (an injected fault, replay, cache,
        live, or miss).

        `headers` are the request's as on the wire (`httpx.Headers.raw`); an injected
        fault takes neither a recorded answer nor a live call (`read_timeout`: the
        client's, which a slow first token may run into)."""
        live = self._matcher.live(method, url, content, content_type)
        call = Call(live, context.current_role.get(), time.time(), raw_headers=tuple(headers))
        if self.faults is not None:
            rule = self.faults.pick(call.role)
            if rule is not None and self._inject(call, rule, read_timeout):
                return call
        key = call.live.canonical.key
        with self._lock:
            if self._replay_on:
                queue = self._queues.get(key)
                if queue:
                    call.replay = queue.popleft()
                    self._replayed += 1
                    return call
            if not self._record_on:
                call.refusal = CassetteMiss(self._describe_miss(call.live, key))
            call.seq = next(self._seq)
        if call.refusal is None and self._cache is not None:
            from pytest_llmeval.capture.cassettes.cache import request_key

            call.cache_key = request_key(call.live, call.headers)
            hit = self._cache.get(call.cache_key)
            if hit is not None:
                # the cassette holds this test's own request, not the one that filled the cache
                hit = hit.model_copy(
                    update={"request": self._recorded_request(call.live, call.raw_headers)}
                )
                with self._lock:
                    self._recorded.append((call.seq, hit))
                    self._cached += 1
                call.replay = Replayable(hit)
                call.cached = True
                return call
        if call.refusal is None and call.role != "judge":
            # judges keep their own rule for the placeholder (pytest_llmeval.judges.clients)
            variable = placeholder_variable(call.headers)
            if variable is not None:
                message = missing_key_message(
                    call.live, variable, nodeid=self.nodeid, path=self._path, mode=self._mode
                )
                call.refusal = CassetteMiss(message)
        if call.refusal is None and self._observer is not None:
            try:
                self._observer.before_live(call.live)
            except LLMEvalError as error:
                call.refusal = error
        if call.refusal is not None:
            with self._lock:
                self._misses.append(str(call.refusal))
            self._emit(call, None, error=str(call.refusal))
        return call

    def _inject(self, call: Call, rule: FaultRule, read_timeout: float | None) -> bool:
        """Arm `call` with an injected fault; True when the fault replaces the answer."""
        from pytest_llmeval.capture.cassettes.faults import arm_fault

        error = arm_fault(call, rule, read_timeout)
        if error is not None:
            with self._lock:
                self._misses.append(f"{self.nodeid}: {error}")
            self._emit(call, None, error=str(error))
            return True
        return call.fault is not None

    def fault_served(self, call: Call) -> None:
        """Internal: an injected fault is served; report it (it is never recorded)."""
        from pytest_llmeval.capture.cassettes.faults import served_interaction

        fault = call.fault
        if fault is None or call.done:
            return
        call.done = True
        request = self._recorded_request(call.live, call.raw_headers)
        interaction = served_interaction(fault, request, role=call.role, redact=self.redactor)
        self._emit(call, interaction, error=fault.error, latency=fault.wait_s, served=True)

    def replay_done(self, call: Call) -> None:
        """Internal: a replayed response was served (or its stream consumed or closed)."""
        if call.done or call.replay is None:
            return
        call.done = True
        interaction = call.replay.interaction
        meta = interaction.meta
        if interaction.response is None:  # a recorded transport failure: reported as live
            self._emit(call, None, error=meta.error, latency=meta.latency_s)
            return
        self._emit(call, interaction, latency=meta.latency_s, ttft=meta.ttft_s)

    def live_failed(
        self,
        call: Call,
        error: BaseException,
        started: float,
        *,
        failure: str | None = None,
        request_headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        """Internal: a live request raised before any response arrived; a transport
        error (`failure`, its class name) is recorded as an interaction without a response,
        so that replay raises it again."""
        text = self.redactor.text(_describe(error))
        latency = time.perf_counter() - started
        if failure is not None:
            request = self._recorded_request(call.live, request_headers)
            interaction = failed_interaction(
                request, role=call.role, latency=latency, error=text, failure=failure,
                redact=self.redactor,
            )  # fmt: skip
            with self._lock:
                self._recorded.append((call.seq, interaction))
        self._emit(call, None, error=text, latency=latency)

    def open_recording(
        self,
        call: Call,
        status: int,
        response_headers: Iterable[tuple[bytes, bytes]],
        request_headers: Iterable[tuple[bytes, bytes]],
        started: float,
    ) -> Recording:
        """Internal: a live response arrived; tee its body into a new interaction.

        Headers come as the bytes on the wire (`httpx.Headers.raw`), never decoded."""
        request = self._recorded_request(call.live, request_headers)
        headers, latin1 = stored_headers(response_headers, self.redactor, response=True)
        recording = Recording(self, call, request, status, headers, started, latin1)
        with self._lock:
            self._open.add(recording)
        return recording

    def recording_done(self, recording: Recording, interaction: Interaction) -> None:
        """Internal: a teed response is complete (or was cut short): keep and report it."""
        annotation = None
        if self._observer is not None:
            annotation = self._observer.annotate(interaction)
            extra = self.redactor.value(annotation)
            meta = InteractionMeta(**{**interaction.meta.model_dump(), **extra})
            interaction = interaction.model_copy(update={"meta": meta})
        with self._lock:
            self._open.discard(recording)
            self._recorded.append((recording.call.seq, interaction))
        meta = interaction.meta
        failed = meta.error if meta.truncated and recording.failed else None
        if (
            self._cache is not None
            and not meta.truncated
            and interaction.response is not None
            and 200 <= interaction.response.status < 300
            and recording.call.cache_key is not None
        ):
            self._cache.put(recording.call.cache_key, interaction)
        latency, ttft = meta.latency_s, meta.ttft_s
        self._emit(
            recording.call,
            interaction,
            error=failed,
            latency=latency,
            ttft=ttft,
            annotation=annotation,
        )

    # -- helpers ------------------------------------------------------------------------

    def _recorded_request(
        self, live: LiveRequest, headers: Iterable[tuple[bytes, bytes]]
    ) -> RecordedRequest:
        stored, latin1 = stored_headers(headers, self.redactor, response=False)
        return RecordedRequest(
            method=live.canonical.method,
            url=live.url,
            headers=stored,
            headers_latin1=latin1,
            body_format=live.body_format,
            body=live.body,
        )

    def _emit(
        self,
        call: Call,
        interaction: Interaction | None,
        *,
        error: str | None = None,
        latency: float | None = None,
        ttft: float | None = None,
        annotation: dict[str, Any] | None = None,
        served: bool = False,
    ) -> None:
        if self._observer is None:
            return
        request = interaction.request if interaction is not None else call.live.without_headers()
        if call.delay_s and call.fault is None:  # the injected wait is part of what the app saw
            latency = None if latency is None else latency + call.delay_s
            ttft = None if ttft is None else ttft + call.delay_s
        self._observer.exchanged(
            Exchange(
                interaction=interaction,
                request=request,
                role=call.role,
                replayed=served or call.replay is not None,
                cached=call.cached,
                latency_s=latency,
                ttft_s=ttft,
                error=error,
                started_at=call.started_at,
                annotation=annotation,
                injected_fault=call.injected,
            )
        )

    def _describe_miss(self, live: LiveRequest, key: tuple[str, str, str]) -> str:
        exhausted = sum(1 for entry in self._index if entry.key == key)
        return miss_message(
            live,
            [(entry.interaction.request, entry.parsed) for entry in self._index],
            nodeid=self.nodeid,
            path=self._path,
            mode=self._mode,
            file_exists=self._file_exists,
            already_replayed=exhausted,
            verbosity=self._verbosity,
        )


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
