"""Pytest fixtures for the fake provider: list this module in `pytest_plugins`.

One server runs per session (per xdist worker); `fake_provider` hands it to a test
after forgetting what the previous test scripted or sent. The SDK clients are real,
point at it with `api_key="test-key"`, and do not retry unless a test asks to.
Async clients are for `@pytest.mark.anyio` tests (the anyio plugin ships with the SDKs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from .server import FakeProviderServer

if TYPE_CHECKING:
    import anthropic
    import openai

TEST_API_KEY = "test-key"
"""The API key the fixture clients send; the server accepts any key."""


@pytest.fixture(scope="session")
def _fake_provider_server() -> Iterator[FakeProviderServer]:
    """The session's running fake provider (unreset: use `fake_provider` in tests)."""
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def fake_provider(_fake_provider_server: FakeProviderServer) -> FakeProviderServer:
    """The running fake provider, with replies, faults, requests and timings reset."""
    _fake_provider_server.reset()
    return _fake_provider_server


@pytest.fixture
def openai_client(fake_provider: FakeProviderServer) -> Iterator[openai.OpenAI]:
    """A real `openai.OpenAI` client pointed at the fake provider, max_retries=0."""
    import openai

    client = openai.OpenAI(
        base_url=fake_provider.openai_base_url, api_key=TEST_API_KEY, max_retries=0
    )
    with client:
        yield client


@pytest.fixture
def anthropic_client(fake_provider: FakeProviderServer) -> Iterator[anthropic.Anthropic]:
    """A real `anthropic.Anthropic` client pointed at the fake provider, max_retries=0."""
    import anthropic

    client = anthropic.Anthropic(
        base_url=fake_provider.anthropic_base_url, api_key=TEST_API_KEY, max_retries=0
    )
    with client:
        yield client


@pytest.fixture
async def async_openai_client(
    fake_provider: FakeProviderServer,
) -> AsyncIterator[openai.AsyncOpenAI]:
    """A real `openai.AsyncOpenAI` client pointed at the fake provider, max_retries=0."""
    import openai

    client = openai.AsyncOpenAI(
        base_url=fake_provider.openai_base_url, api_key=TEST_API_KEY, max_retries=0
    )
    async with client:
        yield client


@pytest.fixture
async def async_anthropic_client(
    fake_provider: FakeProviderServer,
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """A real `anthropic.AsyncAnthropic` client pointed at the fake provider, max_retries=0."""
    import anthropic

    client = anthropic.AsyncAnthropic(
        base_url=fake_provider.anthropic_base_url, api_key=TEST_API_KEY, max_retries=0
    )
    async with client:
        yield client
