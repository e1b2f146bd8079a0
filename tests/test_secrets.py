"""Secrets never reach disk: a full recorded run with planted keys, then a byte scan.

One inner run records openai and anthropic calls, streamed and not, with every output
on (`--llmeval-trace`, `--llmeval-report`, `--junitxml`, `--llmeval-cache`, pytest's
cache) and fake keys planted where real ones travel: the `Authorization`, `x-api-key`,
`api-key`, `cookie` and a custom `x-acme-token` header, query strings, and request bodies
(which the fake provider echoes back in its replies, so responses carry them too).
The keys are fresh random strings, passed to the inner run in an environment variable,
so the test file itself holds none. Then every file under the run directory is read as
bytes (cassettes, reports, trace, JUnit XML, the diskcache SQLite database and files)
and searched for each key, and for its random tail (a key stored in pieces leaks too).
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest

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
    }


INNER = """
import json
import os

import anthropic
import openai
import pytest

URL = os.environ["FAKE_URL"]
KEYS = json.loads(os.environ["PLANTED_KEYS"])


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


def record(root: Path, server: FakeProviderServer) -> None:
    keys = planted_keys()
    (root / "keys.json").write_text(json.dumps(keys), encoding="utf-8")
    run = root / "run"
    run.mkdir()
    (run / "test_secrets_inner.py").write_text(INNER, encoding="utf-8")
    (run / "pytest.ini").write_text(INI, encoding="utf-8")
    server.reset()
    result = run_pytest(
        run,
        "-p",
        "no:xdist",
        "--llmeval-record=once",
        "--llmeval-cache",
        "--llmeval-trace=out/trace.jsonl",
        "--llmeval-report=out/report.json",
        "--junitxml=out/junit.xml",
        environment=inner_environment(FAKE_URL=server.url, PLANTED_KEYS=json.dumps(keys)),
        log=root / "run.log",
    )
    (root / "ret").write_text(str(result.returncode))
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


def leaks(run: Path, secret: str) -> list[str]:
    """Files under `run` holding `secret`, or its random tail (a key stored in pieces)."""
    needles = {secret.encode(), secret[-16:].encode()}
    return sorted(
        str(path.relative_to(run))
        for path in run.rglob("*")
        if path.is_file() and any(needle in path.read_bytes() for needle in needles)
    )


def written_files(run: Path) -> set[str]:
    return {str(path.relative_to(run)) for path in run.rglob("*") if path.is_file()}


def test_the_run_wrote_every_kind_of_file(recorded: Path) -> None:
    assert (recorded / "ret").read_text() == "0", (recorded / "run.log").read_text()
    sent = json.loads((recorded / "sent.json").read_text())
    assert sent == {name: True for name in sent}  # every planted key went over the wire
    files = written_files(recorded / "run")
    assert {"out/trace.jsonl", "out/report.json", "out/junit.xml"} <= files
    assert len([f for f in files if f.startswith("cassettes/") and f.endswith(".json")]) == 6
    assert any(f.startswith(".llmeval_cache/responses/cache.db") for f in files)
    assert any(f.startswith(".pytest_cache/") for f in files)


def test_no_planted_key_reaches_disk(recorded: Path) -> None:
    keys = json.loads((recorded / "keys.json").read_text())
    found = {
        name: leaks(recorded / "run", secret)
        for name, secret in keys.items()
    }
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
    assert result.returncode == 0, result.stdout[-3000:]
    assert "6 passed" in result.stdout


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
