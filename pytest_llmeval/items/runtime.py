"""Per-process state shared by the eval items of a session (created on the first one).

Holds what is parsed or opened once: price overrides, the optional response cache,
and which unpriced models were already warned about.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmeval.capture.budget import SessionBudget
from pytest_llmeval.core.errors import LLMEvalError
from pytest_llmeval.items.options import OPTIONS_BY_DEST
from pytest_llmeval.items.settings import Settings

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.cache import ResponseCache
    from pytest_llmeval.capture.cassettes.match import Matcher
    from pytest_llmeval.capture.cassettes.shelf import Shelf
    from pytest_llmeval.capture.price_overrides import ModelPrice
    from pytest_llmeval.core.redact import Redactor
    from pytest_llmeval.items.readahead import ReadAhead

CACHE_DIR = ".llmeval_cache"


@dataclass
class Runtime:
    """Shared, lazily built resources of the eval items run by this process."""

    settings: Settings
    price_overrides: dict[str, ModelPrice] = field(default_factory=dict)
    budget: SessionBudget | None = None
    _cache: ResponseCache | None = None
    _redactor: Redactor | None = None
    _holding: bool = False
    _pending_folders: tuple[Path, ...] | None = None
    _matcher: Matcher | None = None
    _watch_bypass: Callable[[], None] | None = None
    #: Whether eval tests' cassettes are read ahead (see `items/readahead.py`).
    reads_ahead: bool = False
    #: The cassettes read ahead, once the first eval test filled it.
    shelf: Shelf | None = None
    _read_ahead: ReadAhead | None = None

    @classmethod
    def create(
        cls, settings: Settings, ledger: str | None = None, *, reads_ahead: bool = False
    ) -> Runtime:
        """Parse what the settings left as text; a bad value names its option. With
        `reads_ahead`, eval tests' cassettes are read ahead (`read_ahead`)."""
        overrides: dict[str, ModelPrice] = {}
        if settings.prices or settings.free_hosts:  # the parser loads only when one is set
            overrides = _price_overrides(settings)
        budget = None
        if settings.max_cost is not None and ledger is not None:
            budget = SessionBudget(settings.max_cost, Path(ledger), settings.max_cost_strict)
        return cls(settings, overrides, budget, reads_ahead=reads_ahead)

    def read_ahead(self, item: Any) -> None:
        """Before the pytest item `item` opens its cassette: read it and those of the
        eval tests after it ahead, unless that was done (see `items/readahead.py`)."""
        if not self.reads_ahead:
            return
        if self._read_ahead is None:
            from pytest_llmeval.capture.cassettes.shelf import Shelf
            from pytest_llmeval.items.readahead import ReadAhead

            self.shelf = Shelf(self.matcher)
            self._read_ahead = ReadAhead(self.shelf, self.settings)
        self._read_ahead.before(item)

    def read_ahead_path(self, nodeid: str) -> Path | None:
        """The cassette path of a test whose cassette was read ahead (the very object the
        shelf holds); None for any other."""
        return self._read_ahead.paths.get(nodeid) if self._read_ahead is not None else None

    @property
    def redactor(self) -> Redactor:
        """The built-in and configured secret patterns (--llmeval-redact)."""
        if self._redactor is None:
            from pytest_llmeval.core.redact import Redactor

            self._redactor = Redactor(self.settings.redact)
        return self._redactor

    @property
    def cache(self) -> ResponseCache | None:
        """The cross-test response cache, when --llmeval-cache is on."""
        if not self.settings.cache:
            return None
        if self._cache is None:
            from pytest_llmeval.capture.cassettes.cache import ResponseCache

            self._cache = ResponseCache(
                Path(self.settings.rootdir) / CACHE_DIR, redactor=self.redactor
            )
        return self._cache

    @property
    def matcher(self) -> Matcher:
        """How requests are matched (--llmeval-match-ignore), shared by the cassettes."""
        if self._matcher is None:
            from pytest_llmeval.capture.cassettes.match import Matcher

            self._matcher = Matcher(self.redactor, self.settings.match_ignore)
        return self._matcher

    @property
    def pending_folders(self) -> tuple[Path, ...]:
        """Where recordings a cassette could not take wait (see `cassettes/pending.py`)."""
        if self._pending_folders is None:
            from pytest_llmeval.capture.cassettes.pending import pending_folders

            self._pending_folders = tuple(pending_folders(Path(self.settings.rootdir)))
        return self._pending_folders

    def hold_interception(self) -> None:
        """Keep the HTTP transports patched until `close`: not patched and restored per
        test; and watch the clients that bypass them (again each test: new imports)."""
        if self._watch_bypass is not None:
            self._watch_bypass()
            return
        from pytest_llmeval.capture.cassettes import bypass, intercept

        intercept.hold()
        bypass.hold()
        self._holding = True
        self._watch_bypass = bypass.watch

    def close(self) -> None:
        """Restore the HTTP transports, release the cache's files and drop the cassettes
        read ahead."""
        if self.shelf is not None:
            self.shelf.clear()
        if self._holding:
            from pytest_llmeval.capture.cassettes import bypass, intercept

            intercept.release()
            bypass.release()
            self._holding = False
            self._watch_bypass = None
        if self._cache is not None:
            close = getattr(self._cache, "close", None)
            if close is not None:
                close()
            self._cache = None


def _price_overrides(settings: Settings) -> dict[str, ModelPrice]:
    """The price overrides and free hosts the settings give; a bad value names its option."""
    from pytest_llmeval.capture.price_overrides import parse_free_hosts, parse_price_overrides

    for dest, parse in (("free_hosts", parse_free_hosts), ("prices", parse_price_overrides)):
        try:
            parse(list(getattr(settings, dest)))
        except ValueError as error:
            option = OPTIONS_BY_DEST[dest]
            raise LLMEvalError(
                f"bad value for ini option {option.ini} ({option.flag}): {error}"
            ) from None
    try:
        return parse_price_overrides(list(settings.prices), settings.free_hosts)
    except ValueError as error:  # a host both free and priced
        names = " and ".join(OPTIONS_BY_DEST[dest].ini for dest in ("free_hosts", "prices"))
        raise LLMEvalError(f"bad value for ini options {names}: {error}") from None
