"""The fault matrix: what a user gets when the provider misbehaves while recording.

Each row is one llm_eval test making one call with the real openai or anthropic SDK to
the loopback fake provider, which is told to misbehave in one way just before the call.
The rows of one SDK run as one pytest subprocess (record mode `once`, a 60 s timeout so
a hang fails instead of blocking CI): a subprocess costs 1.5-2.5 s of CPU in SDK
imports alone, one per row would be most of the suite's time budget. The subprocess
then runs again replaying the cassettes it wrote, with the provider unreachable.

Every row states its expected outcome in its id and in a comment, and is checked by:

* `test_fault`: the row ends with that outcome and the SDK's own error, within
  `ROW_SECONDS`; every call it made (failed ones too) is in the `--llmeval-trace`;
  its cassette, if one was written, loads with `load_cassette` (a stream cut short is
  kept and marked `meta.truncated`; a transport failure is kept with its class in
  `meta.failure`); no `*.tmp` file is left anywhere in the run dir;
* `test_failed_calls_are_traced_as_errors`: the failed calls carry an `error`;
* `test_fault_replays_as_recorded`: replaying the cassette gives the same outcome, the
  same SDK error and the same calls in the trace (rows that recorded nothing fail with a
  cassette miss instead).

Rows run the synchronous clients unless `aio` (then the async ones, in `asyncio.run`);
openai rows call Chat Completions unless `api="responses"`.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.capture.cassettes.store import cassette_path, load_cassette
from tests.fakeprovider import FakeProviderServer, closed_port_url
from tests.stress.runs import inner_environment, run_once, run_pytest, shared_root

#: A row that takes longer than this has hung somewhere (the client timeouts are 10 s).
ROW_SECONDS = 15.0
SDKS = ("openai", "anthropic")


@dataclass(frozen=True)
class Row:
    """One fault and what must come of it."""

    name: str
    fault: str | None  # a fake-provider fault kind; None for the refused connection
    outcome: str  # "passed" or "failed" (pytest's outcome of the inner test)
    error: str | None  # fnmatch pattern of the error the user sees (the JUnit message)
    calls: int  # inferences in the trace
    failed_calls: int  # of which carry an error
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    retries: int = 0
    timeout: float = 10.0
    closed: bool = False  # connect to a port nobody listens on
    cassette: bool = True  # a cassette file is written
    truncated: bool = False  # its last interaction is a stream cut short
    failure: str | None = None  # the transport error class recorded in its cassette
    trace_error: str | None = None  # fnmatch pattern of the failed calls' traced error
    aio: bool = False  # the async client
    api: str = "chat"  # openai only: "chat" or "responses"
    sdks: tuple[str, ...] = SDKS


ROWS = (
    # 429 with retry-after, max_retries=1: the SDK waits, retries and the test passes.
    Row("429-retry-after-max_retries1-recovers", "429", "passed", None, 2, 1,
        options={"retry_after": 1}, retries=1),
    # 429 without retry-after, max_retries=1: the SDK backs off by itself and recovers.
    Row("429-no-retry-after-max_retries1-recovers", "429", "passed", None, 2, 1, retries=1),
    # 429 with max_retries=0: the test fails with the SDK's RateLimitError.
    Row("429-max_retries0-fails-RateLimitError", "429", "failed", "*RateLimitError*", 1, 1,
        options={"retry_after": 1}),
    # 500/502/503 with max_retries=0: the test fails with the SDK's InternalServerError.
    Row("500-fails-InternalServerError", "500", "failed", "*InternalServerError*", 1, 1),
    Row("502-fails-InternalServerError", "502", "failed", "*InternalServerError*", 1, 1),
    Row("503-fails-InternalServerError", "503", "failed", "*InternalServerError*", 1, 1,
        sdks=("openai",)),
    # anthropic names its 503 apart (a subclass of its InternalServerError).
    Row("503-fails-ServiceUnavailableError", "503", "failed", "*ServiceUnavailableError*", 1, 1,
        sdks=("anthropic",)),
    # Nobody listens: APIConnectionError; the failed connection is recorded, and replayed.
    Row("connection-refused-fails-APIConnectionError", None, "failed", "*APIConnectionError*",
        1, 1, closed=True, failure="ConnectError"),
    # The server never answers; the client's 0.5 s timeout ends the call: APITimeoutError,
    # recorded as a ReadTimeout, which replay raises again for the SDK to turn into its own.
    Row("read-timeout-fails-APITimeoutError", "timeout", "failed", "*APITimeoutError*", 1, 1,
        options={"seconds": 20}, timeout=0.5, failure="ReadTimeout"),
    Row("read-timeout-async-fails-APITimeoutError", "timeout", "failed", "*APITimeoutError*",
        1, 1, options={"seconds": 20}, timeout=0.5, failure="ReadTimeout", aio=True),
    # A timeout, then the SDK's retry is answered: both attempts are recorded in order.
    Row("read-timeout-max_retries1-recovers", "timeout", "passed", None, 2, 1,
        options={"seconds": 20}, timeout=0.5, retries=1, failure="ReadTimeout"),
    # The server closes the connection without answering: APIConnectionError.
    Row("hangup-fails-APIConnectionError", "hangup", "failed", "*APIConnectionError*", 1, 1,
        failure="RemoteProtocolError"),
    Row("hangup-async-fails-APIConnectionError", "hangup", "failed", "*APIConnectionError*",
        1, 1, failure="RemoteProtocolError", aio=True),
    # The first byte comes after 1 s, well within the client's 10 s: the test passes.
    Row("slow-first-byte-passes", "slow", "passed", None, 1, 0, options={"seconds": 1}),
    # A stream dropped after two events: the SDK raises, the cut stream is kept, truncated.
    # openai wraps the transport error; anthropic 2.17 too, older releases let httpx's own
    # RemoteProtocolError through: the row asserts its message, which both keep.
    Row("sse-cut-mid-stream-fails-APIConnectionError", "cut", "failed", "*APIConnectionError*",
        1, 1, options={"after": 2}, stream=True, truncated=True, sdks=("openai",),
        failure="RemoteProtocolError"),
    Row("sse-cut-mid-stream-fails-peer-closed", "cut", "failed",
        "*peer closed connection without sending complete message body*", 1, 1,
        options={"after": 2}, stream=True, truncated=True, sdks=("anthropic",),
        failure="RemoteProtocolError"),
    # A stream that stops after two events until the client's read timeout: APITimeoutError
    # live, so APITimeoutError on replay too (not the connection error of a cut).
    Row("sse-stall-mid-stream-fails-APITimeoutError", "stall", "failed", "*APITimeoutError*",
        1, 1, options={"after": 2, "seconds": 20}, stream=True, timeout=0.5, truncated=True,
        failure="ReadTimeout"),
    Row("sse-stall-mid-stream-async-fails-APITimeoutError", "stall", "failed",
        "*APITimeoutError*", 1, 1, options={"after": 2, "seconds": 20}, stream=True,
        timeout=0.5, truncated=True, failure="ReadTimeout", aio=True),
    # A stream the server ends cleanly before its protocol end: the SDK returns the part it
    # got, so the test passes, but the call is cut short: truncated, and an error in the trace.
    Row("sse-early-end-passes-traced-as-cut-short", "early_end", "passed", None, 1, 1,
        options={"after": 5}, stream=True, truncated=True,
        trace_error="*ended the stream before its `data: ?DONE?`*", sdks=("openai",)),
    Row("sse-early-end-async-passes-traced-as-cut-short", "early_end", "passed", None, 1, 1,
        options={"after": 5}, stream=True, truncated=True, aio=True,
        trace_error="*ended the stream before its `data: ?DONE?`*", sdks=("openai",)),
    Row("responses-sse-early-end-passes-traced-as-cut-short", "early_end", "passed", None,
        1, 1, options={"after": 7}, stream=True, truncated=True, api="responses",
        trace_error="*ended the stream before its `response.completed`*", sdks=("openai",)),
    Row("sse-early-end-passes-traced-as-cut-short", "early_end", "passed", None, 1, 1,
        options={"after": 5}, stream=True, truncated=True,
        trace_error="*ended the stream before its `message_stop`*", sdks=("anthropic",)),
    Row("sse-early-end-async-passes-traced-as-cut-short", "early_end", "passed", None, 1, 1,
        options={"after": 5}, stream=True, truncated=True, aio=True,
        trace_error="*ended the stream before its `message_stop`*", sdks=("anthropic",)),
    # Status 200 with a body that is not JSON: the SDK's JSON decoding fails the test.
    Row("malformed-json-fails-JSONDecodeError", "malformed", "failed", "*JSONDecodeError*", 1, 1),
    Row("empty-body-fails-JSONDecodeError", "empty", "failed", "*JSONDecodeError*", 1, 1),
    # Status 200 with an HTML page: the SDK hands back the text, reading the answer fails.
    Row("wrong-content-type-fails-AttributeError", "wrong_content_type", "failed",
        "*AttributeError*'str' object has no attribute*", 1, 1),
)  # fmt: skip

#: Rows whose failed call is an HTTP 200 the SDK could not read (see the xfail below).
UNREADABLE_200 = frozenset(
    {
        "malformed-json-fails-JSONDecodeError",
        "empty-body-fails-JSONDecodeError",
        "wrong-content-type-fails-AttributeError",
    }
)
UNREADABLE_200_BUG = (
    "BUG: an HTTP 200 whose body the API client cannot read (invalid JSON, empty, or not "
    "JSON at all) is traced with error=None, so the failed call counts as a success in the "
    "trace, the report and the 'errors' rollup; capture.build_inference should set an error"
)
TRUNCATED_REPLAY_BUG = (
    "BUG: a stream recorded with meta.truncated (the connection dropped mid-stream) "
    "replays as a complete, clean stream, so a test that failed live passes on replay; "
    "streams.ReplayStream should raise a transport error after the last recorded event"
)

INNER = """
import asyncio
import json
import os
import urllib.request

import pytest

URL = os.environ["FAKE_URL"]
CLOSED_URL = os.environ["CLOSED_URL"]
REPLAY = os.environ.get("REPLAY") == "1"
ROWS = {rows}


def control(path, payload):
    request = urllib.request.Request(
        URL + "/_fake/" + path, data=json.dumps(payload).encode(), method="POST",
        headers={{"content-type": "application/json"}},
    )
    urllib.request.urlopen(request, timeout=5).read()


def ask(row):
    base = CLOSED_URL if (row["closed"] or REPLAY) else URL
    messages = [{{"role": "user", "content": "Where is my parcel?"}}]
{call}


@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("name", list(ROWS))
def test_row(name, llm_eval):
    row = ROWS[name]
    if not REPLAY:
        control("reset", {{}})
        if row["fault"] is not None:
            control("faults", {{"kind": row["fault"], **row["options"]}})
    llm_eval.score("answered", bool(ask(row)))
"""

CALLS = {
    "openai": """
    import openai
    options = dict(
        base_url=base + "/v1", api_key="sk-test-faults",
        max_retries=row["retries"], timeout=row["timeout"],
    )
    model, stream = "gpt-4o-mini", row["stream"]
    if row["aio"]:
        async def run():
            async with openai.AsyncOpenAI(**options) as client:
                if row["api"] == "responses":
                    events = await client.responses.create(model=model, input=messages, stream=True)
                    return "".join([e.delta async for e in events if e.type.endswith("text.delta")])
                if stream:
                    chunks = await client.chat.completions.create(
                        model=model, messages=messages, stream=True
                    )
                    return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
                reply = await client.chat.completions.create(model=model, messages=messages)
                return reply.choices[0].message.content
        return asyncio.run(run())
    with openai.OpenAI(**options) as client:
        if row["api"] == "responses":
            events = client.responses.create(model=model, input=messages, stream=True)
            return "".join(e.delta for e in events if e.type.endswith("text.delta"))
        if stream:
            chunks = client.chat.completions.create(model=model, messages=messages, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reply = client.chat.completions.create(model=model, messages=messages)
        return reply.choices[0].message.content
""",
    "anthropic": """
    import anthropic
    options = dict(
        base_url=base, api_key="sk-ant-test-faults",
        max_retries=row["retries"], timeout=row["timeout"],
    )
    arguments = dict(model="claude-haiku-4-5", max_tokens=100, messages=messages)
    if row["aio"]:
        async def run():
            async with anthropic.AsyncAnthropic(**options) as client:
                if row["stream"]:
                    async with client.messages.stream(**arguments) as stream:
                        return (await stream.get_final_message()).content[0].text
                return (await client.messages.create(**arguments)).content[0].text
        return asyncio.run(run())
    with anthropic.Anthropic(**options) as client:
        if row["stream"]:
            with client.messages.stream(**arguments) as stream:
                return stream.get_final_message().content[0].text
        return client.messages.create(**arguments).content[0].text
""",
}


def rows_of(sdk: str) -> list[Row]:
    return [row for row in ROWS if sdk in row.sdks]


def inner_suite(sdk: str) -> str:
    """The test file of one SDK's rows: one parametrized llm_eval test, one row per case."""
    rows = {row.name: asdict(row) for row in rows_of(sdk)}
    return INNER.format(rows=repr(rows), call=CALLS[sdk].strip("\n"))


@dataclass(frozen=True)
class Outcome:
    """What pytest's JUnit XML says about one inner test."""

    outcome: str  # passed, failed, error, skipped
    message: str  # the JUnit message, then the whole report (traceback, row ids and all)
    seconds: float

    @property
    def summary(self) -> str:
        """The JUnit message alone: `module.ErrorClass: text` of what ended the test."""
        return self.message.split("\n", 1)[0]


@dataclass
class MatrixRun:
    """The record run and the replay run of one SDK's rows, read back from their files."""

    sdk: str
    root: Path
    outcomes: dict[str, Outcome]
    replayed: dict[str, Outcome]
    trace: dict[str, list[dict[str, Any]]]
    replay_trace: dict[str, list[dict[str, Any]]]

    def nodeid(self, row: Row) -> str:
        return f"{self.test_file.name}::test_row[{row.name}]"

    @property
    def test_file(self) -> Path:
        return self.root / f"test_{self.sdk}_rows.py"

    def cassette(self, row: Row) -> Path:
        return cassette_path(self.test_file, self.nodeid(row))


def assert_nothing_half_written(root: Path) -> list[Path]:
    """No temp file is left under `root`, and every cassette there loads; returns them."""
    assert list(root.rglob("*.tmp")) == []
    cassettes = sorted((root / "cassettes").rglob("*.json"))
    for path in cassettes:
        load_cassette(path)
    return cassettes


def junit_outcomes(path: Path) -> dict[str, Outcome]:
    """Outcomes of `test_row[...]` cases by row name, from pytest's JUnit XML."""
    outcomes = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        if not name.startswith("test_row["):
            continue
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome = "failed" if kind == "failure" else kind
                message = f"{found.get('message', '')}\n{found.text or ''}"
                break
        outcomes[name[len("test_row[") : -1]] = Outcome(
            outcome, message, float(case.get("time", "0"))
        )
    return outcomes


def record_and_replay(sdk: str, root: Path, server: FakeProviderServer) -> None:
    """Run one SDK's rows recording (faults on), then replaying with the provider gone."""
    (root / f"test_{sdk}_rows.py").write_text(inner_suite(sdk), encoding="utf-8")
    environment = inner_environment(FAKE_URL=server.url, CLOSED_URL=closed_port_url())
    logs = root.parent / f"{root.name}-logs"
    logs.mkdir(exist_ok=True)
    options = ("-p", "no:xdist", "-p", "no:cacheprovider")
    run_pytest(
        root, *options, "--llmeval-record=once", "--junitxml=record.xml",
        "--llmeval-trace=trace.jsonl", environment=environment, log=logs / "record.log",
    )  # fmt: skip
    # The row tests check what the record run left: list it before the replay adds to it.
    (root / "recorded.json").write_text(json.dumps(digests(root)), encoding="utf-8")
    run_pytest(
        root, *options, "--llmeval-record=none", "--junitxml=replay.xml",
        "--llmeval-trace=replay-trace.jsonl", environment={**environment, "REPLAY": "1"},
        log=logs / "replay.log",
    )  # fmt: skip
    server.reset()


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, by relative path."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def matrix(
    tmp_path_factory: pytest.TempPathFactory, _fake_provider_server: FakeProviderServer
) -> Callable[[str], MatrixRun]:
    """Each SDK's matrix, run once per session even when xdist spreads its rows."""
    runs: dict[str, MatrixRun] = {}

    def get(sdk: str) -> MatrixRun:
        if sdk not in runs:
            root = run_once(
                shared_root(tmp_path_factory) / f"fault-matrix-{sdk}",
                lambda root: record_and_replay(sdk, root, _fake_provider_server),
            )
            runs[sdk] = MatrixRun(
                sdk, root, junit_outcomes(root / "record.xml"),
                junit_outcomes(root / "replay.xml"), read_trace(root / "trace.jsonl"),
                read_trace(root / "replay-trace.jsonl"),
            )  # fmt: skip
        return runs[sdk]

    return get


def read_trace(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The calls of a `--llmeval-trace` file, by test node id, in order."""
    trace: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        call = json.loads(line)
        trace.setdefault(call["nodeid"], []).append(call)
    return trace


def row_params(xfail: dict[frozenset[str], str] | None = None) -> list[Any]:
    params = []
    for sdk in SDKS:
        for row in rows_of(sdk):
            marks = [
                pytest.mark.xfail(strict=True, reason=reason)
                for names, reason in (xfail or {}).items()
                if row.name in names
            ]
            params.append(pytest.param(sdk, row, id=f"{sdk}-{row.name}", marks=marks))
    return params


@pytest.mark.parametrize(("sdk", "row"), row_params())
def test_fault(sdk: str, row: Row, matrix: Callable[[str], MatrixRun]) -> None:
    run = matrix(sdk)
    result = run.outcomes[row.name]
    assert result.outcome == row.outcome, result.message
    if row.error is not None:  # the error itself, not the row's name in the traceback
        pytest.LineMatcher([result.summary]).fnmatch_lines([row.error])
    assert result.seconds < ROW_SECONDS

    calls = run.trace.get(run.nodeid(row), [])
    assert len(calls) == row.calls, calls
    assert [call["replayed"] for call in calls] == [False] * row.calls

    recorded = json.loads((run.root / "recorded.json").read_text(encoding="utf-8"))
    assert [name for name in recorded if name.endswith(".tmp")] == []
    path = run.cassette(row)
    assert path.exists() == row.cassette
    if row.cassette:
        interactions = load_cassette(path).interactions
        assert len(interactions) == row.calls
        assert [i.meta.truncated for i in interactions][-1] == row.truncated
        if row.truncated:
            assert interactions[-1].meta.error
        failures = [i.meta.failure for i in interactions if i.meta.failure is not None]
        assert failures == ([row.failure] if row.failure else [])
        # a failure before any response is an interaction without one
        for interaction in interactions:
            if interaction.response is None:
                assert interaction.meta.failure and interaction.meta.error


@pytest.mark.parametrize(("sdk", "row"), row_params())
def test_failed_calls_are_traced_as_errors(
    sdk: str, row: Row, matrix: Callable[[str], MatrixRun]
) -> None:
    run = matrix(sdk)
    calls = run.trace[run.nodeid(row)]
    failed = [call for call in calls if call["error"]]
    assert len(failed) == row.failed_calls, calls
    if row.trace_error is not None:
        for call in failed:
            pytest.LineMatcher([call["error"]]).fnmatch_lines([row.trace_error])
    if row.retries and row.outcome == "passed":
        # the failed attempt first, then the answer that let the test pass
        first = None if row.fault == "timeout" else int(str(row.fault))
        assert [call["status"] for call in calls] == [first, 200]
        assert calls[-1]["output_text"]


TRUNCATED = frozenset(row.name for row in ROWS if row.truncated)


@pytest.mark.parametrize(("sdk", "row"), row_params())
def test_fault_replays_as_recorded(sdk: str, row: Row, matrix: Callable[[str], MatrixRun]) -> None:
    run = matrix(sdk)
    replayed = run.replayed[row.name]
    if not row.cassette:
        # nothing was recorded, and replay blocks the network
        assert replayed.outcome == "failed"
        assert "No recorded response for POST" in replayed.message
        return
    assert replayed.outcome == row.outcome, replayed.message
    if row.error is not None:
        pytest.LineMatcher([replayed.summary]).fnmatch_lines([row.error])
    # the same calls, failing the same way, all replayed
    live, again = run.trace[run.nodeid(row)], run.replay_trace.get(run.nodeid(row), [])
    assert [(c["status"], c["error"]) for c in again] == [(c["status"], c["error"]) for c in live]
    assert [call["replayed"] for call in again] == [True] * row.calls
    # replaying rewrote nothing
    recorded = json.loads((run.root / "recorded.json").read_text(encoding="utf-8"))
    name = str(run.cassette(row).relative_to(run.root))
    assert digests(run.root)[name] == recorded[name]


# -- faults outside the matrix ----------------------------------------------------------------

ONE_CALL = """
import os

import openai
import pytest


@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_call(stream, llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    messages = [{"role": "user", "content": "Where is my parcel?"}]
    if stream:
        chunks = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        answer = answer.choices[0].message.content
    llm_eval.score("answered", bool(answer))
"""

SETUP_ERROR_BUG = (
    "BUG: plugin.pytest_runtest_setup is a tryfirst wrapper that calls pytest.fail before "
    "its yield, so the setup wrappers inside it (pytest's logging plugin) never run and "
    "their teardown raises KeyError: one bad cassette gives a second ERROR at teardown; "
    "and since pytest.fail is raised inside `except LLMEvalError`, the message is shown "
    "twice ('During handling of the above exception'). Fix: start the capture in a plain "
    "(non-wrapper) tryfirst pytest_runtest_setup, and fail outside the except block"
)


def test_a_setup_error_of_the_plugin_is_one_error(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    test_file = pytester_env.makepyfile(test_one=ONE_CALL)
    path = cassette_path(test_file, "test_one.py::test_call[plain]")
    path.parent.mkdir(parents=True)
    path.write_text('{"schema_version": 1, "interactions": [', encoding="utf-8")
    # In a subprocess: in-process, the broken teardown also breaks every later in-process
    # pytester run of the same worker (test_record_replay.py fails after it).
    result = pytester_env.runpytest_subprocess("-p", "no:cacheprovider", "-k", "plain", timeout=60)
    assert str(path) in result.stdout.str()
    result.assert_outcomes(errors=1)
    assert "During handling of the above exception" not in result.stdout.str()


LONE_SURROGATE_REPLY_BUG = (
    "BUG: a reply carrying half an emoji (an escaped lone surrogate, '\\ud83d') is parsed "
    "into str that UTF-8 cannot encode, and the writers dump with ensure_ascii=False: "
    "every such test errors at teardown (UnicodeEncodeError writing its cassette, which "
    "is lost), and writing the trace crashes pytest_sessionfinish; store.dump_cassette, "
    "files.dump_model and trace.trace_lines should escape lone surrogates, and "
    "EvalSession.finish should treat a UnicodeError like an OSError"
)


def test_half_an_emoji_in_a_reply_is_recorded(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    fake_provider.reply_with("a broken emoji \ud83d at the end of a chunk")
    pytester_env.makepyfile(test_one=ONE_CALL)
    result = pytester_env.runpytest_subprocess(
        "-p", "no:cacheprovider", "--llmeval-trace=trace.jsonl", timeout=60
    )
    result.assert_outcomes(passed=2)
    assert len(assert_nothing_half_written(pytester_env.path)) == 2
    assert len((pytester_env.path / "trace.jsonl").read_text(encoding="utf-8").splitlines()) == 2


# -- header values that are not ASCII -----------------------------------------------------------

LATIN1_SUITE = """
import asyncio
import inspect
import json
import os
import urllib.request

import anthropic
import httpx2
import openai
import pytest

REPLAY = os.environ.get("REPLAY") == "1"
URL = os.environ["CLOSED_URL"] if REPLAY else os.environ["FAKE_URL"]
MESSAGES = [{"role": "user", "content": "Where is my parcel?"}]


def latin1_header_next():
    request = urllib.request.Request(
        URL + "/_fake/faults", data=json.dumps({"kind": "latin1_header"}).encode(),
        method="POST", headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).read()


def ask(sdk, stream):
    if sdk == "openai":
        with openai.OpenAI(base_url=URL + "/v1", api_key="sk-test-latin1", max_retries=0) as client:
            if stream:
                chunks = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                return chunks.response.headers["x-region"], text
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
            return raw.headers["x-region"], raw.parse().choices[0].message.content
    arguments = dict(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES)
    with anthropic.Anthropic(base_url=URL, api_key="sk-ant-test-latin1", max_retries=0) as client:
        if stream:
            with client.messages.stream(**arguments) as events:
                return events.response.headers["x-region"], events.get_final_message().content[0].text
        raw = client.messages.with_raw_response.create(**arguments)
        return raw.headers["x-region"], raw.parse().content[0].text


async def parsed(raw):
    value = raw.parse()
    return await value if inspect.isawaitable(value) else value


async def ask_async(sdk, stream):
    if sdk == "openai":
        async with openai.AsyncOpenAI(base_url=URL + "/v1", api_key="sk-test-latin1", max_retries=0) as client:
            if stream:
                chunks = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
                text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
                return chunks.response.headers["x-region"], text
            raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
            return raw.headers["x-region"], (await parsed(raw)).choices[0].message.content
    arguments = dict(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES)
    async with anthropic.AsyncAnthropic(base_url=URL, api_key="sk-ant-test-latin1", max_retries=0) as client:
        if stream:
            async with client.messages.stream(**arguments) as events:
                message = await events.get_final_message()
                return events.response.headers["x-region"], message.content[0].text
        raw = await client.messages.with_raw_response.create(**arguments)
        return raw.headers["x-region"], (await parsed(raw)).content[0].text


@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("aio", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_response_header(sdk, stream, aio, llm_eval):
    if not REPLAY:
        latin1_header_next()
    region, text = asyncio.run(ask_async(sdk, stream)) if aio else ask(sdk, stream)
    assert region == "Z\\xfcrich"  # the SDK decodes the Latin-1 bytes the server sent
    llm_eval.score("answered", bool(text))


def test_request_header(llm_cassette):
    with httpx2.Client() as client:
        reply = client.post(
            URL + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
            headers={"x-note": "Z\\xfcrich".encode("latin-1"), "x-utf8-note": "Z\\xfcrich".encode()},
        )
    assert reply.json()["choices"][0]["message"]["content"]
"""


def test_header_values_that_are_not_ascii_record_and_replay(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A response header the server sends as Latin-1 bytes (`x-region: Zürich`), which
    the SDKs accept without the plugin, records and replays through both SDKs, sync and
    async, plain and streamed; request headers keep their exact bytes too."""
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    monkeypatch.setenv("CLOSED_URL", closed_port_url())
    pytester_env.makepyfile(test_headers=LATIN1_SUITE)
    options = ("-p", "no:cacheprovider", "-p", "no:xdist")
    recorded = pytester_env.runpytest_subprocess(*options, "--llmeval-record=once", timeout=60)
    recorded.assert_outcomes(passed=9)
    files = {path: path.read_bytes() for path in (pytester_env.path / "cassettes").rglob("*.json")}
    assert len(files) == 9
    for path in files:
        cassette = load_cassette(path)
        assert cassette.schema_version == 2  # a version 1 reader must refuse it, not misread it
        (interaction,) = cassette.interactions
        if path.stem == "test_request_header":
            request = interaction.request
            assert request.headers["x-note"] == request.headers["x-utf8-note"] == "Zürich"
            assert request.headers_latin1 == ["x-note"]
            assert (b"x-note", b"Z\xfcrich") in request.header_bytes()
            assert (b"x-utf8-note", "Zürich".encode()) in request.header_bytes()
            continue
        assert interaction.response is not None
        assert interaction.response.headers["x-region"] == "Zürich"
        assert interaction.response.headers_latin1 == ["x-region"]
        assert not interaction.meta.truncated, interaction.meta.error

    fake_provider.stop()  # replay must not need it
    try:
        monkeypatch.setenv("REPLAY", "1")
        replayed = pytester_env.runpytest_subprocess(*options, "--llmeval-record=none", timeout=60)
    finally:
        fake_provider.start()
    replayed.assert_outcomes(passed=9)
    assert {path: path.read_bytes() for path in files} == files  # replay rewrote nothing


# -- cassettes of schema version 1 ----------------------------------------------------------------


def test_a_cassette_using_nothing_new_is_still_written_as_version_1(
    fake_provider: FakeProviderServer, openai_client: Any, tmp_path: Path
) -> None:
    from pytest_llmeval.capture.cassettes.session import CassetteSession
    from pytest_llmeval.capture.cassettes.store import dump_cassette

    path = tmp_path / "plain.json"
    session = CassetteSession(path=path, mode="once", nodeid="test_plain")
    session.start()
    try:
        openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        chunks = openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finally:
        session.stop()
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n  "schema_version": 1,\n')  # readable by older releases
    assert '"failure"' not in text and '"headers_latin1"' not in text
    assert dump_cassette(load_cassette(path)) == text


def test_a_version_1_cut_stream_still_replays_as_cut(
    fake_provider: FakeProviderServer, openai_client: Any, tmp_path: Path
) -> None:
    """Version 1 kept no failure class: its cut streams end as RemoteProtocolError."""
    import httpx2
    import openai

    from pytest_llmeval.capture.cassettes.session import CassetteSession

    path = tmp_path / "cut.json"
    messages = [{"role": "user", "content": "hi"}]
    fake_provider.enqueue_fault("cut", after=2)
    session = CassetteSession(path=path, mode="once", nodeid="test_cut")
    session.start()
    try:
        with pytest.raises(openai.APIConnectionError):
            for _ in openai_client.chat.completions.create(
                model="m", messages=messages, stream=True
            ):
                pass
    finally:
        session.stop()
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (
        data["schema_version"] == 2
        and data["interactions"][0]["meta"]["failure"] == "RemoteProtocolError"
    )
    del data["interactions"][0]["meta"]["failure"]  # as a release before schema 2 wrote it
    data["schema_version"] = 1
    path.write_text(json.dumps(data), encoding="utf-8")
    (interaction,) = load_cassette(path).interactions
    assert interaction.meta.truncated and interaction.meta.failure == "RemoteProtocolError"

    fake_provider.stop()
    try:
        session = CassetteSession(path=path, mode="none", nodeid="test_cut")
        session.start()
        received = []
        try:
            with pytest.raises(openai.APIConnectionError) as info:
                for chunk in openai_client.chat.completions.create(
                    model="m", messages=messages, stream=True
                ):
                    received.append(chunk)
        finally:
            session.stop()
    finally:
        fake_provider.start()
    assert len(received) == 2
    assert isinstance(info.value.__cause__, httpx2.RemoteProtocolError)
