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
at most `value` seconds). `rubric` (promptfoo's `llm-rubric`, an alias) is judged by the
test's judge against the criteria `value`, with an optional `threshold`: only its
parsing lives here, `run_checks` asks the judge. `similar` is not supported yet.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
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
    "rubric",
)
#: Other spellings of a type (promptfoo's), read as the type they name.
ALIASES = {"llm-rubric": "rubric"}
LATER = ("similar",)
EXAMPLE = '"assert": [{"type": "icontains", "value": "refund"}, {"type": "is-json"}]'
_KEYS = {"type", "value", "name", "weight"}
#: Keys only some types take, by type.
_TYPE_KEYS = {"rubric": {"threshold"}}


class InvalidAssertion(ValueError):
    """A case's assertion list is malformed (the message says which entry and why)."""


@dataclass(frozen=True)
class Assertion:
    """One assertion of a case: its type, value, score name and weight (None: a check)."""

    type: str
    value: Any = None
    name: str = ""
    weight: float | None = None
    #: A rubric's pass mark for the judge's score (None: the judge's own, 0.5).
    threshold: float | None = None


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
    keys = _KEYS | _TYPE_KEYS.get(kind, set()) if isinstance(kind, str) else _KEYS
    unknown = sorted(str(k) for k in entry if k not in keys)
    if unknown:
        raise InvalidAssertion(
            f"{where}: unknown key {', '.join(unknown)} (allowed: {', '.join(sorted(keys))})"
        )
    if kind in LATER:
        raise InvalidAssertion(
            f"{where}: type {kind!r} is not supported by run_checks yet; "
            "judge it with llm_eval.judge() in the test"
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
    threshold = entry.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0.0 <= threshold <= 1.0  # also refuses NaN
    ):
        raise InvalidAssertion(
            f"{where}: 'threshold' must be a number from 0 to 1, got {threshold!r}"
        )
    return Assertion(
        str(kind),
        value,
        name,
        None if weight is None else float(weight),
        None if threshold is None else float(threshold),
    )


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


def apply_assertion(
    assertion: Assertion,
    output: str,
    *,
    app_cost_usd: float | None,
    app_latency_s: float | None,
) -> Outcome:
    """Apply one assertion to `output` (and the app's accounted cost and latency).

    `app_cost_usd` is None when a call could not be priced, `app_latency_s` when no app
    call was made: the assertion then fails and says it could not be evaluated.
    """
    kind, value = assertion.type, assertion.value
    if kind == "rubric":
        raise ValueError("a rubric is judged by the test's judge: apply it with run_checks")
    negated = kind.startswith("not-")
    base = kind.removeprefix("not-")
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
