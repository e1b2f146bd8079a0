"""Bias probes: the run's position-swap disagreement rate over its pairwise comparisons.

Through the real openai SDK against the fake provider's scripted judge: a comparison
whose judge always prefers the output shown first disagrees with itself across the
two orders; the terminal reports the rate and names the comparison, and the JSON
result keeps the counts.
"""

from __future__ import annotations

import json

import pytest

from pytest_llmeval.records.calibration import position_swaps
from tests.fakeprovider import FakeProviderServer
from tests.test_judges_sdk import KEYS, SAMPLES, scripted

SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0)
def test_pairs(llm_eval):
    llm_eval.compare("GOOD: 30 days", "weak", "More helpful", name="clear")
    llm_eval.compare("POSITION-BIASED one", "POSITION-BIASED two", "More helpful", name="biased")

@pytest.mark.llm_eval(threshold=0)
def test_one_pair(llm_eval):
    llm_eval.compare("weak", "GOOD", "More helpful", name="clear")

@pytest.mark.llm_eval(threshold=0)
def test_no_pair(llm_eval):
    llm_eval.score("plain", 1.0)
"""


def test_the_position_swap_rate_is_reported_per_run(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    SAMPLES.clear()
    fake_provider.set_handler(scripted)
    pytester_env.makepyfile(test_pairs=SUITE)
    result = pytester_env.runpytest("--llmeval-report=r.json")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "pairwise: 3 comparison(s), position-swap disagreement 33% (1)",
            "  orders disagree: test_pairs.py::test_pairs biased",
        ]
    )
    report = json.loads((pytester_env.path / "r.json").read_text())
    metadata = {r["nodeid"].split("::")[1]: r["metadata"] for r in report["results"]}
    assert metadata["test_pairs"] == {
        "pairwise_comparisons": 2,
        "position_swap_disagreements": ["biased"],
    }
    assert metadata["test_one_pair"] == {"pairwise_comparisons": 1}
    assert metadata["test_no_pair"] == {}
    assert report["judges"]["position_swap"] == {
        "comparisons": 3,
        "rate": 1 / 3,
        "disagreements": [{"case": "test_pairs.py::test_pairs", "name": "biased"}],
    }


def test_no_comparison_no_probe_line() -> None:
    assert position_swaps([("a", 0, [])]) is None
    probe = position_swaps([("a", 3, ["x"]), ("b", 1, [])])
    assert probe is not None and probe.rate == 0.25
