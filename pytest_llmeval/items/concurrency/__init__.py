"""`--llmeval-concurrency N`: the bodies of async llm_eval tests overlap on one event loop.

Registered by `start_concurrency` (plugin.py's pytest_configure, only when N > 1), in each
process that runs tests: a plain run, `-n 0`, or every xdist worker (not the controller).

pytest sets up one test at a time: its setup state is a stack that holds a single test
item, and a function-scoped fixture caches its value on its definition, shared by every
test that requests it. Two tests cannot be "set up" at once through pytest's public API,
so setups and teardowns stay one after the other, in collection order; only the test
*bodies* overlap. The package is split by concern:

- `overlap.py`: what may overlap (fixture watching, finalizer checks) and the tally of
  tests that could not, said once at the end of the session;
- `loop.py`: the event loop the bodies share and how it is driven;
- `items/runner.py`: the pytest plugin object that admits, runs and finishes items;
- `shims.py`: every reach into pytest's and pytest-xdist's internals, in one place.

Left to the ordinary protocol, after the running bodies finish (and counted in the
tally with their reason): tests that are not `async def` llm_eval tests on anyio's
asyncio backend (`@pytest.mark.anyio`); tests using an async fixture (its value belongs
to anyio's loop); tests whose function-scoped fixtures have teardown code, unless
declared safe (`llmeval_concurrency_safe_fixtures`). A test whose parameter of a class,
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

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_llmeval.items.concurrency.runner import ConcurrentRunner
    from pytest_llmeval.items.settings import Settings


def start_concurrency(config: pytest.Config, settings: Settings) -> ConcurrentRunner | None:
    """Register the concurrent runner for this process, or say why it cannot run."""
    from pytest_llmeval.items.concurrency import shims
    from pytest_llmeval.items.concurrency.overlap import SerialTally
    from pytest_llmeval.items.concurrency.runner import ConcurrentRunner

    concurrency = settings.concurrency
    if concurrency <= 1:
        return None
    is_worker = getattr(config, "workerinput", None) is not None
    if not is_worker:
        # the one process that prints: a serial run, or the xdist controller
        config.pluginmanager.register(SerialTally(concurrency), "llmeval-concurrency-tally")
        if config.getoption("dist", "no") != "no":
            return None  # an xdist controller: its workers run the tests (each its own runner)
    reason = _unusable(config)
    worker = None
    if reason is None:
        try:
            worker = shims.xdist_worker(config)
        except shims.InternalsChanged as error:
            reason = str(error)
    if reason is not None:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"--llmeval-concurrency={concurrency} is ignored: {reason}; "
                "tests run one at a time."
            ),
            stacklevel=2,
        )
        return None
    runner = ConcurrentRunner(
        config, concurrency, worker, frozenset(settings.concurrency_safe_fixtures)
    )
    config.pluginmanager.register(runner, "llmeval-concurrency")
    return runner


def _unusable(config: pytest.Config) -> str | None:
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
