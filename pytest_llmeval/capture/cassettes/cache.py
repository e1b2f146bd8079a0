"""The optional cross-test response cache (`--llmeval-cache`), over `diskcache`.

Entries are addressed by a sha256 of everything that selects a response: the method,
the scheme, host and port (the same request to two providers is two requests), the path
with its sorted query, the canonical body, and the request headers that pick an API
version, beta features or an account (`SELECTING_HEADERS`). Any test sending that
request reuses the response. Credentials are left out: no secret, not even hashed,
reaches the cache. The key carries `KEY_VERSION`, so entries stored under an older
key are never found (and never served) again. diskcache keeps its
data in SQLite with proper locking, which makes one folder safe to share between
processes (pytest-xdist workers). The folder is marked like pytest's `.pytest_cache`:
a `.gitignore` of `*` and a `CACHEDIR.TAG`, so neither git nor backups pick it up.
Every stored entry goes through the session's redactor, as every file written does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.match import LiveRequest
    from pytest_llmeval.capture.cassettes.models import Interaction
    from pytest_llmeval.core.redact import Redactor

#: Bumped whenever what `request_key` covers changes (version 1 was method, path and body).
KEY_VERSION = 2

#: Request headers whose value selects the response: the API version and beta features
#: (a different response shape) and the organization or project (a different account,
#: which may not reach the same models). Headers the SDKs vary per attempt (retry
#: counts, timeouts, user agents) and credentials are not part of the key.
SELECTING_HEADERS = frozenset(
    {"anthropic-beta", "anthropic-version", "openai-beta", "openai-organization", "openai-project"}
)

_DEFAULT_PORTS = {"http": 80, "https": 443}

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

        from pytest_llmeval.core.redact import Redactor

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, text in ((".gitignore", _GITIGNORE), ("CACHEDIR.TAG", _CACHEDIR_TAG)):
            _create_once(self.directory / name, text)
        self._cache: Any = diskcache.Cache(str(self.directory / "responses"))
        #: What every stored entry goes through, as every file the plugin writes does.
        self.redactor = redactor if redactor is not None else Redactor()

    def get(self, key: str) -> Interaction | None:
        """The cached interaction stored under this key (see `request_key`), or None."""
        from pytest_llmeval.capture.cassettes.models import Interaction

        text = self._cache.get(_address(key))
        if not isinstance(text, str):
            return None
        try:
            return Interaction.model_validate_json(text)
        except ValueError:  # written by another version: treat as absent
            return None

    def put(self, key: str, interaction: Interaction) -> None:
        """Store a response under this key (last writer wins), redacted."""
        self._cache.set(_address(key), self.redactor.text(interaction.model_dump_json()))

    def close(self) -> None:
        """Release the SQLite connection."""
        self._cache.close()

    def __len__(self) -> int:
        return len(self._cache)


def request_key(live: LiveRequest, headers: Iterable[tuple[str, str]] = ()) -> str:
    """The cache key of a live request: everything that selects its response, versioned."""
    parts = urlsplit(live.url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a port number: keep the text, it still tells hosts apart
        port = None
    netloc = parts.netloc.rpartition("@")[2].lower()
    host = parts.hostname or netloc
    selected = sorted(
        (name.lower(), value) for name, value in headers if name.lower() in SELECTING_HEADERS
    )
    fields = [
        f"llmeval-cache-v{KEY_VERSION}",
        live.canonical.method,
        scheme,
        host,
        port if port is not None else _DEFAULT_PORTS.get(scheme, netloc),
        live.canonical.path,
        selected,
        live.canonical.body,
    ]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":"))


def _address(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _create_once(path: Path, text: str) -> None:
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        pass
