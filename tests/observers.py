"""A cassette session observer for tests that drive `CassetteSession` directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_llmeval.capture.cassettes.calls import Exchange
from pytest_llmeval.capture.cassettes.match import LiveRequest
from pytest_llmeval.capture.cassettes.models import Interaction


class ExchangeLog(list[Exchange]):
    """Keeps every exchange a session reports; lets every live call through and stores
    what `meta` returns with each recorded interaction (nothing by default)."""

    def __init__(self, meta: Callable[[Interaction], dict[str, Any]] | None = None) -> None:
        super().__init__()
        self._meta = meta

    def before_live(self, request: LiveRequest) -> None:
        """Let the call go live."""

    def annotate(self, interaction: Interaction) -> dict[str, Any]:
        """The meta fields `meta` gives for the interaction."""
        return {} if self._meta is None else self._meta(interaction)

    def exchanged(self, exchange: Exchange) -> None:
        """Keep the exchange."""
        self.append(exchange)
