"""The item lifecycle pieces shared by the plugin's hooks and the concurrent runner.

Where an eval item keeps its run (`run_key`), how its capture stops, and which fixtures
are the plugin's own. plugin.py and concurrency/ both import this module, so neither
imports the other. Like plugin.py it is loaded in every pytest session: stdlib and
pytest only, heavy modules inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.session import CassetteOutcome
    from pytest_llmeval.items.runner import ItemRun
    from pytest_llmeval.items.runtime import Runtime

#: An eval item's ItemRun, from its setup until its teardown report.
run_key = pytest.StashKey["ItemRun"]()
#: The session's shared parts (built on the first eval item), and the spending ledger's
#: file (--llmeval-max-cost), on the config's stash.
runtime_key: pytest.StashKey[Runtime] = pytest.StashKey()
ledger_key = pytest.StashKey[str]()
#: The node ids of the test functions whose marker says variants= (noted as collection
#: parametrizes them), so a session without variants never looks for them again.
variant_functions_key = pytest.StashKey[set[str]]()

#: Key of an xdist worker's workeroutput listing the node ids it deselected.
DESELECTED_OUTPUT = "llmeval_deselected"

#: Attribute of a TestReport carrying the item's EvalResult as JSON-able data (from an
#: xdist worker; where the controller runs, the status alone: see RESULTS_ATTRIBUTE).
#: pytest's report serialisation copies report.__dict__, so it travels with xdist. Once
#: the controller has taken the result, the report keeps only its `status` (see
#: Controller.pytest_runtest_logreport).
REPORT_ATTRIBUTE = "llm_eval"

#: Attribute of a call report carrying the EvalResults of the extra runs adaptive repeats
#: made within the item (a JSON-able list; see adaptive.py).
EXTRA_RESULTS_ATTRIBUTE = "llm_eval_adaptive"

#: Attribute of a report made where the controller runs (no xdist worker): the item's
#: EvalResult itself, then those of its adaptive runs, a tuple. The controller takes it
#: off the report before any other plugin's logreport, so the result is neither dumped to
#: JSON-able data nor validated again on the way; REPORT_ATTRIBUTE holds only the status.
RESULTS_ATTRIBUTE = "_llm_eval_results"

F = TypeVar("F", bound=Callable[..., Any])

#: The plugin's own fixture functions (their teardown only stops capture, which the
#: concurrent runner does itself once a body ends).
_OWN_FIXTURES: set[Callable[..., Any]] = set()


def own_fixture(func: F) -> F:
    """Mark a fixture function as the plugin's own (apply below `@pytest.fixture`)."""
    _OWN_FIXTURES.add(func)
    return func


def is_own_fixture(func: object) -> bool:
    """Whether a FixtureDef's function is one of the plugin's own."""
    return func in _OWN_FIXTURES


def stop_capture(item: pytest.Item, run: ItemRun) -> None:
    """Stop the item's cassette and warn about recorded calls it did not make."""
    outcome = run.stop_capture()
    if outcome is not None and outcome.unplayed:
        failed = run.result is None or run.result.status in ("failed", "error")
        warn_unplayed(item, outcome, failed)
    if run.budget_warnings:
        from pytest_llmeval.core.errors import UnpricedCallWarning

        for message in run.budget_warnings:
            item.warn(UnpricedCallWarning(message))


def warn_unplayed(item: pytest.Item, outcome: CassetteOutcome, failed: bool | None) -> None:
    """Recorded calls the test no longer makes are a warning (a miss says it already)."""
    if outcome.unplayed and not outcome.misses:
        from pytest_llmeval.capture.cassettes.session import unplayed_message
        from pytest_llmeval.core.errors import UnplayedInteractionsWarning

        message = unplayed_message(outcome, item.nodeid, test_failed=failed)
        item.warn(UnplayedInteractionsWarning(message))
