"""The optional cross-test response cache (`--llmeval-cache`), over `diskcache`.

Entries are addressed by a sha256 of the canonical request (method, path, canonical
body), so any test sending the same request reuses the response. diskcache keeps its
data in SQLite with proper locking, which makes one folder safe to share between
processes (pytest-xdist workers). The folder is marked like pytest's `.pytest_cache`:
a `.gitignore` of `*` and a `CACHEDIR.TAG`, so neither git nor backups pick it up.
Every stored entry goes through the session's redactor, as every file written does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmeval.cassettes.match import CanonicalRequest
    from pytest_llmeval.cassettes.models import Interaction
    from pytest_llmeval.cassettes.redact import Redactor

_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pytest-llm-eval.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/spec.html\n"
)
_GITIGNORE = "# Created by pytest-llm-eval automatically.\n*\n"


class ResponseCache:
    """Recorded responses shared across tests and runs, keyed by canonical request."""

    def __init__(self, directory: Path, redactor: Redactor | None = None) -> None:
        import diskcache  # type: ignore[import-untyped]

        from pytest_llmeval.cassettes.redact import Redactor

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, text in ((".gitignore", _GITIGNORE), ("CACHEDIR.TAG", _CACHEDIR_TAG)):
            _create_once(self.directory / name, text)
        self._cache: Any = diskcache.Cache(str(self.directory / "responses"))
        #: What every stored entry goes through, as every file the plugin writes does.
        self.redactor = redactor if redactor is not None else Redactor()

    def get(self, canonical: CanonicalRequest | str) -> Interaction | None:
        """The cached interaction for this request, or None."""
        from pytest_llmeval.cassettes.models import Interaction

        text = self._cache.get(_address(canonical))
        if not isinstance(text, str):
            return None
        try:
            return Interaction.model_validate_json(text)
        except ValueError:  # written by another version: treat as absent
            return None

    def put(self, canonical: CanonicalRequest | str, interaction: Interaction) -> None:
        """Store a response for this request (last writer wins), redacted."""
        self._cache.set(_address(canonical), self.redactor.text(interaction.model_dump_json()))

    def close(self) -> None:
        """Release the SQLite connection."""
        self._cache.close()

    def __len__(self) -> int:
        return len(self._cache)


def _address(canonical: CanonicalRequest | str) -> str:
    if isinstance(canonical, str):
        import hashlib

        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return canonical.digest()


def _create_once(path: Path, text: str) -> None:
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        pass
