"""Bias probes of a judge (`--llmeval-judge-probes`): what they send, not what they report.

* The verbosity probe judges the same answer again, padded by `pad` with sentences
  that add no information. A judge that scores the padded answer higher rewards
  length, not content.
* The consistency probe asks the same judge call several times as samples (one seed
  each, where the API takes one: `LLMJudge.sample_verdicts`) and keeps each sample's
  own verdict. Samples that disagree say the verdict depends on the draw.

The run's rates are computed in `records/calibration.py`; the recorder runs the probes
(`items/judge_trust.py`).
"""

from __future__ import annotations

from typing import Any

#: The line put before the answer by `pad`.
PADDING_OPENING = "Thank you for your question. Here is my answer."

#: The sentences put after the answer by `pad`, in this order, repeated as needed.
PADDING_SENTENCES = (
    "I have tried to make this answer as clear and as complete as I can.",
    "Each part of it was considered carefully before it was written down.",
    "If anything above is unclear, please ask and I will gladly explain it further.",
    "I hope that this answer is helpful to you.",
)


def pad(output: str) -> str:
    """`output` padded with text that adds no information, deterministically.

    `PADDING_OPENING` and a blank line go before it; after a blank line, the
    `PADDING_SENTENCES` follow in order, repeated, until the added text is at least as
    long as the answer itself, so the padded answer is at least twice as long.
    """
    closing: list[str] = []
    added = len(PADDING_OPENING)
    while not closing or added < len(output):
        sentence = PADDING_SENTENCES[len(closing) % len(PADDING_SENTENCES)]
        closing.append(sentence)
        added += len(sentence) + 1
    return f"{PADDING_OPENING}\n\n{output}\n\n{' '.join(closing)}"


def pads(criteria: Any) -> bool:
    """Whether the verbosity probe pads what this judge call judges: an answer, not a
    conversation's transcript or an agent's trajectory (padding those would not be the
    same material said at greater length)."""
    from pytest_llmeval.judges.episodes import TaskCompletion, ToolUse
    from pytest_llmeval.judges.kinds import JudgeKind, SelfConsistency

    kind = criteria.kind if isinstance(criteria, SelfConsistency) else criteria
    if not isinstance(kind, JudgeKind):
        return True  # a plain rubric, or a custom judge's own criteria
    return kind.judged == "output" and not isinstance(kind, (TaskCompletion, ToolUse))
