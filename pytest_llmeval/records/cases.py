"""Evaluation datasets: JSONL, JSON, CSV or YAML rows loaded as `Case` objects to parametrize.

Imported when a test module calls `load_cases`, never when the plugin loads.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from pytest_llmeval.core.errors import FileFormatError
from pytest_llmeval.core.frozen import FrozenModel
from pytest_llmeval.records.assertions import EXAMPLE as ASSERT_EXAMPLE
from pytest_llmeval.records.assertions import Assertion, InvalidAssertion, parse_assertions
from pytest_llmeval.records.conversation import TURNS_EXAMPLE, TurnsError, UserTurn, parse_turns

__all__ = ["Case", "load_cases"]

# Characters a pytest node id cannot carry safely: brackets close the parameter part,
# `::` separates node names, slashes are path separators, whitespace and control characters
# break command lines and terminals. A fixed set (not Unicode categories) so that ids do not
# change between Python versions.
_UNSAFE_ID = re.compile(
    r"(?:[\[\]/\\\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff\ud800-\udfff]|:{2,})+"
)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_SLUG_LENGTH = 30
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}
_SUFFIXES.update({".yaml": "yaml", ".yml": "yaml"})
ASSERT_FIELD = "assert"  # promptfoo's key for a row's assertions
_EXAMPLE = '{"id": "refund-1", "input": "Can I return shoes?", "expected": "Yes, within 30 days"}'

# (where in the file, e.g. "line 7" or "item 3"; the parsed row)
_Row = tuple[str, Any]
# (where; the id the row gives, if any; input; expected; metadata; scripted turns)
_Parsed = tuple[str, "str | None", Any, Any, "dict[str, Any]", "tuple[UserTurn, ...] | None"]


def sanitize_id(raw: str) -> str:
    """Drop characters unsafe in a pytest node id at the ends, and turn inner runs into `-`."""
    return _UNSAFE_ID.sub(lambda run: "" if run.start() == 0 or run.end() == len(raw) else "-", raw)


class Case(FrozenModel):
    """One evaluation case: the id pytest shows, the input, the expected answer, other fields."""

    id: str = Field(description="Test id: the row's id, or `<row number>-<slug of the input>`.")
    input: Any = Field(description="What the code under test receives.")
    expected: Any = Field(default=None, description="The reference answer, if the row has one.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Every other column or key of the row."
    )
    turns: tuple[UserTurn, ...] | None = Field(
        default=None,
        description="A multi-turn case's scripted user messages, in order (None otherwise); "
        "its input is then the list of their texts.",
    )
    assertions: tuple[Assertion, ...] = Field(
        default=(),
        description="The row's `assert` list, applied by `llm_eval.run_checks(output)`.",
    )

    @field_validator("id")
    @classmethod
    def _id_is_safe(cls, value: str) -> str:
        if not value or sanitize_id(value) != value:
            raise ValueError(
                f"case id {value!r} is empty or holds characters pytest test ids cannot carry "
                f"(brackets, '::', slashes, whitespace, control characters); "
                f"use {sanitize_id(value)!r} or another id"
            )
        return value

    def __str__(self) -> str:
        return self.id

    # pytest's id maker uses a parameter's `__name__` when it is a string (it is how functions
    # and classes get readable ids), so `parametrize("case", load_cases(...))` shows case ids
    # without `ids=`. A property on the instance only: `Case.__name__` is still "Case".
    @property
    def __name__(self) -> str:
        return self.id


def load_cases(
    path: str | os.PathLike[str],
    *,
    id_field: str = "id",
    input_field: str = "input",
    expected_field: str = "expected",
    turns_field: str = "turns",
) -> list[Case]:
    """Load evaluation cases from a .jsonl, .json, .csv or .yaml/.yml file.

    A relative `path` is looked up next to the file that calls `load_cases` first (the
    test module or conftest), then in the current directory. Each row is an object (a
    CSV line under a header row) with an `input` key, an optional `expected` key and an
    optional `id`; every other key goes to `Case.metadata`. Rows without an id get
    `<row number>-<slug of the input>`, which changes when rows are inserted above them:
    give rows ids to keep test ids (and the cassettes and baselines named after them)
    stable. Ids are made safe for pytest node ids; duplicates are an error. A JSON file
    holds a list of rows or `{"cases": [...]}`, as does a YAML file. In CSV, `input` and
    `expected` cells holding a JSON object or array are parsed, an empty `expected` cell
    is None, and every other cell stays a string. An empty file gives no cases.

    A multi-turn case gives `turns` instead of `input`: a list of what the user says,
    each entry a string or an object with `content` (and optionally `role: user` and an
    `expected` reference for the app's reply to that turn). Such a case has
    `Case.turns`, and its `input` is the list of the user messages' texts; drive it with
    `llm_eval.converse(app, case.turns)`. In CSV a `turns` cell holds a JSON array.
    Raises `FileFormatError` naming the file and line of the first problem.
    """
    caller = sys._getframe(1).f_globals.get("__file__")
    file = _resolve(path, caller if isinstance(caller, str) else None)
    kind = _SUFFIXES.get(file.suffix.lower())
    if kind is None:
        raise FileFormatError(
            f"{file}: unsupported file type {file.suffix!r}; "
            f"load_cases reads .jsonl, .json, .csv, .yaml and .yml files"
        )
    text = _read_text(file)
    fields = (id_field, input_field, expected_field, turns_field)
    if not text.strip():
        return []
    if kind == "jsonl":
        rows = _jsonl_rows(text, file)
    elif kind == "json":
        rows = _json_rows(text, file)
    elif kind == "csv":
        rows = _csv_rows(text, file, fields)
    else:
        rows = _yaml_rows(text, file)
    return _build_cases(rows, file, fields)


def _resolve(path: str | os.PathLike[str], caller: str | None) -> Path:
    given = Path(path)
    candidates = [given]
    if not given.is_absolute():
        candidates = [Path(caller).absolute().parent / given] if caller else []
        here = Path.cwd() / given
        if here not in candidates:
            candidates.append(here)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = " and ".join(str(candidate) for candidate in candidates)
    raise FileFormatError(
        f"dataset file {os.fspath(path)!r} not found: tried {tried}. A relative path is "
        f"looked up next to the calling test file, then in the current directory; "
        f"check the name or pass an absolute path"
    )


def _read_text(file: Path) -> str:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"{file}: cannot read the file: {exc.strerror}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FileFormatError(
            f"{file}, line {line}: not UTF-8 text ({exc.reason}); save the file as UTF-8"
        ) from exc


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else type(value).__name__


def _jsonl_rows(text: str, file: Path) -> list[_Row]:
    rows: list[_Row] = []
    # split on "\n" only: str.splitlines would also split inside strings holding U+2028.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise FileFormatError(
                f"{file}, line {number}: not valid JSON ({exc.msg}, column {exc.colno}). "
                f"Each line of a JSONL file holds one complete JSON object, e.g. {_EXAMPLE}; "
                f"a pretty-printed list of cases belongs in a .json file"
            ) from exc
    return rows


def _json_rows(text: str, file: Path) -> list[_Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{file}, line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno}); "
            f'a .json dataset is a list of cases like {_EXAMPLE}, or {{"cases": [...]}}'
        ) from exc
    items = _cases_list(data, file)
    try:
        lines = _json_item_lines(text)
    except (ValueError, IndexError):
        lines = []
    if len(lines) != len(items):
        return [(f"item {index}", item) for index, item in enumerate(items, 1)]
    return [(f"line {line}", item) for line, item in zip(lines, items, strict=True)]


def _cases_list(data: Any, file: Path) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("cases"), list):
        cases: list[Any] = data["cases"]
        return cases
    if isinstance(data, list):
        return data
    found = (
        f"an object with keys {sorted(map(str, data))}" if isinstance(data, dict) else _kind(data)
    )
    raise FileFormatError(
        f'{file}: expected a list of cases or an object with a "cases" list, found {found}; '
        f"write the cases as [{_EXAMPLE}, ...]"
    )


def _json_item_lines(text: str) -> list[int]:
    """Line of each case in an already validated JSON text (json.loads keeps no positions)."""
    decoder = json.JSONDecoder()
    space = re.compile(r"[ \t\n\r]*")

    def skip(pos: int) -> int:
        match = space.match(text, pos)
        return match.end() if match else pos

    def items(pos: int) -> list[int]:  # pos is at "["
        starts: list[int] = []
        pos = skip(pos + 1)
        while text[pos] != "]":
            starts.append(pos)
            pos = skip(decoder.raw_decode(text, pos)[1])
            pos = skip(pos + 1) if text[pos] == "," else pos
        return starts

    pos = skip(0)
    starts: list[int] = []
    if text[pos] == "[":
        starts = items(pos)
    elif text[pos] == "{":
        pos = skip(pos + 1)
        while text[pos] != "}":
            key, pos = decoder.raw_decode(text, pos)
            pos = skip(skip(pos) + 1)  # the ":"
            if key == "cases" and text[pos] == "[":
                starts = items(pos)  # the last "cases" wins, as in json.loads
            pos = skip(decoder.raw_decode(text, pos)[1])
            pos = skip(pos + 1) if text[pos] == "," else pos
    return [text.count("\n", 0, start) + 1 for start in starts]


def _csv_rows(text: str, file: Path, fields: tuple[str, str, str, str]) -> list[_Row]:
    id_field, input_field, expected_field, turns_field = fields
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[_Row] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise FileFormatError(f"{file}, line {line}: malformed CSV ({exc})") from exc
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [name.strip() for name in cells]
            repeated = sorted({name for name in header if name and header.count(name) > 1})
            if repeated:
                raise FileFormatError(
                    f"{file}, line {line}: the header row repeats column {repeated[0]!r}; "
                    f"give every column a distinct name"
                )
            continue
        if any(cell.strip() for cell in cells[len(header) :]):
            raise FileFormatError(
                f"{file}, line {line}: {len(cells)} cells but the header has {len(header)} "
                f'columns; quote cells that contain commas, e.g. "Yes, within 30 days"'
            )
        row: dict[str, Any] = {}
        for column, (name, cell) in enumerate(zip(header, cells, strict=False), 1):
            if not name:
                if cell.strip():
                    raise FileFormatError(
                        f"{file}, line {line}: column {column} has a value but no header name; "
                        f"name the column in the header row"
                    )
            elif name in (input_field, expected_field, turns_field):
                row[name] = _csv_value(cell, empty_is_none=name == expected_field)
            elif name != id_field or cell.strip():
                row[name] = cell
        rows.append((f"line {line}", row))
    return rows


def _csv_value(cell: str, *, empty_is_none: bool) -> Any:
    stripped = cell.strip()
    if not stripped and empty_is_none:
        return None
    if stripped[:1] in ("{", "["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            return cell
        if isinstance(value, (dict, list)):
            return value
    return cell


def _yaml_rows(text: str, file: Path) -> list[_Row]:
    import yaml  # only YAML datasets pay for it

    from pytest_llmeval.core.safe_yaml import load_yaml

    try:
        data, node = load_yaml(text, fast=False)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileFormatError(
            f"{file}{where}: not valid YAML ({problem}); a YAML dataset is a list of "
            f"mappings with an 'input' key, or a mapping with a 'cases' list"
        ) from exc
    items = _cases_list(data if node is not None else [], file)
    sequence = node
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "cases":
                sequence = value
    if isinstance(sequence, yaml.SequenceNode) and len(sequence.value) == len(items):
        nodes = sequence.value
        return [(f"line {n.start_mark.line + 1}", i) for n, i in zip(nodes, items, strict=True)]
    return [(f"item {index}", item) for index, item in enumerate(items, 1)]


def _build_cases(rows: list[_Row], file: Path, fields: tuple[str, str, str, str]) -> list[Case]:
    id_field, input_field, expected_field, turns_field = fields
    parsed: list[_Parsed] = []
    assertions: list[tuple[Assertion, ...]] = []
    for where, row in rows:
        if not isinstance(row, Mapping):
            raise FileFormatError(
                f"{file}, {where}: a case must be an object with an {input_field!r} key, "
                f"found {_a(_kind(row))}; "
                f"write it like {_EXAMPLE}"
            )
        for key in row:
            if not isinstance(key, str):
                raise FileFormatError(f"{file}, {where}: key {key!r} is not a string; quote it")
        turns = _turns(row, file, where, input_field, turns_field)
        if turns is None and row.get(input_field) is None:
            raise FileFormatError(
                f"{file}, {where}: the case has no {input_field!r} (keys: "
                f"{', '.join(sorted(row)) or 'none'}); add an {input_field!r} key (or a "
                f"{turns_field!r} list for a multi-turn case), or pass "
                f"input_field='<your key>' to load_cases"
            )
        raw_id = row.get(id_field)
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int, float, type(None))):
            raise FileFormatError(
                f"{file}, {where}: {id_field!r} is {_a(_kind(raw_id))}; "
                f"an id is a string or a number"
            )
        given = None if raw_id is None or not str(raw_id).strip() else str(raw_id)
        others = {k: v for k, v in row.items() if k not in fields}
        try:
            assertions.append(parse_assertions(others.pop(ASSERT_FIELD, None)))
        except InvalidAssertion as error:
            raise FileFormatError(
                f"{file}, {where}: {error}; write it like {ASSERT_EXAMPLE}"
            ) from None
        value = row[input_field] if turns is None else [turn.content for turn in turns]
        parsed.append((where, given, value, row.get(expected_field), others, turns))

    ids = _assign_ids(parsed, file)
    return [
        Case(
            id=case_id,
            input=value,
            expected=expected,
            metadata=others,
            turns=turns,
            assertions=checks,
        )
        for case_id, (_, _, value, expected, others, turns), checks in zip(
            ids, parsed, assertions, strict=True
        )
    ]


def _turns(
    row: Mapping[str, Any], file: Path, where: str, input_field: str, turns_field: str
) -> tuple[UserTurn, ...] | None:
    """A row's scripted user turns (None when it has none), or an error naming the row."""
    if row.get(turns_field) is None:
        return None
    if row.get(input_field) is not None:
        raise FileFormatError(
            f"{file}, {where}: the case has both {input_field!r} and {turns_field!r}; a "
            f"multi-turn case gives only {turns_field!r} (its input is the list of turns)"
        )
    try:
        return parse_turns(row[turns_field], name=turns_field)
    except TurnsError as error:
        raise FileFormatError(f"{file}, {where}: {error}; write it like {TURNS_EXAMPLE}") from None


def _assign_ids(parsed: list[_Parsed], file: Path) -> list[str]:
    owners: dict[str, tuple[str, str]] = {}  # safe id -> (given id, where)
    for where, given, *_ in parsed:
        if given is None:
            continue
        safe = sanitize_id(given)
        if not safe:
            raise FileFormatError(
                f"{file}, {where}: id {given!r} is empty once the characters pytest test ids "
                f"cannot carry (brackets, '::', slashes, whitespace) are removed; choose another id"
            )
        if safe in owners:
            first, first_where = owners[safe]
            same = "duplicate id" if first == given else f"ids {first!r} and {given!r} both become"
            raise FileFormatError(
                f"{file}: {same} {safe!r} on {first_where} and {where}; "
                f"ids must be unique, rename one of them"
            )
        owners[safe] = (given, where)
    ids: list[str] = []
    for number, (_, given, value, *_) in enumerate(parsed, 1):
        if given is not None:
            ids.append(sanitize_id(given))
            continue
        slug = _slug(value)
        base = f"{number}-{slug}" if slug else str(number)
        candidate, suffix = base, 1
        while candidate in owners:  # only a row's own id can collide with a generated one
            suffix += 1
            candidate = f"{base}-{suffix}"
        owners[candidate] = (candidate, "")
        ids.append(candidate)
    return ids


def _slug(value: Any) -> str:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    )
    ascii_text = unicodedata.normalize("NFKD", text[:200]).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    return slug[:_SLUG_LENGTH].rstrip("-")
