"""The one reader and writer of the plugin's versioned JSON files (baseline, report).

Every file is a pydantic model whose first field is ``schema_version``; the version a
model class declares as its default is the newest this code reads.

Reading (``load_model``) is strict: a file that is not JSON, not an object, has no
integer ``schema_version``, has a newer one, or does not validate raises
``FileFormatError`` with one message naming the file, saying what is wrong (the JSON
path of the first validation error) and how to fix it. The file is never modified,
and nothing is ever silently replaced by an empty model. A missing file raises the
usual ``FileNotFoundError``: "no baseline yet" is a normal state the caller decides on.

Writing (``write_model``) is atomic and deterministic: the text goes to a temporary
file in the same folder whose name carries the process and thread ids, then
``os.replace`` moves it over the target, so readers see the old file or the new one,
never half of one, and concurrent writers (xdist, CI shards) never share a temp file.
The text is ``schema_version`` first, then every object's keys sorted, 2-space indent,
UTF-8 without escaping (``ensure_ascii=False``), one trailing newline.

NaN policy: JSON has no NaN or infinity, so every non-finite float (a confidence
interval over one case, an undefined ratio) is written as ``null``. Fields that may
hold such a value are therefore typed ``float | None`` and read back as ``None``.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pytest_llmeval.errors import FileFormatError

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
    fix = remedy or _REMEDIES.get(what, _DEFAULT_REMEDY)
    raw = where.read_bytes()
    if not raw.strip():
        raise _fail(where, f"the {what} file is empty", fix)
    try:
        data: Any = json.loads(raw.decode("utf-8"))
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


def _finite(value: Any) -> Any:
    """A copy of JSON-able data with dict keys sorted and NaN/inf replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def dump_model(model: BaseModel) -> str:
    """The file text of a model: schema_version first, sorted keys, trailing newline."""
    data = _finite(model.model_dump(mode="json"))
    if "schema_version" in data:
        data = {"schema_version": data.pop("schema_version"), **data}
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write text through a per-process temp file in the same folder and os.replace.

    Lone surrogates (half an emoji in a model's reply, JSON-escaped on the wire) cannot
    be encoded as UTF-8; in our JSON text they only occur inside strings, where the
    `\\udXXX` escape written instead reads back as the same string.
    """
    text = _LONE_SURROGATE.sub(_escape_surrogate, text)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_model(path: str | os.PathLike[str], model: BaseModel) -> None:
    """Serialise a model (see dump_model) and write it atomically."""
    write_text_atomic(path, dump_model(model))
