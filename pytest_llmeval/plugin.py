"""pytest hooks and fixtures of pytest-llm-eval.

This module is imported in every pytest session of everyone who installed the
plugin, so it imports only the standard library, pytest and settings; each
hook returns after one cheap check when no llm_eval test is involved, and the
heavy modules (pydantic models, interception, SDKs) load inside the functions
that first need them.
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
    REPEAT_FIXTURE,
    REPORT_ATTRIBUTE,
    RESULTS_ATTRIBUTE,
    checked_spec,
    function_nodeid,
    ledger_key,
    own_fixture,
    run_key,
    runtime_key,
    runtime_of,
    start_run,
    stop_capture,
    variant_functions_key,
    warn_unplayed,
)
from pytest_llmeval.items.options import MARKER, MARKER_HELP
from pytest_llmeval.items.settings import add_options, resolve_settings, settings_key

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.session import CassetteSession
    from pytest_llmeval.items.recorder import EvalRecorder
    from pytest_llmeval.items.runner import ItemRun
    from pytest_llmeval.judges.api import Judge
    from pytest_llmeval.records.injection import FaultPlan


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    settings = config.stash[settings_key] = resolve_settings(config)
    if settings.concurrency > 1:
        from pytest_llmeval.items.concurrency import start_concurrency

        start_concurrency(config, settings)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        ledger = workerinput.get("llmeval_ledger")
        if ledger is not None:
            config.stash[ledger_key] = ledger
        return
    if settings.max_cost is not None:
        _start_budget_ledger(config)
    from pytest_llmeval.items.controller import Controller

    config.pluginmanager.register(Controller(config), "llmeval-controller")


def _start_budget_ledger(config: pytest.Config) -> None:
    """The file where every process adds up live spending (--llmeval-max-cost only)."""
    import tempfile

    ledger = str(Path(tempfile.mkdtemp(prefix="llmeval-budget-")) / "spent")
    config.stash[ledger_key] = ledger
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_llmeval.items.xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(ledger), "llmeval-xdist")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip a folder of cassettes: pytest would offer each file to every collector (two
    hook calls apiece) and collect nothing. Only a folder named `cassettes`, or the
    --llmeval-cassette-dir, holding `.json` files alone: with a test file or anything
    else in it, pytest walks it as always."""
    if collection_path.name != "cassettes":
        cassette_dir = config.stash[settings_key].cassette_dir
        if cassette_dir is None or collection_path.name != cassette_dir.name:
            return None
        if os.path.normpath(collection_path) != os.path.normpath(cassette_dir):
            return None
    return True if _holds_only_cassettes(collection_path) else None


def _holds_only_cassettes(folder: Path) -> bool:
    """Whether `folder` is a folder of cassettes and nothing else: every file under it, at
    any depth, a `.json` file, and no link to a folder (it may lead anywhere)."""
    pending: list[str | Path] = [folder]
    try:
        while pending:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif not (entry.name.endswith(".json") and entry.is_file()):
                        return False
    except OSError:  # not a folder, or unreadable: pytest decides as always
        return False
    return True


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker(MARKER) is None:
        return
    _use_item_hooks(metafunc.config)
    spec = checked_spec(metafunc.definition)
    if isinstance(spec, str):
        # an invalid marker fails each item of this test at setup, with one message,
        # and leaves the other tests of the module to run
        return
    if spec.variants is not None:
        functions = metafunc.config.stash.setdefault(variant_functions_key, set())
        functions.add(metafunc.definition.nodeid)
    repeat = metafunc.config.stash[settings_key].repeat or spec.repeat
    if repeat > 1:
        metafunc.fixturenames.append(REPEAT_FIXTURE)
        metafunc.parametrize(
            REPEAT_FIXTURE,
            range(1, repeat + 1),
            ids=[f"r{i}" for i in range(1, repeat + 1)],
            indirect=True,
        )


def _use_item_hooks(config: pytest.Config) -> None:
    """Register the per-item hooks (once): this session has eval tests."""
    if not config.pluginmanager.has_plugin("llmeval-items"):
        config.pluginmanager.register(ItemHooks(), "llmeval-items")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # markers added after parametrization (by a conftest's own collection hook) count too
    if config.pluginmanager.has_plugin("llmeval-items"):
        return
    if any(item.get_closest_marker(MARKER) is not None for item in items):
        _use_item_hooks(config)


@pytest.fixture
def _llmeval_repeat(request: pytest.FixtureRequest) -> int:
    """Which repeat of the case this item is (1..N)."""
    return int(request.param)


class ItemHooks:
    """The per-item hooks of eval tests, registered once collection finds an llm_eval
    test: a session without eval tests never calls them (STYLE convention 0)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        # tryfirst: before -k/-m deselect, so reference= is checked against every variant
        functions = config.stash.get(variant_functions_key, None)
        if not functions:
            return
        chosen = [item for item in items if function_nodeid(item) in functions]
        from pytest_llmeval.items.variant_items import gather_labels, variant_labels_key

        config.stash[variant_labels_key] = gather_labels(
            chosen, checked_spec, function_nodeid, REPEAT_FIXTURE
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # A plain hook, not a wrapper: failing here must not skip the setup wrappers of
        # other plugins (whose teardown would then break). tryfirst: before any fixture.
        marks = list(item.iter_markers(MARKER))
        if not marks:
            return
        from pytest_llmeval.core.errors import LLMEvalError

        run = item.stash[run_key] = start_run(item, marks)
        problem = None
        try:
            run.runtime.read_ahead(item)
            run.start_capture(item.path)
        except LLMEvalError as error:
            problem = str(error)
        if problem is not None:
            pytest.fail(problem, pytrace=False)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            run = item.stash.get(run_key, None)
            if run is not None:
                stop_capture(item, run)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        run = item.stash.get(run_key, None)
        if run is None:
            return (yield)
        run.start_call()
        try:
            result = yield
        except pytest.skip.Exception:
            run.finish_call(None, skipped=True)
            _note_adaptive_run(item, run)
            raise
        except BaseException as error:
            run.finish_call(error, skipped=False)
            _note_adaptive_run(item, run)
            raise
        failure = run.finish_call(None, skipped=False)
        if run.spec.adaptive is not None:
            from pytest_llmeval.items.adaptive import note_run, sample_more

            note_run(item, run)
            repeat = item.config.stash[settings_key].repeat or run.spec.repeat
            extra_failure = sample_more(item, run, repeat)
            failure = "\n".join(m for m in (failure, extra_failure) if m) or None
        if failure is not None:
            from pytest_llmeval.core.printable import printable  # score names, judge reasons

            pytest.fail(printable(failure, keep_newlines=True), pytrace=False)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        run = item.stash.get(run_key, None)
        if run is None:
            return report
        if call.excinfo is not None and report.failed:
            _shorten_plugin_error(report, call.excinfo)
        if report.failed:
            run.redact_failure(report)
        if report.when == "setup" and not report.passed:
            run.finish_setup_failure(report.skipped, report.longreprtext)
        elif report.when == "teardown" and report.failed:
            run.mark_teardown_error(report.longreprtext)
        if report.when == "call" or report.failed or (report.when == "setup" and report.skipped):
            if hasattr(item.config, "workerinput"):  # to the controller through xdist
                setattr(report, REPORT_ATTRIBUTE, run.wire())
                if report.when == "call" and run.extra_runs:
                    extras = [extra.wire() for extra in run.extra_runs]
                    setattr(report, EXTRA_RESULTS_ATTRIBUTE, extras)
            else:  # the controller is this process: it takes the results themselves
                results = run.results(extras=report.when == "call")
                status = {"status": results[0].status} if results else None
                setattr(report, REPORT_ATTRIBUTE, status)
                if results:
                    setattr(report, RESULTS_ATTRIBUTE, results)
        if report.when == "teardown":
            # the item is done: release its recorder and cassette (10,000 items add up)
            del item.stash[run_key]
        return report


def _note_adaptive_run(item: pytest.Item, run: ItemRun) -> None:
    if run.spec.adaptive is not None:
        from pytest_llmeval.items.adaptive import note_run

        note_run(item, run)


def _shorten_plugin_error(report: pytest.TestReport, excinfo: pytest.ExceptionInfo[Any]) -> None:
    """A cassette miss, a refused live call or a judge error is reported as its message,
    not as a traceback through the SDK."""
    from pytest_llmeval.core.errors import (
        BudgetExceeded,
        CassetteMiss,
        CassetteWriteError,
        JudgeError,
        LLMEvalError,
        find_cause,
    )
    from pytest_llmeval.core.printable import printable  # they quote prompts and replies

    error = find_cause(excinfo.value, LLMEvalError)
    if isinstance(error, JudgeError):
        report.longrepr = printable(f"{type(error).__name__}: {error}", keep_newlines=True)
    elif isinstance(error, (CassetteMiss, BudgetExceeded, CassetteWriteError)):
        report.longrepr = printable(str(error), keep_newlines=True)


def pytest_report_teststatus(
    report: pytest.TestReport | pytest.CollectReport, config: pytest.Config
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    data = getattr(report, REPORT_ATTRIBUTE, None)
    if data is None or report.when != "call":
        return None
    if report.passed and data.get("status") == "below":
        return "below", "b", ("BELOW", {"yellow": True})
    # a judge that could not produce a verdict: the eval could not run, it did not fail
    if report.failed and data.get("status") == "error":
        return "error", "E", ("ERROR", {"red": True})
    return None


@pytest.fixture
def llm_eval(request: pytest.FixtureRequest) -> EvalRecorder:
    """The per-test recorder of an llm_eval test: scores, judges, metadata, calls."""
    run: ItemRun | None = request.node.stash.get(run_key, None)
    if run is None:
        pytest.fail(
            f"{request.node.nodeid} uses the llm_eval fixture but has no llm_eval marker.\n"
            "Add @pytest.mark.llm_eval(threshold=...) to the test (or its class or module) "
            "so its scores are evaluated.",
            pytrace=False,
        )
    # llm_eval.judge() uses the llm_judge fixture, so a conftest can override it;
    # it is resolved on the first judge call only.
    run.recorder.bind_judge(lambda: request.getfixturevalue("llm_judge"))
    run.recorder.use_judge_scale(run.spec.judge_scale)
    return run.recorder


@pytest.fixture
def llm_faults(request: pytest.FixtureRequest) -> FaultPlan:
    """The provider faults of an llm_eval test: `inject()` more, read `calls()` after."""
    run: ItemRun | None = request.node.stash.get(run_key, None)
    if run is None or run.cassette is None:
        pytest.fail(
            f"{request.node.nodeid} uses the llm_faults fixture but has no llm_eval marker.\n"
            "Faults are injected into the calls of llm_eval tests: add "
            "@pytest.mark.llm_eval(...) to the test.",
            pytrace=False,
        )
    if run.cassette.faults is None:
        from pytest_llmeval.records.injection import FaultPlan

        run.cassette.faults = FaultPlan()
    run.cassette.faults.bind(lambda: run.recorder.inferences)
    return run.cassette.faults


@pytest.fixture
@own_fixture
def llm_cassette(request: pytest.FixtureRequest) -> Generator[CassetteSession, None, None]:
    """The test's cassette (path, mode, interactions); in a test without the llm_eval
    marker, requesting it records and replays that test's HTTP calls too."""
    run = request.node.stash.get(run_key, None)
    if run is not None and run.cassette is not None:
        yield run.cassette
        return
    from pytest_llmeval.core.errors import LLMEvalError
    from pytest_llmeval.items.runner import BudgetMeter, open_cassette

    runtime = runtime_of(request.config)
    # no ItemRun records this test's calls: the budget must still see them
    meter = BudgetMeter(runtime, request.node.nodeid)
    cassette = open_cassette(request.node.nodeid, request.node.path, runtime, meter)
    problem = None
    try:
        cassette.start()
    except LLMEvalError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield cassette
    finally:
        outcome = cassette.stop()
    warn_unplayed(request.node, outcome, None)  # a fixture cannot see the test's outcome
    if meter.warnings:
        from pytest_llmeval.core.errors import UnpricedCallWarning

        for message in meter.warnings:
            request.node.warn(UnpricedCallWarning(message))


@pytest.fixture
def llm_judge(request: pytest.FixtureRequest) -> Judge:
    """The session's configured judge (override this fixture to plug in your own)."""
    from pytest_llmeval.judges import LLMJudge

    settings = request.config.stash[settings_key]
    run = request.node.stash.get(run_key, None)
    model = (run.spec.judge_model if run is not None else None) or settings.judge_model
    return LLMJudge(
        model,
        fallback=settings.judge_fallback,
        retries=settings.judge_retries,
        base_url=settings.judge_base_url,
    )


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    # on an xdist worker: the controller learns what -k/-m deselected through this
    workeroutput = getattr(items[0].config, "workeroutput", None) if items else None
    if workeroutput is not None:
        workeroutput.setdefault(DESELECTED_OUTPUT, []).extend(item.nodeid for item in items)


def pytest_unconfigure(config: pytest.Config) -> None:
    runtime = config.stash.get(runtime_key, None)
    if runtime is not None:
        runtime.close()
    ledger = config.stash.get(ledger_key, None)
    if ledger is not None and not hasattr(config, "workerinput"):
        import shutil

        shutil.rmtree(Path(ledger).parent, ignore_errors=True)
