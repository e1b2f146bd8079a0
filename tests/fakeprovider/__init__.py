"""A fake OpenAI/Anthropic HTTP server for the test suite and the benchmarks."""

from __future__ import annotations

from .control import FakeProviderControl
from .server import FAULT_HEADER, FakeProviderServer, closed_port_url
from .specs import FAULT_KINDS, Fault, RecordedRequest, ReplyHandler, ReplySpec, ToolCall

__all__ = [
    "FAULT_HEADER",
    "FAULT_KINDS",
    "FakeProviderControl",
    "FakeProviderServer",
    "Fault",
    "RecordedRequest",
    "ReplyHandler",
    "ReplySpec",
    "ToolCall",
    "closed_port_url",
]
