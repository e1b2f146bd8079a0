"""Model calls through clients the cassettes do not intercept are named with a warning,
not passed off as "0 calls, $0"; real clients (requests, urllib.request, http.client)
against the fake provider."""

from __future__ import annotations

import pytest

from pytest_llmeval.capture.cassettes.bypass import is_model_call
from tests.fakeprovider import FakeProviderServer

SUITE = """
import http.client
import json
import os
import urllib.request

import openai
import pytest
import requests

URL = os.environ["FAKE_URL"]
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

@pytest.mark.llm_eval
def test_requests(llm_eval):
    reply = requests.post(URL + "/v1/chat/completions", json=BODY, headers={"Authorization": "Bearer k"})
    requests.post(URL + "/v1/chat/completions", json=BODY)  # the same bypass: warned once
    llm_eval.score("answered", reply.status_code == 200)

@pytest.mark.llm_eval
def test_urllib(llm_eval):
    request = urllib.request.Request(
        URL + "/v1/messages", data=json.dumps({**BODY, "max_tokens": 5}).encode(),
        headers={"content-type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request) as reply:
        llm_eval.score("answered", reply.status == 200)

@pytest.mark.llm_eval
def test_not_a_model_call(llm_eval):
    assert requests.get(URL + "/_fake/health").status_code == 200
    llm_eval.score("ok", 1.0)

@pytest.mark.llm_eval
def test_through_the_sdk(llm_eval):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(**BODY)
    llm_eval.score("seen", len(llm_eval.inferences) == 1)

def test_outside_an_eval_test():
    assert requests.post(URL + "/v1/chat/completions", json=BODY).status_code == 200
"""


def test_model_calls_through_other_clients_are_warned_about(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_clients=SUITE)
    result = pytester_env.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=5, warnings=2)
    host = f"127.0.0.1:{fake_provider.port}"
    result.stdout.fnmatch_lines(
        [
            "test_clients.py::test_requests",
            "*BypassedClientWarning: test_clients.py::test_requests made a model call through "
            f"requests (POST http://{host}/v1/chat/completions), which llm_eval does not "
            "intercept: it was not recorded or replayed, and its tokens and cost are in no "
            "report or budget.*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*BypassedClientWarning: test_clients.py::test_urllib made a model call through "
            f"urllib.request (POST http://{host}/v1/messages)*"
        ]
    )
    output = result.stdout.str()
    for quiet in ("test_not_a_model_call made", "test_through_the_sdk made", "test_outside"):
        assert quiet not in output
    # the calls still went out, unchanged: 3 bypassing model calls, 1 SDK call, 1 outside
    posts = [r for r in fake_provider.requests if r.method == "POST"]
    assert len(posts) == 5


def test_a_warning_made_an_error_fails_the_test(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_clients=SUITE)
    result = pytester_env.runpytest_subprocess(
        "-W", "error::pytest_llmeval.core.errors.BypassedClientWarning", "-k", "requests"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*BypassedClientWarning: test_clients.py::test_requests*"])


@pytest.mark.parametrize(
    ("method", "url", "model_call"),
    [
        ("POST", "http://127.0.0.1:9/v1/chat/completions", True),
        ("POST", "http://gateway/openai/deployments/d/chat/completions?api-version=1", True),
        ("POST", "http://localhost/v1/messages", True),
        (
            "POST",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3/converse",
            True,
        ),
        ("POST", "https://vpce.internal/model/amazon.nova-lite-v1:0/invoke", True),
        ("POST", "https://x/v1beta/models/gemini-2.5-flash:generateContent", True),
        ("GET", "https://api.openai.com/v1/models", True),
        ("GET", "https://generativelanguage.googleapis.com/v1beta/models", True),
        ("POST", "http://127.0.0.1:9/api/orders", False),
        ("GET", "http://127.0.0.1:9/v1/chat/completions", False),
        ("POST", "http://[::1", False),
    ],
)
def test_what_counts_as_a_model_call(method: str, url: str, model_call: bool) -> None:
    assert is_model_call(method, url) is model_call


AIOHTTP_SUITE = """
import os

import aiohttp
import pytest

URL = os.environ["FAKE_URL"]

@pytest.mark.anyio
@pytest.mark.llm_eval
async def test_aiohttp(llm_eval):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(URL + "/v1/chat/completions", json=body) as reply:
            llm_eval.score("answered", reply.status == 200)

@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def test_aiohttp_model_calls_are_warned_about(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("aiohttp")  # an optional client: not a dependency of the suite
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_aio=AIOHTTP_SUITE)
    result = pytester_env.runpytest_subprocess()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*BypassedClientWarning: test_aio.py::test_aiohttp made a model call through "
            f"aiohttp (POST http://127.0.0.1:{fake_provider.port}/v1/chat/completions)*"
        ]
    )


def test_the_watched_clients_are_put_back_when_the_session_ends(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import http.client

    original = http.client.HTTPConnection.__dict__["putrequest"]
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_clients=SUITE)
    result = pytester_env.runpytest("-k", "requests")  # in this process
    result.assert_outcomes(passed=1, deselected=4, warnings=1)
    assert http.client.HTTPConnection.__dict__["putrequest"] is original
