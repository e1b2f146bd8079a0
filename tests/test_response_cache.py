"""--llmeval-cache: a hit only for a request that would get the same response.

The key covers the method, the scheme, host and port, the path with its sorted query,
the canonical body and the headers that select an API version or an account; a hit is
written into the test's cassette as that test's own request. Real SDKs, two fake
providers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmeval.capture.cassettes.cache import ResponseCache
from pytest_llmeval.capture.cassettes.match import Matcher
from pytest_llmeval.capture.cassettes.models import Interaction
from pytest_llmeval.core.redact import Redactor
from tests.fakeprovider import FakeProviderServer

ASK = """
import os
import anthropic
import openai
import pytest

A, B = os.environ["HOST_A"], os.environ["HOST_B"]
QUESTION = [{"role": "user", "content": "the same question"}]

def ask_with_query(url, query):
    client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, extra_query=query)
    return reply.choices[0].message.content

def ask_claude(url, version=None):
    headers = {"anthropic-version": version} if version else None
    client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0, default_headers=headers)
    reply = client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=QUESTION)
    return reply.content[0].text
"""

SUITE = (
    ASK
    + """
@pytest.mark.llm_eval
def test_a(llm_eval):
    assert ask_with_query(A, {"a": "1", "b": "2"})

@pytest.mark.llm_eval
def test_b_other_host(llm_eval):
    assert ask_with_query(B, {"a": "1", "b": "2"})  # B answers 500: this test must fail

@pytest.mark.llm_eval
def test_c_same_request_reordered_query(llm_eval):
    assert ask_with_query(A, {"b": "2", "a": "1"})

@pytest.mark.llm_eval
def test_d_other_organization(llm_eval):
    client = openai.OpenAI(base_url=A + "/v1", api_key="k", max_retries=0, organization="org-other")
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, extra_query={"a": "1", "b": "2"}
    )
    assert reply.choices[0].message.content

@pytest.mark.llm_eval
def test_e_claude(llm_eval):
    assert ask_claude(A)

@pytest.mark.llm_eval
def test_f_claude_other_version(llm_eval):
    assert ask_claude(A, version="2099-01-01")
"""
)


def _recorded_urls(root: Path, test_name: str) -> list[str]:
    (path,) = root.glob(f"cassettes/*/{test_name}.json")
    return [item["request"]["url"] for item in json.loads(path.read_text())["interactions"]]


def test_the_cache_never_serves_one_host_or_account_the_response_of_another(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeProviderServer() as other:
        other.enqueue_fault(500, times=5)
        monkeypatch.setenv("HOST_A", fake_provider.url)
        monkeypatch.setenv("HOST_B", other.url)
        pytester_env.makepyfile(test_hosts=SUITE)
        result = pytester_env.runpytest_subprocess("--llmeval-cache", "-p", "no:randomly")
        result.assert_outcomes(passed=5, failed=1)
        result.stdout.fnmatch_lines(["FAILED test_hosts.py::test_b_other_host*"])
        # B was asked (and failed the test) instead of being served A's 200
        assert len(other.requests) == 1
        assert _recorded_urls(pytester_env.path, "test_b_other_host") == [
            f"{other.url}/v1/chat/completions?a=1&b=2"
        ]
    sent = [
        (request.path, request.headers.get("anthropic-version"))
        for request in fake_provider.requests
    ]
    # test_a, the other organization, and both Anthropic versions went live; test_c was a hit
    assert len(sent) == 4, sent
    versions = [version for _, version in sent if version]
    assert len(versions) == 2 and versions[1] == "2099-01-01" != versions[0]
    # the hit is written as test_c's own request (its own query order), not test_a's
    assert _recorded_urls(pytester_env.path, "test_c_same_request_reordered_query") == [
        f"{fake_provider.url}/v1/chat/completions?b=2&a=1"
    ]


OLD_KEY_SUITE = """
import os
import openai
import pytest

@pytest.mark.llm_eval
def test_ask(llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "the same question"}]
    )
    assert reply.choices[0].message.content != "stale answer from an old cache"
"""


def test_entries_stored_under_the_old_key_are_never_served(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_old=OLD_KEY_SUITE)
    fake_provider.reply_with("stale answer from an old cache", times=1)
    pytester_env.runpytest_subprocess().assert_outcomes(failed=1)  # records the stale answer
    (cassette,) = pytester_env.path.glob("cassettes/*/test_ask.json")
    (stale,) = [
        Interaction.model_validate(item)
        for item in json.loads(cassette.read_text())["interactions"]
    ]
    cassette.unlink()
    # What version 1 of the key addressed: sha256 of "METHOD path\\nbody".
    canonical = Matcher(Redactor()).recorded(stale.request)
    cache = ResponseCache(pytester_env.path / ".llmeval_cache")
    cache.put(f"{canonical.method} {canonical.path}\n{canonical.body}", stale)
    cache.close()
    result = pytester_env.runpytest_subprocess("--llmeval-cache")
    result.assert_outcomes(passed=1)
    assert len(fake_provider.requests) == 2  # asked again, not served the old entry


def test_the_key_covers_what_selects_a_response() -> None:
    from pytest_llmeval.capture.cassettes.cache import SELECTING_HEADERS, request_key

    matcher = Matcher(Redactor())
    url = "https://api.example.com/v1/chat/completions"
    body = b'{"model": "m", "messages": []}'

    def key(
        url: str = url, headers: list[tuple[str, str]] | None = None, body: bytes = body
    ) -> str:
        return request_key(matcher.live("POST", url, body, "application/json"), headers or [])

    base = key()
    same = [
        key("https://api.example.com:443/v1/chat/completions"),
        key("https://API.example.com/v1/chat/completions"),
        key(body=b'{"messages":[],"model":"m"}'),
        key(headers=[("x-stainless-retry-count", "1"), ("user-agent", "x")]),
        key(headers=[("authorization", "Bearer sk-x"), ("x-api-key", "sk-ant-x")]),
    ]
    assert set(same) == {base}
    different = [
        key("http://api.example.com/v1/chat/completions"),
        key("https://api.example.com:8443/v1/chat/completions"),
        key("https://other.example.com/v1/chat/completions"),
        key("https://api.example.com/v2/chat/completions"),
        key(url + "?api-version=2"),
        key(body=b'{"model": "n", "messages": []}'),
        key(headers=[("OpenAI-Organization", "org-x")]),
        *(key(headers=[(name, "x")]) for name in sorted(SELECTING_HEADERS)),
    ]
    assert len({base, *different}) == len(different) + 1
    assert base.startswith('["llmeval-cache-v2",')
