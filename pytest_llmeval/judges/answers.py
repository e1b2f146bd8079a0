"""What a judge must answer: the JSON schema it is given, and the check of what it said.

Every answer is a JSON object with exactly two keys, `reasoning` first (so the model
writes its justification before it commits to a decision) and then the decision:
`score` for a graded or binary verdict, `winner` for a pairwise comparison. Scores are
integers from a closed set (`enum`), which both OpenAI strict structured output and
Anthropic's JSON-schema output accept; numeric bounds (`minimum`, `maximum`) are not
accepted everywhere. A kind that checks evidence (faithfulness, correctness with
`evidence=True`) adds a third key between them, `evidence`: the quotes the judge relies
on, which the plugin looks up in the material (`judges/evidence.py`).

A judge that gives one verdict per item (the context judges: per retrieved passage, or
per statement of a reference) answers a list instead, `ItemListSpec`: its items are
checked here and read into `ItemVerdict`s, which the kind turns into a score in code.
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
class ItemVerdict:
    """The judge's verdict on one item of a list answer: a passage or a statement."""

    #: The item's place, from 1: a passage's rank, or a statement's order in the reference.
    number: int
    #: 1 when the item holds (the passage is relevant, the statement supported), else 0.
    verdict: int
    reasoning: str
    #: The item's text, for items the judge wrote itself (statements); None for passages.
    text: str | None = None


@dataclass(frozen=True)
class Reading:
    """What one reply said: its reasoning, decision, quoted evidence and item verdicts."""

    reasoning: str
    decision: int | str
    evidence: tuple[str, ...] | None = None
    items: tuple[ItemVerdict, ...] = ()


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

    def expected(self) -> str:
        """What the decision must be, as a re-ask quotes it."""
        return f"one of {self.allowed()}"

    def read(self, text: str) -> Reading:
        """Everything a reply's text says; raise InvalidAnswer saying what is wrong."""
        return Reading(*self.parse_with_evidence(text))

    def parse(self, text: str) -> tuple[str, int | str]:
        """(reasoning, decision) from a reply's text; raise InvalidAnswer saying what is wrong."""
        reasoning, decision, _ = self.parse_with_evidence(text)
        return reasoning, decision

    def parse_with_evidence(self, text: str) -> tuple[str, int | str, tuple[str, ...] | None]:
        """(reasoning, decision, quotes) from a reply's text.

        The quotes are None when this answer does not ask for evidence, or when the
        reply has none (an answer recorded before evidence was asked for still loads).
        """
        document = json_object(text)
        reasoning = _checked_keys(document, ("reasoning", self.field), self.keys())
        quotes = self._quotes(document.get(EVIDENCE_KEY))
        decision = self._decision(document[self.field])
        return reasoning, decision, quotes

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


def json_object(text: str) -> dict[str, Any]:
    """The JSON object a reply's text holds (a code fence around it is tolerated): what a
    judge's verdict and a simulated user's step are read from."""
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
    return document


def _checked_keys(
    document: dict[str, Any], required: tuple[str, ...], allowed: tuple[str, ...], where: str = ""
) -> str:
    """The document's reasoning, after checking it has the required keys and no others."""
    missing = [key for key in required if key not in document]
    if missing:
        raise InvalidAnswer(f"{where}the JSON object lacks {' and '.join(map(repr, missing))}")
    extra = sorted(set(document) - set(allowed))
    if extra:
        raise InvalidAnswer(f"{where}unexpected key(s) {', '.join(map(repr, extra))}")
    reasoning = document["reasoning"]
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise InvalidAnswer(f'{where}"reasoning" must be a non-empty string')
    return reasoning.strip()[:MAX_REASONING_CHARS]


@dataclass(frozen=True)
class ItemListSpec(AnswerSpec):
    """An answer with one verdict per item: `reasoning`, then a list of item objects.

    Each item object has the item (`item_key`: a passage's number when `count` is
    given, else the text of an item the judge lists itself), its own `reasoning`, and
    its verdict (`verdict_key`, 1 or 0). With `count` the list must give each passage
    from 1 to `count` exactly once; without it, at least one item. The decision is the
    number of items whose verdict is 1.
    """

    item_key: str = "passage"
    verdict_key: str = "relevant"
    count: int | None = None
    item_description: str = ""
    verdict_description: str = ""

    def schema(self) -> dict[str, Any]:
        """The JSON schema: reasoning, then the list of item objects."""
        item: dict[str, Any]
        if self.count is not None:
            item = {"type": "integer", "enum": list(range(1, self.count + 1))}
        else:
            item = {"type": "string"}
        item["description"] = self.item_description
        item_keys = [self.item_key, "reasoning", self.verdict_key]
        return {
            "type": "object",
            "properties": {
                "reasoning": {
                    "type": "string",
                    "description": "Brief overall justification, citing the material; written "
                    "first.",
                },
                self.field: {
                    "type": "array",
                    "description": self.description,
                    "items": {
                        "type": "object",
                        "properties": {
                            self.item_key: item,
                            "reasoning": {
                                "type": "string",
                                "description": "One sentence on this item; written before "
                                "the verdict.",
                            },
                            self.verdict_key: {
                                "type": "integer",
                                "enum": [0, 1],
                                "description": self.verdict_description,
                            },
                        },
                        "required": item_keys,
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["reasoning", self.field],
            "additionalProperties": False,
        }

    def expected(self) -> str:
        """The list the re-ask asks for."""
        what = (
            f"one object per passage, 1 to {self.count}"
            if self.count is not None
            else "one object per item"
        )
        return (
            f'a list with {what}, each with "{self.item_key}", "reasoning" and '
            f'"{self.verdict_key}" (0 or 1)'
        )

    def parse_with_evidence(self, text: str) -> tuple[str, int | str, tuple[str, ...] | None]:
        """(reasoning, number of items that hold, None) from a reply's text."""
        reading = self.read(text)
        return reading.reasoning, reading.decision, None

    def read(self, text: str) -> Reading:
        """The reasoning and the item verdicts, in item order; InvalidAnswer if unusable."""
        document = json_object(text)
        reasoning = _checked_keys(document, ("reasoning", self.field), self.keys())
        entries = document[self.field]
        if not isinstance(entries, list) or not entries:
            raise InvalidAnswer(f'"{self.field}" must be a non-empty list of objects')
        items = [self._item(entry, index) for index, entry in enumerate(entries, 1)]
        if self.count is not None:
            numbers = [item.number for item in items]
            expected = list(range(1, self.count + 1))
            if sorted(numbers) != expected:
                missing = [n for n in expected if n not in numbers]
                twice = sorted({n for n in numbers if numbers.count(n) > 1})
                problems = [
                    f"missing {_listed(missing)}" if missing else "",
                    f"repeated {_listed(twice)}" if twice else "",
                ]
                raise InvalidAnswer(
                    f'"{self.field}" must give one verdict for each {self.item_key} from 1 to '
                    f"{self.count}: {', '.join(p for p in problems if p)}"
                )
            items.sort(key=lambda item: item.number)
        held = sum(item.verdict for item in items)
        return Reading(reasoning, held, None, tuple(items))

    def _item(self, entry: object, index: int) -> ItemVerdict:
        where = f'"{self.field}" item {index}: '
        if not isinstance(entry, dict):
            raise InvalidAnswer(f"{where}expected a JSON object, got {type(entry).__name__}")
        keys = (self.item_key, "reasoning", self.verdict_key)
        reasoning = _checked_keys(entry, keys, keys, where)
        verdict = entry[self.verdict_key]
        if isinstance(verdict, float) and verdict.is_integer():
            verdict = int(verdict)
        if isinstance(verdict, str) and verdict.strip() in ("0", "1"):
            verdict = int(verdict.strip())
        if isinstance(verdict, bool) or verdict not in (0, 1):
            raise InvalidAnswer(f'{where}"{self.verdict_key}" must be 0 or 1, got {verdict!r}')
        value = entry[self.item_key]
        if self.count is not None:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidAnswer(
                    f'{where}"{self.item_key}" must be a {self.item_key} number, got {value!r}'
                )
            return ItemVerdict(value, verdict, reasoning)
        if not isinstance(value, str) or not value.strip():
            raise InvalidAnswer(f'{where}"{self.item_key}" must be a non-empty string')
        return ItemVerdict(index, verdict, reasoning, value.strip()[:MAX_QUOTE_CHARS])


def _listed(numbers: list[int]) -> str:
    return ", ".join(str(number) for number in numbers)


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
