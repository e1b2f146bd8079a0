"""--llmeval-concurrency: async llm_eval tests overlap on one event loop, reports unchanged.

Suites run as a user runs them (pytester, the real openai SDK against the loopback fake
provider), serially and concurrently, and must report the same. Concurrency is shown
without timing assertions: the fake provider answers each request `latency` seconds
after it arrives, and a test sends its next request only after its previous answer, so
a serial run never has two arrivals within one latency of each other; the most arrivals
within one latency is how many requests were in flight at once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.items.options import OPTIONS_BY_DEST
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, closed_port_url

OPTION = OPTIONS_BY_DEST.get("concurrency")
FLAG = OPTION.flag if OPTION is not None else "--llmeval-concurrency"

pytestmark = pytest.mark.skipif(
    OPTION is None,
    reason="--llmeval-concurrency is not declared in settings.py / wired in plugin.py yet "
    "(see pytest_llmeval/items/concurrency/)",
)

LATENCY = 0.3

CLIENT = """
import os
import ssl

import openai
import pytest

_SSL = ssl.create_default_context()  # one for all clients: each costs ~50 ms to build


async def ask(question):
    client = openai.AsyncOpenAI(
        base_url=os.environ["FAKE_URL"] + "/v1",
        api_key="sk-test-key",
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(verify=_SSL),
    )
    async with client:
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
    return reply.choices[0].message.content
"""

SUITE = (
    CLIENT
    + """

@pytest.mark.anyio
@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("case", range(12))
async def test_case(case, llm_eval):
    answer = await ask(f"question {case}")
    llm_eval.score("answered", f"question {case}" in answer)
    llm_eval.score("short", len(answer) < 26)  # cases 10 and 11 score 0.5
"""
)


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    fake_provider.latency = LATENCY
    return pytester_env


def most_in_flight(requests: list[RecordedRequest], latency: float = LATENCY) -> int:
    """The most requests the provider was answering at one time."""
    times = sorted(request.received_at for request in requests)
    return max(sum(1 for t in times if start <= t < start + latency) for start in times)


def summary_lines(result: pytest.RunResult) -> list[str]:
    """The `-rA` short test summary: one line per test and outcome, in report order."""
    words = ("PASSED ", "FAILED ", "ERROR ", "SKIPPED ", "XFAIL ", "XPASS ", "BELOW ")
    return [line for line in result.outlines if line.startswith(words)]


def llm_eval_section(result: pytest.RunResult) -> list[str]:
    """The llm_eval terminal section, from its header to the llm_eval totals line."""
    lines = result.outlines
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"=+ llm_eval =+", line)]
    assert len(starts) == 1, "the llm_eval section appears exactly once"
    end = next(i for i in range(starts[0], len(lines)) if lines[i].startswith("llm_eval: "))
    return lines[starts[0] : end + 1]


def results_by_test(path: Path) -> dict[str, tuple[Any, ...]]:
    """nodeid -> (status, score, scores) from a --llmeval-report JSON file."""
    report = json.loads(path.read_text())
    return {
        result["nodeid"]: (
            result["status"],
            result["score"],
            sorted((score["name"], score["value"]) for score in result["scores"]),
        )
        for result in report["results"]
    }


def cassette_requests(root: Path) -> dict[str, list[tuple[str, str]]]:
    """cassette file name -> (role, prompt text) of each recorded interaction."""
    found = {}
    for path in sorted((root / "cassettes").rglob("*.json")):
        interactions = json.loads(path.read_text())["interactions"]
        found[path.name] = [
            (
                interaction["meta"]["role"],
                json.dumps(interaction["request"]["body"]["messages"]),
            )
            for interaction in interactions
        ]
    return found


def test_a_concurrent_run_reports_what_a_serial_run_reports(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_cases=SUITE)
    concurrent = suite.runpytest(f"{FLAG}=4", "-rA", "--llmeval-report=concurrent.json")
    concurrent.assert_outcomes(passed=12)
    assert most_in_flight(fake_provider.requests) == 4
    fake_provider.clear()
    serial = suite.runpytest("-rA", "--llmeval-record=all", "--llmeval-report=serial.json")
    serial.assert_outcomes(passed=12)
    assert most_in_flight(fake_provider.requests) == 1
    assert summary_lines(concurrent) == summary_lines(serial)
    by_test = results_by_test(suite.path / "concurrent.json")
    assert by_test == results_by_test(suite.path / "serial.json")
    assert by_test["test_cases.py::test_case[asyncio-11]"][1] == 0.5

    # replayed (recorded latencies, no network) the two sections are the same, line for line
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    serial_replay = suite.runpytest("--llmeval-record=none")
    concurrent_replay = suite.runpytest(f"{FLAG}=4", "--llmeval-record=none")
    serial_replay.assert_outcomes(passed=12)
    concurrent_replay.assert_outcomes(passed=12)
    section = llm_eval_section(concurrent_replay)
    assert section == llm_eval_section(serial_replay)
    assert section[-1].startswith("llm_eval: 12 cases, 12 passed")


def test_each_cassette_holds_only_its_own_tests_requests(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(
        test_pairs=CLIENT
        + """

@pytest.mark.anyio
@pytest.mark.llm_eval
@pytest.mark.parametrize("case", range(8))
async def test_pair(case, llm_eval):
    first = await ask(f"case {case} first")
    second = await ask(f"case {case} second")
    assert first.endswith(f"case {case} first") and second.endswith(f"case {case} second")
"""
    )
    suite.runpytest(f"{FLAG}=4").assert_outcomes(passed=8)
    assert most_in_flight(fake_provider.requests) == 4
    recorded = cassette_requests(suite.path)
    assert len(recorded) == 8
    for name, interactions in recorded.items():
        case = re.search(r"asyncio-(\d+)\b", name)
        assert case is not None, name
        own = [f"case {case.group(1)} first", f"case {case.group(1)} second"]
        assert [role for role, _ in interactions] == ["app", "app"], name
        assert [text for text in own if any(text in body for _, body in interactions)] == own

    sent = len(fake_provider.requests)
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    suite.runpytest(f"{FLAG}=4", "--llmeval-record=none").assert_outcomes(passed=8)
    assert len(fake_provider.requests) == sent
    assert cassette_requests(suite.path) == recorded


FAILING = (
    CLIENT
    + """

pytestmark = [pytest.mark.anyio, pytest.mark.llm_eval(threshold=0.5)]


@pytest.fixture
def broken_setup():
    raise RuntimeError("fixture broke")


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")


async def test_passes():
    assert (await ask("passes")).endswith("passes")


async def test_assertion_fails():
    answer = await ask("assertion")
    assert answer == "something else"


async def test_raises():
    await ask("raises")
    raise ValueError("boom in test_raises")


async def test_below_threshold(llm_eval):
    await ask("below")
    llm_eval.score("quality", 0.2)


async def test_skips_in_its_body():
    await ask("skips")
    pytest.skip("not today")


@pytest.mark.xfail(reason="known bug", strict=True)
async def test_xfails():
    await ask("xfails")
    assert False


async def test_setup_error(broken_setup):
    await ask("never sent")


async def test_teardown_error(broken_teardown):
    await ask("teardown")


async def test_prints_and_fails():
    print("printed by test_prints_and_fails")
    await ask("prints")
    assert False, "failing on purpose"


async def test_prints_and_passes():
    print("printed by test_prints_and_passes")
    await ask("prints too")
"""
)


def test_failures_and_errors_are_reported_on_their_own_test(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    fake_provider.latency = 0.1
    suite.makepyfile(test_failing=FAILING)
    serial = suite.runpytest("-rA", "--llmeval-record=all")
    concurrent = suite.runpytest(f"{FLAG}=4", "-rA", "--llmeval-record=all")
    expected = dict(passed=3, failed=4, errors=2, skipped=1, xfailed=1)
    serial.assert_outcomes(**expected)  # type: ignore[arg-type]
    concurrent.assert_outcomes(**expected)  # type: ignore[arg-type]
    assert summary_lines(concurrent) == summary_lines(serial)
    concurrent.stdout.fnmatch_lines_random(
        [
            "FAILED test_failing.py::test_raises?asyncio? - ValueError: boom in test_raises",
            "ERROR test_failing.py::test_setup_error?asyncio? - RuntimeError: fixture broke",
            "ERROR test_failing.py::test_teardown_error?asyncio? - RuntimeError: teardown*",
            "SKIPPED * test_failing.py:*: not today",
            "XFAIL test_failing.py::test_xfails?asyncio? - known bug",
            "FAILED test_failing.py::test_below_threshold?asyncio? - Failed: llm_eval*",
        ]
    )
    # the traceback points into the test's own body
    concurrent.stdout.fnmatch_lines(
        ["*_ test_assertion_fails?asyncio? _*", '>*assert answer == "something else"', "E *"]
    )
    # what a body printed is in its own test's report, and only there
    text = concurrent.stdout.str()
    block = text.split("test_prints_and_fails[asyncio] _")[1].split("\n____")[0]
    assert "Captured stdout call" in block and "printed by test_prints_and_fails" in block
    assert "printed by test_prints_and_passes" not in block
    assert concurrent.outlines.count("printed by test_prints_and_fails") == 1
    assert "printed by test_prints_and_passes" in text.split("PASSES")[1]


CONFTEST = """
import os

import pytest

LOG = os.path.join(os.path.dirname(__file__), "fixtures.log")


def note(text):
    with open(LOG, "a") as log:
        log.write(text + "\\n")


@pytest.fixture
def plain(request):
    note(f"plain {request.node.name}")
    return request.node.name


@pytest.fixture
def with_teardown(request):
    note(f"setup {request.node.name}")
    yield
    note(f"teardown {request.node.name}")


@pytest.fixture(scope="module")
def shared(request):
    note(f"module setup {request.module.__name__}")
    yield
    note(f"module teardown {request.module.__name__}")
"""

FIXTURE_TESTS = """
import pytest
from conftest import note
from helpers import ask


@pytest.mark.anyio
@pytest.mark.llm_eval
@pytest.mark.parametrize("case", range({count}))
async def test_{name}(case, {fixture}, shared):
    note(f"body start test_{name}[asyncio-{{case}}]")
    await ask(f"{name} {{case}}")
    note(f"body end test_{name}[asyncio-{{case}}]")
"""


def test_fixtures_are_set_up_and_torn_down_once_per_test(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    suite.makeconftest(CONFTEST)
    suite.makepyfile(helpers=CLIENT)
    suite.makepyfile(
        test_a_plain=FIXTURE_TESTS.format(name="plain", fixture="plain", count=6),
        test_b_teardown=FIXTURE_TESTS.format(name="teardown", fixture="with_teardown", count=3),
    )
    result = suite.runpytest(f"{FLAG}=4", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=9)
    log = (suite.path / "fixtures.log").read_text().splitlines()
    plain = [f"test_plain[asyncio-{case}]" for case in range(6)]
    with_teardown = [f"test_teardown[asyncio-{case}]" for case in range(3)]
    for name in plain:
        assert log.count(f"plain {name}") == 1
    for name in with_teardown:
        assert log.count(f"setup {name}") == log.count(f"teardown {name}") == 1
        # a yield fixture's teardown runs after the body it served
        assert log.index(f"teardown {name}") > log.index(f"body end {name}")
    for module, names in (("test_a_plain", plain), ("test_b_teardown", with_teardown)):
        assert log.count(f"module setup {module}") == log.count(f"module teardown {module}") == 1
        # a module's fixtures outlive every body of the module
        last_body = max(log.index(f"body end {name}") for name in names)
        assert log.index(f"module teardown {module}") > last_body
    # the plain-fixture tests overlapped; in a test whose fixture has teardown the body
    # runs with its fixtures live, after those before it finished
    plain_requests = [r for r in fake_provider.requests if "plain" in r.text]
    assert most_in_flight(plain_requests) == 4
    teardown_requests = [r for r in fake_provider.requests if "teardown" in r.text]
    assert most_in_flight(teardown_requests) == 1


BOUNDARY_CONFTEST = """
import pytest


@pytest.fixture(scope="module")
def plain_module(request):
    return request.module.__name__


@pytest.fixture(scope="module")
def closing_module(request):
    yield request.module.__name__
"""

BOUNDARY_TESTS = """
import pytest
from helpers import ask


@pytest.mark.anyio
@pytest.mark.llm_eval
@pytest.mark.parametrize("case", range(4))
async def test_{name}(case, {fixture}):
    await ask(f"{name} {{case}}")
"""


def overlap(first: list[RecordedRequest], second: list[RecordedRequest]) -> bool:
    """Whether a request of `second` arrived while one of `first` was being answered."""
    last = max(request.received_at for request in first)
    return min(request.received_at for request in second) < last + LATENCY


@pytest.mark.parametrize(
    ("fixture", "crosses"),
    [("plain_module", True), ("closing_module", False)],
    ids=["plain-module-fixture", "module-fixture-with-teardown"],
)
def test_bodies_run_on_across_a_module_boundary_unless_it_tears_something_down(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, fixture: str, crosses: bool
) -> None:
    """The last test of a module whose wider fixtures are plain detaches: the next
    module's tests start while its body runs. A module fixture with teardown code keeps
    it attached, so that teardown runs after every body of its module."""
    suite.makeconftest(BOUNDARY_CONFTEST)
    suite.makepyfile(helpers=CLIENT)
    suite.makepyfile(
        test_a=BOUNDARY_TESTS.format(name="first", fixture=fixture),
        test_b=BOUNDARY_TESTS.format(name="second", fixture=fixture),
    )
    # eight slots for eight tests: only the module boundary can keep them apart
    result = suite.runpytest(f"{FLAG}=8", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
    first = [r for r in fake_provider.requests if "first" in r.text]
    second = [r for r in fake_provider.requests if "second" in r.text]
    assert len(first) == len(second) == 4
    assert overlap(first, second) is crosses


PARAMETRIZED = """
import pytest
from conftest import note
from helpers import ask


@pytest.fixture(scope="module", params=["red", "blue"])
def colour(request):
    note(f"colour setup {request.param}")
    yield request.param
    note(f"colour teardown {request.param}")


@pytest.mark.anyio
@pytest.mark.llm_eval
class TestPaint:
    @pytest.mark.parametrize("case", range(3))
    async def test_paint(self, colour, case):
        note(f"body start {colour} {case}")
        await ask(f"{colour} {case}")
        note(f"body end {colour} {case}")
"""


def test_a_wider_fixture_is_not_recreated_under_running_bodies(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    suite.makeconftest(CONFTEST)
    suite.makepyfile(helpers=CLIENT, test_paint=PARAMETRIZED)
    result = suite.runpytest(f"{FLAG}=4")
    result.assert_outcomes(passed=6)
    log = (suite.path / "fixtures.log").read_text().splitlines()
    assert [line for line in log if line.startswith("colour")] == [
        "colour setup red",
        "colour teardown red",
        "colour setup blue",
        "colour teardown blue",
    ]
    for colour in ("red", "blue"):
        last_body = max(log.index(f"body end {colour} {case}") for case in range(3))
        assert log.index(f"colour teardown {colour}") > last_body
    # the three tests of one colour overlapped; the two colours did not
    assert most_in_flight(fake_provider.requests) == 3


MIXED = (
    CLIENT
    + """

def test_sync_first():
    pass


@pytest.mark.anyio
@pytest.mark.llm_eval
@pytest.mark.parametrize("case", range(3))
async def test_async_a(case, llm_eval):
    await ask(f"a {case}")


@pytest.mark.llm_eval
def test_sync_eval(llm_eval):
    llm_eval.score("ok", 1.0)


@pytest.mark.anyio
@pytest.mark.llm_eval
@pytest.mark.parametrize("case", range(3))
async def test_async_b(case, llm_eval):
    await ask(f"b {case}")


@pytest.mark.anyio
async def test_async_without_eval():
    await ask("not an eval")


@pytest.mark.anyio
@pytest.mark.llm_eval
@pytest.mark.parametrize("case", range(2))
async def test_async_c(case):
    await ask(f"c {case}")


def test_sync_last():
    pass
"""
)


def test_sync_and_async_tests_are_reported_in_collection_order(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    suite.makepyfile(test_mixed=MIXED)
    collected = [
        line for line in suite.runpytest("--co", "-q").outlines if line.startswith("test_")
    ]
    result = suite.runpytest(f"{FLAG}=3", "-v")
    result.assert_outcomes(passed=12)
    reported = [line.split(" ")[0] for line in result.outlines if " PASSED " in line]
    assert reported == collected
    llm_eval_section(result)  # exactly once
    assert most_in_flight(fake_provider.requests) == 3


JUDGED = (
    CLIENT
    + """

@pytest.mark.anyio
@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("case", range(6))
async def test_judged(case, llm_eval):
    answer = await ask(f"judged {case}")
    verdict = await llm_eval.ajudge(answer, "Answers the question")
    assert verdict.passed and verdict.reason == "scripted"
"""
)


def judge_or_default(request: RecordedRequest) -> ReplySpec | None:
    if isinstance(request.body, dict) and "response_format" in request.body:
        return ReplySpec(json={"reasoning": "scripted", "score": 1})
    return None


def test_judge_calls_from_overlapping_bodies_are_recorded_with_their_test(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_provider.set_handler(judge_or_default)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    suite.makepyfile(test_judged=JUDGED)
    judge_url = f"--llmeval-judge-base-url={fake_provider.openai_base_url}"
    suite.runpytest(f"{FLAG}=3", judge_url).assert_outcomes(passed=6)
    assert most_in_flight(fake_provider.requests) == 3
    recorded = cassette_requests(suite.path)
    assert len(recorded) == 6
    for name, interactions in recorded.items():
        case = re.search(r"asyncio-(\d+)\b", name)
        assert case is not None
        assert [role for role, _ in interactions] == ["app", "judge"], name
        assert all(f"judged {case.group(1)}" in body for _, body in interactions), name

    monkeypatch.setenv("FAKE_URL", closed_port_url())
    offline = f"--llmeval-judge-base-url={closed_port_url()}/v1"
    replayed = suite.runpytest(f"{FLAG}=3", offline, "--llmeval-record=none")
    replayed.assert_outcomes(passed=6)


def test_under_xdist_each_worker_runs_its_tests_concurrently(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    suite.makepyfile(test_cases=SUITE)
    result = suite.runpytest_subprocess("-n", "2", f"{FLAG}=3", "-rA")
    result.assert_outcomes(passed=12)
    llm_eval_section(result)  # once, from the controller
    result.stdout.fnmatch_lines(["llm_eval: 12 cases, 12 passed*"])
    # two workers running one test at a time never have more than two requests out
    assert 3 <= most_in_flight(fake_provider.requests) <= 6


@pytest.mark.parametrize(
    ("args", "env", "source"),
    [
        ([f"{FLAG}=0"], None, FLAG),
        ([], "many", "environment variable LLMEVAL_CONCURRENCY"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_its_source(
    pytester_env: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: str | None,
    source: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("LLMEVAL_CONCURRENCY", env)
    pytester_env.makepyfile("def test_nothing(): pass")
    result = pytester_env.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*pytest-llm-eval: bad value for {source}*"])


def test_it_steps_aside_where_tests_must_run_one_at_a_time(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    suite.makepyfile(test_cases=SUITE)
    first_two = [f"test_cases.py::test_case[asyncio-{case}]" for case in (0, 1)]
    result = suite.runpytest(f"{FLAG}=4", "--setup-show", *first_two)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*--llmeval-concurrency=4 is ignored: --setup-show shows fixtures test by test*"]
    )
    assert most_in_flight(fake_provider.requests) == 1


def test_the_runner_loads_only_when_asked_for(pytester_env: pytest.Pytester) -> None:
    pytester_env.makeconftest(
        """
import sys

def pytest_sessionfinish(session):
    loaded = sorted(name for name in sys.modules if name == "pytest_llmeval.items.concurrency")
    print("LOADED", loaded)
"""
    )
    pytester_env.makepyfile("def test_nothing(): pass")
    assert "LOADED []" in pytester_env.runpytest_subprocess("-s").stdout.str()
    asked = pytester_env.runpytest_subprocess("-s", f"{FLAG}=2").stdout.str()
    assert "LOADED ['pytest_llmeval.items.concurrency']" in asked


# -- never fall back silently ---------------------------------------------------------

GUARD_PLUGIN = """
import pytest


@pytest.fixture(autouse=True)
def network_guard():
    # like pytest-recording's block_network: a yield fixture with nothing per test
    yield
"""


def test_a_teardown_fixture_that_serialises_tests_is_named_once(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    suite.makepyfile(guardplugin=GUARD_PLUGIN, test_cases=SUITE)
    suite.syspathinsert()
    result = suite.runpytest("-p", "guardplugin", f"{FLAG}=4", "-q")
    result.assert_outcomes(passed=12)
    assert most_in_flight(fake_provider.requests) == 1
    result.stdout.fnmatch_lines(
        [
            f"llm_eval: {FLAG}=4: 12 of 12 eval tests ran one at a time:",
            "  12 test(s): fixture 'network_guard' (plugin 'guardplugin') has teardown code*",
            "*llmeval_concurrency_safe_fixtures = NAME*",
        ]
    )
    assert result.stdout.str().count("ran one at a time") == 1

    # declared safe, the same tests overlap and nothing is said
    fake_provider.clear()
    suite.makeini("[pytest]\nllmeval_concurrency_safe_fixtures = network_guard\n")
    declared = suite.runpytest("-p", "guardplugin", f"{FLAG}=4", "--llmeval-record=all")
    declared.assert_outcomes(passed=12)
    assert most_in_flight(fake_provider.requests) == 4
    assert "ran one at a time" not in declared.stdout.str()


def test_serial_tests_are_counted_on_the_xdist_controller(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    suite.makeconftest(GUARD_PLUGIN)
    suite.makepyfile(test_cases=SUITE)
    result = suite.runpytest_subprocess("-n", "2", f"{FLAG}=4", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(
        [
            f"llm_eval: {FLAG}=4: 12 of 12 eval tests ran one at a time:",
            "  12 test(s): fixture 'network_guard' (conftest conftest.py) has teardown code*",
        ]
    )


def test_sync_eval_tests_are_counted_with_their_reason(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    suite.makepyfile(
        test_mixed=SUITE
        + """

@pytest.mark.llm_eval
def test_sync(llm_eval):
    llm_eval.score("ok", 1.0)
"""
    )
    result = suite.runpytest(f"{FLAG}=4")
    result.assert_outcomes(passed=13)
    result.stdout.fnmatch_lines(
        [
            f"llm_eval: {FLAG}=4: 1 of 13 eval tests ran one at a time:",
            "  1 test(s): not an async def test marked @pytest.mark.anyio",
        ]
    )
