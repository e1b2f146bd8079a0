"""The house rules that tools check: ruff (lint and format), mypy --strict, no machine paths."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
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
    fmt = run(ruff, "format", "--check", *folders)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict() -> None:
    pytest.importorskip("mypy")
    result = run(sys.executable, "-m", "mypy", "--strict", "pytest_llmeval")
    assert result.returncode == 0, result.stdout + result.stderr


# Top-level folders that only exist on some machine (a home, a workspace, a mount, a
# temporary folder) and Windows drive letters. /usr and /bin name system programs
# (a browser), not data the suite needs.
MACHINE_PATH = re.compile(
    r"^(/(work|home|root|Users|tmp|mnt|media|opt|srv|data|var)(/|$)|[A-Za-z]:[\\/])"
)


def machine_paths(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line: literal` for each string literal in `path` naming a machine's own folder."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if MACHINE_PATH.match(node.value)
    )
    return [f"{path.relative_to(root)}:{line}: {value!r}" for line, value in found]


def test_machine_path_finder_sees_them(tmp_path: Path) -> None:
    source = tmp_path / "test_x.py"
    # assembled here, so that this file holds no machine path of its own
    machine = "/".join(["", "work", "shared", "realworld", "cassettes"])
    home = "/".join(["", "home", "me", ""])
    windows = "\\".join(["C:", "Users", "me"])
    source.write_text(
        "from pathlib import Path\n"
        f'DATA = Path("{machine}")\n'
        f'OTHER = f"{home}{{DATA}}"\n'
        f'WINDOWS = r"{windows}"\n'
        'FINE = ["/v1/messages", "/usr/bin/chromium", "/d", "/workspace-less", "data/x"]\n'
    )
    assert machine_paths(source, tmp_path) == [
        f"test_x.py:2: {machine!r}",
        f"test_x.py:3: {home!r}",
        f"test_x.py:4: {windows!r}",
    ]


def test_tests_examples_and_benchmarks_read_no_machine_path() -> None:
    """The repository stands alone: data is found from `__file__` or fixtures, never at a
    path that exists only on the machine that wrote the test."""
    files = sorted(
        path
        for folder in ("tests", "examples", "benchmarks")
        for path in ROOT.joinpath(folder).rglob("*.py")
        if ".work" not in path.relative_to(ROOT).parts  # the benchmarks' scratch folder
    )
    assert len(files) > 40
    found = [line for path in files for line in machine_paths(path)]
    assert not found, "tests must resolve paths from __file__ or fixtures:\n" + "\n".join(found)


def lower_bounds(requirements: list[str]) -> dict[str, str]:
    """`name -> version` of each `name>=version` requirement (names normalised)."""
    bounds = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)\s*(,\s*<[^;]+)?", requirement)
        assert match, f"pyproject.toml: {requirement!r} has no plain lower bound (name>=version)"
        bounds[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return bounds


def test_lowest_constraints_are_pyprojects_lower_bounds() -> None:
    """CI's lowest-versions run installs exactly the lower bounds pyproject.toml declares."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = lower_bounds(project["dependencies"] + project["optional-dependencies"]["test"])
    assert {"openai", "anthropic", "httpx2", "pytest", "pydantic"} <= set(declared)
    pinned = {}
    for line in (ROOT / ".ci" / "lowest-constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pinned[re.sub(r"[-_.]+", "-", name.strip()).lower()] = version.strip()
    assert pinned == declared, (
        "make .ci/lowest-constraints.txt pin each lower bound of pyproject.toml"
    )


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
        "pytest_llmeval.items.session",
        "pytest_llmeval.plugin",
        "pytest_llmeval.items.runner",
        "pytest_llmeval.capture.inference",
        "pytest_llmeval.capture.cassettes.intercept",
        "pytest_llmeval.capture.cassettes.transport",
        "pytest_llmeval.capture.cassettes.session",
        "pytest_llmeval.capture.providers",
        "pytest_llmeval.judges",
    )
    reporters = sorted((ROOT / "pytest_llmeval" / "reporting").glob("*.py"))
    assert reporters
    for path in [*reporters, ROOT / "pytest_llmeval" / "records" / "session_outcome.py"]:
        bad = [
            name
            for name in _imported_modules(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        ]
        assert not bad, f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}"
