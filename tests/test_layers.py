"""The layers of docs/architecture.md, held against the code: no module imports from a
layer above its own, and no modules import each other in a cycle, counting imports at
the top, under TYPE_CHECKING and inside functions alike."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pytest_llmeval"

#: Top to bottom, as in docs/architecture.md: each layer is a folder of the package (the
#: pytest entry point `plugin.py` and the public `scorers.py` sit beside theirs); a
#: module belongs to the longest prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pytest glue and item lifecycle", ("__init__", "plugin", "items", "cli")),
    ("reporting", ("reporting",)),
    ("judges and scorers", ("judges", "scorers")),
    ("capture", ("capture",)),
    ("records and maths", ("records",)),
    ("infrastructure", ("core",)),
)


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
    """Our modules a file imports (`from pkg import module` counts as the module only)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name for name in submodules if _is_module(name)] or [node.module]
        found.update(
            name for name in names if name.startswith("pytest_llmeval.") and _is_module(name)
        )
    return found


def _is_module(name: str) -> bool:
    relative = ROOT / Path(*name.split("."))
    return relative.is_dir() or relative.with_suffix(".py").exists()


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


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
    assert not upward, "upward imports: " + ", ".join(f"{a} -> {b}" for a, b in sorted(upward))


def test_the_finder_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text(
        "def f():\n    from pytest_llmeval.plugin import run_key\n"
        "from pytest_llmeval.records import stats\n"
    )
    found = imported_modules(source)
    assert {"pytest_llmeval.plugin", "pytest_llmeval.records.stats"} <= found
    assert layer_of("pytest_llmeval.plugin") < layer_of("pytest_llmeval.records.stats")


def test_no_import_cycle() -> None:
    graph = {module_name(path): imported_modules(path) for path in sorted(PACKAGE.rglob("*.py"))}
    assert import_cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []
