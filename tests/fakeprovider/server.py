"""A loopback HTTP server that speaks the OpenAI and Anthropic APIs, with faults on demand.

The real `openai` and `anthropic` SDKs talk to it through `base_url`. Replies are a
pure function of the request unless a test scripts them; faults are triggered by
`enqueue_fault`, by an `x-fake-fault: <kind>[;key=value]` request header, or by
`POST /_fake/faults` (see `control.py`). Stdlib only: one thread per connection.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any

from .handler import ProviderHTTPServer
from .specs import FAULT_HEADER, make_fault
from .state import ProviderState

__all__ = ["FAULT_HEADER", "FakeProviderServer", "closed_port_url"]


def closed_port_url() -> str:
    """The URL of a loopback port nobody listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeProviderServer(ProviderState):
    """A running fake provider on 127.0.0.1; scripting methods come from ProviderState.

    Use as a context manager or call `start()` / `stop()`. `latency` delays every API
    response (before the first byte); `event_delay` delays each event of a stream.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        event_delay: float = 0.0,
    ) -> None:
        super().__init__(latency=latency, event_delay=event_delay)
        self._address = (host, port)
        self._httpd: ProviderHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port; after `stop()` it stays the same (and now refuses connections)."""
        if self._port is None:
            raise RuntimeError(
                "fake provider: not started; call start() or use it as a context manager"
            )
        return self._port

    @property
    def url(self) -> str:
        """The server root, e.g. http://127.0.0.1:54321 (the Anthropic SDK's base_url)."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The OpenAI SDK's base_url: the root plus `/v1`."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic SDK's base_url: the root (the SDK adds `/v1`)."""
        return self.url

    def start(self) -> FakeProviderServer:
        """Bind and serve in a background thread; returns self. A restart keeps the port."""
        if self._httpd is not None:
            return self
        host, port = self._address
        self._httpd = ProviderHTTPServer((host, self._port or port), self)
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"fake-provider-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections (hanging `timeout` faults included)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        with httpd.connections_lock:
            connections = list(httpd.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def fault_header(self, kind: str | int, **options: Any) -> dict[str, str]:
        """`extra_headers` that make one SDK call fail with a fault (validated here)."""
        make_fault(kind, **options)
        value = ";".join([str(kind), *(f"{k}={v}" for k, v in options.items())])
        return {FAULT_HEADER: value}
