"""A package's `__init__` re-exports and dispatches; it is not the base of its modules.

Shared types live in a module of their own (`capture/providers/types.py`), so that no module of a
package imports names from the package itself: the import arrow points one way.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_llmeval"
SUBPACKAGES = sorted(path.parent for path in PACKAGE.rglob("*/__init__.py"))


def dotted(folder: Path) -> str:
    return ".".join(folder.relative_to(PACKAGE.parent).parts)


@pytest.mark.parametrize("folder", SUBPACKAGES, ids=lambda folder: folder.name)
def test_no_module_imports_a_name_from_its_own_package(folder: Path) -> None:
    package = dotted(folder)
    submodules = {path.stem for path in folder.glob("*.py")} | {
        path.parent.name for path in folder.glob("*/__init__.py")
    }
    offences = []
    for module in sorted(folder.glob("*.py")):
        if module.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            own = node.module == package or (node.level == 1 and node.module is None)
            if own:
                names = [alias.name for alias in node.names if alias.name not in submodules]
                offences += [f"{module.name}:{node.lineno} imports {name}" for name in names]
    assert not offences, f"import these from a module of {package}, not the package: {offences}"


@pytest.mark.parametrize("folder", SUBPACKAGES, ids=lambda folder: folder.name)
def test_no_package_init_defines_a_class(folder: Path) -> None:
    tree = ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))
    classes = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    assert not classes, f"{dotted(folder)}.__init__ defines {classes}; move them to a module"


def test_the_providers_package_re_exports_its_types() -> None:
    # by their full names: an in-process pytester run may have dropped and re-imported
    # the modules, leaving the parent package's attribute pointing at an older copy
    providers = importlib.import_module("pytest_llmeval.capture.providers")
    sse = importlib.import_module("pytest_llmeval.capture.providers.sse")
    types = importlib.import_module("pytest_llmeval.capture.providers.types")

    assert providers.CallSummary is types.CallSummary
    assert providers.SSEEvent is types.SSEEvent
    assert providers.parse_sse is sse.parse_sse


LAZY_PACKAGES = ["pytest_llmeval", "pytest_llmeval.judges", "pytest_llmeval.scorers"]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_a_lazy_package_declares_each_export_for_type_checkers(package: str) -> None:
    # names re-exported by __getattr__ are Any to a type checker unless the package also
    # imports them under TYPE_CHECKING: every name in _EXPORTS and __all__ must be there
    init = PACKAGE.parent / Path(*package.split(".")) / "__init__.py"
    tree = ast.parse(init.read_text(encoding="utf-8"))
    exports: set[str] = set()
    listed: set[str] = set()
    typed: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            if target == "_EXPORTS" and isinstance(node.value, ast.Dict):
                exports = {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
            elif target == "__all__" and isinstance(node.value, ast.List):
                listed = {item.value for item in node.value.elts if isinstance(item, ast.Constant)}
        elif isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    typed |= {alias.asname or alias.name for alias in statement.names}
    assert exports and exports == listed == typed, (exports ^ typed) | (exports ^ listed)
