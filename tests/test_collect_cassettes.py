"""Collection skips folders of cassettes (nothing there to collect), and only those."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("pytester_env")

_CASSETTE = '{"schema_version": 1, "interactions": []}\n'


def _visited(pytester: pytest.Pytester, *args: str) -> tuple[set[Path], pytest.HookRecorder]:
    """The files pytest offered to collectors in an in-process run, and the run."""
    run = pytester.inline_run(*args)
    files = {Path(call.file_path) for call in run.getcalls("pytest_collect_file")}
    return files, run


def _cassettes(folder: Path, count: int = 3) -> list[Path]:
    written = []
    for n in range(count):
        path = folder / "test_bot" / f"test_case_{n}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_CASSETTE, encoding="utf-8")
        written.append(path)
    return written


def test_a_folder_of_cassettes_is_not_walked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bot="def test_plain():\n    assert True\n")
    cassettes = _cassettes(pytester.path / "cassettes")
    (pytester.path / "cassettes" / "rejudge-gpt-4o" / "test_bot").mkdir(parents=True)
    visited, run = _visited(pytester)
    assert pytester.path / "test_bot.py" in visited
    assert not visited & set(cassettes)
    run.assertoutcome(passed=1)


@pytest.mark.parametrize(
    ("other", "text"),
    [
        ("test_bot/test_inside.py", "def test_inside():\n    assert True\n"),  # a test file
        ("test_bot/test_old.yaml", "interactions: []\n"),  # another plugin's (vcrpy's)
    ],
)
def test_a_cassettes_folder_holding_anything_else_is_walked(
    pytester: pytest.Pytester, other: str, text: str
) -> None:
    pytester.makepyfile(test_bot="def test_plain():\n    assert True\n")
    cassettes = _cassettes(pytester.path / "cassettes")
    (pytester.path / "cassettes" / other).write_text(text, encoding="utf-8")
    visited, run = _visited(pytester)
    assert set(cassettes) | {pytester.path / "cassettes" / other} <= visited
    run.assertoutcome(passed=2 if other.endswith(".py") else 1)


def test_the_configured_cassette_dir_is_not_walked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bot="def test_plain():\n    assert True\n")
    recordings = _cassettes(pytester.path / "recordings")
    elsewhere = _cassettes(pytester.path / "other")  # same files, a folder of no meaning
    visited, run = _visited(pytester, "--llmeval-cassette-dir=sub/../recordings")
    assert not visited & set(recordings)
    assert set(elsewhere) <= visited
    run.assertoutcome(passed=1)


def test_a_symlinked_folder_inside_is_walked(pytester: pytest.Pytester) -> None:
    # a link may lead anywhere (or back up): the folder is not known to hold cassettes only
    cassettes = _cassettes(pytester.path / "cassettes")
    target = pytester.path / "elsewhere"
    target.mkdir()
    try:
        (pytester.path / "cassettes" / "linked").symlink_to(target, target_is_directory=True)
    except OSError:
        pytest.skip("symlinks are not available here")
    visited, _ = _visited(pytester)
    assert set(cassettes) <= visited
