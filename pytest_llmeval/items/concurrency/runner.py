"""The runner behind `--llmeval-concurrency`: admits items, lets their bodies overlap on
the shared loop, and finishes them in collection order.

Per item, from `pytest_runtest_protocol`:

1. admit: run the setup phase inside a fresh `contextvars.Context` (the plugin's setup
   wrapper starts the item's cassette there, so `intercept.current_cassette` is the item's
   own), call the test function with its fixture values and start the coroutine as a
   task of the one event loop, in that context. A semaphore lets N bodies run; up to
   4N items are admitted ahead, their bodies waiting for a slot.
2. detach: when nothing the body uses is finalized by the item's teardown (see
   overlap.py), that teardown runs at once (with the real `nextitem`), so the next item
   can be set up while this body runs; the cassette is stopped after the body (the
   item's run is hidden from the plugin's teardown wrapper meanwhile). Otherwise the
   item stays attached: its teardown after its body and no item admitted until then.
3. finish, in collection order once the body is done: the call phase runs through the
   normal hooks with `item.runtest` replaced by one that returns or raises the body's
   outcome (so the plugin's call wrapper scores it as usual), then the teardown report is
   made, and logstart, the three reports and logfinish are logged together. On an xdist
   worker they are sent tagged with their own test's index.
"""

from __future__ import annotations

import bdb
import contextvars
import inspect
import sys
from collections import deque
from collections.abc import Generator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from pytest_llmeval.items.concurrency import shims
from pytest_llmeval.items.concurrency.loop import Body, BodyLoop
from pytest_llmeval.items.concurrency.overlap import (
    SERIAL_ATTRIBUTE,
    FixtureWatch,
    OverlapRules,
    is_plain_asyncio,
)
from pytest_llmeval.items.lifecycle import run_key, stop_capture

#: Items admitted per running slot: bodies that wait for a slot are ready to start the
#: moment one frees, without waiting for pytest's bookkeeping of the finished test.
AHEAD = 4

BodyKind = Literal["loop", "ordinary", "none"]


@dataclass
class _Entry:
    """One admitted item on its way through the pipeline."""

    item: pytest.Function
    nextitem: pytest.Item | None
    setup_call: pytest.CallInfo[None]
    setup_report: pytest.TestReport
    body: Body
    teardown_call: pytest.CallInfo[None] | None = None  # set when detached
    deleted: list[pytest.StashKey[Any]] = field(default_factory=list)  # by the early teardown
    kind: BodyKind = "none"
    start_early: bool = True

    @property
    def detached(self) -> bool:
        return self.teardown_call is not None

    @property
    def context(self) -> contextvars.Context:
        return self.body.context


class ConcurrentRunner:
    """The plugin object behind --llmeval-concurrency: admits, runs and finishes items."""

    def __init__(
        self,
        config: pytest.Config,
        concurrency: int,
        xdist_worker: Any = None,
        safe_fixtures: frozenset[str] = frozenset(),
    ) -> None:
        self.config = config
        self.xdist_worker = xdist_worker
        self.item_indexes: dict[int, int] | None = None
        self.ahead = AHEAD * concurrency
        self.loop = BodyLoop(concurrency, capture=config.getoption("capture", "fd") != "no")
        self.rules = OverlapRules(config, safe_fixtures)
        self.reraise: tuple[type[BaseException], ...] = (pytest.exit.Exception, KeyboardInterrupt)
        self.pending: deque[_Entry] = deque()
        self.serial: dict[str, str] = {}  # nodeid -> why its body ran alone
        self.internals_warned = False

    # -- hooks --------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        cause = self.rules.not_candidate(item)
        if cause is not None or not isinstance(item, pytest.Function) or not _is_eval(item):
            if cause is not None:
                self.serial[item.nodeid] = cause
            self.drain()
            self.rules.remember(item)
            return None
        if self.pending and self.rules.reparametrizes(item):
            self.drain()
        self.rules.remember(item)
        entry = self._admit(item, nextitem)
        self._warn_internals(item)
        if entry.detached:
            self.loop.pump()
            self._finish_ready()
            while len(self.pending) >= self.ahead:
                self.loop.wait_for(self.pending[0].body)
                self.loop.settle()
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
        note = self.rules.note_fixture(fixturedef)
        if note is None:
            return (yield)
        with shims.patched(
            request, "addfinalizer", shims.watching_finalizers(request.addfinalizer, note)
        ):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "call" and item.nodeid in self.serial:
            setattr(report, SERIAL_ATTRIBUTE, self.serial[item.nodeid])
        elif report.when == "teardown":
            self.serial.pop(item.nodeid, None)
        return report

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
            self.loop.close()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.loop.close()
        config.pluginmanager.unregister(self)

    def _warn_internals(self, item: pytest.Item) -> None:
        problem = self.rules.internals_problem
        if problem is not None and not self.internals_warned:
            self.internals_warned = True
            item.warn(
                pytest.PytestWarning(
                    f"--llmeval-concurrency: {problem}; the last test of each class or "
                    "module waits for the running bodies. Please report this with your "
                    "pytest version."
                )
            )

    # -- admit --------------------------------------------------------------------------

    def _admit(self, item: pytest.Function, nextitem: pytest.Item | None) -> _Entry:
        body = Body(contextvars.copy_context())
        watch = self.rules.watch = FixtureWatch()
        addfinalizer = shims.watching_finalizers(item.addfinalizer, self.rules.note_node_finalizer)
        try:
            with shims.patched(item, "addfinalizer", addfinalizer):
                setup = pytest.CallInfo.from_call(
                    lambda: body.context.run(_setup, item), when="setup", reraise=self.reraise
                )
        finally:
            self.rules.watch = None
        report = item.ihook.pytest_runtest_makereport(item=item, call=setup)
        entry = _Entry(item, nextitem, setup, report, body)
        self.pending.append(entry)
        if not entry.setup_report.passed:
            if not self.rules.finalizes_in_use(item, nextitem):
                self._teardown_now(entry)
            return entry
        arguments = _arguments(item)
        backend = item.funcargs.get("anyio_backend")
        coroutine = None
        if arguments is not None and not watch.async_fixtures and is_plain_asyncio(backend):
            try:
                coroutine = entry.context.run(item.obj, **arguments)
            except Exception:  # pytest's own call phase will raise it again and report it
                coroutine = None
        if not inspect.iscoroutine(coroutine):
            entry.kind = "ordinary"
            if watch.async_fixtures:
                self.serial[item.nodeid] = f"uses async fixture '{watch.async_fixtures[0]}'"
            return entry
        entry.kind, body.coroutine = "loop", coroutine
        session = item.session
        if watch.teardown or "request" in (arguments or {}):
            entry.start_early = False
            self.serial[item.nodeid] = (
                watch.teardown[0] if watch.teardown else "the test takes the request fixture"
            )
        elif not (
            session.shouldfail or session.shouldstop or self.rules.finalizes_in_use(item, nextitem)
        ):
            self._teardown_now(entry)
        if entry.start_early:
            self.loop.start(body)
        return entry

    def _teardown_now(self, entry: _Entry) -> None:
        """Run the item's teardown before its body ends.

        Through a stash overlay: the plugin's teardown wrapper does not see the item's run
        (its cassette keeps recording), and what teardown hooks delete from the stash (the
        logging plugin's caplog keys) is deleted only after the call phase.
        """
        item = entry.item
        with shims.overlaid_stash(item, hidden={run_key}) as overlay:
            entry.teardown_call = pytest.CallInfo.from_call(
                lambda: entry.context.run(
                    item.ihook.pytest_runtest_teardown, item=item, nextitem=entry.nextitem
                ),
                when="teardown",
                reraise=self.reraise,
            )
        entry.deleted = overlay.deleted

    # -- finish -------------------------------------------------------------------------

    def drain(self) -> None:
        """Finish every admitted item, in order, waiting for the bodies still running."""
        while self.pending:
            head = self.pending[0]
            if head.detached:
                self.loop.wait_for(head.body)
            self._finish(self.pending.popleft())

    def _finish_ready(self) -> None:
        while self.pending and self.pending[0].body.done and self.pending[0].detached:
            self._finish(self.pending.popleft())

    def _finish(self, entry: _Entry) -> None:
        worker = self.xdist_worker
        if worker is None:
            reporting: Any = nullcontext()
        else:
            if self.item_indexes is None:
                items = entry.item.session.items
                self.item_indexes = {id(each): i for i, each in enumerate(items)}
            reporting = shims.reporting_as(worker, self.item_indexes[id(entry.item)])
        with reporting:
            self._finish_item(entry)

    def _finish_item(self, entry: _Entry) -> None:
        item, ihook = entry.item, entry.item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        self._log(item, entry.setup_call, entry.setup_report)
        if entry.setup_report.passed:
            call = self._call(entry)
            self._log(item, call, self._call_report(entry, call))
            self.loop.cancel(entry.body)  # a hook failed before `runtest`: not past fixtures
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
        self.loop.forget(entry.body)
        item.funcargs = {}

    def _call(self, entry: _Entry) -> pytest.CallInfo[None]:
        item, body = entry.item, entry.body
        if entry.kind == "ordinary":
            return pytest.CallInfo.from_call(
                lambda: entry.context.run(item.ihook.pytest_runtest_call, item=item),
                when="call",
                reraise=self.reraise,
            )
        for key, parts in body.output.items():
            item.add_report_section("call", key, "".join(parts))

        def runtest() -> None:
            __tracebackhide__ = True
            body.buffered = False  # from here on, pytest's capture of the call phase applies
            self.loop.start(body)
            self.loop.wait_for(body)
            if body.outcome is not None:
                raise body.outcome

        with shims.patched(item, "runtest", runtest):
            return pytest.CallInfo.from_call(
                lambda: item.ihook.pytest_runtest_call(item=item),
                when="call",
                reraise=self.reraise,
            )

    def _call_report(self, entry: _Entry, call: pytest.CallInfo[None]) -> pytest.TestReport:
        """The call report, timed by the body rather than by its replay."""
        item, body = entry.item, entry.body
        run = item.stash.get(run_key, None)
        if body.duration is not None and run is not None and run.result is not None:
            update = {"duration_s": round(body.duration, 6)}
            run.result = run.result.model_copy(update=update)
        report: pytest.TestReport = item.ihook.pytest_runtest_makereport(item=item, call=call)
        if body.duration is not None and body.started is not None and body.stopped is not None:
            report.duration, report.start, report.stop = body.duration, body.started, body.stopped
        return report

    def _deferred_teardown(
        self, entry: _Entry, early: pytest.CallInfo[None]
    ) -> pytest.CallInfo[None]:
        """Stop the cassette now that the body is done; the early teardown's errors win."""
        item = entry.item
        run = item.stash.get(run_key, None)

        def stop() -> None:
            if run is not None:
                stop_capture(item, run)

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
        while self.pending:
            entry = self.pending.popleft()
            self.loop.abandon(entry.body)
            run = entry.item.stash.get(run_key, None)
            if run is not None and entry.detached:
                try:
                    entry.context.run(stop_capture, entry.item, run)
                except Exception:  # the session is being interrupted already
                    pass


def _is_eval(item: pytest.Item) -> bool:
    from pytest_llmeval.items.options import MARKER

    return item.get_closest_marker(MARKER) is not None


def _setup(item: pytest.Function) -> None:
    item.ihook.pytest_runtest_setup(item=item)
    # resolve llm_judge now, while the item is set up: a detached body cannot request it
    recorder = item.funcargs.get("llm_eval")
    pin = getattr(recorder, "pin_judge", None)
    if pin is not None:
        pin()


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


def _interactive(call: pytest.CallInfo[None], report: pytest.TestReport) -> bool:
    """Whether pytest would call pytest_exception_interact for this phase."""
    if call.excinfo is None or hasattr(report, "wasxfail"):
        return False
    unittest = sys.modules.get("unittest")
    skips: tuple[type[BaseException], ...] = (pytest.skip.Exception, bdb.BdbQuit)
    if unittest is not None:
        skips += (unittest.SkipTest,)
    return not isinstance(call.excinfo.value, skips)
