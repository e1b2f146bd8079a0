"""--llmeval-max-cost: live spending shared by the whole session, xdist workers included."""

from __future__ import annotations

import pytest

from tests.fakeprovider import FakeProviderServer

SUITE = """
import os
import openai
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
                "--llmeval-max-cost=$0.0200; test_spend.py::test_live?*? made a live call after that.*"
            )
        ]
    )
    result.stdout.fnmatch_lines(
        ["BUDGET EXCEEDED: live calls cost $0.0*, --llmeval-max-cost is $0.0200*"]
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
