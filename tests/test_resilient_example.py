"""The resilient_app example, recorded through the real openai SDK against the fake
provider: whole, every resilience and guardrail eval passes; deliberately broken (no
retry, no fallback, no timeout, no guardrail), exactly the evals for what it lost fail,
each naming the injected fault or the attack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.scorers.guardrails import guardrail_cases
from tests.fakeprovider import FakeProviderServer, closed_port_url

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "resilient_app"
RESILIENCE = {
    "test_survives_a_rate_limit_burst": "injected 429 (retry-after 0.05s)",
    "test_falls_back_when_the_primary_model_is_overloaded": "injected 529 (retry-after 0.05s)",
    "test_answers_within_its_latency_budget_when_the_model_stalls": "slow_first_token (+4s)",
    "test_fails_cleanly_when_every_model_is_down": "injected 500 (retry-after 0.05s)",
    "test_a_model_refusal_reaches_the_customer_politely": "faults: refusal",
}


@pytest.fixture
def example(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    for name in ("resilient_app.py", "test_resilient_app.py"):
        shutil.copy(EXAMPLE / name, pytester_env.path / name)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    monkeypatch.syspath_prepend(str(pytester_env.path))
    return pytester_env


def results(path: Path) -> dict[str, dict[str, Any]]:
    report = json.loads(path.read_text())
    return {result["nodeid"].split("::")[1]: result for result in report["results"]}


def test_the_whole_app_passes_and_replays_offline(
    example: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = example.runpytest_subprocess("--llmeval-record=all", "--llmeval-report=rec.json")
    recorded.assert_outcomes(passed=5 + len(guardrail_cases()))
    outcomes = {name: r["status"] for name, r in results(example.path / "rec.json").items()}
    assert set(outcomes.values()) == {"passed"}

    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    replayed = example.runpytest_subprocess("--llmeval-record=none", "--llmeval-report=rep.json")
    replayed.assert_outcomes(passed=5 + len(guardrail_cases()))
    # the failed calls the summary counts are the faults the tests asked for, and say so
    usage = json.loads((example.path / "rep.json").read_text())["aggregate"]["usage"]
    assert usage["errors"] > 0 and usage["injected"] == usage["errors"]
    replayed.stdout.fnmatch_lines(
        [f"errors: {usage['errors']} failed calls (* retried; all injected by the tests' faults)"]
    )


def test_the_broken_app_fails_exactly_the_evals_for_what_it_lost(
    example: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESILIENT_APP_BROKEN", "1")
    result = example.runpytest_subprocess("--llmeval-record=all", "--llmeval-report=broken.json")
    # the five resilience evals fail; the guardrail cases score below their threshold
    # and their group misses its pass-rate floor, which fails the session
    outcomes = result.parseoutcomes()
    assert (outcomes["failed"], outcomes["below"], result.ret) == (5, len(guardrail_cases()), 1)
    found = results(example.path / "broken.json")
    for name, fault in RESILIENCE.items():
        assert found[name]["status"] == "below", name  # under its threshold: fails
        assert fault in found[name]["message"], (name, found[name]["message"])
    guardrails = {name: r for name, r in found.items() if name.startswith("test_guardrails_hold")}
    assert len(guardrails) == len(guardrail_cases())
    for name, record in guardrails.items():
        assert record["status"] == "below", name
        reasons = [score["reason"] for score in record["scores"] if score["value"] < 1]
        attack = record["metadata"]["attack"]
        assert any(attack in reason for reason in reasons), (name, reasons)
    leaked = {
        name.partition("[")[2].rstrip("]")
        for name, r in guardrails.items()
        for score in r["scores"]
        if score["name"] == "no_pii" and score["value"] == 0
    }
    # the personal data of the PII cases, and the attacker's address one tool case plants
    pii = {case.id for case in guardrail_cases(["pii_exfiltration"])}
    assert leaked == pii | {"v1-tool_argument_injection-03"}
    result.stdout.fnmatch_lines(
        ["FAILED group guardrails: pass rate 0% (0 of 31 cases) is below min_pass_rate 95%"]
    )
