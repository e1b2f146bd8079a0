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

pytest_plugins = ["tests.fakeprovider.fixtures"]


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
    from pytest_llmeval.cassettes import intercept

    for leaked in list(intercept._INTERCEPTION.sessions):
        leaked.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        dest="run_slow",
        help="Run the tests marked slow (stress tests; CI runs their bounded versions).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("run_slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
