"""Repeats feed the gate (issue 18): each case's own spread across its runs decides
whether a drop is noise. Joins `repeats` (per-case runs and stdev in the aggregate) and
`gate` (the baseline keeps them; the within-case test decides)."""

from __future__ import annotations

import pytest

SUITE = """
import os
import pytest

# per case, the score of each of its 4 runs, for the scenario the environment names
SCENARIOS = {
    # runs that swing between 0 and 1: a 0.1 drop of every case is inside their noise
    "wide-before": [1.0, 0.0, 1.0, 0.4],
    "wide-after": [1.0, 0.0, 0.8, 0.2],
    # runs within 0.02 of their mean: a 0.3 drop is far outside it
    "tight-before": [0.90, 0.92, 0.88, 0.90],
    "tight-after": [0.60, 0.62, 0.58, 0.60],
}

@pytest.mark.llm_eval(threshold=0.5, repeat=4, min_pass_rate=0)
@pytest.mark.parametrize("case", ["c1", "c2", "c3", "c4"])
def test_answers(case, llm_eval, _llmeval_repeat):
    llm_eval.score("s", SCENARIOS[os.environ["SCENARIO"]][_llmeval_repeat - 1])
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, scenario: str, *args: str
) -> pytest.RunResult:
    monkeypatch.setenv("SCENARIO", scenario)
    return pytester.runpytest(*args)


@pytest.mark.parametrize("spread", ["wide", "tight"])
def test_repeats_spread_decides_whether_a_drop_is_noise(
    pytester_env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, spread: str
) -> None:
    pytester_env.makepyfile(test_bot=SUITE)
    _run(pytester_env, monkeypatch, f"{spread}-before", "--llmeval-update-baseline")
    baseline = (pytester_env.path / "llmeval-baseline.json").read_text()
    assert '"runs": 4' in baseline and '"stdev":' in baseline  # each case's spread kept
    result = _run(pytester_env, monkeypatch, f"{spread}-after")
    out = result.stdout.str()
    if spread == "wide":
        # drop 0.1 (> tolerance 0.02), only 4 cases, but inside the runs' own noise
        assert result.ret == pytest.ExitCode.OK, out
        assert "REGRESSION" not in out
    else:
        # drop 0.3 with 4 cases (sign-flip p >= 1/16 could never flag it): far outside
        # the runs' own noise, so the within-case test does
        assert result.ret == pytest.ExitCode.TESTS_FAILED, out
        result.stdout.fnmatch_lines(["*REGRESSION*test_answers*"])
    assert "decided by the within-case rule" in out, out
