"""Records built without validation equal validated ones, in every dump.

A replayed call's Inference and every test's EvalResult are built from values that
already have their fields' types (`records.models.trusted`), not validated again. Replayed
through the real SDKs (chat, a streamed chat, a chat with tool calls, Anthropic messages,
a scored and a failing test), every such record must dump exactly as the same values
validated would: the same JSON text (so the field order too), the same telemetry fields,
and a fields_set no larger than validation keeps.
"""

from __future__ import annotations

import json

import pytest

from tests.fakeprovider import FakeProviderServer, ToolCall, closed_port_url

SUITE = """
import os

import anthropic
import openai
import pytest

URL = os.environ["FAKE_URL"]
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]


def chat(**options):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0)
    messages = [{"role": "user", "content": options.pop("prompt")}]
    return client.chat.completions.create(model="gpt-4o-mini", messages=messages, **options)


@pytest.mark.llm_eval
def test_plain():
    assert "Fake reply" in chat(prompt="plain", temperature=0.2).choices[0].message.content


@pytest.mark.llm_eval
def test_stream():
    chunks = chat(prompt="stream", stream=True, stream_options={"include_usage": True})
    assert list(chunks)


@pytest.mark.llm_eval
def test_tools():
    reply = chat(prompt="weather in Paris?", tools=TOOLS)
    assert reply.choices[0].message.tool_calls


@pytest.mark.llm_eval(threshold=0.5)
def test_messages_scored(llm_eval):
    client = anthropic.Anthropic(base_url=URL, api_key="sk-ant-test", max_retries=0)
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    llm_eval.score("answered", 0.75 if reply.content else 0.0, reason="it answered")
    llm_eval.log(answer=reply.content[0].text, pair=("a", 1))


@pytest.mark.llm_eval(max_latency_s=60)
def test_failing():
    chat(prompt="then fails")
    assert False, "the body fails"
"""

# Beside the suite: check each in-process result (and its inferences) against the same
# values validated, and write what differs; the test reads the file.
CHECKER = """
import json

import pytest

from pytest_llmeval.records.models import EvalResult, Inference

CHECKED = []


def _validated_inference(record):
    return Inference(**{name: getattr(record, name) for name in Inference.model_fields})


def _validated_result(record):
    values = {name: getattr(record, name) for name in EvalResult.model_fields}
    values["inferences"] = [_validated_inference(i) for i in record.inferences]
    return EvalResult(**{n: v for n, v in values.items() if v is not None or n == "score"})


def _differences(record, validated):
    found = []
    if record.model_dump_json() != validated.model_dump_json():
        found.append(("json", record.model_dump_json(), validated.model_dump_json()))
    mine, theirs = record.model_dump(mode="json"), validated.model_dump(mode="json")
    if json.dumps(mine) != json.dumps(theirs):
        found.append(("dump", mine, theirs))
    if record != validated:
        found.append(("equal", repr(record), repr(validated)))
    if not record.model_fields_set <= validated.model_fields_set:
        found.append(("fields_set", sorted(record.model_fields_set), []))
    return found


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    for result in getattr(report, "_llm_eval_results", None) or ():
        found = _differences(result, _validated_result(result))
        for record in result.inferences:
            validated = _validated_inference(record)
            found += _differences(record, validated)
            if record.telemetry() != validated.telemetry():
                found.append(("telemetry", record.telemetry(), validated.telemetry()))
        CHECKED.append({"nodeid": result.nodeid, "when": report.when,
                        "inferences": len(result.inferences), "differences": found})
    return report


def pytest_sessionfinish(session):
    with open("checked.json", "w", encoding="utf-8") as out:
        json.dump(CHECKED, out, default=str)
"""


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    fake_provider.reply_with(
        tool_calls=[ToolCall("get_weather", {"city": "Paris"})],
        match=lambda r: "Paris" in r.last_user_text,
    )
    pytester_env.makeini(
        "[pytest]\nllmeval_prices =\n    openai-compatible:gpt-4o-mini = 0.15 / 0.60\n"
    )
    pytester_env.makepyfile(test_suite=SUITE)
    pytester_env.makeconftest(CHECKER)
    return pytester_env


def test_replayed_records_dump_as_validated_ones(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.runpytest_subprocess("--llmeval-record=once").assert_outcomes(passed=4, failed=1)
    monkeypatch.setenv("FAKE_URL", closed_port_url())  # the provider is gone: replay only
    replay = suite.runpytest_subprocess(
        "--llmeval-record=none", "--llmeval-report=report.json", "--llmeval-trace=trace.jsonl"
    )
    replay.assert_outcomes(passed=4, failed=1)
    checked = json.loads((suite.path / "checked.json").read_text(encoding="utf-8"))
    by_test = {entry["nodeid"].split("::")[1]: entry for entry in checked}
    assert sorted(by_test) == [
        "test_failing",
        "test_messages_scored",
        "test_plain",
        "test_stream",
        "test_tools",
    ]
    assert all(entry["inferences"] == 1 for entry in checked)
    assert [entry["differences"] for entry in checked] == [[]] * len(checked)
    report = json.loads((suite.path / "report.json").read_text(encoding="utf-8"))
    inferences = [i for result in report["results"] for i in result["inferences"]]
    assert len(inferences) == 5 and all(i["replayed"] for i in inferences)
    scored = next(r for r in report["results"] if r["nodeid"].endswith("test_messages_scored"))
    assert scored["scores"][0]["reason"] == "it answered"
    assert scored["metadata"]["pair"] == ["a", 1]  # as it travels through JSON


def test_records_of_one_shape_share_a_fields_set_that_a_copy_never_changes() -> None:
    from pytest_llmeval.records.models import Score, trusted

    def score(name: str, reason: str | None) -> Score:
        values = {"name": name, "value": 0.5, "weight": 1.0, "threshold": None}
        values |= {"reason": reason, "check": False}
        return trusted(Score, values, {k for k, v in values.items() if v is not None})

    first, second, other = score("a", "why"), score("b", "because"), score("c", None)
    assert first.model_fields_set is second.model_fields_set  # one set, not one each
    assert other.model_fields_set == {"name", "value", "weight", "check"}
    copied = other.model_copy(update={"threshold": 0.5})
    assert copied.model_fields_set == {"name", "value", "weight", "check", "threshold"}
    assert other.model_fields_set == {"name", "value", "weight", "check"}
    assert score("d", None).model_fields_set == {"name", "value", "weight", "check"}
    assert first == Score(name="a", value=0.5, reason="why")
