"""API keys: the placeholder the plugin supplies when a key is not set, and where it may go.

The `openai` client refuses to start without a key and `anthropic` refuses to send a
request without one, even when every response will come from a cassette. So while an
eval test's cassette session runs, each SDK's key variable that is not set holds
`PLACEHOLDER_API_KEY` (and is removed again after the last session stops), and judge
clients built without a key carry it too. The placeholder is never a credential: a
request carrying it is refused before it leaves when it would go live from the code
under test, and a judge's goes nowhere but a local server the judge was pointed at.

The environment is process-wide, so the bookkeeping of what was supplied is one
process-wide, refcounted object (STYLE convention 2 allows it for process-wide things).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

#: The API key of a client built without one (see the module docstring).
PLACEHOLDER_API_KEY = "llmeval-placeholder-key-not-set"

#: The environment variable holding each SDK's API key.
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def key_is_set(sdk: str) -> bool:
    """Whether the SDK can authenticate from the environment (a key, or for Anthropic
    a bearer token)."""
    if os.environ.get(KEY_VARIABLES[sdk]) not in (None, "", PLACEHOLDER_API_KEY):
        return True
    return sdk == "anthropic" and bool(os.environ.get("ANTHROPIC_AUTH_TOKEN"))


def placeholder_variable(headers: Iterable[tuple[str, str]]) -> str | None:
    """The variable to set when a request carries the placeholder key; None if it does not."""
    headers = list(headers)
    if not any(PLACEHOLDER_API_KEY in value for _, value in headers):
        return None
    # anthropic sends the key as x-api-key or as a bearer token, always with its version
    names = {name.lower() for name, _ in headers}
    anthropic = "x-api-key" in names or "anthropic-version" in names
    return KEY_VARIABLES["anthropic" if anthropic else "openai"]


class PlaceholderKeys:
    """The placeholder keys put into `os.environ` while cassette sessions run (refcounted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._supplied: list[str] = []

    def acquire(self) -> None:
        """Supply the placeholder for every key variable that is not set (first holder)."""
        with self._lock:
            if self._holders == 0:
                for sdk, variable in KEY_VARIABLES.items():
                    if not key_is_set(sdk):
                        os.environ[variable] = PLACEHOLDER_API_KEY
                        self._supplied.append(variable)
            self._holders += 1

    def release(self) -> None:
        """Remove the supplied placeholders again (last holder), unless since replaced."""
        with self._lock:
            self._holders = max(0, self._holders - 1)
            if self._holders:
                return
            for variable in self._supplied:
                if os.environ.get(variable) == PLACEHOLDER_API_KEY:
                    del os.environ[variable]
            self._supplied.clear()


PLACEHOLDER_KEYS = PlaceholderKeys()
