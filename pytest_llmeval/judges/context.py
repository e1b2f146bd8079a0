"""The context judges of the RAG triad: is what the retriever returned any good?

Faithfulness and relevance judge the answer; these judge the retrieved context itself,
so they read no output:

* `ContextRelevance`: is each retrieved passage relevant to the input? The score is the
  share of relevant passages.
* `ContextPrecision`: are the relevant passages ranked first? The judge decides, passage
  by passage, whether each was useful for answering the input (for arriving at the
  reference, when one is given); the score is the average precision of that ranking,
  computed here.
* `ContextRecall`: does the context cover the reference? The judge lists the statements
  of the reference and decides, for each, whether the context supports it; the score
  is the share of supported statements.

The judge answers one verdict per passage (or statement) as structured output
(`answers.ItemListSpec`); the maths is done in code from those verdicts, which the
verdict's reason lists one per line. The scores are shares, not points on a scale, so
these kinds take no `scale` (a marker's `judge_scale` leaves them alone).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pytest_llmeval.judges.answers import ItemListSpec, ItemVerdict
from pytest_llmeval.judges.kinds import (
    Answer,
    JudgeKind,
    Material,
    Scale,
    SelfConsistency,
    _check_criteria,
    pass_mark,
)
from pytest_llmeval.judges.prompts import Piece, Prompt, build_prompt
from pytest_llmeval.records.verdicts import Verdict

#: How much of a judge's reasoning about one item the verdict's reason keeps, in characters.
MAX_ITEM_REASON_CHARS = 300

# What the material needs, by field: how the error message describes it.
_NEEDS = {
    "input": "input=... (the question the passages were retrieved for)",
    "context": "context=[...] (the retrieved passages, in rank order)",
    "reference": "reference=... (the answer the context should support)",
}


def average_precision(verdicts: Sequence[int | bool]) -> float:
    """The average precision of a ranking from the relevance (1 or 0) of each rank.

    The mean, over the ranks k that hold a relevant passage, of the precision at k
    (relevant passages among the first k, divided by k); 0 when none is relevant.
    """
    relevant = 0
    precisions: list[float] = []
    for rank, verdict in enumerate(verdicts, 1):
        if verdict:
            relevant += 1
            precisions.append(relevant / rank)
    return math.fsum(precisions) / relevant if relevant else 0.0


def reads_no_output(criteria: object) -> bool:
    """Whether a judge call's criteria is a context judge (also under SelfConsistency),
    which judges the retrieved context and needs no output."""
    inner = criteria.kind if isinstance(criteria, SelfConsistency) else criteria
    return isinstance(inner, ContextKind)


def _passages(count: int) -> str:
    if count == 1:
        return "The context holds one passage (passage 1)."
    return (
        f"The context holds {count} passages, numbered [1] to [{count}] in the order the "
        "retriever ranked them."
    )


class ContextKind(JudgeKind):
    """A kind judging the retrieved context item by item (passages or statements)."""

    share: ClassVar[bool] = True
    #: The material fields shown to the judge when given, besides the required ones.
    shows: ClassVar[tuple[str, ...]] = ()

    def with_scale(self, scale: Scale) -> ContextKind:
        """This kind unchanged: its score is a share, not a point on a scale."""
        return self

    def check(self, material: Material) -> None:
        """Raise ValueError naming this judge and what to pass when material is missing."""
        missing = [name for name in self.requires if getattr(material, name) is None]
        if missing:
            needs = " and ".join(_NEEDS[name] for name in missing)
            raise ValueError(
                f"the {self.name} judge needs {needs}; pass it to llm_eval.judge() or set it "
                "once with llm_eval.case()"
            )
        if not material.context:
            raise ValueError(
                f"the {self.name} judge needs at least one passage in context=..., got an "
                "empty context: a retrieval that found nothing leaves nothing to judge (record "
                "it with llm_eval.check(), or score the retrieval with scorers.recall_at_k)"
            )
        for name in ("input", "reference"):
            if name in self.requires and not str(getattr(material, name)).strip():
                raise ValueError(f"the {self.name} judge needs a non-empty {_NEEDS[name]}")

    def pieces(self, material: Material) -> list[Piece]:
        """The fenced pieces: input, context, reference, whichever this kind reads."""
        read = (*self.requires, *self.shows)
        pieces = []
        for name in ("input", "context", "reference"):
            value = getattr(material, name)
            if name in read and value is not None:
                pieces.append(Piece(name, value))
        return pieces

    def answer(self, material: Material) -> ItemListSpec:
        """The list answer this kind asks for."""
        raise NotImplementedError

    def task_text(self, material: Material) -> str:
        """The task, with the number of passages."""
        raise NotImplementedError

    def prompts(self, material: Material) -> list[Prompt]:
        """One request: the task, then the fenced material, one verdict per item asked."""
        return [
            build_prompt(
                kind=self.name,
                task=self.task_text(material),
                criteria=self.criteria,
                pieces=self.pieces(material),
                answer=self.answer(material),
            )
        ]

    def score(self, items: Sequence[ItemVerdict]) -> tuple[float, str]:
        """The score of the item verdicts, and its summary for the reason."""
        raise NotImplementedError

    def describe(self, item: ItemVerdict) -> str:
        """One line of the reason: the item and the judge's verdict on it."""
        raise NotImplementedError

    def combine(self, answers: Sequence[Answer], threshold: float | None = None) -> Verdict:
        """The verdict: the score computed from the item verdicts, each listed in the reason."""
        answer = answers[0]
        score, summary = self.score(answer.items)
        lines = [f"{summary}. {answer.reasoning}"]
        lines += [self.describe(item) for item in answer.items]
        return Verdict(
            score=score,
            passed=score >= pass_mark(threshold),
            reason="\n".join(lines),
            model=answer.model,
            kind=self.name,
            raw_score=float(sum(item.verdict for item in answer.items)),
        )


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_ITEM_REASON_CHARS:
        return text
    return text[: MAX_ITEM_REASON_CHARS - 3] + "..."


class _PassageKind(ContextKind):
    """A context kind with one relevance verdict per retrieved passage."""

    verdict_description: ClassVar[str] = ""
    guide_verdict: ClassVar[str] = ""

    def answer(self, material: Material) -> ItemListSpec:
        """One object per passage: its number, reasoning, and 1 or 0."""
        count = len(material.context or ())
        numbers = "1" if count == 1 else f"1 to {count}"
        return ItemListSpec(
            name="context_verdicts",
            field="verdicts",
            values=(0, 1),
            description="One verdict per passage, in passage order.",
            guide=(
                f'a list with one object per passage, in passage order, each with "passage" '
                f'(its number, {numbers}), "reasoning" (one sentence) and "relevant" '
                f"({self.guide_verdict})."
            ),
            item_key="passage",
            verdict_key="relevant",
            count=count,
            item_description="The passage's number.",
            verdict_description=self.verdict_description,
        )

    def describe(self, item: ItemVerdict) -> str:
        """`[2] not relevant: why`."""
        verdict = "relevant" if item.verdict else "not relevant"
        return f"[{item.number}] {verdict}: {_clip(item.reasoning)}"


@dataclass(frozen=True)
class ContextRelevance(_PassageKind):
    """Is each retrieved passage relevant to the input? Scores the share that is."""

    criteria: str | None = None
    scale: Scale = field(default="binary", init=False)
    name: ClassVar[str] = "context_relevance"
    requires: ClassVar[tuple[str, ...]] = ("input", "context")
    task: ClassVar[str] = (
        "The context below is what a retriever returned for the input. Judge each passage "
        "on its own: it is relevant when it holds information that helps answer what the "
        "input asks. A passage on the same subject that does not help answer it is not "
        "relevant. Follow any criteria below as well."
    )
    verdict_description: ClassVar[str] = "1 if the passage is relevant to the input, 0 if not."
    guide_verdict: ClassVar[str] = "1 if the passage is relevant to the input, 0 if not"

    def __post_init__(self) -> None:
        _check_criteria("ContextRelevance", self.criteria, required=False)

    def task_text(self, material: Material) -> str:
        """The task, with the number of passages."""
        return f"{self.task} {_passages(len(material.context or ()))}"

    def score(self, items: Sequence[ItemVerdict]) -> tuple[float, str]:
        """The share of relevant passages."""
        relevant = sum(item.verdict for item in items)
        noun = "passage" if len(items) == 1 else "passages"
        return relevant / len(items), f"{relevant} of {len(items)} {noun} relevant to the input"


@dataclass(frozen=True)
class ContextPrecision(_PassageKind):
    """Are the passages useful for the input ranked first? Scores the average precision."""

    criteria: str | None = None
    scale: Scale = field(default="binary", init=False)
    name: ClassVar[str] = "context_precision"
    requires: ClassVar[tuple[str, ...]] = ("input", "context")
    shows: ClassVar[tuple[str, ...]] = ("reference",)
    task: ClassVar[str] = (
        "The context below is what a retriever returned for the input, in rank order. "
        "Judge each passage on its own: it is relevant when it is useful for answering the "
        "input, that is, for arriving at the reference answer when one is given. Do not "
        "judge the order itself: the ranking is scored from your verdicts. Follow any "
        "criteria below as well."
    )
    verdict_description: ClassVar[str] = (
        "1 if the passage is useful for answering the input, 0 if not."
    )
    guide_verdict: ClassVar[str] = "1 if the passage is useful for answering the input, 0 if not"

    def __post_init__(self) -> None:
        _check_criteria("ContextPrecision", self.criteria, required=False)

    def task_text(self, material: Material) -> str:
        """The task, with the number of passages."""
        return f"{self.task} {_passages(len(material.context or ()))}"

    def score(self, items: Sequence[ItemVerdict]) -> tuple[float, str]:
        """The average precision of the ranking, from each rank's verdict."""
        verdicts = [item.verdict for item in items]
        ranks = [str(item.number) for item in items if item.verdict]
        where = f"at rank{'s' if len(ranks) > 1 else ''} {', '.join(ranks)}" if ranks else ""
        relevant = f"{len(ranks)} relevant {where}".strip()
        noun = "passage" if len(items) == 1 else "passages"
        average = average_precision(verdicts)
        return average, f"average precision {average:.3f} over {len(items)} {noun} ({relevant})"


@dataclass(frozen=True)
class ContextRecall(ContextKind):
    """Does the context cover the reference? Scores the share of the reference's
    statements the context supports."""

    criteria: str | None = None
    scale: Scale = field(default="binary", init=False)
    name: ClassVar[str] = "context_recall"
    requires: ClassVar[tuple[str, ...]] = ("context", "reference")
    shows: ClassVar[tuple[str, ...]] = ("input",)
    task: ClassVar[str] = (
        "Break the reference answer into its distinct factual statements, one claim each, "
        "in the reference's order, and decide for each whether the context supports it: "
        "it is stated in, or directly implied by, one or more of the passages. A statement "
        "the context does not support is 0, even if it is true in the real world. Follow "
        "any criteria below as well."
    )

    def __post_init__(self) -> None:
        _check_criteria("ContextRecall", self.criteria, required=False)

    def task_text(self, material: Material) -> str:
        """The task, with the number of passages."""
        return f"{self.task} {_passages(len(material.context or ()))}"

    def answer(self, material: Material) -> ItemListSpec:
        """One object per statement of the reference: the statement, reasoning, 1 or 0."""
        return ItemListSpec(
            name="context_verdicts",
            field="statements",
            values=(0, 1),
            description="One verdict per statement of the reference answer, in its order.",
            guide=(
                "a list with one object per statement of the reference answer, in its order, "
                'each with "statement" (the statement, in the reference\'s words), "reasoning" '
                "(one sentence, naming the passage that supports it if one does) and "
                '"supported" (1 if the context supports the statement, 0 if not).'
            ),
            item_key="statement",
            verdict_key="supported",
            item_description="One statement of the reference answer, in its words.",
            verdict_description="1 if the context supports the statement, 0 if not.",
        )

    def score(self, items: Sequence[ItemVerdict]) -> tuple[float, str]:
        """The share of the reference's statements the context supports."""
        supported = sum(item.verdict for item in items)
        noun = "statement" if len(items) == 1 else "statements"
        return (
            supported / len(items),
            f"{supported} of {len(items)} reference {noun} supported by the context",
        )

    def describe(self, item: ItemVerdict) -> str:
        """`2. "statement" not supported: why`."""
        verdict = "supported" if item.verdict else "not supported"
        return f'{item.number}. "{_clip(item.text or "")}" {verdict}: {_clip(item.reasoning)}'
