"""The one reader and writer of the plugin's versioned JSON files (baseline, report).

Every file is a pydantic model whose first field is ``schema_version``; the version a
model class declares as its default is the newest this code reads.

Reading (``load_model``) is strict: a file that is not JSON, not an object, has no
integer ``schema_version``, has a newer one, or does not validate raises
``FileFormatError`` with one message naming the file, saying what is wrong (the JSON
path of the first validation error) and how to fix it. The file is never modified,
and nothing is ever silently replaced by an empty model. A missing file raises the
usual ``FileNotFoundError``: "no baseline yet" is a normal state the caller decides on.
A non-finite number (``NaN``, ``Infinity``, which Python's json reads, or ``1e999``,
which overflows to infinity) is refused like any other invalid value, with its JSON
path: no file this plugin writes holds one, and one read would poison every mean,
percentile and comparison computed from it.

Writing (``write_model``) is deterministic, and atomic and redacted: the text goes
through ``write_text_atomic`` (`writer.py`: a temporary file in the same folder, then
``os.replace``; every piece through the session's ``Redactor``, the one choke point
every file the plugin writes goes through). The text is ``schema_version`` first, then
every object's keys sorted; objects are spread over lines with a 2-space indent and each
array item is written compactly on its own line; UTF-8 without escaping
(``ensure_ascii=False``), one trailing newline. The writer's public functions
(``write_text_atomic``, ``write_texts_atomic``, ``write_error``, ``make_folder``) are
re-exported here, where their callers import them.

NaN policy: JSON has no NaN or infinity, so every non-finite float (a confidence
interval over one case, an undefined ratio) is written as ``null``. Fields that may
hold such a value are therefore typed ``float | None`` and read back as ``None``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from pytest_llmeval.core.errors import FileFormatError

# re-exported: the writer's callers import it from here (see the docstring)
from pytest_llmeval.core.writer import make_folder as make_folder
from pytest_llmeval.core.writer import write_error as write_error
from pytest_llmeval.core.writer import write_text_atomic as write_text_atomic
from pytest_llmeval.core.writer import write_texts_atomic as write_texts_atomic

if TYPE_CHECKING:
    from pytest_llmeval.core.redact import Redactor

ModelType = TypeVar("ModelType", bound=BaseModel)

_REMEDIES = {
    "baseline": (
        "restore it from version control, or write a new one with "
        "`pytest --llmeval-update-baseline` (or `llmeval baseline REPORT -o FILE`)"
    ),
    "report": "write it again with `pytest --llmeval-report=PATH`",
}
_DEFAULT_REMEDY = "fix the file or delete it"
_UPGRADE = "upgrade pytest-llm-eval (pip install -U pytest-llm-eval) to read it"


def supported_version(model: type[BaseModel]) -> int:
    """The newest schema_version a model class reads (the default it writes)."""
    field = model.model_fields.get("schema_version")
    if field is None or not isinstance(field.default, int):
        raise TypeError(f"{model.__name__} has no integer schema_version default")
    return field.default


def _json_path(location: tuple[int | str, ...]) -> str:
    """A readable JSON path such as groups["tests/x.py::t"].cases[2].score."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier():
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text or "(top level)"


def _fail(path: Path, problem: str, remedy: str) -> FileFormatError:
    return FileFormatError(f"{path}: {problem}; {remedy}.")


class _NonFiniteNumber(ValueError):
    """Raised from inside json.loads at the first NaN, Infinity or overflowing number."""


def _refuse_constant(name: str) -> Any:
    raise _NonFiniteNumber(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFiniteNumber(text)
    return value


#: json.loads with these hooks builds a new decoder on every call (its scanner
#: included): a read-ahead of 500 cassettes spent a fifth of its parsing on that.
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)


def _parse_json(text: str) -> Any:
    """json.loads, refusing NaN, Infinity and numbers that overflow to infinity."""
    if text.startswith("\ufeff"):  # as json.loads refuses it
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def _non_finite_path(value: Any, location: tuple[int | str, ...] = ()) -> str | None:
    """The JSON path of the first non-finite number in parsed data, if there is one."""
    if isinstance(value, float):
        return None if math.isfinite(value) else _json_path(location)
    items: Iterable[tuple[int | str, Any]] = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        found = _non_finite_path(item, (*location, key))
        if found is not None:
            return found
    return None


def _non_finite_problem(text: str, literal: str, what: str) -> str:
    """Where the refused number is: parsed again leniently (only on this error path)."""
    try:
        location = _non_finite_path(json.loads(text))
    except (ValueError, RecursionError):
        location = None
    where = f" at {location}" if location is not None else ""
    if literal in ("NaN", "Infinity", "-Infinity"):
        why = "JSON has no NaN or Infinity"
    else:
        why = "it overflows to infinity"
    return f"invalid {what}{where}: {literal[:40]} is not a finite number ({why})"


def load_model(
    path: str | os.PathLike[str],
    model: type[ModelType],
    *,
    what: str = "baseline",
    remedy: str | None = None,
) -> ModelType:
    """Read and validate one versioned JSON file; any problem is a FileFormatError."""
    __tracebackhide__ = True
    where = Path(path)
    return model_from_bytes(where, where.read_bytes(), model, what=what, remedy=remedy)


def model_from_bytes(
    where: Path,
    raw: bytes,
    model: type[ModelType],
    *,
    what: str = "baseline",
    remedy: str | None = None,
) -> ModelType:
    """Validate the bytes of the file `where` (see `load_model`, which reads them)."""
    __tracebackhide__ = True
    fix = remedy or _REMEDIES.get(what, _DEFAULT_REMEDY)
    if not raw.strip():
        raise _fail(where, f"the {what} file is empty", fix)
    try:
        text = raw.decode("utf-8")
        data: Any = _parse_json(text)
    except _NonFiniteNumber as error:
        raise _fail(where, _non_finite_problem(text, str(error), what), fix) from None
    except UnicodeDecodeError as error:
        problem = f"not a {what} file (not UTF-8 text: {error.reason})"
        raise _fail(where, problem, fix) from None
    except json.JSONDecodeError as error:
        problem = f"not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        raise _fail(where, problem, fix) from None
    except (ValueError, RecursionError) as error:  # e.g. a 5000-digit integer, deep nesting
        problem = f"not a {what} file the JSON reader accepts ({type(error).__name__}: {error})"
        raise _fail(where, problem[:300], fix) from None
    if not isinstance(data, dict):
        raise _fail(where, f"not a {what} file (expected a JSON object)", fix)
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _fail(where, f"not a {what} file (no integer schema_version at the top)", fix)
    newest = supported_version(model)
    if version > newest:
        problem = (
            f"this {what} has schema_version {version}, newer than this pytest-llm-eval "
            f"reads ({newest})"
        )
        raise _fail(where, problem, _UPGRADE)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        more = error.error_count() - 1
        extra = f" (and {more} more error{'s' if more != 1 else ''})" if more else ""
        location = _json_path(tuple(first["loc"]))
        raise _fail(where, f"invalid {what} at {location}: {first['msg']}{extra}", fix) from None


_SPREAD = (", ", ": ")
#: The separators of neutral text (see `iter_model_neutral`): a NUL after each `,` and
#: `:` between JSON tokens, where the spread layout has a space and the tight one none.
_NEUTRAL = (",\0", ":\0")
#: Where a piece of neutral text is cut into several in the spread layout.
_CUT = "\x01"
#: The layout's line breaks and indents, which the tight layout leaves out.
_PAD = re.compile("\n *")


def _compact(value: Any, separators: tuple[str, str] = _SPREAD) -> str:
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=separators
    )


def _plain(value: Any) -> Any:
    """JSON-able data of a field value (models included), NaN and infinity as None.

    One pass in pydantic-core, several times faster than model_dump plus a Python walk
    replacing non-finite floats; strings stay Python strings, lone surrogates included
    (write_text_atomic escapes those).
    """
    return to_jsonable_python(value, inf_nan_mode="null")


def spread_pieces(neutral: Iterable[str]) -> Iterator[str]:
    """Pieces of neutral text (see `iter_model_neutral`) in the file layout."""
    for piece in neutral:
        text = piece.replace("\0", " ")
        if _CUT in text:
            yield from text.split(_CUT)
        else:
            yield text


def tight_pieces(neutral: Iterable[str]) -> Iterator[str]:
    """Pieces of neutral text (see `iter_model_neutral`) as compact JSON, on one line."""
    for piece in neutral:
        text = piece.replace("\0", "").replace(_CUT, "")
        yield _PAD.sub("", text) if "\n" in text else text


def _layout(value: Any, depth: int) -> Iterator[str]:
    """Objects spread over lines with keys sorted; each array item compact on its line
    (neutral text)."""
    if not value or not isinstance(value, (dict, list)):
        yield _compact(value, _NEUTRAL)
        return
    pad = "\n" + "  " * (depth + 1)
    if isinstance(value, dict):
        yield "{"
        for index, key in enumerate(sorted(value)):
            yield f"{',' if index else ''}{pad}{_compact(key)}:\0"
            yield from _layout(value[key], depth + 1)
        yield "\n" + "  " * depth + "}"
    else:
        yield "["
        yield ",".join(pad + _compact(item, _NEUTRAL) for item in value)
        yield "\n" + "  " * depth + "]"


def _neutral_item(item: Any) -> str:
    """Neutral text of JSON-able data, a non-finite float in it as null: encoded as it
    is, and only when the encoder refuses such a float, again through `_plain`."""
    try:
        return _compact(item, _NEUTRAL)
    except ValueError:  # "Out of range float values are not JSON compliant"
        return _compact(_plain(item), _NEUTRAL)


def iter_model_text(
    model: BaseModel, *, spread: bool = True, items: Mapping[str, Iterable[Any]] | None = None
) -> Iterator[str]:
    """The file text of a model, in pieces (see dump_model); `spread=False` gives the
    same data as compact JSON on one line (for embedding). Both are the pieces of
    `iter_model_neutral`, made into one layout or the other."""
    neutral = iter_model_neutral(model, items=items)
    return spread_pieces(neutral) if spread else tight_pieces(neutral)


def iter_model_neutral(
    model: BaseModel, *, items: Mapping[str, Iterable[Any]] | None = None
) -> Iterator[str]:
    """The text of a model in pieces of neutral text, from which `spread_pieces` makes
    the file's layout and `tight_pieces` the same JSON compact: a report written both
    ways (the JSON file and the HTML page) is serialised once.

    Neutral text is the file's layout with a NUL where the spread layout has a space
    after a separator (`,` or `:` between JSON tokens). Neither a NUL nor a line break
    ever stands in JSON text (the encoder escapes control characters in strings), so
    the NULs and the layout's line breaks with their indents are what the two layouts
    differ by: spaces in one, nothing in the other.

    Each layout comes in the pieces it came in when each was serialised on its own,
    so each is redacted as before, piece by piece (`write_text_atomic`): a field's
    value spread over lines is one neutral piece, one compact piece on the page, and
    cut (at each \\x01, another control character JSON text never holds) into the
    file's pieces.

    A top-level list (the report's results) is serialised item by item, so the whole
    file never exists as one tree of Python objects. `items` gives a top-level list
    field's items instead of the model's value, as JSON-able data made as they are
    written (the report's results with their usage, never all built at once); a
    non-finite float in them is written null, as everywhere in the file.
    """
    pad, item_pad = "\n  ", "\n    "
    fields = {name: getattr(model, name) for name in type(model).model_fields}
    fields.update(model.model_extra or {})
    names = sorted(fields, key=lambda name: (name != "schema_version", name))
    yield "{"
    for index, name in enumerate(names):
        value = fields[name]
        yield f"{',' if index else ''}{pad}{_compact(name)}:\0"
        if items is not None and name in items:
            written = 0
            for item in items[name]:
                yield f"{',' if written else '['}{item_pad}{_neutral_item(item)}"
                written += 1
            yield pad + "]" if written else "[]"
        elif isinstance(value, list) and value:
            yield "["
            for position, item in enumerate(value):
                yield f"{',' if position else ''}{item_pad}{_compact(_plain(item), _NEUTRAL)}"
            yield pad + "]"
        else:
            yield _CUT.join(_layout(_plain(value), 1))
    yield "\n}\n" if names else "}\n"


def dump_model(model: BaseModel) -> str:
    """The file text of a model: schema_version first, then keys sorted; objects spread
    over lines with a 2-space indent, each array item compact on its own line (a diff
    shows one changed line per changed result); trailing newline."""
    return "".join(iter_model_text(model))


def write_model(
    path: str | os.PathLike[str], model: BaseModel, *, redactor: Redactor | None = None
) -> None:
    """Serialise a model (see dump_model) and write it atomically and redacted, piece by
    piece."""
    write_text_atomic(path, iter_model_text(model), redactor=redactor)
