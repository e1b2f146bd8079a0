"""Writes that fail: an unwritable cassette folder, a full disk, a report path in the way.

The suite runs as root, which ignores file permissions, so the failures here are ones
root gets too: a regular file where a folder should be (ENOTDIR), a report path that is
a folder (EISDIR), and a file size limit (`RLIMIT_FSIZE`, EFBIG) standing in for a full
disk in a subprocess. Each failed write must be one line naming the path given; the
other outputs are still written; the calls already paid for are kept where the message
says, and the next run adopts them instead of paying again.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# imported here, not first inside an in-process run: pytester drops what a run imports,
# and a later run must not mix the classes of two imports of the cassette models
import pytest_llmeval.capture.cassettes.session  # noqa: F401
from pytest_llmeval.capture.cassettes.store import load_cassette
from tests.fakeprovider import FakeProviderServer, closed_port_url

PAID = """
import os

import openai
import pytest


@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("n", range(3))
def test_paid(n, llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"question {n}"}]
    )
    llm_eval.score("answered", bool(reply.choices[0].message.content))
"""

NO_CALLS = """
import pytest


@pytest.mark.llm_eval(threshold=0.5)
def test_scored(llm_eval):
    llm_eval.score("fine", 1.0)
"""


def error_lines(text: str) -> list[str]:
    """The lines reporting a failed write (not the short summary repeating them)."""
    return [
        line
        for line in text.splitlines()
        if line.startswith(("cannot write ", "pytest-llm-eval: cannot write "))
    ]


def test_an_unwritable_cassette_folder_keeps_the_paid_calls_and_the_next_run_adopts_them(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_paid=PAID)
    blocked = pytester_env.path / "blocked"
    blocked.write_text("a file where the cassette folder should be", encoding="utf-8")
    options = ("--llmeval-cassette-dir=blocked/cassettes", "-p", "no:cacheprovider")
    result = pytester_env.runpytest(
        *options,
        "--llmeval-trace=blocked/trace.jsonl",
        "--llmeval-report=out/report.json",
        "--llmeval-html=out/report.html",
    )
    output = result.stdout.str()
    assert result.ret != pytest.ExitCode.OK
    result.assert_outcomes(passed=3, errors=3)
    assert "Traceback" not in output and ".tmp" not in output
    # one line per failed write, naming the path given and where the paid calls went
    lines = error_lines(output)
    assert len(lines) == 4, output
    pending = pytester_env.path / ".llmeval_cache" / "pending"
    for n in range(3):
        cassette = blocked / "cassettes" / "test_paid" / f"test_paid.{n}--"
        [line] = [line for line in lines if f"{cassette}" in line]
        assert f"{blocked} is a file, not a folder [ENOTDIR]" in line
        assert f"test_paid.py::test_paid[{n}] (1 live call) was kept in {pending}/" in line
        assert "--llmeval-record=once or new adopts it" in line
    assert lines.count("pytest-llm-eval: cannot write blocked/trace.jsonl: "
                       f"{blocked} is a file, not a folder [ENOTDIR]") == 1  # fmt: skip
    # the outputs a healthy disk takes are still written
    assert (pytester_env.path / "out" / "report.json").is_file()
    assert (pytester_env.path / "out" / "report.html").is_file()
    assert len(list(pending.glob("*.json"))) == 3
    sent = len(fake_provider.requests)
    assert sent == 3

    # the folder is fixed; the next run adopts the pending calls and replays them offline
    blocked.unlink()
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    again = pytester_env.runpytest(*options, "--llmeval-record=once")
    again.assert_outcomes(passed=3)
    assert len(fake_provider.requests) == sent
    assert list(pending.glob("*.json")) == []
    cassettes = sorted((blocked / "cassettes" / "test_paid").glob("*.json"))
    assert [len(load_cassette(path).interactions) for path in cassettes] == [1, 1, 1]


def test_a_report_path_in_the_way_is_named_not_its_temp_file(
    pytester_env: pytest.Pytester,
) -> None:
    pytester_env.makepyfile(test_scored=NO_CALLS)
    (pytester_env.path / "out").mkdir()
    (pytester_env.path / "base").mkdir()
    result = pytester_env.runpytest(
        "-p", "no:cacheprovider", "--llmeval-report=out", "--llmeval-html=report.html",
        "--llmeval-trace=trace.jsonl", "--llmeval-baseline=base", "--llmeval-update-baseline",
    )  # fmt: skip
    output = result.stdout.str()
    assert result.ret != pytest.ExitCode.OK
    result.assert_outcomes(passed=1)
    assert error_lines(output) == [
        "pytest-llm-eval: cannot write base: Is a directory [EISDIR]",
        "pytest-llm-eval: cannot write out: Is a directory [EISDIR]",
    ]
    assert ".tmp" not in output and "Traceback" not in output
    assert (pytester_env.path / "report.html").is_file()
    assert (pytester_env.path / "trace.jsonl").is_file()
    assert os.listdir(pytester_env.path / "out") == os.listdir(pytester_env.path / "base") == []


LIMIT_FILE_SIZE = """
import resource, sys
import pytest
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
sys.exit(pytest.main(sys.argv[2:]))
"""


def test_a_full_disk_is_one_line_per_file_and_leaves_no_partial_file(
    pytester_env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    pytester_env.makepyfile(test_paid=PAID)
    (pytester_env.path / "tmp").mkdir()  # the temp folder the pending file falls back to
    environment = {
        **os.environ,
        "FAKE_URL": fake_provider.url,
        "PYTHONDONTWRITEBYTECODE": "1",
        "TMPDIR": str(pytester_env.path / "tmp"),
    }
    # 1 kB per file: every cassette, report and trace is bigger (EFBIG, "File too large")
    command = [
        sys.executable, "-c", LIMIT_FILE_SIZE, "1024", "-p", "no:cacheprovider",
        "-p", "no:xdist", "--llmeval-trace=out/trace.jsonl",
        "--llmeval-report=out/report.json", "--llmeval-html=out/report.html",
    ]  # fmt: skip
    run = subprocess.run(
        command, cwd=pytester_env.path, env=environment, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "Traceback" not in output and ".tmp" not in output, output
    assert "3 passed, 3 errors" in output, output
    lines = error_lines(output)
    cassettes = pytester_env.path / "cassettes" / "test_paid"
    for n in range(3):
        [line] = [line for line in lines if f"{cassettes}/test_paid.{n}--" in line]
        assert "File too large [EFBIG]" in line
        # nowhere on this disk takes the recording either: it says so, and what to do
        assert f"test_paid.py::test_paid[{n}] (1 live call) could not be kept" in line
    for name in ("trace.jsonl", "report.json", "report.html"):
        assert f"pytest-llm-eval: cannot write out/{name}: File too large [EFBIG]" in lines
    assert len(lines) == 6, output
    # no partial file: nothing half written is left anywhere
    leftovers = [p for p in pytester_env.path.rglob("*") if p.is_file() and p.suffix != ".py"]
    assert leftovers == []
    assert os.listdir(pytester_env.path / "tmp" / f"llmeval-pending-{os.getuid()}") == []


def test_llmeval_cassettes_adopt_writes_the_pending_calls_after_a_dry_run(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_paid=PAID)
    blocked = pytester_env.path / "blocked"
    blocked.write_text("a file where the cassette folder should be", encoding="utf-8")
    options = ("--llmeval-cassette-dir=blocked/cassettes", "-p", "no:cacheprovider")
    pytester_env.runpytest(*options).assert_outcomes(passed=3, errors=3)
    blocked.unlink()

    def adopt(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest_llmeval.cli", "cassettes", "adopt", *args]
        return subprocess.run(
            command, cwd=pytester_env.path, capture_output=True, text=True, timeout=120
        )

    dry = adopt()
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("would adopt ") == 3
    assert "3 pending recording(s); rerun with --apply to adopt them" in dry.stdout
    assert not blocked.exists()
    applied = adopt("--apply")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count("(1 interaction(s) added)") == 3
    assert list((pytester_env.path / ".llmeval_cache" / "pending").glob("*.json")) == []
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    pytester_env.runpytest(*options, "--llmeval-record=none").assert_outcomes(passed=3)
