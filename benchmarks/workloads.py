"""The workloads: generated test suites (and cassettes) under benchmarks/.work/.

Each workload directory carries a `pytest.ini` (so it is its own rootdir and the
project's ini does not apply) and a stamp with the parameters it was built from; a
directory whose stamp matches is reused as it is, so cassettes are recorded once.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import LOG_DIR, WORK, BenchmarkError, clean_env, run_timed

#: Bump to rebuild every workload after changing what this module writes.
GENERATOR_VERSION = 3

STAMP = ".bench-stamp.json"
API_KEY = "test-key"
CASES_PER_FILE = 50

PYTEST_INI = "[pytest]\n# benchmark workload: its own rootdir, no project options\n"


@dataclass(frozen=True)
class Provider:
    """How a test of one provider builds its client, calls it and reads the answer."""

    name: str
    module: str
    client: str
    call: str
    text: str
    path: str
    headers: dict[str, str]
    body: Callable[[str], dict[str, object]]


OPENAI = Provider(
    name="openai",
    module="openai",
    client='openai.OpenAI(base_url=BASE_URL + "/v1", api_key=API_KEY, max_retries=0)',
    call=(
        'client.chat.completions.create(model="gpt-4.1-mini", max_tokens=32, '
        'messages=[{"role": "user", "content": prompt}])'
    ),
    text="reply.choices[0].message.content",
    path="/v1/chat/completions",
    headers={"authorization": f"Bearer {API_KEY}"},
    body=lambda prompt: {
        "model": "gpt-4.1-mini",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": prompt}],
    },
)
ANTHROPIC = Provider(
    name="anthropic",
    module="anthropic",
    client="anthropic.Anthropic(base_url=BASE_URL, api_key=API_KEY, max_retries=0)",
    call=(
        'client.messages.create(model="claude-haiku-4-5", max_tokens=32, '
        'messages=[{"role": "user", "content": prompt}])'
    ),
    text="reply.content[0].text",
    path="/v1/messages",
    headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
    body=lambda prompt: {
        "model": "claude-haiku-4-5",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": prompt}],
    },
)
PROVIDERS = {provider.name: provider for provider in (OPENAI, ANTHROPIC)}


# -- stamps --------------------------------------------------------------------------


def read_stamp(directory: Path, params: dict[str, object]) -> dict[str, object] | None:
    """The stamp of a workload built from exactly these parameters, else None."""
    try:
        stamp = json.loads((directory / STAMP).read_text())
    except (OSError, ValueError):
        return None
    expected = {**params, "generator": GENERATOR_VERSION}
    return stamp if stamp.get("params") == expected else None


def _start(directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / "pytest.ini").write_text(PYTEST_INI)


def _finish(directory: Path, params: dict[str, object], **extra: object) -> dict[str, object]:
    stamp = {"params": {**params, "generator": GENERATOR_VERSION}, **extra}
    (directory / STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True))
    return stamp


def _split(total: int) -> list[int]:
    """Cases per file: files of CASES_PER_FILE, the last one shorter."""
    sizes = [CASES_PER_FILE] * (total // CASES_PER_FILE)
    if total % CASES_PER_FILE:
        sizes.append(total % CASES_PER_FILE)
    return sizes


# -- 1. inert overhead ---------------------------------------------------------------


def build_inert(directory: Path, tests: int) -> None:
    """`tests` trivial tests (no marker, no fixture) in files of 50."""
    params = {"kind": "inert", "tests": tests}
    if read_stamp(directory, params):
        return
    _start(directory)
    for index, size in enumerate(_split(tests)):
        body = "".join(
            f"def test_trivial_{case}():\n    assert {case} + 1 == {case + 1}\n\n\n"
            for case in range(size)
        )
        (directory / f"test_inert_{index:03d}.py").write_text(body)
    _finish(directory, params)


# -- 2. replay -----------------------------------------------------------------------

REPLAY_TOOLS = ("ours", "vcr", "floor")
CLIENT_MODES = ("shared", "pertest")

_MARKS = {
    "ours": "pytestmark = pytest.mark.llm_eval\n",
    "vcr": "pytestmark = pytest.mark.vcr\n",
    "floor": "",
}

_FLOOR_CONFTEST = '''\
"""The floor: the SDK's default transport answers from memory (no disk, no matching)."""

from pathlib import Path

import httpx2

_BODY = (Path(__file__).parent / "canned.json").read_bytes()
_HEADERS = [("content-type", "application/json")]


def _canned(self, request):
    request.read()
    return httpx2.Response(200, headers=_HEADERS, content=_BODY)


httpx2.HTTPTransport.handle_request = _canned
'''


def _clients_module(provider: Provider, shared: bool) -> str:
    lines = [
        '"""The SDK client(s) of the workload: module-level, or one per test."""',
        "",
        "import os",
        "",
        f"import {provider.module}",
        "",
        'BASE_URL = os.environ["BENCH_BASE_URL"]',
        f"API_KEY = {API_KEY!r}",
        "",
        "",
        "def make_client():",
        f"    return {provider.client}",
        "",
    ]
    if shared:
        lines += ["", "SHARED = make_client()", ""]
    return "\n".join(lines)


def _replay_test(provider: Provider, tool: str, shared: bool, file_index: int, size: int) -> str:
    name = "SHARED" if shared else "make_client"
    head = f"import pytest\n\nfrom bench_clients import {name}\n\n{_MARKS[tool]}\n\n"
    if shared:
        body = (
            "    client = SHARED\n"
            f"    reply = {provider.call}\n"
            f'    assert "Fake reply" in {provider.text}\n'
        )
    else:
        body = (
            "    with make_client() as client:\n"
            f"        reply = {provider.call}\n"
            f'    assert "Fake reply" in {provider.text}\n'
        )
    return (
        head
        + f'@pytest.mark.parametrize("case", range({size}))\n'
        + "def test_call(case):\n"
        + f'    prompt = f"replay file {file_index} case {{case}}"\n'
        + body
    )


def replay_dir(root: Path, tool: str, provider: str, client: str) -> Path:
    """Where one replay workload lives."""
    return root / "replay" / f"{tool}-{provider}-{client}"


def replay_params(tool: str, provider: str, client: str, tests: int) -> dict[str, object]:
    """What a replay workload is built from."""
    return {"kind": "replay", "tool": tool, "provider": provider, "client": client, "tests": tests}


def build_replay(
    directory: Path,
    *,
    tool: str,
    provider: str,
    client: str,
    tests: int,
    url: str,
    python: Path,
) -> dict[str, object]:
    """Write the workload and record its cassettes once against the fake provider at url."""
    params = replay_params(tool, provider, client, tests)
    spec = PROVIDERS[provider]
    shared = client == "shared"
    _start(directory)
    (directory / "bench_clients.py").write_text(_clients_module(spec, shared))
    for index, size in enumerate(_split(tests)):
        source = _replay_test(spec, tool, shared, index, size)
        (directory / f"test_replay_{index:03d}.py").write_text(source)
    if tool == "floor":
        (directory / "canned.json").write_bytes(_live_body(spec, url, "replay file 0 case 0"))
        (directory / "conftest.py").write_text(_FLOOR_CONFTEST)
    else:
        record = {"ours": ["--llmeval-record=once"], "vcr": ["--record-mode=once"]}[tool]
        _record(directory, python, record, url, tests, f"record-{directory.name}")
    return _finish(directory, params, url=url)


def record_dir(root: Path, tool: str, provider: str) -> Path:
    """Where one recording workload lives."""
    return root / "record" / f"{tool}-{provider}"


def build_record(directory: Path, *, tool: str, provider: str, tests: int) -> None:
    """The replay workload's tests with a shared client, run live: `ours` and `vcr`
    record every call (their cassettes deleted before each run), `floor` (no marker)
    makes the same calls without recording."""
    params = {"kind": "record", "tool": tool, "provider": provider, "tests": tests}
    if read_stamp(directory, params):
        return
    _start(directory)
    spec = PROVIDERS[provider]
    (directory / "bench_clients.py").write_text(_clients_module(spec, True))
    for index, size in enumerate(_split(tests)):
        source = _replay_test(spec, tool, True, index, size)
        (directory / f"test_record_{index:03d}.py").write_text(source)
    _finish(directory, params)


def _live_body(provider: Provider, url: str, prompt: str) -> bytes:
    data = json.dumps(provider.body(prompt)).encode()
    headers = {"content-type": "application/json", **provider.headers}
    request = urllib.request.Request(url + provider.path, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
    return body


def _record(
    directory: Path, python: Path, options: list[str], url: str, tests: int, label: str
) -> None:
    log = LOG_DIR / "build" / f"{label}.log"
    print(f"  recording {tests} cassettes in {directory.relative_to(WORK)} ...", flush=True)
    result = run_timed(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options],
        cwd=directory,
        env=clean_env(BENCH_BASE_URL=url),
        log=log,
        timeout=3600,
    )
    if result.returncode != 0 or f"{tests} passed" not in log.read_text(errors="replace"):
        raise BenchmarkError(f"recording {directory} failed; log {log}:\n{result.tail()}")


# -- 3. live concurrency -------------------------------------------------------------


_ASYNC_CLIENTS = """\
\"\"\"An async client per call, on one shared SSL context (each costs ~20 ms to build).\"\"\"

import os
import ssl

import openai

BASE_URL = os.environ["BENCH_BASE_URL"]
_SSL = ssl.create_default_context()


async def ask(prompt):
    client = openai.AsyncOpenAI(
        base_url=BASE_URL + "/v1", api_key="test-key", max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(verify=_SSL),
    )
    async with client:
        reply = await client.chat.completions.create(
            model="gpt-4.1-mini", max_tokens=32, messages=[{"role": "user", "content": prompt}]
        )
    return reply.choices[0].message.content
"""

LIVE_STYLES = ("ours", "plain", "async")


def build_live(directory: Path, cases: int, *, style: str = "ours") -> None:
    """`cases` tests, each one live OpenAI chat completion (URL from the environment):
    `ours` llm_eval tests on a shared sync client, `plain` the same without the marker
    (the plugin stays out of it), `async` async llm_eval tests (anyio, asyncio backend)."""
    params = {"kind": "live", "cases": cases, "style": style}
    if read_stamp(directory, params):
        return
    _start(directory)
    if style == "async":
        (directory / "bench_clients.py").write_text(_ASYNC_CLIENTS)
    else:
        (directory / "bench_clients.py").write_text(_clients_module(OPENAI, shared=True))
    for index, size in enumerate(_split(cases)):
        prompt = f'    prompt = f"live file {index} case {{case}}"\n'
        parametrize = f'@pytest.mark.parametrize("case", range({size}))\n'
        if style == "async":
            source = (
                "import pytest\n\nfrom bench_clients import ask\n\n\n"
                "@pytest.mark.anyio\n@pytest.mark.llm_eval(threshold=1.0)\n"
                + parametrize
                + "async def test_live(case, llm_eval):\n"
                + prompt
                + "    answer = await ask(prompt)\n"
                + '    llm_eval.score("answered", "Fake reply" in answer)\n'
            )
        else:
            if style == "plain":
                head, signature = "", "def test_live(case):\n"
                check = f'    assert "Fake reply" in {OPENAI.text}\n'
            else:
                head = "@pytest.mark.llm_eval(threshold=1.0)\n"
                signature = "def test_live(case, llm_eval):\n"
                check = f'    llm_eval.score("answered", "Fake reply" in {OPENAI.text})\n'
            source = (
                "import pytest\n\nfrom bench_clients import SHARED\n\n\n"
                + head
                + parametrize
                + signature
                + prompt
                + "    client = SHARED\n"
                + f"    reply = {OPENAI.call}\n"
                + check
            )
        (directory / f"test_live_{index:03d}.py").write_text(source)
    _finish(directory, params)


def _live_prompt(case: int) -> str:
    return f"live file {case // CASES_PER_FILE} case {case % CASES_PER_FILE}"


def write_promptfoo_config(directory: Path, cases: int, url: str) -> Path:
    """A promptfoo eval of the same `cases` prompts against the fake provider at url."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "# generated by benchmarks/run.py",
        "description: pytest-llm-eval live concurrency benchmark",
        "prompts:",
        "  - '{{question}}'",
        "providers:",
        "  - id: openai:chat:gpt-4.1-mini",
        "    config:",
        f"      apiBaseUrl: {url}/v1",
        f"      apiKey: {API_KEY}",
        "      max_tokens: 32",
        "tests:",
    ]
    for case in range(cases):
        lines += [
            f"  - vars: {{question: '{_live_prompt(case)}'}}",
            "    assert:",
            "      - type: contains",
            "        value: Fake reply",
        ]
    path = directory / "promptfooconfig.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- 4. scale ------------------------------------------------------------------------

SCALE_CASES_PER_FILE = 500


def scale_params(cases: int, floor: bool = False) -> dict[str, object]:
    """What the scale workload (or its floor) is built from."""
    return {"kind": "scale", "cases": cases, **({"floor": True} if floor else {})}


def build_scale(
    directory: Path, *, cases: int, url: str, python: Path, floor: bool = False
) -> dict[str, object]:
    """`cases` llm_eval cases (500 per test function), each replaying one tiny call;
    `floor`: the same calls without the marker, answered by the canned transport."""
    params = scale_params(cases, floor)
    _start(directory)
    (directory / "bench_clients.py").write_text(_clients_module(OPENAI, shared=True))
    files = max(1, cases // SCALE_CASES_PER_FILE)
    size = SCALE_CASES_PER_FILE if cases >= SCALE_CASES_PER_FILE else cases
    for index in range(files):
        if floor:
            head, signature = "", f"def test_scale_{index:02d}(case):\n"
            check = f'    assert "Fake reply" in {OPENAI.text}\n'
        else:
            head = "@pytest.mark.llm_eval(threshold=0.5)\n"
            signature = f"def test_scale_{index:02d}(case, llm_eval):\n"
            check = f'    llm_eval.score("answered", "Fake reply" in {OPENAI.text})\n'
        source = (
            "import pytest\n\nfrom bench_clients import SHARED\n\n\n"
            + head
            + f'@pytest.mark.parametrize("case", range({size}))\n'
            + signature
            + "    client = SHARED\n"
            + "    reply = client.chat.completions.create(\n"
            + '        model="gpt-4.1-mini", max_tokens=4,\n'
            + f'        messages=[{{"role": "user", "content": f"s{index} {{case}}"}}],\n'
            + "    )\n"
            + check
        )
        (directory / f"test_scale_{index:02d}.py").write_text(source)
    total = files * size
    if floor:
        (directory / "canned.json").write_bytes(_live_body(OPENAI, url, "s0 0"))
        (directory / "conftest.py").write_text(_FLOOR_CONFTEST)
    else:
        record = ["--llmeval-record=once", "-n", "2"]
        _record(directory, python, record, url, total, "record-scale")
    return _finish(directory, params, url=url, cases=total)
