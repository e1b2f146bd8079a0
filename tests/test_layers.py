"""The layers of docs/architecture.md, held against the code: no module imports from a
layer above its own, at the top, under TYPE_CHECKING or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pytest_llmeval"

#: Top to bottom, as in docs/architecture.md; a module belongs to the longest prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "pytest glue and item lifecycle",
        (
            "__init__", "plugin", "controller", "settings", "lifecycle", "runner", "runtime", "recorder",
            "session", "xdist", "concurrency", "cli", "cassettes.cli", "dialogue",
            "conversation_methods", "adaptive",
        ),
    ),
    ("reporting", ("reporting",)),
    ("judges and scorers", ("judges", "scorers", "scored", "trajectory_scorers", "resilience", "guardrails", "retrieval_scorers")),
    ("capture", ("cassettes", "providers", "capture", "pricing", "price_overrides", "budget", "keys")),
    (
        "records and maths",
        (
            "models", "session_outcome", "spec", "outcome", "aggregate", "accounting",
            "baseline", "decision", "stats", "cases", "trajectory", "conversation", "injection",
            "attempts", "assertions", "comparison", "calibration",
        ),
    ),
    ("infrastructure", ("errors", "files", "vocabulary", "context", "printable", "safe_yaml", "wire")),
)  # fmt: skip

#: Known upward imports, each with why it is still there. The writer and the baseline
#: redact what they write with the cassettes' Redactor: it belongs with the writer in
#: the infrastructure layer and moves there with the folder regrouping (issue 16).
KNOWN_UPWARD = {
    ("pytest_llmeval.files", "pytest_llmeval.cassettes.redact"),
    ("pytest_llmeval.baseline", "pytest_llmeval.cassettes.redact"),
}


def layer_of(module: str) -> int:
    name = module.removeprefix("pytest_llmeval").lstrip(".") or "__init__"
    found = [
        (len(prefix), rank)
        for rank, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if name == prefix or name.startswith(prefix + ".")
    ]
    assert found, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return max(found)[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Our modules a file imports (`from pkg import module` counts as the module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if not name.startswith("pytest_llmeval."):
                continue
            relative = Path(*name.split("."))
            if (ROOT / relative).is_dir() or (ROOT / relative).with_suffix(".py").exists():
                found.add(name)
    return found


def test_every_module_is_in_a_layer() -> None:
    modules = [module_name(path) for path in sorted(PACKAGE.rglob("*.py"))]
    assert len(modules) > 50
    for module in modules:
        layer_of(module)


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for imported in imported_modules(path):
            if layer_of(imported) < layer_of(module):
                upward.add((module, imported))
    assert upward - KNOWN_UPWARD == set(), "upward imports: " + ", ".join(
        f"{a} -> {b}" for a, b in sorted(upward - KNOWN_UPWARD)
    )
    assert KNOWN_UPWARD <= upward, "a known upward import is gone: drop it from KNOWN_UPWARD"


def test_the_finder_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text(
        "def f():\n    from pytest_llmeval.plugin import run_key\n"
        "from pytest_llmeval import stats\n"
    )
    found = imported_modules(source)
    assert {"pytest_llmeval.plugin", "pytest_llmeval.stats"} <= found
    assert layer_of("pytest_llmeval.plugin") < layer_of("pytest_llmeval.stats")
