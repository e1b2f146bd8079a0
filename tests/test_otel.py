"""--llmeval-otel end to end: the real OpenTelemetry SDK exporter sends OTLP/HTTP protobuf
to a loopback receiver this module starts; the spans are decoded and checked."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.items.options import OPTIONS_BY_DEST
from tests.fakeprovider import FakeProviderServer, closed_port_url

try:
    # Imported before any pytester run snapshots sys.meta_path: opentelemetry-api 1.30
    # imports the importlib_metadata backport, which deletes the standard library's
    # distribution finder from PathFinder and appends its own to sys.meta_path. Were
    # that first done inside an in-process run, pytester's restore of sys.meta_path
    # would drop the backport's finder and leave none: later in-process runs would load
    # no entry-point plugin (a pytester artefact; a real session loads its plugins first).
    import opentelemetry.sdk.trace  # noqa: F401
except ImportError:
    pass

SECRET = "sk-otelsecret0123456789abcdef"

SUITE = f"""
import os
import anthropic
import openai
import pytest

def chat(question, **extra):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="sk-test-key", max_retries=0)
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": question}}], **extra
    )

@pytest.mark.llm_eval(threshold=0.5)
def test_two_calls(llm_eval):
    first = chat("refunds? my key is {SECRET}", temperature=0.25)
    stream = chat("shipping?", stream=True, stream_options={{"include_usage": True}})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    llm_eval.score("echoes", "refunds" in first.choices[0].message.content, threshold=0.5)
    llm_eval.score("streamed", 0.75, reason="saw {SECRET} in the logs")
    llm_eval.log(answer=text)

@pytest.mark.llm_eval(threshold=0.9)
def test_below(llm_eval):
    client = anthropic.Anthropic(base_url=os.environ["FAKE_URL"], api_key="sk-test-key", max_retries=0)
    message = client.messages.create(
        model="claude-3-5-haiku-latest", max_tokens=64,
        messages=[{{"role": "user", "content": "hello"}}],
    )
    llm_eval.score("quality", 0.5)

@pytest.mark.llm_eval
def test_no_calls(llm_eval):
    llm_eval.score("constant", 1.0)
"""


class _Receiver(BaseHTTPRequestHandler):
    """A minimal OTLP/HTTP traces endpoint: keeps each POST body and answers 200."""

    server: _ReceiverServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append((self.path, self.headers.get("Content-Type", ""), body))
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ReceiverServer(ThreadingHTTPServer):
    posts: list[tuple[str, str, bytes]]


@pytest.fixture
def receiver() -> Iterator[_ReceiverServer]:
    pytest.importorskip("opentelemetry.proto", reason="needs the [otel] extra")
    server = _ReceiverServer(("127.0.0.1", 0), _Receiver)
    server.posts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    receiver: _ReceiverServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    host, port = receiver.server_address[:2]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{host}:{port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "refund-bot-evals")
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_bot=SUITE)
    return pytester_env


def decode(receiver: _ReceiverServer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(resource attributes, spans) from every request the receiver got."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    resource: dict[str, Any] = {}
    spans = []
    for path, content_type, body in receiver.posts:
        assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            resource.update(attributes(resource_spans.resource.attributes))
            for scope_spans in resource_spans.scope_spans:
                assert scope_spans.scope.name == "pytest_llmeval"
                for span in scope_spans.spans:
                    spans.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "kind": span.kind,
                            "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano,
                            "status": span.status.code,
                            "attributes": attributes(span.attributes),
                            "events": [
                                (event.name, attributes(event.attributes)) for event in span.events
                            ],
                        }
                    )
    return resource, spans


def attributes(pairs: Any) -> dict[str, Any]:
    found = {}
    for pair in pairs:
        which = pair.value.WhichOneof("value")
        value = getattr(pair.value, which)
        if which == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        found[pair.key] = value
    return found


def by_name(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for span in spans if not span["parent"]}


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]])
def test_spans_reach_an_otlp_receiver(
    suite: pytest.Pytester, receiver: _ReceiverServer, xdist_args: list[str]
) -> None:
    result = suite.runpytest("--llmeval-otel", "--llmeval-report=report.json", *xdist_args)
    result.assert_outcomes(passed=2, failed=1)
    resource, spans = decode(receiver)
    assert resource["service.name"] == "refund-bot-evals"  # OTEL_SERVICE_NAME is honoured
    tests = by_name(spans)
    assert sorted(tests) == [
        "test_bot.py::test_below",
        "test_bot.py::test_no_calls",
        "test_bot.py::test_two_calls",
    ]
    report = json.loads((suite.path / "report.json").read_text())
    results = {entry["nodeid"]: entry for entry in report["results"]}
    for nodeid, test in tests.items():
        children = [span for span in spans if span["parent"] == test["span_id"]]
        inferences = results[nodeid]["inferences"]
        # one client span per model call, in the test's trace, inside its time span
        assert (
            len(children)
            == len(inferences)
            == len([s for s in spans if s["trace_id"] == test["trace_id"]]) - 1
        )
        for child, inference in zip(
            sorted(children, key=lambda s: s["start"]), inferences, strict=True
        ):
            assert child["trace_id"] == test["trace_id"]
            assert child["kind"] == 3  # SPAN_KIND_CLIENT
            assert test["start"] <= child["start"] <= child["end"] <= test["end"]
            assert child["end"] - child["start"] == round(inference["latency_s"] * 1e9)
            attrs = child["attributes"]
            model = inference["model"]
            assert child["name"] == f"chat {attrs['gen_ai.request.model']}"
            assert attrs["gen_ai.operation.name"] == "chat"
            assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == inference["provider"]
            assert attrs["gen_ai.response.model"] == model
            assert attrs["gen_ai.usage.input_tokens"] == inference["input_tokens"] + (
                inference["cache_read_tokens"] or 0
            ) + (inference["cache_write_tokens"] or 0)
            assert attrs["gen_ai.usage.output_tokens"] == inference["output_tokens"]
            stop = {"openai-compatible": "stop", "anthropic-compatible": "end_turn"}
            assert attrs["gen_ai.response.finish_reasons"] == [stop[inference["provider"]]]
            assert attrs["llm_eval.role"] == "app"
            assert "gen_ai.input.messages" not in attrs  # content only when asked
            assert "gen_ai.output.messages" not in attrs

    two = tests["test_bot.py::test_two_calls"]
    assert two["attributes"]["test.case.result.status"] == "pass"
    assert two["attributes"]["llm_eval.score"] == pytest.approx(0.875)
    assert two["status"] == 0  # unset: the test passed
    assert two["events"] == [
        (
            "gen_ai.evaluation.result",
            {
                "gen_ai.evaluation.name": "echoes",
                "gen_ai.evaluation.score.value": 1.0,
                "gen_ai.evaluation.score.label": "pass",
                "llm_eval.weight": 1.0,
                "llm_eval.threshold": 0.5,
            },
        ),
        (
            "gen_ai.evaluation.result",
            {
                "gen_ai.evaluation.name": "streamed",
                "gen_ai.evaluation.score.value": 0.75,
                "gen_ai.evaluation.explanation": "saw <redacted> in the logs",
                "llm_eval.weight": 1.0,
            },
        ),
    ]
    calls = sorted((s for s in spans if s["parent"] == two["span_id"]), key=lambda s: s["start"])
    assert calls[0]["attributes"]["gen_ai.request.temperature"] == 0.25
    assert [c["attributes"]["llm_eval.stream"] for c in calls] == [False, True]
    below = tests["test_bot.py::test_below"]
    assert below["status"] == 2  # STATUS_CODE_ERROR
    assert below["attributes"]["test.case.result.status"] == "fail"
    assert below["attributes"]["llm_eval.status"] == "below"
    (call,) = [s for s in spans if s["parent"] == below["span_id"]]
    assert call["attributes"]["gen_ai.request.model"] == "claude-3-5-haiku-latest"
    raw = b"".join(body for _, _, body in receiver.posts)
    assert SECRET.encode() not in raw
    # the wall-clock times behind the spans are in no file: the report stays comparable
    assert "started_at" not in (suite.path / "report.json").read_text()


def test_content_only_when_asked_and_redacted(
    suite: pytest.Pytester, receiver: _ReceiverServer
) -> None:
    result = suite.runpytest("--llmeval-otel", "--llmeval-otel-content", "-k", "two_calls")
    result.assert_outcomes(passed=1)
    _, spans = decode(receiver)
    calls = sorted((s for s in spans if s["parent"]), key=lambda s: s["start"])
    first = calls[0]["attributes"]
    assert json.loads(first["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "refunds? my key is <redacted>"}]}
    ]
    (output,) = json.loads(first["gen_ai.output.messages"])
    assert output["role"] == "assistant" and output["finish_reason"] == "stop"
    assert "refunds?" in output["parts"][0]["content"]
    raw = b"".join(body for _, _, body in receiver.posts)
    assert b"<redacted>" in raw and SECRET.encode() not in raw


def test_ini_twin_turns_it_on(suite: pytest.Pytester, receiver: _ReceiverServer) -> None:
    suite.makeini("[pytest]\nllmeval_otel = true\n")
    suite.runpytest("-k", "no_calls").assert_outcomes(passed=1)
    _, spans = decode(receiver)
    assert [span["name"] for span in spans] == ["test_bot.py::test_no_calls"]


def test_without_the_option_nothing_is_sent(
    suite: pytest.Pytester, receiver: _ReceiverServer
) -> None:
    suite.runpytest("-k", "no_calls").assert_outcomes(passed=1)
    assert receiver.posts == []


def test_unreachable_collector_is_named(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = closed_port_url()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    result = suite.runpytest("--llmeval-otel", "-k", "no_calls")
    result.stdout.fnmatch_lines(
        [f"*pytest-llm-eval: OpenTelemetry export to {endpoint}/v1/traces failed*"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_bad_exporter_setting_is_named(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    result = suite.runpytest("--llmeval-otel", "-k", "no_calls")
    result.stdout.fnmatch_lines(
        ["*OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not one --llmeval-otel can use*"]
    )


def test_content_without_export_is_a_usage_error(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile("def test_t():\n    pass\n")
    result = pytester_env.runpytest("--llmeval-otel-content")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    content, otel = OPTIONS_BY_DEST["otel_content"], OPTIONS_BY_DEST["otel"]
    result.stderr.fnmatch_lines([f"*{content.flag} puts prompts*add {otel.flag}*"])


def test_missing_extra_is_a_usage_error(
    pytester_env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a regular package named opentelemetry, with no sdk in it, hides the installed one
    shadow = tmp_path / "shadow"
    (shadow / "opentelemetry").mkdir(parents=True)
    (shadow / "opentelemetry" / "__init__.py").write_text("")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(shadow), path])))
    pytester_env.makepyfile("def test_t():\n    pass\n")
    result = pytester_env.runpytest_subprocess("--llmeval-otel")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = [line for line in result.stderr.lines if "pytest-llm-eval" in line]
    assert line.startswith("ERROR: pytest-llm-eval: --llmeval-otel: the OpenTelemetry SDK")
    assert line.endswith("pip install 'pytest-llm-eval[otel]', or drop the option.")
