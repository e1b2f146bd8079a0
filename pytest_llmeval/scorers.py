"""Deterministic scorers: pure functions that return a float in [0, 1] (1 is best).

Only the standard library is imported here; `pydantic_valid` imports pydantic when called.
A wrong argument (a non-string where text is needed, a bad pattern or schema) raises
TypeError or ValueError naming the scorer and the argument; a poor output scores 0.
"""

from __future__ import annotations

import json
import math
import operator
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "contains",
    "edit_similarity",
    "exact",
    "json_schema_valid",
    "json_valid",
    "numeric_close",
    "pydantic_valid",
    "regex",
    "token_f1",
]


def _text(scorer: str, argument: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{scorer}: {argument} must be a str, got {type(value).__name__}")
    return value


def exact(
    output: object, expected: object, *, case_sensitive: bool = True, strip: bool = True
) -> float:
    """1.0 if output equals expected (strings after optional strip and casefold), else 0.0."""
    if isinstance(output, str) != isinstance(expected, str):
        raise TypeError(
            f"exact: output is {type(output).__name__} but expected is "
            f"{type(expected).__name__}; convert one (e.g. str(expected)) or use numeric_close"
        )
    if isinstance(output, str) and isinstance(expected, str):
        if strip:
            output, expected = output.strip(), expected.strip()
        if not case_sensitive:
            output, expected = output.casefold(), expected.casefold()
    return 1.0 if output == expected else 0.0


def contains(
    output: str,
    needles: str | Sequence[str],
    *,
    mode: Literal["all", "any"] = "all",
    case_sensitive: bool = False,
) -> float:
    """Fraction of needles found in output (mode "all"), or 1.0 if any is found (mode "any")."""
    text = _text("contains", "output", output)
    wanted = [needles] if isinstance(needles, str) else list(needles)
    if not wanted:
        raise ValueError("contains: needles is empty; pass at least one string to look for")
    for needle in wanted:
        if not _text("contains", "each needle", needle):
            raise ValueError("contains: needles holds an empty string, which every text contains")
    if mode not in ("all", "any"):
        raise ValueError(f"contains: mode must be 'all' or 'any', got {mode!r}")
    if not case_sensitive:
        text, wanted = text.casefold(), [needle.casefold() for needle in wanted]
    found = sum(needle in text for needle in wanted)
    if mode == "any":
        return 1.0 if found else 0.0
    return found / len(wanted)


def regex(
    output: str, pattern: str | re.Pattern[str], *, flags: int = 0, fullmatch: bool = False
) -> float:
    """1.0 if the pattern matches somewhere in output (or all of it, with fullmatch), else 0.0."""
    text = _text("regex", "output", output)
    if not isinstance(pattern, (str, re.Pattern)):
        raise TypeError(f"regex: pattern must be a str or re.Pattern, got {type(pattern).__name__}")
    try:
        compiled = re.compile(pattern, flags)
    except (re.error, ValueError, TypeError) as exc:
        raise ValueError(f"regex: invalid pattern {pattern!r}: {exc}") from exc
    match = compiled.fullmatch(text) if fullmatch else compiled.search(text)
    return 1.0 if match else 0.0


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(scorer: str, output: object) -> tuple[bool, Any]:
    """(parsed, value): strict JSON, so NaN and Infinity, which Python accepts, are refused."""
    if not isinstance(output, (str, bytes, bytearray)):
        raise TypeError(f"{scorer}: output must be str or bytes, got {type(output).__name__}")
    try:
        return True, json.loads(output, parse_constant=_refuse_constant)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError and refused constants
        return False, None


def json_valid(output: str | bytes | bytearray) -> float:
    """1.0 if output is one valid JSON document (strict: no NaN, no code fences), else 0.0."""
    return 1.0 if _parse_json("json_valid", output)[0] else 0.0


# A subset of JSON Schema (draft 2020-12 semantics), enough for hand-written schemas and for
# what pydantic's model_json_schema() emits. Any other keyword is refused, not ignored.
_ASSERTIONS = {
    "type", "enum", "const", "properties", "required", "additionalProperties", "items",
    "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "pattern", "anyOf", "allOf", "oneOf", "not", "$ref",
}  # fmt: skip
_ANNOTATIONS = {
    "$schema", "$id", "$comment", "$defs", "definitions", "title", "description", "default",
    "examples", "deprecated", "readOnly", "writeOnly", "format",
}  # fmt: skip
_BOUNDS = (
    ("minimum", operator.ge),
    ("maximum", operator.le),
    ("exclusiveMinimum", operator.gt),
    ("exclusiveMaximum", operator.lt),
)
_NUMERIC_KEYWORDS = [key for key, _ in _BOUNDS] + ["minLength", "maxLength", "minItems", "maxItems"]
_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def json_schema_valid(output: object, schema: Mapping[str, Any]) -> float:
    """1.0 if output (JSON text, or an already parsed value) satisfies the schema, else 0.0.

    Supported keywords: type, enum, const, properties, required, additionalProperties,
    items (one schema), minItems, maxItems, minimum, maximum, exclusiveMinimum,
    exclusiveMaximum, minLength, maxLength, pattern, anyOf, allOf, oneOf, not, and $ref to
    "#/..." in the same schema ($defs); pattern is a Python regular expression, searched.
    Annotations (title, description, default, format,
    ...) are ignored, as the 2020-12 draft says; any other keyword raises ValueError.
    """
    if not isinstance(schema, (Mapping, bool)):
        raise TypeError(f"json_schema_valid: schema must be a dict, got {type(schema).__name__}")
    _check_schema(schema, schema, "#")
    if isinstance(output, (str, bytes, bytearray)):
        parsed, output = _parse_json("json_schema_valid", output)
        if not parsed:
            return 0.0
    return 1.0 if _schema_error(output, schema, schema, "$") is None else 0.0


def _check_schema(schema: Any, root: Any, where: str) -> None:
    def fail(problem: str) -> ValueError:
        return ValueError(f"json_schema_valid: schema at {where} {problem}")

    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise fail(f"must be an object or a boolean, got {type(schema).__name__}")
    unknown = sorted(set(schema) - _ASSERTIONS - _ANNOTATIONS)
    if unknown:
        raise fail(f"uses {unknown[0]!r}, which is not supported; supported: {sorted(_ASSERTIONS)}")
    types = schema.get("type", [])
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list) or not all(name in _TYPES for name in map(str, names)):
        raise fail(f"has an unknown type {types!r}; use one or a list of {sorted(_TYPES)}")
    for key in _NUMERIC_KEYWORDS:
        if key in schema and not _is_number(schema[key]):
            raise fail(f"has {key!r} that is not a number: {schema[key]!r}")
    if "items" in schema and not isinstance(schema["items"], (Mapping, bool)):
        raise fail("has 'items' as a list (tuple validation), which is not supported")
    if "$ref" in schema:
        _resolve_ref(schema["$ref"], root)
    for key in ("properties", "$defs", "definitions"):
        if not isinstance(schema.get(key, {}), Mapping):
            raise fail(f"has {key!r} that is not an object")
    for key in ("anyOf", "allOf", "oneOf", "required", "enum"):
        if not isinstance(schema.get(key, []), list):
            raise fail(f"has {key!r} that is not a list")
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (re.error, TypeError) as exc:
            raise fail(f"has an invalid pattern {schema['pattern']!r}: {exc}") from exc
    children: list[tuple[str, Any]] = []
    for key in ("properties", "$defs", "definitions"):
        children += [(f"{key}/{name}", sub) for name, sub in schema.get(key, {}).items()]
    for key in ("additionalProperties", "items", "not"):
        if key in schema:
            children.append((key, schema[key]))
    for key in ("anyOf", "allOf", "oneOf"):
        children += [(f"{key}/{index}", sub) for index, sub in enumerate(schema.get(key, []))]
    for path, sub in children:
        _check_schema(sub, root, f"{where}/{path}")


def _resolve_ref(ref: Any, root: Any) -> Any:
    if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
        raise ValueError(f"json_schema_valid: $ref {ref!r} is not supported; only '#/...' refs")
    target = root
    for part in ref[2:].split("/") if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or part not in target:
            raise ValueError(f"json_schema_valid: $ref {ref!r} points to nothing in the schema")
        target = target[part]
    return target


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return (type(a) is type(b) or (_is_number(a) and _is_number(b))) and a == b


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _has_type(value: Any, name: str) -> bool:
    if name == "integer":
        return _is_number(value) and float(value).is_integer()
    return {
        "object": isinstance(value, Mapping),
        "array": isinstance(value, (list, tuple)),
        "string": isinstance(value, str),
        "number": _is_number(value),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }[name]


def _schema_error(value: Any, schema: Any, root: Any, at: str) -> str | None:
    """Where and why value breaks schema (the first problem found), or None if it conforms."""
    if isinstance(schema, bool):
        return None if schema else f"{at}: no value is allowed here"
    if "$ref" in schema:
        problem = _schema_error(value, _resolve_ref(schema["$ref"], root), root, at)
        if problem:
            return problem
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_has_type(value, name) for name in names):
            return f"{at}: expected {' or '.join(names)}"
    if "const" in schema and not _json_equal(value, schema["const"]):
        return f"{at}: expected {schema['const']!r}"
    if "enum" in schema and not any(_json_equal(value, option) for option in schema["enum"]):
        return f"{at}: expected one of {schema['enum']!r}"
    for key, check in (("allOf", all), ("anyOf", any)):
        if key in schema and not check(
            _schema_error(value, sub, root, at) is None for sub in schema[key]
        ):
            return f"{at}: does not match {key}"
    if "oneOf" in schema:
        matches = sum(_schema_error(value, sub, root, at) is None for sub in schema["oneOf"])
        if matches != 1:
            return f"{at}: matches {matches} of the oneOf schemas, not exactly 1"
    if "not" in schema and _schema_error(value, schema["not"], root, at) is None:
        return f"{at}: matches the 'not' schema"
    if _is_number(value):
        for key, within in _BOUNDS:
            if key in schema and not within(value, schema[key]):
                return f"{at}: {value!r} breaks {key} {schema[key]!r}"
    if isinstance(value, str):
        length = len(value)
        if length < schema.get("minLength", 0) or length > schema.get("maxLength", math.inf):
            return f"{at}: length {length} is outside minLength/maxLength"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{at}: does not match pattern {schema['pattern']!r}"
    if isinstance(value, (list, tuple)):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", math.inf):
            return f"{at}: {len(value)} items is outside minItems/maxItems"
        for index, item in enumerate(value):
            problem = _schema_error(item, schema.get("items", True), root, f"{at}[{index}]")
            if problem:
                return problem
    if isinstance(value, Mapping):
        missing = [name for name in schema.get("required", []) if name not in value]
        if missing:
            return f"{at}: missing required {missing[0]!r}"
        properties = schema.get("properties", {})
        for name, item in value.items():
            sub = properties.get(name, schema.get("additionalProperties", True))
            problem = _schema_error(item, sub, root, f"{at}.{name}")
            if problem:
                return problem
    return None


def pydantic_valid(
    output: str | bytes | bytearray | Mapping[str, Any], model: type[BaseModel]
) -> float:
    """1.0 if output (JSON text or a dict) validates as the pydantic model, else 0.0."""
    from pydantic import BaseModel, ValidationError

    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"pydantic_valid: model must be a pydantic BaseModel class, got {model!r}")
    try:
        if isinstance(output, (str, bytes, bytearray)):
            model.model_validate_json(output)
        elif isinstance(output, Mapping):
            model.model_validate(output)
        else:
            raise TypeError(
                f"pydantic_valid: output must be str, bytes or a dict, got {type(output).__name__}"
            )
    except ValidationError:
        return 0.0
    return 1.0


# The first number in a text: a sign only where it cannot be a hyphen ("GPT-4" holds 4),
# thousands commas, decimals, exponent; U+2212 is the minus sign.
_NUMBER = re.compile(
    r"(?:(?<![A-Za-z0-9])[-+\u2212])?"
    r"(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
)


def numeric_close(
    output: str | float,
    expected: float,
    *,
    rel_tol: float = 1e-6,
    abs_tol: float = 0.0,
    scale: float | None = None,
) -> float:
    """1.0 if the first number in output is close to expected; with scale, 1 - |diff|/scale."""
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        raise TypeError(f"numeric_close: expected must be a number, got {type(expected).__name__}")
    try:
        target = float(expected)
    except OverflowError:
        target = math.inf
    if not math.isfinite(target):
        raise ValueError(f"numeric_close: expected must be finite, got {expected!r}")
    if rel_tol < 0 or abs_tol < 0:
        raise ValueError("numeric_close: rel_tol and abs_tol must be >= 0")
    if scale is not None and not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"numeric_close: scale must be a positive number, got {scale!r}")
    if isinstance(output, str):
        match = _NUMBER.search(output)
        if match is None:
            return 0.0
        value = float(match.group().replace(",", "").replace("\u2212", "-"))
    elif isinstance(output, (int, float)) and not isinstance(output, bool):
        try:
            value = float(output)
        except OverflowError:  # an int too large for a float is far from any finite target
            return 0.0
    else:
        raise TypeError(
            f"numeric_close: output must be a str or a number, got {type(output).__name__}"
        )
    if not math.isfinite(value):
        return 0.0
    if math.isclose(value, target, rel_tol=rel_tol, abs_tol=abs_tol):
        return 1.0
    if scale is None:
        return 0.0
    return min(1.0, max(0.0, 1.0 - abs(value - target) / scale))


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / length of the longer string (1.0 for two empty strings)."""
    a, b = _text("edit_similarity", "a", a), _text("edit_similarity", "b", b)
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    return 1.0 - _levenshtein(a, b) / longest


def _levenshtein(a: str, b: str) -> int:
    # A shared prefix and suffix cost nothing: trimming them first keeps the O(n*m) table small.
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[start : len(a) - end], b[start : len(b) - end]
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def _answer_tokens(text: str) -> list[str]:
    """SQuAD's normalisation: lower case, drop punctuation and English articles, split."""
    text = "".join(
        " " if char in string.punctuation or unicodedata.category(char).startswith("P") else char
        for char in text.lower()
    )
    return _ARTICLES.sub(" ", text).split()


def token_f1(output: str, expected: str) -> float:
    """SQuAD-style F1 of the word bags of output and expected (lower case, no punctuation)."""
    tokens = _answer_tokens(_text("token_f1", "output", output))
    reference = _answer_tokens(_text("token_f1", "expected", expected))
    if not tokens or not reference:
        return 1.0 if tokens == reference else 0.0
    common = sum((Counter(tokens) & Counter(reference)).values())
    return 2 * common / (len(tokens) + len(reference))
