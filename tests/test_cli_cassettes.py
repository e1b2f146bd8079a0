"""`llmeval cassettes stats|prune|import-vcr` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProviderServer, closed_port_url

SUITE = """
import os
import openai
import pytest

def ask(question):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])

@pytest.mark.llm_eval
@pytest.mark.parametrize("q", ["a", "b"])
def test_kept(q, llm_eval):
    ask(q)

@pytest.mark.llm_eval
def test_renamed(llm_eval):
    ask("c")
"""


def llmeval(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_stats_and_prune(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_app=SUITE)
    pytester_env.runpytest().assert_outcomes(passed=3)

    stats = llmeval(pytester_env.path, "cassettes", "stats")
    assert stats.returncode == 0, stats.stderr
    assert stats.stdout.splitlines()[0].startswith("3 cassettes, 3 interactions (0 streamed)")
    assert "3  openai-compatible:gpt-4o-mini" in stats.stdout

    # test_renamed becomes test_new: its old cassette is an orphan
    pytester_env.makepyfile(test_app=SUITE.replace("def test_renamed", "def test_new"))
    orphan = pytester_env.path / "cassettes" / "test_app" / "test_renamed.json"
    assert orphan.exists()
    dry = llmeval(pytester_env.path, "cassettes", "prune")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove {orphan}" in dry.stdout
    assert "1 cassette(s) of tests that no longer exist; rerun with --apply" in dry.stdout
    assert orphan.exists()  # a dry run by default

    applied = llmeval(pytester_env.path, "cassettes", "prune", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert not orphan.exists()
    kept = sorted(p.name for p in (pytester_env.path / "cassettes" / "test_app").iterdir())
    assert len(kept) == 2 and all(name.startswith("test_kept") for name in kept)


MODULE = """
import os
import openai
import pytest

def ask(question):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])

@pytest.mark.llm_eval
def test_one(llm_eval):
    ask("one")

@pytest.mark.llm_eval
@pytest.mark.parametrize("q", ["x", "y"])
def test_two(q, llm_eval):
    ask(q)
"""


def test_prune_acts_only_inside_the_scope_it_was_given(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reliability: a prune of a module, a test or a -k selection never lists (or
    removes) the cassettes of sibling modules, sibling tests or deselected tests."""
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_a=MODULE, test_b=MODULE, test_c=MODULE)
    pytester_env.runpytest().assert_outcomes(passed=9)
    root = pytester_env.path / "cassettes"
    recorded = sorted(root.rglob("*.json"))
    assert len(recorded) == 9
    pytester_env.path.joinpath("test_c.py").unlink()  # a module deleted from the folder

    outputs: list[str] = []

    def listed(*args: str) -> list[str]:
        result = llmeval(pytester_env.path, "cassettes", "prune", "--apply", *args)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
        return [line for line in result.stdout.splitlines() if line.startswith("removed")]

    for scope in (
        ["test_a.py"],
        ["test_a.py::test_one"],
        ["--", "-k", "test_one"],
        ["--", "--ignore=test_b.py", "test_a.py"],
    ):
        assert listed(*scope) == [], scope
    assert sorted(root.rglob("*.json")) == recorded

    # test_one is renamed: only a scope holding test_a.py sees its old cassette
    pytester_env.makepyfile(test_a=MODULE.replace("def test_one", "def test_uno"))
    old = root / "test_a" / "test_one.json"
    assert listed("test_b.py") == [] and listed("test_a.py::test_two") == []
    assert old.exists()
    assert listed("test_a.py") == [f"removed {old}"]
    assert not old.exists()
    # the folder owns the cassettes of the module deleted from it
    gone = sorted(str(p) for p in (root / "test_c").glob("*.json"))
    assert len(gone) == 3
    assert listed(".") == [f"removed {path}" for path in gone]
    assert len(sorted(root.rglob("*.json"))) == 5
    assert not any("::test_" in output for output in outputs)  # no list of collected ids


def test_prune_with_a_shared_cassette_dir_stays_in_scope(pytester_env: pytest.Pytester) -> None:
    """With llmeval_cassette_dir every module's cassettes share one folder: a module's
    prune reaches only its own subfolder, and a deleted module's is never guessed at."""
    pytester_env.makeini("[pytest]\nllmeval_cassette_dir = tapes\n")
    test = "import pytest\n\n@pytest.mark.llm_eval\ndef test_one(llm_eval):\n    pass\n"
    pytester_env.makepyfile(test_a=test, test_b=test)
    tapes = pytester_env.path / "tapes"
    files = [tapes / name for name in ("test_a/test_one.json", "test_a/test_gone.json",
                                       "test_b/test_gone.json", "test_deleted/test_one.json")]  # fmt: skip
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"schema_version": 1, "interactions": []}\n')
    module = llmeval(pytester_env.path, "cassettes", "prune", "test_a.py")
    assert module.returncode == 0, module.stderr
    assert module.stdout.splitlines()[1:-1] == [f"would remove {files[1]}"]
    folder = llmeval(pytester_env.path, "cassettes", "prune")
    assert folder.stdout.splitlines()[1:-1] == [
        f"would remove {files[1]}",
        f"would remove {files[2]}",
    ]
    assert all(path.exists() for path in files)


UNPLAYED = """
import os
import openai
import pytest

def ask(question):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])

@pytest.mark.llm_eval
def test_edited(llm_eval):
    ask("first")
    ask("second")

@pytest.mark.llm_eval
def test_broken(llm_eval):
    ask("third")
    ask("fourth")
"""

EDITED = UNPLAYED.replace('    ask("second")\n', "").replace(
    '    ask("fourth")', "    assert False"
)


def test_prune_unplayed_drops_what_a_passing_replay_did_not_request(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_u=UNPLAYED, test_other=UNPLAYED)
    pytester_env.runpytest().assert_outcomes(passed=4)
    pytester_env.makepyfile(test_u=EDITED, test_other=EDITED)
    folder = pytester_env.path / "cassettes"
    before = {p: p.read_bytes() for p in folder.rglob("*.json")}
    edited = folder / "test_u" / "test_edited.json"
    monkeypatch.setenv("FAKE_URL", closed_port_url())  # offline: nothing is re-recorded

    # -n 2: the replay still runs in one process, where prune sees each test's session
    dry = llmeval(pytester_env.path, "cassettes", "prune", "--unplayed", "test_u.py", "-n", "2")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        f"kept {folder / 'test_u' / 'test_broken.json'}: test_u.py::test_broken did not pass "
        "its replay, so its unplayed interactions may still be needed; fix the test first",
        f"would drop 1 of 2 interaction(s) from {edited}: #2 POST /v1/chat/completions",
        "1 unplayed interaction(s) in 1 cassette(s); rerun with --apply to drop them",
    ]
    assert {p: p.read_bytes() for p in folder.rglob("*.json")} == before  # a dry run

    applied = llmeval(pytester_env.path, "cassettes", "prune", "--unplayed", "--apply", "test_u.py")
    assert applied.returncode == 0, applied.stderr
    assert f"dropped 1 of 2 interaction(s) from {edited}" in applied.stdout
    kept = json.loads(edited.read_text())["interactions"]
    assert [i["request"]["body"]["messages"][0]["content"] for i in kept] == ["first"]
    # only that file changed: the failing test's and the other module's are untouched
    after = {p: p.read_bytes() for p in folder.rglob("*.json")}
    assert [p for p in after if after[p] != before[p]] == [edited]
    replay = pytester_env.runpytest(
        "test_u.py::test_edited", "--llmeval-record=none", "-W", "error"
    )
    replay.assert_outcomes(passed=1)
    assert len(fake_provider.requests) == 8  # all from the first recording


def test_stats_names_a_corrupt_cassette(pytester_env: pytest.Pytester) -> None:
    broken = pytester_env.path / "cassettes" / "m" / "t.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"schema_version": 1, "interactions": [')
    result = llmeval(pytester_env.path, "cassettes", "stats")
    assert result.returncode == 2
    assert "cassettes/m/t.json: not valid JSON (line 1, column 40" in result.stderr


def vcr_interaction(uri: str, request: dict[str, object], reply: dict[str, object]) -> object:
    return {
        "request": {"method": "POST", "uri": uri, "body": json.dumps(request),
                    "headers": {"Content-Type": ["application/json"]}},
        "response": {"status": {"code": 200, "message": "OK"}, "body": {"string": json.dumps(reply)},
                     "headers": {"Content-Type": ["application/json"]}},
    }  # fmt: skip


def test_stats_names_the_provider_of_imported_cassettes_by_host(tmp_path: Path) -> None:
    import yaml

    usage = {"input_tokens": 3, "output_tokens": 2}
    interactions = [
        vcr_interaction(
            "https://api.openai.com/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            {"id": "c", "object": "chat.completion", "model": "gpt-4o-mini", "choices": []},
        ),
        vcr_interaction(
            "https://api.anthropic.com/v1/messages",
            {"model": "claude-sonnet-4-0", "max_tokens": 5, "messages": []},
            {"id": "m", "type": "message", "model": "claude-sonnet-4-0", "usage": usage},
        ),
        vcr_interaction(
            "http://localhost:11434/v1/chat/completions",
            {"model": "llama3.1", "messages": []},
            {"id": "l", "object": "chat.completion", "model": "llama3.1", "choices": []},
        ),
    ]
    source = tmp_path / "vcr" / "test_m" / "test_x.yaml"
    source.parent.mkdir(parents=True)
    source.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))
    imported = llmeval(tmp_path, "cassettes", "import-vcr", "vcr", "cassettes")
    assert imported.returncode == 0, imported.stderr
    stats = llmeval(tmp_path, "cassettes", "stats", "cassettes")
    assert stats.returncode == 0, stats.stderr
    assert stats.stdout.splitlines()[1:] == [
        "       1  anthropic:claude-sonnet-4-0",
        "       1  openai-compatible:llama3.1",
        "       1  openai:gpt-4o-mini",
    ]


REALWORLD = Path(__file__).parent / "data" / "realworld" / "crewAI"


def test_import_vcr_tree(tmp_path: Path) -> None:
    result = llmeval(tmp_path, "cassettes", "import-vcr", str(REALWORLD), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "out").rglob("*.json"))
    assert len(written) == len(list(REALWORLD.rglob("*.yaml")))
    assert "cassette(s) imported" in result.stdout
    again = llmeval(tmp_path, "cassettes", "import-vcr", str(REALWORLD), str(tmp_path / "out"))
    assert again.returncode == 2 and "already exists" in again.stderr
