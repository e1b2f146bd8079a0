"""Drive a fake provider in another process through its `/_fake/*` control endpoint."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from .specs import make_fault

__all__ = ["FakeProviderControl"]


class FakeProviderControl:
    """Script a fake provider by URL (e.g. from a pytester subprocess or a benchmark)."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, path: str, payload: Any = None, *, method: str = "POST") -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}/_fake/{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read() or b"null")

    def enqueue_fault(
        self, kind: str | int, *, path: str | None = None, times: int = 1, **options: Any
    ) -> None:
        """Queue a fault on the remote server (same meaning as the in-process method)."""
        make_fault(kind, **options)
        self._call("faults", {"kind": str(kind), "path": path, "times": times, **options})

    def reply_with(
        self,
        text: str | None = None,
        *,
        json: Any = None,
        tool_calls: Sequence[Mapping[str, Any]] = (),
        finish_reason: str | None = None,
        usage: Mapping[str, int] | None = None,
        match: str | None = None,
        times: int | None = None,
    ) -> None:
        """Script a reply on the remote server; `match` can only be a substring here."""
        self._call(
            "replies",
            {
                "text": text,
                "json": json,
                "tool_calls": [dict(call) for call in tool_calls],
                "finish_reason": finish_reason,
                "usage": dict(usage) if usage else None,
                "match": match,
                "times": times,
            },
        )

    def embed_as(self, text: str, vector: Sequence[float]) -> None:
        """Script an embedding vector on the remote server (see `ProviderState.embed_as`)."""
        self._call("embeddings", {"text": text, "vector": [float(v) for v in vector]})

    def configure(self, *, latency: float | None = None, event_delay: float | None = None) -> None:
        """Change the remote server's latency and per-event stream delay."""
        settings = {"latency": latency, "event_delay": event_delay}
        self._call("config", {k: v for k, v in settings.items() if v is not None})

    def reset(self) -> None:
        """Forget the remote server's requests, replies, faults and caches."""
        self._call("reset", {})

    def clear(self) -> None:
        """Forget the remote server's recorded requests."""
        self._call("clear", {})

    def requests(self) -> list[dict[str, Any]]:
        """The requests the remote server received, as JSON dicts."""
        return list(self._call("requests", method="GET"))
