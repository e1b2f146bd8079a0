"""How an item's result reaches the controller: in a run without xdist workers the
EvalResult itself (no JSON round trip), from a worker as JSON-able data; the files
written are the same either way, and other plugins see reports they can serialise."""

from __future__ import annotations

import json
from typing import Any

import pytest

SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0.5, min_pass_rate=0.5)
@pytest.mark.parametrize("case", ["good", "weak"])
def test_scored(case, llm_eval):
    llm_eval.score("quality", 0.75 if case == "good" else 0.25, reason="because")
    llm_eval.log(pair=(1, 2), nested={"k": [True, None, 1.5]})

@pytest.mark.llm_eval
def test_broken(llm_eval):
    llm_eval.score("quality", 1.0)
    raise ValueError("broken on purpose")

@pytest.mark.llm_eval
def test_skipped(llm_eval):
    pytest.skip("not today")
"""

# What pytest-reportlog does in its logreport: serialise the whole report as JSON.
CONFTEST = """
import json

CONFIG = []

def pytest_configure(config):
    CONFIG.append(config)

def pytest_runtest_logreport(report):
    config = CONFIG[0]
    if hasattr(config, "workerinput"):
        return  # the controller's reports are the ones to check
    data = config.hook.pytest_report_to_serializable(config=config, report=report)
    data.pop("node", None)  # xdist's worker, on the controller's copy of a report
    text = json.dumps(data)  # raises if the report holds anything that is not JSON-able
    with open("seen.jsonl", "a") as handle:
        handle.write(json.dumps({"when": report.when, "llm_eval": json.loads(text).get("llm_eval")}))
        handle.write("\\n")
"""


def _results(path: Any) -> list[dict[str, Any]]:
    results = json.loads(path.read_text())["results"]
    for result in results:
        result.pop("duration_s")
    return sorted(results, key=lambda result: result["nodeid"])


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_other_plugins_see_reports_they_can_serialise(
    pytester_env: pytest.Pytester, xdist_args: list[str]
) -> None:
    pytester_env.makepyfile(test_suite=SUITE)
    pytester_env.makeconftest(CONFTEST)
    run = pytester_env.runpytest_subprocess if xdist_args else pytester_env.runpytest
    result = run("--llmeval-report=report.json", *xdist_args)
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    lines = (pytester_env.path / "seen.jsonl").read_text().splitlines()
    seen = [json.loads(line) for line in lines]
    calls = sorted(entry["llm_eval"]["status"] for entry in seen if entry["llm_eval"] is not None)
    assert calls == ["below", "failed", "passed", "skipped"]


def test_a_serial_run_writes_what_an_xdist_run_writes(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_suite=SUITE)
    serial = pytester_env.runpytest_subprocess("--llmeval-report=serial.json")
    serial.assert_outcomes(passed=1, failed=1, skipped=1)
    workers = pytester_env.runpytest_subprocess("--llmeval-report=xdist.json", "-n", "2")
    workers.assert_outcomes(passed=1, failed=1, skipped=1)
    handed = _results(pytester_env.path / "serial.json")
    sent = _results(pytester_env.path / "xdist.json")
    assert handed == sent
    assert [r["status"] for r in handed] == ["failed", "passed", "below", "skipped"]
    # a tuple logged comes out as the list it is in JSON, either way
    assert handed[1]["metadata"] == {"pair": [1, 2], "nested": {"k": [True, None, 1.5]}}
