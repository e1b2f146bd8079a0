"""Deterministic scorers of text: pure functions that return a float in [0, 1] (1 is best).

Only the standard library is imported here; `pydantic_valid` imports pydantic and
`json_schema_valid` jsonschema when called. The other kinds of scorer are the
package's other modules (see its `__init__`).
A wrong argument (a non-string where text is needed, a bad pattern or schema) raises
TypeError or ValueError naming the scorer and the argument; a poor output scores 0.
"""

from __future__ import annotations

import json
import math
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


def json_schema_valid(output: object, schema: Mapping[str, Any] | bool) -> float:
    """1.0 if output (JSON text, or an already parsed value) satisfies the schema, else 0.0.

    Validated by the `jsonschema` library, with the draft the schema's `$schema` names
    (2020-12 when it names none), imported on the first call. `format` is an annotation,
    as the drafts say; `pattern` is a regular expression, searched. A schema that is not
    valid for its draft, or a `$ref` outside the schema, raises ValueError naming where.
    """
    if not isinstance(schema, (Mapping, bool)):
        raise TypeError(f"json_schema_valid: schema must be a dict, got {type(schema).__name__}")
    validator = _validator(schema)
    if isinstance(output, (str, bytes, bytearray)):
        parsed, output = _parse_json("json_schema_valid", output)
        if not parsed:
            return 0.0
    return 1.0 if _first_schema_error(validator, output) is None else 0.0


def _validator(schema: Any) -> Any:
    """A jsonschema validator for the schema, which is checked against its draft first."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "#" + "".join(f"/{part}" for part in error.absolute_path)
        draft = cls.__name__.removesuffix("Validator")
        raise ValueError(
            f"json_schema_valid: schema at {where} is not valid {draft} JSON Schema: "
            f"{error.message}"
        ) from None
    return cls(schema)


def _first_schema_error(validator: Any, value: Any) -> str | None:
    """Where and why value breaks the schema (the best match), or None if it conforms."""
    import jsonschema
    import referencing.exceptions

    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    except referencing.exceptions.Unresolvable as unresolvable:
        raise ValueError(
            f"json_schema_valid: $ref {unresolvable.ref!r} cannot be resolved: only refs "
            "within the schema (#/...) are followed, nothing is fetched"
        ) from None
    if error is None:
        return None
    at = "$" + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    )
    return f"{at}: {error.message}"


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
    """1 - Levenshtein distance / length of the longer string (1.0 for two empty strings).

    A similarity, 1 for identical texts, not a distance: promptfoo's `levenshtein` and
    LangSmith's `edit_distance` measure edits, where 0 is identical and lower is better.
    A promptfoo threshold of `t` edits is `edit_similarity(a, b) >= 1 - t / max(len(a),
    len(b))`.
    """
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
