"""The controller's view of a session: every eval result, then the aggregate."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pytest_llmeval.capture.budget import SessionBudget
from pytest_llmeval.core.errors import LLMEvalError
from pytest_llmeval.items.settings import Settings
from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.decision import GatePolicy
from pytest_llmeval.records.models import EvalResult, SessionAggregate
from pytest_llmeval.records.session_outcome import BaselineStatus, BudgetOutcome, SessionOutcome

if TYPE_CHECKING:
    from pytest_llmeval.core.redact import Redactor
    from pytest_llmeval.records.baseline import Baseline
    from pytest_llmeval.records.comparison import BaselineComparison
    from pytest_llmeval.records.decision import Correction, GateRule
    from pytest_llmeval.records.diagnostics import JudgeDiagnostics
    from pytest_llmeval.records.variant_results import VariantOutcome


@dataclass
class RunScope:
    """Which tests this run took in, to tell a baseline group that vanished from one that
    is outside the run (a CI shard runs part of the suite; -k/-m deselect).

    A baseline group is covered, so missing from the run means vanished, when the run
    collected a test file of its cases and deselected none of its test functions, or when
    such a file no longer exists but lies under a path pytest was asked to collect.
    """

    rootdir: Path
    #: Node ids pytest collected (after deselection), on this process or xdist workers.
    collected: set[str] = field(default_factory=set)
    #: Node ids -k, -m or another plugin deselected.
    deselected: set[str] = field(default_factory=set)
    #: The paths pytest was asked to collect (absolute; a node id keeps its file only).
    paths: list[Path] = field(default_factory=list)

    def outside(self, baseline: Baseline) -> list[str]:
        """The baseline's groups this run did not cover."""
        collected_files = {nodeid.split("::", 1)[0] for nodeid in self.collected}
        deselected_functions = {_function(nodeid) for nodeid in self.deselected}

        def covers(case_ids: Iterable[str]) -> bool:
            files = {case.split("::", 1)[0] for case in case_ids}
            if files & collected_files:
                return not any(_function(case) in deselected_functions for case in case_ids)
            return any(self._deleted_in_scope(self.rootdir / file) for file in files)

        return [key for key, group in baseline.groups.items() if not covers(group.cases)]

    def _deleted_in_scope(self, path: Path) -> bool:
        if path.exists():
            return False
        return any(path == root or root in path.parents for root in self.paths)


def gate_policy(settings: Settings) -> GatePolicy:
    """The gate policy the settings ask for (the rest of its fields keep their defaults)."""
    return GatePolicy(
        tolerance=settings.tolerance,
        alpha=settings.alpha,
        rule=cast("GateRule", settings.gate),
        correction=cast("Correction", settings.gate_correction),
        cost_tolerance=settings.cost_tolerance,
        latency_tolerance=settings.latency_tolerance,
        fail_on=settings.fail_on,
        cluster_key=settings.cluster_key,
    )


def _function(nodeid: str) -> str:
    """The test function of a node id: its parameters and repeat suffix dropped."""
    return nodeid.split("[", 1)[0]


class EvalSession:
    """Collects EvalResults (from this process or xdist workers) and adds them up once."""

    def __init__(
        self, settings: Settings, ledger: str | None = None, redactor: Redactor | None = None
    ) -> None:
        from pytest_llmeval.core.redact import Redactor

        self.settings = settings
        #: The process's one redactor (the runtime's, when this process runs eval items):
        #: every file written below goes through it.
        self.redactor = redactor if redactor is not None else Redactor(settings.redact)
        #: Everything that decides a regression, from the settings.
        self.policy = gate_policy(settings)
        self.results: dict[str, EvalResult] = {}
        #: What the session concluded; set once, by finish.
        self.outcome: SessionOutcome | None = None
        #: One line per file that could not be read or written, while finishing.
        self._file_errors: list[str] = []
        self.started = time.perf_counter()
        self.budget: SessionBudget | None = None
        if settings.max_cost is not None and ledger is not None:
            self.budget = SessionBudget(settings.max_cost, Path(ledger), settings.max_cost_strict)
        #: What the run collected; None (outside pytest) compares with every group.
        self.scope: RunScope | None = None
        #: The baseline the session compared with, once read (the summary's earlier run).
        self.compared_baseline: Baseline | None = None
        #: Summary files written, as shown to the user (the terminal names them).
        self.written: list[str] = []

    def add(self, data: dict[str, Any] | EvalResult) -> None:
        """Take one item's result off a report (its data, or the result itself when made in
        this process); a later phase's result replaces an earlier."""
        result = data if isinstance(data, EvalResult) else EvalResult.model_validate(data)
        self.results[result.nodeid] = result

    def finish(self, pytest_version: str | None = None) -> SessionOutcome:
        """Aggregate everything collected, judge the baseline and write the requested
        files (once, at the end); the outcome every reporter renders."""
        # What exists now (pytest's items and reports, every result) outlives the reports:
        # a full garbage collection triggered by their allocations would walk all of it
        # for nothing (0.5 s at 10,000 results), and pytest collects at unconfigure anyway.
        frozen = gc.get_freeze_count() == 0
        if frozen:
            gc.freeze()
        try:
            return self._finish(pytest_version)
        finally:
            if frozen:
                gc.unfreeze()

    def _finish(self, pytest_version: str | None) -> SessionOutcome:
        aggregate = aggregate_session(self.results.values())
        variants = self._compare_variants(aggregate)
        status: BaselineStatus | None = None
        comparison: BaselineComparison | None = None
        try:
            status, comparison = self._judge_baseline(aggregate)
        except (LLMEvalError, OSError) as error:
            self._file_failed(error)
        from pytest_llmeval.records.diagnostics import diagnostics_of

        judges = diagnostics_of(self.results.values())
        # each output on its own: one that fails does not keep the others from being written
        self._write_reports(aggregate, comparison, pytest_version, variants, judges)
        if self.settings.summary_md is not None:
            self._write_summary(self.settings.summary_md, aggregate, status, comparison, variants)
        if self.settings.otel:
            self._export_telemetry()
        budget = None
        if self.budget is not None:
            budget = BudgetOutcome(
                limit_usd=self.budget.limit_usd,
                spent_usd=self.budget.spent(),
                unpriced=tuple(self.budget.unpriced().items()),
            )
        self.outcome = SessionOutcome(
            aggregate=aggregate,
            policy=self.policy,
            baseline=status,
            comparison=comparison,
            budget=budget,
            file_errors=tuple(self._file_errors),
            judges=judges,
            variants=variants,
        )
        return self.outcome

    def _compare_variants(self, aggregate: SessionAggregate) -> VariantOutcome | None:
        """The variants evals compared, from the results (as `llmeval merge` does)."""
        if not any(result.variant is not None for result in self.results.values()):
            return None
        from pytest_llmeval.records.variant_results import compare_session_variants

        return compare_session_variants(
            self.results.values(),
            aggregate,
            margin=self.settings.variant_margin,
            alpha=self.settings.alpha,
        )

    def _export_telemetry(self) -> None:
        """--llmeval-otel: the results as OpenTelemetry spans; a failed export is one
        line in file_errors, like a report that could not be written."""
        from pytest_llmeval.reporting.otel import export_session

        try:
            export_session(
                self.results.values(),
                content=self.settings.otel_content,
                redact=self.redactor.text,
            )
        except LLMEvalError as error:
            self._file_failed(error)

    def _file_failed(self, error: Exception) -> None:
        """One line for a file that could not be read or written, naming the path given."""
        from pytest_llmeval.core.errors import FileWriteError

        if isinstance(error, FileWriteError):
            text = f"cannot write {self._display(Path(error.path))}: {error.reason}"
        elif isinstance(error, OSError) and error.filename is not None:
            text = f"{self._display(Path(os.fsdecode(error.filename)))}: {error.strerror or error}"
        else:
            text = str(error)
        self._file_errors.append(f"pytest-llm-eval: {text}")

    def _display(self, path: os.PathLike[str]) -> str:
        """A path as shown to the user: relative to the rootdir when inside it."""
        try:
            relative = os.path.relpath(path, self.settings.rootdir)
        except ValueError:
            return os.fspath(path)
        return os.fspath(path) if relative.startswith("..") else relative

    def _judge_baseline(
        self, aggregate: SessionAggregate
    ) -> tuple[BaselineStatus | None, BaselineComparison | None]:
        """Write the baseline (--llmeval-update-baseline) or compare with it."""
        s = self.settings
        if s.baseline is None:
            return None, None
        shown = self._display(s.baseline)
        if not s.update_baseline and not s.baseline.exists():
            # a path someone typed, or a gate CI demands, must not turn the gate off
            demanded_by = s.baseline_source or (
                "--llmeval-require-baseline" if s.require_baseline else None
            )
            if demanded_by is not None:
                from pytest_llmeval.reporting.regression import missing_required_baseline

                raise LLMEvalError(missing_required_baseline(shown, demanded_by))
            return BaselineStatus(shown, "missing"), None
        # the baseline module (and its models) only when there is a baseline to use
        from pytest_llmeval.records.baseline import (
            baseline_from_aggregate,
            load_baseline,
            write_baseline,
        )
        from pytest_llmeval.records.comparison import case_clusters, compare_to_baseline

        if s.update_baseline:
            baseline = baseline_from_aggregate(aggregate)
            write_baseline(s.baseline, baseline, redactor=self.redactor)
            cases = sum(len(g.cases) for g in baseline.groups.values())
            return BaselineStatus(shown, "written", len(baseline.groups), cases), None
        baseline = load_baseline(s.baseline)
        self.compared_baseline = baseline
        comparison = compare_to_baseline(
            aggregate,
            baseline,
            self.policy,
            source=shown,
            outside=self.scope.outside(baseline) if self.scope is not None else (),
            clusters=case_clusters(self.results.values(), self.policy.cluster_key),
        )
        return BaselineStatus(shown, "compared"), comparison

    def _write_reports(
        self,
        aggregate: SessionAggregate,
        comparison: BaselineComparison | None,
        pytest_version: str | None,
        variants: VariantOutcome | None = None,
        judges: JudgeDiagnostics | None = None,
    ) -> None:
        """Write the trace, the JSON report and the HTML report that were asked for; a
        file that cannot be written is one line in file_errors, and the rest still are."""
        s = self.settings
        if s.trace is not None:
            from pytest_llmeval.reporting.trace import write_trace

            try:
                write_trace(s.trace, self.results.values(), redactor=self.redactor)
            except (LLMEvalError, OSError) as error:
                self._file_failed(error)
        if s.report is None and s.html is None:
            return
        from pytest_llmeval.reporting.json import report_settings, stream_report, write_report

        try:
            # each result's report data is made as it is written rather than held for
            # every result at once
            report = stream_report(
                self.results.values(),
                aggregate=aggregate,
                comparison=comparison,
                settings=report_settings(self.settings),
                duration_s=time.perf_counter() - self.started,
                pytest_version=pytest_version,
                variants=variants.comparisons if variants is not None else (),
                judges=judges,
            )
        except LLMEvalError as error:
            self._file_failed(error)
            return
        if s.report is not None and s.html is not None:
            from pytest_llmeval.reporting.html import write_report_and_html

            # both files at once: each result's data made once, shared as it is made
            try:
                failures = write_report_and_html(s.report, s.html, report, redactor=self.redactor)
            except LLMEvalError as error:
                failures = [error]
            for failure in failures:
                if failure is not None:
                    self._file_failed(failure)
            return
        if s.report is not None:
            try:
                write_report(s.report, report, redactor=self.redactor)
            except (LLMEvalError, OSError) as error:
                self._file_failed(error)
        if s.html is not None:
            from pytest_llmeval.reporting.html import write_html

            try:
                write_html(s.html, report, redactor=self.redactor)
            except (LLMEvalError, OSError) as error:
                self._file_failed(error)

    def _write_summary(
        self,
        path: Path,
        aggregate: SessionAggregate,
        status: BaselineStatus | None,
        comparison: BaselineComparison | None,
        variants: VariantOutcome | None,
    ) -> None:
        """--llmeval-summary-md: the review summary as markdown, against the baseline
        when one was compared, else of the run alone, with the variants compared; a
        failed write is one line in file_errors."""
        from pytest_llmeval.core.files import write_text_atomic
        from pytest_llmeval.reporting.markdown import render_markdown
        from pytest_llmeval.reporting.markdown_text import code
        from pytest_llmeval.reporting.summary import summarize_comparison, summarize_run

        compared = [c.model_dump(mode="json") for c in variants.comparisons] if variants else None
        if comparison is not None and status is not None:
            summary = summarize_comparison(
                comparison,
                aggregate,
                old_name=status.path,
                new_name="this run",
                fail_on=self.policy.fail_on,
                old_baseline=self.compared_baseline,
                variants=compared,
            )
        else:
            summary = summarize_run(
                aggregate, name="this run", note=_alone(status), variants=compared
            )
        shown = self._display(path)
        full_lists = (
            f"the JSON report {code(self._display(self.settings.report))}"
            if self.settings.report is not None
            else "the JSON report (`--llmeval-report=PATH`)"
        )
        try:
            write_text_atomic(
                path, render_markdown(summary, full_lists=full_lists), redactor=self.redactor
            )
        except (LLMEvalError, OSError) as error:
            self._file_failed(error)
            return
        self.written.append(shown)


def _alone(status: BaselineStatus | None) -> str:
    """Why a run is summarised alone."""
    if status is None:
        return "no baseline could be read"
    if status.action == "written":
        return f"this run wrote the baseline {status.path}"
    return f"no baseline at {status.path}"
