"""--llmeval-max-cost: live spending shared by the whole session, xdist workers included."""

from __future__ import annotations

import json

import pytest

from tests.fakeprovider import FakeProviderServer

SUITE = """
import os
import openai
import json

import pytest

@pytest.mark.llm_eval
@pytest.mark.parametrize("n", range(8))
def test_live(n, llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"question number {n}"}]
    )
"""

# Expensive on purpose: each call (a dozen tokens) costs about $0.01.
PRICES = """
[pytest]
llmeval_prices = gpt-4o-mini = 1000 / 1000
"""


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]])
def test_live_calls_stop_once_the_budget_is_spent(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    xdist_args: list[str],
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makeini(PRICES)
    pytester_env.makepyfile(test_spend=SUITE)
    result = pytester_env.runpytest_subprocess("--llmeval-max-cost=0.02", *xdist_args)
    outcomes = result.parseoutcomes()
    # a few calls fit in the budget (in-flight ones may overshoot it), the rest are refused
    assert outcomes.get("passed", 0) >= 2
    assert outcomes.get("failed", 0) >= 1
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 8
    result.stdout.fnmatch_lines(
        [
            (
                "*llm_eval session budget used up: live calls have cost $0.0* of "
                "--llmeval-max-cost=$0.02; test_spend.py::test_live?*? made a live call after that.*"
            )
        ]
    )
    result.stdout.fnmatch_lines(
        ["BUDGET EXCEEDED: live calls cost $0.0*, --llmeval-max-cost is $0.02;*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # refused calls never reached the provider
    assert len(fake_provider.requests) == outcomes["passed"]


def test_replay_spends_nothing_against_the_budget(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makeini(PRICES)
    pytester_env.makepyfile(test_spend=SUITE)
    pytester_env.runpytest_subprocess().assert_outcomes(passed=8)  # record, no budget
    result = pytester_env.runpytest_subprocess("--llmeval-max-cost=0.001", "--llmeval-record=none")
    result.assert_outcomes(passed=8)
    assert "BUDGET" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["llm_eval: 8 cases, 8 passed · mean 1.00 · $0.* recorded / $0.0000 spent (8/8 replayed)*"]
    )


# -- live calls the budget cannot price ----------------------------------------------------


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]])
def test_unpriced_live_calls_warn_once_even_with_q(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    xdist_args: list[str],
) -> None:
    """A budget that cannot price a call says so: one warning per cause naming the test,
    the model, the host and why, and a summary line that -q keeps."""
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    # a model nobody prices, at a host genai-prices does not know: unpriced
    pytester_env.makepyfile(test_spend=SUITE.replace("gpt-4o-mini", "mystery-model"))
    result = pytester_env.runpytest_subprocess("-q", "--llmeval-max-cost=0.000001", *xdist_args)
    result.assert_outcomes(passed=8, warnings=1)
    cause = f"openai-compatible:mystery-model at 127.0.0.1:{fake_provider.port}: no known price"
    output = result.stdout.str()
    assert output.count("UnpricedCallWarning") == 1, output
    result.stdout.fnmatch_lines(
        [
            "*UnpricedCallWarning: --llmeval-max-cost=$0.000001 cannot count a live call of "
            f"test_spend.py::test_live[[]?[]]: {cause}. The call went out and its cost is not in "
            "the budget. Set its price in the llmeval_prices ini option: "
            "'openai-compatible:mystery-model = <input> / <output>'*--llmeval-max-cost-strict*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "BUDGET INCOMPLETE: 8 live calls could not be priced, so "
            "--llmeval-max-cost=$0.000001 did not count them*",
            f"  8 x {cause}",
        ]
    )
    assert len(fake_provider.requests) == 8


STREAMS = """
import os
import openai
import json

import pytest

def stream(**options):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    chunks = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True, **options
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)

@pytest.mark.llm_eval
def test_stream_without_usage(llm_eval):
    assert stream()

@pytest.mark.llm_eval
def test_stream_with_usage(llm_eval):
    assert stream(stream_options={"include_usage": True})
"""


def test_a_priced_stream_without_usage_is_flagged_not_called_unpriced(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makeini(PRICES)
    pytester_env.makepyfile(test_streams=STREAMS)
    result = pytester_env.runpytest_subprocess("--llmeval-max-cost=10", "--llmeval-trace=t.jsonl")
    result.assert_outcomes(passed=2, warnings=1)
    cause = (
        f"openai-compatible:gpt-4o-mini at 127.0.0.1:{fake_provider.port}: "
        "usage not reported (stream without include_usage)"
    )
    result.stdout.fnmatch_lines(
        [
            f"*UnpricedCallWarning: *test_streams.py::test_stream_without_usage: {cause}. *"
            "Pass stream_options={'include_usage': True} so the stream reports usage.*",
            "* 1 call not in the cost: usage not reported (stream without include_usage) for "
            "openai-compatible:gpt-4o-mini; pass stream_options={'include_usage': True}",
            f"  1 x {cause}",
        ]
    )
    assert "no known price" not in result.stdout.str()
    calls = {
        json.loads(line)["nodeid"].rpartition("::")[2]: json.loads(line)
        for line in (pytester_env.path / "t.jsonl").read_text().splitlines()
    }
    assert calls["test_stream_without_usage"]["unpriced_reason"] == (
        "usage not reported (stream without include_usage)"
    )
    assert calls["test_stream_with_usage"]["priced"] is True


STRICT = """
import os
import openai
import json

import pytest

def ask(model, **options):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], **options
    )
    return reply if options.get("stream") else reply.choices[0].message.content

@pytest.mark.llm_eval
def test_priced(llm_eval):
    assert ask("gpt-4o-mini")

@pytest.mark.llm_eval
def test_priced_stream_with_usage(llm_eval):
    assert list(ask("gpt-4o-mini", stream=True, stream_options={"include_usage": True}))

@pytest.mark.llm_eval
def test_model_nobody_prices(llm_eval):
    assert ask("mystery-model")

@pytest.mark.llm_eval
def test_stream_without_usage(llm_eval):
    assert list(ask("gpt-4o-mini", stream=True))
"""


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]])
def test_strict_budget_refuses_unpriceable_calls_before_they_leave(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    xdist_args: list[str],
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makeini(PRICES)
    pytester_env.makepyfile(test_strict=STRICT)
    result = pytester_env.runpytest_subprocess(
        "--llmeval-max-cost=10", "--llmeval-max-cost-strict", *xdist_args
    )
    result.assert_outcomes(passed=2, failed=2)
    host = f"127.0.0.1:{fake_provider.port}"
    result.stdout.fnmatch_lines(
        [
            "llm_eval refused a live call of test_strict.py::test_model_nobody_prices: "
            f"openai-compatible:mystery-model at {host}: no known price, so --llmeval-max-cost "
            "could not count its cost, and --llmeval-max-cost-strict refuses such calls. Set "
            "its price in the llmeval_prices ini option: 'openai-compatible:mystery-model = "
            "<input> / <output>' in USD per million tokens.*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "llm_eval refused a live call of test_strict.py::test_stream_without_usage: "
            f"openai-compatible:gpt-4o-mini at {host}: usage not reported (stream without "
            "include_usage), so --llmeval-max-cost could not count its cost*",
        ]
    )
    # the refused calls never reached the provider
    sent = sorted(str(request.body.get("model")) for request in fake_provider.requests)
    assert sent == ["gpt-4o-mini", "gpt-4o-mini"]
    assert "UnpricedCallWarning" not in result.stdout.str()


def test_strict_without_a_budget_is_a_usage_error(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_nothing="def test_nothing(): pass")
    result = pytester_env.runpytest_subprocess("--llmeval-max-cost-strict")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*pytest-llm-eval: --llmeval-max-cost-strict refuses the live calls the session "
            "budget cannot price, but no budget is set: add --llmeval-max-cost=USD (ini "
            "llmeval_max_cost), or drop --llmeval-max-cost-strict."
        ]
    )


CASSETTE_ONLY = """
import os
import openai
import pytest

@pytest.mark.parametrize("n", range(8))
def test_live(n, llm_cassette):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(
        model=os.environ["MODEL"], messages=[{"role": "user", "content": f"question number {n}"}]
    )
"""


@pytest.mark.parametrize("model", ["gpt-4o-mini", "mystery-model"])
def test_calls_of_tests_that_only_use_llm_cassette_count_too(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
) -> None:
    """A test without the llm_eval marker that records through the llm_cassette fixture
    spends against the budget (priced) or is named by it (unpriced) like any other."""
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    monkeypatch.setenv("MODEL", model)
    pytester_env.makeini(PRICES)
    pytester_env.makepyfile(test_spend=CASSETTE_ONLY)
    result = pytester_env.runpytest_subprocess("--llmeval-max-cost=0.02")
    if model == "gpt-4o-mini":
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) >= 2 and outcomes.get("failed", 0) >= 1
        assert len(fake_provider.requests) == outcomes["passed"]
        result.stdout.fnmatch_lines(["*llm_eval session budget used up*"])
    else:
        result.assert_outcomes(passed=8, warnings=1)
        result.stdout.fnmatch_lines(
            [
                "*UnpricedCallWarning: *test_spend.py::test_live[[]?[]]: "
                "openai-compatible:mystery-model at *: no known price.*",
            ]
        )
