"""Cassettes read ahead in replay-only sessions (`items/readahead.py`, `cassettes/shelf.py`):
a test replays exactly what it would have read itself, and meets the same errors, at
that test, whatever happened to its file after the module's first eval test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_llmeval.capture.cassettes.match import Matcher
from pytest_llmeval.capture.cassettes.shelf import Shelf
from pytest_llmeval.capture.cassettes.store import DEFAULT_MAX_BYTES
from pytest_llmeval.core.redact import Redactor
from tests.fakeprovider import FakeProviderServer, closed_port_url
from tests.suites import ASK

# test_edit rewrites the cassettes of later tests while the module runs: case 2's reply
# in place (same size, so only its mtime tells), case 3's deleted, case 4's re-created
SUITE = (
    ASK
    + """
from pathlib import Path

from pytest_llmeval.items.lifecycle import runtime_key

FOLDER = Path(__file__).parent / "cassettes" / "test_bot"
EDIT = os.environ.get("EDIT_LATER") == "1"

def cassette(case):
    return next(FOLDER.glob(f"test_case.{case}--*.json"))

@pytest.mark.llm_eval
@pytest.mark.parametrize("case", range(6))
def test_case(case, llm_eval, request):
    runtime = request.config.stash[runtime_key]
    request.config.read_ahead_seen = getattr(request.config, "read_ahead_seen", [])
    request.config.read_ahead_seen.append(runtime.read_ahead_path(request.node.nodeid) is not None)
    if EDIT and case == 0:
        second = cassette(2)
        second.write_text(second.read_text().replace("Fake reply", "Fake REPLY"))
        cassette(3).unlink()
        fourth = cassette(4)
        fourth.rename(FOLDER.parent / fourth.name)
    if EDIT and case == 1:
        moved = next(FOLDER.parent.glob("test_case.4--*.json"))
        moved.rename(FOLDER / moved.name)
    answer = ask(f"case {case}")
    llm_eval.score("answered", True)
    llm_eval.log(answer=answer)
    print(f"ANSWER {case}: {answer}")

def test_plain():
    pass
"""
)

CONFTEST = """
def pytest_terminal_summary(terminalreporter, config):
    seen = getattr(config, "read_ahead_seen", None)
    if seen is not None:
        terminalreporter.write_line("READ AHEAD " + "".join("y" if s else "n" for s in seen))
"""


@pytest.fixture
def recorded(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    """The suite with its six cassettes recorded; the provider unreachable after."""
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_bot=SUITE)
    pytester_env.makeconftest(CONFTEST)
    pytester_env.runpytest("-s").assert_outcomes(passed=7)
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    return pytester_env


def folder(root: Path) -> Path:
    return root / "cassettes" / "test_bot"


def cassette(root: Path, case: int) -> Path:
    return next(folder(root).glob(f"test_case.{case}--*.json"))


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder(root).iterdir())}


def test_replay_only_reads_ahead_and_replays_the_same(recorded: pytest.Pytester) -> None:
    before = snapshot(recorded.path)
    result = recorded.runpytest("-s", "--llmeval-record=none")
    result.assert_outcomes(passed=7)
    # every eval test of the module took a cassette read ahead at the first one
    result.stdout.fnmatch_lines(["READ AHEAD yyyyyy"])
    for case in range(6):
        result.stdout.fnmatch_lines([f"*ANSWER {case}: Fake reply*case {case}"])
    assert snapshot(recorded.path) == before

    # recording modes read each cassette at its own test, as do xdist workers
    once = recorded.runpytest("-s", "--llmeval-record=once")
    once.assert_outcomes(passed=7)
    once.stdout.fnmatch_lines(["READ AHEAD nnnnnn"])


def test_xdist_workers_do_not_read_ahead(recorded: pytest.Pytester) -> None:
    result = recorded.runpytest("-n", "2", "--llmeval-record=none")
    result.assert_outcomes(passed=7)
    assert "READ AHEAD y" not in result.stdout.str()


def test_a_file_changed_after_the_read_is_read_again(
    recorded: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDIT_LATER", "1")
    result = recorded.runpytest("-s", "-rf", "--llmeval-record=none")
    # case 2 replays its edited reply, case 3 lost its cassette, case 4 got it back
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(
        ["*ANSWER 2: Fake REPLY to: case 2", "*ANSWER 4: Fake reply to: case 4"]
    )
    result.stdout.fnmatch_lines(["FAILED test_bot.py::test_case[[]3[]]*No recorded response*"])


def error_lines(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("ERROR test_bot.py")]


def test_bad_files_fail_at_their_own_test_with_the_same_errors(
    recorded: pytest.Pytester,
) -> None:
    corrupt = cassette(recorded.path, 2)
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    newer = cassette(recorded.path, 3)
    data = json.loads(newer.read_text())
    data["schema_version"] = 99
    newer.write_text(json.dumps(data))
    invalid = cassette(recorded.path, 5)
    data = json.loads(invalid.read_text())
    data["interactions"][0]["request"]["method"] = 7
    invalid.write_text(json.dumps(data))
    before = snapshot(recorded.path)

    ahead = recorded.runpytest("-rE", "--llmeval-record=none")
    ahead.assert_outcomes(passed=4, errors=3)
    lines = error_lines(ahead)
    assert [re.sub(r" - .*", "", line) for line in lines] == [
        "ERROR test_bot.py::test_case[2]",
        "ERROR test_bot.py::test_case[3]",
        "ERROR test_bot.py::test_case[5]",
    ]
    ahead.stdout.fnmatch_lines(
        [
            f"*{corrupt}: not valid JSON*",
            f"*{newer}: this cassette has schema_version 99, newer than*",
            f"*{invalid}: invalid cassette at interactions[[]0[]].request.method*",
        ]
    )
    # the same errors as where each test reads its own file (mode new replays too)
    own = recorded.runpytest("-rE", "--llmeval-record=new")
    own.assert_outcomes(passed=4, errors=3)
    assert error_lines(own) == lines
    assert snapshot(recorded.path) == before  # nothing rewritten


def test_an_oversized_file_fails_at_its_own_test(recorded: pytest.Pytester) -> None:
    big = cassette(recorded.path, 1)
    with open(big, "r+b") as handle:  # sparse: 20 MiB + 1 byte, written in no time
        handle.truncate(DEFAULT_MAX_BYTES + 1)
    result = recorded.runpytest("-rE", "--llmeval-record=none")
    result.assert_outcomes(passed=6, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_case[[]1[]]*",
            f"{big}: cassette is 20,971,521 bytes, over the 20,971,520-byte limit.*",
        ]
    )
    assert big.stat().st_size == DEFAULT_MAX_BYTES + 1


# -- the shelf on its own ----------------------------------------------------------------


def test_shelf_keeps_only_valid_files_and_gives_each_once(recorded: pytest.Pytester) -> None:
    paths = [cassette(recorded.path, case) for case in range(6)]
    paths[1].write_text("{")
    missing = folder(recorded.path) / "test_case.9.json"
    shelf = Shelf(Matcher(Redactor(()), ()))
    assert shelf.fill([*paths, missing]) == 7
    first = shelf.take(paths[0])
    assert first is not None and len(first.index) == 1
    assert first.interactions[0].request.body["messages"][0]["content"] == "case 0"
    assert shelf.take(paths[0]) is None  # taken once
    assert shelf.take(paths[1]) is None  # invalid: its test reads it and fails
    assert shelf.take(missing) is None
    # a changed file is not given out
    paths[2].write_text(paths[2].read_text().replace("Fake reply", "Fake REPLY"))
    assert shelf.take(paths[2]) is None
    # a new fill drops what was not taken
    shelf.fill([paths[0]])
    assert shelf.take(paths[3]) is None
    assert shelf.take(paths[0]) is not None
