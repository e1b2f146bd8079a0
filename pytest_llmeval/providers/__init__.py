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
anything else              ``unknown``     as above by host, else ``unknown``
=========================  ==============  =================================================

The provider names the party that bills the call, so a compatible server (vLLM, Ollama,
LiteLLM, Groq, Azure) is never mistaken for OpenAI itself; `api_url` keeps its host so that
pricing can still recognise a known cloud.

Token counts mean the same thing for every provider (the convention of
`pytest_llmeval.models.Inference`): `input_tokens` are the *uncached* input tokens, so
`input_tokens + cache_read_tokens + cache_write_tokens` is the whole prompt. OpenAI reports
`prompt_tokens` including cached tokens; its adapter subtracts them. Anthropic already
reports them apart. `output_tokens` include reasoning tokens, which are also given on their
own in `reasoning_tokens` when the API reports them.

This package imports only the standard library, and nothing in it raises on a malformed
body: an unexpected shape gives a summary of whatever could be read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "Api",
    "CallSummary",
    "SSEEvent",
    "describe_call",
    "missing_stream_end",
    "parse_sse",
    "provider_of",
]

#: The model APIs the adapters understand.
Api = Literal["chat", "responses", "embeddings", "messages", "unknown"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One server-sent event: its `event:` name (if any) and its raw `data:` payload."""

    event: str | None
    data: str


@dataclass(frozen=True, kw_only=True)
class CallSummary:
    """What one model API call was: who, which model, tokens, prompt, answer, error."""

    provider: str
    """openai, anthropic, openai-compatible, anthropic-compatible or unknown (see module doc)."""
    api: Api
    """Which API shape the call used."""
    api_url: str | None = None
    """The endpoint as scheme://host[:port]/path; no query string and no credentials."""
    model: str | None = None
    """The model as the response names it (often a dated snapshot), else as requested."""
    requested_model: str | None = None
    """The model as the request named it."""
    input_tokens: int | None = None
    """Uncached input tokens; None when the response reported no usage."""
    output_tokens: int | None = None
    """Output tokens, reasoning included."""
    cache_read_tokens: int | None = None
    """Input tokens served from the provider's prompt cache."""
    cache_write_tokens: int | None = None
    """Input tokens written to the prompt cache (Anthropic's cache_creation_input_tokens)."""
    reasoning_tokens: int | None = None
    """The part of output_tokens spent on reasoning, when the API reports it."""
    params: dict[str, Any] = field(default_factory=dict)
    """Request settings present in the request: temperature, top_p, max_tokens,
    max_completion_tokens, max_output_tokens, seed, stream, tools (names), response_format."""
    input_text: str | None = None
    """The prompt as `role: text` lines (system first, tool results as `tool:` lines)."""
    output_text: str | None = None
    """The answer's text, and tool calls as `name(arguments)` lines."""
    stop_reason: str | None = None
    """finish_reason (chat), stop_reason (messages) or the response status (responses)."""
    error: str | None = None
    """The error message of an error body, or `HTTP <status>` for an error without one."""
    request_id: str | None = None
    """The provider's request id when the body carries one (Anthropic errors do)."""
    response_id: str | None = None
    """The id of the completion, response or message."""


# Hosts whose owner bills the call; any other host is a "compatible" server.
_OPENAI_HOST = re.compile(r"(?:.+\.)?api\.openai\.com")
_ANTHROPIC_HOST = "api.anthropic.com"
# SSE lines end only at CRLF, LF or CR (str.splitlines would also split at U+2028 and
# friends, which JSON may carry unescaped inside a string).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


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
    from pytest_llmeval.providers import anthropic, generic, openai

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
    return generic.describe_unknown(**arguments)


def provider_of(method: str, url: str) -> str:
    """Who bills a request, from its method and URL alone (the table in the module doc)."""
    return _route(method, url)[0]


def _route(method: object, url: object) -> tuple[str, Api, str | None]:
    """(provider, api, api_url) for a request line."""
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
    if _OPENAI_HOST.fullmatch(host):
        provider = "openai"
    elif host == _ANTHROPIC_HOST:
        provider = "anthropic"
    elif api == "messages":
        provider = "anthropic-compatible"
    elif api != "unknown":
        provider = "openai-compatible"
    else:
        provider = "unknown"
    return provider, api, api_url


def parse_sse(text: str) -> list[SSEEvent]:
    """Split a `text/event-stream` body into events (the WHATWG rules, tolerant of a
    missing final blank line); comments, `id:` and `retry:` fields are dropped."""
    events: list[SSEEvent] = []
    name: str | None = None
    data: list[str] = []
    for line in [*_LINE_BREAK.split(text), ""]:
        if not line:
            if data:
                events.append(SSEEvent(event=name, data="\n".join(data)))
            name, data = None, []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "data":
            data.append(value)
        elif key == "event":
            name = value or None
    return events


def missing_stream_end(method: str, url: str, raw_events: Sequence[str]) -> str | None:
    """Why a stream that the server ended without a transport error is incomplete, or None.

    Each API ends a complete stream with its own last event (Chat Completions `data:
    [DONE]`, Responses `response.completed`/`failed`/`incomplete`, Messages
    `message_stop`; or an `error` event); a stream that stops before it was cut short,
    however cleanly the connection closed. Streams of other APIs give None: nothing
    says where they end. `raw_events` are the event texts in order.
    """
    from pytest_llmeval.providers import anthropic, openai

    _, api, _ = _route(method, url)
    check = {
        "chat": openai.chat_stream_end_missing,
        "responses": openai.responses_stream_end_missing,
        "messages": anthropic.messages_stream_end_missing,
    }.get(api)
    if check is None:
        return None
    for raw in reversed(raw_events):  # the last event with data decides; comments skipped
        events = parse_sse(raw)
        if events:
            return check(events[-1])
    return check(SSEEvent(event=None, data=""))  # no event at all: its end is missing too
