"""Secrets never reach disk: a full recorded run with planted keys, then a byte scan.

One inner run records openai and anthropic calls, streamed and not, with every output
on (`--llmeval-trace`, `--llmeval-report`, `--llmeval-html`, `--junitxml`,
`--llmeval-cache`, pytest's cache) and fake keys planted where real ones travel: the
`Authorization`, `x-api-key`, `api-key`, `cookie` and a custom `x-acme-token` header,
query strings (camelCase names too) and the URL's userinfo, and request bodies (which
the fake provider echoes back in its replies, so responses carry them too). The fake
provider also sends keys back the way servers do (issue 15): in a judge's reason, a 401
body the failing test raises, a Responses stream's `Bearer<TAB>token`, a key split over
plain-text SSE events, a token with a JSON-escaped slash, a non-UTF-8 error body.
The keys are fresh random strings, passed to the inner run in an environment variable,
so the test file itself holds none. Then every file under the run directory is read as
bytes (cassettes, reports, trace, JUnit XML, the diskcache SQLite database and files)
and searched for each key, and for its random tail (a key stored in pieces leaks too),
as written and inside every base64 run (a non-UTF-8 body is stored as base64).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.capture.cassettes.cache import ResponseCache
from pytest_llmeval.capture.cassettes.models import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    SSEEvent,
)
from pytest_llmeval.capture.cassettes.store import dump_cassette
from pytest_llmeval.core.files import write_text_atomic
from pytest_llmeval.core.redact import REDACTED, Redactor
from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.baseline import baseline_from_aggregate, write_baseline
from pytest_llmeval.records.models import EvalResult, Inference, Score, ToolCall, ToolResult
from pytest_llmeval.reporting.html import write_html
from pytest_llmeval.reporting.json import build_report, load_report, write_report
from pytest_llmeval.reporting.trace import write_trace
from tests.fakeprovider import FakeProviderServer, closed_port_url
from tests.stress.runs import inner_environment, run_once, run_pytest, shared_root

#: A custom secret format, redacted through the llmeval_redact ini option.
CUSTOM_PATTERN = r"ACME-[A-Za-z0-9_-]{20,}"


def token(length: int = 32) -> str:
    """A random url-safe string without `-` or `_` at its ends (so patterns see it whole)."""
    while True:
        text = secrets.token_urlsafe(length)[:length]
        if text[0].isalnum() and text[-1].isalnum():
            return text


def planted_keys() -> dict[str, str]:
    """Fresh fake keys, one per place a secret can travel."""
    return {
        # headers, dropped by name whatever their format
        "openai_api_key": f"sk-proj-{token()}",  # Authorization: Bearer ...
        "anthropic_api_key": f"sk-ant-api03-{token()}",  # x-api-key
        "anthropic_auth_token": token(40),  # Authorization: Bearer ..., no known prefix
        "api_key_header": token(32),  # api-key (Azure OpenAI style)
        "cookie": token(24),  # cookie: session=...
        "custom_header": token(28),  # x-acme-token
        # query strings, redacted by parameter name
        "query_api_key": token(30),  # ?api_key=...
        "query_token": token(30),  # ?access_token=...
        # request bodies (and the replies echoing them), redacted by pattern
        "body_sk": f"sk-{token(36)}",
        "body_sk_ant": f"sk-ant-{token(30)}",
        "body_bearer": token(30),  # "Bearer <it>" in a non-streamed prompt
        "body_custom": f"ACME-{token(24)}",  # the custom pattern
        "body_nested_sk": f"sk-{token(24)}",  # deep inside a tool's JSON schema
        "stream_sk": f"sk-{token(28)}",  # echoed back in a stream
        "stream_custom": f"ACME-{token(26)}",
        "stream_bearer": token(30),  # "Bearer <it>" echoed back in a stream
        "logged_sk": f"sk-{token(30)}",  # the live answer echoing it, put in llm_eval.log()
        # issue 15, item 3: reasons and failure messages (reports, HTML, JUnit)
        "reason_sk": f"sk-{token(30)}",  # a score reason given by the test
        "judge_reason_sk": f"sk-{token(30)}",  # a judge's reason echoing it
        "error_sk": f"sk-proj-{token(30)}",  # a 401 body echoing it; the test fails with it
        # item 4: credentials in the URL
        "userinfo_password": token(24),  # http://user:<it>@host/v1
        "query_access_token": token(24),  # ?accessToken=
        "query_auth_token": token(24),  # ?authToken=
        "query_client_secret": token(24),  # ?clientSecret=
        "query_session_token": token(24),  # ?sessionToken=
        # item 5: stream redaction gaps
        "responses_tab_bearer": token(30),  # Bearer<TAB><it> in response.output_text.done
        "plain_split_sk": f"sk-{token(36)}",  # split across plain-text SSE events
        "escaped_slash_bearer": f"{token(14)}/{token(18)}",  # written Bearer ab\/cd in JSON
        "non_utf8_sk": f"sk-{token(30)}",  # in a latin-1 401 body, stored as base64
    }


INNER = """
import json
import os

import anthropic
import httpx
import openai
import pytest

URL = os.environ["FAKE_URL"]
KEYS = json.loads(os.environ["PLANTED_KEYS"])


def saw(name, text):
    # note (outside the run's folder, on the live run) that a key came back
    if os.environ.get("SEEN_DIR") and KEYS[name] in text:
        with open(os.path.join(os.environ["SEEN_DIR"], name), "w"):
            pass


def openai_client():
    return openai.OpenAI(
        base_url=URL + "/v1",
        api_key=KEYS["openai_api_key"],
        max_retries=0,
        default_headers={
            "api-key": KEYS["api_key_header"],
            "cookie": "session=" + KEYS["cookie"],
            "x-acme-token": KEYS["custom_header"],
        },
        default_query={"api_key": KEYS["query_api_key"]},
    )


def anthropic_client(**credential):
    # the SDK takes one credential: api_key (x-api-key) or auth_token (Authorization)
    return anthropic.Anthropic(
        base_url=URL,
        **credential,
        max_retries=0,
        default_headers={"cookie": "session=" + KEYS["cookie"]},
        default_query={"access_token": KEYS["query_token"]},
    )


@pytest.mark.llm_eval(threshold=0.5)
def test_openai_chat(llm_eval):
    prompt = (
        "I pasted my key " + KEYS["body_sk"] + " and the header Authorization: Bearer "
        + KEYS["body_bearer"] + " and our " + KEYS["body_custom"] + " by mistake"
    )
    reply = openai_client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Never repeat " + KEYS["body_sk_ant"]},
            {"role": "user", "content": [{"type": "text", "text": prompt}]},
        ],
        tools=[{
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look an order up",
                "parameters": {"type": "object", "properties": {"order": {
                    "type": "string", "description": "not " + KEYS["body_nested_sk"],
                }}},
            },
        }],
    )
    llm_eval.score("answered", bool(reply.choices[0].message.content))


@pytest.mark.llm_eval(threshold=0.5)
def test_openai_stream(llm_eval):
    prompt = "Repeat after me: " + KEYS["stream_sk"] + " and " + KEYS["stream_custom"]
    chunks = openai_client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True,
    )
    llm_eval.score("answered", bool("".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices
    )))


@pytest.mark.llm_eval(threshold=0.5)
def test_anthropic_message(llm_eval):
    reply = anthropic_client(api_key=KEYS["anthropic_api_key"]).messages.create(
        model="claude-haiku-4-5", max_tokens=200,
        system="The admin key is " + KEYS["body_sk_ant"],
        messages=[{"role": "user", "content": "My key is " + KEYS["body_sk"]}],
    )
    llm_eval.score("answered", bool(reply.content[0].text))


@pytest.mark.llm_eval(threshold=0.5)
def test_anthropic_stream(llm_eval):
    with anthropic_client(auth_token=KEYS["anthropic_auth_token"]).messages.stream(
        model="claude-haiku-4-5", max_tokens=200,
        messages=[{"role": "user", "content": "Say back " + KEYS["stream_sk"]}],
    ) as stream:
        llm_eval.score("answered", bool(stream.get_final_message().content[0].text))


@pytest.mark.llm_eval(threshold=0.5)
def test_stream_echoes_a_bearer_token(llm_eval):
    prompt = "Repeat after me: Authorization: Bearer " + KEYS["stream_bearer"]
    chunks = openai_client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True,
    )
    llm_eval.score("answered", bool(list(chunks)))


@pytest.mark.llm_eval(threshold=0.5)
def test_reasons_echo_keys(llm_eval):
    llm_eval.score("safe", 0.0, reason="the answer leaked " + KEYS["reason_sk"])
    # the fake judge is scripted to answer with the key in its reason
    verdict = llm_eval.judge("JUDGE-ECHO: an answer", "Is it safe?")
    saw("judge_reason_sk", verdict.reason)


@pytest.mark.llm_eval(threshold=0.5)
def test_provider_error_echoes_the_key(llm_eval):
    # a 401 body echoing the key (scripted on /v1/completions); the test fails with it
    try:
        openai_client().completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
    except openai.AuthenticationError as error:
        saw("error_sk", str(error))
        raise


@pytest.mark.llm_eval(threshold=0.5)
def test_credentials_in_the_url(llm_eval):
    host = URL.split("://", 1)[1]
    client = openai.OpenAI(
        base_url="http://alice:" + KEYS["userinfo_password"] + "@" + host + "/v1",
        api_key=KEYS["openai_api_key"],
        max_retries=0,
        default_query={
            "accessToken": KEYS["query_access_token"],
            "authToken": KEYS["query_auth_token"],
            "clientSecret": KEYS["query_client_secret"],
            "sessionToken": KEYS["query_session_token"],
        },
    )
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "userinfo"}]
    )
    llm_eval.score("answered", bool(reply.choices[0].message.content))


@pytest.mark.llm_eval(threshold=0.5)
def test_responses_stream_with_a_tab_in_a_bearer_token(llm_eval):
    events = openai_client().responses.create(
        model="gpt-4o-mini", input="RESPONSES-TAB", stream=True
    )
    done = [e.text for e in events if e.type == "response.output_text.done"]
    saw("responses_tab_bearer", done[0])
    llm_eval.score("answered", bool(done[0]))


@pytest.mark.llm_eval(threshold=0.5)
def test_plain_text_stream_splits_a_key(llm_eval):
    with httpx.Client() as client:
        with client.stream("POST", URL + "/v1/text-stream", json={}) as reply:
            text = "".join(line[6:] for line in reply.iter_lines() if line.startswith("data: "))
    saw("plain_split_sk", text)
    llm_eval.score("answered", bool(text))


@pytest.mark.llm_eval(threshold=0.5)
def test_escaped_slash_inside_a_token(llm_eval):
    # a server escaping each slash (scripted on /escaping/v1/chat/completions)
    client = openai.OpenAI(base_url=URL + "/escaping/v1", api_key="k", max_retries=0)
    chunks = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    saw("escaped_slash_bearer", text)
    llm_eval.score("answered", bool(text))


@pytest.mark.llm_eval(threshold=0.5)
def test_non_utf8_error_body(llm_eval):
    with pytest.raises(openai.AuthenticationError) as error:
        openai_client().models.list()
    saw("non_utf8_sk", str(error.value.body))
    llm_eval.score("answered", True)


@pytest.mark.llm_eval(threshold=0.5)
def test_logs_the_answer(llm_eval):
    reply = openai_client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Confirm " + KEYS["logged_sk"]}],
    )
    answer = reply.choices[0].message.content
    llm_eval.log(answer=answer)
    llm_eval.score("answered", bool(answer))
"""

INI = f"""
[pytest]
llmeval_redact = {CUSTOM_PATTERN}
"""


def _raw(
    server: FakeProviderServer, path: str, payload: bytes, content_type: str, code: int = 200
) -> None:
    encoded = base64.b64encode(payload).decode()
    server.enqueue_fault("raw", path=path, payload=encoded, content_type=content_type, code=code)


def script_provider(server: FakeProviderServer, keys: dict[str, str]) -> None:
    """The replies and faults that carry keys back: echoed in reasons, error bodies and
    streams the way real servers and proxies send them."""
    server.reply_with(
        json={"reasoning": "it leaks " + keys["judge_reason_sk"], "score": 0}, match="JUDGE-ECHO"
    )
    message = f"Incorrect API key provided: {keys['error_sk']}. Find your key at ..."
    server.enqueue_fault(401, path="/v1/completions", message=message)
    tab = "Authorization: Bearer\t" + keys["responses_tab_bearer"] + " ok"
    server.reply_with(tab, match="RESPONSES-TAB")
    key = keys["plain_split_sk"]
    plain = f"data: key {key[:10]}\n\ndata: {key[10:]} end\n\ndata: [DONE]\n\n"
    _raw(server, "/v1/text-stream", plain.encode(), "text/event-stream")
    chunk = {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": "Bearer " + keys["escaped_slash_bearer"]},
                     "finish_reason": None}],
    }  # fmt: skip
    escaped = json.dumps(chunk).replace("/", "\\/")
    _raw(server, "/escaping/v1/chat/completions", f"data: {escaped}\n\ndata: [DONE]\n\n".encode(),
         "text/event-stream")  # fmt: skip
    body = f"Invalid key {keys['non_utf8_sk']} (cl\xe9 refus\xe9e)".encode("latin-1")
    _raw(server, "/v1/models", body, "text/plain; charset=latin-1", code=401)


def record(root: Path, server: FakeProviderServer) -> None:
    keys = planted_keys()
    (root / "keys.json").write_text(json.dumps(keys), encoding="utf-8")
    run, seen = root / "run", root / "seen"
    run.mkdir()
    seen.mkdir()
    (run / "test_secrets_inner.py").write_text(INNER, encoding="utf-8")
    (run / "pytest.ini").write_text(INI, encoding="utf-8")
    server.reset()
    script_provider(server, keys)
    result = run_pytest(
        run,
        "-p",
        "no:xdist",
        "--llmeval-record=once",
        "--llmeval-cache",
        "--llmeval-trace=out/trace.jsonl",
        "--llmeval-report=out/report.json",
        "--llmeval-html=out/report.html",
        "--junitxml=out/junit.xml",
        environment=inner_environment(
            FAKE_URL=server.url,
            PLANTED_KEYS=json.dumps(keys),
            OPENAI_BASE_URL=server.url + "/v1",
            OPENAI_API_KEY=keys["openai_api_key"],
            SEEN_DIR=str(seen),
        ),
        log=root / "run.log",
    )
    (root / "ret").write_text(str(result.returncode))
    (root / "outcome").write_text(outcome_line(result.stdout))
    # the keys did travel: the fake provider saw every one of them
    seen = json.dumps([request.to_json() for request in server.requests])
    (root / "sent.json").write_text(json.dumps({k: v in seen for k, v in keys.items()}))
    server.reset()


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory, _fake_provider_server: FakeProviderServer
) -> Path:
    """The run directory of one full recorded run with planted keys (once per session)."""
    return run_once(
        shared_root(tmp_path_factory) / "planted-secrets",
        lambda root: record(root, _fake_provider_server),
    )


_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{24,}={0,2}")


def readable_bytes(path: Path) -> bytes:
    """A file's bytes, and the decoding of every base64 run in it (a body that is not
    UTF-8 is stored as base64, and a key inside it is not visible in the file as is)."""
    data = path.read_bytes()
    decoded = []
    for run in _BASE64_RUN.findall(data):
        try:
            decoded.append(base64.b64decode(run + b"=" * (-len(run) % 4)))
        except binascii.Error:
            pass
    return b"\0".join([data, *decoded])


def leaks(run: Path, secret: str) -> list[str]:
    """Files under `run` holding `secret`, or its random tail (a key stored in pieces),
    as written or inside base64."""
    needles = {secret.encode(), secret[-16:].encode()}
    return sorted(
        str(path.relative_to(run))
        for path in run.rglob("*")
        if path.is_file() and any(needle in readable_bytes(path) for needle in needles)
    )


def written_files(run: Path) -> set[str]:
    return {str(path.relative_to(run)) for path in run.rglob("*") if path.is_file()}


#: The inner run's outcome: two tests fail on purpose, their messages holding keys.
OUTCOME = "2 failed, 11 passed"


def outcome_line(stdout: str) -> str:
    """The counts of pytest's last line (`2 failed, 12 passed`), without the time."""
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    return last.strip("= ").split(" in ")[0]


def test_the_run_wrote_every_kind_of_file(recorded: Path) -> None:
    log = (recorded / "run.log").read_text()
    assert (recorded / "outcome").read_text() == OUTCOME, log[-5000:]
    assert (recorded / "ret").read_text() == "1", log[-5000:]
    sent = json.loads((recorded / "sent.json").read_text())
    server_side = {"judge_reason_sk", "error_sk", "responses_tab_bearer", "plain_split_sk",
                   "escaped_slash_bearer", "non_utf8_sk"}  # fmt: skip
    # every planted key went over the wire, or came back from the provider, or stayed in
    # the client: a score reason, and the URL's userinfo (the request line never has it)
    local = {"reason_sk", "userinfo_password"}
    assert {name for name, went in sent.items() if not went} == server_side | local
    assert {path.name for path in (recorded / "seen").iterdir()} == server_side
    files = written_files(recorded / "run")
    assert {"out/trace.jsonl", "out/report.json", "out/report.html", "out/junit.xml"} <= files
    assert len([f for f in files if f.startswith("cassettes/") and f.endswith(".json")]) == 13
    report = json.loads((recorded / "run" / "out" / "report.json").read_text())
    results = {r["nodeid"].split("::")[1]: r for r in report["results"]}
    # the failure messages and reasons are there, only without the keys
    errored, below = (
        results["test_provider_error_echoes_the_key"],
        results["test_reasons_echo_keys"],
    )
    assert errored["status"] == "failed" and "<redacted>" in errored["message"]
    assert below["status"] == "below" and "<redacted>" in below["message"]
    assert [REDACTED in score["reason"] for score in below["scores"]] == [True, True]
    junit = (recorded / "run" / "out" / "junit.xml").read_text()
    assert junit.count("&lt;redacted&gt;") >= 2  # both failures, in the JUnit XML too
    assert any(f.startswith(".llmeval_cache/responses/cache.db") for f in files)
    assert any(f.startswith(".pytest_cache/") for f in files)


def test_no_planted_key_reaches_disk(recorded: Path) -> None:
    keys = json.loads((recorded / "keys.json").read_text())
    found = {name: leaks(recorded / "run", secret) for name, secret in keys.items()}
    assert found == {name: [] for name in found}


def test_the_redacted_recording_replays(recorded: Path, tmp_path: Path) -> None:
    """Events rewritten to redact a secret split across them still replay through the SDKs
    (in a copy: the recorded run is shared by the tests above)."""
    run = tmp_path / "run"
    shutil.copytree(recorded / "run", run, ignore=shutil.ignore_patterns("out", ".*"))
    keys = (recorded / "keys.json").read_text()
    result = run_pytest(
        run,
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "--llmeval-record=none",
        environment=inner_environment(FAKE_URL=closed_port_url(), PLANTED_KEYS=keys),
    )
    assert outcome_line(result.stdout) == OUTCOME, result.stdout[-3000:]


BAD_PATTERN_BUG = (
    "BUG: --llmeval-redact / llmeval_redact patterns are not compiled at configure: an "
    "invalid one is a raw re.error in the setup of every llm_eval test (plus a KeyError "
    "at teardown), where it should be one pytest.UsageError naming the option; "
    "settings.py should compile each pattern when it resolves the option"
)

TRIVIAL = """
import pytest


@pytest.mark.llm_eval(threshold=0.5)
def test_scored(llm_eval):
    llm_eval.score("fine", 1.0)
"""


def test_an_invalid_redaction_pattern_is_a_usage_error(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_trivial=TRIVIAL)
    # in a subprocess: a setup error of the plugin breaks later in-process runs
    # (test_faults.py::test_a_setup_error_of_the_plugin_is_one_error)
    result = pytester_env.runpytest_subprocess(
        "-p", "no:cacheprovider", "--llmeval-redact=key-([a-z]+", timeout=60
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llmeval-redact*"])


# -- the choke point: every writer, every field ----------------------------------------------


def secret_formats() -> list[tuple[str, list[str]]]:
    """One fresh secret of each kind the redaction knows: (the text planted, the random
    parts that must not reach disk)."""
    parts = [token() for _ in range(9)]
    return [
        (f"sk-proj-{parts[0]}", [parts[0]]),
        (f"sk-ant-api03-{parts[1]}", [parts[1]]),
        (f"Bearer {parts[2]}", [parts[2]]),
        (f"Bearer\t{parts[3]}", [parts[3]]),
        (f"ACME-{parts[4]}", [parts[4]]),  # the custom pattern
        (f"http://user:{parts[5]}@h.test/v1", [parts[5]]),
        (f"https://h.test/v1?accessToken={parts[6]}", [parts[6]]),
        (f"https://h.test/v1?clientSecret={parts[7]}&sessionToken={parts[8]}", parts[7:9]),
    ]


def every_field_result() -> EvalResult:
    """A result with every field set: scores with reasons, metadata, calls with errors."""
    inference = Inference(
        nodeid="t.py::test_x[case]", role="app", provider="openai", api="chat",
        model="gpt-4o-mini", params={"temperature": 0, "user": "someone"},
        input_text="the prompt", output_text="the answer", error="HTTP 401: bad key",
        tool_calls=[ToolCall(id="call_1", name="lookup", arguments={"query": "a query"},
                             arguments_raw='{"query": "a query"}')],
        tool_results=[ToolResult(call_id="call_1", name="lookup", content="a tool result")],
        tool_schemas={"lookup": {"description": "a tool", "enum": ["an enum value"]}},
    )  # fmt: skip
    return EvalResult(
        nodeid="t.py::test_x[case]", case_id="t.py::test_x[case]", group="t.py::test_x",
        threshold=0.5, aggregate="mean", score=0.2, status="below", message="why it failed",
        scores=[Score(name="safety", value=0.2, reason="a reason")],
        metadata={"note": "a note", "nested": {"deep": ["a list item"]}}, inferences=[inference],
    )  # fmt: skip


def string_places(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every string in JSON data: its path, and for a dict key the path ending in ("key",)."""
    if isinstance(data, str):
        return [path]
    places: list[tuple[Any, ...]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            places += [(*path, (key,)), *string_places(value, (*path, key))]
    elif isinstance(data, list):
        for index, item in enumerate(data):
            places += string_places(item, (*path, index))
    return places


def planted_at(data: Any, place: tuple[Any, ...], secret: str) -> Any:
    """A copy of `data` with `secret` inside the string (or key) at `place`."""
    data = copy.deepcopy(data)
    *parents, last = place
    holder = data
    for step in parents:
        holder = holder[step]
    if isinstance(last, tuple):
        holder[f"{last[0]} {secret} end"] = holder.pop(last[0])
    else:
        holder[last] = f"{holder[last]} {secret} end"
    return data


def test_every_writer_redacts_every_field(tmp_path: Path) -> None:
    """STYLE lesson 18: plant a secret in every string field (and key) of a result, write
    every file the plugin writes from it, and grep every byte."""
    data = every_field_result().model_dump(mode="json")
    planted: dict[str, list[str]] = {}
    places = string_places(data)
    # values first, then keys from the deepest up: a renamed key leaves the paths to plant
    values = [place for place in places if not isinstance(place[-1], tuple)]
    keys = sorted((place for place in places if isinstance(place[-1], tuple)), key=len)[::-1]
    for number, place in enumerate(values + keys):
        secret, parts = secret_formats()[number % 8]
        candidate = planted_at(data, place, secret)
        try:  # a Literal field (status, role) takes no planted text: it cannot hold one
            EvalResult.model_validate(candidate)
        except ValueError:
            continue
        data, planted[repr(place)] = candidate, parts
    result = EvalResult.model_validate(data)
    assert len(planted) >= 15 and result.message and result.scores[0].reason
    redactor = Redactor([CUSTOM_PATTERN])
    report = build_report([result], settings={"redact": [CUSTOM_PATTERN]})
    write_report(tmp_path / "report.json", report, redactor=redactor)
    write_html(tmp_path / "report.html", report, redactor=redactor)
    write_trace(tmp_path / "trace.jsonl", [result], redactor=redactor)
    write_baseline(
        tmp_path / "baseline.json",
        baseline_from_aggregate(aggregate_session([result])),
        redactor=redactor,
    )
    # a cassette and the cache, holding the same texts in requests, responses and events
    formats = secret_formats()
    texts = [secret for secret, _ in formats]
    planted.update({f"cassette and cache [{i}]": parts for i, (_, parts) in enumerate(formats)})
    interaction = Interaction(
        request=RecordedRequest(method="POST", url="https://h.test/v1", body={"t": texts}),
        response=RecordedResponse(status=200, body_text=json.dumps(texts), events=[
            SSEEvent(offset_s=0.1, raw=f"data: {json.dumps({'t': text})}\n\n") for text in texts
        ]),
    )  # fmt: skip
    write_text_atomic(
        tmp_path / "cassette.json",
        dump_cassette(Cassette(interactions=[interaction])),
        redactor=redactor,
    )
    cache = ResponseCache(tmp_path / "cache", redactor=redactor)
    cache.put("POST /v1", interaction)
    cache.close()
    assert len(written_files(tmp_path)) >= 6
    found = {field: [leaks(tmp_path, part) for part in parts] for field, parts in planted.items()}
    assert found == {field: [[] for _ in parts] for field, parts in planted.items()}
    # what is left is the redacted data: the files still read back as their models
    message = load_report(tmp_path / "report.json").results[0].message
    assert message is not None and message.startswith("why it failed ") and REDACTED in message
    assert json.loads((tmp_path / "cassette.json").read_text())["interactions"]


PROVIDER_ERROR = """
import os

import openai
import pytest


@pytest.mark.llm_eval(threshold=0.5)
def test_eval(llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


# a key in a group label and a score name: the JUnit properties carry both
@pytest.mark.llm_eval(threshold=0.5, group="team " + os.environ["PLANTED"])
def test_named(llm_eval):
    llm_eval.score("check " + os.environ["PLANTED"], 1.0)
"""


def test_a_provider_error_echoing_a_key_fails_the_test_without_it(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 3 on its own: the 401 body echoes the key, the test fails with the SDK's
    error; the failure is shown and written (report, HTML, JUnit) with the key redacted.
    A key in a group label or score name leaves no trace in the JUnit properties either."""
    key, named = f"sk-proj-{token()}", f"sk-{token()}"
    fake_provider.enqueue_fault(401, message=f"Incorrect API key provided: {key}.")
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    monkeypatch.setenv("PLANTED", named)
    pytester_env.makepyfile(test_error=PROVIDER_ERROR)
    result = pytester_env.runpytest(
        "-p", "no:cacheprovider", "--llmeval-report=out/r.json", "--llmeval-html=out/r.html",
        "--junitxml=out/j.xml", "--llmeval-trace=out/t.jsonl", "--llmeval-summary-md=out/s.md",
    )  # fmt: skip
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*AuthenticationError: Error code: 401*<redacted>*"])
    assert key not in result.stdout.str() and key[-16:] not in result.stdout.str()
    written = written_files(pytester_env.path / "out")
    assert written == {"r.json", "r.html", "j.xml", "t.jsonl", "s.md"}
    assert "`team <redacted>`" in (pytester_env.path / "out" / "s.md").read_text()
    assert leaks(pytester_env.path / "out", key) == []
    assert leaks(pytester_env.path / "out", named) == []
    junit = (pytester_env.path / "out" / "j.xml").read_text()
    assert 'name="llm_eval.score.check &lt;redacted&gt;"' in junit
    assert 'name="llm_eval.group.team &lt;redacted&gt;.n"' in junit
    report = json.loads((pytester_env.path / "out" / "r.json").read_text())
    assert REDACTED in report["results"][0]["message"]
    assert "AuthenticationError" in (pytester_env.path / "out" / "j.xml").read_text()
