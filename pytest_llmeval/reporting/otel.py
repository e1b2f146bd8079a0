"""`--llmeval-otel`: the session's eval results as OpenTelemetry traces.

One trace per test: a span for the test (its status, score and threshold, and each
recorded score as a `gen_ai.evaluation.result` event) with one child span per model
call, named and attributed after the OpenTelemetry GenAI semantic conventions
(`gen_ai.operation.name`, `gen_ai.provider.name`, request and response model, token
usage, finish reasons). Prompts and answers go on the call spans only with
`--llmeval-otel-content`, as `gen_ai.input.messages` / `gen_ai.output.messages`.

Why the controller, at session end: the records already travel there (through xdist
too), with the wall-clock start of each call and of each test among their telemetry
fields (`models.TELEMETRY_FIELDS`: on the wire, in no file), so one process builds
every span from data, with one exporter, one resource and one place that reports a
failed export; the workers need neither the SDK nor a connection to the collector. A
span's timestamps are the record's: a replayed call starts when it was replayed and
lasts as long as it did when recorded.

The spans are exported through the SDK's own exporters, configured as every OTel
SDK is: `OTEL_TRACES_EXPORTER` (`otlp`, the default, `console` or
`none`), `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` (`http/protobuf`, the default, or `grpc` with
its exporter installed), `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `..._HEADERS`,
`..._TIMEOUT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`. The global tracer
provider is left alone: the code under test may have its own.

This module imports OpenTelemetry only inside functions: a session without the
option never loads it. Every string attribute passes the session's redactor.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_llmeval.core.errors import LLMEvalError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

    from pytest_llmeval.records.models import EvalResult, Inference

#: What to install when the SDK is missing.
INSTALL_HINT = "pip install 'pytest-llm-eval[otel]'"

#: The instrumentation scope of every span.
SCOPE = "pytest_llmeval"

#: The event each score becomes (GenAI semantic conventions).
EVALUATION_EVENT = "gen_ai.evaluation.result"

#: Spans per export request.
_BATCH = 512

# Our APIs -> gen_ai.operation.name (a custom value where the conventions name none).
_OPERATIONS = {
    "chat": "chat",
    "messages": "chat",
    "responses": "chat",
    "embeddings": "embeddings",
    "generate_content": "generate_content",
}
# Our providers -> gen_ai.provider.name's well-known values (others are kept as they are).
_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "google": "gcp.gemini"}
# Sampling parameters -> gen_ai.request.* attributes.
_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
}
# The `role: text` lines the provider adapters render a prompt as.
_ROLE_LINE = re.compile(r"^(system|developer|user|assistant|tool|model): ?(.*)$")

Attributes = dict[str, str | bool | int | float | list[str]]


def missing_otel() -> str | None:
    """Why the export cannot run here (the SDK or its OTLP exporter is not installed), or
    None; finds the modules without importing them."""
    import importlib.util

    for module in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            return (
                f"the OpenTelemetry SDK is not installed ({module} cannot be imported): "
                f"{INSTALL_HINT}, or drop the option."
            )
    return None


@dataclass
class SpanPlan:
    """One span to emit: what the SDK is given, computed from the records alone."""

    name: str
    kind: str  # "internal" (a test) or "client" (a model call)
    start_ns: int
    end_ns: int
    attributes: Attributes
    error: str | None = None
    events: list[tuple[str, Attributes]] = field(default_factory=list)
    children: list[SpanPlan] = field(default_factory=list)


def plan_spans(
    results: Iterable[EvalResult],
    *,
    content: bool = False,
    redact: Callable[[str], str] = str,
) -> list[SpanPlan]:
    """The test spans of a session, each with its call spans, ordered by node id."""
    return [
        _test_span(result, content, redact) for result in sorted(results, key=lambda r: r.nodeid)
    ]


def _test_span(result: EvalResult, content: bool, redact: Callable[[str], str]) -> SpanPlan:
    children = [_call_span(inference, content, redact) for inference in result.inferences]
    if result.started_at is not None:
        start = _ns(result.started_at)
    elif children:
        start = min(child.start_ns for child in children)
    else:
        start = 0
    end = max([start + _ns(result.duration_s), *(child.end_ns for child in children)])
    for child in children:  # a record without a start time sits at the test's
        if child.start_ns == 0:
            child.start_ns, child.end_ns = start, start + child.end_ns
    attributes: Attributes = {
        "test.case.name": result.nodeid,
        "llm_eval.case_id": result.case_id,
        "llm_eval.group": result.group,
        "llm_eval.status": result.status,
        "llm_eval.threshold": result.threshold,
        "llm_eval.aggregate": result.aggregate,
        "llm_eval.calls": len(result.inferences),
    }
    if result.status != "skipped":
        attributes["test.case.result.status"] = "pass" if result.status == "passed" else "fail"
    if result.score is not None:
        attributes["llm_eval.score"] = result.score
    if result.repeat_index is not None:
        attributes["llm_eval.repeat_index"] = result.repeat_index
    costs = [i.cost_usd for i in result.inferences if i.cost_usd is not None]
    if costs:
        attributes["llm_eval.cost_usd"] = sum(costs)
    if result.message:
        attributes["llm_eval.message"] = result.message
    events = []
    for score in result.scores:
        event: Attributes = {
            "gen_ai.evaluation.name": score.name,
            "gen_ai.evaluation.score.value": score.value,
            "llm_eval.weight": score.weight,
        }
        if score.threshold is not None:
            event["gen_ai.evaluation.score.label"] = "pass" if score.passed else "fail"
            event["llm_eval.threshold"] = score.threshold
        if score.reason:
            event["gen_ai.evaluation.explanation"] = score.reason
        events.append((EVALUATION_EVENT, _redacted(event, redact)))
    failed = result.status in ("failed", "error", "below")
    return SpanPlan(
        name=redact(result.nodeid),
        kind="internal",
        start_ns=start,
        end_ns=end,
        attributes=_redacted(attributes, redact),
        error=redact(result.message or result.status) if failed else None,
        events=events,
        children=children,
    )


def _call_span(inference: Inference, content: bool, redact: Callable[[str], str]) -> SpanPlan:
    operation = _OPERATIONS.get(inference.api, inference.api)
    provider = _PROVIDERS.get(inference.provider, inference.provider)
    request_model = inference.request_model or inference.model
    attributes: Attributes = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,  # the name before semantic conventions 1.37
        "llm_eval.role": inference.role,
        "llm_eval.replayed": inference.replayed,
        "llm_eval.stream": inference.stream,
    }
    if request_model:
        attributes["gen_ai.request.model"] = request_model
    if inference.model:
        attributes["gen_ai.response.model"] = inference.model
    if inference.response_id:
        attributes["gen_ai.response.id"] = inference.response_id
    if inference.finish_reason:
        attributes["gen_ai.response.finish_reasons"] = [inference.finish_reason]
    for param, name in _PARAMS.items():
        value = inference.params.get(param)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[name] = value
    cached = (inference.cache_read_tokens or 0) + (inference.cache_write_tokens or 0)
    if inference.input_tokens is not None:
        # the conventions count the whole prompt, cached tokens included
        attributes["gen_ai.usage.input_tokens"] = inference.input_tokens + cached
    if inference.output_tokens is not None:
        attributes["gen_ai.usage.output_tokens"] = inference.output_tokens
    if inference.cache_read_tokens is not None:
        attributes["gen_ai.usage.cache_read.input_tokens"] = inference.cache_read_tokens
    if inference.cache_write_tokens is not None:
        attributes["gen_ai.usage.cache_creation.input_tokens"] = inference.cache_write_tokens
    if inference.cost_usd is not None:
        attributes["llm_eval.cost_usd"] = inference.cost_usd
    if inference.ttft_s is not None:
        attributes["llm_eval.ttft_s"] = inference.ttft_s
    if inference.status is not None:
        attributes["http.response.status_code"] = inference.status
    if inference.error is not None:
        attributes["error.type"] = str(inference.status) if inference.status else "error"
    if content:
        if inference.input_text is not None:
            attributes["gen_ai.input.messages"] = json.dumps(_input_messages(inference.input_text))
        if inference.output_text is not None:
            output: dict[str, Any] = {
                "role": "assistant",
                "parts": [{"type": "text", "content": inference.output_text}],
            }
            if inference.finish_reason:
                output["finish_reason"] = inference.finish_reason
            attributes["gen_ai.output.messages"] = json.dumps([output])
    start = _ns(inference.started_at) if inference.started_at is not None else 0
    return SpanPlan(
        name=f"{operation} {request_model}" if request_model else operation,
        kind="client",
        start_ns=start,
        end_ns=start + _ns(inference.latency_s or 0.0),
        attributes=_redacted(attributes, redact),
        error=redact(inference.error) if inference.error is not None else None,
    )


def _input_messages(text: str) -> list[dict[str, Any]]:
    """The rendered prompt (`role: text` lines, a message's later lines following its
    first) as the conventions' message list."""
    messages: list[dict[str, Any]] = []
    for line in text.split("\n"):
        match = _ROLE_LINE.match(line)
        if match is not None or not messages:
            role, body = match.groups() if match is not None else ("user", line)
            messages.append({"role": role, "parts": [{"type": "text", "content": body}]})
        else:
            part = messages[-1]["parts"][0]
            part["content"] += "\n" + line
    return messages


def _redacted(attributes: Attributes, redact: Callable[[str], str]) -> Attributes:
    clean: Attributes = {}
    for name, value in attributes.items():
        if isinstance(value, str):
            clean[name] = redact(value)
        elif isinstance(value, list):
            clean[name] = [redact(item) for item in value]
        else:
            clean[name] = value
    return clean


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def export_session(
    results: Iterable[EvalResult],
    *,
    content: bool = False,
    redact: Callable[[str], str] = str,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Build the session's spans and export them through the exporter the OTEL_*
    variables configure; return how many were exported. A failed export raises an
    LLMEvalError naming where it was sent and what to check."""
    plans = plan_spans(results, content=content, redact=redact)
    env = os.environ if environ is None else environ
    exporter, destination = _exporter(env)
    if exporter is None:
        return 0
    spans = _sdk_spans(plans, env)
    try:
        for start in range(0, len(spans), _BATCH):
            batch = spans[start : start + _BATCH]
            if not _export(exporter, batch):
                raise LLMEvalError(
                    f"OpenTelemetry export to {destination} failed ({len(spans)} spans not "
                    "all delivered; the exporter's log says why): check that a collector "
                    "listens there, or set OTEL_EXPORTER_OTLP_ENDPOINT (docs/telemetry.md)."
                )
    finally:
        exporter.shutdown()
    return len(spans)


def _export(exporter: SpanExporter, batch: Sequence[ReadableSpan]) -> bool:
    from opentelemetry.sdk.trace.export import SpanExportResult

    try:
        return exporter.export(batch) is SpanExportResult.SUCCESS
    except Exception:  # an exporter that raises instead of returning FAILURE
        return False


def _setting(env: Mapping[str, str], name: str, default: str) -> str:
    """A traces-specific OTEL_EXPORTER_OTLP_TRACES_* variable, else the general one."""
    specific = env.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}", "").strip()
    return specific or env.get(f"OTEL_EXPORTER_OTLP_{name}", "").strip() or default


def _exporter(env: Mapping[str, str]) -> tuple[SpanExporter | None, str]:
    """The exporter OTEL_TRACES_EXPORTER and the protocol variables ask for, and a
    description of where it sends."""
    kind = (env.get("OTEL_TRACES_EXPORTER", "").strip() or "otlp").lower()
    if kind == "none":
        return None, "nowhere (OTEL_TRACES_EXPORTER=none)"
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(), "the console"
    if kind != "otlp":
        raise LLMEvalError(
            f"OTEL_TRACES_EXPORTER={kind!r} is not one --llmeval-otel can use: set otlp "
            "(the default), console or none."
        )
    protocol = _setting(env, "PROTOCOL", "http/protobuf").lower()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        specific = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        general = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or "http://localhost:4318"
        endpoint = specific or general.rstrip("/") + "/v1/traces"
        return OTLPSpanExporter(), endpoint
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpanExporter,
            )
        except ImportError:
            raise LLMEvalError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the gRPC exporter: "
                "pip install opentelemetry-exporter-otlp-proto-grpc, or use http/protobuf."
            ) from None
        endpoint = _setting(env, "ENDPOINT", "http://localhost:4317")
        return GrpcSpanExporter(), endpoint
    raise LLMEvalError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not one --llmeval-otel can use: set "
        "http/protobuf (the default) or grpc."
    )


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-llm-eval")
    except PackageNotFoundError:
        return None


def _sdk_spans(plans: Sequence[SpanPlan], env: Mapping[str, str]) -> list[ReadableSpan]:
    """The planned spans made by the SDK (ids, sampling, resource), collected in memory."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode

    named = env.get("OTEL_SERVICE_NAME", "").strip() or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {"service.name": "pytest-llm-eval"})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(SCOPE, _version())
    kinds = {"internal": SpanKind.INTERNAL, "client": SpanKind.CLIENT}

    def emit(plan: SpanPlan, parent: Any) -> None:
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = tracer.start_span(
            plan.name,
            context=context,
            kind=kinds[plan.kind],
            attributes=plan.attributes,
            start_time=plan.start_ns,
        )
        for name, attributes in plan.events:
            span.add_event(name, attributes, timestamp=plan.end_ns)
        for child in plan.children:
            emit(child, span)
        if plan.error is not None:
            span.set_status(Status(StatusCode.ERROR, plan.error))
        span.end(end_time=plan.end_ns)

    for plan in plans:
        emit(plan, None)
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans
