"""An eval session imports only what it uses: a replay of recorded calls scored by a
deterministic scorer (or by nothing) loads no judge, conversation, calibration or
pricing code. A check on `sys.modules` after the session, not a timing; the import
cost it guards is measured in docs/performance.md (section 2, Replay)."""

from __future__ import annotations

import json

import pytest

from tests.fakeprovider import FakeProviderServer, closed_port_url
from tests.suites import ASK

RECORD_MODULES = """
import json, sys

def pytest_unconfigure(config):
    with open(config.rootpath / "modules.json", "w") as f:
        json.dump(sorted(sys.modules), f)
"""

SUITE = (
    ASK
    + """
from pytest_llmeval.scorers import contains

@pytest.mark.llm_eval
@pytest.mark.parametrize("question", ["refunds?", "shipping?"])
def test_replay_only(question):
    assert "Fake reply" in ask(question)

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("question", ["refunds?", "shipping?"])
def test_scored(question, llm_eval):
    llm_eval.score("mentions", contains(ask(question), ["Fake reply"]))
"""
)

#: What the run must have loaded: the eval machinery really ran, replaying.
USED = (
    "pytest_llmeval.items.runner",
    "pytest_llmeval.capture.cassettes.session",
    "pytest_llmeval.capture.inference",
    "pytest_llmeval.items.session",
    "pytest_llmeval.reporting.terminal",
)

#: What such a run never needs. Each loads with the feature that uses it: a judge
#: call, a driven conversation, calibration or --llmeval-rejudge, the bias probes,
#: pricing a call the recording did not price, a baseline, a report file.
UNUSED_PREFIXES = (
    "pytest_llmeval.judges",
    "pytest_llmeval.items.dialogue",
    "pytest_llmeval.records.conversation",
    "pytest_llmeval.records.verdicts",
    "pytest_llmeval.records.calibration",
    "pytest_llmeval.records.probes",
    "pytest_llmeval.records.baseline",
    "pytest_llmeval.records.comparison",
    "pytest_llmeval.records.trajectory",
    "pytest_llmeval.records.cases",
    "pytest_llmeval.capture.pricing",
    "pytest_llmeval.capture.price_overrides",
    "pytest_llmeval.scorers.embedding",
    "pytest_llmeval.reporting.json",
    "pytest_llmeval.reporting.html",
    "pytest_llmeval.reporting.junit",
    "genai_prices",
    "anthropic",
)


@pytest.mark.parametrize("selected", ["test_replay_only", "test_scored"])
def test_replay_loads_no_judge_conversation_or_pricing_code(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    selected: str,
) -> None:
    pytester_env.makepyfile(test_bot=SUITE)
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    recorded = pytester_env.runpytest_subprocess("-p", "no:cacheprovider", "-k", selected)
    recorded.assert_outcomes(passed=2)
    assert len(fake_provider.requests) == 2

    pytester_env.makeconftest(RECORD_MODULES)
    monkeypatch.setenv("FAKE_URL", closed_port_url())  # replay is complete, or it fails
    args = ["-p", "no:cacheprovider", "-k", selected, "--llmeval-record=none"]
    replayed = pytester_env.runpytest_subprocess(*args)
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["*llm_eval: 2 cases, 2 passed*(2/2 replayed)*"])
    modules = set(json.loads((pytester_env.path / "modules.json").read_text()))
    assert [name for name in USED if name not in modules] == []
    loaded = sorted(m for m in modules if m.startswith(UNUSED_PREFIXES))
    assert loaded == []
