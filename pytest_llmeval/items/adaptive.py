"""Adaptive repeats: more runs, up to a cap, only for a case whose runs straddle its
threshold (marker ``adaptive=CAP`` beside ``repeat=N``).

Why inside an item: pytest fixes the items at collection (and under xdist the controller
schedules the ids the workers collected), so a run cannot be added as a new item once
the first runs have shown that a case straddles. The last repeat item of a case (``-rN``)
therefore runs the test body again within itself, once per extra run. Each extra run is a
run like any other: its own ``ItemRun`` with its own test id (``-rN+1``, ... the id the
item would have had with a larger repeat=), so its own cassette (recorded once, replayed
offline afterwards), its own recorder and its own ``EvalResult``, which travels on the
item's call report (`lifecycle.EXTRA_RESULTS_ATTRIBUTE`) to the controller.

The item can decide only when this process ran all N runs of the case: in a serial run,
and under xdist with ``--dist loadscope`` or ``--dist loadfile`` (a case's runs stay in
one module). Otherwise, and under ``--llmeval-concurrency`` (bodies run interleaved),
the extra runs are not made and a warning says why (never silently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmeval.items.lifecycle import warn_unplayed

if TYPE_CHECKING:
    from pytest_llmeval.items.runner import ItemRun
    from pytest_llmeval.records.models import EvalResult


class AdaptiveRepeatsWarning(UserWarning):
    """Adaptive repeats could not decide for a case, so made no extra run."""


@dataclass
class CaseRuns:
    """The runs of each case this process has finished, by repeat index."""

    runs: dict[str, dict[int, EvalResult]] = field(default_factory=dict)

    def add(self, result: EvalResult) -> dict[int, EvalResult]:
        """Note one run; the case's runs so far."""
        seen = self.runs.setdefault(result.case_id, {})
        if result.repeat_index is not None:
            seen[result.repeat_index] = result
        return seen


case_runs_key = pytest.StashKey[CaseRuns]()


def extra_id(nodeid: str, repeat_index: int, index: int) -> str:
    """The test id of run `index` of the case whose run `repeat_index` is `nodeid`."""
    head, _, tail = nodeid.rpartition(f"r{repeat_index}]")
    return f"{head}r{index}]{tail}"


def note_run(item: pytest.Item, run: ItemRun) -> None:
    """Keep a finished run of a case under adaptive repeats, for its last run to decide."""
    if run.spec.adaptive is not None and run.result is not None:
        item.config.stash.setdefault(case_runs_key, CaseRuns()).add(run.result)


def sample_more(item: pytest.Item, run: ItemRun, repeat: int) -> str | None:
    """After run `repeat` (the last) of a case, noted: if its runs straddle the threshold,
    run the body again up to the spec's adaptive cap; return a failure message when an
    extra run's body failed (the item then fails, naming it)."""
    from pytest_llmeval.items.settings import settings_key
    from pytest_llmeval.records.aggregate import is_straddling

    spec, result = run.spec, run.result
    if spec.adaptive is None or result is None or run.identity.repeat_index != repeat:
        return None
    if spec.adaptive <= repeat:
        return None
    seen = item.config.stash.setdefault(case_runs_key, CaseRuns()).runs.get(result.case_id, {})
    case = run.identity.case_id
    if item.config.stash[settings_key].concurrency > 1:
        item.warn(
            AdaptiveRepeatsWarning(
                f"adaptive={spec.adaptive} made no extra run of {case}: under "
                "--llmeval-concurrency the bodies of its runs interleave, so its last run "
                "cannot see the others; run without --llmeval-concurrency to sample more."
            )
        )
        return None
    missing = [i for i in range(1, repeat + 1) if i not in seen]
    if missing:
        item.warn(
            AdaptiveRepeatsWarning(
                f"adaptive={spec.adaptive} made no extra run of {case}: this process has the "
                f"results of {repeat - len(missing)} of its {repeat} runs (the others ran in "
                "another process or never reached their body), so it cannot tell whether "
                "they straddle the threshold. Under pytest-xdist use --dist loadscope or "
                "--dist loadfile, which keep a case's runs in one process."
            )
        )
        return None
    if not is_straddling([seen[i] for i in range(1, repeat + 1)]):
        return None
    failures = []
    for index in range(repeat + 1, spec.adaptive + 1):
        extra = _run_again(item, run, index)
        if extra.result is not None and extra.result.status in ("failed", "error"):
            failures.append(f"{extra.identity.nodeid}: {extra.result.message}")
    if failures:
        return "llm_eval adaptive runs failed:\n" + "\n".join(failures)
    return None


def _run_again(item: pytest.Item, run: ItemRun, index: int) -> ItemRun:
    """One extra run of the item's body as run `index` of its case, with its own test id,
    cassette and recorder; its result is added to `run.extra_runs`."""
    from pytest_llmeval.core.errors import LLMEvalError
    from pytest_llmeval.items.runner import ItemIdentity, ItemRun

    ident = run.identity
    repeat_index = ident.repeat_index or 0
    identity = ItemIdentity(
        extra_id(ident.nodeid, repeat_index, index),
        ident.case_id,
        ident.group,
        index,
        ident.variant,
    )
    extra = ItemRun(identity, run.spec, run.runtime, adaptive=True)
    run.recorder.share_judge(extra.recorder)
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    swapped = {"llm_eval": extra.recorder, "_llmeval_repeat": index}
    saved = {name: funcargs[name] for name in [*swapped, "llm_cassette"] if name in funcargs}
    try:
        extra.start_capture(item.path)
    except LLMEvalError as error:
        extra.finish_setup_failure(False, str(error))
        run.extra_runs.append(extra)
        return extra
    try:
        for name, value in swapped.items():
            if name in funcargs:
                funcargs[name] = value
        if "llm_cassette" in funcargs:
            funcargs["llm_cassette"] = extra.cassette
        extra.start_call()
        try:
            item.runtest()
        except pytest.skip.Exception:
            extra.finish_call(None, skipped=True)
        except (Exception, pytest.fail.Exception) as error:
            extra.finish_call(error, skipped=False)
        else:
            extra.finish_call(None, skipped=False)
    finally:
        funcargs.update(saved)
        outcome = extra.stop_capture()
        if outcome is not None:
            failed = extra.result is None or extra.result.status in ("failed", "error")
            warn_unplayed(item, outcome, failed)
        run.budget_warnings.extend(extra.budget_warnings)
    run.extra_runs.append(extra)
    return extra
