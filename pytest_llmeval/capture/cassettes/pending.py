"""Recordings whose cassette could not be written, kept so the calls paid for are not lost.

When a cassette cannot be saved (a read-only or full disk, a file where its folder
should be), the interactions the test would have written are kept in a pending file:
first in `<rootdir>/.llmeval_cache/pending/`, else in the system temp folder
(`llmeval-pending-<uid>/`), whichever can be written. A pending file names the cassette
it belongs to. The next run that may record that cassette (`--llmeval-record=once` or
`new`) adopts it: merges it into the cassette under the cassette lock, then deletes it,
so the calls are replayed instead of paid for again. `llmeval cassettes adopt` does the
same for every pending file at once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import os
import tempfile
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

from pydantic import ConfigDict, Field

from pytest_llmeval.capture.cassettes.models import Interaction
from pytest_llmeval.capture.cassettes.store import Signature, load_cassette, merge_interactions
from pytest_llmeval.core.errors import CassetteWriteError, FileFormatError, FileWriteError
from pytest_llmeval.core.frozen import FrozenModel
from pytest_llmeval.core.redact import Redactor

#: The pending file version this code writes, and the newest one it reads.
PENDING_SCHEMA_VERSION = 1
_CACHE_FOLDER = ".llmeval_cache"
_GITIGNORE = "# Created by pytest-llm-eval automatically.\n*\n"
_COUNTER = itertools.count()


class PendingCassette(FrozenModel):
    """A recording that could not be written to its cassette, waiting to be adopted."""

    # built on first use: every recording session imports this module, few write one
    model_config = ConfigDict(defer_build=True)

    schema_version: int = Field(
        default=PENDING_SCHEMA_VERSION, description="Version of this file format; always first."
    )
    cassette: str = Field(description="Absolute path of the cassette this recording belongs to.")
    nodeid: str = Field(description="The test that recorded it.")
    reason: str = Field(description="Why the cassette could not be written.")
    interactions: list[Interaction] = Field(
        description="The cassette as it should have been written, in recorded order."
    )


def pending_folders(rootdir: Path | None) -> list[Path]:
    """Where pending recordings go, in order of preference (and where they are found)."""
    rootdir = None if rootdir is None else Path(rootdir)
    return list(_pending_folders(rootdir, tempfile.gettempdir()))


@functools.lru_cache(maxsize=8)
def _pending_folders(rootdir: Path | None, temporary: str) -> tuple[Path, ...]:
    # asked once per test: the paths are built once per rootdir and temporary folder
    folders = [] if rootdir is None else [rootdir / _CACHE_FOLDER / "pending"]
    user = os.getuid() if hasattr(os, "getuid") else "user"
    folders.append(Path(temporary) / f"llmeval-pending-{user}")
    return tuple(folders)


def _stem(cassette: Path) -> str:
    """Pending files of one cassette share this prefix: a digest of its absolute path."""
    absolute = os.path.abspath(cassette)
    return hashlib.sha256(absolute.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def keep_pending(
    cassette: Path,
    interactions: Sequence[Interaction],
    *,
    nodeid: str,
    reason: str,
    folders: Sequence[Path],
    redactor: Redactor | None = None,
) -> Path:
    """Write a pending file in the first folder that takes it; return its path.

    Raises the FileWriteError of the last folder tried when none does.
    """
    from pytest_llmeval.core.files import write_model

    pending = PendingCassette(
        cassette=os.path.abspath(cassette),
        nodeid=nodeid,
        reason=reason,
        interactions=list(interactions),
    )
    name = f"{_stem(cassette)}.{os.getpid()}-{next(_COUNTER)}.json"
    failure: FileWriteError | None = None
    for folder in folders:
        try:
            write_model(folder / name, pending, redactor=redactor)
        except FileWriteError as error:
            failure = error
            continue
        if folder.parent.name == _CACHE_FOLDER:
            _mark_cache_folder(folder.parent)
        return folder / name
    if failure is None:
        raise FileWriteError(name, "no folder to keep it in")
    raise failure


def _mark_cache_folder(folder: Path) -> None:
    """Keep git away from the cache folder, as the response cache does."""
    try:
        with open(folder / ".gitignore", "x", encoding="utf-8") as handle:
            handle.write(_GITIGNORE)
    except OSError:
        pass


def find_pending(cassette: Path, folders: Sequence[Path]) -> list[Path]:
    """The pending files of one cassette, oldest first."""
    stem = _stem(cassette)
    found: list[Path] = []
    for folder in folders:
        try:
            found.extend(folder.glob(f"{stem}.*.json"))
        except OSError:
            continue
    return sorted(found, key=_modified)


def all_pending(folders: Sequence[Path]) -> list[Path]:
    """Every pending file in these folders, oldest first."""
    found: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            found.extend(folder.glob("*.json"))
    return sorted(found, key=_modified)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def load_pending(path: Path) -> PendingCassette:
    """Read a pending file; a bad one is a FileFormatError naming it."""
    from pytest_llmeval.core.files import load_model

    return load_model(
        path, PendingCassette, what="pending recording", remedy="delete it (its calls are lost)"
    )


def adopt_pending(
    pending_files: Sequence[Path],
    key: Callable[[Interaction], Hashable],
    *,
    dry_run: bool = False,
    redactor: Redactor | None = None,
) -> list[tuple[Path, Path, int]]:
    """Merge pending recordings into their cassettes (under the cassette lock) and delete
    them; return (pending file, cassette, interactions added) for each one adopted.

    A cassette that cannot be read or written keeps its pending file and raises.
    """
    from pytest_llmeval.capture.cassettes.models import Cassette
    from pytest_llmeval.capture.cassettes.store import cassette_lock, dump_cassette
    from pytest_llmeval.core.files import write_text_atomic

    adopted: list[tuple[Path, Path, int]] = []
    for pending_file in pending_files:
        pending = load_pending(pending_file)
        cassette = Path(pending.cassette)
        with contextlib.nullcontext() if dry_run else cassette_lock(cassette):
            try:
                on_disk = load_cassette(cassette).interactions
            except FileNotFoundError:
                on_disk = []
            merged = merge_interactions(on_disk, pending.interactions, key)
            added = len(merged) - len(on_disk)
            if not dry_run:
                if added or not cassette.exists():
                    text = dump_cassette(Cassette(interactions=merged))
                    write_text_atomic(cassette, text, redactor=redactor)
                pending_file.unlink(missing_ok=True)
        adopted.append((pending_file, cassette, added))
    return adopted


def keep_after_failed_write(
    cassette: Path,
    wanted: Sequence[Interaction],
    error: Exception,
    *,
    nodeid: str,
    live_calls: int,
    folders: Sequence[Path],
    redactor: Redactor | None = None,
) -> CassetteWriteError:
    """Keep a recording its cassette could not take (`error`); the returned error says
    where it went, or that it is lost."""
    problem = str(error).rstrip(".")
    calls = f"{live_calls} live call{'s' if live_calls != 1 else ''}"
    try:
        kept = keep_pending(
            cassette, wanted, nodeid=nodeid, reason=problem, folders=folders, redactor=redactor
        )
    except OSError as second:
        return CassetteWriteError(
            f"{problem}. The recording of {nodeid} ({calls}) could not be kept "
            f"anywhere else either ({second}), so it is lost; make the cassette folder "
            "writable and record again."
        )
    return CassetteWriteError(
        f"{problem}. The recording of {nodeid} ({calls}) was kept in {kept}; once "
        "the cassette can be written, the next run with --llmeval-record=once or new "
        "adopts it (or run `llmeval cassettes adopt`)."
    )


def adopt_for(
    cassette: Path,
    folders: Sequence[Path],
    key: Callable[[Interaction], Hashable],
    nodeid: str,
    redactor: Redactor | None = None,
) -> None:
    """Merge the recordings an earlier run could not write into `cassette` (before a
    test that may record it starts); raise a CassetteWriteError when one cannot be."""
    found = find_pending(cassette, folders)
    if not found:
        return
    try:
        adopt_pending(found, key, redactor=redactor)
    except OSError as error:
        raise CassetteWriteError(
            f"{error}. The pending recording {found[0]} for {nodeid} could not be "
            "adopted and is kept; make the cassette folder writable and run again."
        ) from None


def save_session_recording(
    path: Path,
    wanted: list[Interaction],
    *,
    base: Sequence[Interaction],
    base_signature: Signature,
    key: Callable[[Interaction], Hashable],
    nodeid: str,
    live_calls: int,
    max_bytes: int,
    pending_folders: Sequence[Path],
    redactor: Redactor,
) -> None:
    """Merge a test's recording into its cassette under the cassette's lock (see
    store.save_recording); when that fails, keep it as a pending recording and raise one
    CassetteWriteError saying where it went. A recording over `max_bytes` is refused
    before anything is written (the next run would refuse to load it)."""
    from pytest_llmeval.capture.cassettes.models import Cassette
    from pytest_llmeval.capture.cassettes.store import dump_cassette, save_recording

    text = dump_cassette(Cassette(interactions=wanted))
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise FileFormatError(
            f"{path}: the recording of {nodeid} is {size:,} bytes, over "
            f"the {max_bytes:,}-byte cassette limit; nothing was written. "
            "Make the test's calls smaller or split the test."
        )
    try:
        save_recording(
            path,
            wanted,
            base=base,
            base_signature=base_signature,
            key=key,
            max_bytes=max_bytes,
            redactor=redactor,
            text=text,
        )
    except (OSError, FileFormatError) as error:
        folders = tuple(pending_folders) or tuple(_pending_folders(None, tempfile.gettempdir()))
        raise keep_after_failed_write(
            path, wanted, error, nodeid=nodeid, live_calls=live_calls, folders=folders,
            redactor=redactor,
        ) from None  # fmt: skip
