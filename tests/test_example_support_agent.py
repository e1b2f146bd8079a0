"""The support-agent example replays offline from its committed cassettes, its trajectories
hold what the agent did (three tools, one parallel call, multi-step), and the ticket
answered badly on purpose loses exactly the scores it should, with reasons naming it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "support_agent"


def test_the_support_agent_example_replays_its_trajectories(tmp_path: Path) -> None:
    env = {**os.environ, "CI": "true"}  # replay only: the network is blocked
    env.pop("OPENAI_API_KEY", None)
    env.pop("ANTHROPIC_API_KEY", None)
    report, html = tmp_path / "report.json", tmp_path / "report.html"
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(EXAMPLE), "-p", "no:randomly",
            f"--llmeval-report={report}", f"--llmeval-html={html}",
        ],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "4 cases, 3 passed, 1 below threshold" in result.stdout
    assert "baseline llmeval-baseline.json: no regression" in result.stdout

    results = {r["nodeid"].split("[")[1][:-1]: r for r in json.loads(report.read_text())["results"]}
    assert all(i["replayed"] for r in results.values() for i in r["inferences"])
    damaged = [i for i in results["damaged-refund"]["inferences"] if i["role"] == "app"]
    assert [[call["name"] for call in i["tool_calls"]] for i in damaged] == [
        ["lookup_order", "check_refund_policy"],  # one parallel tool call
        ["issue_refund"],
        [],
    ]
    assert sorted(damaged[0]["tool_schemas"]) == [
        "check_refund_policy",
        "issue_refund",
        "lookup_order",
    ]
    assert [r["call_id"] for r in damaged[1]["tool_results"]] == [
        call["id"] for call in damaged[0]["tool_calls"]
    ]

    scores = {case: {s["name"]: s["value"] for s in r["scores"]} for case, r in results.items()}
    assert scores["damaged-refund"] == dict.fromkeys(
        ["tools_in_order", "refund_correct", "arguments_valid", "within_4_steps", "resolved"],
        1.0,
    )
    hasty = scores["hasty-refund"]
    assert (round(hasty["tools_in_order"], 3), hasty["resolved"]) == (0.333, 0.0)
    assert hasty["refund_correct"] == hasty["arguments_valid"] == hasty["within_4_steps"] == 1.0
    assert results["hasty-refund"]["status"] == "below"
    reasons = {s["name"]: s["reason"] for s in results["hasty-refund"]["scores"]}
    assert reasons["tools_in_order"] == (
        "in order: recall 0.33 (1 of 3 expected calls); called issue_refund; expected call 1 "
        "(lookup_order) was never made; expected call 2 (check_refund_policy) was never made"
    )
    assert "step 1" in reasons["resolved"]

    page = html.read_text()
    blob = re.search(r'id="llmeval-trajectories">(.*?)</script>', page, re.DOTALL)
    assert blob is not None
    timelines = json.loads(blob.group(1))
    assert len(timelines) == 4
    first = timelines[results["damaged-refund"]["nodeid"]]
    assert [tool["call"] for tool in first["steps"][0]["tools"]] == [
        "lookup_order(order_id='A1001')",
        "check_refund_policy(topic='damaged')",
    ]
    assert first["final_answer"].startswith("I'm sorry about the cracked lid!")
