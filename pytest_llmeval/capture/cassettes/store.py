"""Cassette files: where they live, how they are read (strictly) and written (atomically).

Saving a recording (`save_recording`) is a read-merge-write under an exclusive lock on
the cassette's folder, so two processes recording into the same cassette (xdist
workers, two pytest runs, CI shards on a shared disk) both keep their calls: the one
that saves second re-reads the file, adds what it recorded that is not there yet, and
writes the merge atomically. Nothing recorded is ever lost to "last writer wins".
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmeval.core.errors import FileFormatError

if TYPE_CHECKING:  # pydantic is imported on first use, not when this module is
    from pytest_llmeval.capture.cassettes.models import Cassette, Interaction
    from pytest_llmeval.core.redact import Redactor

#: What a file looked like when it was read: (inode, size, mtime in ns), None if absent.
Signature = tuple[int, int, int] | None

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
    return _module_folder(test_file, cassette_dir) / f"{safe_name(test_name)}.json"


@functools.lru_cache(maxsize=256)  # asked once per test: the same for every test of a file
def _module_folder(test_file: Path, cassette_dir: Path | None) -> Path:
    root = cassette_dir if cassette_dir is not None else test_file.parent / "cassettes"
    return root / safe_name(test_file.stem)


def load_cassette(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Cassette:
    """Read and validate a cassette; any problem is a FileFormatError naming the file."""
    return parse_cassette(path, _read(path, max_bytes)[1])


def read_cassette(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[Signature, Cassette | None]:
    """The file's signature (see `file_signature`) and its validated cassette, from one
    opening of the file, so both describe the same file; (None, None) when it does not
    exist. Any problem with what it holds is a FileFormatError naming the file."""
    signature, raw = read_cassette_bytes(path, max_bytes=max_bytes)
    if raw is None:
        return None, None
    return signature, parse_cassette(path, raw)


def read_cassette_bytes(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[Signature, bytes | None]:
    """The file's signature and bytes, from one opening of the file; (None, None) when
    it does not exist. A file over `max_bytes` is a FileFormatError naming it."""
    try:
        stat, raw = _read(path, max_bytes)
    except (FileNotFoundError, NotADirectoryError):  # a file where a folder should be
        return None, None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns), raw


def _read(path: Path, max_bytes: int) -> tuple[os.stat_result, bytes]:
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        stat = os.fstat(descriptor)
        if stat.st_size > max_bytes:
            raise FileFormatError(
                f"{path}: cassette is {stat.st_size:,} bytes, over the {max_bytes:,}-byte "
                "limit. A test this chatty is better split; delete the file and re-record it."
            )
        raw = os.read(descriptor, stat.st_size + 1)
        if len(raw) != stat.st_size:  # it changed meanwhile, or is too big for one read
            chunks = [raw]
            while chunks[-1]:
                chunks.append(os.read(descriptor, 1 << 16))
            raw = b"".join(chunks)
        return stat, raw
    finally:
        os.close(descriptor)


def parse_cassette(path: Path, raw: bytes) -> Cassette:
    """The validated cassette the bytes of the file `path` hold; any problem is a
    FileFormatError naming the file."""
    from pytest_llmeval.capture.cassettes.models import Cassette
    from pytest_llmeval.core.files import model_from_bytes

    return model_from_bytes(path, raw, Cassette, what="cassette", remedy=_REMEDY)


def dump_cassette(cassette: Cassette) -> str:
    """The file text: schema_version first, then keys sorted, 2-space indent, newline."""
    interactions = [item.model_dump(mode="json") for item in cassette.interactions]
    body = json.dumps(interactions, sort_keys=True, indent=2, ensure_ascii=False)
    # json.dumps escapes newlines inside strings, so every raw newline is layout.
    body = body.replace("\n", "\n  ")
    return f'{{\n  "schema_version": {cassette.schema_version},\n  "interactions": {body}\n}}\n'


def write_cassette(path: Path, cassette: Cassette) -> None:
    """Serialise and atomically write a cassette."""
    from pytest_llmeval.core.files import write_text_atomic

    write_text_atomic(path, dump_cassette(cassette))


def file_signature(path: Path) -> Signature:
    """(inode, size, mtime_ns) of a file, None when it does not exist: a changed
    signature means someone wrote the file (every atomic write makes a new inode)."""
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # a file where a folder should be
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


@contextlib.contextmanager
def cassette_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cassette's folder (created if missing) while a
    recording is merged into the cassette, so concurrent savers take turns.

    The lock is `flock` on the folder itself, so no lock file is left among the
    cassettes; the kernel releases it when its holder dies, even by SIGKILL. Where
    there is no `fcntl` (not POSIX) the save is not locked.
    """
    from pytest_llmeval.core.files import make_folder, write_error

    try:
        import fcntl
    except ImportError:  # not POSIX: unlocked (see docs/reliability.md, known gaps)
        yield
        return
    try:
        make_folder(path.parent)
        descriptor = os.open(path.parent, os.O_RDONLY)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def merge_interactions(
    on_disk: Sequence[Interaction],
    wanted: Sequence[Interaction],
    key: Callable[[Interaction], Hashable],
) -> list[Interaction]:
    """The cassette on disk plus each wanted interaction it does not hold yet.

    Interactions are told apart by their canonical request and order: the n-th wanted
    interaction with a given request is already there when the file holds at least n
    with that request (a request the test makes twice needs two). The file's own
    interactions come first and keep their order; the added ones follow in `wanted`
    order.
    """
    present = Counter(key(item) for item in on_disk)
    seen: Counter[Hashable] = Counter()
    merged = list(on_disk)
    for item in wanted:
        request = key(item)
        seen[request] += 1
        if seen[request] > present[request]:
            merged.append(item)
    return merged


def save_recording(
    path: Path,
    wanted: Sequence[Interaction],
    *,
    base: Sequence[Interaction],
    base_signature: Signature,
    key: Callable[[Interaction], Hashable],
    max_bytes: int = DEFAULT_MAX_BYTES,
    redactor: Redactor | None = None,
    text: str | None = None,
) -> list[Interaction]:
    """Merge a recording into its cassette under the cassette lock; return what was written.

    `base` is what the recording started from (the interactions loaded, or none when
    re-recording) and `base_signature` the file's signature then; `wanted` starts with
    `base`. If the file is still that one, `wanted` is written as it is; if another
    process wrote it meanwhile, it is re-read and `wanted` merged into it
    (`merge_interactions`), so neither loses calls.
    A file that became unreadable meanwhile is a FileFormatError and is not overwritten;
    a failed write is a FileWriteError naming the cassette. `text`, when given, is
    `dump_cassette` of `wanted` already made (the caller's size check): written as it
    is when nothing needs merging.
    """
    from pytest_llmeval.capture.cassettes.models import Cassette
    from pytest_llmeval.core.files import write_text_atomic

    with cassette_lock(path):
        signature = file_signature(path)
        if signature == base_signature:
            # nobody wrote it meanwhile: `wanted` is `base` plus this run's recording
            merged = list(wanted)
            if text is None:
                text = dump_cassette(Cassette(interactions=merged))
        else:
            on_disk: Sequence[Interaction] = []
            if signature is not None:
                on_disk = load_cassette(path, max_bytes=max_bytes).interactions
            merged = merge_interactions(on_disk, wanted, key)
            if signature is not None and len(merged) == len(on_disk):
                return merged  # it already holds everything this run recorded
            text = dump_cassette(Cassette(interactions=merged))
        write_text_atomic(path, text, redactor=redactor)
        return merged
