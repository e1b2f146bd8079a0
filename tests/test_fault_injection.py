"""Injected provider faults: the marker's `faults=[...]` and the `llm_faults` fixture.

One inner suite makes calls with the real openai and anthropic SDKs (sync, async,
streamed) against the loopback fake provider, each test with faults injected, and
asserts what the app saw: the SDK's retries (as many attempts as the SDK's policy
makes, each one in the trace), the error the SDK raised (by status code, error body
and the calls in the trace, not by an exception class name that varies across SDK
versions), the partial stream. It runs recording, then replaying with the provider
unreachable: the outcomes and the calls in the trace are the same, injected faults
spend no request at the provider and never reach the cassette.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.records.attempts import logical_calls
from pytest_llmeval.records.injection import FaultPlan, FaultRuleError, fault
from pytest_llmeval.records.models import Inference
from tests.fakeprovider import FakeProviderServer, closed_port_url

SUITE = r"""
import os

import anthropic
import openai
import pytest

from pytest_llmeval import fault

URL = os.environ["FAKE_URL"]
ASK = [{"role": "user", "content": "What is the refund window?"}]


def oa(retries=0, **options):
    return openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=retries, **options)


def an(retries=0, **options):
    return anthropic.Anthropic(base_url=URL, api_key="sk-test", max_retries=retries, **options)


def chat(client, model="gpt-4o-mini", **extra):
    return client.chat.completions.create(model=model, messages=ASK, **extra)


def message(client, **extra):
    return client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ASK, **extra)


@pytest.mark.llm_eval(faults=[fault("429", times=2, retry_after=0.01)])
def test_openai_retries_429_with_retry_after(llm_eval, llm_faults):
    reply = chat(oa(retries=2))
    assert "Fake reply" in reply.choices[0].message.content
    [call] = llm_faults.calls()
    assert call.retries == 2 and call.answered, call.describe()
    assert call.faults == ("429 (retry-after 0.01s)",) * 2
    assert all(delay is not None and delay < 0.5 for delay in call.delays_s), call.delays_s
    llm_eval.score("recovered", 1)


@pytest.mark.llm_eval(faults=["429"])
def test_openai_429_without_retry_after_reaches_the_app(llm_eval, llm_faults):
    with pytest.raises(openai.APIStatusError) as raised:
        chat(oa())
    assert raised.value.status_code == 429
    assert raised.value.body["code"] == "rate_limit_exceeded"
    assert "retry-after" not in raised.value.response.headers
    assert [c.final.status for c in llm_faults.calls()] == [429]
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=[fault("529", retry_after=0.01)])
def test_anthropic_retries_overloaded(llm_eval, llm_faults):
    reply = message(an(retries=1))
    assert reply.content[0].text
    [call] = llm_faults.calls()
    assert call.retries == 1 and call.first.status == 529 and call.final.status == 200
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=["529"])
def test_anthropic_overloaded_error_body(llm_eval):
    with pytest.raises(anthropic.APIStatusError) as raised:
        message(an())
    assert raised.value.status_code == 529
    assert raised.value.body["error"]["type"] == "overloaded_error"
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval
@pytest.mark.parametrize("status", ["500", "502", "503"])
def test_server_errors(status, llm_eval, llm_faults):
    llm_faults.inject(status)
    with pytest.raises(openai.APIStatusError) as raised:
        chat(oa())
    assert raised.value.status_code == int(status)
    assert raised.value.body["type"] == "server_error"
    with pytest.raises(anthropic.APIStatusError) as raised_anthropic:
        llm_faults.inject(status)
        message(an())
    assert raised_anthropic.value.body["error"]["type"] == "api_error"
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=[fault("connection_reset", times=3)])
def test_connection_reset_is_retried_then_raised(llm_eval, llm_faults):
    with pytest.raises(openai.APIConnectionError):
        chat(oa(retries=2, timeout=5))
    [call] = llm_faults.calls()
    assert call.retries == 2 and not call.answered
    assert "ReadError" in call.final.error
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=["read_timeout"])
def test_read_timeout(llm_eval, llm_faults):
    with pytest.raises(anthropic.APIConnectionError):
        message(an())
    assert "ReadTimeout" in llm_faults.calls()[0].final.error
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=[fault("slow_first_token", delay_s=5)])
def test_slow_first_token_times_out_and_the_app_falls_back(llm_eval, llm_faults):
    try:
        reply = chat(oa(timeout=0.2))
    except openai.APITimeoutError:
        reply = chat(oa(), model="gpt-4o")
    assert reply.model == "gpt-4o"
    [call] = llm_faults.calls()  # the fallback is one more attempt of the same logical call
    assert "ReadTimeout" in call.first.error and call.first.latency_s >= 0.2
    assert call.first.model == "gpt-4o-mini" and call.final.model == "gpt-4o"
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=[fault("slow_first_token", delay_s=0.3)])
def test_slow_first_token_within_the_timeout_answers_late(llm_eval, llm_faults):
    stream = chat(oa(), stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    [call] = llm_faults.calls()
    assert call.retries == 0 and call.final.latency_s >= 0.3
    assert call.final.injected_fault == "slow_first_token (+0.3s)"
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=["stream_cut"])
def test_openai_stream_cut(llm_eval, llm_faults):
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in chat(oa(), stream=True):
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Partial answer"
    assert "peer closed connection" in llm_faults.calls()[0].final.error
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=["stream_cut"])
def test_anthropic_stream_cut_async(llm_eval):
    import asyncio

    async def run():
        client = anthropic.AsyncAnthropic(base_url=URL, api_key="sk-test", max_retries=0)
        text = []
        try:
            async with client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=ASK) as stream:
                async for piece in stream.text_stream:
                    text.append(piece)
        except Exception as error:
            return "".join(text), error
        return "".join(text), None

    text, error = asyncio.run(run())
    assert text == "Partial answer" and error is not None
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=[fault("503", retry_after=0.01)])
def test_async_openai_retries_503(llm_eval, llm_faults):
    import asyncio

    async def run():
        client = openai.AsyncOpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=1)
        return await client.chat.completions.create(model="gpt-4o-mini", messages=ASK)

    assert asyncio.run(run()).choices[0].message.content
    assert llm_faults.calls()[0].retries == 1
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=["malformed_json"])
def test_malformed_json(llm_eval, llm_faults):
    with pytest.raises(Exception):
        chat(oa())
    assert "not JSON" in llm_faults.calls()[0].final.error
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=["refusal", "content_filter", "refusal"])
def test_refusals(llm_eval):
    refused = chat(oa()).choices[0].message
    assert refused.refusal and not refused.content
    assert chat(oa()).choices[0].finish_reason == "content_filter"
    assert message(an()).stop_reason == "refusal"
    llm_eval.score("ok", 1)


@pytest.mark.llm_eval(faults=[fault("503", at=1)])
def test_fault_by_call_index(llm_eval, llm_faults):
    assert chat(oa()).choices[0].message.content
    with pytest.raises(openai.APIStatusError):
        chat(oa())
    assert [c.final.status for c in llm_faults.calls()] == [200, 503]
    llm_eval.score("ok", 1)
"""


def trace(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def calls_of(lines: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What must be the same in a recording and its replay (not latencies)."""
    return [
        (line["nodeid"], line["model"], line["status"], line["injected_fault"], bool(line["error"]))
        for line in lines
    ]


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_app=SUITE)
    return pytester_env


def test_faults_reach_the_app_as_the_provider_sends_them_and_replay_identically(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = suite.runpytest_subprocess(
        "--llmeval-record=all", "--llmeval-trace=rec.jsonl", "--llmeval-report=rec.json"
    )
    recorded.assert_outcomes(passed=17)
    lines = trace(suite.path / "rec.jsonl")
    injected = [line for line in lines if line["injected_fault"]]
    sent = [line for line in lines if not line["replayed"]]
    # a faulted attempt never reaches the provider: only the answered ones were sent (a
    # slow first token delays a call that is sent)
    assert len(fake_provider.requests) == len(sent) == 6
    assert len(injected) == 25
    assert [line["injected_fault"] for line in injected if not line["replayed"]] == [
        "slow_first_token (+0.3s)"
    ]
    assert all(line["spent_usd"] == 0 for line in injected)
    # the SDK's retries are each an attempt in the trace (max_retries=2: 3 attempts)
    retried = [c for c in calls_of(lines) if "test_connection_reset" in c[0]]
    assert retried == [(retried[0][0], "gpt-4o-mini", None, "connection_reset", True)] * 3
    # the injected faults are in the JSON report too, and never in a cassette
    report = json.loads((suite.path / "rec.json").read_text())
    assert "429 (retry-after 0.01s)" in json.dumps(report)
    cassettes = sorted((suite.path / "cassettes").rglob("*.json"))
    assert cassettes
    for path in cassettes:
        text = path.read_text()
        assert "injected" not in text and "overloaded_error" not in text, path
    # only tests with an answered call wrote a cassette
    assert not (
        suite.path / "cassettes/test_app/test_anthropic_overloaded_error_body.json"
    ).exists()

    monkeypatch.setenv("FAKE_URL", closed_port_url())
    # replayed on two xdist workers: the marks travel with the results
    replayed = suite.runpytest_subprocess(
        "--llmeval-record=none", "--llmeval-trace=rep.jsonl", "-n", "2"
    )
    replayed.assert_outcomes(passed=17)
    assert calls_of(trace(suite.path / "rep.jsonl")) == calls_of(lines)
    assert len(fake_provider.requests) == 6


def test_the_html_report_marks_injected_calls(suite: pytest.Pytester) -> None:
    suite.runpytest_subprocess(
        "-k", "overloaded_error_body", "--llmeval-html=report.html"
    ).assert_outcomes(passed=1)
    html = (suite.path / "report.html").read_text()
    assert '"injected_fault": "529"' in html or '"injected_fault":"529"' in html
    assert '"injected " + i.injected_fault' in html


BAD_MARKER = """
import pytest

@pytest.mark.llm_eval(faults=["418"])
def test_teapot(llm_eval):
    llm_eval.score("ok", 1)

@pytest.mark.llm_eval(faults="429")
def test_not_a_list(llm_eval):
    llm_eval.score("ok", 1)
"""


def test_a_bad_fault_names_the_test_and_the_allowed_kinds(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_bad=BAD_MARKER)
    result = pytester_env.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_bad.py::test_teapot: @pytest.mark.llm_eval(faults=?'418'?) is invalid "
            "(kind '418' is not one of 429, 500, *",
            "*test_bad.py::test_not_a_list: @pytest.mark.llm_eval(faults='429') is invalid; "
            "allowed: a list of fault kinds*",  # fnmatch: ? stands for [ and ] above
        ]
    )


FIXTURE_WITHOUT_MARKER = """
def test_plain(llm_faults):
    pass
"""


def test_llm_faults_without_the_marker_says_what_to_add(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(test_plain=FIXTURE_WITHOUT_MARKER)
    result = pytester_env.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*uses the llm_faults fixture but has no llm_eval marker*"])


FAULT_ON_EMBEDDINGS = """
import os
import openai
import pytest

@pytest.mark.llm_eval(faults=["refusal"])
def test_embed(llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="sk-test", max_retries=0)
    try:
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    except Exception:
        pass
    llm_eval.score("ok", 1)
"""


def test_a_fault_the_api_cannot_carry_fails_the_test_by_name(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_embed=FAULT_ON_EMBEDDINGS)
    result = pytester_env.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*the injected fault 'refusal' needs a Chat Completions or Messages call*/v1/embeddings*"]
    )
    assert fake_provider.requests == []


# -- the plan and the attempts, directly ---------------------------------------------


def test_rules_pick_by_role_index_and_times() -> None:
    plan = FaultPlan([fault("429", times=2), fault("503", role="judge", at=1)])
    picks = [(role, plan.pick(role)) for role in ("app", "judge", "app", "judge", "app", "judge")]
    assert [(role, rule.kind if rule else None) for role, rule in picks] == [
        ("app", "429"),
        ("judge", None),
        ("app", "429"),
        ("judge", "503"),
        ("app", None),
        ("judge", None),
    ]
    assert plan.injected() == 3


def test_probability_is_the_same_on_every_run_and_near_its_rate() -> None:
    def run() -> list[bool]:
        plan = FaultPlan([fault("connection_reset", probability=0.3, seed=7, times=None)])
        return [plan.pick("app") is not None for _ in range(1000)]

    first = run()
    assert first == run()
    assert 250 < sum(first) < 350


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "418"}, "kind '418' is not one of"),
        ({"kind": "429", "role": "user"}, "role 'user' is not one of"),
        ({"kind": "429", "times": 0}, "times=0 must be None"),
        ({"kind": "429", "probability": 1.5}, "probability=1.5 must be None or in (0, 1]"),
        ({"kind": "429", "retry_after": 0}, "retry_after=0 must be None or seconds in (0, 60]"),
        ({"kind": "429", "at": -1}, "at=-1 must be None or a request index >= 0"),
    ],
)
def test_a_bad_rule_says_what_is_wrong(options: dict[str, Any], message: str) -> None:
    kind = options.pop("kind")
    with pytest.raises(FaultRuleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fault(kind, **options)


def _inference(**fields: Any) -> Inference:
    return Inference(nodeid="t", role=fields.pop("role", "app"), provider="openai", **fields)


def test_logical_calls_group_attempts_until_an_answer() -> None:
    inferences = [
        _inference(model="gpt-4o", status=429, error="HTTP 429", injected_fault="429"),
        _inference(model="gpt-4o", status=None, error="ReadTimeout", injected_fault="read_timeout"),
        _inference(model="gpt-4o-mini", status=200),
        _inference(role="judge", model="judge", status=200),
        _inference(model="gpt-4o", status=200),
        _inference(model="gpt-4o", status=500, error="HTTP 500"),
    ]
    first, second, third = logical_calls(inferences)
    assert first.retries == 2 and first.answered and first.final.model == "gpt-4o-mini"
    assert first.faults == ("429", "read_timeout")
    assert first.describe() == (
        "attempt 1 (injected 429), attempt 2 (injected read_timeout), "
        "attempt 3 (answered by openai:gpt-4o-mini)"
    )
    assert second.retries == 0 and second.answered
    assert not third.answered and third.final.status == 500
    assert first.delays_s == (None, None)  # no plan timings given
    assert [c.final.model for c in logical_calls(inferences, role="judge")] == ["judge"]


JUDGED = """
import pytest
from pytest_llmeval import fault

@pytest.mark.llm_eval(threshold=0.5, faults=[fault("429", role="judge", retry_after=0.01)])
def test_judge_survives_a_429(llm_eval, llm_faults):
    verdict = llm_eval.judge("Refunds take 30 days.", "States a refund window")
    assert verdict.passed
    [call] = llm_faults.calls(role="judge")
    assert call.retries == 1 and call.faults == ("429 (retry-after 0.01s)",)
    assert llm_faults.calls() == []  # the app made no call: its index is untouched
"""


def test_a_fault_for_the_judge_role_reaches_only_the_judge(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.fakeprovider import ReplySpec

    fake_provider.set_handler(lambda request: ReplySpec(json={"reasoning": "ok", "score": 1}))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    pytester_env.makepyfile(test_judged=JUDGED)
    result = pytester_env.runpytest(
        f"--llmeval-judge-base-url={fake_provider.openai_base_url}",
        "--llmeval-judge-retries=1",
        "--llmeval-trace=trace.jsonl",
    )
    result.assert_outcomes(passed=1)
    lines = trace(pytester_env.path / "trace.jsonl")
    assert [(line["role"], line["status"], line["injected_fault"]) for line in lines] == [
        ("judge", 429, "429 (retry-after 0.01s)"),
        ("judge", 200, None),
    ]
    assert len(fake_provider.requests) == 1
