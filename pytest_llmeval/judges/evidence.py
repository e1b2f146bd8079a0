"""The check of a judge's quoted evidence: does each quote occur in the material?

A judge that checks evidence (`Faithfulness(evidence=True)`, `Correctness(evidence=True)`)
quotes the passages its verdict relies on. A quote counts as found when, after
normalising whitespace (every run becomes one space) and case, it occurs in one piece of
the material: the input, a context passage, the reference or the output. A quote with
an ellipsis (`...` or `…`) is found when each of its parts is found, in that order, in
one piece. Surrounding quotation marks are ignored. A verdict whose quotes are not all
found keeps them in `Verdict.evidence_missing`; with `strict_evidence=True` it scores 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pytest_llmeval.records.verdicts import Verdict

_ELLIPSIS = re.compile(r"\.\.\.+|…")
_QUOTE_MARKS = "\"'“”‘’«»`"


def normalise(text: str) -> str:
    """Text with each run of whitespace as one space, case folded, ends trimmed."""
    return " ".join(text.split()).casefold()


def _parts(quote: str) -> list[str]:
    parts = (normalise(part).strip(_QUOTE_MARKS + " ") for part in _ELLIPSIS.split(quote))
    return [part for part in parts if part]


def _occurs(parts: Sequence[str], piece: str) -> bool:
    start = 0
    for part in parts:
        found = piece.find(part, start)
        if found < 0:
            return False
        start = found + len(part)
    return True


def missing_quotes(quotes: Iterable[str], pieces: Iterable[str]) -> list[str]:
    """The quotes (as given) that occur in none of the pieces, each once, in order.

    An empty quote (nothing but whitespace, quotation marks or an ellipsis) is ignored.
    """
    haystacks = [normalise(piece) for piece in pieces]
    missing: list[str] = []
    for quote in quotes:
        parts = _parts(quote)
        if not parts or quote in missing:
            continue
        if not any(_occurs(parts, haystack) for haystack in haystacks):
            missing.append(quote)
    return missing


def checked_verdict(
    verdict: Verdict,
    quotes: Sequence[str],
    pieces: Iterable[str],
    *,
    strict: bool,
    mark: float,
) -> Verdict:
    """The verdict with its evidence and the quotes not found in the pieces.

    Missing quotes are named at the end of the reason (so they reach the failure
    message and the reports); under `strict` the verdict scores 0 and passes only at a
    pass mark of 0.
    """
    unique = list(dict.fromkeys(quotes))
    missing = missing_quotes(unique, pieces)
    update: dict[str, object] = {"evidence": unique, "evidence_missing": missing}
    if missing:
        listed = "; ".join(f'"{quote}"' for quote in missing)
        note = f"[evidence not found in the material: {listed}]"
        if strict:
            note = f"[scored 0: evidence not found in the material: {listed}]"
            update.update(score=0.0, passed=0.0 >= mark)
        update["reason"] = f"{verdict.reason} {note}"
    return verdict.model_copy(update=update)
