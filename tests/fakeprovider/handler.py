"""The HTTP side of the fake provider: one thread per connection, SSE written event by event."""

from __future__ import annotations

import base64
import json
import re
import select
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import anthropic_api, gemini_api, openai_api
from .openai_api import SseEvent
from .replies import resolve
from .specs import (
    FAULT_HEADER,
    LATIN1_HEADER,
    Fault,
    RecordedRequest,
    ReplySpec,
    ToolCall,
    parse_fault_header,
)
from .state import ProviderState

__all__ = ["ProviderHTTPServer"]

_DEFAULT_SLOW_SECONDS = 1.0
_DEFAULT_TIMEOUT_SECONDS = 60.0
_MALFORMED = b'{"id": "broken", "choices": [{"index": 0, "message": {"content": "unterminated'
# Faults that end an otherwise normal reply early (see specs.Fault).
_ENDINGS = frozenset({"cut", "stall", "early_end"})
_HTML = b"<html><head><title>Gateway</title></head><body><h1>Hello from a proxy</h1></body></html>"


class ProviderHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one ProviderState; `stopping` ends waits early."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: ProviderState) -> None:
        self.state = state
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.sequence = 0
        super().__init__(address, _Handler)

    def next_request_id(self) -> str:
        """A unique, increasing request id for the response headers."""
        with self.connections_lock:
            self.sequence += 1
            return f"req_fake{self.sequence:016d}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are expected (faults, timeouts); stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/1"
    sys_version = ""
    disable_nagle_algorithm = True
    server: ProviderHTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # -- request --------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True

    def _dispatch(self) -> None:
        self.extra_headers: dict[str, str] = {}  # per request: a connection serves several
        raw = self._read_body()
        url = urlsplit(self.path)
        if url.path.startswith("/_fake/"):
            self._control(url.path, raw)
            return
        try:
            body = json.loads(raw) if raw else None
            bad_json = False
        except ValueError:
            body, bad_json = None, True
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_body=raw,
            received_at=time.monotonic(),
        )
        state = self.server.state
        state.record(request)
        self.request_id = self.server.next_request_id()
        self.provider = request.provider
        try:
            header = request.headers.get(FAULT_HEADER)
            fault = parse_fault_header(header) if header else state.take_fault(url.path)
        except ValueError as error:
            self._send_error(400, str(error))
            return
        if fault is not None and fault.kind == "timeout":
            self._hang(fault.seconds or _DEFAULT_TIMEOUT_SECONDS)
            return
        if fault is not None and fault.kind == "hangup":
            self.close_connection = True  # no status line: the client sees the peer go away
            return
        if fault is not None and fault.kind == "latin1_header":
            self.extra_headers = dict([LATIN1_HEADER])
        delay = state.latency
        if fault is not None and fault.kind == "slow":
            delay += _DEFAULT_SLOW_SECONDS if fault.seconds is None else fault.seconds
        if delay > 0 and self.server.stopping.wait(delay):
            self.close_connection = True
            return
        if fault is not None and fault.kind in _ENDINGS:
            self._reply(request, bad_json=bad_json, ending=fault)
            return
        if fault is not None and fault.kind not in ("slow", "latin1_header"):
            self._send_fault(fault, request)
            return
        self._reply(request, bad_json=bad_json)

    # -- replies --------------------------------------------------------------

    def _reply(
        self, request: RecordedRequest, *, bad_json: bool, ending: Fault | None = None
    ) -> None:
        """The normal reply; `ending` (a cut, stall or early_end fault) ends it early."""
        api = request.api
        cut = ending is not None and ending.kind == "cut"
        state = self.server.state
        if gemini_api.GEMINI_PATH.match(request.path) and request.method == "POST":
            self._reply_gemini(request, bad_json=bad_json, ending=ending)
            return
        if api == "unknown" or request.method != "POST":
            self._send_error(404, f"Unknown request URL: {request.method} {request.path}.")
            return
        if bad_json or not isinstance(request.body, Mapping):
            self._send_error(400, "We could not parse the JSON body of your request.")
            return
        if api == "openai.embeddings":
            body = openai_api.embeddings_body(request, state.embedding_vectors())
            self._send_json(200, body, cut=cut)
            return
        if api == "anthropic.count_tokens":
            self._send_json(200, anthropic_api.count_tokens_body(request), cut=cut)
            return
        required = ["model", "input" if api == "openai.responses" else "messages"]
        if api == "anthropic.messages":
            required.append("max_tokens")
        missing = [key for key in required if request.body.get(key) in (None, "", [])]
        if missing:
            self._send_error(400, f"Missing required parameter: {missing[0]!r}.")
            return
        spec = state.take_reply(request)
        cache_read, cache_write = state.cache_usage(request)
        outcome = resolve(request, spec, cache_read=cache_read, cache_write=cache_write)
        if api == "openai.chat":
            body, events = openai_api.chat_body, openai_api.chat_events
        elif api == "openai.responses":
            body, events = openai_api.responses_body, openai_api.responses_events
        else:
            body, events = anthropic_api.message_body, anthropic_api.message_events
        if request.stream:
            self._send_events(events(request, outcome), ending=ending)
        else:
            self._send_json(200, body(request, outcome), cut=cut)

    def _reply_gemini(
        self, request: RecordedRequest, *, bad_json: bool, ending: Fault | None
    ) -> None:
        """Gemini's generateContent and streamGenerateContent (gemini_api.py)."""
        if bad_json or not isinstance(request.body, Mapping) or not request.body.get("contents"):
            self._send_json(400, gemini_api.error_body(400, "contents must not be empty"))
            return
        spec = self.server.state.take_reply(gemini_api.as_chat_request(request))
        outcome = gemini_api.answer(request, spec)
        if request.path.endswith(":streamGenerateContent"):
            self._send_events(gemini_api.generate_events(request, outcome), ending=ending)
        else:
            body = gemini_api.generate_body(request, outcome)
            self._send_json(200, body, cut=ending is not None and ending.kind == "cut")

    def _send_fault(self, fault: Fault, request: RecordedRequest) -> None:
        if fault.status is not None:
            headers: dict[str, str] = {}
            if fault.retry_after is not None:
                headers["retry-after"] = _number(fault.retry_after)
            if fault.retry_after_ms is not None:
                headers["retry-after-ms"] = _number(fault.retry_after_ms)
            if fault.should_retry is not None:
                headers["x-should-retry"] = "true" if fault.should_retry else "false"
            message = fault.message or f"Fake provider fault {fault.kind} for {request.path}."
            self._send_error(fault.status, message, headers)
        elif fault.kind == "malformed":
            if request.stream:
                name = {"anthropic": "message_start"}.get(request.provider)
                if request.api == "openai.responses":
                    name = "response.created"
                self._send_events([(name, '{"type": "broken", "unterminated')])
            else:
                self._send_raw(200, _MALFORMED, "application/json")
        elif fault.kind == "empty":
            self._send_raw(200, b"", "application/json")
        elif fault.kind == "wrong_content_type":
            self._send_raw(200, _HTML, "text/html; charset=utf-8")
        elif fault.kind == "raw":
            self._send_exact(fault.code, base64.b64decode(fault.payload or ""), fault.content_type)

    def _hang(self, seconds: float) -> None:
        """Never answer: wait until the client hangs up, the server stops, or `seconds` pass."""
        self.close_connection = True
        deadline = time.monotonic() + seconds
        connection = self.connection
        while not self.server.stopping.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                try:
                    if not connection.recv(1, socket.MSG_PEEK):
                        return
                except OSError:
                    return
                self.server.stopping.wait(0.05)

    # -- writing --------------------------------------------------------------

    def _common_headers(self, content_type: str) -> None:
        self.send_header("content-type", content_type)
        for name, value in self.extra_headers.items():
            self.send_header(name, value)  # http.server writes header values as Latin-1
        if self.provider == "anthropic":
            self.send_header("request-id", self.request_id)
            self.send_header("anthropic-organization-id", "00000000-0000-0000-0000-00000000fa6e")
        else:
            self.send_header("x-request-id", self.request_id)
            self.send_header("openai-processing-ms", "1")
            self.send_header("openai-version", "2020-10-01")

    def _send_raw(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        *,
        cut: bool = False,
    ) -> None:
        self.send_response(status)
        self._common_headers(content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if cut:
            self.wfile.write(payload[: len(payload) // 2])
            self._abort()
            return
        self.wfile.write(payload)

    def _send_json(self, status: int, document: Any, *, cut: bool = False) -> None:
        self._send_raw(status, json.dumps(document).encode(), "application/json", cut=cut)

    def _send_error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        if self.provider == "anthropic":
            document = anthropic_api.error_body(status, message, self.request_id)
        else:
            document = openai_api.error_body(status, message)
        self._send_raw(status, json.dumps(document).encode(), "application/json", headers)

    def _send_exact(self, status: int, payload: bytes, content_type: str) -> None:
        """Send `payload` as it is; an event stream one event per flushed chunk."""
        if not content_type.startswith("text/event-stream"):
            self._send_raw(status, payload, content_type)
            return
        self.send_response(status)
        self._common_headers(content_type)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for frame in re.findall(rb".*?(?:\n\n|$)", payload, re.DOTALL):
            if frame:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _send_events(self, events: list[SseEvent], *, ending: Fault | None = None) -> None:
        """Write an SSE stream in chunked encoding, one flushed chunk per event; `ending`
        stops it after `ending.after` events: dropped (cut), hung (stall) or ended (early_end).
        """
        self.send_response(200)
        self._common_headers("text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        delay = self.server.state.event_delay
        for sent, (name, data) in enumerate(events):
            if ending is not None and sent >= ending.after:
                if ending.kind == "stall":
                    self.wfile.flush()
                    self._hang(ending.seconds or _DEFAULT_TIMEOUT_SECONDS)
                elif ending.kind == "early_end":
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self._abort()
                return
            if delay > 0 and self.server.stopping.wait(delay):
                self._abort()
                return
            lines = "".join(f"data: {line}\n" for line in data.split("\n"))
            frame = ((f"event: {name}\n" if name else "") + lines + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        self.wfile.write(b"0\r\n\r\n")

    def _abort(self) -> None:
        """Drop the connection mid-response, as a crashed upstream would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- control endpoint -----------------------------------------------------

    def _control(self, path: str, raw: bytes) -> None:
        self.provider = "control"
        self.request_id = self.server.next_request_id()
        state = self.server.state
        try:
            payload = json.loads(raw) if raw else {}
            items = payload if isinstance(payload, list) else [payload]
            if path == "/_fake/faults":
                for item in items:
                    options = dict(item)
                    kind = options.pop("kind")
                    state.enqueue_fault(
                        kind,
                        path=options.pop("path", None),
                        times=int(options.pop("times", 1)),
                        **options,
                    )
            elif path == "/_fake/replies":
                for item in items:
                    options = dict(item)
                    match, times = options.pop("match", None), options.pop("times", None)
                    calls = tuple(ToolCall(**call) for call in options.pop("tool_calls", ()))
                    state.add_reply(
                        ReplySpec(tool_calls=calls, **options), match=match, times=times
                    )
            elif path == "/_fake/embeddings":
                for item in items:
                    state.embed_as(item["text"], item["vector"])
            elif path == "/_fake/config":
                for key in ("latency", "event_delay"):
                    if key in payload:
                        setattr(state, key, float(payload[key]))
            elif path == "/_fake/reset":
                state.reset()
            elif path == "/_fake/clear":
                state.clear()
            elif path == "/_fake/requests":
                self._send_json(200, [r.to_json() for r in state.requests])
                return
            elif path != "/_fake/health":
                self._send_json(404, {"error": {"message": f"unknown control path {path}"}})
                return
        except (KeyError, TypeError, ValueError) as error:
            self._send_json(400, {"error": {"message": f"{type(error).__name__}: {error}"}})
            return
        self._send_json(200, {"ok": True})


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
