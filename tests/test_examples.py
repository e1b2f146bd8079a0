"""The examples replay offline, and their recorded costs are tokens times genai-prices'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# USD per million tokens (input, output), as genai-prices lists them; checked below.
PRICES = {
    ("openai", "gpt-4.1-mini"): (0.40, 1.60),
    ("openai", "gpt-4.1-nano"): (0.10, 0.40),
    ("anthropic", "claude-haiku-4-5"): (1.00, 5.00),
}


def test_listed_prices_are_genai_prices() -> None:
    from genai_prices import Usage, calc_price

    for (provider, model), (input_rate, output_rate) in PRICES.items():
        per_input = calc_price(
            Usage(input_tokens=1_000_000, output_tokens=0), model, provider_id=provider
        )
        per_output = calc_price(
            Usage(input_tokens=0, output_tokens=1_000_000), model, provider_id=provider
        )
        assert float(per_input.total_price) == pytest.approx(input_rate)
        assert float(per_output.total_price) == pytest.approx(output_rate)


def test_examples_replay_offline_with_hand_computed_costs(tmp_path: Path) -> None:
    env = {**os.environ, "CI": "true"}  # replay only: the network is blocked
    env.pop("OPENAI_API_KEY", None)
    env.pop("ANTHROPIC_API_KEY", None)
    trace, report, html = tmp_path / "trace.jsonl", tmp_path / "report.json", tmp_path / "r.html"
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(EXAMPLES), "-p", "no:randomly",
            f"--llmeval-trace={trace}", f"--llmeval-report={report}", f"--llmeval-html={html}",
        ],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "= llm_eval =" in result.stdout
    assert "baseline llmeval-baseline.json: no regression" in result.stdout
    calls = [json.loads(line) for line in trace.read_text().splitlines()]
    assert calls and all(call["replayed"] and call["spent_usd"] == 0 for call in calls)
    total = 0.0
    for call in calls:
        if call["injected_fault"] and call["status"] != 200:  # served by the plugin: free
            assert call["cost_usd"] == 0
            continue
        input_rate, output_rate = PRICES[(call["provider"], call["model"])]
        expected = (call["input_tokens"] * input_rate + call["output_tokens"] * output_rate) / 1e6
        assert call["cost_usd"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        total += expected
    usage = json.loads(report.read_text())["aggregate"]["usage"]
    assert usage["cost_usd"] == pytest.approx(total, rel=1e-9)
    assert usage["judge_calls"] > 0 and usage["app_calls"] > 0
    # the multi-turn example's simulated customers, accounted apart from app and judges
    assert usage["simulator_calls"] == 5 and usage["simulator_models"] == [
        "anthropic:claude-haiku-4-5"
    ]
    simulated = (
        f"simulated users: 5 calls, anthropic:claude-haiku-4-5, ${usage['simulator_cost_usd']:.4f}"
    )
    assert simulated in result.stdout
    assert f"${total:.4f} recorded / $0.0000 spent" in result.stdout
    assert html.read_text().startswith("<!DOCTYPE html>")
