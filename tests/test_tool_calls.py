"""Structured tool calls in every record: agents over the real SDKs, through the plugin.

An agent loop (the model asks for two tools at once, the app runs them and sends the
results back, the model answers) runs on Chat Completions, the Responses API and
Anthropic Messages, sync, async, streamed and streamed async, against the fake
provider. The JSON report and the trace must hold each call's tool calls (id, name, arguments parsed and
raw) and the next call's tool results (matched by id, named, is_error on Anthropic),
identically when the session is replayed with the provider gone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakeprovider import FakeProviderServer, ToolCall, closed_port_url

AGENTS = '''
import asyncio
import json
import os

import anthropic
import openai

URL = os.environ["FAKE_URL"]
QUESTION = "What is the weather and the time in Paris?"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TIME = {
    "type": "object",
    "properties": {"zone": {"type": "string"}, "format": {"type": "string"}},
}
CHAT_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "parameters": TIME}},
]
RESPONSES_TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": WEATHER, "strict": False},
    {"type": "function", "name": "get_time", "parameters": TIME, "strict": False},
]
MESSAGES_TOOLS = [
    {"name": "get_weather", "input_schema": WEATHER},
    {"name": "get_time", "input_schema": TIME},
]


def run_tool(name, arguments):
    """(result text, is_error): the time tool fails, to show is_error where the API has it."""
    if name == "get_weather":
        return f"Sunny in {arguments['city']}", False
    return f"unknown zone {arguments['zone']}", True


def openai_client():
    return openai.OpenAI(base_url=URL + "/v1", api_key="sk-test-key", max_retries=0)


def async_openai_client():
    return openai.AsyncOpenAI(base_url=URL + "/v1", api_key="sk-test-key", max_retries=0)


def anthropic_client():
    return anthropic.Anthropic(base_url=URL, api_key="sk-ant-test-key", max_retries=0)


def async_anthropic_client():
    return anthropic.AsyncAnthropic(base_url=URL, api_key="sk-ant-test-key", max_retries=0)


def chat_results(message):
    results = []
    for call in message.tool_calls or []:
        text, _ = run_tool(call.function.name, json.loads(call.function.arguments))
        results.append({"role": "tool", "tool_call_id": call.id, "content": text})
    return results


def chat_agent(mode):
    messages = [{"role": "user", "content": QUESTION}]
    for _ in range(3):
        if mode == "sync":
            message = openai_client().chat.completions.create(
                model="gpt-4o-mini", messages=messages, tools=CHAT_TOOLS
            ).choices[0].message
        elif mode == "async":
            async def ask():
                async with async_openai_client() as client:
                    reply = await client.chat.completions.create(
                        model="gpt-4o-mini", messages=messages, tools=CHAT_TOOLS
                    )
                return reply.choices[0].message
            message = asyncio.run(ask())
        elif mode == "astream":
            async def ask():
                async with async_openai_client() as client:
                    async with client.chat.completions.stream(
                        model="gpt-4o-mini", messages=messages, tools=CHAT_TOOLS,
                        stream_options={"include_usage": True},
                    ) as stream:
                        return (await stream.get_final_completion()).choices[0].message
            message = asyncio.run(ask())
        else:
            with openai_client().chat.completions.stream(
                model="gpt-4o-mini", messages=messages, tools=CHAT_TOOLS,
                stream_options={"include_usage": True},
            ) as stream:
                message = stream.get_final_completion().choices[0].message
        if not message.tool_calls:
            return message.content
        messages.append(message.model_dump(exclude_none=True, exclude={"parsed"}))
        for call in messages[-1].get("tool_calls", []):
            call["function"].pop("parsed_arguments", None)
        messages += chat_results(message)
    raise AssertionError("the agent did not finish")


def responses_agent(mode):
    items = [{"role": "user", "content": QUESTION}]
    for _ in range(3):
        request = dict(model="gpt-4o-mini", input=items, tools=RESPONSES_TOOLS)
        if mode == "sync":
            response = openai_client().responses.create(**request)
        elif mode == "async":
            async def ask():
                async with async_openai_client() as client:
                    return await client.responses.create(**request)
            response = asyncio.run(ask())
        elif mode == "astream":
            async def ask():
                async with async_openai_client() as client:
                    async with client.responses.stream(**request) as stream:
                        return await stream.get_final_response()
            response = asyncio.run(ask())
        else:
            with openai_client().responses.stream(**request) as stream:
                response = stream.get_final_response()
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            return response.output_text
        for call in calls:
            items.append(
                {"type": "function_call", "call_id": call.call_id, "name": call.name,
                 "arguments": call.arguments}
            )
        for call in calls:
            text, _ = run_tool(call.name, json.loads(call.arguments))
            items.append({"type": "function_call_output", "call_id": call.call_id, "output": text})
    raise AssertionError("the agent did not finish")


def messages_agent(mode):
    messages = [{"role": "user", "content": QUESTION}]
    for _ in range(3):
        request = dict(
            model="claude-haiku-4-5", max_tokens=300, messages=messages, tools=MESSAGES_TOOLS
        )
        if mode == "sync":
            reply = anthropic_client().messages.create(**request)
        elif mode == "async":
            async def ask():
                async with async_anthropic_client() as client:
                    return await client.messages.create(**request)
            reply = asyncio.run(ask())
        elif mode == "astream":
            async def ask():
                async with async_anthropic_client() as client:
                    async with client.messages.stream(**request) as stream:
                        return await stream.get_final_message()
            reply = asyncio.run(ask())
        else:
            with anthropic_client().messages.stream(**request) as stream:
                reply = stream.get_final_message()
        uses = [block for block in reply.content if block.type == "tool_use"]
        if not uses:
            return "".join(block.text for block in reply.content if block.type == "text")
        messages.append(
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in reply.content]}
        )
        results = []
        for use in uses:
            text, failed = run_tool(use.name, use.input)
            # the error result's content as text blocks, the other as a string: both shapes
            content = [{"type": "text", "text": text}] if failed else text
            results.append(
                {"type": "tool_result", "tool_use_id": use.id, "content": content, "is_error": failed}
            )
        messages.append({"role": "user", "content": results})
    raise AssertionError("the agent did not finish")


AGENTS = {"chat": chat_agent, "responses": responses_agent, "messages": messages_agent}
'''

SUITE = """
import pytest

from agents import AGENTS

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_agent(api, mode, llm_eval):
    answer = AGENTS[api](mode)
    llm_eval.score("answered", answer == "Sunny at 14:00.")
    assert len(llm_eval.inferences) == 2
    assert llm_eval.inferences[1].tool_results[0].name == "get_weather"
"""

PRICES = """
[pytest]
llmeval_prices =
    openai-compatible:gpt-4o-mini = 0.15 / 0.60
    anthropic-compatible:claude-haiku-4-5 = 1.0 / 5.0
"""

PARALLEL = [
    ToolCall("get_weather", {"city": "Paris"}),
    # keys out of sorted order: an object the API sends parsed (Anthropic's `input`) must
    # render the same live and from the cassette, which stores JSON with sorted keys
    ToolCall("get_time", {"zone": "Europe/Paris", "format": "24h"}),
]
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TIME = {
    "type": "object",
    "properties": {"zone": {"type": "string"}, "format": {"type": "string"}},
}
FINAL = "Sunny at 14:00."


def script_agent_loop(fake_provider: FakeProviderServer) -> None:
    """First turn: two parallel tool calls; a turn that carries tool results: the answer."""
    fake_provider.reply_with(tool_calls=PARALLEL, match=lambda request: not request.tool_results)
    fake_provider.reply_with(FINAL, match=lambda request: bool(request.tool_results))


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makeini(PRICES)
    pytester_env.makepyfile(agents=AGENTS)
    return pytester_env


def results_of(path: Path) -> dict[str, dict[str, Any]]:
    report = json.loads(path.read_text(encoding="utf-8"))
    return {result["nodeid"]: result for result in report["results"]}


def tool_fields(inference: dict[str, Any]) -> dict[str, Any]:
    return {key: inference[key] for key in ("tool_calls", "tool_results", "tool_schemas")}


def test_agent_loops_record_tool_calls_and_results_on_every_api_and_replay_them(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    script_agent_loop(fake_provider)
    suite.makepyfile(test_agent=SUITE)
    live = suite.runpytest("--llmeval-report=live.json", "--llmeval-trace=live.jsonl")
    live.assert_outcomes(passed=12)
    results = results_of(suite.path / "live.json")
    assert len(results) == 12
    for nodeid, result in results.items():
        api, mode = nodeid.split("[")[1].rstrip("]").split("-")
        ask, answer = result["inferences"]
        streamed = mode in ("stream", "astream")
        assert (ask["api"], ask["stream"], answer["stream"]) == (api, streamed, streamed)
        # the first call: two parallel tool calls, parsed, raw kept, ids given by the API
        calls = ask["tool_calls"]
        assert [(c["name"], c["arguments"], c["arguments_valid"]) for c in calls] == [
            ("get_weather", {"city": "Paris"}, True),
            ("get_time", {"zone": "Europe/Paris", "format": "24h"}, True),
        ], nodeid
        assert [json.loads(c["arguments_raw"]) for c in calls] == [c["arguments"] for c in calls]
        assert all(c["id"] for c in calls) and calls[0]["id"] != calls[1]["id"]
        assert ask["tool_results"] == []
        assert ask["tool_schemas"] == {"get_weather": WEATHER, "get_time": TIME}
        # the second call carries both results back, matched to the calls by id and named
        assert answer["tool_calls"] == [] and answer["output_text"] == FINAL
        errors = [False, api == "messages"]  # only Anthropic marks a tool result as an error
        assert answer["tool_results"] == [
            {"call_id": calls[0]["id"], "name": "get_weather", "content": "Sunny in Paris",
             "is_error": False},
            {"call_id": calls[1]["id"], "name": "get_time", "content": "unknown zone Europe/Paris",
             "is_error": errors[1]},
        ], nodeid  # fmt: skip
    # the trace carries the same fields, line by line
    trace = [json.loads(line) for line in (suite.path / "live.jsonl").read_text().splitlines()]
    by_call = {(line["nodeid"], line["call_index"]): tool_fields(line) for line in trace}
    assert by_call == {
        (nodeid, index): tool_fields(inference)
        for nodeid, result in results.items()
        for index, inference in enumerate(result["inferences"])
    }

    # replayed with the provider gone: the same tool calls and results, byte for byte
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    replay = suite.runpytest("--llmeval-record=none", "--llmeval-report=replay.json")
    replay.assert_outcomes(passed=12)
    replayed = results_of(suite.path / "replay.json")
    assert {
        nodeid: [tool_fields(i) for i in result["inferences"]]
        for nodeid, result in replayed.items()
    } == {
        nodeid: [tool_fields(i) for i in result["inferences"]] for nodeid, result in results.items()
    }
    assert all(i["replayed"] for result in replayed.values() for i in result["inferences"])
    # and through xdist's worker -> controller transport
    parallel = suite.runpytest("--llmeval-record=none", "--llmeval-report=xdist.json", "-n", "2")
    parallel.assert_outcomes(passed=12)
    assert {
        nodeid: [tool_fields(i) for i in result["inferences"]]
        for nodeid, result in results_of(suite.path / "xdist.json").items()
    } == {
        nodeid: [tool_fields(i) for i in result["inferences"]] for nodeid, result in results.items()
    }


MALFORMED_SUITE = """
import os

import anthropic
import openai
import pytest

URL = os.environ["FAKE_URL"]
OPENAI = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test-key", max_retries=0)
ANTHROPIC = anthropic.Anthropic(base_url=URL, api_key="sk-ant-test-key", max_retries=0)
ASK = [{"role": "user", "content": "weather in Paris"}]

@pytest.mark.llm_eval
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_broken(api, stream, llm_eval):
    # raw streams: the SDK's own helpers would parse the broken JSON; the app reads raw
    if api == "chat":
        reply = OPENAI.chat.completions.create(model="gpt-4o-mini", messages=ASK, stream=stream)
    elif api == "responses":
        reply = OPENAI.responses.create(model="gpt-4o-mini", input=ASK, stream=stream)
    else:
        reply = ANTHROPIC.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=ASK, stream=stream
        )
    if stream:
        list(reply)
    [inference] = llm_eval.inferences
    [call] = inference.tool_calls
    llm_eval.score("recorded", call.arguments_valid is False)
"""

BROKEN = '{"city": "Par'


def test_malformed_tool_arguments_are_recorded_raw_and_invalid_on_every_api(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    fake_provider.reply_with("Let me check.", tool_calls=[ToolCall("get_weather", BROKEN)])
    suite.makepyfile(test_broken=MALFORMED_SUITE)
    result = suite.runpytest("--llmeval-report=report.json")
    result.assert_outcomes(passed=6)
    for nodeid, outcome in results_of(suite.path / "report.json").items():
        [inference] = outcome["inferences"]
        assert inference["error"] is None, nodeid
        assert inference["tool_calls"] == [
            {"id": inference["tool_calls"][0]["id"], "name": "get_weather", "arguments": None,
             "arguments_raw": BROKEN, "arguments_valid": False}
        ], nodeid  # fmt: skip
        assert inference["output_text"] == f"Let me check.\nget_weather({BROKEN})", nodeid


SECRET_SUITE = """
import json
import os

import anthropic
import openai
import pytest

URL = os.environ["FAKE_URL"]
KEY = "sk-PLANTEDtoolsecret0123456789abcdef"
TOOLS = [{"name": "deploy", "description": "uses " + KEY, "input_schema": {"type": "object"}}]

@pytest.mark.llm_eval
@pytest.mark.parametrize("stream", [False, True])
def test_secret(stream, llm_eval):
    client = anthropic.Anthropic(base_url=URL, api_key="sk-ant-test-key", max_retries=0)
    ask = [{"role": "user", "content": "deploy it"}]
    first = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=ask, tools=TOOLS, stream=stream
    )
    if stream:
        list(first)
    back = ask + [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "deploy", "input": {"token": KEY}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "deployed with " + KEY}]},
    ]
    client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=back, tools=TOOLS)
    ask, answer = llm_eval.inferences
    # the records themselves are redacted, not only the files they are written to
    assert ask.tool_calls[0].arguments == {"token": "<redacted>"}
    assert KEY not in ask.tool_calls[0].arguments_raw
    assert answer.tool_results[0].content == "deployed with <redacted>"
    assert answer.tool_schemas["deploy"] == {"type": "object"}
    for inference in llm_eval.inferences:
        assert "PLANTED" not in json.dumps(inference.model_dump(mode="json"))
    llm_eval.score("ok", 1.0)
"""


def test_a_secret_in_tool_arguments_or_results_reaches_no_record_and_no_file(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    key = "sk-PLANTEDtoolsecret0123456789abcdef"
    fake_provider.reply_with(tool_calls=[ToolCall("deploy", {"token": key})])
    suite.makepyfile(test_secret=SECRET_SUITE)
    result = suite.runpytest("--llmeval-report=report.json", "--llmeval-trace=trace.jsonl")
    result.assert_outcomes(passed=2)
    written = [
        path
        for path in suite.path.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc", ".ini")  # not the test's own
    ]
    assert {path.name for path in written} >= {"report.json", "trace.jsonl"}
    assert any(path.suffix == ".json" and "cassettes" in path.parts for path in written)
    for path in written:
        assert "PLANTED" not in path.read_text(encoding="utf-8", errors="replace"), path


def test_build_inference_redacts_every_string_of_the_tool_fields() -> None:
    """The cassette layer redacts bodies before the record is built (the pytester test
    above passes through it); `build_inference` redacts the tool fields once more, like
    the texts, so a body that reaches it unredacted still leaves no secret in the record."""
    from pytest_llmeval.capture.cassettes.calls import Exchange
    from pytest_llmeval.capture.cassettes.models import (
        Interaction,
        RecordedRequest,
        RecordedResponse,
    )
    from pytest_llmeval.capture.inference import build_inference
    from pytest_llmeval.core.redact import Redactor

    key = "sk-PLANTEDtoolsecret0123456789abcdef"
    request = RecordedRequest(
        method="POST",
        url="https://api.openai.com/v1/chat/completions",
        body_format="json",
        body={
            "model": "gpt-4o-mini",
            "tools": [
                {"type": "function", "function": {"name": "deploy", "parameters": {"enum": [key]}}}
            ],
            "messages": [
                {"role": "user", "content": "deploy"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "call_1", "function": {"name": "deploy", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": f"used {key}"},
            ],
        },
    )
    arguments = json.dumps({"token": key, key: [key]})
    body = {
        "choices": [
            {
                "message": {
                    "tool_calls": [
                        {"id": "call_2", "function": {"name": "deploy", "arguments": arguments}}
                    ]
                }
            }
        ]
    }
    interaction = Interaction(
        request=request,
        response=RecordedResponse(status=200, body_text=json.dumps(body), body=body),
    )
    exchange = Exchange(
        interaction=interaction,
        request=request,
        role="app",
        replayed=True,
        cached=False,
        latency_s=0.1,
        ttft_s=None,
        error=None,
        started_at=0.0,
    )
    unredacted = build_inference(exchange, "t")
    assert unredacted.tool_calls[0].arguments == {"token": key, key: [key]}  # the test's premise
    inference = build_inference(exchange, "t", redact=Redactor().text)
    [call] = inference.tool_calls
    assert call.arguments == {"token": "<redacted>", "<redacted>": ["<redacted>"]}
    assert call.arguments_raw == json.dumps({"token": "<redacted>", "<redacted>": ["<redacted>"]})
    assert call.arguments_valid is True
    assert inference.tool_results[0].model_dump() == {
        "call_id": "call_1",
        "name": "deploy",
        "content": "used <redacted>",
        "is_error": False,
    }
    assert inference.tool_schemas == {"deploy": {"enum": ["<redacted>"]}}
    assert "PLANTED" not in inference.model_dump_json()
