"""Cassette files: naming, the strict loader, deterministic atomic writes, SSE splitting."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmeval.capture.cassettes import intercept
from pytest_llmeval.capture.cassettes.models import (
    SCHEMA_VERSION,
    Cassette,
    Interaction,
    InteractionMeta,
    RecordedRequest,
    RecordedResponse,
    sse_event,
)
from pytest_llmeval.capture.cassettes.session import CassetteSession
from pytest_llmeval.capture.cassettes.store import (
    cassette_path,
    dump_cassette,
    load_cassette,
    safe_name,
    write_cassette,
)
from pytest_llmeval.core.errors import CassetteMiss, FileFormatError
from pytest_llmeval.core.wire import parse_sse_event, split_sse
from tests.fakeprovider import FakeProviderServer
from tests.observers import ExchangeLog

# a test that fails between start() and stop() must not leave interception on
pytestmark = pytest.mark.usefixtures("stop_leaked_cassette_sessions")

SAFE = re.compile(r"[A-Za-z0-9_.-]+")


def make_cassette() -> Cassette:
    return Cassette(
        interactions=[
            Interaction(
                request=RecordedRequest(
                    method="POST",
                    url="https://api.example.test/v1/chat/completions",
                    headers={"content-type": "application/json"},
                    body_format="json",
                    body={"model": "m", "messages": [{"role": "user", "content": "héllo ✓"}]},
                ),
                response=RecordedResponse(
                    status=200,
                    headers={"content-type": "application/json"},
                    body_text='{"a": 1.0, "b": 1e5}',
                    body={"a": 1.0, "b": 1e5},
                ),
                meta=InteractionMeta(role="app", model="m", latency_s=0.25, provider="openai"),
            )
        ]
    )


# -- naming --------------------------------------------------------------------------


def test_cassette_path_plain_test() -> None:
    path = cassette_path(Path("/p/tests/test_bot.py"), "tests/test_bot.py::test_refund")
    assert path == Path("/p/tests/cassettes/test_bot/test_refund.json")


def test_cassette_path_class_and_param_id() -> None:
    path = cassette_path(Path("/p/tests/test_bot.py"), "tests/test_bot.py::TestBot::test_x[a/b-1]")
    assert path.parent == Path("/p/tests/cassettes/test_bot")
    assert path.name.startswith("TestBot.test_x.a_b-1--")
    assert SAFE.fullmatch(path.name)


def test_cassette_path_override_dir() -> None:
    path = cassette_path(Path("/p/tests/test_bot.py"), "tests/test_bot.py::test_a", Path("/c"))
    assert path == Path("/c/test_bot/test_a.json")


@pytest.mark.parametrize(
    "name",
    ["test_x[a]", "a/b", "a\\b", "a::b[::]", "tést", "x\x00y\x1f", "x" * 300, "CON", "nul", "",
     "a--b", ".hidden", "a:b*c?d<e>f|g\"h"],
)  # fmt: skip
def test_safe_name_is_safe(name: str) -> None:
    result = safe_name(name)
    assert SAFE.fullmatch(result), result
    assert len(result) <= 120
    assert not result.startswith((".", "-"))
    assert result.split(".")[0].upper() not in {"CON", "NUL", "PRN", "AUX"}


def test_safe_name_keeps_plain_names() -> None:
    assert safe_name("TestBot::test_refund") == "TestBot.test_refund"
    assert safe_name("test_refund") == "test_refund"


@settings(max_examples=300)
@given(st.lists(st.text(min_size=0, max_size=320), min_size=2, max_size=20, unique=True))
def test_safe_names_unique_stable_and_safe(names: list[str]) -> None:
    results = [safe_name(name) for name in names]
    assert len(set(results)) == len(results)
    assert results == [safe_name(name) for name in names]
    for result in results:
        assert SAFE.fullmatch(result) and len(result) <= 120


# -- writing -------------------------------------------------------------------------


def test_dump_puts_schema_version_first_and_sorts_keys() -> None:
    text = dump_cassette(make_cassette())
    assert text.startswith('{\n  "schema_version": 1,\n  "interactions": [\n')
    assert text.endswith("}\n")
    assert "héllo ✓" in text
    data = json.loads(text)
    assert list(data) == ["schema_version", "interactions"]
    request = data["interactions"][0]["request"]
    assert list(request) == sorted(request)
    assert data["interactions"][0]["meta"]["provider"] == "openai"


def test_dump_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    write_cassette(path, make_cassette())
    first = path.read_bytes()
    write_cassette(path, load_cassette(path))
    assert path.read_bytes() == first
    assert load_cassette(path) == make_cassette()


def test_write_cassette_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "c.json"
    write_cassette(path, make_cassette())
    write_cassette(path, Cassette())
    assert load_cassette(path) == Cassette()
    assert os.listdir(path.parent) == ["c.json"]


# -- loading -------------------------------------------------------------------------


def good_text() -> str:
    return dump_cassette(make_cassette())


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON (line 1, column 2"),
        (good_text()[: len(good_text()) // 2], "not valid JSON (line "),
        ("[]", "not a cassette file (expected a JSON object)"),
        ('{"interactions": []}', "no integer schema_version"),
        ('{"schema_version": 1, "interactions": [{"request": {}}]}', "invalid cassette at"),
        ('{"schema_version": 1, "interactions": [], "extra": 1}', "invalid cassette at extra"),
    ],
)
def test_corrupt_cassette_is_an_error_naming_the_file(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(FileFormatError) as info:
        load_cassette(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "re-record it with --llmeval-record=all" in message
    assert path.read_bytes() == before


def test_non_utf8_cassette_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"schema_version": 1, "x": "\xff"}')
    with pytest.raises(FileFormatError, match="not a cassette file \\(not UTF-8 text"):
        load_cassette(path)


def test_newer_schema_is_refused_with_upgrade_hint(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "interactions": [{}]}))
    before = path.read_bytes()
    with pytest.raises(FileFormatError) as info:
        load_cassette(path)
    assert str(info.value) == (
        f"{path}: this cassette has schema_version {SCHEMA_VERSION + 1}, newer than this "
        f"pytest-llm-eval reads ({SCHEMA_VERSION}); upgrade pytest-llm-eval "
        "(pip install -U pytest-llm-eval) to read it."
    )
    assert path.read_bytes() == before


def test_oversized_cassette_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(good_text())
    with pytest.raises(FileFormatError, match=r"over the 100-byte limit"):
        load_cassette(path, max_bytes=100)


@settings(max_examples=200)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_loader_raises_only_file_format_errors(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "c.json"
    path.write_bytes(raw)
    try:
        load_cassette(path)
    except FileFormatError:
        pass


@settings(max_examples=100)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                    max_leaves=10))  # fmt: skip
def test_loader_on_json_values(tmp_path_factory: pytest.TempPathFactory, value: object) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "c.json"
    path.write_text(json.dumps({"schema_version": 1, "interactions": value}))
    try:
        load_cassette(path)
    except FileFormatError:
        pass


# -- SSE -----------------------------------------------------------------------------

EVENTS = [
    b'event: message_start\ndata: {"type":"message_start"}\n\n',
    b'data: {"x": 1}\r\n\r\n',
    b": comment\ndata: a\ndata: b\n\n",
    b"data: [DONE]\r\r",
]


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from(EVENTS), max_size=8),
    st.lists(st.integers(min_value=1, max_value=40), max_size=30),
)
def test_split_sse_is_exact_across_any_chunking(events: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(events)
    found: list[bytes] = []
    buffer = b""
    position = 0
    for size in [*cuts, len(stream)]:
        buffer += stream[position : position + size]
        position += size
        complete, buffer = split_sse(buffer)
        found.extend(complete)
    complete, rest = split_sse(buffer, final=True)
    found.extend(complete)
    assert found == events
    assert rest == b""


def test_split_sse_keeps_an_unfinished_tail() -> None:
    events, rest = split_sse(b"data: 1\n\ndata: 2\n", final=True)
    assert events == [b"data: 1\n\n"]
    assert rest == b"data: 2\n"


def test_parse_sse_event() -> None:
    assert parse_sse_event('event: ping\ndata: {"type": "ping"}\n\n') == ("ping", {"type": "ping"})
    assert parse_sse_event("data: a\ndata: b\n\n") == (None, "a\nb")
    assert parse_sse_event(": keep-alive\n\n") == (None, None)
    assert sse_event("data: [DONE]\n\n", 0.5).data == "[DONE]"


# -- response cache --------------------------------------------------------------------


def cache_worker(directory: str, worker: int, count: int) -> list[int]:
    """Write `count` entries, then read every entry of every worker written so far."""
    from pytest_llmeval.capture.cassettes.cache import ResponseCache

    cache = ResponseCache(Path(directory))
    interaction = make_cassette().interactions[0]
    for number in range(count):
        status = 200 + worker * 10 + number % 10
        stored = interaction.model_copy(
            update={"response": interaction.response.model_copy(update={"status": status})}
        )
        cache.put(f"w{worker}-{number}", stored)
        assert cache.get(f"w{worker}-{number}") == stored
    seen = []
    for other in range(4):
        for number in range(count):
            hit = cache.get(f"w{other}-{number}")
            if hit is not None:
                assert hit.response.status == 200 + other * 10 + number % 10
                seen.append(other)
    cache.close()
    return seen


def test_response_cache_is_marked_and_round_trips(tmp_path: Path) -> None:
    from pytest_llmeval.capture.cassettes.cache import ResponseCache

    cache = ResponseCache(tmp_path / ".llmeval_cache")
    assert (tmp_path / ".llmeval_cache" / ".gitignore").read_text().endswith("*\n")
    assert (
        (tmp_path / ".llmeval_cache" / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    assert cache.get("nothing") is None
    interaction = make_cassette().interactions[0]
    cache.put("POST /v1/x\n{}", interaction)
    assert cache.get("POST /v1/x\n{}") == interaction
    assert len(cache) == 1
    cache.close()
    again = ResponseCache(tmp_path / ".llmeval_cache")
    assert again.get("POST /v1/x\n{}") == interaction
    again.close()


def test_response_cache_with_four_processes(tmp_path: Path) -> None:
    import multiprocessing

    directory = str(tmp_path / "shared")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(cache_worker, [(directory, worker, 50) for worker in range(4)])
    for worker, seen in enumerate(results):
        assert seen.count(worker) == 50  # its own entries, all intact
    from pytest_llmeval.capture.cassettes.cache import ResponseCache

    cache = ResponseCache(Path(directory))
    assert len(cache) == 200
    assert all(cache.get(f"w{w}-{n}") is not None for w in range(4) for n in range(50))
    cache.close()


# -- through a session: corrupt files are never touched; the cache feeds other tests -----


def chat(url: str) -> str:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-x", messages=[{"role": "user", "content": "hello"}]
    )
    return reply.choices[0].message.content or ""


def test_corrupt_cassette_fails_start_and_is_left_alone(
    fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    cassette = tmp_path / "c.json"
    for content in (
        b'{"schema_version": 1, "interactions": [',
        b'{"schema_version": 99, "interactions": []}',
    ):
        cassette.write_bytes(content)
        for mode in ("none", "once", "new"):
            with pytest.raises(FileFormatError) as info:
                CassetteSession(path=cassette, mode=mode, nodeid="t").start()  # type: ignore[arg-type]
            assert str(info.value).startswith(f"{cassette}: ")
            assert not intercept.is_installed()
            assert cassette.read_bytes() == content
    rerecord = CassetteSession(path=cassette, mode="all", nodeid="t")  # only `all` replaces it
    rerecord.start()
    chat(fake_provider.url)
    rerecord.stop()
    assert load_cassette(cassette).interactions[0].response.status == 200


def test_response_cache_serves_other_tests(tmp_path: Path) -> None:
    from pytest_llmeval.capture.cassettes.cache import ResponseCache

    cache = ResponseCache(tmp_path / ".llmeval_cache")
    with FakeProviderServer() as provider:
        url = provider.url
        first = CassetteSession(path=tmp_path / "a.json", mode="all", nodeid="t", cache=cache)
        first.start()
        live = chat(url)
        assert first.stop().recorded == 1
    exchanges = ExchangeLog()  # the provider is gone from here on
    second = CassetteSession(path=tmp_path / "b.json", mode="once", nodeid="u", cache=cache,
                             observer=exchanges)  # fmt: skip
    second.start()
    assert chat(url) == live
    outcome = second.stop()
    assert (outcome.recorded, outcome.cached, outcome.written) == (1, 1, tmp_path / "b.json")
    assert [(e.replayed, e.cached) for e in exchanges] == [(True, True)]
    blocked = CassetteSession(path=tmp_path / "c.json", mode="none", nodeid="v", cache=cache)
    blocked.start()  # `none` replays from the cassette only, never from the cache
    with pytest.raises(CassetteMiss):
        chat(url)
    blocked.stop()
    cache.close()


# -- saving a recording: lock, re-read, merge ------------------------------------------


def said(text: str) -> Interaction:
    """An interaction whose request says `text` (its canonical request differs by text)."""
    base = make_cassette().interactions[0]
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    return base.model_copy(update={"request": base.request.model_copy(update={"body": body})})


def spoken(interactions: list[Interaction]) -> list[str]:
    return [i.request.body["messages"][0]["content"] for i in interactions]


def by_request(interaction: Interaction) -> tuple[str, str, str]:
    from pytest_llmeval.capture.cassettes.match import Matcher
    from pytest_llmeval.core.redact import Redactor

    return Matcher(Redactor()).recorded(interaction.request).key


def test_merge_adds_what_the_file_lacks_by_request_and_order() -> None:
    from pytest_llmeval.capture.cassettes.store import merge_interactions

    on_disk = [said("x"), said("y")]
    wanted = [said("x"), said("x"), said("z")]  # the test asks x twice: the file has one
    assert spoken(merge_interactions(on_disk, wanted, by_request)) == ["x", "y", "x", "z"]
    assert spoken(merge_interactions(on_disk, on_disk, by_request)) == ["x", "y"]


def test_a_save_merges_what_another_process_wrote_since_the_start(tmp_path: Path) -> None:
    from pytest_llmeval.capture.cassettes.store import file_signature, save_recording

    path = tmp_path / "c.json"
    write_cassette(path, Cassette(interactions=[said("old")]))
    signature = file_signature(path)
    loaded = load_cassette(path).interactions
    # another process appends its call while this one records
    write_cassette(path, Cassette(interactions=[said("old"), said("theirs")]))
    mine = [*loaded, said("mine")]
    save_recording(path, mine, base=loaded, base_signature=signature, key=by_request)
    assert spoken(load_cassette(path).interactions) == ["old", "theirs", "mine"]


def test_a_rerecording_replaces_the_file_unless_someone_wrote_it_meanwhile(tmp_path: Path) -> None:
    from pytest_llmeval.capture.cassettes.store import file_signature, save_recording

    path = tmp_path / "c.json"
    write_cassette(path, Cassette(interactions=[said("stale")]))
    signature = file_signature(path)
    save_recording(path, [said("fresh")], base=[], base_signature=signature, key=by_request)
    assert spoken(load_cassette(path).interactions) == ["fresh"]
    # --llmeval-record=all in two processes: the second keeps the first's recording
    save_recording(path, [said("second")], base=[], base_signature=signature, key=by_request)
    assert spoken(load_cassette(path).interactions) == ["fresh", "second"]


def test_a_save_never_overwrites_a_file_that_became_corrupt(tmp_path: Path) -> None:
    from pytest_llmeval.capture.cassettes.store import save_recording

    path = tmp_path / "c.json"
    path.write_text("{half a cass", encoding="utf-8")
    with pytest.raises(FileFormatError, match="not valid JSON"):
        save_recording(path, [said("mine")], base=[], base_signature=None, key=by_request)
    assert path.read_text(encoding="utf-8") == "{half a cass"


LOCK_THEN_WRITE = """
import sys
from pathlib import Path
from pytest_llmeval.capture.cassettes.store import cassette_lock
Path(sys.argv[2]).write_text("trying")
with cassette_lock(Path(sys.argv[1])):
    Path(sys.argv[2]).write_text("got the lock")
"""


def test_the_cassette_lock_excludes_another_process(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from pytest_llmeval.capture.cassettes.store import cassette_lock

    cassette = tmp_path / "cassettes" / "test_x" / "test_y.json"
    marker = tmp_path / "marker"
    command = [sys.executable, "-c", LOCK_THEN_WRITE, str(cassette), str(marker)]
    with cassette_lock(cassette):
        other = subprocess.Popen(command)
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the other process is at the lock now: it must wait there
        assert marker.read_text() == "trying"
        assert other.poll() is None
    assert other.wait(timeout=60) == 0
    assert marker.read_text() == "got the lock"
    assert os.listdir(cassette.parent) == []  # no lock file among the cassettes
