"""Limits measure the app: `llm_eval.evaluating()`, judge and helper calls left out of
budget_usd and max_latency_s, the unpriced-limit warning, and the messages of issue 23
(money with enough digits, judge() argument errors from the public call)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmeval.core.money import format_usd, usd
from tests.fakeprovider import FAULT_HEADER, FakeProviderServer, RecordedRequest, ReplySpec
from tests.test_judges_sdk import scripted

#: Per million tokens: the app's model is cheap, the grader's dear. The fake provider
#: counts one token per word.
PRICES = """[pytest]
llmeval_prices =
    cheap-model = 1 / 1
    dear-model = 100000 / 100000
    gpt-4.1-mini = 100000 / 100000
"""

APP = """
import asyncio
import os
import openai
import pytest

SLOW = {os.environ["FAULT_HEADER"]: "slow;seconds=0.6"}


def ask(model, text, headers=None):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], extra_headers=headers or {}
    )
    return reply.choices[0].message.content
"""


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    monkeypatch.setenv("FAULT_HEADER", FAULT_HEADER)
    pytester_env.makeini(PRICES)
    return pytester_env


def results_of(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    report = json.loads((pytester.path / "report.json").read_text())
    return {r["nodeid"].split("::")[1]: r for r in report["results"]}


def price(call: dict[str, Any], per_million: float) -> float:
    return ((call["input_tokens"] or 0) + (call["output_tokens"] or 0)) * per_million / 1e6


LIMITS_SUITE = (
    APP
    + """
@pytest.mark.llm_eval(budget_usd=0.01, max_latency_s=0.5)
def test_grader_inside_evaluating(llm_eval):
    ask("cheap-model", "app question")
    with llm_eval.evaluating():
        ask("dear-model", "grade the answer", SLOW)
    ask("cheap-model", "app again")
    assert [i.role for i in llm_eval.inferences] == ["app", "evaluation", "app"]

@pytest.mark.llm_eval(budget_usd=0.01, max_latency_s=0.5)
def test_grader_as_app_code(llm_eval):
    ask("cheap-model", "app question")
    ask("dear-model", "grade the answer", SLOW)
"""
)


def test_calls_under_evaluating_are_not_counted_by_the_apps_limits(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_limits=LIMITS_SUITE)
    result = suite.runpytest("--llmeval-report=report.json")
    result.assert_outcomes(passed=1, failed=1)
    results = results_of(suite)
    inside = results["test_grader_inside_evaluating"]
    assert inside["status"] == "passed"
    app, grader, again = inside["inferences"]
    assert (app["role"], grader["role"], again["role"]) == ("app", "evaluation", "app")
    # the grader's call alone is over both limits; the app's are within them
    assert price(grader, 100000) > 0.01 and grader["latency_s"] > 0.5
    usage = inside["usage"]
    assert usage["evaluation_calls"] == 1 and usage["app_calls"] == 2
    assert usage["evaluation_cost_usd"] == pytest.approx(price(grader, 100000))
    assert usage["app_cost_usd"] == pytest.approx(price(app, 1) + price(again, 1))
    assert usage["evaluation_models"] == ["openai-compatible:dear-model"]
    # the same calls made as app code trip both limits
    outside = results["test_grader_as_app_code"]
    cost = format_usd(price(outside["inferences"][0], 1) + price(outside["inferences"][1], 1e5))
    result.stdout.fnmatch_lines(
        [
            f"*llm_eval budget exceeded: this test's app calls cost ${cost}, over "
            "budget_usd=$0.01.",
            "*llm_eval latency limit exceeded: the slowest app call took 0.6? s, over "
            "max_latency_s=0.5 s.",
        ]
    )


ASYNC_SUITE = (
    APP
    + """
@pytest.mark.anyio
@pytest.mark.llm_eval
async def test_concurrent_tasks_keep_their_roles(llm_eval):
    client = openai.AsyncOpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)

    async def call(text):
        await client.chat.completions.create(
            model="cheap-model", messages=[{"role": "user", "content": text}]
        )

    async def grade():
        with llm_eval.evaluating():
            await asyncio.sleep(0.05)  # the app's task calls meanwhile
            await call("grader first")
            await asyncio.sleep(0.1)
            await call("grader second")

    async def app():
        await asyncio.sleep(0.01)
        await call("app first")
        await asyncio.sleep(0.1)
        await call("app second")

    await asyncio.gather(grade(), app())
    await call("app after")
    roles = {i.input_text.removeprefix("user: "): i.role for i in llm_eval.inferences}
    assert roles == {
        "app first": "app",
        "grader first": "evaluation",
        "app second": "app",
        "grader second": "evaluation",
        "app after": "app",
    }, roles
"""
)


def test_evaluating_marks_only_its_own_task_under_asyncio(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_async=ASYNC_SUITE)
    suite.runpytest().assert_outcomes(passed=1)


def judge_or_default(request: RecordedRequest) -> ReplySpec | None:
    """Judge requests get scripted verdicts; app requests the default reply."""
    if isinstance(request.body, dict) and "response_format" in request.body:
        return scripted(request)
    return None


JUDGED_SUITE = (
    APP
    + """
@pytest.mark.llm_eval(budget_usd=0.00005, judge_model="openai:gpt-4.1-mini")
def test_judged(llm_eval):
    answer = ask("cheap-model", "hello")
    llm_eval.judge(answer, "Polite")
"""
)


def test_a_judge_call_no_longer_counts_against_the_apps_budget(
    suite: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-eval-side")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    fake_provider.set_handler(judge_or_default)
    suite.makepyfile(test_judged=JUDGED_SUITE)
    result = suite.runpytest("--llmeval-report=report.json")
    result.assert_outcomes(passed=1)
    usage = results_of(suite)["test_judged"]["usage"]
    assert usage["judge_calls"] == 1 and usage["app_calls"] == 1
    # the judge alone spent far more than budget_usd, the app far less
    assert usage["judge_cost_usd"] > 0.00005 > usage["app_cost_usd"] > 0


UNPRICED_SUITE = (
    APP
    + """
@pytest.mark.llm_eval(budget_usd=1)
def test_unpriced(llm_eval):
    ask("model-nobody-prices", "hello")
    ask("cheap-model", "hello")

@pytest.mark.llm_eval(budget_usd=1)
def test_priced(llm_eval):
    ask("cheap-model", "hello")
    with llm_eval.evaluating():
        ask("grader-nobody-prices", "grade")
"""
)


def test_a_budget_that_cannot_be_checked_says_so_naming_the_test_and_model(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(test_unpriced=UNPRICED_SUITE)
    result = suite.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*UnpricedCallWarning: test_unpriced.py::test_unpriced: budget_usd=$1 could not "
            "be checked in full: 1 app call of this test could not be priced (no known price "
            "for openai-compatible:model-nobody-prices), so its cost is unknown; the priced "
            "app calls cost $0.0000*. Set the model's price in the llmeval_prices ini option*"
        ]
    )
    # an evaluation call without a price is not the app's: nothing to warn about
    assert "test_unpriced.py::test_priced: budget_usd" not in result.stdout.str()


# -- messages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0.0, "0.0000"),
        (0.0123, "0.0123"),
        (2.0, "2.0000"),
        (0.001, "0.0010"),
        (0.00099, "0.00099"),
        (0.00005, "0.000050"),
        (0.000055, "0.000055"),
        (8e-8, "0.000000080"),
    ],
)
def test_money_keeps_two_significant_digits_below_a_tenth_of_a_cent(
    amount: float, text: str
) -> None:
    assert format_usd(amount) == text


def test_a_limit_prints_as_written() -> None:
    assert [usd(0.00005), usd(0.02), usd(2.0), usd(1e-6)] == [
        "$0.00005",
        "$0.02",
        "$2",
        "$0.000001",
    ]


def test_a_small_budget_prints_with_its_digits(suite: pytest.Pytester) -> None:
    # budget_usd=0.00005 showed as $0.0001, and a cost of $0.00006 as $0.0001 beside it
    suite.makeini(PRICES.replace("cheap-model = 1 / 1", "cheap-model = 10 / 10"))
    suite.makepyfile(
        test_small=APP
        + """
@pytest.mark.llm_eval(budget_usd=0.00005)
def test_small(llm_eval):
    ask("cheap-model", "one two three four five six seven eight nine ten")
"""
    )
    result = suite.runpytest("--llmeval-report=report.json")
    result.assert_outcomes(failed=1)
    (call,) = results_of(suite)["test_small"]["inferences"]
    spent = price(call, 10)
    assert 0.00005 < spent < 0.001
    result.stdout.fnmatch_lines(
        [
            f"*llm_eval budget exceeded: this test's app calls cost ${format_usd(spent)}, "
            "over budget_usd=$0.00005.",
        ]
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            'llm_eval.judge(42, "Polite")',
            "TypeError: test_args.py::test_t: llm_eval.judge(): output must be a string, got int",
        ),
        (
            'llm_eval.judge("a", "Polite", input={"q": 1})',
            "TypeError: test_args.py::test_t: llm_eval.judge(): input must be a string, got dict",
        ),
        (
            'llm_eval.judge("a", "Polite", context=5)',
            "TypeError: test_args.py::test_t: llm_eval.judge(): context must be a string or a "
            "non-empty sequence of strings, got int",
        ),
        (
            'llm_eval.judge("a", 5)',
            "TypeError: test_args.py::test_t: llm_eval.judge(): criteria must be a string or "
            "a judge kind (Rubric, Correctness, Faithfulness, Relevance, *), got int",
        ),
        (
            'llm_eval.judge("a", "Polite", samples="3")',
            "ValueError: test_args.py::test_t: llm_eval.judge(): samples must be a whole "
            "number >= 1, got '3'",
        ),
        (
            'llm_eval.judge("a", Faithfulness())',
            "ValueError: test_args.py::test_t: llm_eval.judge(): the faithfulness judge needs "
            "context=...; pass it to llm_eval.judge()",
        ),
        (
            'await llm_eval.ajudge(42, "Polite")',
            "TypeError: test_args.py::test_t?asyncio?: llm_eval.ajudge(): output must be a "
            "string, got int",
        ),
    ],
    ids=["output", "input", "context", "criteria", "samples", "kind-needs", "ajudge"],
)
def test_a_bad_judge_argument_names_the_public_call_and_hides_the_internals(
    pytester_env: pytest.Pytester, call: str, message: str
) -> None:
    asynchronous = call.startswith("await ")
    source = f"""
import pytest
from pytest_llmeval.judges import Faithfulness

{"@pytest.mark.anyio" if asynchronous else ""}
@pytest.mark.llm_eval(judge_model="openai:gpt-4.1-mini")
{"async " if asynchronous else ""}def test_t(llm_eval):
    {call}
"""
    pytester_env.makepyfile(test_args=source)
    line = source.strip().splitlines().index(f"    {call}") + 1
    result = pytester_env.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f">       {call}", f"E       {message}", f"test_args.py:{line}: *Error"]
    )
    # the traceback ends at the test's own line
    output = result.stdout.str()
    for internal in ("judges/api.py", "judges/custom.py", "items/recorder.py"):
        assert internal not in output


def test_edit_similarity_says_it_is_a_similarity_and_how_to_port_a_distance() -> None:
    from pytest_llmeval.scorers import edit_similarity

    doc = edit_similarity.__doc__ or ""
    assert "not a distance" in doc and "1 - t / max(len(a)" in doc
    # the porting rule holds: "kitten" -> "sitting" is 3 edits over 7 characters
    assert edit_similarity("kitten", "sitting") == 1 - 3 / 7
    assert edit_similarity("Order 4411 ships Monday", "Order 4411 ships Tuesday") == 1 - 4 / 24
