"""What may overlap: which tests can run their bodies at once, and why others cannot.

A test's body may run while other tests are set up and torn down only when nothing it
uses is finalized meanwhile. This module watches fixture setups (which have teardown
code, which are async), decides which items are candidates, whether finalizing a
collector is safe under running bodies, and keeps the reasons tests ran one at a time,
so the session can say them (`SerialTally`) instead of falling back silently.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.items.concurrency import shims
from pytest_llmeval.items.lifecycle import REPORT_ATTRIBUTE, is_own_fixture
from pytest_llmeval.items.options import MARKER

#: Attribute of an eval test's call report naming why its body did not overlap others.
SERIAL_ATTRIBUTE = "llm_eval_serial"

#: The ini key that declares fixtures whose teardown may run while bodies still run.
SAFE_FIXTURES_INI = "llmeval_concurrency_safe_fixtures"


@dataclass
class FixtureWatch:
    """What the setup of one item revealed about its fixtures."""

    teardown: list[str] = field(default_factory=list)  # why each cleanup is there
    async_fixtures: list[str] = field(default_factory=list)


class OverlapRules:
    """Fixture facts seen so far in this process, and the decisions drawn from them."""

    def __init__(self, config: pytest.Config, safe_fixtures: frozenset[str]) -> None:
        self.config = config
        self.safe_fixtures = safe_fixtures
        self.watch: FixtureWatch | None = None  # of the item being set up, if admitted
        self.scopes: dict[str, str] = {}  # fixture name -> scope, as seen at setup
        self.async_fixtures: set[str] = set()
        self.params: dict[str, object] = {}  # parameter -> value it last had
        # wider-scoped FixtureDefs (by id) whose finalization runs teardown code
        self.teardown_fixtures: set[int] = set()
        self.internals_problem: str | None = None

    # -- fixture setup ------------------------------------------------------------------

    def note_fixture(
        self, fixturedef: pytest.FixtureDef[Any]
    ) -> Callable[[Callable[[], object]], None] | None:
        """Record what a fixture's setup reveals; return what to note when it adds a
        finalizer through `request.addfinalizer` (None: nothing to watch)."""
        name, func = fixturedef.argname, fixturedef.func
        self.scopes[name] = fixturedef.scope
        is_async = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        if is_async:
            self.async_fixtures.add(name)
        if name in self.safe_fixtures:
            return None
        yields = inspect.isgeneratorfunction(func) and not is_own_fixture(func)
        if fixturedef.scope != "function":
            # a class, module, package or session fixture with teardown code
            key = id(fixturedef)
            if yields or inspect.isasyncgenfunction(func):
                self.teardown_fixtures.add(key)
            return lambda finalizer: self.teardown_fixtures.add(key)
        watch = self.watch
        if watch is None:
            return None
        origin = fixture_origin(self.config, fixturedef)
        if is_async:
            watch.async_fixtures.append(name)
        elif yields:
            watch.teardown.append(f"fixture '{name}' ({origin}) has teardown code (yield)")
        return lambda finalizer: watch.teardown.append(
            f"fixture '{name}' ({origin}) adds a finalizer (request.addfinalizer)"
        )

    def note_node_finalizer(self, finalizer: Callable[[], object]) -> None:
        """item.addfinalizer during setup: fixture cleanups other than pytest's own."""
        if self.watch is not None and shims.finalizer_fixture(finalizer) is None:
            self.watch.teardown.append(f"a node finalizer {finalizer!r}")

    # -- which items --------------------------------------------------------------------

    def not_candidate(self, item: pytest.Item) -> str | None:
        """Why an eval item's body cannot overlap others (None: it can, or not an eval)."""
        if item.get_closest_marker(MARKER) is None:
            return None
        if not isinstance(item, pytest.Function):
            return "not a test function"
        if not inspect.iscoroutinefunction(item.obj) or "anyio_backend" not in item.fixturenames:
            return "not an async def test marked @pytest.mark.anyio"
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("anyio_backend") if callspec is not None else None
        if backend is not None and not is_plain_asyncio(backend):
            return f"anyio backend {backend!r} (only plain asyncio overlaps)"
        used = sorted(self.async_fixtures.intersection(item.fixturenames))
        if used:
            return f"uses async fixture '{used[0]}' (its value belongs to anyio's loop)"
        return None

    def reparametrizes(self, item: pytest.Item) -> bool:
        """Whether setting up item re-creates a wider-scoped fixture a running body may use."""
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            return False
        for name, value in callspec.params.items():
            if name in self.params and self.scopes.get(name) != "function":
                if not _same(self.params[name], value):
                    return True
        return False

    def remember(self, item: pytest.Item) -> None:
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            self.params.update(callspec.params)

    def finalizes_in_use(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """Whether item's teardown runs teardown code that running bodies may rely on.

        Finalizing a collector (the last test of a class or module) is safe under running
        bodies when all it does is drop plain fixture values from pytest's cache (the
        bodies hold those values already): every finalizer on the collectors it pops is
        pytest's own FixtureDef.finish, of a fixture without teardown code, or a
        collector's `teardown` method that no subclass overrides. Anything else
        (a yield fixture, request.addfinalizer, an xunit teardown, a finalizer a plugin
        put on the node) keeps the item attached: the running bodies end first. So does
        a pytest whose setup state looks different (said once, see `internals_problem`).
        The session is never finalized early.
        """
        if nextitem is None:
            return True
        needed = set(nextitem.listchain())
        popped = [node for node in item.listchain()[:-1] if node not in needed]
        if not popped:
            return False
        try:
            finalizers = shims.collector_finalizers(item.session, popped)  # type: ignore[arg-type]
        except shims.InternalsChanged as error:
            self.internals_problem = self.internals_problem or str(error)
            return True
        for finalizer in finalizers:
            if shims.is_collector_teardown(finalizer):
                continue
            owner = shims.finalizer_fixture(finalizer)
            if owner is None or id(owner) in self.teardown_fixtures:
                return True
        return False


def fixture_origin(config: pytest.Config, fixturedef: pytest.FixtureDef[Any]) -> str:
    """Where a fixture comes from, for a message: a named plugin, a conftest or a module."""
    module_name = getattr(fixturedef.func, "__module__", None)
    for name, plugin in config.pluginmanager.list_name_plugin():
        if getattr(plugin, "__name__", None) != module_name or module_name is None:
            continue
        path = getattr(plugin, "__file__", None)
        if path is not None and Path(path).name == "conftest.py":
            return f"conftest {_relative(config, Path(path))}"
        return f"plugin '{name}'"
    try:
        path = Path(inspect.getfile(fixturedef.func))
    except (TypeError, OSError):
        return f"module {module_name}"
    return f"{_relative(config, path)}"


def _relative(config: pytest.Config, path: Path) -> str:
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)


def is_plain_asyncio(backend: object) -> bool:
    """anyio's asyncio backend without options (those would need anyio's own runner)."""
    return backend == "asyncio" or backend == ("asyncio", {})


def _same(a: object, b: object) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


class SerialTally:
    """Counts the eval tests whose bodies ran one at a time, by cause, and says so once
    at the end of the session (on the xdist controller too: the cause travels on the
    call report)."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.eval_tests = 0
        self.causes: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" or getattr(report, REPORT_ATTRIBUTE, None) is None:
            return
        self.eval_tests += 1
        cause = getattr(report, SERIAL_ATTRIBUTE, None)
        if cause:
            self.causes[str(cause)] += 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.lines():
            terminalreporter.write_line(line, yellow=True)

    def lines(self) -> list[str]:
        serial = sum(self.causes.values())
        if not serial:
            return []
        lines = [
            f"llm_eval: --llmeval-concurrency={self.concurrency}: {serial} of "
            f"{self.eval_tests} eval tests ran one at a time:"
        ]
        for cause, count in sorted(self.causes.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {count} test(s): {cause}")
        if any(cause.startswith("fixture '") for cause in self.causes):
            lines.append(
                f"  a fixture whose teardown keeps no per-test state can be declared safe to "
                f"overlap: {SAFE_FIXTURES_INI} = NAME (ini) or --llmeval-concurrency-safe-"
                "fixture=NAME"
            )
        return lines

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        config.pluginmanager.unregister(self)
