"""What a judge must answer: the JSON schema it is given, and the check of what it said.

Every answer is a JSON object with exactly two keys, `reasoning` first (so the model
writes its justification before it commits to a decision) and then the decision:
`score` for a graded or binary verdict, `winner` for a pairwise comparison. Scores are
integers from a closed set (`enum`), which both OpenAI strict structured output and
Anthropic's JSON-schema output accept; numeric bounds (`minimum`, `maximum`) are not
accepted everywhere. A kind that checks evidence (faithfulness, correctness with
`evidence=True`) adds a third key between them, `evidence`: the quotes the judge relies
on, which the plugin looks up in the material (`judges/evidence.py`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: Longest reasoning kept, in characters (a judge that rambles is cut, not refused).
MAX_REASONING_CHARS = 4000

#: The key of the quoted evidence in an answer that asks for it.
EVIDENCE_KEY = "evidence"

#: Most quotes kept from one answer, and the longest quote kept, in characters.
MAX_QUOTES = 20
MAX_QUOTE_CHARS = 1000

EVIDENCE_DESCRIPTION = (
    "Exact quotes, copied word for word from the fenced material, of the passages your "
    "answer relies on; an empty list if it relies on none."
)

_CODE_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n(.*)\n\s*```$", re.DOTALL)


class InvalidAnswer(ValueError):
    """A judge's reply is not valid JSON of the expected shape (the message says why)."""


@dataclass(frozen=True)
class AnswerSpec:
    """The shape of one kind of answer: the decision field and its allowed values."""

    name: str
    field: str
    values: tuple[int | str, ...]
    description: str
    guide: str  # how the system prompt explains the decision
    #: Whether the answer also quotes its evidence (`evidence`, between reasoning and decision).
    evidence: bool = False

    def keys(self) -> tuple[str, ...]:
        """The answer's keys, in the order the judge writes them."""
        if self.evidence:
            return ("reasoning", EVIDENCE_KEY, self.field)
        return ("reasoning", self.field)

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the answer object, `reasoning` before the decision."""
        kind = "integer" if all(isinstance(v, int) for v in self.values) else "string"
        properties: dict[str, Any] = {
            "reasoning": {
                "type": "string",
                "description": "Brief justification, citing the material; written first.",
            },
        }
        if self.evidence:
            properties[EVIDENCE_KEY] = {
                "type": "array",
                "items": {"type": "string"},
                "description": EVIDENCE_DESCRIPTION,
            }
        properties[self.field] = {
            "type": kind,
            "enum": list(self.values),
            "description": self.description,
        }
        return {
            "type": "object",
            "properties": properties,
            "required": list(self.keys()),
            "additionalProperties": False,
        }

    def allowed(self) -> str:
        """The allowed values, as a reader sees them (`0, 1` or `"A", "B", "tie"`)."""
        return ", ".join(json.dumps(v) for v in self.values)

    def parse(self, text: str) -> tuple[str, int | str]:
        """(reasoning, decision) from a reply's text; raise InvalidAnswer saying what is wrong."""
        reasoning, decision, _ = self.parse_with_evidence(text)
        return reasoning, decision

    def parse_with_evidence(self, text: str) -> tuple[str, int | str, tuple[str, ...] | None]:
        """(reasoning, decision, quotes) from a reply's text.

        The quotes are None when this answer does not ask for evidence, or when the
        reply has none (an answer recorded before evidence was asked for still loads).
        """
        body = text.strip()
        fenced = _CODE_FENCE.match(body)
        if fenced is not None:
            body = fenced.group(1).strip()
        if not body:
            raise InvalidAnswer("the reply is empty; expected a JSON object")
        try:
            document = json.loads(body)
        except json.JSONDecodeError as error:
            raise InvalidAnswer(f"the reply is not valid JSON ({error})") from None
        if not isinstance(document, dict):
            raise InvalidAnswer(f"expected a JSON object, got {type(document).__name__}")
        missing = [key for key in ("reasoning", self.field) if key not in document]
        if missing:
            raise InvalidAnswer(f"the JSON object lacks {' and '.join(map(repr, missing))}")
        extra = sorted(set(document) - set(self.keys()))
        if extra:
            raise InvalidAnswer(f"unexpected key(s) {', '.join(map(repr, extra))}")
        reasoning = document["reasoning"]
        if not isinstance(reasoning, str) or not reasoning.strip():
            raise InvalidAnswer('"reasoning" must be a non-empty string')
        quotes = self._quotes(document.get(EVIDENCE_KEY))
        decision = self._decision(document[self.field])
        return reasoning.strip()[:MAX_REASONING_CHARS], decision, quotes

    def _quotes(self, value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InvalidAnswer(f'"{EVIDENCE_KEY}" must be a list of strings, got {value!r}')
        return tuple(item[:MAX_QUOTE_CHARS] for item in value[:MAX_QUOTES])

    def _decision(self, value: Any) -> int | str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            text = value.strip().lower()
            for allowed in self.values:
                if text == str(allowed).lower():
                    return allowed
        elif not isinstance(value, bool) and value in self.values:
            return value  # type: ignore[no-any-return]
        raise InvalidAnswer(f'"{self.field}" must be one of {self.allowed()}, got {value!r}')


SCALES: dict[str, tuple[int, ...]] = {
    "binary": (0, 1),
    "1-5": (1, 2, 3, 4, 5),
    "0-10": tuple(range(11)),
}

_SCALE_TEXT = {
    "binary": (
        "1 if the output meets the criteria, 0 if it does not.",
        (
            "1 if the output meets the criteria, 0 if it does not. If it meets them only "
            "in part, or you cannot tell, answer 0."
        ),
    ),
    "1-5": (
        "How well the output meets the criteria, from 1 (not at all) to 5 (fully).",
        (
            "an integer from 1 to 5: 1 = does not meet the criteria at all, 2 = mostly "
            "fails them, 3 = meets them in part, 4 = meets them with minor flaws, 5 = fully "
            "meets them."
        ),
    ),
    "0-10": (
        "How well the output meets the criteria, from 0 (not at all) to 10 (fully).",
        (
            "an integer from 0 to 10: 0 = does not meet the criteria at all, 5 = meets "
            "about half of what they ask, 10 = fully meets them."
        ),
    ),
}

WINNERS = ("A", "B", "tie")


def score_spec(scale: str, evidence: bool = False) -> AnswerSpec:
    """The answer of a verdict on `scale` (binary, 1-5 or 0-10), quoting evidence if asked."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    description, guide = _SCALE_TEXT[scale]
    return AnswerSpec("judge_verdict", "score", SCALES[scale], description, guide, evidence)


def winner_spec() -> AnswerSpec:
    """The answer of a pairwise comparison: A, B or tie."""
    return AnswerSpec(
        "pairwise_verdict",
        "winner",
        WINNERS,
        'Which output better meets the criteria: "A", "B", or "tie" if neither is better.',
        '"A" if output A better meets the criteria, "B" if output B does, or "tie" if '
        "neither is better. The order in which the outputs are shown is arbitrary and is "
        "no reason to prefer either.",
    )


def normalize_score(raw: int, scale: str) -> float:
    """A raw score on `scale` as a number from 0 to 1."""
    values = SCALES[scale]
    low, high = values[0], values[-1]
    return (raw - low) / (high - low)
