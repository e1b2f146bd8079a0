"""Injected provider faults as the bytes a provider would send (or the error it would
cause): what the interceptor serves instead of a recorded or live response.

Error bodies take the shape of the API the request went to: Anthropic's `{"type":
"error", "error": {"type": "overloaded_error", ...}}` for its Messages API, OpenAI's
`{"error": {"message", "type", "param", "code"}}` for everything else. Each response
carries `x-llmeval-injected-fault` (no real provider sends it) and is never stored in
a cassette: a fault is not the provider's answer, and replay serves it again from the
test's rules, not from the file.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_llmeval.capture.cassettes.calls import FaultResponse
from pytest_llmeval.core.errors import LLMEvalError
from pytest_llmeval.core.wire import split_sse
from pytest_llmeval.records.injection import FaultRule

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.calls import Call
    from pytest_llmeval.capture.cassettes.models import Interaction, RecordedRequest
    from pytest_llmeval.core.redact import Redactor
    from pytest_llmeval.core.vocabulary import Role

#: The header every injected response carries.
INJECTED_HEADER = b"x-llmeval-injected-fault"

_OPENAI_ERRORS = {
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    529: ("server_error", None, "The server is overloaded, please try again later."),
}
_ANTHROPIC_ERRORS = {
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    529: ("overloaded_error", "Overloaded"),
}
_REFUSAL = "I'm sorry, but I can't help with that."
_CUT = "peer closed connection without sending complete message body (incomplete chunked read)"


class FaultNotApplicable(LLMEvalError):
    """A fault was asked for a request whose API cannot carry it."""


def api_of(url: str) -> str:
    """`messages` for Anthropic's Messages API, `chat`, `responses`, or `other`."""
    path = urlsplit(url).path.rstrip("/")
    if path.endswith("/messages"):
        return "messages"
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/responses"):
        return "responses"
    return "other"


def build_fault(
    rule: FaultRule, method: str, url: str, body: Any, *, read_timeout: float | None = None
) -> FaultResponse | None:
    """The response (or transport error) for `rule` on this request; None when the rule
    only delays the real answer (`slow_first_token` within the client's read timeout)."""
    api = api_of(url)
    request = body if isinstance(body, dict) else {}
    stream = request.get("stream") is True
    requested = request.get("model")
    model = requested if isinstance(requested, str) else "unknown"
    kind = rule.kind
    description = rule.describe()

    def transport(failure: str, message: str, wait: float = 0.0) -> FaultResponse:
        return FaultResponse(description, 0, (), (), failure, message, False, wait)

    if kind == "slow_first_token":
        if read_timeout is not None and read_timeout < rule.delay_s:
            return transport("ReadTimeout", "The read operation timed out", read_timeout)
        return None
    if kind == "connection_reset":
        return transport("ReadError", "[Errno 104] Connection reset by peer")
    if kind == "read_timeout":
        return transport("ReadTimeout", "The read operation timed out")
    if kind in ("429", "500", "502", "503", "529"):
        return _http_error(rule, api, description)
    if api not in ("chat", "messages"):
        raise FaultNotApplicable(
            f"the injected fault {kind!r} needs a Chat Completions or Messages call, but the "
            f"request was {method} {urlsplit(url).path}; inject an HTTP or transport fault "
            "(429, 500, connection_reset, read_timeout, ...) into it instead"
        )
    events = _answer(api, kind, model)
    if kind == "stream_cut":
        if stream:
            chunks = _sse(api, events[:-2])  # the answer begun, never ended
        else:
            whole = json.dumps(_whole(api, "stream_cut", model)).encode()
            chunks = (whole[: len(whole) // 2],)
        return FaultResponse(
            description, 200, _headers(stream, description), chunks, "RemoteProtocolError",
            _CUT, stream,
        )  # fmt: skip
    if kind == "malformed_json":
        whole = json.dumps(_whole(api, "malformed_json", model)).encode()
        if stream:
            name = b"event: content_block_delta\n" if api == "messages" else b""
            chunks = (name + b"data: " + whole[: len(whole) // 2] + b"\n\n",)
        else:
            chunks = (whole[: len(whole) // 2],)
        message = "the body is not valid JSON"
        return FaultResponse(
            description, 200, _headers(stream, description), chunks, None, message, stream
        )
    # refusal, content_filter: a well-formed answer that declines
    chunks = _sse(api, events) if stream else (json.dumps(_whole(api, kind, model)).encode(),)
    return FaultResponse(description, 200, _headers(stream, description), chunks, None, "", stream)


def arm_fault(call: Call, rule: FaultRule, read_timeout: float | None) -> FaultNotApplicable | None:
    """Arm a request's `call` with the injected fault `rule` picked for it: the response
    that replaces the answer (`call.fault`), or the delay before a late first token
    (`call.delay_s`). A rule that cannot apply to this request refuses the call and is
    returned (`read_timeout`: the client's, which a slow first token may run into)."""
    live = call.live
    call.injected = rule.describe()
    body = live.body if live.body_format == "json" else None
    try:
        fault = build_fault(rule, live.canonical.method, live.url, body, read_timeout=read_timeout)
    except FaultNotApplicable as error:
        call.refusal = error
        return error
    if fault is None:  # a slow first token: the answer comes, late
        call.delay_s = rule.delay_s
    else:
        call.fault = fault
    return None


def _headers(stream: bool, description: str) -> tuple[tuple[bytes, bytes], ...]:
    kind = b"text/event-stream" if stream else b"application/json"
    return ((b"content-type", kind), (INJECTED_HEADER, description.encode()))


def _http_error(rule: FaultRule, api: str, description: str) -> FaultResponse:
    status = int(rule.kind)
    if api == "messages":
        kind, message = _ANTHROPIC_ERRORS[status]
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_llmeval_injected",
        }
    else:
        kind, code, message = _OPENAI_ERRORS[status]
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    headers = [(b"content-type", b"application/json"), (INJECTED_HEADER, description.encode())]
    if rule.retry_after is not None:
        # both SDKs read retry-after-ms first; retry-after (whole seconds) is the standard one
        headers.append((b"retry-after-ms", str(round(rule.retry_after * 1000)).encode()))
        headers.append((b"retry-after", str(max(1, round(rule.retry_after))).encode()))
    return FaultResponse(
        description, status, tuple(headers), (json.dumps(body).encode(),), None, message, False
    )


def _whole(api: str, kind: str, model: str) -> dict[str, Any]:
    """A complete non-streamed answer carrying the fault (a refusal, a filtered answer)."""
    text = "Partial answer that never ends" if kind in ("stream_cut", "malformed_json") else ""
    if api == "messages":
        content = [{"type": "text", "text": text}] if text else []
        return {
            "id": "msg_llmeval_injected", "type": "message", "role": "assistant",
            "model": model, "content": content,
            "stop_reason": "refusal" if kind in ("refusal", "content_filter") else "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0},
        }  # fmt: skip
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    finish = "stop"
    if kind == "refusal":
        message["refusal"] = _REFUSAL
    elif kind == "content_filter":
        message["content"] = ""
        finish = "content_filter"
    return {
        "id": "chatcmpl-llmeval-injected", "object": "chat.completion", "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }  # fmt: skip


def _answer(api: str, kind: str, model: str) -> list[tuple[str | None, Any]]:
    """A streamed answer carrying the fault, as (event name, data) pairs."""
    if api == "messages":
        stop = "refusal" if kind in ("refusal", "content_filter") else "end_turn"
        start = {k: v for k, v in _whole(api, kind, model).items() if k != "stop_reason"}
        start.update(content=[], stop_reason=None)
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": start})
        ]
        if kind in ("stream_cut", "malformed_json"):
            events += [
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": "Partial answer"},
                    },
                ),
            ]
        events += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 0},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return events

    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[str | None, Any]:
        return None, {
            "id": "chatcmpl-llmeval-injected", "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }  # fmt: skip

    if kind == "refusal":
        body = [
            chunk({"role": "assistant", "refusal": ""}),
            chunk({"refusal": _REFUSAL}),
            chunk({}, "stop"),
        ]
    elif kind == "content_filter":
        body = [chunk({"role": "assistant", "content": ""}), chunk({}, "content_filter")]
    else:
        body = [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Partial answer"}),
            chunk({}, "stop"),
        ]
    return [*body, (None, "[DONE]")]


def _sse(api: str, events: list[tuple[str | None, Any]]) -> tuple[bytes, ...]:
    chunks = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {name}\n" if name is not None else ""
        chunks.append(f"{head}data: {text}\n\n".encode())
    return tuple(chunks)


def served_interaction(
    fault: FaultResponse, request: RecordedRequest, *, role: Role, redact: Redactor
) -> Interaction:
    """The interaction an injected fault stands for (reported, never recorded): priced at
    0, since nothing was spent, instead of at what the request would have cost."""
    from pytest_llmeval.capture.cassettes.models import (
        InteractionMeta,
        failed_interaction,
        received_interaction,
    )

    if not fault.status:  # a transport failure: no response at all
        received = failed_interaction(
            request, role=role, latency=fault.wait_s, error=fault.error or "",
            failure=fault.failure or "TransportError", redact=redact,
        )  # fmt: skip
    else:
        body = b"".join(fault.chunks)
        events = None
        if fault.stream:
            complete, rest = split_sse(body, final=True)
            events = [(raw, 0.0) for raw in complete] + ([(rest, 0.0)] if rest else [])
        received = received_interaction(
            request, fault.status,
            {name.decode(): value.decode() for name, value in fault.headers},
            b"" if fault.stream else body, events, role=role, latency=fault.wait_s,
            error=fault.error if fault.failure else None,
            truncated=fault.failure is not None, redact=redact,
            failure=fault.failure,
        )  # fmt: skip
    meta = InteractionMeta(**{**received.meta.model_dump(), "cost_usd": 0.0})
    return received.model_copy(update={"meta": meta})
