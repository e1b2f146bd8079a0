"""The item lifecycle pieces shared by the plugin's hooks and the concurrent runner.

How an eval item's run starts (its spec, identity and the session's shared parts), where
it keeps its run (`run_key`), how its capture stops, and which fixtures are the plugin's
own. plugin.py and concurrency/ both import this module, so neither imports the other.
Like plugin.py it is loaded in every pytest session: the standard library, pytest and
the option modules plugin.py loads anyway, heavy modules inside the functions that
need them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from pytest_llmeval.items.options import MARKER
from pytest_llmeval.items.settings import settings_key

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.session import CassetteOutcome
    from pytest_llmeval.items.runner import ItemRun
    from pytest_llmeval.items.runtime import Runtime
    from pytest_llmeval.records.spec import EvalSpec

#: Hidden fixture parametrized with 1..N to make the repeats of a case.
REPEAT_FIXTURE = "_llmeval_repeat"

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


# -- how an item's run starts ------------------------------------------------------


def _markers(node: pytest.Item | Any) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    return [(tuple(m.args), dict(m.kwargs)) for m in node.iter_markers(MARKER)]


def checked_spec(node: Any) -> EvalSpec | str:
    """The node's validated EvalSpec, or what is wrong with its llm_eval marker."""
    from pytest_llmeval.records.spec import SpecError, build_spec

    try:
        return build_spec(_markers(node), node.nodeid)
    except SpecError as error:
        return str(error)


def _spec(node: Any) -> EvalSpec:
    """The node's validated EvalSpec; an invalid marker fails the test with one line."""
    spec = checked_spec(node)
    if isinstance(spec, str):
        # failed outside any except block: no "During handling of the above exception"
        pytest.fail(spec, pytrace=False)
    return spec


def runtime_of(config: pytest.Config) -> Runtime:
    """This process's shared eval resources, created with the first eval item."""
    runtime = config.stash.get(runtime_key, None)
    if runtime is None:
        from pytest_llmeval.core.errors import LLMEvalError
        from pytest_llmeval.items.readahead import reads_ahead
        from pytest_llmeval.items.runtime import Runtime

        settings = config.stash[settings_key]
        try:
            ledger = config.stash.get(ledger_key, None)
            runtime = Runtime.create(settings, ledger, reads_ahead=reads_ahead(settings, config))
        except LLMEvalError as error:
            raise pytest.UsageError(f"pytest-llm-eval: {error}") from None
        config.stash[runtime_key] = runtime
    return runtime


#: Valid EvalSpecs by the identity of the llm_eval marks they were built from, with the
#: marks (so no id is reused): the items of one function share their marks' objects.
_specs_key = pytest.StashKey[dict[tuple[int, ...], tuple[list[pytest.Mark], "EvalSpec"]]]()


def spec_of(item: pytest.Item, marks: list[pytest.Mark]) -> EvalSpec:
    """`_spec(item)` from its llm_eval marks (closest first), built once per set of marks."""
    specs = item.config.stash.setdefault(_specs_key, {})
    key = tuple(map(id, marks))
    known = specs.get(key)
    if known is not None:
        return known[1]
    spec = _spec(item)
    specs[key] = (marks, spec)
    return spec


def start_run(item: pytest.Item, marks: list[pytest.Mark]) -> ItemRun:
    """The run of an eval item about to be set up (`marks`: its llm_eval marks, closest
    first): its spec, where it sits, and this process's shared parts."""
    from pytest_llmeval.items.runner import ItemRun, identify

    spec = spec_of(item, marks)
    callspec = getattr(item, "callspec", None)
    repeat_index = callspec.params.get(REPEAT_FIXTURE) if callspec is not None else None
    function = function_nodeid(item)
    variant = None
    if spec.variants is not None:
        variant = _variant(item, spec, function)
    identity = identify(
        item.nodeid,
        function,
        callspec.id if callspec is not None else None,
        repeat_index,
        spec,
        variant,
    )
    return ItemRun(identity, spec, runtime_of(item.config))


def _variant(item: pytest.Item, spec: EvalSpec, function_nodeid: str) -> Any:
    """The item's variant in a variants eval; a wrong variants= or reference= fails the
    test with one line, like any invalid marker."""
    from pytest_llmeval.items.variant_items import variant_labels_key, variant_tag
    from pytest_llmeval.records.spec import SpecError

    labels = item.config.stash.get(variant_labels_key, None)
    try:
        return variant_tag(item, spec, function_nodeid, REPEAT_FIXTURE, labels)
    except SpecError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)


def function_nodeid(item: pytest.Item) -> str:
    """The node id of the test function an item was made from (without its parameters)."""
    parent = item.parent.nodeid if item.parent is not None else ""
    return f"{parent}::{getattr(item, 'originalname', item.name)}"
