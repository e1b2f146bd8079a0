"""The verbosity and consistency probes of a run (`--llmeval-judge-probes`): the rates,
pure.

Each result's metadata keeps its probed judge calls (`verbosity_probe`: the score and
the padded answer's score; `consistency_probe`: the samples' scores and pass/fail);
these functions sum them up over a run for the terminal and the JSON report
(`records/diagnostics.py` collects the entries). What the probes send is in
`judges/probes.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VerbosityProbe:
    """The verbosity probe over a run: judge calls whose answer, padded with text that
    adds no information, got a higher score or a pass where it had failed."""

    probed: int
    #: (case id, score name, score, padded score) of each call padding raised.
    raised: tuple[tuple[str, str, float, float], ...]
    #: Mean of (padded score - score) over the probed calls.
    mean_shift: float

    @property
    def rate(self) -> float:
        """The share of probed judge calls whose verdict padding raised."""
        return len(self.raised) / self.probed

    def lines(self) -> list[str]:
        """The terminal's lines: the rate and mean shift, then each call padding raised."""
        lines = [
            f"verbosity probe: {self.probed} judge call(s), padding raised {self.rate:.0%} "
            f"({len(self.raised)}), mean score shift {self.mean_shift:+.3f}"
        ]
        lines += [
            f"  padding raised: {case} {name} ({score:.2f} -> {padded:.2f})"
            for case, name, score, padded in self.raised
        ]
        return lines

    def to_json(self) -> dict[str, Any]:
        """The JSON report's `judges.verbosity`."""
        return {
            "probed": self.probed,
            "rate": self.rate,
            "mean_shift": self.mean_shift,
            "raised": [
                {"case": case, "name": name, "score": score, "padded_score": padded}
                for case, name, score, padded in self.raised
            ],
        }


def verbosity_probes(calls: Sequence[tuple[str, Mapping[str, Any]]]) -> VerbosityProbe | None:
    """The verbosity probe over (case id, metadata `verbosity_probe` entry) pairs; None
    when no call was probed. Padding raised a call when the padded score is higher, or
    the padded answer passes where the answer failed."""
    if not calls:
        return None
    raised = []
    shifts = []
    for case_id, entry in calls:
        score, padded = float(entry["score"]), float(entry["padded_score"])
        shifts.append(padded - score)
        if padded > score or (entry["padded_pass"] and not entry["pass"]):
            raised.append((case_id, str(entry["name"]), score, padded))
    return VerbosityProbe(
        probed=len(calls), raised=tuple(raised), mean_shift=math.fsum(shifts) / len(shifts)
    )


@dataclass(frozen=True)
class ConsistencyProbe:
    """The consistency probe over a run: judge calls asked k times whose samples'
    pass/fail verdicts differ, and how far the samples' scores spread."""

    probed: int
    samples: int  # the most samples any call was asked for
    #: (case id, score name, the samples' scores) of each call whose samples disagree.
    disagreements: tuple[tuple[str, str, tuple[float, ...]], ...]
    #: Mean and largest (highest - lowest sample score) over the probed calls.
    mean_spread: float
    max_spread: float

    @property
    def rate(self) -> float:
        """The share of probed judge calls whose samples' verdicts differ."""
        return len(self.disagreements) / self.probed

    def lines(self) -> list[str]:
        """The terminal's lines: the rate and spread, then each call that disagreed."""
        lines = [
            f"consistency probe: {self.probed} judge call(s) x {self.samples} samples, samples "
            f"disagree {self.rate:.0%} ({len(self.disagreements)}), score spread mean "
            f"{self.mean_spread:.3f}, max {self.max_spread:.3f}"
        ]
        lines += [
            f"  samples disagree: {case} {name} (scores {' '.join(f'{s:.2f}' for s in scores)})"
            for case, name, scores in self.disagreements
        ]
        return lines

    def to_json(self) -> dict[str, Any]:
        """The JSON report's `judges.consistency`."""
        return {
            "probed": self.probed,
            "samples": self.samples,
            "rate": self.rate,
            "mean_spread": self.mean_spread,
            "max_spread": self.max_spread,
            "disagreements": [
                {"case": case, "name": name, "scores": list(scores)}
                for case, name, scores in self.disagreements
            ],
        }


def consistency_probes(
    calls: Sequence[tuple[str, Mapping[str, Any]]],
) -> ConsistencyProbe | None:
    """The consistency probe over (case id, metadata `consistency_probe` entry) pairs;
    None when no call was probed."""
    if not calls:
        return None
    disagreements = []
    spreads = []
    for case_id, entry in calls:
        scores = tuple(float(score) for score in entry["scores"])
        spreads.append(max(scores) - min(scores) if scores else 0.0)
        if len(set(entry["passes"])) > 1:
            disagreements.append((case_id, str(entry["name"]), scores))
    return ConsistencyProbe(
        probed=len(calls),
        samples=max(len(entry["scores"]) for _, entry in calls),
        disagreements=tuple(disagreements),
        mean_spread=math.fsum(spreads) / len(spreads),
        max_spread=max(spreads),
    )
