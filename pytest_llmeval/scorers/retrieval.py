"""Deterministic retrieval metrics over ranked ids (re-exported by `scorers`).

Each takes `retrieved`, the ids a search returned, best first, and `relevant`, the ids
that should have been found (a collection; for `ndcg_at_k` optionally a mapping of id
to graded relevance), and returns a `Scored`: a float in [0, 1] with a reason naming
the ranks that decided it. Standard library only.

Conventions, written once: an id repeated in `retrieved` counts at its first rank
only; a later copy keeps its rank but is never relevant (the slot was wasted); ids
compare with `==` (no case folding); `precision_at_k` divides by `k` even
when fewer than `k` ids came back (a short list is not rewarded); the metrics that
divide by the relevant set (`recall_at_k`, `hit_rate_at_k`, `mrr`, `ndcg_at_k`) refuse
an empty one with a ValueError, since a case with nothing to find measures nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence

from pytest_llmeval.scorers.scored import Scored

__all__ = ["hit_rate_at_k", "mrr", "ndcg_at_k", "precision_at_k", "recall_at_k"]

_SHOWN = 5  # ids named in a reason before "..."


class _Repeat:
    """A later copy of an id already retrieved: it holds a rank, it is never relevant."""

    def __init__(self, of: Hashable) -> None:
        self.of = of

    def __repr__(self) -> str:
        return f"(repeat of {self.of!r})"


def _ranked(scorer: str, retrieved: object) -> list[Hashable]:
    """The retrieved ids in rank order; a later copy of an id becomes a `_Repeat`."""
    if isinstance(retrieved, (str, bytes)) or not isinstance(retrieved, Sequence):
        raise TypeError(
            f"{scorer}: retrieved must be a list of ids in rank order, got "
            f"{type(retrieved).__name__}"
        )
    seen: set[Hashable] = set()
    ranked: list[Hashable] = []
    for item in retrieved:
        if not isinstance(item, Hashable):
            raise TypeError(f"{scorer}: retrieved ids must be hashable, got {item!r}")
        if item in seen:
            ranked.append(_Repeat(item))
        else:
            seen.add(item)
            ranked.append(item)
    return ranked


def _relevant(scorer: str, relevant: object, *, required: bool) -> set[Hashable]:
    if isinstance(relevant, (str, bytes)) or not isinstance(relevant, Collection):
        raise TypeError(
            f"{scorer}: relevant must be a collection of ids (a list or set), got "
            f"{type(relevant).__name__}; wrap a single id in a list"
        )
    ids = set(relevant)
    if required and not ids:
        raise ValueError(
            f"{scorer}: relevant is empty, so there is nothing to find; give the case its "
            "relevant ids, or leave this metric out for it"
        )
    return ids


def _k(scorer: str, k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{scorer}: k must be a whole number >= 1, got {k!r}")
    return k


def _names(ids: Sequence[Hashable]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_SHOWN])
    return shown + (", ..." if len(ids) > _SHOWN else "")


def _hits(ranked: list[Hashable], relevant: set[Hashable], k: int) -> list[tuple[int, Hashable]]:
    """(rank, id) of the relevant ids in the top k, rank from 1."""
    return [(rank, i) for rank, i in enumerate(ranked[:k], start=1) if i in relevant]


def _hit_text(hits: list[tuple[int, Hashable]]) -> str:
    if not hits:
        return "no relevant id"
    return ", ".join(f"{i!r} at rank {rank}" for rank, i in hits[:_SHOWN]) + (
        ", ..." if len(hits) > _SHOWN else ""
    )


def precision_at_k(retrieved: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> Scored:
    """The share of the top k retrieved ids that are relevant (divided by k)."""
    scorer = "precision_at_k"
    k = _k(scorer, k)
    ranked = _ranked(scorer, retrieved)
    ids = _relevant(scorer, relevant, required=False)
    hits = _hits(ranked, ids, k)
    return Scored(len(hits) / k, f"{len(hits)} of the top {k} relevant: {_hit_text(hits)}")


def recall_at_k(retrieved: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> Scored:
    """The share of the relevant ids found in the top k retrieved."""
    scorer = "recall_at_k"
    k = _k(scorer, k)
    ranked = _ranked(scorer, retrieved)
    ids = _relevant(scorer, relevant, required=True)
    hits = _hits(ranked, ids, k)
    found = {i for _, i in hits}
    missing = sorted((i for i in ids if i not in found), key=repr)
    reason = f"found {len(hits)} of {len(ids)} relevant in the top {k}"
    if missing:
        reason += f"; missing {_names(missing)}"
    return Scored(len(hits) / len(ids), reason)


def hit_rate_at_k(retrieved: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> Scored:
    """1.0 if any relevant id is in the top k retrieved, else 0.0."""
    scorer = "hit_rate_at_k"
    k = _k(scorer, k)
    ranked = _ranked(scorer, retrieved)
    ids = _relevant(scorer, relevant, required=True)
    hits = _hits(ranked, ids, k)
    if hits:
        rank, first = hits[0]
        return Scored(1.0, f"hit: {first!r} at rank {rank} (k={k})")
    return Scored(0.0, f"no relevant id in the top {k} ({_names(ranked[:k]) or 'nothing'})")


def mrr(
    retrieved: Sequence[Hashable], relevant: Collection[Hashable], *, k: int | None = None
) -> Scored:
    """The reciprocal rank of the first relevant id (0.0 if none, or none in the top k).

    Over one query; the mean over cases (the group mean) is the mean reciprocal rank.
    """
    scorer = "mrr"
    limit = None if k is None else _k(scorer, k)
    ranked = _ranked(scorer, retrieved)
    ids = _relevant(scorer, relevant, required=True)
    hits = _hits(ranked, ids, len(ranked) if limit is None else limit)
    if not hits:
        where = "retrieved" if limit is None else f"the top {limit}"
        return Scored(0.0, f"no relevant id in {where}")
    rank, first = hits[0]
    return Scored(1.0 / rank, f"first relevant {first!r} at rank {rank}")


def ndcg_at_k(
    retrieved: Sequence[Hashable],
    relevant: Collection[Hashable] | Mapping[Hashable, float],
    k: int,
) -> Scored:
    """Normalised discounted cumulative gain of the top k: 1.0 is the ideal order.

    `relevant` is a collection of ids (each gain 1) or a mapping of id to graded
    relevance (a number >= 0). DCG = sum of gain / log2(rank + 1) over the top k
    (linear gain, as trec_eval); it is divided by the DCG of the ideal order of the
    relevant ids. Ids of equal grade are interchangeable, so ties cost nothing.
    """
    scorer = "ndcg_at_k"
    k = _k(scorer, k)
    ranked = _ranked(scorer, retrieved)
    if isinstance(relevant, Mapping):
        grades: dict[Hashable, float] = {}
        for key, grade in relevant.items():
            if isinstance(grade, bool) or not isinstance(grade, (int, float)):
                raise TypeError(
                    f"{scorer}: the grade of {key!r} must be a number >= 0, got {grade!r}"
                )
            if math.isnan(grade) or math.isinf(grade) or grade < 0:
                raise ValueError(
                    f"{scorer}: the grade of {key!r} must be a number >= 0, got {grade!r}"
                )
            grades[key] = float(grade)
    else:
        grades = dict.fromkeys(_relevant(scorer, relevant, required=False), 1.0)
    ideal_gains = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    if not ideal_gains:
        raise ValueError(
            f"{scorer}: no relevant id (none, or every grade 0), so there is nothing to "
            "rank; give the case its relevant ids, or leave this metric out for it"
        )
    dcg = math.fsum(
        grades.get(i, 0.0) / math.log2(rank + 1) for rank, i in enumerate(ranked[:k], start=1)
    )
    ideal = math.fsum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_gains, start=1))
    hits = [(rank, i) for rank, i in enumerate(ranked[:k], start=1) if grades.get(i, 0.0) > 0]
    value = min(1.0, dcg / ideal)  # fsum rounding must not push the ideal order past 1
    return Scored(
        value,
        f"DCG {dcg:.4f} of ideal {ideal:.4f} in the top {k}: {_hit_text(hits)}",
        {"dcg": dcg, "ideal_dcg": ideal},
    )
