"""A run's judge diagnostics, read from its results' metadata: re-judge agreement
(`--llmeval-rejudge`), position-swap disagreement (pairwise comparisons) and the
verbosity and consistency probes (`--llmeval-judge-probes`).

Only the results of judge calls that had them carry those metadata entries. The maths
(`records/calibration.py`, `records/probes.py`) loads when an entry is found, so a run
without them (most runs, every run without judges) only scans the metadata. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmeval.records.calibration import JudgeComparison, PositionSwap
    from pytest_llmeval.records.probes import ConsistencyProbe, VerbosityProbe


@dataclass(frozen=True)
class JudgeDiagnostics:
    """A run's judge diagnostics, each None when the run has none of it: what the
    terminal, `llmeval show` and the HTML report show, and the JSON report's `judges`."""

    #: Under --llmeval-rejudge: how the new judge agrees with the recorded one.
    rejudge: JudgeComparison | None = None
    #: Pairwise comparisons whose two orders disagreed (a position-bias probe).
    position_swap: PositionSwap | None = None
    #: --llmeval-judge-probes: judge calls padding raised, and samples that disagreed.
    verbosity: VerbosityProbe | None = None
    consistency: ConsistencyProbe | None = None

    def lines(self) -> list[str]:
        """Each diagnostic's lines (its summary, then an indented line per call it
        names), in this order; none when the run has none."""
        found = (self.rejudge, self.position_swap, self.verbosity, self.consistency)
        return [
            line for diagnostic in found if diagnostic is not None for line in diagnostic.lines()
        ]

    def to_json(self) -> dict[str, Any] | None:
        """The JSON report's `judges` section: each diagnostic the run has; None when it
        has none."""
        section: dict[str, Any] = {}
        if self.rejudge is not None:
            section["rejudge"] = self.rejudge.to_json()
        swap = self.position_swap
        if swap is not None:
            section["position_swap"] = {
                "comparisons": swap.comparisons,
                "rate": swap.rate,
                "disagreements": [{"case": c, "name": n} for c, n in swap.disagreements],
            }
        if self.verbosity is not None:
            section["verbosity"] = self.verbosity.to_json()
        if self.consistency is not None:
            section["consistency"] = self.consistency.to_json()
        return section or None


def diagnostics_of(results: Iterable[Any]) -> JudgeDiagnostics:
    """The judge diagnostics of a run's results (`EvalResult`s, or a report's)."""
    ordered = list(results)
    return JudgeDiagnostics(
        rejudge=rejudge_of(ordered),
        position_swap=position_swap_of(ordered),
        verbosity=verbosity_probe_of(ordered),
        consistency=consistency_probe_of(ordered),
    )


def rejudge_of(results: Iterable[Any]) -> JudgeComparison | None:
    """Under --llmeval-rejudge, the old and new judges' agreement over every judge call
    of the results (`EvalResult`s, their metadata `rejudge`)."""
    calls = [
        (result.group, result.case_id, entry)
        for result in _holding(results, "rejudge")
        for entry in result.metadata["rejudge"]
    ]
    if not calls:
        return None
    from pytest_llmeval.records.calibration import compare_judges

    return compare_judges(calls)


def position_swap_of(results: Iterable[Any]) -> PositionSwap | None:
    """The results' pairwise comparisons whose two orders disagreed; None when the run
    compared nothing."""
    calls = [
        (
            result.case_id,
            int(result.metadata.get("pairwise_comparisons", 0)),
            list(result.metadata.get("position_swap_disagreements", [])),
        )
        for result in _holding(results, "pairwise_comparisons", "position_swap_disagreements")
    ]
    if sum(count for _, count, _ in calls) == 0:
        return None
    from pytest_llmeval.records.calibration import position_swaps

    return position_swaps(calls)


def _probe_entries(results: Iterable[Any], key: str) -> list[tuple[str, Mapping[str, Any]]]:
    return [
        (result.case_id, entry)
        for result in _holding(results, key)
        for entry in result.metadata[key]
    ]


def _holding(results: Iterable[Any], *keys: str) -> list[Any]:
    """The results whose metadata has one of `keys`, by node id: the few to sort (most
    results have none of them, and most have no metadata at all)."""
    return sorted(
        (
            result
            for result in results
            if result.metadata and any(key in result.metadata for key in keys)
        ),
        key=lambda result: result.nodeid,
    )


def verbosity_probe_of(results: Iterable[Any]) -> VerbosityProbe | None:
    """The verbosity probe over the results' judge calls (--llmeval-judge-probes)."""
    calls = _probe_entries(results, "verbosity_probe")
    if not calls:
        return None
    from pytest_llmeval.records.probes import verbosity_probes

    return verbosity_probes(calls)


def consistency_probe_of(results: Iterable[Any]) -> ConsistencyProbe | None:
    """The consistency probe over the results' judge calls (--llmeval-judge-probes)."""
    calls = _probe_entries(results, "consistency_probe")
    if not calls:
        return None
    from pytest_llmeval.records.probes import consistency_probes

    return consistency_probes(calls)
