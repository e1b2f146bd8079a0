"""Pure rules that turn a test's recorded scores into its score, status and message.

The test score is the weighted mean (or, with aggregate="min", the minimum) of the
scores with a weight above zero; a test that recorded no weighted score scores 1.0.
A test whose body raised scores 0.0 whatever it recorded (a crash is the worst
answer), so failures pull group means down. A body that passed is `below` when the
test score is under the marker's threshold or any score misses its own threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_llmeval.core.money import format_usd, usd
from pytest_llmeval.core.vocabulary import Aggregate
from pytest_llmeval.records.accounting import unpriced_reason
from pytest_llmeval.records.models import Inference, Score, Status
from pytest_llmeval.records.spec import EvalSpec

_REASON_WIDTH = 100


@dataclass(frozen=True)
class Evaluation:
    """The verdict on one item: its score, status and, if not passed, why."""

    score: float
    status: Status
    message: str | None


def combine_scores(scores: Sequence[Score], aggregate: Aggregate) -> float:
    """Combine the recorded scores of a test whose body passed (see the module docstring)."""
    weighted = [s for s in scores if s.weight > 0]
    if not weighted:
        return 1.0
    if aggregate == "min":
        return min(s.value for s in weighted)
    total = math.fsum(s.weight for s in weighted)
    return math.fsum(s.value * s.weight for s in weighted) / total


def _clip(text: str, width: int = _REASON_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_scores(scores: Sequence[Score]) -> list[str]:
    """One line per score: name, value, weight, its threshold and the judge's reason."""
    if not scores:
        return ["  (no scores recorded)"]
    width = max(len(s.name) for s in scores)
    lines = []
    for s in scores:
        parts = [f"  {s.name:<{width}}  {s.value:.3f}"]
        if s.check:
            parts.append("check passed" if s.passed else "check FAILED")
        elif s.weight != 1.0:
            parts.append(f"weight {s.weight:g}")
        if s.threshold is not None and not s.check:
            mark = "ok" if s.passed else "BELOW"
            parts.append(f"threshold {s.threshold:.3f} {mark}")
        if s.reason:
            parts.append(f"reason: {_clip(s.reason)}")
        lines.append("  ".join(parts))
    return lines


def evaluate(spec: EvalSpec, scores: Sequence[Score], body_passed: bool) -> Evaluation:
    """Apply the marker's threshold and the per-score thresholds to one item."""
    if not body_passed:
        return Evaluation(0.0, "failed", None)
    score = combine_scores(scores, spec.aggregate)
    missed = [s for s in scores if not s.passed]
    if score >= spec.threshold and not missed:
        return Evaluation(score, "passed", None)
    how = "minimum" if spec.aggregate == "min" else "weighted mean"
    counted = sum(1 for s in scores if s.weight > 0)
    if score < spec.threshold:
        head = (
            f"llm_eval score {score:.3f} is below the threshold {spec.threshold:.3f} "
            f"({how} of {counted} score{'s' if counted != 1 else ''}):"
        )
    else:
        head = (
            f"llm_eval score {score:.3f} meets the threshold {spec.threshold:.3f}, "
            f"but {_missed_phrase(missed)}:"
        )
    return Evaluation(score, "below", "\n".join([head, *describe_scores(scores)]))


def _missed_phrase(missed: Sequence[Score]) -> str:
    """'check a failed', 'b missed its own threshold', joined with 'and'."""
    checks = [s.name for s in missed if s.check]
    scores = [s.name for s in missed if not s.check]
    phrases = []
    if checks:
        phrases.append(f"check{'s' if len(checks) > 1 else ''} {', '.join(checks)} failed")
    if scores:
        their = "their own thresholds" if len(scores) > 1 else "its own threshold"
        phrases.append(f"{', '.join(scores)} missed {their}")
    return " and ".join(phrases)


def limit_breaches(spec: EvalSpec, inferences: Sequence[Inference]) -> list[str]:
    """Messages for the marker's per-test budget and latency limits that were exceeded.

    Both measure the code under test: its calls (role `app`) alone, not the judges',
    the simulated users' or the evaluation helpers'. The cost is that of the priced app
    calls (see `unpriced_limit_warning` for the others); the latency, the slowest one's.
    """
    if spec.budget_usd is None and spec.max_latency_s is None:
        return []
    app = [i for i in inferences if i.role == "app"]
    breaches = []
    priced = [i.cost_usd for i in app if i.cost_usd is not None]
    cost_usd = math.fsum(priced) if priced else None
    if spec.budget_usd is not None and cost_usd is not None and cost_usd > spec.budget_usd:
        breaches.append(
            f"llm_eval budget exceeded: this test's app calls cost ${format_usd(cost_usd)}, "
            f"over budget_usd={usd(spec.budget_usd)}."
        )
    latencies = [i.latency_s for i in app if i.latency_s is not None]
    max_latency_s = max(latencies) if latencies else None
    if (
        spec.max_latency_s is not None
        and max_latency_s is not None
        and max_latency_s > spec.max_latency_s
    ):
        breaches.append(
            f"llm_eval latency limit exceeded: the slowest app call took {max_latency_s:.2f} s, "
            f"over max_latency_s={spec.max_latency_s:g} s."
        )
    return breaches


def unpriced_limit_warning(
    spec: EvalSpec, nodeid: str, inferences: Sequence[Inference]
) -> str | None:
    """What to warn when the marker's budget_usd cannot be checked in full: some app
    calls have no price (None when there is no budget, or every app call is priced)."""
    if spec.budget_usd is None:
        return None
    app = [i for i in inferences if i.role == "app"]
    reasons: dict[str, set[str]] = {}
    for call in app:
        reason = unpriced_reason(call)
        if reason is not None:
            reasons.setdefault(reason, set()).add(f"{call.provider}:{call.model or 'unknown'}")
    if not reasons:
        return None
    count = sum(1 for i in app if unpriced_reason(i) is not None)
    known = format_usd(math.fsum(i.cost_usd for i in app if i.cost_usd is not None))
    causes = "; ".join(
        f"{reason} for {', '.join(sorted(models))}" for reason, models in sorted(reasons.items())
    )
    calls = f"{count} app call{'s' if count != 1 else ''}"
    return (
        f"{nodeid}: budget_usd={usd(spec.budget_usd)} could not be checked in full: {calls} "
        f"of this test could not be priced ({causes}), so {'its' if count == 1 else 'their'} "
        "cost is unknown; the priced "
        f"app calls cost ${known}. Set the model's price in the llmeval_prices ini option "
        "('provider:model = <input> / <output>', USD per million tokens), or list a local "
        "server in llmeval_free_hosts."
    )
