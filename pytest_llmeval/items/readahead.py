"""Which eval tests' cassettes to read ahead, in a replay-only session run in order.

At an eval test whose cassette was not read ahead (the first eval test of a module, or
the first past the last fill), the cassettes of it and of the eval tests that follow it
in the same file, in `session.items` order, are read into the runtime's `Shelf` in one
go (see `capture/cassettes/shelf.py`). Only where this process's order is certain: a
serial session (an xdist worker does not know its schedule) that writes no cassette
(`--llmeval-record=none`, not re-judging).
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
        self._cursor = 0

    def before(self, item: pytest.Item) -> None:
        """Called as `item` opens its cassette: fill the shelf unless it was read ahead."""
        if item.nodeid in self.paths:
            return
        from pytest_llmeval.capture.cassettes.store import cassette_path

        following = self._following(item)
        cassette_dir = self._settings.cassette_dir
        paths = [cassette_path(item.path, nodeid, cassette_dir) for nodeid in following]
        read = self.shelf.fill(paths)
        self.paths = dict(zip(following[:read], paths[:read], strict=True))

    def _following(self, item: pytest.Item) -> list[str]:
        """The node ids of `item` and of the eval tests after it in the same file, up to
        the first test of another file; only `item` when it is not in `session.items`."""
        items = item.session.items
        try:
            position = items.index(item, self._cursor)
        except ValueError:
            try:
                position = items.index(item)
            except ValueError:
                return [item.nodeid]
        self._cursor = position
        path = item.path
        following = []
        for other in items[position:]:
            if other.path != path:
                break
            if other.get_closest_marker(MARKER) is not None:
                following.append(other.nodeid)
        return following
