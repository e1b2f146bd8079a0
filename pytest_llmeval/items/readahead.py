"""Which eval tests' cassettes to read ahead, in a replay-only session run in order.

At an eval test whose cassette was not read ahead (the first eval test of a module, or
the first past the last fill), the cassettes of it and of the eval tests that follow it
in the same file, in `session.items` order, are read into the runtime's `Shelf` in one
go (see `capture/cassettes/shelf.py`). The same walk notes which of them another eval
test follows, for whom the placeholder API keys stay set (`Runtime.keep_keys`). Only
where this process's order is certain: a serial session (an xdist worker does not know
its schedule) that writes no cassette (`--llmeval-record=none`, not re-judging).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_llmeval.items.options import MARKER

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.shelf import Shelf
    from pytest_llmeval.items.settings import Settings


def reads_ahead(settings: Settings, config: pytest.Config) -> bool:
    """Whether this process reads cassettes ahead: serial, and nothing writes them."""
    return (
        settings.record_mode == "none"
        and settings.rejudge is None
        and not hasattr(config, "workerinput")
    )


class ReadAhead:
    """Fills the shelf at the tests whose cassettes it does not cover yet."""

    def __init__(self, shelf: Shelf, settings: Settings) -> None:
        self.shelf = shelf
        self._settings = settings
        #: The cassette path of each test the last fill covered (by node id): the same
        #: `Path` objects the shelf holds, so `Shelf.take` finds them by identity.
        self.paths: dict[str, Path] = {}
        #: The tests of the last fill that an eval test follows in `session.items`.
        self._followed: frozenset[str] = frozenset()
        self._cursor = 0

    def before(self, item: pytest.Item) -> bool:
        """Called as `item` opens its cassette: fill the shelf unless it was read ahead.
        Return whether the test that runs next is an eval test too."""
        nodeid = item.nodeid
        if nodeid not in self.paths:
            self._fill(item)
        return nodeid in self._followed

    def _fill(self, item: pytest.Item) -> None:
        from pytest_llmeval.capture.cassettes.store import cassette_path

        following, followed = self._following(item)
        cassette_dir = self._settings.cassette_dir
        paths = [cassette_path(item.path, nodeid, cassette_dir) for nodeid in following]
        read = self.shelf.fill(paths)
        self.paths = dict(zip(following[:read], paths[:read], strict=True))
        self._followed = followed

    def _following(self, item: pytest.Item) -> tuple[list[str], frozenset[str]]:
        """The node ids of `item` and of the eval tests after it in the same file, up to
        the first test of another file (only `item` when it is not in `session.items`),
        and those of them the next item of which is an eval test."""
        items = item.session.items
        try:
            position = items.index(item, self._cursor)
        except ValueError:
            try:
                position = items.index(item)
            except ValueError:
                return [item.nodeid], frozenset()
        self._cursor = position
        path = item.path
        following: list[str] = []
        followed: set[str] = set()
        previous = None  # the node id of the item before, if an eval test
        for other in items[position:]:
            evaluated = other.get_closest_marker(MARKER) is not None
            if evaluated and previous is not None:
                followed.add(previous)
            if other.path != path:
                break
            previous = other.nodeid if evaluated else None
            if evaluated:
                following.append(other.nodeid)
        return following, frozenset(followed)
