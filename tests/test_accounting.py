"""Accounting through the plugin: real SDKs against the fake provider, priced, timed, traced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmeval.core.money import format_usd
from tests.fakeprovider import FakeProviderServer, closed_port_url

APP = """
import os
import anthropic
import openai
import pytest

URL = os.environ["FAKE_URL"]

def ask_openai(question):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test-PLANTED0123456789abcdef", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
    )
    return reply.choices[0].message.content

def ask_anthropic_streaming(question):
    client = anthropic.Anthropic(base_url=URL, api_key="sk-ant-PLANTED0123456789abcdef", max_retries=0)
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": question}]
    ) as stream:
        return stream.get_final_message().content[0].text
"""

SUITE = (
    APP
    + """
@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("question", ["What is the refund window", "Do you ship abroad"])
def test_openai(question, llm_eval):
    answer = ask_openai(question)
    llm_eval.score("answered", bool(answer))
    assert len(llm_eval.inferences) == 1
    assert llm_eval.cost_usd == (llm_eval.inferences[0].cost_usd or 0.0)

@pytest.mark.llm_eval(threshold=0.5)
def test_anthropic(llm_eval):
    llm_eval.score("answered", bool(ask_anthropic_streaming("Say hello to the team")))
"""
)

# USD per million tokens, passed as overrides because the fake server is a local,
# OpenAI/Anthropic-compatible host (which genai-prices rightly does not price).
PRICES = """
[pytest]
llmeval_prices =
    openai-compatible:gpt-4o-mini = 0.15 / 0.60
    anthropic-compatible:claude-haiku-4-5 = 1.0 / 5.0
"""


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makeini(PRICES)
    pytester_env.makepyfile(test_bot=SUITE)
    return pytester_env


def unknown_models(source: str) -> str:
    """The suite with models genai-prices does not know by any name."""
    return source.replace("gpt-4o-mini", "mystery-gpt").replace(
        "claude-haiku-4-5", "mystery-claude"
    )


def read_trace(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_cost(record: dict[str, object]) -> float:
    rates = {"gpt-4o-mini": (0.15, 0.60), "claude-haiku-4-5": (1.0, 5.0)}
    input_rate, output_rate = rates[str(record["model"])]
    tokens_in = int(record["input_tokens"] or 0) + int(record["cache_read_tokens"] or 0)  # type: ignore[call-overload]
    tokens_out = int(record["output_tokens"])  # type: ignore[call-overload]
    return (tokens_in * input_rate + tokens_out * output_rate) / 1_000_000


def test_live_then_replay_accounting(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = suite.runpytest("--llmeval-trace=live.jsonl")
    live.assert_outcomes(passed=3)
    calls = read_trace(suite.path / "live.jsonl")
    assert [c["nodeid"] for c in calls] == [
        "test_bot.py::test_anthropic",
        "test_bot.py::test_openai[Do you ship abroad]",
        "test_bot.py::test_openai[What is the refund window]",
    ]
    total = 0.0
    for call in calls:
        # the fake server counts words: every call used tokens, each priced by hand
        assert call["output_tokens"]
        assert call["cost_usd"] == pytest.approx(expected_cost(call), rel=1e-9)
        assert call["spent_usd"] == call["cost_usd"]
        assert call["replayed"] is False
        assert call["latency_s"] > 0
        total += expected_cost(call)
    stream = calls[0]
    assert stream["stream"] is True and 0 < stream["ttft_s"] <= stream["latency_s"]
    live.stdout.fnmatch_lines(
        [
            f"llm_eval: 3 cases, 3 passed · mean 1.00 · ${format_usd(total)} recorded / ${format_usd(total)} spent (0/3 replayed) · p95 *"
        ]
    )

    # replay with the provider unreachable: same recorded cost and latency, nothing spent
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    replay = suite.runpytest("--llmeval-record=none", "--llmeval-trace=replay.jsonl")
    replay.assert_outcomes(passed=3)
    replayed = read_trace(suite.path / "replay.jsonl")
    for before, after in zip(calls, replayed, strict=True):
        assert after["replayed"] is True and after["spent_usd"] == 0.0
        for field in (
            "cost_usd",
            "latency_s",
            "ttft_s",
            "input_tokens",
            "output_tokens",
            "output_text",
        ):
            assert after[field] == before[field], field
    replay.stdout.fnmatch_lines(
        [
            f"llm_eval: 3 cases, 3 passed · mean 1.00 · ${format_usd(total)} recorded / $0.0000 spent (3/3 replayed) · p95 *"
        ]
    )
    # the planted keys reached no file the plugin wrote
    for path in suite.path.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl"):
            assert "PLANTED" not in path.read_text(), path


@pytest.mark.parametrize("xdist_args", [["-n", "2"]])
def test_trace_is_the_same_under_xdist(suite: pytest.Pytester, xdist_args: list[str]) -> None:
    suite.runpytest("--llmeval-trace=first.jsonl").assert_outcomes(passed=3)
    serial = suite.runpytest_subprocess("--llmeval-record=none", "--llmeval-trace=serial.jsonl")
    distributed = suite.runpytest_subprocess(
        "--llmeval-record=none", "--llmeval-trace=xdist.jsonl", *xdist_args
    )
    assert serial.ret == distributed.ret == 0
    serial_lines = (suite.path / "serial.jsonl").read_text().splitlines()
    assert len(serial_lines) == 3
    assert serial_lines == (suite.path / "xdist.jsonl").read_text().splitlines()


def test_group_columns_show_latency_tokens_and_cost(suite: pytest.Pytester) -> None:
    result = suite.runpytest()
    result.stdout.fnmatch_lines(
        [
            "group * n *pass *below *fail *score (95% CI) *pass rate *p50/p95 s *tokens *cost $",
            "test_anthropic *1 *1 *0 *0 *1.00 *100% *?.??/?.?? *[0-9]* *0.0*",
            # two cases scoring 1: a Wilson interval (W), not a zero-width t interval
            "test_openai *2 *2 *0 *0 *1.00 (0.34-1.00 W) *100% *?.??/?.?? *[0-9]* *0.0*",
        ]
    )


def test_unpriced_models_are_named_never_zero(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    # models nobody prices, at a host genai-prices does not know
    pytester_env.makepyfile(test_bot=unknown_models(SUITE))
    result = pytester_env.runpytest("--llmeval-trace=t.jsonl")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            (
                "* 3 calls not in the cost: no known price for anthropic-compatible:mystery-claude, "
                "openai-compatible:mystery-gpt; set prices with the llmeval_prices ini option*"
            )
        ]
    )
    for call in read_trace(pytester_env.path / "t.jsonl"):
        assert call["cost_usd"] is None and call["priced"] is False


def test_marker_budget_and_latency_limits(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    fake_provider.latency = 0.3
    suite.makepyfile(
        test_limits=APP
        + """
@pytest.mark.llm_eval(budget_usd=0.0000001)
def test_over_budget(llm_eval):
    ask_openai("Write a long and careful answer about refunds for damaged goods")

@pytest.mark.llm_eval(max_latency_s=0.1)
def test_too_slow(llm_eval):
    ask_openai("Are you fast")

@pytest.mark.llm_eval(budget_usd=1.0, max_latency_s=30)
def test_within_limits(llm_eval):
    ask_openai("Hello")
"""
    )
    result = suite.runpytest("test_limits.py")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            # the limit as written, the cost to 2 significant digits (not $0.0000)
            "*llm_eval budget exceeded: this test's app calls cost $0.0000[1-9]?, "
            "over budget_usd=$0.0000001.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*llm_eval latency limit exceeded: the slowest app call took 0.3? s, "
            "over max_latency_s=0.1 s."
        ]
    )


def test_replay_of_an_unpriced_recording_uses_overrides_not_the_catalogue(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A recording genai-prices could not price (cost_usd null) replays unpriced, or at
    an override set since; the replay-only session never loads the price catalogue."""
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_bot=unknown_models(SUITE))
    pytester_env.makeconftest(
        """
        import sys

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"catalogue loaded: {'genai_prices' in sys.modules}")
        """
    )
    pytester_env.runpytest("--llmeval-record=once").assert_outcomes(passed=3)
    monkeypatch.setenv("FAKE_URL", closed_port_url())

    plain = pytester_env.runpytest_subprocess("--llmeval-record=none", "--llmeval-trace=a.jsonl")
    plain.assert_outcomes(passed=3)
    plain.stdout.fnmatch_lines(["catalogue loaded: False"])
    assert all(call["cost_usd"] is None for call in read_trace(pytester_env.path / "a.jsonl"))

    pytester_env.makeini(
        """
        [pytest]
        llmeval_prices =
            mystery-gpt = 1.0 / 2.0
        """
    )
    priced = pytester_env.runpytest_subprocess("--llmeval-record=none", "--llmeval-trace=b.jsonl")
    priced.assert_outcomes(passed=3)
    priced.stdout.fnmatch_lines(["catalogue loaded: False"])
    calls = read_trace(pytester_env.path / "b.jsonl")
    openai_calls = [call for call in calls if call["model"] == "mystery-gpt"]
    assert len(openai_calls) == 2
    for call in openai_calls:
        expected = (call["input_tokens"] * 1.0 + call["output_tokens"] * 2.0) / 1e6
        assert call["cost_usd"] == pytest.approx(expected) and call["priced"] is True
        assert call["spent_usd"] == 0.0
    assert [call["cost_usd"] for call in calls if call["model"] != "mystery-gpt"] == [None]
