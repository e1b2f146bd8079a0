"""The controller's view of a session: every eval result, then the aggregate."""

from __future__ import annotations

from typing import Any

from pytest_llmeval.aggregate import aggregate_session
from pytest_llmeval.models import EvalResult, GroupAggregate, SessionAggregate
from pytest_llmeval.settings import Settings


class EvalSession:
    """Collects EvalResults (from this process or xdist workers) and adds them up once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.results: dict[str, EvalResult] = {}
        self.aggregate: SessionAggregate | None = None

    def add(self, data: dict[str, Any]) -> None:
        """Take one item's result off a report; a later phase's result replaces an earlier."""
        result = EvalResult.model_validate(data)
        self.results[result.nodeid] = result

    def finish(self) -> None:
        """Aggregate everything collected and write the requested files (once, at the end)."""
        self.aggregate = aggregate_session(self.results.values())
        if self.settings.trace is not None:
            from pytest_llmeval.reporting.trace import write_trace

            write_trace(self.settings.trace, self.results.values())

    @property
    def failing_groups(self) -> list[GroupAggregate]:
        """Groups whose pass rate fell below their min_pass_rate."""
        if self.aggregate is None:
            return []
        return [g for g in self.aggregate.groups if g.failed_min_pass_rate]

    @property
    def failed(self) -> bool:
        """Whether the eval results alone must fail the session."""
        return bool(self.failing_groups)
