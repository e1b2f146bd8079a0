"""Judge kinds: what a judge is asked, and how its answers become a verdict.

A kind is a small frozen value: `prompts()` renders the request(s) it needs and
`combine()` turns the parsed answers into a `Verdict`. Kinds do no I/O; an `LLMJudge`
sends their prompts through a backend. `SelfConsistency` wraps another kind to ask it
several times and aggregate; `Pairwise` compares two outputs in both orders.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from pytest_llmeval.judges.answers import ItemVerdict, normalize_score, score_spec, winner_spec
from pytest_llmeval.judges.prompts import Piece, Prompt, build_prompt
from pytest_llmeval.records.verdicts import PairwiseVerdict, Verdict

Scale = Literal["binary", "1-5", "0-10"]

#: A verdict passes when its score is at least this, unless a threshold is given.
DEFAULT_PASS_MARK = 0.5

_SLUG_WORD = re.compile(r"[a-z0-9]+")
_SLUG_LENGTH = 48


@dataclass(frozen=True)
class Material:
    """What a judge is shown besides its criteria: the output and what it answered."""

    output: str
    input: str | None = None
    reference: str | None = None
    context: tuple[str, ...] | None = None

    def pieces(self, output_label: str = "output") -> list[Piece]:
        """The fenced pieces, in reading order: input, context, reference, output (labelled
        `output_label`: a conversation judge reads a `transcript`)."""
        found = [
            Piece("input", self.input) if self.input is not None else None,
            Piece("context", self.context) if self.context is not None else None,
            Piece("reference", self.reference) if self.reference is not None else None,
            Piece(output_label, self.output),
        ]
        return [piece for piece in found if piece is not None]


@dataclass(frozen=True)
class Answer:
    """One parsed reply of a judge model: its reasoning, its decision, and which model."""

    reasoning: str
    decision: int | str
    model: str
    #: The quotes the judge gave as evidence; None when it was not asked for any.
    evidence: tuple[str, ...] | None = None
    #: The per-item verdicts of a list answer (the context judges'); empty otherwise.
    items: tuple[ItemVerdict, ...] = ()


def pass_mark(threshold: float | None) -> float:
    """The score a verdict needs to pass."""
    return DEFAULT_PASS_MARK if threshold is None else threshold


def slug(text: str) -> str:
    """Lowercase words joined by dashes, cut at a word boundary (for score names)."""
    words = _SLUG_WORD.findall(text.lower())
    kept: list[str] = []
    for word in words:
        if kept and len("-".join([*kept, word])) > _SLUG_LENGTH:
            break
        kept.append(word[:_SLUG_LENGTH])
    return "-".join(kept)


def _models(answers: Sequence[Answer]) -> str:
    return ", ".join(dict.fromkeys(answer.model for answer in answers))


class JudgeKind:
    """Base of the verdict kinds: a task, a scale, optional criteria, required material."""

    name: ClassVar[str] = "judge"
    task: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    #: The fence label of the judged text: `output`, or `transcript` for a conversation.
    judged: ClassVar[str] = "output"
    criteria: str | None
    scale: Scale
    #: Whether the judge quotes its evidence, checked against the material (see evidence.py).
    evidence: bool = False
    #: Whether a verdict whose evidence is not found scores 0.
    strict_evidence: bool = False
    #: Whether the score is a share (of passages, of statements) rather than a verdict
    #: on a scale: self-consistency samples of it are averaged, not voted.
    share: ClassVar[bool] = False

    def label(self) -> str:
        """The default score name: the kind, and the start of the criteria if any."""
        words = slug(self.criteria) if self.criteria else ""
        return f"{self.name}:{words}" if words else self.name

    def with_scale(self, scale: Scale) -> JudgeKind:
        """This kind on another scale."""
        return dataclasses.replace(self, scale=scale)  # type: ignore[type-var]

    def check(self, material: Material) -> None:
        """Raise ValueError when the material lacks what this kind needs."""
        score_spec(self.scale)
        for field in self.requires:
            if not getattr(material, field):
                raise ValueError(
                    f"the {self.name} judge needs {field}=...; pass it to llm_eval.judge()"
                )

    def prompts(self, material: Material) -> list[Prompt]:
        """The request(s) this kind sends for one output."""
        return [
            build_prompt(
                kind=self.name,
                task=self.task,
                criteria=self.criteria,
                pieces=material.pieces(self.judged),
                answer=score_spec(self.scale, self.quotes_evidence()),
            )
        ]

    def quotes_evidence(self) -> bool:
        """Whether this kind asks the judge to quote its evidence."""
        return self.evidence or self.strict_evidence

    def combine(self, answers: Sequence[Answer], threshold: float | None = None) -> Verdict:
        """The verdict of one answer on this kind's scale."""
        answer = answers[0]
        raw = int(answer.decision)
        score = normalize_score(raw, self.scale)
        return Verdict(
            score=score,
            passed=score >= pass_mark(threshold),
            reason=answer.reasoning,
            model=answer.model,
            kind=self.name,
            raw_score=raw,
        )


def _check_criteria(kind: str, criteria: str | None, required: bool) -> None:
    if criteria is None and not required:
        return
    if not isinstance(criteria, str) or not criteria.strip():
        raise ValueError(f"{kind}: criteria must be a non-empty string, got {criteria!r}")


def _check_evidence(kind: str, evidence: object, strict: object) -> None:
    for name, value in (("evidence", evidence), ("strict_evidence", strict)):
        if not isinstance(value, bool):
            raise TypeError(f"{kind}: {name} must be True or False, got {value!r}")


@dataclass(frozen=True)
class Rubric(JudgeKind):
    """Does the output meet the criteria? Binary (pass/fail) or graded (1-5, 0-10)."""

    criteria: str
    scale: Scale = "binary"
    name: ClassVar[str] = "rubric"
    task: ClassVar[str] = (
        "Evaluate whether the output meets the criteria below. Take the input, context or "
        "reference into account when they are given."
    )

    def __post_init__(self) -> None:
        _check_criteria("Rubric", self.criteria, required=True)
        score_spec(self.scale)


@dataclass(frozen=True)
class Correctness(JudgeKind):
    """Is the output correct, compared with a reference answer?"""

    criteria: str | None = None
    scale: Scale = "binary"
    name: ClassVar[str] = "correctness"
    requires: ClassVar[tuple[str, ...]] = ("reference",)
    task: ClassVar[str] = (
        "Evaluate whether the output is correct, using the reference answer as the truth: it "
        "must state the same facts and conclusions as the reference, must not contradict it, "
        "and must not leave out anything the input needs. Wording, order, formatting and "
        "additional correct detail do not matter. Follow any criteria below as well."
    )

    evidence: bool = False
    strict_evidence: bool = False

    def __post_init__(self) -> None:
        _check_criteria("Correctness", self.criteria, required=False)
        score_spec(self.scale)
        _check_evidence("Correctness", self.evidence, self.strict_evidence)


@dataclass(frozen=True)
class Faithfulness(JudgeKind):
    """Is every claim of the output supported by the given context (RAG faithfulness)?"""

    criteria: str | None = None
    scale: Scale = "binary"
    name: ClassVar[str] = "faithfulness"
    requires: ClassVar[tuple[str, ...]] = ("context",)
    task: ClassVar[str] = (
        "Evaluate whether the output is faithful to the context: every factual claim in it "
        "must be stated in, or directly implied by, the context. A claim the context does not "
        "support is a fault even if it is true in the real world. Saying that the context "
        "does not contain the answer is faithful when that is so. Follow any criteria below "
        "as well."
    )

    evidence: bool = False
    strict_evidence: bool = False

    def __post_init__(self) -> None:
        _check_criteria("Faithfulness", self.criteria, required=False)
        score_spec(self.scale)
        _check_evidence("Faithfulness", self.evidence, self.strict_evidence)


@dataclass(frozen=True)
class Relevance(JudgeKind):
    """Does the output address what the input asked (whether or not it is correct)?"""

    criteria: str | None = None
    scale: Scale = "binary"
    name: ClassVar[str] = "relevance"
    requires: ClassVar[tuple[str, ...]] = ("input",)
    task: ClassVar[str] = (
        "Evaluate whether the output is relevant to the input: it must address what the "
        "input asks, stay on that subject and not evade the question. Do not judge whether "
        "it is factually correct. Follow any criteria below as well."
    )

    def __post_init__(self) -> None:
        _check_criteria("Relevance", self.criteria, required=False)
        score_spec(self.scale)


@dataclass(frozen=True)
class SelfConsistency:
    """Ask another kind `samples` times and aggregate: majority vote or mean score.

    `mode` defaults to majority for a binary scale and mean for a graded one (or a
    share, such as the context judges' scores). The
    verdict's `agreement` is the share of samples whose pass/fail vote matches it;
    use an odd number of samples for a majority (a tie scores 0.5).
    """

    kind: JudgeKind
    samples: int = 3
    mode: Literal["majority", "mean"] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, JudgeKind):
            raise TypeError(f"SelfConsistency wraps a judge kind, got {self.kind!r}")
        if isinstance(self.samples, bool) or not isinstance(self.samples, int):
            raise TypeError(f"samples must be a whole number, got {self.samples!r}")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if self.mode not in (None, "majority", "mean"):
            raise ValueError(f"mode must be 'majority' or 'mean', got {self.mode!r}")

    def label(self) -> str:
        """The wrapped kind's score name."""
        return self.kind.label()

    def with_scale(self, scale: Scale) -> SelfConsistency:
        """The same sampling over the wrapped kind on another scale."""
        return dataclasses.replace(self, kind=self.kind.with_scale(scale))

    def check(self, material: Material) -> None:
        """The wrapped kind's check."""
        self.kind.check(material)

    def prompts(self, material: Material) -> list[Prompt]:
        """The wrapped kind's request, once per sample."""
        (prompt,) = self.kind.prompts(material)
        return [
            dataclasses.replace(prompt, sample=index, samples=self.samples)
            for index in range(self.samples)
        ]

    def combine(self, answers: Sequence[Answer], threshold: float | None = None) -> Verdict:
        """Aggregate the samples' verdicts (see the class docstring)."""
        mark = pass_mark(threshold)
        verdicts = [self.kind.combine([answer], threshold) for answer in answers]
        voted = self.kind.scale == "binary" and not self.kind.share
        mode = self.mode or ("majority" if voted else "mean")
        if mode == "majority":
            passing = sum(1 for verdict in verdicts if verdict.passed)
            failing = len(verdicts) - passing
            score = 1.0 if passing > failing else 0.0 if failing > passing else 0.5
        else:
            score = math.fsum(verdict.score for verdict in verdicts) / len(verdicts)
        passed = score >= mark
        agreeing = [verdict for verdict in verdicts if verdict.passed == passed]
        raws = [float(verdict.raw_score or 0.0) for verdict in verdicts]
        votes = Counter(verdict.passed for verdict in verdicts)
        summary = f"{votes[True]} of {len(verdicts)} samples pass, mode {mode}"
        first = (agreeing or verdicts)[0]
        return Verdict(
            score=score,
            passed=passed,
            reason=f"{first.reason} [{summary}]",
            model=_models(answers),
            kind=self.kind.name,
            raw_score=math.fsum(raws) / len(raws),
            samples=len(verdicts),
            agreement=len(agreeing) / len(verdicts),
        )


#: Anything llm_eval.judge() accepts as its criteria besides a string.
VerdictKind = JudgeKind | SelfConsistency

Winner = Literal["a", "b", "tie"]

_PAIRWISE_SCORES: dict[Winner, float] = {"a": 1.0, "tie": 0.5, "b": 0.0}
# What "A" and "B" mean in the order a-then-b, and in the order b-then-a.
_FORWARD: dict[str, Winner] = {"A": "a", "B": "b"}
_BACKWARD: dict[str, Winner] = {"A": "b", "B": "a"}


@dataclass(frozen=True)
class Pairwise:
    """Which of two outputs better meets the criteria? Asked in both orders.

    Each order's answer is mapped back to `a` or `b`; when the two orders disagree
    (position bias, or a genuine toss-up) the result is a tie.
    """

    criteria: str
    name: ClassVar[str] = "pairwise"
    task: ClassVar[str] = (
        "Compare two outputs, A and B, produced for the same input, and decide which better "
        "meets the criteria below."
    )

    def __post_init__(self) -> None:
        _check_criteria("Pairwise", self.criteria, required=True)

    def label(self) -> str:
        """The default score name: pairwise and the start of the criteria."""
        words = slug(self.criteria)
        return f"{self.name}:{words}" if words else self.name

    def prompts(self, a: str, b: str, input: str | None = None) -> list[Prompt]:
        """Two requests: a shown as A first, then b shown as A (one fence id for both)."""
        fence_parts = [self.name, self.criteria, input, a, b]
        prompts = []
        for first, second in ((a, b), (b, a)):
            pieces = [Piece("input", input)] if input is not None else []
            pieces += [Piece("output_a", first), Piece("output_b", second)]
            prompts.append(
                build_prompt(
                    kind=self.name,
                    task=self.task,
                    criteria=self.criteria,
                    pieces=pieces,
                    answer=winner_spec(),
                    fence_id_parts=fence_parts,
                )
            )
        return prompts

    def combine(self, answers: Sequence[Answer]) -> PairwiseVerdict:
        """Map both orders back to a/b; agreement decides, disagreement is a tie."""
        forward, backward = answers
        first = _FORWARD.get(str(forward.decision), "tie")
        second = _BACKWARD.get(str(backward.decision), "tie")
        consistent = first == second
        winner = first if consistent else "tie"
        reason = f"a shown as A: {forward.reasoning}\nb shown as A: {backward.reasoning}"
        if not consistent:
            reason += "\n(the two orders disagree: counted as a tie)"
        return PairwiseVerdict(
            winner=winner,
            score=_PAIRWISE_SCORES[winner],
            passed=winner != "b",
            reason=reason,
            model=_models(answers),
            consistent=consistent,
        )
