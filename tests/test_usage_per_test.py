"""Each result of the JSON report carries its usage rollup, equal to the sum of its
calls, serially and under xdist; `llmeval show` prints it. Real SDKs against the fake
provider (a loopback host: its known models are priced by model name)."""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

import pytest

from pytest_llmeval.cli import main
from pytest_llmeval.core.money import format_usd
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, closed_port_url

SUITE = """
import os
import openai
import pytest

URL = os.environ["FAKE_URL"]

def client():
    return openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0)

def ask(question, model="gpt-4o-mini"):
    reply = client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}]
    )
    return reply.choices[0].message.content

def stream(question):
    chunks = client().chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": question}], stream=True,
        stream_options={"include_usage": True},
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("case", ["refunds", "shipping", "returns"])
def test_mixed(case, llm_eval):
    answer = ask(f"Tell me about {case}")
    answer += stream(f"And briefly about {case} abroad")
    verdict = llm_eval.judge(answer, "Answers the question")
    assert verdict.passed

@pytest.mark.llm_eval(threshold=0.5)
def test_unpriced(llm_eval):
    llm_eval.score("answered", bool(ask("Who are you", model="mystery-model")))

@pytest.mark.llm_eval(threshold=0.5)
def test_no_calls(llm_eval):
    llm_eval.score("constant", 1.0)
"""


def judge_or_default(request: RecordedRequest) -> ReplySpec | None:
    if isinstance(request.body, dict) and "response_format" in request.body:
        return ReplySpec(json={"reasoning": "scripted", "score": 1})
    return None


def expected_usage(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The usage of a test's calls, added up here by hand."""
    if not calls:
        return {"calls": 0, "cost_usd": 0.0, "latency_max_s": None, "ttft_p50_s": None}
    latencies = [c["latency_s"] for c in calls if c["latency_s"] is not None]
    ttfts = [c["ttft_s"] for c in calls if c["ttft_s"] is not None]

    def cost(role: str | None) -> float:
        return math.fsum(
            c["cost_usd"] for c in calls if c["cost_usd"] is not None and role in (None, c["role"])
        )

    return {
        "calls": len(calls),
        "app_calls": sum(c["role"] == "app" for c in calls),
        "judge_calls": sum(c["role"] == "judge" for c in calls),
        "input_tokens": sum(c["input_tokens"] or 0 for c in calls),
        "output_tokens": sum(c["output_tokens"] or 0 for c in calls),
        "cache_read_tokens": sum(c["cache_read_tokens"] or 0 for c in calls),
        "priced": sum(c["priced"] for c in calls),
        "unpriced": sum(not c["priced"] for c in calls),
        "priced_by_model_name": sum(
            (c["price_source"] or "").startswith("by model name") for c in calls
        ),
        "cost_usd": cost(None),
        "app_cost_usd": cost("app"),
        "judge_cost_usd": cost("judge"),
        "latency_max_s": max(latencies),
        "latency_p50_s": statistics.median(latencies),
        "ttft_p50_s": statistics.median(ttfts) if ttfts else None,
    }


def check_usage(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Assert every result's usage is the sum of its calls; return the usages by node id."""
    usages = {}
    for result in report["results"]:
        usage = result["usage"]
        for field, value in expected_usage(result["inferences"]).items():
            wanted = value if value is None else pytest.approx(value, rel=1e-12)
            assert usage[field] == wanted, (result["nodeid"], field)
        usages[result["nodeid"]] = usage
    session = report["aggregate"]["usage"]
    for field in ("calls", "input_tokens", "output_tokens", "unpriced", "priced"):
        assert session[field] == sum(u[field] for u in usages.values()), field
    assert session["cost_usd"] == pytest.approx(math.fsum(u["cost_usd"] for u in usages.values()))
    return usages


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    fake_provider.set_handler(judge_or_default)
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge")
    pytester_env.makepyfile(test_bot=SUITE)
    return pytester_env


def test_per_test_usage_is_the_sum_of_its_calls_serial_and_under_xdist(
    suite: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    judge = f"--llmeval-judge-base-url={fake_provider.openai_base_url}"
    live = suite.runpytest_subprocess(judge, "--llmeval-report=serial.json", "--junitxml=j.xml")
    live.assert_outcomes(passed=5)
    serial = json.loads((suite.path / "serial.json").read_text())
    usages = check_usage(serial)
    mixed = usages["test_bot.py::test_mixed[refunds]"]
    assert (mixed["calls"], mixed["app_calls"], mixed["judge_calls"]) == (3, 2, 1)
    assert mixed["ttft_p50_s"] is not None and mixed["priced_by_model_name"] == 3
    assert (
        usages["test_bot.py::test_unpriced"]["unpriced"],
        usages["test_bot.py::test_no_calls"]["calls"],
    ) == (1, 0)
    assert "llm_eval.cost_usd" in (suite.path / "j.xml").read_text()

    # replayed under xdist with the provider gone: the same usage per test
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    offline = f"--llmeval-judge-base-url={closed_port_url()}/v1"
    replay = suite.runpytest_subprocess(
        offline, "-n", "2", "--llmeval-record=none", "--llmeval-report=xdist.json"
    )
    replay.assert_outcomes(passed=5)
    replayed = check_usage(json.loads((suite.path / "xdist.json").read_text()))
    assert replayed.keys() == usages.keys()
    for nodeid, usage in usages.items():
        again = replayed[nodeid]
        assert again["replayed"] == again["calls"] and again["spent_usd"] == 0.0
        differs = {"replayed", "spent_usd"}
        assert {k: v for k, v in again.items() if k not in differs} == {
            k: v for k, v in usage.items() if k not in differs
        }, nodeid

    # llmeval show prints each test's usage
    capsys.readouterr()
    assert main(["show", str(suite.path / "serial.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    start = out.index("per test:")
    header, *rows = out[start + 1 : start + 6]
    assert header.split() == [
        "test",
        "calls",
        "app/judge",
        "tokens",
        "in/out",
        "cost",
        "$",
        "max/p50",
        "s",
        "TTFT",
        "s",
    ]
    by_test = {row.split()[0]: row.split() for row in rows}
    assert set(by_test) == {n for n, u in usages.items() if u["calls"]}
    cells = by_test["test_bot.py::test_mixed[refunds]"]
    assert cells[1:3] == ["3", "(2/1)"]
    assert cells[3] == f"{mixed['input_tokens']:,}/{mixed['output_tokens']:,}"
    assert cells[4] == f"{format_usd(mixed['cost_usd'])}~"
    assert cells[5] == f"{mixed['latency_max_s']:.2f}/{mixed['latency_p50_s']:.2f}"
    assert by_test["test_bot.py::test_unpriced"][4] == "?*"


def test_a_report_written_before_results_carried_usage_still_loads(tmp_path: Any) -> None:
    from pytest_llmeval.core.files import dump_model
    from pytest_llmeval.records.models import EvalResult, Inference
    from pytest_llmeval.reporting.json import build_report, load_report

    call = Inference(
        nodeid="t::a",
        role="app",
        provider="openai",
        model="m",
        input_tokens=3,
        output_tokens=4,
        cost_usd=0.5,
        priced=True,
        latency_s=0.2,
    )
    result = EvalResult(
        nodeid="t::a",
        case_id="t::a",
        group="t",
        threshold=0.5,
        aggregate="mean",
        score=1.0,
        status="passed",
        inferences=[call, call],
    )
    data = json.loads(dump_model(build_report([result])))
    assert data["results"][0]["usage"]["cost_usd"] == 1.0
    del data["results"][0]["usage"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    [loaded] = load_report(path).results
    assert (loaded.usage.calls, loaded.usage.cost_usd, loaded.usage.input_tokens) == (2, 1.0, 6)
