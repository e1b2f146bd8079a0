"""Stress: many xdist workers recording at once, and recording sessions killed mid-write.

* Under `-n 4`, 40 tests record cassettes and share the `--llmeval-cache` response cache:
  every cassette is written, whole and loadable, and the cache holds each distinct
  request once, agreeing with the cassettes.
* A recording session SIGKILLed at a random moment (10 times here, 100 times in the
  `slow` version) never leaves a partly written target file: the cassettes and the
  baseline it was not asked to rewrite are byte-identical, those it was rewriting are
  the old bytes or a whole new file, every cassette loads, the cache opens. Temp files
  of writes cut short do stay behind (`.<name>.<pid>-<thread>.tmp`); the count is
  printed, and `test_a_stale_temp_file_is_cleaned_up` asks for them to go.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_llmeval.capture.cassettes.cache import ResponseCache, request_key
from pytest_llmeval.capture.cassettes.match import LiveRequest, Matcher
from pytest_llmeval.capture.cassettes.models import Interaction
from pytest_llmeval.capture.cassettes.store import DEFAULT_MAX_BYTES, cassette_path, load_cassette
from pytest_llmeval.core.redact import Redactor
from pytest_llmeval.records.baseline import load_baseline
from tests.fakeprovider import FakeProviderServer, closed_port_url

PARALLEL = """
import os

import openai
import pytest

URL = os.environ["FAKE_URL"]


@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("n", range(40))
def test_case(n, llm_eval):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0)
    own = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"case {n}"}]
    ).choices[0].message.content
    chunks = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "asked by all"}], stream=True
    )
    everyone = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    group = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"asked by group {n % 10}"}]
    ).choices[0].message.content
    llm_eval.score("answered", bool(own and everyone and group))
"""


def prompts(interaction_body: object) -> str:
    """The user text of a recorded openai or anthropic request body."""
    message = interaction_body["messages"][-1]  # type: ignore[index]
    return str(message["content"])


def test_parallel_recording_with_the_cache_loses_nothing(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    test_file = pytester_env.makepyfile(test_parallel=PARALLEL)
    result = pytester_env.runpytest_subprocess(
        "-n", "4", "-p", "no:cacheprovider", "--llmeval-cache", timeout=60
    )
    result.assert_outcomes(passed=40)

    assert list(pytester_env.path.rglob("*.tmp")) == []
    matcher = Matcher(Redactor())
    cache = ResponseCache(pytester_env.path / ".llmeval_cache")
    try:
        distinct = set()
        for n in range(40):
            path = cassette_path(test_file, f"test_parallel.py::test_case[{n}]")
            interactions = load_cassette(path).interactions
            assert [prompts(i.request.body) for i in interactions] == [
                f"case {n}",
                "asked by all",
                f"asked by group {n % 10}",
            ]
            for interaction in interactions:
                request = interaction.request
                canonical = matcher.recorded(request)
                distinct.add(canonical.key)
                live = LiveRequest(canonical, request.url, request.body_format, request.body)
                cached = cache.get(request_key(live, request.headers.items()))
                assert cached is not None
                assert cached.response.body_text == interaction.response.body_text
                assert [e.raw for e in cached.response.events or []] == [
                    e.raw for e in interaction.response.events or []
                ]
        assert len(distinct) == 40 + 1 + 10
        assert len(cache) == len(distinct)
    finally:
        cache.close()
    # The cache saved calls: each shared request went out at most once per worker.
    assert len(distinct) <= len(fake_provider.requests) <= 40 + 4 * (1 + 10)


# -- SIGKILL mid-write ----------------------------------------------------------------------

KILLED = """
import os

import openai
import pytest

URL = os.environ["FAKE_URL"]
ROUND = os.environ.get("ROUND", "0")


def ask(text):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    )
    return reply.choices[0].message.content


@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("n", range(6))
def test_existing(n, llm_eval):
    llm_eval.score("answered", bool(ask(f"existing {n}")))


@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("n", range(int(os.environ.get("NEW_TESTS", "0"))))
def test_new(n, llm_eval):
    llm_eval.score("answered", bool(ask(f"new {ROUND} {n}")))
"""

#: A big reply makes each write take a few milliseconds, long enough to be killed inside.
BIG_REPLY = " ".join(f"word{i}" for i in range(20_000))


class KillLoop:
    """Record a suite once, then run recording sessions over it and SIGKILL them.

    Half the runs are killed at a random moment; the other half at the first temp file
    of an atomic write seen after a random moment, so that many kills land inside a
    write rather than between writes.
    """

    def __init__(self, pytester: pytest.Pytester, server: FakeProviderServer) -> None:
        self.root = pytester.path
        self.test_file = pytester.makepyfile(test_killed=KILLED)
        self.baseline = self.root / "llmeval-baseline.json"
        self.watched = [self.root, self.root / "out", self.root / "cassettes" / "test_killed"]
        self.environment = {**os.environ, "FAKE_URL": server.url}
        self.killed = 0
        self.killed_while_writing = 0
        self.leftover_temp_files = 0
        server.reply_with(BIG_REPLY)

    def run(self, *args: str, **environment: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider"]
        return subprocess.Popen(
            [*command, "--llmeval-cache", "--llmeval-trace=out/trace.jsonl",
             "--llmeval-report=out/report.json", *args],
            cwd=self.root, env={**self.environment, **environment},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def temp_files(self) -> set[str]:
        found = set()
        for folder in self.watched:
            try:
                found |= {entry.name for entry in os.scandir(folder) if entry.name.endswith(".tmp")}
            except FileNotFoundError:
                pass
        return found

    def existing(self) -> dict[Path, bytes]:
        paths = [
            cassette_path(self.test_file, f"test_killed.py::test_existing[{n}]") for n in range(6)
        ]
        return {path: path.read_bytes() for path in [*paths, self.baseline]}

    def cassettes(self) -> list[Path]:
        return sorted((self.root / "cassettes").rglob("*.json"))

    def record_first(self) -> float:
        """Record the existing tests and the baseline; return how long a full run takes."""
        started = time.monotonic()
        process = self.run("--llmeval-update-baseline", ROUND="first", NEW_TESTS="8")
        assert process.wait(timeout=60) == 0
        duration = time.monotonic() - started
        for path in self.cassettes():
            if "test_new" in path.name:
                path.unlink()
        return duration

    def kill_at(self, process: subprocess.Popen[bytes], after: float, aim: float) -> None:
        """SIGKILL after `after` s; with `aim` > 0, at the first temp file seen after that
        moment (or `aim` s later if no write shows up by then)."""
        started = time.monotonic()
        while process.poll() is None:
            elapsed = time.monotonic() - started
            if elapsed >= after and (not aim or elapsed >= after + aim or self.temp_files()):
                os.killpg(process.pid, signal.SIGKILL)
                self.killed += 1
                self.killed_while_writing += bool(aim) and elapsed < after + aim
                break
            time.sleep(0.0005 if aim and elapsed >= after else 0.01)
        process.wait(timeout=30)

    def kill_once(self, round_number: int, after: float, aim: float, rewrite: bool) -> None:
        """Start a recording session, SIGKILL it, then check every file it could touch."""
        before = self.existing()
        args = ("--llmeval-record=all", "--llmeval-update-baseline") if rewrite else ()
        self.kill_at(self.run(*args, ROUND=str(round_number), NEW_TESTS="8"), after, aim)
        for path, old in before.items():
            if not rewrite:  # a session replaying them and comparing with the baseline
                assert path.read_bytes() == old, path
        for path in self.cassettes():
            load_cassette(path)  # never a partly written cassette: old bytes or a whole file
            if "test_new" in path.name:
                path.unlink()
        load_baseline(self.baseline)
        cache = ResponseCache(self.root / ".llmeval_cache")
        try:  # every entry of the response cache still reads back as an interaction
            for key in list(cache._cache):
                Interaction.model_validate_json(cache._cache[key])
        finally:
            cache.close()
        for temporary in self.root.rglob("*.tmp"):
            self.leftover_temp_files += 1
            temporary.unlink()


def kill_loop(
    pytester: pytest.Pytester, server: FakeProviderServer, rounds: int, seed: int
) -> KillLoop:
    loop = KillLoop(pytester, server)
    duration = loop.record_first()
    chance = random.Random(seed)
    for round_number in range(rounds):
        # past the imports (about a quarter of a run) and before its end; every other pair
        # of rounds is aimed: killed at the first temp file of a write seen after that
        after = chance.uniform(duration * 0.25, duration * 0.6)
        aim = duration * 0.15 if round_number % 4 >= 2 else 0.0
        loop.kill_once(round_number, after, aim, rewrite=round_number % 2 == 1)
    print(
        f"{loop.killed} of {rounds} runs killed ({loop.killed_while_writing} aimed at a write); "
        f"{loop.leftover_temp_files} temp file(s) of cut writes left behind"
    )
    return loop


def test_sigkill_mid_write_leaves_no_partial_file(
    pytester_env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    loop = kill_loop(pytester_env, fake_provider, rounds=10, seed=10)
    # runs were cut short, not left to finish (how many depends on the machine's load)
    assert loop.killed >= 2


@pytest.mark.slow
def test_sigkill_mid_write_leaves_no_partial_file_100_times(
    request: pytest.FixtureRequest, pytester_env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    if not request.config.getoption("run_slow", default=False):
        pytest.skip("slow stress test: run with --run-slow (see tests/test_stress.py)")
    loop = kill_loop(pytester_env, fake_provider, rounds=100, seed=100)
    assert loop.killed >= 60
    assert loop.leftover_temp_files >= 1  # some kills did land inside a write


def test_a_stale_temp_file_is_cleaned_up(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    test_file = pytester_env.makepyfile(test_killed=KILLED)
    cassette = cassette_path(test_file, "test_killed.py::test_existing[0]")
    cassette.parent.mkdir(parents=True)
    # what a write killed in process 4194303 (above any pid Linux hands out) leaves
    stale = cassette.with_name(f".{cassette.name}.4194303-140000000000000.tmp")
    stale.write_text('{\n  "schema_version": 1,\n  "interactions": [', encoding="utf-8")
    pytester_env.runpytest("-k", "test_existing and 0").assert_outcomes(passed=1)
    load_cassette(cassette)
    assert not stale.exists()


# -- limits ---------------------------------------------------------------------------------

ONE_TEST = """
import os

import openai
import pytest


@pytest.mark.llm_eval(threshold=0.5)
def test_big(llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
"""


@pytest.mark.parametrize("mode", ["once", "none"])
def test_a_cassette_over_the_size_limit_is_refused_and_left_alone(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    test_file = pytester_env.makepyfile(test_limit=ONE_TEST)
    path = cassette_path(test_file, "test_limit.py::test_big")
    path.parent.mkdir(parents=True)
    with open(path, "wb") as handle:  # sparse: 20 MiB + 1 byte, written in no time
        handle.truncate(DEFAULT_MAX_BYTES + 1)
    # in a subprocess: see test_faults.py::test_a_setup_error_of_the_plugin_is_one_error
    result = pytester_env.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--llmeval-record={mode}", timeout=60
    )
    # an error, not a pass or a failure (the second, spurious error at teardown is
    # test_faults.py::test_a_setup_error_of_the_plugin_is_one_error)
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors") in (1, 2) and not {"passed", "failed"} & set(outcomes)
    result.stdout.fnmatch_lines(
        [f"*{path}: cassette is 20,971,521 bytes, over the 20,971,520-byte limit.*"]
    )
    assert path.stat().st_size == DEFAULT_MAX_BYTES + 1
    assert fake_provider.requests == []


LIVE_OVER_LIMIT_BUG = (
    "BUG: the size limit is only checked on load: a live response bigger than the "
    "session's max_bytes is recorded and written, and the next run refuses the cassette "
    "it just wrote. CassetteSession.stop (or store.write_cassette given max_bytes) should "
    "refuse to write a cassette over the limit with a FileFormatError naming the file, "
    "its size and the limit (and a Recording could stop buffering past it)"
)


def test_a_live_response_over_the_size_limit_is_refused(
    tmp_path: Path, fake_provider: FakeProviderServer
) -> None:
    import openai

    from pytest_llmeval.capture.cassettes.session import CassetteSession
    from pytest_llmeval.core.errors import LLMEvalError

    limit = 64_000
    fake_provider.reply_with(" ".join(f"word{i}" for i in range(20_000)))  # ~130 KB
    path = tmp_path / "big.json"
    session = CassetteSession(path=path, mode="once", nodeid="t.py::test_big", max_bytes=limit)
    session.start()
    try:
        client = openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="k", max_retries=0)
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    finally:
        with pytest.raises(LLMEvalError, match="limit"):
            session.stop()
    assert not path.exists()


# -- two recorders, one cassette ------------------------------------------------------------

SHARED = """
import os
import time
from pathlib import Path

import openai
import pytest

URL = os.environ["FAKE_URL"]


def wait_for_the_other_run():
    # both runs have loaded the cassette (at setup) before either records a call
    barrier = Path(os.environ["BARRIER"])
    (barrier / Path(__file__).parent.name).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 2:
        if time.monotonic() > deadline:
            pytest.fail("the other run never reached the barrier")
        time.sleep(0.01)


@pytest.mark.llm_eval(threshold=0.5)
def test_shared(llm_eval):
    if os.environ.get("BARRIER"):
        wait_for_the_other_run()
    client = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0)
    runs = os.environ.get("RUNS", Path(__file__).parent.name).split(",")
    asked = [f"{run} {i}" for run in runs for i in range(3)] + ["asked by every run"]
    answers = [
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        ).choices[0].message.content
        for text in asked
    ]
    llm_eval.score("answered", all(answers))
"""


def _shared_project(pytester: pytest.Pytester) -> Path:
    """Two test files with the same name in folders a/ and b/: with --llmeval-cassette-dir
    they record into the same cassette, cassettes/test_same/test_shared.json."""
    for run in ("a", "b"):
        (pytester.path / run).mkdir()
        (pytester.path / run / "test_same.py").write_text(SHARED, encoding="utf-8")
    (pytester.path / "barrier").mkdir()
    return pytester.path / "cassettes" / "test_same" / "test_shared.json"


_SHARED_OPTIONS = (
    "-p",
    "no:cacheprovider",
    "--import-mode=importlib",
    "--llmeval-cassette-dir=cassettes",
)


def _replay_every_call(pytester: pytest.Pytester, cassette: Path) -> None:
    """One test asking every call of both runs, replayed with the network closed."""
    interactions = load_cassette(cassette).interactions
    asked = sorted(prompts(i.request.body) for i in interactions)
    assert asked == sorted(
        [f"{run} {i}" for run in "ab" for i in range(3)] + ["asked by every run"]
    )
    result = pytester.runpytest_subprocess(
        *_SHARED_OPTIONS, "-p", "no:xdist", "--llmeval-record=none", "-W",
        "error::pytest_llmeval.core.errors.UnplayedInteractionsWarning", "a/test_same.py",
        timeout=60,
    )  # fmt: skip
    result.assert_outcomes(passed=1)


def test_two_pytest_processes_recording_new_into_one_cassette_lose_nothing(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cassette = _shared_project(pytester_env)
    environment = {**os.environ, "FAKE_URL": fake_provider.url}
    command = [sys.executable, "-m", "pytest", "-p", "no:xdist", *_SHARED_OPTIONS]
    runs = [
        subprocess.Popen(
            [*command, "--llmeval-record=new", f"{run}/test_same.py"],
            cwd=pytester_env.path,
            env={**environment, "BARRIER": str(pytester_env.path / "barrier")},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for run in ("a", "b")
    ]
    for process in runs:
        output = process.communicate(timeout=60)[0].decode()
        assert process.returncode == 0, output
    assert len(fake_provider.requests) == 8  # each run paid for its 4 calls
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    monkeypatch.setenv("RUNS", "a,b")
    _replay_every_call(pytester_env, cassette)


def test_two_xdist_workers_recording_into_one_cassette_lose_nothing(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cassette = _shared_project(pytester_env)
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    monkeypatch.setenv("BARRIER", str(pytester_env.path / "barrier"))
    result = pytester_env.runpytest_subprocess(
        *_SHARED_OPTIONS, "-n", "2", "--dist=loadfile", "--llmeval-record=once", timeout=60
    )
    result.assert_outcomes(passed=2)
    monkeypatch.delenv("BARRIER")
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    monkeypatch.setenv("RUNS", "a,b")
    _replay_every_call(pytester_env, cassette)
