"""Import vcrpy / pytest-recording YAML cassettes (`llmeval cassettes import-vcr`).

All three shapes found in the wild are read: a request or response JSON body stored
parsed under `parsed_body` (pydantic-ai), bodies stored as strings (plain vcrpy), and
`!!binary` gzip bytes with `Content-Encoding: gzip` kept (vcrpy without
`decode_compressed_response`). Compressed bodies are decoded, `text/event-stream`
bodies are split into events (their timing was never recorded, so offsets are 0), and
secret and volatile headers are dropped, as when recording.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmeval.core.errors import FileFormatError

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.models import Cassette, Interaction
    from pytest_llmeval.core.redact import Redactor

_SUFFIXES = (".yaml", ".yml")


def import_vcr(yaml_path: Path, *, redact_patterns: Sequence[str] = ()) -> Cassette:
    """Convert one vcrpy YAML cassette; a file that is not one is a FileFormatError."""
    import yaml

    from pytest_llmeval.capture.cassettes.models import Cassette
    from pytest_llmeval.core.redact import Redactor
    from pytest_llmeval.core.safe_yaml import load_yaml

    try:
        data, _ = load_yaml(yaml_path.read_bytes())
    except UnicodeDecodeError as error:
        raise FileFormatError(f"{yaml_path}: not a readable YAML file ({error}).") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = " ".join((getattr(error, "problem", None) or str(error)).split())
        raise FileFormatError(
            f"{yaml_path}: not a readable YAML file ({where}{problem})."
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise FileFormatError(f"{yaml_path}: not a vcrpy cassette (no `interactions` list).")
    redactor = Redactor(redact_patterns)
    interactions = []
    for number, item in enumerate(data["interactions"], start=1):
        try:
            interactions.append(_interaction(item, redactor))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise FileFormatError(
                f"{yaml_path}: interaction #{number} is not a vcrpy request/response "
                f"({type(error).__name__}: {error})."
            ) from None
    return Cassette(interactions=interactions)


def vcr_destination(yaml_relative: Path, dst_dir: Path) -> Path:
    """Where an imported cassette goes, named as this plugin names the test's cassette.

    pytest-recording names a file after the test (`TestClass.test_x[param].yaml` in the
    module's folder); the same test's cassette here is `cassette_path`'s name for it.
    """
    from pytest_llmeval.capture.cassettes.store import safe_name

    stem = yaml_relative.stem
    name, bracket, param = stem.partition("[")
    test_name = name.replace(".", "::") + bracket + param
    return dst_dir / yaml_relative.parent / f"{safe_name(test_name)}.json"


def import_vcr_tree(
    src_dir: Path, dst_dir: Path, *, overwrite: bool = False, redact_patterns: Sequence[str] = ()
) -> list[tuple[Path, Path]]:
    """Import every YAML cassette under `src_dir` into `dst_dir`, keeping the folders.

    Returns (source, written) pairs. An existing destination is an error unless
    `overwrite`; nothing is written before every source has converted cleanly.
    """
    from pytest_llmeval.capture.cassettes.store import write_cassette

    sources = sorted(p for p in Path(src_dir).rglob("*") if p.suffix in _SUFFIXES and p.is_file())
    planned = []
    for source in sources:
        target = vcr_destination(source.relative_to(src_dir), Path(dst_dir))
        if target.exists() and not overwrite:
            raise FileFormatError(
                f"{target}: already exists (imported from {source}); "
                "delete it, or pass --force to llmeval cassettes import-vcr (overwrite=True)."
            )
        planned.append((source, target, import_vcr(source, redact_patterns=redact_patterns)))
    for _, target, cassette in planned:
        write_cassette(target, cassette)
    return [(source, target) for source, target, _ in planned]


def _interaction(item: dict[str, Any], redactor: Redactor) -> Interaction:
    from pytest_llmeval.capture.cassettes.match import Matcher
    from pytest_llmeval.capture.cassettes.models import (
        Interaction,
        InteractionMeta,
        RecordedRequest,
        received_interaction,
    )

    request, response = item["request"], item["response"]
    method = str(request["method"]).upper()
    live = Matcher(redactor).live(method, str(request["uri"]), _request_bytes(request))
    recorded_request = RecordedRequest(
        method=method,
        url=live.url,
        headers=redactor.headers(_flat_headers(request.get("headers")), response=False),
        body_format=live.body_format,
        body=live.body,
    )
    raw_headers = _flat_headers(response.get("headers"))
    headers = redactor.headers(raw_headers, response=True)
    body = _decoded(_response_bytes(response), raw_headers)
    content_type = headers.get("content-type", "")
    is_sse = "text/event-stream" in content_type or (
        not content_type and body.lstrip().startswith((b"data:", b"event:"))
    )
    events = None
    if is_sse:
        from pytest_llmeval.core.wire import split_sse

        complete, rest = split_sse(body, final=True)
        events = [(raw, 0.0) for raw in complete] + ([(rest, 0.0)] if rest else [])
    status = response["status"]
    interaction = received_interaction(
        recorded_request,
        int(status["code"] if isinstance(status, dict) else status),
        headers,
        body,
        events,
        role="app",
        latency=0.0,
        error=None,
        truncated=False,
        redact=redactor,
    )
    # Nothing about timing or the recording moment survives in a vcrpy cassette.
    meta = InteractionMeta.model_validate(
        {"role": "app", "model": interaction.meta.model, "imported_from": "vcr"}
    )
    return Interaction(request=interaction.request, response=interaction.response, meta=meta)


def _request_bytes(request: dict[str, Any]) -> bytes:
    if "parsed_body" in request:
        return _json_bytes(request["parsed_body"])
    return _as_bytes(request.get("body"))


def _response_bytes(response: dict[str, Any]) -> bytes:
    if "parsed_body" in response:
        return _json_bytes(response["parsed_body"])
    body = response.get("body")
    return _as_bytes(body.get("string") if isinstance(body, dict) else body)


def _json_bytes(value: Any) -> bytes:
    import json

    # What pydantic-ai's serializer sends back on replay: json.dumps of the parsed body.
    return json.dumps(value).encode("utf-8")


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, dict | list):
        return _json_bytes(value)
    raise TypeError(f"unexpected body of type {type(value).__name__}")


def _flat_headers(headers: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, values in (headers or {}).items():
        for value in values if isinstance(values, list) else [values]:
            pairs.append((str(name), str(value)))
    return pairs


def _decoded(body: bytes, headers: list[tuple[str, str]]) -> bytes:
    encodings = [
        part.strip().lower()
        for name, value in headers
        if name.lower() == "content-encoding"
        for part in value.split(",")
    ]
    for encoding in reversed(encodings):
        try:
            if encoding in ("gzip", "x-gzip"):
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            elif encoding == "deflate":
                body = zlib.decompress(body)
        except zlib.error:
            break  # already decoded (vcrpy's decode_compressed_response keeps the header)
    return body
