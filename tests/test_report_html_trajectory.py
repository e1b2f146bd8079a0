"""The HTML report's trajectory timeline: the data html.py embeds for a case whose app
called tools, and the timeline headless Chromium draws from it (model call, tool calls
with their arguments, tool results, final answer), with hostile tool output inert."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_llmeval.records.models import EvalResult
from pytest_llmeval.reporting.html import render_html, write_html
from pytest_llmeval.reporting.json import build_report
from tests.test_report_html_browser import CHROMIUM, DevTools, devtools, load  # noqa: F401
from tests.test_trajectory import call, good_episode, inference, result

INJECTION = "</script><script>alert(1)</script><!--"
TRAJECTORIES = re.compile(
    r'<script type="application/json" id="llmeval-trajectories">(?P<blob>.*?)</script>',
    re.DOTALL,
)


def agent_result(nodeid: str, episode: list) -> EvalResult:  # type: ignore[type-arg]
    return EvalResult(
        nodeid=nodeid,
        case_id=nodeid,
        group="tests/test_agent.py::test_refund",
        threshold=0.5,
        aggregate="mean",
        score=1.0,
        status="passed",
        inferences=[item.model_copy(update={"nodeid": nodeid}) for item in episode],
    )


def hostile_episode() -> list:  # type: ignore[type-arg]
    """A lookup whose result carries markup, then an error, then no final answer."""
    first = inference("", [call("h1", "lookup_order", order_id=INJECTION)])
    second = inference(
        "",
        [call("h2", "refund", order_id="A1", amount=1)],
        [result("h1", "lookup_order", f"<b>{INJECTION}</b>")],
    )
    third = inference("", [call("h3", "refund", order_id="A1", amount=1)], second.tool_results)
    broken = third.model_copy(
        update={
            "tool_results": [
                *second.tool_results,
                result("h2", "refund", "payment service down", is_error=True),
            ]
        }
    )
    return [first, second, broken]


def report_with_agents():  # type: ignore[no-untyped-def]
    plain = agent_result("tests/test_agent.py::test_plain", [inference("Hello.")])
    good = agent_result("tests/test_agent.py::test_refund[good]", good_episode())
    hostile = agent_result("tests/test_agent.py::test_refund[hostile]", hostile_episode())
    return build_report([good, hostile, plain])


def embedded(html: str) -> dict:  # type: ignore[type-arg]
    match = TRAJECTORIES.search(html)
    assert match is not None
    return json.loads(match.group("blob"))  # type: ignore[no-any-return]


def test_a_case_that_called_tools_gets_its_timeline_from_its_own_inferences() -> None:
    html = render_html(report_with_agents())
    views = embedded(html)
    assert sorted(views) == [
        "tests/test_agent.py::test_refund[good]",
        "tests/test_agent.py::test_refund[hostile]",
    ]  # a case without tool calls has none
    good = views["tests/test_agent.py::test_refund[good]"]
    assert good["summary"] == "3 steps, 3 tool calls, 0 tool errors, 360 tokens, $0.003000, 1.50 s"
    assert good["final_answer"] == "Your order A1 is refunded: 30 EUR."
    assert [(s["number"], s["final"], len(s["tools"])) for s in good["steps"]] == [
        (1, False, 2),
        (2, False, 1),
        (3, True, 0),
    ]
    refund = good["steps"][1]["tools"][0]
    assert refund == {
        "call": "refund(amount=30.0, order_id='A1')",
        "name": "refund",
        "id": "c3",
        "arguments": {"order_id": "A1", "amount": 30.0},
        "arguments_raw": '{"order_id": "A1", "amount": 30.0}',
        "arguments_valid": True,
        "result": '{"status": "refunded"}',
        "is_error": False,
    }
    hostile = views["tests/test_agent.py::test_refund[hostile]"]
    assert hostile["steps"][0]["tools"][0]["result"] == f"<b>{INJECTION}</b>"
    assert hostile["steps"][1]["tools"][0]["is_error"] is True
    assert hostile["steps"][2]["tools"][0]["result"] is None
    assert hostile["final_answer"] is None


def test_hostile_tool_output_cannot_end_the_trajectories_element() -> None:
    html = render_html(report_with_agents())
    blob = TRAJECTORIES.search(html).group("blob")  # type: ignore[union-attr]
    assert INJECTION not in html
    assert "</" not in blob and "<!--" not in blob


def test_the_template_must_hold_the_trajectories_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_llmeval.core.errors import LLMEvalError
    from pytest_llmeval.reporting import html

    damaged = html._template().replace("__LLMEVAL_TRAJECTORIES__", "")
    monkeypatch.setattr(html, "_template", lambda: damaged)
    with pytest.raises(LLMEvalError, match="__LLMEVAL_TRAJECTORIES__ slots"):
        render_html(build_report([]))


TIMELINE = """
(function () {
  function open(nodeSuffix) {
    var item = Array.prototype.find.call(document.querySelectorAll("#cases > li"),
      function (li) { return li.dataset.case.endsWith(nodeSuffix); });
    var details = item.querySelector("details");
    details.open = true;
    details.dispatchEvent(new Event("toggle"));
    return item;
  }
  function rows(item) {
    return Array.prototype.map.call(item.querySelectorAll(".timeline > li"), function (li) {
      return [li.className, li.textContent.replace(/\\s+/g, " ").trim()];
    });
  }
  var good = open("[good]"), hostile = open("[hostile]"), plain = open("test_plain");
  return {
    state: document.documentElement.dataset.state,
    error: document.getElementById("error").textContent,
    good: rows(good),
    goodTitle: good.querySelector(".trajectory").previousSibling.textContent,
    hostile: rows(hostile),
    plain: plain.querySelectorAll(".timeline").length,
    bold: document.querySelectorAll("b").length,
    scripts: document.scripts.length
  };
})()
"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="headless Chromium not installed")
def test_chromium_draws_the_timeline(devtools: DevTools, tmp_path: Path) -> None:  # noqa: F811
    page = tmp_path / "agents.html"
    write_html(page, report_with_agents())
    load(devtools, page.as_uri())
    seen = devtools.evaluate(TIMELINE)
    assert seen["state"] == "ready" and seen["error"] == ""
    assert seen["goodTitle"] == "Trajectory (3 steps)"
    classes = [row[0] for row in seen["good"]]
    assert classes == [
        "tl-model", "tl-call", "tl-result", "tl-call", "tl-result",
        "tl-model", "tl-said", "tl-call", "tl-result",
        "tl-model", "tl-answer",
    ]  # fmt: skip
    texts = [row[1] for row in seen["good"]]
    assert texts[0].startswith("step 1 model call openai:gpt-4.1-mini 100 in / 20 out tokens")
    assert texts[1] == 'tool call lookup_order{ "order_id": "A1" }'
    assert texts[2] == 'tool result lookup_order{"order_id": "A1", "total": 30.0}'
    assert texts[6] == "said: Let me refund that."
    assert texts[7] == 'tool call refund{ "amount": 30, "order_id": "A1" }'
    assert texts[10] == "final answerYour order A1 is refunded: 30 EUR."  # a badge, then a block
    hostile = dict(enumerate(seen["hostile"]))
    assert hostile[2] == ["tl-result", f"tool result lookup_order<b>{INJECTION}</b>"]
    assert hostile[5] == ["tl-result tl-error", "tool error refundpayment service down"]
    assert seen["hostile"][-2:] == [
        ["tl-result", "tool result refund (no result recorded)"],
        ["tl-answer tl-error", "ended without a final answer"],
    ]
    assert seen["plain"] == 0
    assert (seen["bold"], seen["scripts"]) == (0, 3)  # the markup is text, never parsed
    assert devtools.tab_events("Runtime.exceptionThrown") == []
