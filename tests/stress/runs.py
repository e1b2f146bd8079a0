"""Inner pytest runs shared by many outer tests, run once per session even under xdist.

An inner run with the real SDKs costs 1.5-2.5 s of CPU in imports alone, so a matrix
of rows runs as one subprocess whose files every row test then reads. Under xdist,
module fixtures run once per worker; `run_once` makes the first worker that needs a
run do it (in the session's shared basetemp, under a file lock) and the others read
its files.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

#: The longest an inner run may take; past it the run is killed and the test fails.
RUN_TIMEOUT = 60


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder all xdist workers of this session share (the session's basetemp)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def run_once(root: Path, produce: Callable[[Path], None]) -> Path:
    """Call `produce(root)` unless this session already did (in any xdist worker)."""
    done = root / ".done"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            root.mkdir(parents=True, exist_ok=True)
            produce(root)
            done.touch()
    return root


def inner_environment(**extra: str) -> dict[str, str]:
    """The environment of an inner run: no CI, no LLMEVAL_* and no PYTEST_* of ours."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name != "CI" and not name.startswith(("LLMEVAL_", "PYTEST_"))
    }
    environment.update(extra)
    return environment


def run_pytest(
    cwd: Path,
    *args: str,
    environment: dict[str, str],
    log: Path | None = None,
    timeout: float = RUN_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run pytest in a subprocess; a hang past `timeout` fails the calling test."""
    command = [sys.executable, "-m", "pytest", *args]
    try:
        completed = subprocess.run(
            command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as error:
        output = error.stdout.decode() if isinstance(error.stdout, bytes) else error.stdout
        pytest.fail(f"the inner run hung for {timeout} s: pytest {' '.join(args)}\n{output}")
    if log is not None:
        log.write_text(completed.stdout + completed.stderr, encoding="utf-8")
    if completed.returncode not in (0, 1):
        pytest.fail(
            f"the inner run exited {completed.returncode}: pytest {' '.join(args)}\n"
            f"{completed.stdout[-4000:]}{completed.stderr[-2000:]}"
        )
    return completed
