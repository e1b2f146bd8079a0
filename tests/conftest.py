"""Shared fixtures of the test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

# pytester's in-process runs drop the modules they import when they end; imported once
# here, the HTTP stack keeps a single identity (httpx2 maps errors by class identity).
import anthropic  # noqa: F401
import httpcore2  # noqa: F401
import httpx2  # noqa: F401
import openai  # noqa: F401
import pytest

# The fake provider's fixtures and --run-slow are wired in the repository's conftest.py.


@pytest.fixture
def pytester_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose runs see no CI variable and no LLMEVAL_* overrides.

    In-process runs re-import nothing, so pytest warns that the already imported
    plugin cannot be assertion-rewritten; that warning is an artefact of pytester.
    """
    for name in list(os.environ):
        if name == "CI" or name.startswith("LLMEVAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning")
    return pytester


@pytest.fixture
def stop_leaked_cassette_sessions() -> Iterator[None]:
    """Stop the cassette sessions a test left started (it failed between start() and
    stop()), so interception does not stay on for the tests after it."""
    yield
    from pytest_llmeval.capture.cassettes import intercept

    for leaked in list(intercept._INTERCEPTION.sessions):
        leaked.stop()
