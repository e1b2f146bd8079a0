"""Assertions a case carries in its dataset row (`"assert": [...]`): parsed, then applied.

promptfoo's per-row `assert:` lists, for pytest: `load_cases` parses a row's list into
`Assertion`s (a bad one is an error naming the file and the case), and
`llm_eval.run_checks(output)` applies them to the output with `apply_assertion`.
Each is a check (it fails the test whatever the mean) unless it gives a `weight`,
which makes it a weighted score. Pure: standard library (jsonschema imported by the
one assertion that needs it).

Types: `contains`, `icontains` (ignoring case), `regex`, `equals` (a string is
compared exactly; any other JSON value with the output parsed as JSON), each also as
`not-<type>`; `is-json` (optionally with a schema as `value`), `json-schema`; `cost`
(the app's calls cost at most `value` USD) and `latency` (the app's slowest call took
at most `value` seconds); `similar` (the output's embedding similarity to `value`, a
text or a list of texts, is at least `threshold`, default 0.75, with the embedding model
`provider`; `not-similar`: below it), which the caller applies through an embedding
scorer it passes in (`similarity`). `rubric` (promptfoo's `llm-rubric`, an alias) is
judged by the test's judge against the criteria `value`, with an optional `threshold`:
only its parsing lives here, `run_checks` asks the judge.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TEXT_TYPES = ("contains", "icontains", "regex", "equals")
TYPES = (
    *TEXT_TYPES,
    *(f"not-{t}" for t in TEXT_TYPES),
    "is-json",
    "json-schema",
    "cost",
    "latency",
    "similar",
    "not-similar",
    "rubric",
)
#: Other spellings of a type (promptfoo's), read as the type they name.
ALIASES = {"llm-rubric": "rubric"}
EXAMPLE = '"assert": [{"type": "icontains", "value": "refund"}, {"type": "is-json"}]'
_KEYS = {"type", "value", "name", "weight"}
#: Keys only some types take, and which.
_TYPE_KEYS = {
    "threshold": ("similar", "not-similar", "rubric"),
    "provider": ("similar", "not-similar"),
}
#: promptfoo's default `similar` threshold.
SIMILAR_THRESHOLD = 0.75


class InvalidAssertion(ValueError):
    """A case's assertion list is malformed (the message says which entry and why)."""


@dataclass(frozen=True)
class Assertion:
    """One assertion of a case: its type, value, score name and weight (None: a check)."""

    type: str
    value: Any = None
    name: str = ""
    weight: float | None = None
    #: similar: the least similarity that passes; rubric: the judge score it needs
    #: (None: the verdict's own pass mark, 0.5).
    threshold: float | None = None
    model: str | None = None  # similar: the embedding model, provider:model (None: default)


@dataclass(frozen=True)
class Outcome:
    """An assertion applied to an output: the value in [0, 1] and why."""

    value: float
    reason: str


def parse_assertions(raw: object) -> tuple[Assertion, ...]:
    """A row's `assert` list as Assertions, or InvalidAssertion saying what is wrong."""
    if raw is None:
        return ()
    if isinstance(raw, str):  # a CSV cell holds the list as JSON
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise InvalidAssertion(f"'assert' is not a JSON list ({error.msg})") from None
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise InvalidAssertion(f"'assert' must be a list of assertions, got {type(raw).__name__}")
    parsed: list[Assertion] = []
    names: set[str] = set()
    for number, entry in enumerate(raw, 1):
        where = f"assertion {number}"
        assertion = _parse_one(entry, where)
        name = assertion.name or _unique(assertion.type, names)
        if name in names:
            raise InvalidAssertion(f"{where}: the name {name!r} is used twice in this case")
        names.add(name)
        parsed.append(dataclasses.replace(assertion, name=name))
    return tuple(parsed)


def _unique(base: str, taken: set[str]) -> str:
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def _parse_one(entry: object, where: str) -> Assertion:
    if not isinstance(entry, Mapping):
        raise InvalidAssertion(
            f"{where}: an assertion is an object with a 'type', got {type(entry).__name__}"
        )
    kind = entry.get("type")
    kind = ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    allowed = _KEYS | {key for key, types in _TYPE_KEYS.items() if kind in types}
    unknown = sorted(str(k) for k in entry if k not in allowed)
    if unknown:
        raise InvalidAssertion(
            f"{where}: unknown key {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    if kind not in TYPES:
        raise InvalidAssertion(f"{where}: unknown type {kind!r}; supported: {', '.join(TYPES)}")
    value = entry.get("value")
    name = entry.get("name", "")
    if not isinstance(name, str) or (name == "" and "name" in entry):
        raise InvalidAssertion(f"{where}: 'name' must be a non-empty string, got {name!r}")
    weight = entry.get("weight")
    if weight is not None and (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or math.isnan(weight)
        or math.isinf(weight)
        or weight < 0
    ):
        raise InvalidAssertion(f"{where}: 'weight' must be a number >= 0, got {weight!r}")
    _check_value(str(kind), value, where)
    weight = None if weight is None else float(weight)
    if kind in ("similar", "not-similar"):
        threshold, model = _similar_options(entry, where)
        return Assertion(str(kind), value, name, weight, threshold, model)
    mark = entry.get("threshold")
    if mark is not None and (
        isinstance(mark, bool)
        or not isinstance(mark, (int, float))
        or not 0.0 <= mark <= 1.0  # also refuses NaN
    ):
        raise InvalidAssertion(f"{where}: 'threshold' must be a number from 0 to 1, got {mark!r}")
    return Assertion(str(kind), value, name, weight, None if mark is None else float(mark))


def _similar_options(entry: Mapping[Any, Any], where: str) -> tuple[float, str | None]:
    """A similar assertion's threshold (default 0.75) and embedding model (None: the
    scorer's default). promptfoo's `openai:embedding:<model>` is read as `openai:<model>`."""
    threshold = entry.get("threshold", SIMILAR_THRESHOLD)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or math.isnan(threshold)
        or not 0 <= threshold <= 1
    ):
        raise InvalidAssertion(
            f"{where}: 'threshold' must be a number from 0 to 1 (a cosine similarity), "
            f"got {threshold!r}"
        )
    provider = entry.get("provider")
    if provider is None:
        return float(threshold), None
    if not isinstance(provider, str) or not re.fullmatch(r"[\w.-]+:\S+", provider.strip()):
        raise InvalidAssertion(
            f"{where}: 'provider' must be an embedding model as provider:model, e.g. "
            f"'openai:text-embedding-3-small', got {provider!r}"
        )
    family, _, model = provider.strip().partition(":")
    if model.startswith("embedding:"):  # promptfoo's openai:embedding:<model>
        model = model.removeprefix("embedding:")
    if family not in ("openai", "openai-compatible") or not model:
        raise InvalidAssertion(
            f"{where}: 'provider' {provider!r}: similar embeds through OpenAI's embeddings "
            "API; use openai:<model>, or openai-compatible:<model> with OPENAI_BASE_URL set"
        )
    return float(threshold), f"{family}:{model}"


def _check_value(kind: str, value: object, where: str) -> None:
    base = kind.removeprefix("not-")
    if base in ("contains", "icontains", "regex"):
        if not isinstance(value, str) or not value:
            raise InvalidAssertion(f"{where}: {kind} needs a non-empty string 'value'")
        if base == "regex":
            try:
                re.compile(value)
            except re.error as error:
                raise InvalidAssertion(
                    f"{where}: regex {value!r} does not compile: {error}"
                ) from None
    elif base == "equals":
        if value is None:
            raise InvalidAssertion(f"{where}: equals needs a 'value'")
    elif base == "similar":
        texts = [value] if isinstance(value, str) else value
        if (
            not isinstance(texts, list)
            or not texts
            or not all(isinstance(t, str) and t for t in texts)
        ):
            raise InvalidAssertion(
                f"{where}: {kind} needs a 'value': the expected text, or a list of them "
                "(the best match counts)"
            )
    elif kind == "rubric":
        if not isinstance(value, str) or not value.strip():
            raise InvalidAssertion(
                f"{where}: rubric needs the criteria as a non-empty string 'value', "
                'e.g. {"type": "rubric", "value": "is polite"}'
            )
    elif kind in ("is-json", "json-schema"):
        if kind == "json-schema" and not isinstance(value, Mapping):
            raise InvalidAssertion(f"{where}: json-schema needs a JSON Schema object as 'value'")
        if value is not None and not isinstance(value, Mapping):
            raise InvalidAssertion(f"{where}: is-json takes no value or a JSON Schema object")
    else:  # cost, latency
        unit = "US dollars" if kind == "cost" else "seconds"
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or math.isnan(value)
            or value <= 0
        ):
            raise InvalidAssertion(f"{where}: {kind} needs a 'value' in {unit} > 0, got {value!r}")


#: How `apply_assertion` asks for embedding similarities: (output, expected texts, model
#: or None for the default) -> one similarity in [0, 1] per expected text.
Similarity = Callable[[str, Sequence[str], "str | None"], Sequence[float]]


def apply_assertion(
    assertion: Assertion,
    output: str,
    *,
    app_cost_usd: float | None,
    app_latency_s: float | None,
    similarity: Similarity | None = None,
) -> Outcome:
    """Apply one assertion to `output` (and the app's accounted cost and latency).

    `app_cost_usd` is None when a call could not be priced, `app_latency_s` when no app
    call was made: the assertion then fails and says it could not be evaluated.
    `similarity` computes embedding similarities for `similar` (required by it).
    """
    kind, value = assertion.type, assertion.value
    if kind == "rubric":
        raise ValueError("a rubric is judged by the test's judge: apply it with run_checks")
    negated = kind.startswith("not-")
    base = kind.removeprefix("not-")
    if base == "similar":
        if similarity is None:
            raise ValueError(f"{kind} needs an embedding scorer to apply it")
        return _similar_assertion(assertion, output, similarity, negated)
    if base in TEXT_TYPES:
        held, what = _text_assertion(base, value, output)
        if negated:
            return Outcome(0.0 if held else 1.0, f"{'found' if held else 'no'} {what}")
        return Outcome(1.0 if held else 0.0, f"{'found' if held else 'no'} {what}")
    if base in ("is-json", "json-schema"):
        return _json_assertion(value, output)
    if base == "cost":
        if app_cost_usd is None:
            return Outcome(0.0, "cannot be evaluated: an app call has no price")
        ok = app_cost_usd <= value
        return Outcome(
            1.0 if ok else 0.0, f"the app's calls cost ${app_cost_usd:.6g} (limit ${value:g})"
        )
    if app_latency_s is None:
        return Outcome(0.0, "cannot be evaluated: the test made no app call")
    ok = app_latency_s <= value
    return Outcome(
        1.0 if ok else 0.0, f"the slowest app call took {app_latency_s:.3g} s (limit {value:g} s)"
    )


def _similar_assertion(
    assertion: Assertion, output: str, similarity: Similarity, negated: bool
) -> Outcome:
    texts = [assertion.value] if isinstance(assertion.value, str) else list(assertion.value)
    values = list(similarity(output, texts, assertion.model))
    best = max(range(len(texts)), key=lambda i: values[i])
    limit = SIMILAR_THRESHOLD if assertion.threshold is None else assertion.threshold
    held = values[best] >= limit
    closest = "" if len(texts) == 1 else f" (the closest of {len(texts)})"
    what = f"similarity {values[best]:.3f} to {_clip(texts[best])!r}{closest}"
    if negated:
        return Outcome(0.0 if held else 1.0, f"{what}, {'not ' if held else ''}below {limit:g}")
    return Outcome(1.0 if held else 0.0, f"{what}, {'at least' if held else 'below'} {limit:g}")


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _text_assertion(base: str, value: Any, output: str) -> tuple[bool, str]:
    if base == "contains":
        return value in output, f"{value!r} in the output"
    if base == "icontains":
        return value.casefold() in output.casefold(), f"{value!r} in the output (ignoring case)"
    if base == "regex":
        return re.search(value, output) is not None, f"match for /{value}/"
    if isinstance(value, str):
        return output == value, "exact match"
    try:
        return json.loads(output) == value, "JSON equal to the value"
    except json.JSONDecodeError:
        return False, "JSON output to compare (it does not parse)"


def _json_assertion(schema: Any, output: str) -> Outcome:
    try:
        data = json.loads(output)
    except json.JSONDecodeError as error:
        return Outcome(0.0, f"the output is not JSON: {error.msg} at line {error.lineno}")
    if schema is None:
        return Outcome(1.0, "the output is JSON")
    import jsonschema

    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as error:
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return Outcome(0.0, f"the output breaks the schema at {path}: {error.message}")
    except jsonschema.SchemaError as error:
        raise ValueError(f"json-schema: the schema is invalid: {error.message}") from None
    return Outcome(1.0, "the output matches the schema")
