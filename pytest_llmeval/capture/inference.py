"""HTTP exchanges from the cassette layer -> Inference records, priced and timed.

The provider adapters read what was sent and received; pricing turns tokens into
USD. A recorded interaction carries its provider, model, usage and cost in its meta
(written by `annotate_interaction` at record time), so a replay reports the recorded
cost even if prices change later, and spends nothing.

Each exchange is read and priced once. A live call is read and priced when it is
recorded; the `Annotation` that holds the meta also carries that summary and price, and
the cassette session hands it back on the `Exchange`, so `build_inference` reuses them.
A replayed, cached or failed call has no annotation: `build_inference` reads it once,
and prices it once unless its recording already says what it cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_llmeval.capture.providers import describe_call, parse_sse
from pytest_llmeval.capture.providers.types import CallSummary, SSEEvent
from pytest_llmeval.records.models import Inference, ToolCall, ToolResult, trusted

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.calls import Exchange
    from pytest_llmeval.capture.cassettes.match import LiveRequest
    from pytest_llmeval.capture.cassettes.models import Interaction, RecordedRequest
    from pytest_llmeval.capture.price_overrides import ModelPrice
    from pytest_llmeval.capture.pricing import Price


def _request_body(request: RecordedRequest) -> Any:
    return request.body if request.body_format == "json" else None


def summarize(request: RecordedRequest, interaction: Interaction | None) -> CallSummary:
    """What the provider adapters make of one request and its response."""
    status = 0
    body: Any = None
    events: list[SSEEvent] | None = None
    response = interaction.response if interaction is not None else None
    if response is not None:  # None: the transport failed before any response
        status = response.status
        if response.events is not None:
            events = [event for raw in response.events for event in parse_sse(raw.raw)]
        else:
            body = response.body
    return describe_call(
        method=request.method,
        url=request.url,
        request_body=_request_body(request),
        status=status,
        response_body=body,
        events=events,
    )


class Annotation(dict[str, Any]):
    """The meta fields stored with a newly recorded interaction (provider, model, usage,
    cost: the dict the cassette writes), carrying the summary and price they were made
    from, so that the exchange's Inference reuses them instead of reading and pricing
    the call again."""

    __slots__ = ("price", "summary")

    def __init__(self, summary: CallSummary, price: Price) -> None:
        super().__init__(
            provider=summary.provider,
            model=summary.model,
            usage={
                "input_tokens": summary.input_tokens,
                "output_tokens": summary.output_tokens,
                "cache_read_tokens": summary.cache_read_tokens,
                "cache_write_tokens": summary.cache_write_tokens,
            },
            cost_usd=price.usd,
            price_source=price.source,
        )
        self.summary = summary
        self.price = price


def annotate_interaction(
    interaction: Interaction, overrides: Mapping[str, ModelPrice] | None = None
) -> Annotation:
    """Meta fields stored with a newly recorded interaction: provider, model, usage, cost."""
    from pytest_llmeval.capture.pricing import price_call

    summary = summarize(interaction.request, interaction)
    return Annotation(summary, price_call(summary, overrides=overrides))


def _unreadable(interaction: Interaction | None, summary: CallSummary) -> str | None:
    """Why a successful-looking response of a known API is no answer at all, if it is not."""
    response = interaction.response if interaction is not None else None
    if interaction is None or response is None or summary.api == "unknown":
        return None
    if interaction.meta.truncated:
        return interaction.meta.error or "the response was cut short"
    if 200 <= response.status < 300 and response.events is None and response.body is None:
        kind = response.headers.get("content-type", "no content type")
        return f"HTTP {response.status} with a body that is not JSON ({kind})"
    return None


def build_inference(
    exchange: Exchange,
    nodeid: str,
    overrides: Mapping[str, ModelPrice] | None = None,
    redact: Callable[[str], str] = str,
) -> Inference:
    """The Inference record of one exchange (unpriced calls are named by the rollups).

    The texts are redacted once more as a whole: a secret split across stream events
    survives the per-event redaction of the cassette, not this one.
    """
    interaction = exchange.interaction
    # a live call was read and priced when it was recorded (its annotation); reuse that
    annotation = exchange.annotation if isinstance(exchange.annotation, Annotation) else None
    summary = summarize(exchange.request, interaction) if annotation is None else annotation.summary
    meta: dict[str, Any] = {}
    if exchange.replayed and interaction is not None:
        meta = interaction.meta.model_extra or {}
    recorded = meta.get("cost_usd")
    cost: float | None
    reason = source = None
    if isinstance(recorded, (int, float)):
        cost, priced = float(recorded), True
        # recordings made before sources were kept say only that the price was recorded
        kept = meta.get("price_source", "recorded")
        source = kept if isinstance(kept, str) else None
    elif annotation is not None:
        price = annotation.price
        cost, priced, reason, source = price.usd, price.priced, price.reason, price.source
    else:
        # A replay the recording left unpriced (cost_usd null) is priced by overrides
        # only: the catalogue said no then, and loading it costs a replay-only session
        # ~50 ms. Imported cassettes carry no cost_usd and are priced now. (The pricing
        # module itself loads here: a replay of priced recordings never needs it.)
        from pytest_llmeval.capture.pricing import price_call

        price = price_call(summary, overrides=overrides, catalog="cost_usd" not in meta)
        cost, priced, reason, source = price.usd, price.priced, price.reason, price.source
    response = interaction.response if interaction is not None else None
    status = response.status if response is not None else None
    error = exchange.error or summary.error or _unreadable(interaction, summary)
    replayed = exchange.replayed
    values: dict[str, Any] = {  # every field, in Inference's order (see `trusted`)
        "nodeid": nodeid,
        "role": exchange.role,
        "provider": summary.provider,
        "api": summary.api,
        "model": summary.model,
        "params": summary.params,
        "input_text": None if summary.input_text is None else redact(summary.input_text),
        "output_text": None if summary.output_text is None else redact(summary.output_text),
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "cache_read_tokens": summary.cache_read_tokens,
        "cache_write_tokens": summary.cache_write_tokens,
        "cost_usd": cost,
        "priced": priced,
        "unpriced_reason": reason,
        "price_source": source,
        "spent_usd": 0.0 if replayed or cost is None else cost,
        "latency_s": exchange.latency_s,
        "ttft_s": exchange.ttft_s,
        "status": status,
        "error": None if error is None else redact(error),
        "replayed": replayed,
        "stream": interaction is not None and interaction.is_stream,
        **_tool_fields(summary, redact),
        "injected_fault": exchange.injected_fault,
        "request_model": summary.requested_model,
        "response_id": summary.response_id,
        "finish_reason": summary.stop_reason,
        "started_at": exchange.started_at,
    }
    if replayed and exchange.injected_fault is None:
        # A recording's values, read from a validated cassette (and the summary's, which
        # the adapters type): validating them again is a third of this step. The names
        # of the values given are the record's fields_set, as validation would keep it.
        given = {name for name, value in values.items() if value is not None}
        return trusted(Inference, values, given)
    return Inference(**values)  # validation copies params


def _tool_fields(summary: CallSummary, redact: Callable[[str], str]) -> dict[str, Any]:
    """The summary's tool calls, results and schemas as record fields, every string in them
    redacted like the texts (a tool argument or result can carry a secret as well)."""
    if not (summary.tool_calls or summary.tool_results or summary.tool_schemas):
        return {"tool_calls": [], "tool_results": [], "tool_schemas": {}}
    return {
        "tool_calls": [
            ToolCall(
                id=_redact_optional(call.id, redact),
                name=redact(call.name),
                arguments=_redact_value(call.arguments, redact),
                arguments_raw=redact(call.arguments_raw),
                arguments_valid=call.arguments_valid,
            )
            for call in summary.tool_calls
        ],
        "tool_results": [
            ToolResult(
                call_id=_redact_optional(result.call_id, redact),
                name=_redact_optional(result.name, redact),
                content=redact(result.content),
                is_error=result.is_error,
            )
            for result in summary.tool_results
        ],
        "tool_schemas": {
            redact(name): _redact_value(schema, redact)
            for name, schema in summary.tool_schemas.items()
        },
    }


def _redact_optional(text: str | None, redact: Callable[[str], str]) -> str | None:
    return None if text is None else redact(text)


def _redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    """`value` (parsed JSON) with every string in it, keys included, redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(key)): _redact_value(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_value(item, redact) for item in value]
    return value


def unpriced_cause(inference: Inference, url: str) -> str | None:
    """Why a call is not in the cost, as `provider:model at host: reason`; None if it is."""
    from pytest_llmeval.records.accounting import unpriced_reason

    reason = unpriced_reason(inference)
    if reason is None:
        return None
    return f"{inference.provider}:{inference.model or '?'} at {_host(url)}: {reason}"


def unpriceable_request(
    live: LiveRequest, overrides: Mapping[str, ModelPrice] | None = None
) -> str | None:
    """Why a live request, not sent yet, will not be priceable (as `unpriced_cause` says
    it); None when it will be, or when it is no model call (not a POST).

    It is priced as if its response reported usage, by the same rules as every call;
    what the request itself decides is checked first: a chat stream that does not ask
    for usage never reports it.
    """
    from dataclasses import replace

    from pytest_llmeval.capture.pricing import REASON_NO_USAGE_STREAM, price_call

    if live.canonical.method != "POST":
        return None
    body = live.body if live.body_format == "json" else None
    summary = describe_call(
        method="POST", url=live.url, request_body=body, status=0, response_body=None, events=None
    )
    name = f"{summary.provider}:{summary.requested_model or '?'} at {_host(live.url)}"
    if summary.api == "unknown":
        return f"{name}: not a model API the plugin can price"
    reasons = []
    if summary.api == "chat" and summary.params.get("stream") is True:
        options = body.get("stream_options") if isinstance(body, dict) else None
        if not (isinstance(options, dict) and options.get("include_usage") is True):
            reasons.append(REASON_NO_USAGE_STREAM)
    sent = replace(summary, input_tokens=0, output_tokens=0, error=None)
    price = price_call(sent, overrides=overrides)
    if not price.priced and price.reason is not None:
        reasons.append(price.reason)
    return f"{name}: {', and '.join(reasons)}" if reasons else None


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc.rpartition("@")[2] or url
