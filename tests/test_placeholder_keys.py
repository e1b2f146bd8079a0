"""The placeholder API keys are in the environment while eval tests run, and only then:
kept from one eval test to the next (not taken out and put back in between), taken out
before any other test and at the session's end (`Runtime.keep_keys`)."""

from __future__ import annotations

import os

import pytest

from tests.fakeprovider import FakeProviderServer, closed_port_url

# each test records what it sees; the conftest checks each fixture and session end too
SUITE = """
import os
import openai
import pytest

def ask(question):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
    )
    return reply.choices[0].message.content

@pytest.fixture(scope="module")
def module_fixture():
    print("SEEN module fixture setup", os.environ.get("OPENAI_API_KEY"))
    yield
    print("SEEN module fixture teardown", os.environ.get("OPENAI_API_KEY"))

@pytest.mark.llm_eval
@pytest.mark.parametrize("case", range(2))
def test_first(case, llm_eval, module_fixture):
    print("SEEN eval", case, os.environ.get("OPENAI_API_KEY"))
    ask(f"first {case}")
    assert os.environ.get("FAIL_CASE") != str(case)

def test_plain():
    print("SEEN plain", os.environ.get("OPENAI_API_KEY"))

@pytest.mark.llm_eval
def test_last(llm_eval):
    print("SEEN eval last", os.environ.get("OPENAI_API_KEY"))
    ask("last")
"""

LATER = """
import os

def test_other_module():
    print("SEEN other module", os.environ.get("OPENAI_API_KEY"))
"""

CONFTEST = """
import os
import pytest

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    print("SEEN session end", os.environ.get("OPENAI_API_KEY"))
"""

PLACEHOLDER = "llmeval-placeholder-key-not-set"


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    """The suite recorded with a key; replayed without one, the provider unreachable."""
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-recording-key")
    pytester_env.makepyfile(test_keys=SUITE, test_later=LATER)
    pytester_env.makeconftest(CONFTEST)
    pytester_env.runpytest().assert_outcomes(passed=5)
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    return pytester_env


def seen(result: pytest.RunResult) -> list[str]:
    """What the suite printed (not the source lines a failure's traceback shows)."""
    lines = [line for line in result.outlines if "SEEN " in line and "print(" not in line]
    return [line.split("SEEN ", 1)[1] for line in lines]


@pytest.mark.parametrize("mode", ["none", "once"])
def test_keys_only_while_eval_tests_run(suite: pytest.Pytester, mode: str) -> None:
    result = suite.runpytest("-s", "-p", "no:randomly", f"--llmeval-record={mode}")
    result.assert_outcomes(passed=5)
    assert seen(result) == [
        f"module fixture setup {PLACEHOLDER}",
        f"eval 0 {PLACEHOLDER}",
        f"eval 1 {PLACEHOLDER}",
        "plain None",
        f"eval last {PLACEHOLDER}",
        f"module fixture teardown {PLACEHOLDER}",
        "other module None",
        "session end None",
    ]
    assert "OPENAI_API_KEY" not in os.environ


def test_keys_are_taken_out_when_the_session_stops_early(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # -x stops after the first case failed: the second eval test never runs
    monkeypatch.setenv("FAIL_CASE", "0")
    result = suite.runpytest("-s", "-x", "--llmeval-record=none")
    result.assert_outcomes(failed=1)
    assert seen(result)[-1] == "session end None"
    assert f"eval 0 {PLACEHOLDER}" in seen(result)


def test_a_key_that_is_set_is_left_alone(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-own-key")
    result = suite.runpytest("-s", "--llmeval-record=none")
    result.assert_outcomes(passed=5)
    assert {line.rsplit(" ", 1)[1] for line in seen(result)} == {"sk-own-key"}
    assert os.environ["OPENAI_API_KEY"] == "sk-own-key"
