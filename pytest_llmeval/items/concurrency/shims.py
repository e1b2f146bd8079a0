"""Every reach of `--llmeval-concurrency` into pytest's and pytest-xdist's internals.

pytest's public API runs one test at a time; overlapping test bodies needs a few things
it does not offer. They all live here, so they can be audited for each pytest and
pytest-xdist release; `tests/test_concurrency_shims.py` exercises each against the
installed versions and fails loudly when one changes:

- `collector_finalizers` reads `session._setupstate.stack` (which cleanups finalizing a
  class or module would run), `finalizer_fixture` recognises pytest's own
  `FixtureDef.finish` among them;
- `xdist_worker` finds xdist's `WorkerInteractor` and `reporting_as` sets its
  `item_index`, so a report sent during a later test's protocol carries its own test's
  index;
- `RoutedStream` stands in for `sys.stdout`/`sys.stderr` while bodies run, so what a
  body prints reaches its own test's report;
- `overlaid_stash` swaps `item.stash` for a `DeferredStash` during an early teardown;
- `patched` replaces a method on a pytest object (`addfinalizer`, `runtest`) for the
  length of a block.

When one of these finds a shape it does not know, it raises `InternalsChanged`; the
runner then says so once and keeps the affected tests attached (never silently).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from typing import Any, TextIO

import pytest


class InternalsChanged(Exception):
    """A pytest or pytest-xdist internal the runner relies on is not as it knows it."""


def collector_finalizers(session: pytest.Session, nodes: Iterable[pytest.Item]) -> list[Any]:
    """The cleanups pytest's setup state holds for these nodes (run when they finalize)."""
    try:
        stack = session._setupstate.stack
        return [finalizer for node in nodes for finalizer in stack[node][0]]
    except (AttributeError, KeyError, TypeError, IndexError) as error:
        raise InternalsChanged(
            f"pytest {pytest.__version__}'s setup state (session._setupstate.stack) is not "
            f"a mapping of node -> (finalizers, exception) ({type(error).__name__}: {error})"
        ) from None


def is_collector_teardown(finalizer: object) -> bool:
    """Whether a finalizer is a collector's own `teardown`, not overridden (a no-op)."""
    return getattr(finalizer, "__func__", None) is pytest.Collector.teardown


def finalizer_fixture(finalizer: object) -> pytest.FixtureDef[Any] | None:
    """The FixtureDef whose `finish` this finalizer is (pytest registers
    `functools.partial(fixturedef.finish, request=...)`), else None."""
    owner = getattr(getattr(finalizer, "func", None), "__self__", None)
    return owner if isinstance(owner, pytest.FixtureDef) else None


def xdist_worker(config: pytest.Config) -> Any:
    """pytest-xdist's worker object, on a worker (None elsewhere): it tags each report it
    sends to the controller with `item_index`, the index of the test whose protocol is
    running."""
    if getattr(config, "workerinput", None) is None:
        return None
    for plugin in config.pluginmanager.get_plugins():
        # the class lives in xdist/remote.py, which execnet runs as `__channelexec__`
        if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "sendevent"):
            return plugin
    raise InternalsChanged(
        "this pytest-xdist version has no WorkerInteractor plugin on the worker, so a "
        "worker cannot report tests out of turn"
    )


@contextmanager
def reporting_as(worker: Any, index: int) -> Generator[None, None, None]:
    """Reports sent by the xdist worker in this block are tagged with test `index`."""
    if not hasattr(worker, "item_index"):
        raise InternalsChanged("pytest-xdist's WorkerInteractor has no item_index")
    saved = worker.item_index
    worker.item_index = index
    try:
        yield
    finally:
        worker.item_index = saved


@contextmanager
def patched(obj: object, name: str, replacement: Callable[..., Any]) -> Generator[None]:
    """`obj.name` is `replacement` for the length of the block (an instance attribute
    shadowing the method; deleted after, so the class's method shows again)."""
    setattr(obj, name, replacement)
    try:
        yield
    finally:
        delattr(obj, name)


class RoutedStream:
    """sys.stdout or sys.stderr while bodies run: a body's writes go to its own buffer."""

    def __init__(
        self, target: TextIO, buffer_of: Callable[[], dict[str, list[str]] | None], key: str
    ) -> None:
        self._target = target
        self._buffer_of = buffer_of
        self._key = key

    def write(self, text: str) -> int:
        buffer = self._buffer_of()
        if buffer is None:
            return self._target.write(text)
        buffer[self._key].append(text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


@contextmanager
def routed_output(
    buffer_of: Callable[[], dict[str, list[str]] | None],
) -> Generator[None, None, None]:
    """Route sys.stdout/sys.stderr writes to the running body's buffer, if it has one."""
    saved = sys.stdout, sys.stderr
    sys.stdout = RoutedStream(saved[0], buffer_of, "stdout")
    sys.stderr = RoutedStream(saved[1], buffer_of, "stderr")
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class DeferredStash:
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


@contextmanager
def overlaid_stash(
    item: pytest.Item, hidden: set[pytest.StashKey[Any]]
) -> Generator[DeferredStash, None, None]:
    """item.stash is a DeferredStash for the block; its `deleted` keys are for later."""
    real = item.stash
    overlay = DeferredStash(real, hidden)
    item.stash = overlay  # type: ignore[assignment]
    try:
        yield overlay
    finally:
        item.stash = real


def watching_finalizers(
    original: Callable[[Callable[[], object]], None], note: Callable[[Callable[[], object]], None]
) -> Callable[[Callable[[], object]], None]:
    """An `addfinalizer` that tells `note` about each finalizer, then registers it."""

    @functools.wraps(original)
    def addfinalizer(finalizer: Callable[[], object]) -> None:
        note(finalizer)
        original(finalizer)

    return addfinalizer
