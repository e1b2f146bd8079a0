"""Calls behind gateways and proxies: priced by model name and marked, host-keyed
overrides, free local hosts, Azure deployments, vendor/model names; real SDKs against
the fake provider on a loopback host, which genai-prices does not know."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.fakeprovider import FakeProviderServer, ReplySpec, closed_port_url

APP = """
import os
import openai
import pytest

URL = os.environ["FAKE_URL"]

def ask(question, model="gpt-4o-mini"):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}]
    )
    return reply.choices[0].message.content
"""

SUITE = (
    APP
    + """
@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("question", ["What is the refund window", "Do you ship abroad"])
def test_gateway(question, llm_eval):
    llm_eval.score("answered", bool(ask(question, MODEL)))
"""
)

# genai-prices' gpt-4o-mini rates, USD per million tokens (input, output)
GPT_4O_MINI = (0.15, 0.60)


def suite(model: str = "gpt-4o-mini") -> str:
    return SUITE.replace("MODEL", repr(model))


def read_trace(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def junit_costs(path: Path) -> dict[str, str | None]:
    """Each test case's llm_eval.cost_usd property (None when absent), by test name."""
    costs: dict[str, str | None] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        values = {prop.get("name"): prop.get("value") for prop in case.iter("property")}
        costs[case.get("name", "")] = values.get("llm_eval.cost_usd")
    return costs


def cost_of(call: dict[str, Any], rates: tuple[float, float]) -> float:
    return (call["input_tokens"] * rates[0] + call["output_tokens"] * rates[1]) / 1e6


@pytest.fixture
def gateway(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    return pytester_env


def test_gateway_calls_are_priced_by_model_name_and_marked(
    gateway: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.makepyfile(test_bot=suite())
    result = gateway.runpytest("--junitxml=out.xml", "--llmeval-trace=t.jsonl")
    result.assert_outcomes(passed=2)
    host = f"127.0.0.1:{fake_provider.port}"
    calls = read_trace(gateway.path / "t.jsonl")
    assert len(calls) == 2
    for call in calls:
        assert call["priced"] is True
        assert call["price_source"] == f"by model name; host {host} unknown"
        assert call["cost_usd"] == pytest.approx(cost_of(call, GPT_4O_MINI), rel=1e-9)
        assert call["spent_usd"] == call["cost_usd"]
    costs = junit_costs(gateway.path / "out.xml")
    assert len(costs) == 2
    for (name, cost), call in zip(sorted(costs.items()), calls, strict=True):
        assert cost is not None, name
        assert float(cost) == pytest.approx(call["cost_usd"], rel=1e-5)
    result.stdout.fnmatch_lines(
        [
            "~ 2 calls priced by model name (host unknown to genai-prices: a gateway, proxy or "
            "local server): openai-compatible:gpt-4o-mini; set exact prices with the "
            "llmeval_prices ini option*"
        ]
    )
    assert "not in the cost" not in result.stdout.str()

    # replayed with the server gone: the recorded price and its source
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    replay = gateway.runpytest("--llmeval-record=none", "--llmeval-trace=r.jsonl")
    replay.assert_outcomes(passed=2)
    replayed = read_trace(gateway.path / "r.jsonl")
    assert [(c["cost_usd"], c["price_source"]) for c in replayed] == [
        (c["cost_usd"], c["price_source"]) for c in calls
    ]
    assert all(c["replayed"] and c["spent_usd"] == 0.0 for c in replayed)


def test_the_session_budget_counts_gateway_calls(gateway: pytest.Pytester) -> None:
    gateway.makepyfile(test_bot=suite())
    # one call costs about $0.000007: the first goes out, the second finds the budget spent
    result = gateway.runpytest("-p", "no:randomly", "--llmeval-max-cost=0.000001")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["BUDGET EXCEEDED: live calls cost $0.0000*, --llmeval-max-cost is $0.0000*"]
    )
    assert "UnpricedCallWarning" not in result.stdout.str()


def test_an_unknown_model_on_an_unknown_host_stays_unpriced(gateway: pytest.Pytester) -> None:
    gateway.makepyfile(test_bot=suite("mystery-model"))
    result = gateway.runpytest("--junitxml=out.xml", "--llmeval-trace=t.jsonl")
    result.assert_outcomes(passed=2)
    for call in read_trace(gateway.path / "t.jsonl"):
        assert (call["priced"], call["cost_usd"], call["price_source"]) == (False, None, None)
        assert call["unpriced_reason"] == "no known price"
    assert set(junit_costs(gateway.path / "out.xml").values()) == {None}
    result.stdout.fnmatch_lines(
        ["* 2 calls not in the cost: no known price for openai-compatible:mystery-model*"]
    )
    assert "priced by model name" not in result.stdout.str()


def test_a_host_keyed_override_prices_every_model_of_that_host(gateway: pytest.Pytester) -> None:
    gateway.makeini(
        """
        [pytest]
        llmeval_prices =
            @127.0.0.1 = 1000 / 2000
        """
    )
    gateway.makepyfile(test_bot=suite("mystery-model"))
    result = gateway.runpytest("--junitxml=out.xml", "--llmeval-trace=t.jsonl")
    result.assert_outcomes(passed=2)
    calls = read_trace(gateway.path / "t.jsonl")
    for call in calls:
        assert call["price_source"] == "override @127.0.0.1"
        assert call["cost_usd"] == pytest.approx(cost_of(call, (1000, 2000)), rel=1e-9)
    assert None not in junit_costs(gateway.path / "out.xml").values()


def test_a_free_host_costs_nothing_when_the_ini_says_so(
    gateway: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    host = f"127.0.0.1:{fake_provider.port}"
    gateway.makeini(f"[pytest]\nllmeval_free_hosts = {host}\n")
    gateway.makepyfile(test_bot=suite("llama3.1:8b"))
    result = gateway.runpytest("--junitxml=out.xml", "--llmeval-trace=t.jsonl")
    result.assert_outcomes(passed=2)
    for call in read_trace(gateway.path / "t.jsonl"):
        assert (call["priced"], call["cost_usd"]) == (True, 0.0)
        assert call["price_source"] == f"free host {host}"
    assert set(junit_costs(gateway.path / "out.xml").values()) == {"0"}
    assert "not in the cost" not in result.stdout.str()


def test_a_bad_free_host_names_the_option(gateway: pytest.Pytester) -> None:
    gateway.makeini("[pytest]\nllmeval_free_hosts = localhost:port\n")
    gateway.makepyfile(test_bot=suite())
    result = gateway.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "*bad value for ini option llmeval_free_hosts (--llmeval-free-host): bad "
            "llmeval_free_hosts line 1 'localhost:port'*"
        ]
    )


AZURE = """
import os
import openai
import pytest

@pytest.mark.llm_eval
def test_azure(llm_eval):
    client = openai.AzureOpenAI(
        azure_endpoint=os.environ["FAKE_URL"], api_version="2024-10-21", api_key="k",
        max_retries=0,
    )
    reply = client.chat.completions.create(
        model="DEPLOYMENT", messages=[{"role": "user", "content": "Where is my parcel"}]
    )
    llm_eval.score("answered", bool(reply.choices[0].message.content))
"""


@pytest.mark.parametrize(
    ("deployment", "reported", "rates"),
    [
        ("prod-chat", "gpt-4o-mini-2024-07-18", GPT_4O_MINI),
        # a deployment named like a model, serving another one: the response decides
        ("gpt-4o", "gpt-4o-mini-2024-07-18", GPT_4O_MINI),
        ("gpt-4o", "ft:support-bot", None),
    ],
)
def test_azure_deployments_are_priced_by_the_model_the_response_reports(
    gateway: pytest.Pytester,
    fake_provider: FakeProviderServer,
    deployment: str,
    reported: str,
    rates: tuple[float, float] | None,
) -> None:
    fake_provider.add_reply(ReplySpec(text="It is on its way.", model=reported))
    gateway.makepyfile(test_azure=AZURE.replace("DEPLOYMENT", deployment))
    result = gateway.runpytest("--llmeval-trace=t.jsonl")
    result.assert_outcomes(passed=1)
    [request] = fake_provider.requests
    assert f"/openai/deployments/{deployment}/chat/completions" in request.path
    [call] = read_trace(gateway.path / "t.jsonl")
    assert call["model"] == reported
    if rates is None:
        assert (call["priced"], call["unpriced_reason"]) == (False, "no known price")
    else:
        assert call["cost_usd"] == pytest.approx(cost_of(call, rates), rel=1e-9)
        assert call["price_source"].startswith("by model name; host 127.0.0.1:")


@pytest.mark.parametrize(
    ("model", "rates"),
    [("openai/gpt-4o-mini", GPT_4O_MINI), ("anthropic/claude-haiku-4-5", (1.0, 5.0))],
)
def test_vendor_slash_model_names_are_priced(
    gateway: pytest.Pytester, model: str, rates: tuple[float, float]
) -> None:
    gateway.makepyfile(test_bot=suite(model))
    gateway.runpytest("--llmeval-trace=t.jsonl").assert_outcomes(passed=2)
    for call in read_trace(gateway.path / "t.jsonl"):
        assert call["model"] == model
        assert call["cost_usd"] == pytest.approx(cost_of(call, rates), rel=1e-9)
        assert call["price_source"].startswith("by model name;")
