"""`--llmeval-concurrency N`: the bodies of async llm_eval tests overlap on one event loop.

Registered by `start_concurrency` (plugin.py's pytest_configure, only when N > 1), in each
process that runs tests: a plain run, `-n 0`, or every xdist worker (not the controller).

pytest sets up one test at a time: its setup state is a stack that holds a single test
item, and a function-scoped fixture caches its value on its definition, shared by every
test that requests it. Two tests cannot be "set up" at once through pytest's public API,
so setups and teardowns stay one after the other, in collection order; only the test
*bodies* overlap. Per item, from `pytest_runtest_protocol`:

1. admit: run the setup phase inside a fresh `contextvars.Context` (the plugin's setup
   wrapper starts the item's cassette there, so `context.current_cassette` is the item's
   own), call the test function with its fixture values and start the coroutine as a
   task of the one event loop, in that context. A semaphore lets N bodies run; up to
   4N items are admitted ahead, their bodies waiting for a slot.
2. detach: when nothing the body uses is finalized by the item's teardown, that teardown
   runs at once (with the real `nextitem`), so the next item can be set up while this
   body runs; the cassette is stopped after the body (the item's run is hidden from the
   plugin's teardown wrapper meanwhile). An item stays attached, its teardown after its
   body and no item admitted until then, when
     - a function-scoped fixture it uses has teardown code (a `yield` fixture, or
       `request.addfinalizer` / `request.node.addfinalizer`), this plugin's own excepted,
       or the test takes `request`; its body then starts in its call phase;
     - its teardown would run teardown code of a class, module or package (a wider
       `yield` fixture, `request.addfinalizer`, an xunit teardown, a node finalizer),
       which other bodies may still use, or finalize the session (the last item).
       Finalizing a collector whose fixtures are plain (no teardown code) only drops
       their cached values, so the last test of such a module detaches as usual and
       the next module's tests start while its body runs.
3. finish, in collection order once the body is done: the call phase runs through the
   normal hooks with `item.runtest` replaced by one that returns or raises the body's
   outcome (so the plugin's call wrapper scores it as usual), then the teardown report is
   made, and logstart, the three reports and logfinish are logged together. On an xdist
   worker they are sent tagged with their own test's index (see `_xdist_worker`).

The loop runs in the main thread, only while this module drives it: while waiting for the
oldest test's body, for a few milliseconds after each body ends, and between admissions.
So fixtures, hooks and bodies never run at the same time, only interleaved at `await`s.

Left to the ordinary protocol, after the running bodies finish: tests that are not
`async def` llm_eval tests on anyio's asyncio backend (`@pytest.mark.anyio`); tests using
an async fixture (its value belongs to anyio's loop). A test whose parameter of a class,
module or session-scoped fixture differs from the previous test's waits for the running
bodies first (pytest finalizes the old fixture value when it sets up the new one).

Limits: the llm_judge fixture of a detached test is resolved during its setup; what a
body prints reaches its own test's report through `sys.stdout`/`sys.stderr` only (not
through file descriptors 1 and 2, nor logging); warnings are attributed to the test whose
protocol is running; fixtures must not change shared state a running body relies on
(e.g. reset a fake server); with -x the tests already admitted still run and are reported;
plugins that take over `pytest_runtest_protocol` (pytest-rerunfailures) do not apply.
"""

from __future__ import annotations

import asyncio
import bdb
import contextvars
import functools
import inspect
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

import pytest

from pytest_llmeval.settings import MARKER

#: Items admitted per running slot: bodies that wait for a slot are ready to start the
#: moment one frees, without waiting for pytest's bookkeeping of the finished test.
AHEAD = 4

#: After a test's body ends, how long the loop keeps serving the other bodies (bodies
#: that just got a slot send their requests, responses that arrived are read) before
#: pytest's bookkeeping of the finished test, during which the loop does not run.
SETTLE_S = 0.005

Body = Literal["loop", "ordinary", "none"]


def start_concurrency(config: pytest.Config, concurrency: int) -> ConcurrentRunner | None:
    """Register the concurrent runner for this process, or say why it cannot run."""
    if concurrency <= 1:
        return None
    if getattr(config, "workerinput", None) is None and config.getoption("dist", "no") != "no":
        return None  # an xdist controller: its workers run the tests (each its own runner)
    reason = _unusable(config)
    interactor = _xdist_worker(config)
    if reason is None and getattr(config, "workerinput", None) is not None and interactor is None:
        reason = "this pytest-xdist version does not let a worker report tests out of turn"
    if reason is not None:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"--llmeval-concurrency={concurrency} is ignored: {reason}; "
                "tests run one at a time."
            ),
            stacklevel=2,
        )
        return None
    runner = ConcurrentRunner(config, concurrency, interactor)
    config.pluginmanager.register(runner, "llmeval-concurrency")
    return runner


def _xdist_worker(config: pytest.Config) -> Any:
    """pytest-xdist's worker object, on a worker: it tags each report it sends to the
    controller with `item_index`, the index of the test whose protocol is running (and
    checks that the report is that test's). Reports of a test that finishes during a
    later test's protocol are sent tagged with their own test's index instead."""
    if getattr(config, "workerinput", None) is None:
        return None
    for plugin in config.pluginmanager.get_plugins():
        # the class lives in xdist/remote.py, which execnet runs as `__channelexec__`
        if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "sendevent"):
            return plugin
    return None


def _unusable(config: pytest.Config) -> str | None:
    if sys.version_info < (3, 11):
        return "it needs Python 3.11 or newer (asyncio tasks with an explicit context)"
    for option, flag in (("usepdb", "--pdb"), ("trace", "--trace")):
        if config.getoption(option, False):
            return f"{flag} stops inside one test at a time"
    for option, flag in (
        ("setuponly", "--setup-only"),
        ("setupplan", "--setup-plan"),
        ("setupshow", "--setup-show"),
    ):
        if config.getoption(option, False):
            return f"{flag} shows fixtures test by test"
    return None


@dataclass
class _Watch:
    """What the setup of one item revealed about its fixtures."""

    teardown: list[str] = field(default_factory=list)
    async_fixtures: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    """One admitted item on its way through the pipeline."""

    item: pytest.Function
    nextitem: pytest.Item | None
    context: contextvars.Context
    setup_call: pytest.CallInfo[None]
    setup_report: pytest.TestReport
    teardown_call: pytest.CallInfo[None] | None = None  # set when detached
    deleted: list[pytest.StashKey[Any]] = field(default_factory=list)  # by the early teardown
    body: Body = "none"
    start_early: bool = True
    coroutine: Coroutine[Any, Any, Any] | None = None
    task: asyncio.Task[None] | None = None
    outcome: BaseException | None = None
    started: float | None = None  # time.time() when the body got a slot
    stopped: float | None = None
    duration: float | None = None
    buffered: bool = True  # route the body's sys.stdout/sys.stderr writes to `output`
    output: dict[str, list[str]] = field(default_factory=lambda: {"stdout": [], "stderr": []})

    @property
    def detached(self) -> bool:
        return self.teardown_call is not None


class ConcurrentRunner:
    """The plugin object behind --llmeval-concurrency: admits, runs and finishes items."""

    def __init__(self, config: pytest.Config, concurrency: int, xdist_worker: Any = None) -> None:
        self.config = config
        self.xdist_worker = xdist_worker
        self.item_indexes: dict[int, int] | None = None
        self.concurrency = concurrency
        self.ahead = AHEAD * concurrency
        self.capture = config.getoption("capture", "fd") != "no"
        self.reraise: tuple[type[BaseException], ...] = (pytest.exit.Exception, KeyboardInterrupt)
        self.pending: deque[_Entry] = deque()
        self.by_task: dict[asyncio.Task[None], _Entry] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.slots: asyncio.Semaphore | None = None
        self.watch: _Watch | None = None
        self.scopes: dict[str, str] = {}  # fixture name -> scope, as seen at setup
        self.async_fixtures: set[str] = set()
        self.params: dict[str, object] = {}  # parameter -> value it last had
        # wider-scoped FixtureDefs (by id) whose finalization runs teardown code
        self.teardown_fixtures: set[int] = set()

    # -- hooks --------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        if not isinstance(item, pytest.Function) or not self._candidate(item):
            self.drain()
            self._remember(item)
            return None
        if self.pending and self._reparametrizes(item):
            self.drain()
        self._remember(item)
        entry = self._admit(item, nextitem)
        if entry.detached:
            self._pump()
            self._finish_ready()
            while len(self.pending) >= self.ahead:
                self._wait_for(self.pending[0])
                self._settle()
                self._finish_ready()
        else:
            self.drain()
        if item.session.shouldfail or item.session.shouldstop:
            self.drain()
        return True

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        name, func = fixturedef.argname, fixturedef.func
        self.scopes[name] = fixturedef.scope
        is_async = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        if is_async:
            self.async_fixtures.add(name)
        yields = inspect.isgeneratorfunction(func) and not _is_ours(func)
        watch = self.watch
        note: Callable[[], None]
        if fixturedef.scope != "function":
            # a class, module, package or session fixture with teardown code
            key = id(fixturedef)
            if yields or inspect.isasyncgenfunction(func):
                self.teardown_fixtures.add(key)
            note = functools.partial(self.teardown_fixtures.add, key)
        elif watch is None:
            return (yield)
        else:
            if is_async:
                watch.async_fixtures.append(name)
            elif yields:
                watch.teardown.append(name)
            note = functools.partial(watch.teardown.append, f"{name} (request.addfinalizer)")
        original = request.addfinalizer

        def addfinalizer(finalizer: Callable[[], object]) -> None:
            note()
            original(finalizer)

        request.addfinalizer = addfinalizer  # type: ignore[method-assign]
        try:
            return (yield)
        finally:
            del request.addfinalizer

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        try:
            result = yield
        except BaseException:
            self._abort()
            raise
        else:
            self.drain()
            return result
        finally:
            self._close()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._close()
        config.pluginmanager.unregister(self)

    # -- which items, and how -----------------------------------------------------------

    def _candidate(self, item: pytest.Function) -> bool:
        if item.get_closest_marker(MARKER) is None:
            return False
        if not inspect.iscoroutinefunction(item.obj) or "anyio_backend" not in item.fixturenames:
            return False
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("anyio_backend") if callspec is not None else None
        if backend is not None and not _is_plain_asyncio(backend):
            return False
        return not self.async_fixtures.intersection(item.fixturenames)

    def _reparametrizes(self, item: pytest.Function) -> bool:
        """Whether setting up item re-creates a wider-scoped fixture a running body may use."""
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            return False
        for name, value in callspec.params.items():
            if name in self.params and self.scopes.get(name) != "function":
                if not _same(self.params[name], value):
                    return True
        return False

    def _remember(self, item: pytest.Item) -> None:
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            self.params.update(callspec.params)

    # -- admit --------------------------------------------------------------------------

    def _admit(self, item: pytest.Function, nextitem: pytest.Item | None) -> _Entry:
        context = contextvars.copy_context()
        watch = self.watch = _Watch()
        item.addfinalizer = _watching_node(watch, item.addfinalizer)  # type: ignore[method-assign]
        try:
            setup = pytest.CallInfo.from_call(
                lambda: context.run(_setup, item), when="setup", reraise=self.reraise
            )
        finally:
            self.watch = None
            del item.addfinalizer
        report = item.ihook.pytest_runtest_makereport(item=item, call=setup)
        entry = _Entry(item, nextitem, context, setup, report)
        self.pending.append(entry)
        if not entry.setup_report.passed:
            if not self._finalizes_in_use(item, nextitem):
                self._teardown_now(entry)
            return entry
        arguments = _arguments(item)
        backend = item.funcargs.get("anyio_backend")
        coroutine = None
        if arguments is not None and not watch.async_fixtures and _is_plain_asyncio(backend):
            try:
                coroutine = entry.context.run(item.obj, **arguments)
            except Exception:  # pytest's own call phase will raise it again and report it
                coroutine = None
        if not inspect.iscoroutine(coroutine):
            entry.body = "ordinary"
            return entry
        entry.body, entry.coroutine = "loop", coroutine
        session = item.session
        if watch.teardown or "request" in (arguments or {}):
            entry.start_early = False
        elif not (
            session.shouldfail or session.shouldstop or self._finalizes_in_use(item, nextitem)
        ):
            self._teardown_now(entry)
        if entry.start_early:
            self._start(entry)
        return entry

    def _finalizes_in_use(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """Whether item's teardown runs teardown code that running bodies may rely on.

        Finalizing a collector (the last test of a class or module) is safe under running
        bodies when all it does is drop plain fixture values from pytest's cache (the
        bodies hold those values already): every finalizer on the collectors it pops is
        pytest's own FixtureDef.finish, of a fixture without teardown code, or a
        collector's `teardown` method that no subclass overrides. Anything else
        (a yield fixture, request.addfinalizer, an xunit teardown, a finalizer a plugin
        put on the node) or a pytest whose setup state looks different keeps the item
        attached: the running bodies end first. The session is never finalized early.
        """
        if nextitem is None:
            return True
        needed = set(nextitem.listchain())
        popped = [node for node in item.listchain()[:-1] if node not in needed]
        if not popped:
            return False
        try:
            stack = item.session._setupstate.stack
            finalizers = [finalizer for node in popped for finalizer in stack[node][0]]
        except (AttributeError, KeyError, TypeError, IndexError):
            return True
        for finalizer in finalizers:
            if getattr(finalizer, "__func__", None) is pytest.Collector.teardown:
                continue  # the collector's own teardown, not overridden: does nothing
            owner = getattr(getattr(finalizer, "func", None), "__self__", None)
            if not isinstance(owner, pytest.FixtureDef) or id(owner) in self.teardown_fixtures:
                return True
        return False

    def _teardown_now(self, entry: _Entry) -> None:
        """Run the item's teardown before its body ends.

        Through a stash overlay: the plugin's teardown wrapper does not see the item's run
        (its cassette keeps recording), and what teardown hooks delete from the stash (the
        logging plugin's caplog keys) is deleted only after the call phase.
        """
        from pytest_llmeval.plugin import run_key

        item = entry.item
        real = item.stash
        overlay = _DeferredStash(real, hidden={run_key})
        item.stash = overlay  # type: ignore[assignment]
        try:
            entry.teardown_call = pytest.CallInfo.from_call(
                lambda: entry.context.run(
                    item.ihook.pytest_runtest_teardown, item=item, nextitem=entry.nextitem
                ),
                when="teardown",
                reraise=self.reraise,
            )
        finally:
            item.stash = real
        entry.deleted = overlay.deleted

    def _start(self, entry: _Entry) -> None:
        loop = self._event_loop()
        coroutine, entry.coroutine = entry.coroutine, None
        if coroutine is None:
            return
        task = loop.create_task(self._run_body(entry, coroutine), context=entry.context)
        entry.task = task
        self.by_task[task] = entry

    async def _run_body(self, entry: _Entry, coroutine: Coroutine[Any, Any, Any]) -> None:
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.concurrency)
        running = False
        try:
            async with self.slots:
                running = True
                entry.started, begin = time.time(), time.perf_counter()
                try:
                    await coroutine
                except BaseException as error:  # reported in the call phase, as pytest would
                    entry.outcome = error
                finally:
                    entry.duration = time.perf_counter() - begin
                    entry.stopped = time.time()
        finally:
            if not running:
                coroutine.close()

    # -- drive the loop -----------------------------------------------------------------

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop

    def _drive(self, awaitable: Coroutine[Any, Any, Any]) -> None:
        loop = self._event_loop()
        with self._routed_output():
            loop.run_until_complete(awaitable)

    def _pump(self) -> None:
        """Let the loop serve what is ready: new bodies send their requests, done ones end."""
        self._drive(asyncio.sleep(0))

    def _settle(self) -> None:
        running = [task for task in self.by_task if not task.done()]
        if running and SETTLE_S > 0:
            self._drive(asyncio.wait(running, timeout=SETTLE_S))

    def _wait_for(self, entry: _Entry) -> None:
        if entry.task is not None and not entry.task.done():
            self._drive(asyncio.wait([entry.task]))

    @contextmanager
    def _routed_output(self) -> Generator[None, None, None]:
        if not self.capture:
            yield
            return
        saved = sys.stdout, sys.stderr
        sys.stdout = _RoutedStream(saved[0], self, "stdout")
        sys.stderr = _RoutedStream(saved[1], self, "stderr")
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved

    def buffer_of_current_task(self) -> _Entry | None:
        """The entry whose body is running now, if its output is to be kept for its report."""
        if self.loop is None:
            return None
        entry = self.by_task.get(asyncio.current_task(self.loop))  # type: ignore[arg-type]
        return entry if entry is not None and entry.buffered else None

    # -- finish -------------------------------------------------------------------------

    def drain(self) -> None:
        """Finish every admitted item, in order, waiting for the bodies still running."""
        while self.pending:
            head = self.pending[0]
            if head.detached:
                self._wait_for(head)
            self._finish(self.pending.popleft())

    def _finish_ready(self) -> None:
        while (
            self.pending
            and (self.pending[0].task is None or self.pending[0].task.done())
            and self.pending[0].detached
        ):
            self._finish(self.pending.popleft())

    def _finish(self, entry: _Entry) -> None:
        with self._reporting_as(entry.item):
            self._finish_item(entry)

    @contextmanager
    def _reporting_as(self, item: pytest.Item) -> Generator[None, None, None]:
        worker = self.xdist_worker
        if worker is None:
            yield
            return
        if self.item_indexes is None:
            self.item_indexes = {id(each): i for i, each in enumerate(item.session.items)}
        saved = worker.item_index
        worker.item_index = self.item_indexes[id(item)]
        try:
            yield
        finally:
            worker.item_index = saved

    def _finish_item(self, entry: _Entry) -> None:
        item, ihook = entry.item, entry.item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        self._log(item, entry.setup_call, entry.setup_report)
        if entry.setup_report.passed:
            call = self._call(entry)
            self._log(item, call, self._call_report(entry, call))
            self._cancel_leftover(entry)
        if entry.teardown_call is not None:
            teardown = self._deferred_teardown(entry, entry.teardown_call)
        else:
            session = item.session
            nextitem = None if session.shouldfail or session.shouldstop else entry.nextitem
            teardown = pytest.CallInfo.from_call(
                lambda: entry.context.run(
                    ihook.pytest_runtest_teardown, item=item, nextitem=nextitem
                ),
                when="teardown",
                reraise=self.reraise,
            )
        self._log(item, teardown, ihook.pytest_runtest_makereport(item=item, call=teardown))
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        for key in entry.deleted:
            if key in item.stash:
                del item.stash[key]
        if entry.task is not None:
            self.by_task.pop(entry.task, None)
        item.funcargs = {}

    def _call(self, entry: _Entry) -> pytest.CallInfo[None]:
        item = entry.item
        if entry.body == "ordinary":
            return pytest.CallInfo.from_call(
                lambda: entry.context.run(item.ihook.pytest_runtest_call, item=item),
                when="call",
                reraise=self.reraise,
            )
        for key, parts in entry.output.items():
            item.add_report_section("call", key, "".join(parts))

        def runtest() -> None:
            __tracebackhide__ = True
            entry.buffered = False  # from here on, pytest's capture of the call phase applies
            if entry.task is None:
                self._start(entry)
            self._wait_for(entry)
            if entry.outcome is not None:
                raise entry.outcome

        item.runtest = runtest  # type: ignore[method-assign]
        try:
            return pytest.CallInfo.from_call(
                lambda: item.ihook.pytest_runtest_call(item=item),
                when="call",
                reraise=self.reraise,
            )
        finally:
            del item.runtest

    def _call_report(self, entry: _Entry, call: pytest.CallInfo[None]) -> pytest.TestReport:
        """The call report, timed by the body rather than by its replay."""
        from pytest_llmeval.plugin import run_key

        item = entry.item
        run = item.stash.get(run_key, None)
        if entry.duration is not None and run is not None and run.result is not None:
            update = {"duration_s": round(entry.duration, 6)}
            run.result = run.result.model_copy(update=update)
        report: pytest.TestReport = item.ihook.pytest_runtest_makereport(item=item, call=call)
        if entry.duration is not None and entry.started is not None and entry.stopped is not None:
            report.duration, report.start, report.stop = (
                entry.duration,
                entry.started,
                entry.stopped,
            )
        return report

    def _cancel_leftover(self, entry: _Entry) -> None:
        """A body still running after its call phase (a hook failed before `runtest`) must
        not outlive its fixtures."""
        if entry.task is not None and not entry.task.done():
            entry.task.cancel()
            self._wait_for(entry)

    def _deferred_teardown(
        self, entry: _Entry, early: pytest.CallInfo[None]
    ) -> pytest.CallInfo[None]:
        """Stop the cassette now that the body is done; the early teardown's errors win."""
        from pytest_llmeval.plugin import _stop_capture, run_key

        item = entry.item
        run = item.stash.get(run_key, None)

        def stop() -> None:
            if run is not None:
                _stop_capture(item, run)

        stopped = pytest.CallInfo.from_call(
            lambda: entry.context.run(stop), when="teardown", reraise=self.reraise
        )
        return stopped if early.excinfo is None and stopped.excinfo is not None else early

    def _log(
        self, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        item.ihook.pytest_runtest_logreport(report=report)
        if _interactive(call, report):
            item.ihook.pytest_exception_interact(node=item, call=call, report=report)

    # -- end of session -----------------------------------------------------------------

    def _abort(self) -> None:
        """After an interruption: cancel the bodies, stop their cassettes, report nothing."""
        from pytest_llmeval.plugin import _stop_capture, run_key

        while self.pending:
            entry = self.pending.popleft()
            if entry.coroutine is not None:
                entry.coroutine.close()
            if entry.task is not None:
                entry.task.cancel()
            run = entry.item.stash.get(run_key, None)
            if run is not None and entry.detached:
                try:
                    entry.context.run(_stop_capture, entry.item, run)
                except Exception:  # the session is being interrupted already
                    pass

    def _close(self) -> None:
        loop, self.loop = self.loop, None
        if loop is None or loop.is_closed():
            return
        try:
            tasks = [task for task in self.by_task if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            self.by_task.clear()
            loop.close()


class _RoutedStream:
    """sys.stdout or sys.stderr while the loop runs: a body's writes go to its own item."""

    def __init__(self, target: TextIO, runner: ConcurrentRunner, key: str) -> None:
        self._target = target
        self._runner = runner
        self._key = key

    def write(self, text: str) -> int:
        entry = self._runner.buffer_of_current_task()
        if entry is None:
            return self._target.write(text)
        entry.output[self._key].append(text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _DeferredStash:
    """item.stash during an early teardown: some keys hidden, deletions kept for later."""

    def __init__(self, real: pytest.Stash, hidden: set[pytest.StashKey[Any]]) -> None:
        self._real = real
        self._hidden = hidden
        self.deleted: list[pytest.StashKey[Any]] = []

    def _visible(self, key: pytest.StashKey[Any]) -> bool:
        return key not in self._hidden and key not in self.deleted and key in self._real

    def __getitem__(self, key: pytest.StashKey[Any]) -> Any:
        if not self._visible(key):
            raise KeyError(key)
        return self._real[key]

    def __setitem__(self, key: pytest.StashKey[Any], value: Any) -> None:
        if key in self.deleted:
            self.deleted.remove(key)
        self._real[key] = value

    def __delitem__(self, key: pytest.StashKey[Any]) -> None:
        if not self._visible(key):
            raise KeyError(key)
        self.deleted.append(key)

    def __contains__(self, key: pytest.StashKey[Any]) -> bool:
        return self._visible(key)

    def get(self, key: pytest.StashKey[Any], default: Any = None) -> Any:
        return self._real[key] if self._visible(key) else default

    def setdefault(self, key: pytest.StashKey[Any], default: Any) -> Any:
        if not self._visible(key):
            self[key] = default
        return self._real[key]

    def __len__(self) -> int:
        return len(self._real) - sum(
            1 for key in {*self._hidden, *self.deleted} if key in self._real
        )


def _setup(item: pytest.Function) -> None:
    item.ihook.pytest_runtest_setup(item=item)
    _resolve_judge(item)


def _resolve_judge(item: pytest.Function) -> None:
    """Resolve llm_judge now, while the item is set up: a detached body cannot request it."""
    recorder: Any = item.funcargs.get("llm_eval")
    resolver = getattr(recorder, "_judge_resolver", None)
    if recorder is None or resolver is None:
        return
    try:
        judge = resolver()
    except Exception as error:
        failure = error

        def fail() -> Any:
            raise failure

        recorder.bind_judge(fail)
        return
    recorder.bind_judge(lambda: judge)


def _watching_node(watch: _Watch, original: Callable[[Callable[[], object]], None]) -> Any:
    """item.addfinalizer during setup: fixture cleanups other than pytest's own are noted."""

    def addfinalizer(finalizer: Callable[[], object]) -> None:
        owner = getattr(getattr(finalizer, "func", None), "__self__", None)
        if not isinstance(owner, pytest.FixtureDef):
            watch.teardown.append(f"{finalizer!r} (node finalizer)")
        original(finalizer)

    return addfinalizer


def _arguments(item: pytest.Function) -> dict[str, Any] | None:
    """The keyword arguments pytest would call the test function with, or None."""
    try:
        signature = inspect.signature(item.obj)
    except (TypeError, ValueError):
        return None
    arguments: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is not parameter.empty:
            continue
        if parameter.kind is parameter.POSITIONAL_ONLY or name not in item.funcargs:
            return None
        arguments[name] = item.funcargs[name]
    return arguments


def _is_plain_asyncio(backend: object) -> bool:
    """anyio's asyncio backend without options (those would need anyio's own runner)."""
    return backend == "asyncio" or backend == ("asyncio", {})


def _is_ours(func: object) -> bool:
    return getattr(func, "__module__", None) == "pytest_llmeval.plugin"


def _same(a: object, b: object) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


def _interactive(call: pytest.CallInfo[None], report: pytest.TestReport) -> bool:
    """Whether pytest would call pytest_exception_interact for this phase."""
    if call.excinfo is None or hasattr(report, "wasxfail"):
        return False
    unittest = sys.modules.get("unittest")
    skips: tuple[type[BaseException], ...] = (pytest.skip.Exception, bdb.BdbQuit)
    if unittest is not None:
        skips += (unittest.SkipTest,)
    return not isinstance(call.excinfo.value, skips)
