"""Agreement between a judge and human labels (or another judge): the maths, pure.

A labelled case carries a human label: `pass` / `fail` on a binary scale, or a grade on
a graded one (1-5, 0-10). `measure_agreement` compares the judge's raw answers with the
labels: Cohen's kappa (unweighted for pass/fail, quadratic-weighted for grades), the
confusion matrix (rows: the human's label, columns: the judge's), the true-positive
rate (the share of cases the human passed that the judge passed too) and the true-
negative rate (the same for fails), and every case where the two differ. On a graded
scale a case passes at a normalised grade of at least the pass mark.

Kappa is (p_o - p_e) / (1 - p_e), with weights w_ij = 1 for i = j and 0 otherwise
(unweighted), or 1 - ((i - j) / (k - 1))^2 over the k categories (quadratic). When the
expected agreement is already total (every label and every answer in one category, so
they agree everywhere) the formula divides by zero: kappa is then 1. With no case at
all it is NaN.
No pytest here; the `llm_eval.calibrate` fixture method and the re-judge report use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Weighting = Literal["none", "quadratic"]

#: The binary scale's categories: 0 = fail, 1 = pass.
BINARY = (0, 1)

_PASS_WORDS = {"pass": 1, "passed": 1, "true": 1, "yes": 1, "1": 1}
_FAIL_WORDS = {"fail": 0, "failed": 0, "false": 0, "no": 0, "0": 0}


@dataclass(frozen=True)
class Rating:
    """One case rated twice: by the reference (a human, or the old judge) and the judge."""

    case_id: str
    expected: int
    judged: int
    reason: str = ""


@dataclass(frozen=True)
class Agreement:
    """How far a judge agrees with the reference ratings over a set of cases."""

    n: int
    categories: tuple[int, ...]
    weighting: Weighting
    kappa: float
    observed: float  # the share of cases rated the same
    true_positive_rate: float | None
    true_negative_rate: float | None
    #: matrix[i][j]: cases the reference put in categories[i] and the judge in categories[j]
    matrix: tuple[tuple[int, ...], ...]
    disagreements: tuple[Rating, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary (NaN as None) for reports and `llm_eval.log`."""
        return {
            "n": self.n,
            "kappa": _finite(self.kappa),
            "weighting": self.weighting,
            "observed_agreement": _finite(self.observed),
            "true_positive_rate": _finite(self.true_positive_rate),
            "true_negative_rate": _finite(self.true_negative_rate),
            "categories": list(self.categories),
            "confusion_matrix": [list(row) for row in self.matrix],
            "disagreements": [
                {"case": r.case_id, "expected": r.expected, "judged": r.judged, "reason": r.reason}
                for r in self.disagreements
            ],
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def parse_label(value: object, categories: Sequence[int]) -> int:
    """A human label as a category: pass/fail words or booleans on a binary scale, an
    integer grade on a graded one; raise ValueError saying what is allowed."""
    binary = tuple(categories) == BINARY
    if binary and isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if binary and text in _PASS_WORDS:
            return _PASS_WORDS[text]
        if binary and text in _FAIL_WORDS:
            return _FAIL_WORDS[text]
        try:
            value = int(text)
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in categories:
        return value
    low, high = categories[0], categories[-1]
    allowed = "pass or fail" if binary else f"an integer grade from {low} to {high}"
    raise ValueError(f"the label must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class LabelledCase:
    """One row of a labelled file: the material a judge is shown, and the human label."""

    case_id: str
    output: str
    label: int
    input: str | None = None
    reference: str | None = None
    context: str | tuple[str, ...] | None = None


def read_labelled(case: Any, categories: Sequence[int]) -> LabelledCase:
    """A labelled case from a `load_cases` row: `input`, `output`, `label`, and optionally
    `context` (a string or a list of passages) and `reference` (or `expected`).

    Raise ValueError naming the case and saying what is wrong.
    """
    fields = dict(case.metadata)
    where = f"labelled case {case.id!r}"
    output = fields.get("output")
    if not isinstance(output, str):
        raise ValueError(f"{where}: needs an `output` string (the answer that was labelled)")
    if "label" not in fields:
        raise ValueError(f"{where}: needs a `label` (the human's pass/fail or grade)")
    try:
        label = parse_label(fields["label"], categories)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    reference = fields.get("reference", case.expected)
    context = fields.get("context")
    if isinstance(context, list):
        context = tuple(str(passage) for passage in context)
    elif context is not None and not isinstance(context, str):
        raise ValueError(f"{where}: `context` must be a string or a list of strings")
    # an empty input is a row whose judge was shown none (`llmeval label` writes it so)
    text_input = case.input if isinstance(case.input, str) and case.input else None
    return LabelledCase(
        case_id=case.id,
        output=output,
        label=label,
        input=text_input,
        reference=None if reference is None else str(reference),
        context=context or None,
    )


def confusion_matrix(
    ratings: Sequence[Rating], categories: Sequence[int]
) -> tuple[tuple[int, ...], ...]:
    """Counts by (reference category, judge category), rows in `categories` order."""
    index = {category: position for position, category in enumerate(categories)}
    counts = [[0] * len(categories) for _ in categories]
    for rating in ratings:
        counts[index[rating.expected]][index[rating.judged]] += 1
    return tuple(tuple(row) for row in counts)


def cohen_kappa(
    matrix: Sequence[Sequence[int]], weighting: Weighting = "none"
) -> tuple[float, float]:
    """(kappa, observed agreement) of a square confusion matrix (see the module docstring)."""
    k = len(matrix)
    n = sum(sum(row) for row in matrix)
    if n == 0:
        return math.nan, math.nan

    def weight(i: int, j: int) -> float:
        if weighting == "none" or k == 1:
            return 1.0 if i == j else 0.0
        return 1.0 - ((i - j) / (k - 1)) ** 2

    rows = [sum(row) for row in matrix]
    columns = [sum(matrix[i][j] for i in range(k)) for j in range(k)]
    observed = math.fsum(weight(i, j) * matrix[i][j] for i in range(k) for j in range(k)) / n
    expected = math.fsum(
        weight(i, j) * rows[i] * columns[j] for i in range(k) for j in range(k)
    ) / (n * n)
    exact = sum(matrix[i][i] for i in range(k)) / n
    if math.isclose(expected, 1.0):
        return 1.0, exact
    return (observed - expected) / (1.0 - expected), exact


def passes(category: int, categories: Sequence[int], mark: float) -> bool:
    """Whether a category passes: its normalised value is at least `mark`."""
    low, high = categories[0], categories[-1]
    return (category - low) / (high - low) >= mark


def measure_agreement(
    ratings: Sequence[Rating], categories: Sequence[int], mark: float = 0.5
) -> Agreement:
    """Kappa (quadratic-weighted when there are more than two categories), rates, matrix."""
    categories = tuple(categories)
    weighting: Weighting = "none" if len(categories) == 2 else "quadratic"
    matrix = confusion_matrix(ratings, categories)
    kappa, observed = cohen_kappa(matrix, weighting)
    pairs = [
        (passes(r.expected, categories, mark), passes(r.judged, categories, mark)) for r in ratings
    ]
    positives = [judged for expected, judged in pairs if expected]
    negatives = [not judged for expected, judged in pairs if not expected]
    return Agreement(
        n=len(ratings),
        categories=categories,
        weighting=weighting,
        kappa=kappa,
        observed=observed,
        true_positive_rate=sum(positives) / len(positives) if positives else None,
        true_negative_rate=sum(negatives) / len(negatives) if negatives else None,
        matrix=matrix,
        disagreements=tuple(r for r in ratings if r.expected != r.judged),
    )


def describe(agreement: Agreement, labels: Mapping[int, str] | None = None) -> str:
    """A few lines for a terminal or a failure message: kappa, rates, matrix, disagreements."""
    names = labels or {c: ("pass" if c else "fail") for c in BINARY}
    binary = agreement.categories == BINARY

    def name(category: int) -> str:
        return names.get(category, str(category)) if binary else str(category)

    def rate(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    kind = "kappa" if agreement.weighting == "none" else "quadratic-weighted kappa"
    lines = [
        f"{kind} {agreement.kappa:.3f} over {agreement.n} cases "
        f"(observed agreement {agreement.observed:.2f}, true-positive rate "
        f"{rate(agreement.true_positive_rate)}, true-negative rate "
        f"{rate(agreement.true_negative_rate)})",
        "confusion matrix (rows: expected, columns: judge): "
        + "  ".join(
            f"{name(c)}: [{' '.join(str(count) for count in row)}]"
            for c, row in zip(agreement.categories, agreement.matrix, strict=True)
        ),
    ]
    if agreement.disagreements:
        lines.append(f"{len(agreement.disagreements)} disagreement(s):")
        for rating in agreement.disagreements:
            lines.append(
                f"  {rating.case_id}: expected {name(rating.expected)}, judge said "
                f"{name(rating.judged)}: {rating.reason}"
            )
    return "\n".join(lines)


@dataclass(frozen=True)
class Flip:
    """One judge call whose verdict the new judge changed: its pass/fail, or for a
    pairwise comparison its winner (`a`, `b` or `tie`)."""

    case_id: str
    name: str
    old_pass: bool
    new_pass: bool
    old_score: float
    new_score: float
    old_winner: str | None = None
    new_winner: str | None = None

    def change(self) -> str:
        """What changed, e.g. `pass -> fail` or `winner a -> tie`."""
        if self.old_winner is not None and self.new_winner is not None:
            return f"winner {self.old_winner} -> {self.new_winner}"
        return "pass -> fail" if self.old_pass else "fail -> pass"


@dataclass(frozen=True)
class JudgeComparison:
    """How a re-judged run's new judge agrees with the recorded one (--llmeval-rejudge)."""

    old_models: tuple[str, ...]
    new_models: tuple[str, ...]
    agreement: Agreement
    flips: tuple[Flip, ...]
    #: Mean of (new score - old score) over the group's judge calls, by group.
    score_shift: tuple[tuple[str, float], ...]

    def lines(self) -> list[str]:
        """The terminal's lines: models, kappa, flips, mean shift per group."""
        a = self.agreement
        kappa = "n/a" if math.isnan(a.kappa) else f"{a.kappa:.3f}"
        lines = [
            f"rejudge: {', '.join(self.new_models)} against {', '.join(self.old_models)}: "
            f"{a.n} judge calls, kappa {kappa}, {len(self.flips)} flipped verdict(s)"
        ]
        for flip in self.flips:
            lines.append(
                f"  flipped {flip.case_id} {flip.name}: {flip.change()} "
                f"({flip.old_score:.2f} -> {flip.new_score:.2f})"
            )
        for group, shift in self.score_shift:
            lines.append(f"  mean score shift {group}: {shift:+.3f}")
        return lines

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "old_models": list(self.old_models),
            "new_models": list(self.new_models),
            "agreement": self.agreement.to_json(),
            "flips": [
                {
                    "case": f.case_id,
                    "name": f.name,
                    "old_pass": f.old_pass,
                    "new_pass": f.new_pass,
                    "old_score": f.old_score,
                    "new_score": f.new_score,
                    **(
                        {"old_winner": f.old_winner, "new_winner": f.new_winner}
                        if f.old_winner is not None
                        else {}
                    ),
                }
                for f in self.flips
            ],
            "score_shift": dict(self.score_shift),
        }


def compare_judges(
    calls: Sequence[tuple[str, str, Mapping[str, Any]]],
) -> JudgeComparison | None:
    """The agreement of the old and new judge over (group, case id, rejudge entry) triples
    (`llm_eval`'s metadata `rejudge` entries); None when there is none.

    Kappa is over the pass/fail verdicts (a comparison passes when `a` wins or ties);
    a comparison whose winner changed is a flip even when its pass/fail did not."""
    if not calls:
        return None
    ratings, flips = [], []
    shifts: dict[str, list[float]] = {}
    old_models: dict[str, None] = {}
    new_models: dict[str, None] = {}
    for group, case_id, entry in calls:
        old, new = bool(entry["old_pass"]), bool(entry["new_pass"])
        old_score, new_score = float(entry["old_score"]), float(entry["new_score"])
        ratings.append(Rating(f"{case_id} {entry['name']}", int(old), int(new)))
        old_winner, new_winner = entry.get("old_winner"), entry.get("new_winner")
        if old != new or old_winner != new_winner:
            name = str(entry["name"])
            flips.append(
                Flip(case_id, name, old, new, old_score, new_score, old_winner, new_winner)
            )
        shifts.setdefault(group, []).append(new_score - old_score)
        old_models[str(entry.get("old_model"))] = None
        new_models[str(entry.get("new_model"))] = None
    return JudgeComparison(
        old_models=tuple(old_models),
        new_models=tuple(new_models),
        agreement=measure_agreement(ratings, BINARY),
        flips=tuple(flips),
        score_shift=tuple(
            (group, math.fsum(values) / len(values)) for group, values in sorted(shifts.items())
        ),
    )


@dataclass(frozen=True)
class PositionSwap:
    """Pairwise comparisons of a run whose two orders (a first, b first) disagreed."""

    comparisons: int
    disagreements: tuple[tuple[str, str], ...]  # (case id, score name)

    @property
    def rate(self) -> float:
        """The share of comparisons whose two orders disagreed."""
        return len(self.disagreements) / self.comparisons

    def lines(self) -> list[str]:
        """The terminal's lines: the rate, then each comparison that disagreed."""
        lines = [
            f"pairwise: {self.comparisons} comparison(s), position-swap disagreement "
            f"{self.rate:.0%} ({len(self.disagreements)})"
        ]
        lines += [f"  orders disagree: {case} {name}" for case, name in self.disagreements]
        return lines


def position_swaps(calls: Sequence[tuple[str, int, Sequence[str]]]) -> PositionSwap | None:
    """The run's position-swap disagreement over (case id, comparisons, names of those
    whose orders disagreed) per result; None when the run compared nothing."""
    total = sum(count for _, count, _ in calls)
    if total == 0:
        return None
    return PositionSwap(
        comparisons=total,
        disagreements=tuple((case, name) for case, _, names in calls for name in names),
    )
