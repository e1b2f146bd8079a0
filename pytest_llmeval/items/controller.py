"""The controller-side plugin object: collects the eval results, aggregates, reports.

Registered at configure on the controller (or a serial run), never on xdist workers; its
heavy state is created on the first eval report only. Loaded in every pytest session
(like plugin.py): standard library, pytest and the lifecycle keys only.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmeval.items.lifecycle import (
    DESELECTED_OUTPUT,
    EXTRA_RESULTS_ATTRIBUTE,
    REPORT_ATTRIBUTE,
    RESULTS_ATTRIBUTE,
    ledger_key,
    runtime_key,
)
from pytest_llmeval.items.settings import settings_key

if TYPE_CHECKING:
    from pytest_llmeval.items.session import EvalSession, RunScope


class Controller:
    """The session-side plugin object: collects eval results, aggregates, reports.

    Registered at configure on the controller (or a serial run), never on xdist
    workers; its heavy state is created on the first eval report only.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.session: EvalSession | None = None
        # what the run collected and deselected, so a CI shard's missing groups are not
        # reported as vanished
        self.collected: set[str] = set()
        self.deselected: set[str] = set()
        # whether junitxml writes a file (--junitxml), read on the first teardown report
        self._junit: bool | None = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not session.config.pluginmanager.has_plugin("llmeval-items"):
            return  # no eval test collected: nothing to compare with a baseline
        self.collected.update(item.nodeid for item in session.items)

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        self.deselected.update(item.nodeid for item in items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        self.collected.update(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        self.deselected.update(output.get(DESELECTED_OUTPUT, ()))

    def _scope(self) -> RunScope:
        from pytest_llmeval.items.session import RunScope

        invocation = Path(self.config.invocation_params.dir)
        paths = [invocation / arg.split("::", 1)[0] for arg in self.config.args]
        return RunScope(
            rootdir=Path(self.config.rootpath),
            collected=self.collected,
            deselected=self.deselected,
            paths=[Path(os.path.normpath(path)) for path in paths],
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        # before every other plugin's logreport (junitxml's reads the properties added)
        data = getattr(report, REPORT_ATTRIBUTE, None)
        if data is None:  # no result on it: a setup or teardown report, or no eval test
            self._add_testcase_properties(report)
            return (yield)
        self._take(report, data)
        yield
        # pytest's terminal reporter keeps every report to the end of the session: once
        # the session holds the result, the report keeps only what pytest_report_teststatus
        # reads (10,000 results' data is about 40 MB); one made in this process has only
        # its status already
        data = getattr(report, REPORT_ATTRIBUTE, None)
        if data is not None and len(data) > 1:
            setattr(report, REPORT_ATTRIBUTE, {"status": data.get("status")})
        if getattr(report, EXTRA_RESULTS_ATTRIBUTE, None) is not None:
            setattr(report, EXTRA_RESULTS_ATTRIBUTE, None)

    def _take(self, report: pytest.TestReport, data: dict[str, Any]) -> None:
        """Add the report's result (`data`) to the session, and the JUnit properties of its
        item."""
        if self.session is None:
            from pytest_llmeval.items.session import EvalSession

            ledger = self.config.stash.get(ledger_key, None)
            runtime = self.config.stash.get(runtime_key, None)
            redactor = runtime.redactor if runtime is not None else None
            self.session = EvalSession(self.config.stash[settings_key], ledger, redactor)
        # made in this process: the results themselves, off the report before any other
        # plugin's logreport could serialise it (pytest-reportlog writes report.__dict__)
        results = report.__dict__.pop(RESULTS_ATTRIBUTE, None)
        if results is not None:
            for result in results:
                self.session.add(result)
        else:
            self.session.add(data)
            for extra in getattr(report, EXTRA_RESULTS_ATTRIBUTE, None) or ():  # adaptive runs
                if extra is not None:
                    self.session.add(extra)
        self._add_testcase_properties(report)

    def _add_testcase_properties(self, report: pytest.TestReport) -> None:
        """Put the item's llm_eval.* JUnit properties on its teardown report.

        pytest's junitxml writes a test case's <properties> from the teardown report's
        user_properties; this hook is tryfirst, so it runs before junitxml's.
        """
        if report.when != "teardown" or self.session is None:
            return
        if self._junit is None:
            self._junit = bool(self.config.getoption("xmlpath", None))
        if not self._junit:
            return
        result = self.session.results.get(report.nodeid)
        if result is not None:
            from pytest_llmeval.reporting.junit import testcase_properties

            redact = self.session.redactor.text
            properties = testcase_properties(result)
            report.user_properties.extend((redact(n), redact(v)) for n, v in properties)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.session is None:
            return
        self.session.scope = self._scope()
        outcome = self.session.finish(pytest_version=pytest.__version__)
        if outcome.file_error is not None and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.TESTS_FAILED,
        ):
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        if outcome.failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.config.getoption("xmlpath", None):
            # Before junitxml's own sessionfinish writes the file (this hook is tryfirst).
            from pytest_llmeval.reporting.junit import (
                add_suite_properties,
                suite_properties,
                variant_properties,
            )

            redact = self.session.redactor.text
            properties = suite_properties(outcome.aggregate, outcome.comparison)
            if outcome.variants is not None:
                labels = {group.group: group.label for group in outcome.aggregate.groups}
                properties += variant_properties(outcome.variants.comparisons, labels)
            add_suite_properties(
                self.config.pluginmanager.get_plugins(),
                [(redact(name), redact(value)) for name, value in properties],
            )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.session is None or self.session.outcome is None:
            return
        from pytest_llmeval.reporting.terminal import write_summary

        write_summary(terminalreporter, self.session.outcome)
        for path in self.session.written:  # as junitxml names its file
            terminalreporter.write_sep("-", f"generated llm_eval markdown summary: {path}")

    @pytest.hookimpl(wrapper=True, tryfirst=True, specname="pytest_terminal_summary")
    def pytest_terminal_summary_verdict(self, terminalreporter: Any) -> Generator[None, None, None]:
        # the outermost wrapper: its line comes after pytest's short test summary, right
        # above pytest's last line
        try:
            return (yield)
        finally:
            if self.session is not None and self.session.outcome is not None:
                from pytest_llmeval.reporting.terminal import write_verdict

                write_verdict(terminalreporter, self.session.outcome)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        config.pluginmanager.unregister(self)
