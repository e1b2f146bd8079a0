"""Cassettes read ahead of their tests, in replay-only sessions.

In a session that writes no cassette (`--llmeval-record=none`), the cassettes of the
eval tests that follow one another in a module are read, validated and indexed in one
go at the first of them (`Shelf.fill`); each test then takes its own (`Shelf.take`)
instead of reading it between the SDK's calls, where every step costs two to three
times what it costs in a loop (the SDK's work evicts the plugin's code and data from
the CPU caches).

A test sees exactly what it would have read itself: a cassette is taken only if the
file still has the signature (inode, size, mtime) it had when it was read, and a file
that is missing, unreadable, too big or invalid is not kept, so its test reads it and
meets the same error, at that test. What is not taken is dropped at the next fill.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmeval.capture.cassettes.calls import Replayable
from pytest_llmeval.capture.cassettes.store import (
    DEFAULT_MAX_BYTES,
    Signature,
    file_signature,
    parse_cassette,
    read_cassette_bytes,
)

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.match import Matcher
    from pytest_llmeval.capture.cassettes.models import Interaction

#: Replayable interactions by their canonical request key, in file order.
Queues = dict[tuple[str, str, str], deque[Replayable]]

#: How many bytes of cassette files one fill reads at most; the tests past it read
#: their own, or the next fill's (a module of big cassettes is not held whole).
FILL_BYTES = 16 * 1024 * 1024


@dataclass
class Prepared:
    """A cassette read, validated and indexed for replay, with the file's signature then."""

    signature: Signature
    interactions: list[Interaction]
    index: list[Replayable]
    queues: Queues


def index_interactions(
    interactions: Sequence[Interaction], matcher: Matcher
) -> tuple[list[Replayable], Queues]:
    """Each interaction with its canonical request (in file order), and the same entries
    queued by request key: what replay pops from."""
    index: list[Replayable] = []
    queues: Queues = {}
    for interaction in interactions:
        canonical = matcher.recorded(interaction.request)
        key = canonical.key
        entry = Replayable(interaction, key, canonical.parsed)
        index.append(entry)
        queue = queues.get(key)
        if queue is None:
            queue = queues[key] = deque()
        queue.append(entry)
    return index, queues


class Shelf:
    """Prepared cassettes by path, each taken once (see the module docstring)."""

    def __init__(self, matcher: Matcher, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._matcher = matcher
        self._max_bytes = max_bytes
        self._ready: dict[Path, Prepared] = {}

    def fill(self, paths: Iterable[Path]) -> int:
        """Drop what was not taken, then read and index the cassettes at `paths`, in
        order, until `FILL_BYTES` are read; return how many paths were gone through.

        Each step runs over all the files before the next starts (read them all, then
        validate them all, then index them all), so each step's code stays hot."""
        self._ready = ready = {}
        budget = FILL_BYTES
        seen = 0
        read: list[tuple[Path, Signature, bytes]] = []
        for path in paths:
            seen += 1
            try:
                signature, raw = read_cassette_bytes(path, max_bytes=self._max_bytes)
            except Exception:  # its test reads it again and meets the same error
                continue
            if raw is None:
                continue
            read.append((path, signature, raw))
            budget -= len(raw)
            if budget <= 0:
                break
        loaded: list[tuple[Path, Signature, list[Interaction]]] = []
        for path, signature, raw in read:
            try:
                loaded.append((path, signature, list(parse_cassette(path, raw).interactions)))
            except Exception:  # as above
                continue
        matcher = self._matcher
        for path, signature, interactions in loaded:
            try:
                index, queues = index_interactions(interactions, matcher)
            except Exception:  # as above
                continue
            ready[path] = Prepared(signature, interactions, index, queues)
        return seen

    def take(self, path: Path) -> Prepared | None:
        """The cassette prepared for `path` (once), if the file is still the one read."""
        prepared = self._ready.pop(path, None)
        if prepared is None:
            return None
        try:
            signature = file_signature(path)
        except OSError:  # its test reads it and meets the error
            return None
        return prepared if signature == prepared.signature else None

    def clear(self) -> None:
        """Drop every prepared cassette."""
        self._ready = {}
