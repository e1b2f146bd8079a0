"""Read one recorded HTTP call to a model API into a provider-neutral `CallSummary`.

`describe_call` picks the adapter from the URL and the method:

=========================  ==============  =================================================
path (POST)                api             provider
=========================  ==============  =================================================
``.../chat/completions``   ``chat``        ``openai`` on api.openai.com, ``anthropic`` on
``.../responses``          ``responses``   api.anthropic.com (its OpenAI-compatible
``.../embeddings``         ``embeddings``  endpoint), else ``openai-compatible``
``.../v1/messages``        ``messages``    ``anthropic`` on api.anthropic.com, else
                                           ``anthropic-compatible``
``.../models/M:generate    ``generate_     ``google`` on generativelanguage.googleapis.com,
Content`` (and ``:stream   content``       else ``google-compatible`` (Gemini, adapter
GenerateContent``)                         ``gemini``)
anything else              ``unknown``     as above by host, else ``unknown``
=========================  ==============  =================================================

The provider names the party that bills the call, so a compatible server (vLLM, Ollama,
LiteLLM, Groq, Azure) is never mistaken for OpenAI itself; `api_url` keeps its host so that
pricing can still recognise a known cloud.

Token counts mean the same thing for every provider (see `pytest_llmeval.capture.providers.types`,
where the shared types live). This module only re-exports them and dispatches; `sse` splits
event streams, and the adapters are `openai`, `anthropic`, `gemini` and `generic`.

This package imports only the standard library, and nothing in it raises on a malformed
body: an unexpected shape gives a summary of whatever could be read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from pytest_llmeval.capture.providers import anthropic, gemini, generic, openai
from pytest_llmeval.capture.providers.sse import parse_sse
from pytest_llmeval.capture.providers.types import Api, CallSummary, SSEEvent

__all__ = [
    "Api",
    "CallSummary",
    "SSEEvent",
    "describe_call",
    "missing_stream_end",
    "parse_sse",
    "provider_of",
]

# Hosts whose owner bills the call; any other host is a "compatible" server.
_OPENAI_HOST = re.compile(r"(?:.+\.)?api\.openai\.com")
_ANTHROPIC_HOST = "api.anthropic.com"
_GOOGLE_HOST = "generativelanguage.googleapis.com"


def describe_call(
    *,
    method: str,
    url: str,
    request_body: Any,
    status: int,
    response_body: Any | None,
    events: Sequence[SSEEvent] | None,
) -> CallSummary:
    """Summarise one HTTP call to a model API; never raises, whatever the bodies hold.

    `request_body` and `response_body` are parsed JSON (or None); `events` are the SSE
    events of a streamed response (then `response_body` is ignored).
    """
    provider, api, api_url = _route(method, url)
    arguments: dict[str, Any] = {
        "provider": provider,
        "api_url": api_url,
        "request_body": request_body,
        "status": status,
        "response_body": response_body,
        "events": events,
    }
    if api == "chat":
        return openai.describe_chat(**arguments)
    if api == "responses":
        return openai.describe_responses(**arguments)
    if api == "embeddings":
        return openai.describe_embeddings(**arguments)
    if api == "messages":
        return anthropic.describe_messages(**arguments)
    if api == "generate_content":
        return gemini.describe_generate_content(**arguments)
    return generic.describe_unknown(**arguments)


def provider_of(method: str, url: str) -> str:
    """Who bills a request, from its method and URL alone (the table in the module doc)."""
    return _route(method, url)[0]


def _route(method: object, url: object) -> tuple[str, Api, str | None]:
    """(provider, api, api_url) for a request line."""
    if isinstance(method, str) and isinstance(url, str):
        return _route_line(method, url)
    return _read_route(method, url)


@functools.lru_cache(maxsize=256)
def _route_line(method: str, url: str) -> tuple[str, Api, str | None]:
    # every call of a session goes to one of a few URLs: each is parsed once
    return _read_route(method, url)


def _read_route(method: object, url: object) -> tuple[str, Api, str | None]:
    try:
        parts = urlsplit(url if isinstance(url, str) else "")
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:  # a malformed netloc, e.g. an unclosed IPv6 bracket or a bad port
        return "unknown", "unknown", None
    path = parts.path.rstrip("/")
    netloc = f"{host}:{port}" if port is not None else host
    api_url = f"{parts.scheme}://{netloc}{path}" if host else None
    api: Api = "unknown"
    if isinstance(method, str) and method.upper() == "POST":
        if path.endswith("/chat/completions"):
            api = "chat"
        elif path.endswith("/responses"):
            api = "responses"
        elif path.endswith("/embeddings"):
            api = "embeddings"
        elif path.endswith("/v1/messages"):
            api = "messages"
        elif gemini.GEMINI_PATH.search(path):
            api = "generate_content"
    if _OPENAI_HOST.fullmatch(host):
        provider = "openai"
    elif host == _ANTHROPIC_HOST:
        provider = "anthropic"
    elif host == _GOOGLE_HOST:
        provider = "google"
    elif api == "generate_content":
        provider = "google-compatible"
    elif api == "messages":
        provider = "anthropic-compatible"
    elif api != "unknown":
        provider = "openai-compatible"
    else:
        provider = "unknown"
    return provider, api, api_url


def missing_stream_end(method: str, url: str, raw_events: Sequence[str]) -> str | None:
    """Why a stream that the server ended without a transport error is incomplete, or None.

    Each API ends a complete stream with its own last event (Chat Completions `data:
    [DONE]`, Responses `response.completed`/`failed`/`incomplete`, Messages
    `message_stop`, Gemini a chunk with its `finishReason`; or an `error` event); a
    stream that stops before it was cut short, however cleanly the connection closed.
    Streams of other APIs give None: nothing says where they end. `raw_events` are the
    event texts in order.
    """
    _, api, _ = _route(method, url)
    check = {
        "chat": openai.chat_stream_end_missing,
        "responses": openai.responses_stream_end_missing,
        "messages": anthropic.messages_stream_end_missing,
        "generate_content": gemini.stream_end_missing,
    }.get(api)
    if check is None:
        return None
    for raw in reversed(raw_events):  # the last event with data decides; comments skipped
        events = parse_sse(raw)
        if events:
            return check(events[-1])
    return check(SSEEvent(event=None, data=""))  # no event at all: its end is missing too
