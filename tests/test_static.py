"""The house rules that tools check: ruff (lint and format) and mypy --strict."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.prefix) / "bin" / "ruff").exists(),
    reason="ruff is not installed",
)
def test_ruff_lint_and_format() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.prefix) / "bin" / "ruff")
    folders = [
        name
        for name in ("pytest_llmeval", "tests", "examples", "benchmarks")
        if (ROOT / name).is_dir()
    ]
    lint = run(ruff, "check", *folders)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = run(ruff, "format", "--check", "pytest_llmeval")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict() -> None:
    pytest.importorskip("mypy")
    result = run(sys.executable, "-m", "mypy", "--strict", "pytest_llmeval")
    assert result.returncode == 0, result.stdout + result.stderr


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top, under TYPE_CHECKING or inside functions."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_reporters_render_data_not_the_session() -> None:
    # reporters take the frozen SessionOutcome; the session, the capture and the judges
    # are layers above or beside them (STYLE: "Reporters never import interception")
    forbidden = (
        "pytest_llmeval.session",
        "pytest_llmeval.plugin",
        "pytest_llmeval.runner",
        "pytest_llmeval.capture",
        "pytest_llmeval.cassettes.intercept",
        "pytest_llmeval.cassettes.session",
        "pytest_llmeval.providers",
        "pytest_llmeval.judges",
    )
    reporters = sorted((ROOT / "pytest_llmeval" / "reporting").glob("*.py"))
    assert reporters
    for path in [*reporters, ROOT / "pytest_llmeval" / "session_outcome.py"]:
        bad = [
            name
            for name in _imported_modules(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        ]
        assert not bad, f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}"
