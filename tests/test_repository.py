"""The repository's own test wiring: the top-level conftest.py and what it reaches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pytest_in_root(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_fake_provider_reaches_every_test_of_the_repository() -> None:
    # wired in the rootdir conftest, not only in tests/conftest.py: a test under
    # benchmarks/ (or any folder of the repository) gets the fixtures too
    done = pytest_in_root("--fixtures", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fixtures defined from tests.fakeprovider.fixtures" in done.stdout
    assert "fake_provider -- tests/fakeprovider/fixtures.py" in done.stdout
    assert "--run-slow" in pytest_in_root("--help").stdout


def test_the_examples_stay_their_own_project() -> None:
    # examples/pytest.ini makes examples/ the rootdir: the repository's conftest (and
    # its --run-slow option) is not loaded there
    collected = pytest_in_root("examples", "--co", "-q")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "tests collected in" in collected.stdout.strip().splitlines()[-1]
    refused = pytest_in_root("examples", "--co", "-q", "--run-slow")
    assert refused.returncode == 4
    assert "unrecognized arguments: --run-slow" in refused.stderr
    assert f"rootdir: {ROOT / 'examples'}" in refused.stderr
