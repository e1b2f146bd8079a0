"""Cassette files: where they live, how they are read (strictly) and written (atomically)."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmeval.errors import FileFormatError

if TYPE_CHECKING:  # pydantic is imported on first use, not when this module is
    from pytest_llmeval.cassettes.models import Cassette

#: Cassettes bigger than this are refused on load, unless the caller raises the limit.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

_REMEDY = "delete it, or re-record it with --llmeval-record=all"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 120
# Device names Windows reserves whatever the extension (`con.json` is the console).
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
)


@functools.lru_cache(maxsize=1024)  # the module part repeats for every test of a file
def safe_name(name: str) -> str:
    """A file-name-safe, stable, collision-free form of a test or module name.

    Names made of Python identifiers joined by `::` or `.` are kept (with `::` as `.`).
    Anything else (parametrize brackets, slashes, unicode, control characters, over-long
    ids, Windows device names) is sanitised and gets `--` and 12 hex digits of a sha256
    of the original name. Kept names never contain `--`, so the two kinds cannot collide.
    """
    parts = name.split("::")
    kept = ".".join(parts)
    if (
        all(_IDENTIFIER.fullmatch(part) for part in parts)
        and len(kept) <= _MAX_NAME
        and kept.split(".")[0].upper() not in _WINDOWS_RESERVED
    ):
        return kept
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    readable = _UNSAFE.sub("_", kept.replace("[", ".").replace("]", ""))
    readable = re.sub(r"-{2,}", "-", readable).strip("._-")[: _MAX_NAME - 20].rstrip("._-")
    return f"{readable or '_'}--{digest}"


def cassette_path(test_file: Path, nodeid: str, cassette_dir: Path | None = None) -> Path:
    """Where the cassette of one test lives: `<dir>/cassettes/<module>/<test name>.json`.

    `nodeid` is pytest's node id (`tests/test_x.py::TestY::test_z[id]`); its part after
    the file is the test name. `cassette_dir` replaces `<test file dir>/cassettes`.
    """
    _, separator, test_name = nodeid.partition("::")
    if not separator:
        test_name = nodeid
    root = cassette_dir if cassette_dir is not None else test_file.parent / "cassettes"
    return root / safe_name(test_file.stem) / f"{safe_name(test_name)}.json"


def load_cassette(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Cassette:
    """Read and validate a cassette; any problem is a FileFormatError naming the file."""
    from pytest_llmeval.cassettes.models import Cassette
    from pytest_llmeval.files import load_model

    size = path.stat().st_size
    if size > max_bytes:
        raise FileFormatError(
            f"{path}: cassette is {size:,} bytes, over the {max_bytes:,}-byte limit. "
            "A test this chatty is better split; delete the file and re-record it."
        )
    return load_model(path, Cassette, what="cassette", remedy=_REMEDY)


def dump_cassette(cassette: Cassette) -> str:
    """The file text: schema_version first, then keys sorted, 2-space indent, newline."""
    interactions = [item.model_dump(mode="json") for item in cassette.interactions]
    body = json.dumps(interactions, sort_keys=True, indent=2, ensure_ascii=False)
    # json.dumps escapes newlines inside strings, so every raw newline is layout.
    body = body.replace("\n", "\n  ")
    return f'{{\n  "schema_version": {cassette.schema_version},\n  "interactions": {body}\n}}\n'


def write_cassette(path: Path, cassette: Cassette) -> None:
    """Serialise and atomically write a cassette."""
    from pytest_llmeval.files import write_text_atomic

    write_text_atomic(path, dump_cassette(cassette))
