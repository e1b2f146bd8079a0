"""Deterministic scorers: hand-computed values, argument errors and properties."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from pytest_llmeval.scorers import (
    contains,
    edit_similarity,
    exact,
    json_schema_valid,
    json_valid,
    numeric_close,
    pydantic_valid,
    regex,
    token_f1,
)
from pytest_llmeval.scorers import text as text_scorers

# --- exact ------------------------------------------------------------------------------


def test_exact() -> None:
    assert exact(" Paris\n", "Paris") == 1.0
    assert exact(" Paris", "Paris", strip=False) == 0.0
    assert exact("paris", "Paris") == 0.0
    assert exact("paris", "PARIS", case_sensitive=False) == 1.0
    assert exact("Straße", "STRASSE", case_sensitive=False) == 1.0  # casefold, not lower
    assert exact(3, 3) == 1.0
    assert exact({"a": [1]}, {"a": [1]}) == 1.0
    assert exact(None, None) == 1.0
    assert isinstance(exact("a", "a"), float)


def test_exact_refuses_text_against_a_non_text() -> None:
    with pytest.raises(
        TypeError, match=r"exact: output is str but expected is int; .*str\(expected\)"
    ):
        exact("3", 3)


# --- contains -----------------------------------------------------------------------------

ANSWER = "The REFUND window is 30 days."


def test_contains_all_is_the_fraction_found() -> None:
    assert contains(ANSWER, ["30 days", "refund", "receipt"]) == pytest.approx(2 / 3)
    assert contains(ANSWER, ("30 days", "refund")) == 1.0
    assert contains(ANSWER, "receipt") == 0.0
    assert contains(ANSWER, "refund") == 1.0  # one string is one needle, not its characters


def test_contains_any_and_case() -> None:
    assert contains(ANSWER, ["receipt", "window"], mode="any") == 1.0
    assert contains(ANSWER, ["receipt", "invoice"], mode="any") == 0.0
    assert contains(ANSWER, "refund", case_sensitive=True) == 0.0
    assert contains(ANSWER, "REFUND", case_sensitive=True) == 1.0


def test_contains_bad_arguments() -> None:
    with pytest.raises(TypeError, match="contains: output must be a str, got NoneType"):
        contains(None, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="contains: each needle must be a str, got int"):
        contains("x", ["x", 1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="contains: needles is empty"):
        contains("x", [])
    with pytest.raises(ValueError, match="contains: needles holds an empty string"):
        contains("x", ["x", ""])
    with pytest.raises(ValueError, match="contains: mode must be 'all' or 'any', got 'most'"):
        contains("x", "x", mode="most")  # type: ignore[arg-type]


# --- regex -------------------------------------------------------------------------------


def test_regex() -> None:
    assert regex("Order #12345 shipped", r"#\d{5}") == 1.0
    assert regex("Order #12345 shipped", r"#\d{5}", fullmatch=True) == 0.0
    assert regex("#12345", r"#\d{5}", fullmatch=True) == 1.0
    assert regex("ABC", "abc") == 0.0
    assert regex("ABC", "abc", flags=re.IGNORECASE) == 1.0
    assert regex("ABC", re.compile("b", re.IGNORECASE)) == 1.0


def test_regex_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"regex: invalid pattern '\(unclosed'"):
        regex("x", "(unclosed")
    with pytest.raises(ValueError, match="regex: invalid pattern"):
        regex("x", re.compile("x"), flags=re.IGNORECASE)
    with pytest.raises(TypeError, match="regex: output must be a str, got bytes"):
        regex(b"x", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="regex: pattern must be a str or re.Pattern, got int"):
        regex("x", 1)  # type: ignore[arg-type]


# --- json_valid --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "score"),
    [
        ('{"a": [1, 2.5, null, true]}', 1.0),
        ("  42 ", 1.0),
        (b'["bytes"]', 1.0),
        ('{"a": 1,}', 0.0),
        ("NaN", 0.0),
        ('{"x": Infinity}', 0.0),
        ('```json\n{"a": 1}\n```', 0.0),
        ('{"a": 1} {"b": 2}', 0.0),
        ("", 0.0),
        (b"\xff\xfe{", 0.0),
    ],
)
def test_json_valid(output: str | bytes, score: float) -> None:
    assert json_valid(output) == score


def test_json_valid_needs_text() -> None:
    with pytest.raises(TypeError, match="json_valid: output must be str or bytes, got dict"):
        json_valid({"a": 1})  # type: ignore[arg-type]


# --- json_schema_valid -------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 1, "maxLength": 20},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "sources": {"type": "array", "items": {"type": "string", "pattern": "^https://"}},
        "kind": {"enum": ["fact", "opinion"]},
        "count": {"type": "integer", "exclusiveMinimum": 0},
    },
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("output", "score"),
    [
        ('{"answer": "yes"}', 1.0),
        ('{"answer": "yes", "confidence": 0.5, "sources": ["https://x"], "kind": "fact"}', 1.0),
        ('{"answer": "yes", "count": 2.0}', 1.0),  # 2.0 is an integer in JSON Schema
        ('{"answer": ""}', 0.0),
        ('{"answer": "a very long answer indeed"}', 0.0),
        ('{"confidence": 0.5}', 0.0),
        ('{"answer": "yes", "confidence": 1.5}', 0.0),
        ('{"answer": "yes", "confidence": true}', 0.0),
        ('{"answer": "yes", "sources": ["http://x"]}', 0.0),
        ('{"answer": "yes", "kind": "guess"}', 0.0),
        ('{"answer": "yes", "count": 0}', 0.0),
        ('{"answer": "yes", "count": 1.5}', 0.0),
        ('{"answer": "yes", "extra": 1}', 0.0),
        ('["answer"]', 0.0),
        ("not json", 0.0),
    ],
)
def test_json_schema_valid(output: str, score: float) -> None:
    assert json_schema_valid(output, SCHEMA) == score


def test_json_schema_valid_takes_parsed_values_too() -> None:
    assert json_schema_valid({"answer": "yes"}, SCHEMA) == 1.0
    assert json_schema_valid({"answer": 3}, SCHEMA) == 0.0
    assert json_schema_valid(None, {"type": ["string", "null"]}) == 1.0


def test_json_schema_combinators_refs_and_booleans() -> None:
    schema = {
        "$defs": {"positive": {"type": "integer", "minimum": 1}},
        "oneOf": [{"$ref": "#/$defs/positive"}, {"type": "string", "maxLength": 3}],
        "not": {"const": "bad"},
    }
    assert json_schema_valid("3", schema) == 1.0
    assert json_schema_valid('"abc"', schema) == 1.0
    assert json_schema_valid("0", schema) == 0.0
    assert json_schema_valid('"bad"', schema) == 0.0
    assert json_schema_valid('"toolong"', schema) == 0.0
    assert json_schema_valid("[1]", {"allOf": [{"type": "array"}, {"minItems": 1}]}) == 1.0
    assert json_schema_valid("[]", {"allOf": [{"type": "array"}, {"minItems": 1}]}) == 0.0
    assert json_schema_valid("[1, 2]", {"maxItems": 1}) == 0.0
    assert json_schema_valid("true", {"const": 1}) == 0.0  # booleans are not numbers
    assert json_schema_valid("1.0", {"const": 1}) == 1.0
    assert json_schema_valid('{"a": 1}', {"additionalProperties": {"type": "string"}}) == 0.0
    assert json_schema_valid("1", {"anyOf": [{"type": "string"}, {"type": "null"}]}) == 0.0
    assert json_schema_valid('{"x": 1}', {"properties": {"x": False}}) == 0.0


def test_json_schema_valid_refuses_invalid_schemas_naming_where() -> None:
    with pytest.raises(ValueError, match=r"schema at #/type is not valid Draft202012 JSON Schema"):
        json_schema_valid('""', {"type": "str"})
    with pytest.raises(ValueError, match=r"schema at #/pattern .*'\(' is not a 'regex'"):
        json_schema_valid('"x"', {"pattern": "("})
    with pytest.raises(ValueError, match="#/exclusiveMinimum .*True is not of type 'number'"):
        json_schema_valid("1", {"exclusiveMinimum": True})  # draft-4 style in a 2020-12 schema
    with pytest.raises(ValueError, match=r"schema at #/properties/a/minLength"):
        json_schema_valid("{}", {"properties": {"a": {"minLength": -1}}})
    with pytest.raises(TypeError, match="json_schema_valid: schema must be a dict, got str"):
        json_schema_valid("1", "{}")  # type: ignore[arg-type]


def test_json_schema_valid_follows_only_refs_inside_the_schema() -> None:
    with pytest.raises(ValueError, match=r"\$ref 'https://x/s.json' cannot be resolved"):
        json_schema_valid("1", {"$ref": "https://x/s.json"})
    with pytest.raises(ValueError, match=r"missing' cannot be resolved"):
        json_schema_valid("1", {"$ref": "#/$defs/missing"})


def test_json_schema_valid_checks_the_schema_even_when_output_is_not_json() -> None:
    with pytest.raises(ValueError, match="#/type"):
        json_schema_valid("not json", {"type": "str"})


def test_json_schema_valid_covers_the_whole_draft() -> None:
    # keywords the hand-written subset refused: the library validates them
    assert json_schema_valid('{"ab": 1}', {"patternProperties": {"^a": {"type": "string"}}}) == 0.0
    assert (
        json_schema_valid('{"ab": "x"}', {"patternProperties": {"^a": {"type": "string"}}}) == 1.0
    )
    tuple_schema = {"prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False}
    assert json_schema_valid('[1, "x"]', tuple_schema) == 1.0
    assert json_schema_valid('[1, "x", 3]', tuple_schema) == 0.0
    conditional = {"if": {"required": ["card"]}, "then": {"required": ["cvv"]}}
    assert json_schema_valid('{"card": "4111"}', conditional) == 0.0
    assert json_schema_valid('{"card": "4111", "cvv": "123"}', conditional) == 1.0
    assert json_schema_valid('{"a": 1}', {"dependentRequired": {"a": ["b"]}}) == 0.0
    assert json_schema_valid("[1, 1]", {"uniqueItems": True}) == 0.0
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}
    assert json_schema_valid('["x", 1]', draft7) == 1.0  # draft 7 tuple items, by $schema
    assert json_schema_valid("[1]", draft7) == 0.0


class Address(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    city: str = Field(min_length=1)
    zip: str | None = None


class Person(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: str = Field(max_length=10)
    age: int = Field(ge=0, le=150)
    tags: list[str] = []
    kind: Literal["a", "b"]
    address: Address | None = None


def test_json_schema_valid_reads_pydantic_schemas() -> None:
    schema = Person.model_json_schema()
    good = {"name": "Ann", "age": 30, "kind": "a", "address": {"city": "Oslo"}}
    assert json_schema_valid(json.dumps(good), schema) == 1.0
    assert json_schema_valid(json.dumps({**good, "address": {"city": ""}}), schema) == 0.0


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.text(max_size=12),
    st.sampled_from(["a", "b"]),
)
values = st.one_of(
    leaves,
    st.lists(leaves, max_size=3),
    st.dictionaries(st.sampled_from(["city", "zip", "other"]), leaves, max_size=3),
)


# no deadline: the first example imports jsonschema
@settings(deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "age", "tags", "kind", "address", "x"]), values))
def test_json_schema_valid_agrees_with_pydantic(data: dict[str, Any]) -> None:
    text = json.dumps(data)
    assert json_schema_valid(text, Person.model_json_schema()) == pydantic_valid(text, Person)


# --- pydantic_valid ----------------------------------------------------------------------


class Reply(BaseModel):
    answer: str
    score: int


def test_pydantic_valid() -> None:
    assert pydantic_valid('{"answer": "yes", "score": 3}', Reply) == 1.0
    assert pydantic_valid(b'{"answer": "yes", "score": "3"}', Reply) == 1.0  # lax by default
    assert pydantic_valid({"answer": "yes", "score": 3}, Reply) == 1.0
    assert pydantic_valid('{"answer": "yes"}', Reply) == 0.0
    assert pydantic_valid("not json", Reply) == 0.0
    assert pydantic_valid({"answer": "yes", "score": "many"}, Reply) == 0.0


def test_pydantic_valid_bad_arguments() -> None:
    with pytest.raises(TypeError, match="pydantic_valid: model must be a pydantic BaseModel class"):
        pydantic_valid("{}", dict)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="pydantic_valid: output must be str, bytes or a dict, got list"
    ):
        pydantic_valid([1], Reply)  # type: ignore[arg-type]


def test_importing_scorers_does_not_import_pydantic() -> None:
    code = "import sys, pytest_llmeval.scorers; print('pydantic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# --- numeric_close -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "score"),
    [
        ("The total is $1,234.50.", 1234.5, 1.0),
        ("42", 42, 1.0),
        ("about 41 apples", 42, 0.0),
        ("x = -3.5e2", -350, 1.0),
        ("\u22127 degrees", -7, 1.0),
        ("GPT-4 answered 42", 4, 1.0),  # the first number; a hyphen after a letter is no sign
        ("1,2345", 1, 1.0),  # not a thousands group: the first number is 1
        (".5 of it", 0.5, 1.0),
        ("no digits here", 1, 0.0),
        (0.1 + 0.2, 0.3, 1.0),
        (7, 7.0000001, 1.0),
        (7, 7.001, 0.0),
    ],
)
def test_numeric_close(output: str | float, expected: float, score: float) -> None:
    assert numeric_close(output, expected) == score


def test_numeric_close_tolerances_and_scale() -> None:
    assert numeric_close("0", 1e-9) == 0.0
    assert numeric_close("0", 1e-9, abs_tol=1e-8) == 1.0
    assert numeric_close("105", 100, rel_tol=0.05) == 1.0
    assert numeric_close(15, 10, scale=10) == pytest.approx(0.5)
    assert numeric_close("about 41", 42, scale=10) == pytest.approx(0.9)
    assert numeric_close(100, 10, scale=10) == 0.0
    assert numeric_close(10, 10, scale=10) == 1.0


def test_numeric_close_bad_arguments() -> None:
    with pytest.raises(TypeError, match="numeric_close: expected must be a number, got str"):
        numeric_close("1", "1")  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="numeric_close: output must be a str or a number, got NoneType"
    ):
        numeric_close(None, 1)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="numeric_close: output must be a str or a number, got bool"
    ):
        numeric_close(True, 1)
    with pytest.raises(ValueError, match="numeric_close: expected must be finite"):
        numeric_close("1", math.nan)
    with pytest.raises(ValueError, match="numeric_close: scale must be a positive number, got 0"):
        numeric_close("1", 1, scale=0)
    with pytest.raises(ValueError, match="numeric_close: rel_tol and abs_tol must be >= 0"):
        numeric_close("1", 1, abs_tol=-1)


# --- edit_similarity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "score"),
    [
        ("kitten", "sitting", 1 - 3 / 7),
        ("flaw", "lawn", 1 - 2 / 4),
        ("café", "cafe", 1 - 1 / 4),
        ("", "", 1.0),
        ("abc", "", 0.0),
        ("same", "same", 1.0),
        ("prefix-x-suffix", "prefix-yy-suffix", 1 - 2 / 16),
    ],
)
def test_edit_similarity(a: str, b: str, score: float) -> None:
    assert edit_similarity(a, b) == pytest.approx(score)


def test_edit_similarity_needs_text() -> None:
    with pytest.raises(TypeError, match="edit_similarity: b must be a str, got int"):
        edit_similarity("a", 1)  # type: ignore[arg-type]


def naive_levenshtein(a: str, b: str) -> int:
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(
                table[i - 1][j] + 1,
                table[i][j - 1] + 1,
                table[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
            )
    return table[-1][-1]


small_text = st.text(alphabet="abcé ", max_size=12)


@given(small_text, small_text)
def test_levenshtein_matches_the_full_table(a: str, b: str) -> None:
    assert text_scorers._levenshtein(a, b) == naive_levenshtein(a, b)


@given(st.text(), st.text())
def test_edit_similarity_is_symmetric_and_one_only_for_equal(a: str, b: str) -> None:
    assert edit_similarity(a, b) == edit_similarity(b, a)
    assert (edit_similarity(a, b) == 1.0) == (a == b)
    assert edit_similarity(a, a) == 1.0


# --- token_f1 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "score"),
    [
        ("The cat sat on the mat.", "A cat sat on a mat", 1.0),
        ("Paris is the capital", "Paris", 2 * 1 / (3 + 1)),
        ("red red blue", "red blue blue", 2 * 2 / (3 + 3)),
        ("Hello, world!", "hello world", 1.0),
        ("«Bonjour»", "bonjour", 1.0),
        ("", "", 1.0),
        ("the", "", 1.0),  # both are empty once articles are dropped
        ("word", "", 0.0),
        ("yes", "no", 0.0),
    ],
)
def test_token_f1(output: str, expected: str, score: float) -> None:
    assert token_f1(output, expected) == pytest.approx(score)


def test_token_f1_needs_text() -> None:
    with pytest.raises(TypeError, match="token_f1: output must be a str, got list"):
        token_f1(["a"], "a")  # type: ignore[arg-type]


@given(st.text(), st.text())
def test_token_f1_is_symmetric(a: str, b: str) -> None:
    assert token_f1(a, b) == token_f1(b, a)
    assert token_f1(a, a) == 1.0


# --- every scorer stays in [0, 1] ---------------------------------------------------------


def in_unit_interval(score: float) -> bool:
    return isinstance(score, float) and 0.0 <= score <= 1.0


@given(st.text(), st.text(), st.booleans(), st.booleans())
def test_text_scorers_stay_in_the_unit_interval(
    a: str, b: str, case_sensitive: bool, strip: bool
) -> None:
    assert exact(a, a, case_sensitive=case_sensitive, strip=strip) == 1.0
    for score in (
        exact(a, b, case_sensitive=case_sensitive, strip=strip),
        regex(a, re.escape(b)),
        regex(a, re.escape(b), fullmatch=True),
        json_valid(a),
        json_schema_valid(a, SCHEMA),
        numeric_close(a, 1.0, scale=2.0),
        edit_similarity(a, b),
        token_f1(a, b),
    ):
        assert in_unit_interval(score)
    if b:
        assert in_unit_interval(contains(a, [b, a or "x"]))
        assert in_unit_interval(contains(a, b, mode="any", case_sensitive=case_sensitive))


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@given(
    st.one_of(finite, st.integers(-(10**20), 10**20), st.from_regex(r"-?\d[\d,]*\.?\d*e?-?\d*")),
    finite,
    st.none() | st.floats(min_value=1e-9, max_value=1e9),
)
def test_numeric_close_stays_in_the_unit_interval(
    output: str | float, expected: float, scale: float | None
) -> None:
    assert in_unit_interval(numeric_close(output, expected, scale=scale))
