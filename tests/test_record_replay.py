"""Cassettes through the plugin: modes, layout, offline replay, misses, corrupt files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProviderServer, closed_port_url
from tests.suites import ASK

SUITE = (
    ASK
    + """
@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("question", ["refunds?", "shipping/返品 [EU]"])
def test_answers(question, llm_eval):
    answer = ask(question)
    llm_eval.score("echoes", question.split()[0] in answer)
    llm_eval.log(answer=answer)

def test_plain_with_cassette(llm_cassette):
    assert llm_cassette.mode in ("none", "once", "new", "all")
    assert "Fake reply" in ask("plain test")
"""
)


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_bot=SUITE)
    return pytester_env


def cassettes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted((root / "cassettes").rglob("*.json"))
    }


def test_record_once_then_replay_offline(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = suite.runpytest("-v")
    first.assert_outcomes(passed=3)
    files = cassettes(suite.path)
    # one cassette per test item, under cassettes/<module>/, with safe names for odd ids
    assert len(files) == 3
    assert "cassettes/test_bot/test_plain_with_cassette.json" in files
    assert "cassettes/test_bot/test_answers.refunds.json" in files or any(
        name.startswith("cassettes/test_bot/test_answers") for name in files
    )
    for text in files.values():
        data = json.loads(text)
        assert next(iter(data)) == "schema_version"
        assert text.endswith("\n") and "sk-test-key" not in text
    sent = len(fake_provider.requests)
    assert sent == 3

    # the provider is unreachable now: replay must be complete and give the same scores
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    second = suite.runpytest("-v", "--llmeval-record=none")
    second.assert_outcomes(passed=3)
    assert cassettes(suite.path) == files  # replay rewrote nothing
    assert len(fake_provider.requests) == sent

    def scores(result: pytest.RunResult) -> list[str]:
        # the totals up to the money part: cases, statuses and the mean score
        return [
            line.split(" · $")[0] for line in result.stdout.lines if line.startswith("llm_eval:")
        ]

    assert scores(second) == scores(first) == ["llm_eval: 2 cases, 2 passed · mean 1.00"]
    # a few millionths of a dollar recorded, shown with their digits; nothing spent
    second.stdout.fnmatch_lines(
        ["llm_eval: * · $0.00000[1-9]? recorded / $0.0000 spent (2/2 replayed)*"]
    )


def test_once_replays_existing_and_ci_blocks_network(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.runpytest().assert_outcomes(passed=3)
    calls = len(fake_provider.requests)
    suite.runpytest().assert_outcomes(passed=3)  # default mode once: existing cassettes replay
    assert len(fake_provider.requests) == calls

    # an edited prompt is a miss, never a silent replay of the old answer; CI=1 means none
    suite.makepyfile(test_bot=SUITE.replace('"refunds?"', '"refunds, please?"'))
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "No recorded response for POST /v1/chat/completions",
            "  test:     test_bot.py::test_answers?refunds, please??",
            "  cassette: *cassettes/test_bot/test_answers*.json (record mode 'none': replay only, the network is blocked)",
        ]
    )
    assert len(fake_provider.requests) == calls


def test_new_appends_and_all_rerecords(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    suite.runpytest("-k", "test_plain").assert_outcomes(passed=1)
    path = suite.path / "cassettes/test_bot/test_plain_with_cassette.json"
    suite.makepyfile(
        test_bot=SUITE.replace(
            'assert "Fake reply" in ask("plain test")',
            'assert "Fake reply" in ask("plain test")\n    assert ask("second question")',
        )
    )
    suite.runpytest("-k", "test_plain", "--llmeval-record=new").assert_outcomes(passed=1)
    interactions = json.loads(path.read_text())["interactions"]
    assert [i["request"]["body"]["messages"][0]["content"] for i in interactions] == [
        "plain test",
        "second question",
    ]
    suite.makepyfile(test_bot=SUITE)
    suite.runpytest("-k", "test_plain", "--llmeval-record=all").assert_outcomes(passed=1)
    interactions = json.loads(path.read_text())["interactions"]
    assert len(interactions) == 1


def test_corrupt_cassette_is_an_error_and_left_alone(suite: pytest.Pytester) -> None:
    suite.runpytest("-k", "test_plain").assert_outcomes(passed=1)
    path = suite.path / "cassettes/test_bot/test_plain_with_cassette.json"
    corrupt = path.read_bytes()[: len(path.read_bytes()) // 2]
    path.write_bytes(corrupt)
    for mode in ("once", "new", "none"):
        result = suite.runpytest("-k", "test_plain", f"--llmeval-record={mode}")
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines([f"*{path}*"])
        assert path.read_bytes() == corrupt, mode
    # only an explicit re-record replaces it
    suite.runpytest("-k", "test_plain", "--llmeval-record=all").assert_outcomes(passed=1)
    assert json.loads(path.read_text())["schema_version"] == 1


def test_unplayed_interactions_are_reported(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_bot=SUITE.replace(
            'assert "Fake reply" in ask("plain test")',
            'assert "Fake reply" in ask("plain test")\n    ask("extra")',
        )
    )
    suite.runpytest("-k", "test_plain").assert_outcomes(passed=1)
    suite.makepyfile(test_bot=SUITE)
    result = suite.runpytest("-k", "test_plain", "--llmeval-record=none")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*UnplayedInteractionsWarning: 1 recorded interaction(s) in *test_plain_with_cassette.json were not requested*"
        ]
    )


def test_unplayed_advice_after_a_failure_never_suggests_re_recording(
    suite: pytest.Pytester,
) -> None:
    """A test that fails before making its calls (not a mismatch) leaves its cassette
    unplayed; the advice is to fix the failure, never to re-record."""
    suite.runpytest("-k", "refunds").assert_outcomes(passed=1)
    failing = SUITE.replace("    answer = ask(question)", "    raise RuntimeError('setup broke')")
    suite.makepyfile(test_bot=failing)
    result = suite.runpytest("-k", "refunds", "--llmeval-record=none")
    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*UnplayedInteractionsWarning: 1 recorded interaction(s) in *test_answers*.json were"
            " not played, and test_bot.py::test_answers?refunds?? failed: it may have stopped"
            " before requesting them. That is not a mismatch; fix the failure first (the"
            " cassette needs no re-recording)"
        ]
    )
    result.stdout.no_fnmatch_line("*--llmeval-record=all*")

    # after a pass, the advice drops them without re-recording, for this test only
    suite.makepyfile(test_bot=SUITE.replace("    answer = ask(question)", "    answer = question"))
    passed = suite.runpytest("-k", "refunds", "--llmeval-record=none")
    passed.assert_outcomes(passed=1, warnings=1)
    passed.stdout.fnmatch_lines(
        [
            "*were not requested by the test; if it no longer makes them, drop them without"
            " re-recording: llmeval cassettes prune --unplayed --apply 'test_bot.py::test_answers?refunds??'"
        ]
    )
    passed.stdout.no_fnmatch_line("*--llmeval-record=all*")


KEYLESS = """
import os
import anthropic
import openai
import pytest

@pytest.mark.llm_eval
def test_openai(llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content

@pytest.mark.llm_eval
def test_anthropic(llm_eval):
    client = anthropic.Anthropic(base_url=os.environ["FAKE_URL"], max_retries=0)
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.content[0].text
"""

KEY_NAMES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


def test_replay_needs_no_api_key(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK clients read their keys from the environment: recorded with keys, the
    cassettes replay in a fresh checkout that has none, in `none` and in `once`."""
    suite.makepyfile(test_keyless=KEYLESS)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-recording-key-1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-recording-key-1")
    suite.runpytest("test_keyless.py").assert_outcomes(passed=2)
    assert len(fake_provider.requests) == 2

    for name in KEY_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    for mode in ("none", "once"):
        result = suite.runpytest("test_keyless.py", f"--llmeval-record={mode}", "-W", "error")
        result.assert_outcomes(passed=2)
        assert not [name for name in KEY_NAMES if name in os.environ]  # restored after
    assert len(fake_provider.requests) == 2


@pytest.mark.parametrize("mode", ["once", "all"])
def test_recording_without_a_key_names_the_variable_and_sends_nothing(
    suite: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    suite.makepyfile(test_keyless=KEYLESS)
    for name in KEY_NAMES:
        monkeypatch.delenv(name, raising=False)
    result = suite.runpytest("test_keyless.py", f"--llmeval-record={mode}")
    result.assert_outcomes(failed=2)
    for test, variable, path in (
        ("test_openai", "OPENAI_API_KEY", "/v1/chat/completions"),
        ("test_anthropic", "ANTHROPIC_API_KEY", "/v1/messages"),
    ):
        result.stdout.fnmatch_lines(
            [
                f"{variable} is not set, so POST {path} cannot be recorded: it carried the "
                "plugin's placeholder key and was not sent.",
                f"  test:     test_keyless.py::{test}",
                f"  cassette: *cassettes/test_keyless/{test}.json (record mode '{mode}')",
                f"Set {variable} to record it; replaying the recording needs no key.",
            ]
        )
    result.stdout.no_fnmatch_line("*re-record*")
    assert fake_provider.requests == []
    assert not (suite.path / "cassettes" / "test_keyless").exists()


LONG_PROMPT = """
import os
import openai
import pytest

PROMPT = "You are the support agent of a shoe shop. " * 12 + "Answer in English."

@pytest.mark.llm_eval
def test_long(llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
"""


def test_a_miss_on_a_long_prompt_shows_the_edit_and_scopes_the_fix(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_long=LONG_PROMPT)
    suite.runpytest("test_long.py").assert_outcomes(passed=1)
    suite.makepyfile(test_long=LONG_PROMPT.replace("in English", "in French"))
    at = len("You are the support agent of a shoe shop. " * 12) + len("Answer in ")
    result = suite.runpytest("test_long.py", "--llmeval-record=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"  first difference at messages[0].content, character {at}:",
            '    recorded:  ...*shoe shop. Answer in English."',
            '    this call: ...*shoe shop. Answer in French."',
            "To re-record this test's cassette (and no other): "
            "pytest test_long.py::test_long --llmeval-record=all",
        ]
    )
    whole = suite.runpytest("test_long.py", "--llmeval-record=none", "-vv")
    whole.stdout.fnmatch_lines(
        ['    recorded:  "You are the support agent of a shoe shop. You are*Answer in English."']
    )


SWALLOWING = """
import os
import openai
import pytest

@pytest.mark.llm_eval(threshold=0.5)
def test_falls_back(llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="sk-test-key", max_retries=0)
    try:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "refunds?"}]
        ).choices[0].message.content
    except openai.APIError:
        reply = "Sorry, try again later."  # the app swallows every provider error
    llm_eval.score("answered", 1.0)
"""


def test_a_miss_the_code_under_test_swallows_still_fails_the_test(
    pytester_env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    pytester_env.makepyfile(test_swallow=SWALLOWING)
    result = pytester_env.runpytest("--llmeval-record=none")
    result.assert_outcomes(failed=1)
    # the failure names the miss (pytest's short summary line varies by version: not used)
    result.stdout.fnmatch_lines(
        ["*test_falls_back*", "No recorded response for POST /v1/chat/completions"]
    )
