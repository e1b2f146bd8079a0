"""`llmeval cassettes stats|prune|import-vcr` end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProviderServer

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


def test_stats_names_a_corrupt_cassette(pytester_env: pytest.Pytester) -> None:
    broken = pytester_env.path / "cassettes" / "m" / "t.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"schema_version": 1, "interactions": [')
    result = llmeval(pytester_env.path, "cassettes", "stats")
    assert result.returncode == 2
    assert "cassettes/m/t.json: not valid JSON (line 1, column 40" in result.stderr


REALWORLD = Path(__file__).parent / "data" / "realworld" / "crewAI"


def test_import_vcr_tree(tmp_path: Path) -> None:
    result = llmeval(tmp_path, "cassettes", "import-vcr", str(REALWORLD), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "out").rglob("*.json"))
    assert len(written) == len(list(REALWORLD.rglob("*.yaml")))
    assert "cassette(s) imported" in result.stdout
    again = llmeval(tmp_path, "cassettes", "import-vcr", str(REALWORLD), str(tmp_path / "out"))
    assert again.returncode == 2 and "already exists" in again.stderr
