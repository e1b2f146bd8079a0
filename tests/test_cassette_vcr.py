"""vcrpy / pytest-recording YAML import: every real-world file, replayed through the SDKs."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anthropic
import openai
import pytest
import yaml
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.beta import BetaMessage, BetaRawMessageStreamEvent
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from pytest_llmeval.capture.cassettes.models import Cassette, Interaction
from pytest_llmeval.capture.cassettes.session import CassetteSession
from pytest_llmeval.capture.cassettes.store import load_cassette, write_cassette
from pytest_llmeval.capture.cassettes.vcr import import_vcr, import_vcr_tree, vcr_destination
from pytest_llmeval.core.errors import FileFormatError

# a test that fails between start() and stop() must not leave interception on
pytestmark = pytest.mark.usefixtures("stop_leaked_cassette_sessions")

# real recorded cassettes, committed with their sources and licence (SOURCES.md there)
REALWORLD = Path(__file__).parent / "data" / "realworld"
FILES = sorted(REALWORLD.rglob("*.yaml"))
SECRET_HEADERS = (
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "cookie",
    "set-cookie",
    "user-agent",
)


@pytest.mark.parametrize("source", FILES, ids=lambda path: path.name)
def test_every_realworld_file_imports(source: Path, tmp_path: Path) -> None:
    cassette = import_vcr(source)
    assert cassette.interactions
    target = tmp_path / "c.json"
    write_cassette(target, cassette)
    assert load_cassette(target) == cassette
    for interaction in cassette.interactions:
        for headers in (interaction.request.headers, interaction.response.headers):
            assert not set(headers) & set(SECRET_HEADERS)
            assert not any(name.startswith("x-stainless") for name in headers)
        response = interaction.response
        if response.events is not None:
            assert response.body_text is None and response.events
        else:
            assert response.body_text is not None and response.body is not None  # JSON decoded
    text = target.read_text(encoding="utf-8")
    assert "AUTHORIZATION-XXX" not in text and "X-API-KEY-XXX" not in text


def sdk_call(interaction: Interaction) -> tuple[str, Any]:
    """Send the recorded request again through the right SDK; return (kind, parsed)."""
    request = interaction.request
    url = urlsplit(request.url)
    host = f"{url.scheme}://{url.netloc}"
    body, params = request.body, dict(parse_qsl(url.query))
    stream = bool(body.get("stream"))
    if url.path == "/v1/messages":
        client = anthropic.Anthropic(base_url=host, api_key="k", max_retries=0)
        beta = params.get("beta") == "true"
        message, event = (
            (BetaMessage, BetaRawMessageStreamEvent) if beta else (Message, RawMessageStreamEvent)
        )
        result = client.post("/v1/messages", body=body, options={"params": params}, cast_to=message,
                             stream=stream, stream_cls=anthropic.Stream[event])  # type: ignore[valid-type]  # fmt: skip
        return ("anthropic stream" if stream else "anthropic"), result
    client_ = openai.OpenAI(base_url=f"{host}/v1", api_key="k", max_retries=0)
    if url.path == "/v1/embeddings":
        # base64 is the SDK's own default: leave it out, as the recording code did, so the
        # SDK asks for it itself and decodes the vectors.
        arguments = {k: v for k, v in body.items() if (k, v) != ("encoding_format", "base64")}
        return "embeddings", client_.embeddings.create(**arguments)
    kinds = {"/v1/chat/completions": ("chat", ChatCompletion, ChatCompletionChunk),
             "/v1/responses": ("responses", Response, ResponseStreamEvent)}  # fmt: skip
    kind, cast_to, chunk = kinds[url.path]
    result = client_.post(url.path[3:], body=body, cast_to=cast_to, stream=stream,
                          stream_cls=openai.Stream[chunk])  # type: ignore[valid-type]  # fmt: skip
    return (f"{kind} stream" if stream else kind), result


def check_parsed(kind: str, interaction: Interaction, result: Any) -> None:
    recorded = interaction.response
    if kind.endswith("stream"):
        events = list(result)
        assert events and all(
            getattr(event, "type", None) or getattr(event, "choices", None) is not None
            for event in events
        )
        if kind == "anthropic stream":
            assert events[-1].type == "message_stop"
        if kind == "chat stream":
            assert events[0].id == recorded.events[0].data["id"]  # type: ignore[index]
    elif kind == "embeddings":
        assert isinstance(result, CreateEmbeddingResponse)
        assert all(isinstance(value, float) for value in result.data[0].embedding)  # base64 decoded
    else:
        assert result.id == recorded.body["id"]
        if kind == "chat":
            assert isinstance(result, ChatCompletion) and result.choices[0].message is not None
        elif kind == "anthropic":
            assert result.content and result.stop_reason == recorded.body["stop_reason"]
        else:
            assert isinstance(result, Response) and result.output


def test_realworld_cassettes_replay_through_the_sdks(tmp_path: Path) -> None:
    covered: Counter[str] = Counter()
    for source in FILES:
        cassette = import_vcr(source)
        paths = {urlsplit(i.request.url).path for i in cassette.interactions}
        if not paths <= {"/v1/messages", "/v1/chat/completions", "/v1/responses", "/v1/embeddings"}:
            continue  # Gemini: imported above, but not an SDK this plugin drives
        target = tmp_path / f"{source.stem}.json"
        write_cassette(target, cassette)
        session = CassetteSession(path=target, mode="none", nodeid=source.name)
        session.start()
        try:
            for interaction in cassette.interactions:
                status = interaction.response.status
                if status >= 400:
                    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as info:
                        sdk_call(interaction)
                    assert info.value.status_code == status and isinstance(info.value.body, dict)
                    covered[f"error {status}"] += 1
                    continue
                kind, result = sdk_call(interaction)
                check_parsed(kind, interaction, result)
                covered[kind] += 1
        finally:
            outcome = session.stop()
        assert outcome.misses == () and outcome.unplayed == (), source
        assert outcome.replayed == len(cassette.interactions)
    assert {"chat", "chat stream", "responses", "responses stream", "embeddings",
            "anthropic", "anthropic stream", "error 400", "error 404"} <= set(covered), covered  # fmt: skip


def test_identical_recorded_requests_replay_in_order(tmp_path: Path) -> None:
    source = next(p for p in FILES if p.name == "test_anthropic_async_basic_call.yaml")
    cassette = import_vcr(source)
    write_cassette(tmp_path / "c.json", cassette)
    session = CassetteSession(path=tmp_path / "c.json", mode="none", nodeid="t")
    session.start()
    ids = [sdk_call(interaction)[1].id for interaction in cassette.interactions]
    session.stop()
    assert ids == [i.response.body["id"] for i in cassette.interactions] and len(set(ids)) == 2


def test_import_tree(tmp_path: Path) -> None:
    written = import_vcr_tree(REALWORLD, tmp_path / "out")
    assert len(written) == len(FILES)
    names = {target.relative_to(tmp_path / "out").as_posix() for _, target in written}
    assert "pydantic-ai/tests/cassettes/test_embeddings/TestOpenAI.test_query.json" in names
    assert all(target.exists() for _, target in written)
    with pytest.raises(FileFormatError, match="already exists"):
        import_vcr_tree(REALWORLD, tmp_path / "out")
    assert len(import_vcr_tree(REALWORLD, tmp_path / "out", overwrite=True)) == len(FILES)


def test_destination_names_follow_the_plugin() -> None:
    assert vcr_destination(Path("m/TestA.test_b.yaml"), Path("/d")) == Path(
        "/d/m/TestA.test_b.json"
    )
    odd = vcr_destination(Path("m/test_x[a.b:c].yaml"), Path("/d"))
    assert odd.parent == Path("/d/m") and odd.name.startswith("test_x.a.b_c--")


# -- the three formats, synthetic -----------------------------------------------------

REQUEST = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}
REPLY = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-x",
         "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "yo"}}]}  # fmt: skip


def vcr_file(tmp_path: Path, request: dict[str, Any], response: dict[str, Any]) -> Path:
    path = tmp_path / "c.yaml"
    base_request = {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions",
                    "headers": {"Authorization": ["Bearer sk-live-abcdefghijklmnopqrstu"],
                                "Content-Type": ["application/json"]}}  # fmt: skip
    base_response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/json"]},
    }
    document = {"interactions": [{"request": {**base_request, **request}, "response": {**base_response, **response}}],
                "version": 1}  # fmt: skip
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("request_part", "response_part"),
    [
        ({"parsed_body": REQUEST}, {"parsed_body": REPLY}),
        ({"body": json.dumps(REQUEST)}, {"body": {"string": json.dumps(REPLY, indent=2)}}),
        ({"body": json.dumps(REQUEST)}, {"body": {"string": gzip.compress(json.dumps(REPLY).encode())},
                                         "headers": {"Content-Encoding": ["gzip"], "Content-Type": ["application/json"]}}),
    ],
    ids=["parsed_body", "string", "binary-gzip"],
)  # fmt: skip
def test_three_formats(
    tmp_path: Path, request_part: dict[str, Any], response_part: dict[str, Any]
) -> None:
    interaction = import_vcr(vcr_file(tmp_path, request_part, response_part)).interactions[0]
    assert (interaction.request.body_format, interaction.request.body) == ("json", REQUEST)
    assert interaction.request.headers == {"content-type": "application/json"}
    assert interaction.response.body == REPLY
    assert json.loads(interaction.response.body_text or "") == REPLY
    assert "content-encoding" not in interaction.response.headers
    assert interaction.meta.model_extra == {"imported_from": "vcr"}


def test_sse_body_becomes_events(tmp_path: Path) -> None:
    text = 'data: {"a": 1}\n\ndata: [DONE]\n\n'
    path = vcr_file(tmp_path, {"body": json.dumps({**REQUEST, "stream": True})},
                    {"body": {"string": text}, "headers": {"Content-Type": ["text/event-stream"]}})  # fmt: skip
    events = import_vcr(path).interactions[0].response.events or []
    assert [event.raw for event in events] == ['data: {"a": 1}\n\n', "data: [DONE]\n\n"]
    assert [event.data for event in events] == [{"a": 1}, "[DONE]"]


@pytest.mark.parametrize(
    "content", ["interactions: [", "just: text", "interactions:\n- request: {}\n"]
)
def test_not_a_vcr_cassette(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(FileFormatError, match=f"^{path}: "):
        import_vcr(path)


def test_imported_cassette_is_a_cassette(tmp_path: Path) -> None:
    assert isinstance(
        import_vcr(vcr_file(tmp_path, {"parsed_body": REQUEST}, {"parsed_body": REPLY})), Cassette
    )
