"""The one writer of the plugin's files: atomic, redacted, piece by piece.

Writing (``write_text_atomic``, ``write_texts_atomic``) is atomic: the text goes to a
temporary file in the same folder whose name carries the process and thread ids, then
``os.replace`` moves it over the target, so readers see the old file or the new one,
never half of one, and concurrent writers (xdist, CI shards) never share a temp file.
Temp files that a writer killed mid-write left beside the target are removed by a
later process's first write of that target once their process is gone (each process
lists a folder once: `_remove_stale_temporaries`).

Redaction: ``write_text_atomic`` (and so `files.write_model`) passes every piece it
writes through the session's ``Redactor`` (the built-in patterns when none is given),
the one choke point every file the plugin writes goes through (`redact.py`).

Standard library only (the redactor is imported when a write needs it): the versioned
models' reader and layout, which need pydantic, are `files.py`.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pytest_llmeval.core.errors import FileWriteError, LLMEvalError

if TYPE_CHECKING:
    from pytest_llmeval.core.redact import Redactor


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _encodable(text: str) -> str:
    """`text` with its lone surrogates escaped (see write_text_atomic); ASCII text, most
    of what is written, holds none."""
    return text if text.isascii() else _LONE_SURROGATE.sub(_escape_surrogate, text)


def write_text_atomic(
    path: str | os.PathLike[str],
    text: str | Iterable[str],
    *,
    redactor: Redactor | None = None,
) -> None:
    """Write text (or its pieces, as they come) through a per-process temp file in the
    same folder and os.replace.

    Every piece goes through `redactor.text` first (the session's redactor; without one,
    the built-in patterns): the one choke point no written byte bypasses. A piece must
    hold whole JSON strings (our writers cut at values), so a secret is never split
    between two pieces.

    Any OSError on the way (no folder, a read-only or full disk, a folder in the way)
    becomes one FileWriteError naming `path` (never the temp file) and the reason; the
    temp file is removed, and a failure to remove it (a read-only file system) is not a
    second error.

    Lone surrogates (half an emoji in a model's reply, JSON-escaped on the wire) cannot
    be encoded as UTF-8; in our JSON text they only occur inside strings, where the
    `\\udXXX` escape written instead reads back as the same string.
    """
    pieces = [text] if isinstance(text, str) else text
    (error,) = write_texts_atomic([(path, pieces)], redactor=redactor)
    if error is not None:
        raise error from None  # the OSError is in its message


def write_texts_atomic(
    targets: Sequence[tuple[str | os.PathLike[str], Iterable[str]]],
    *,
    redactor: Redactor | None = None,
) -> list[LLMEvalError | None]:
    """Write several files as `write_text_atomic` writes one, a piece of each in turn:
    files made from the same data as it comes (the JSON report and the HTML page that
    embeds it) share each piece of it instead of one holding all of it for the other.

    Each file stands alone, as if written by itself: one whose writing fails (an
    OSError, as a FileWriteError) or whose pieces raise an LLMEvalError is removed and
    its error returned in its place, while the others are still written; the list
    holds None for each file written. The pieces of a file that failed to write are
    still taken, and dropped, so that data it shares with the others is not kept for
    it. Any other exception removes every temp file and propagates.
    """
    if redactor is None:
        from pytest_llmeval.core.redact import Redactor

        redactor = Redactor()
    redact = redactor.text
    files = [_PendingFile(Path(path), pieces) for path, pieces in targets]
    try:
        for file in files:
            file.open()
        active = list(files)
        while active:
            for file in list(active):
                try:
                    piece = next(file.pieces, None)
                except OSError as error:
                    piece = None
                    file.fail(write_error(file.target, error))
                except LLMEvalError as error:
                    piece = None
                    file.fail(error)
                if piece is None:
                    active.remove(file)
                    file.finish()
                else:
                    file.write(_encodable(redact(piece)))
    except BaseException:
        for file in files:
            file.fail(None)
        raise
    return [file.error for file in files]


class _PendingFile:
    """One file of `write_texts_atomic`: its temp file until it is moved into place."""

    def __init__(self, target: Path, pieces: Iterable[str]) -> None:
        self.target = target
        self.temporary = _temporary(target)
        self.pieces = iter(pieces)
        self.handle: TextIO | None = None
        self.error: LLMEvalError | None = None

    def open(self) -> None:
        try:
            make_folder(self.target.parent)
            self.handle = open(self.temporary, "w", encoding="utf-8", newline="\n")
        except OSError as error:
            self.fail(write_error(self.target, error))

    def write(self, text: str) -> None:
        if self.handle is None:
            return  # failed: its pieces are dropped
        try:
            self.handle.write(text)
        except OSError as error:
            self.fail(write_error(self.target, error))

    def finish(self) -> None:
        if self.handle is None:
            return
        try:
            self.handle.close()
            os.replace(self.temporary, self.target)
        except OSError as error:
            self.fail(write_error(self.target, error))
            return
        self.handle = None
        _remove_stale_temporaries(self.target)

    def fail(self, error: LLMEvalError | None) -> None:
        """Remove the temp file, keeping the first error (None: something else failed)."""
        if self.error is None and error is not None:
            self.error = error
        if self.handle is not None:
            handle, self.handle = self.handle, None
            try:
                handle.close()
            except OSError:  # what it could not flush is discarded with it
                pass
        _discard(self.temporary)


def _temporary(target: Path) -> Path:
    """The temp file of a write of `target`, unique to this process and thread."""
    return target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")


def write_error(target: str | os.PathLike[str], error: OSError) -> FileWriteError:
    """The FileWriteError for a failed write of `target`: its path and the reason only
    (the OSError's own text names whichever temp file or folder the call touched)."""
    if isinstance(error, FileWriteError):
        return error
    reason = error.strerror or str(error) or type(error).__name__
    if error.errno is not None:
        reason = f"{reason} [{errno.errorcode.get(error.errno, error.errno)}]"
    return FileWriteError(os.fspath(target), reason, error.errno)


def make_folder(folder: Path) -> None:
    """Create a folder and its parents; a file in the way is NotADirectoryError naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a file is in the way
        blocker = next(
            (p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None
        )
        if blocker is None:
            raise
        raise NotADirectoryError(errno.ENOTDIR, f"{blocker} is a file, not a folder") from None


def _discard(temporary: Path) -> None:
    try:
        temporary.unlink(missing_ok=True)
    except OSError:  # a read-only file system: nothing was written there either
        pass


#: Per folder, the temp files in it when this process first wrote there (names that
#: start with a dot and end in .tmp), those of each target taken out at its first write.
#: A killed writer's files are there before this process writes: one listing per folder
#: finds them, where listing it at every write made recording n cassettes into one
#: folder cost n squared (3.6 ms a write at 10,000 files).
_TEMPORARIES: dict[str, list[str]] = {}
_TEMPORARIES_LOCK = threading.Lock()


def _remove_stale_temporaries(target: Path) -> None:
    """Delete the temp files that writers of `target` killed mid-write left beside it.

    A temp file is stale when the process its name carries is gone; files of running
    processes (xdist workers, CI shards writing now) are left alone, and so is every
    file where that cannot be told (not POSIX). The folder is listed once per process
    (`_TEMPORARIES`): a writer killed while this process runs leaves its file to the next.
    """
    if os.name != "posix":
        return
    folder = os.fspath(target.parent)
    prefix = f".{target.name}."
    with _TEMPORARIES_LOCK:
        found = _TEMPORARIES.get(folder)
        if found is None:
            try:
                found = [
                    entry.name
                    for entry in os.scandir(folder)
                    if entry.name.startswith(".") and entry.name.endswith(".tmp")
                ]
            except OSError:
                return
            _TEMPORARIES[folder] = found
        names = [name for name in found if name.startswith(prefix)]
        for name in names:
            found.remove(name)
    for name in names:
        pid = name[len(prefix) : -len(".tmp")].partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            (target.parent / name).unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True
