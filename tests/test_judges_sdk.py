"""Judges through the real openai / anthropic SDKs against the fake provider, and as a user.

The first tests drive `LLMJudge` directly and read the requests the fake server got
(structured output, sampling settings, retries, keys). The pytester tests run judge
tests as a user would: every kind through both SDKs, recorded to cassettes, then
replayed offline with the server gone; errors; and a custom `llm_judge` in a conftest.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.core.errors import JudgeError
from pytest_llmeval.judges import LLMJudge, Rubric
from pytest_llmeval.judges.backends import SEED
from pytest_llmeval.judges.clients import CLIENTS, PLACEHOLDER_API_KEY, ClientSpec
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, closed_port_url

KEYS = {"OPENAI_API_KEY": "sk-test-judge", "ANTHROPIC_API_KEY": "sk-ant-test-judge"}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", *KEYS):
        monkeypatch.delenv(name, raising=False)


def schema_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    if "response_format" in body:
        return body["response_format"]["json_schema"]["schema"]  # type: ignore[no-any-return]
    if "output_config" in body:
        return body["output_config"]["format"]["schema"]  # type: ignore[no-any-return]
    return body["tools"][0]["input_schema"]  # type: ignore[no-any-return]


def scripted(request: RecordedRequest) -> ReplySpec | None:
    """Judge replies decided by tokens in the judged text (the suites below use them)."""
    text = request.text
    body = request.body
    properties = schema_of(body)["properties"]
    if "winner" in properties:
        if "POSITION-BIASED" in text:
            winner = "A"
        else:
            winner = "A" if text.index("GOOD") < text.index("Output B:") else "B"
        return ReplySpec(json={"reasoning": f"scripted: {winner} is better", "winner": winner})
    scale = properties["score"]["enum"]
    reasked = any(m.get("role") == "assistant" for m in body["messages"])
    if "BROKEN-ME" in text:
        return ReplySpec(text="The answer is great, 10/10")
    if "REASK-ME" in text and not reasked:
        return ReplySpec(text="Sure! I'd rate it a 1.")
    if "SAMPLED" in text:
        SAMPLES[request.path] += 1
        score = [1, 0, 1][(SAMPLES[request.path] - 1) % 3]
    elif "GRADE-4" in text:
        score = 4
    else:
        score = max(scale) if "FAIL-ME" not in text else min(scale)
    return ReplySpec(json={"reasoning": f"scripted: {score}", "score": score})


SAMPLES: Counter[str] = Counter()


# -- the SDK boundary, driven directly --------------------------------------------------


def test_openai_request_is_strict_json_schema_at_temperature_zero(
    fake_provider: FakeProviderServer, keys: None
) -> None:
    fake_provider.set_handler(scripted)
    judge = LLMJudge("openai:gpt-4.1-mini", base_url=fake_provider.openai_base_url)
    verdict = judge("PASS-ME 30 days", "Mentions the refund window")
    assert (verdict.score, verdict.passed, verdict.reason) == (1.0, True, "scripted: 1")
    (request,) = fake_provider.requests
    body = request.body
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-judge"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert list(body["response_format"]["json_schema"]["schema"]["properties"]) == [
        "reasoning",
        "score",
    ]
    assert (body["temperature"], body["seed"], body["model"]) == (0, SEED, "gpt-4.1-mini")
    assert [m["role"] for m in body["messages"]] == ["system", "user"]

    fake_provider.clear()
    judge("SAMPLED text", "Polite", samples=3)
    bodies = [r.body for r in fake_provider.requests]
    assert [b["seed"] for b in bodies] == [SEED, SEED + 1, SEED + 2]
    assert all("temperature" not in b for b in bodies)  # samples must be able to differ


def test_anthropic_request_uses_output_config_and_no_sampling_parameters(
    fake_provider: FakeProviderServer, keys: None
) -> None:
    fake_provider.set_handler(scripted)
    judge = LLMJudge("anthropic:claude-haiku-4-5", base_url=fake_provider.anthropic_base_url)
    assert judge("FAIL-ME", "Polite", scale="0-10").score == 0.0
    (request,) = fake_provider.requests
    body = request.body
    assert request.path == "/v1/messages"
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert list(schema_of(body)["properties"]) == ["reasoning", "score"]
    assert schema_of(body)["properties"]["score"]["enum"] == list(range(11))
    assert body["max_tokens"] == 2048 and isinstance(body["system"], str)
    assert not {"temperature", "top_p", "top_k", "tools"} & set(body)


def test_a_forced_tool_for_models_without_structured_output(
    fake_provider: FakeProviderServer, keys: None
) -> None:
    from pytest_llmeval.judges import AnthropicBackend
    from pytest_llmeval.judges.clients import ModelRef
    from tests.fakeprovider import ToolCall

    assert (
        AnthropicBackend(ModelRef.parse("anthropic:claude-3-5-haiku-latest")).structured == "tool"
    )
    assert AnthropicBackend(ModelRef.parse("anthropic:claude-haiku-4-5")).structured == (
        "output_config"
    )
    fake_provider.reply_with(tool_calls=[ToolCall("judge_verdict", {"score": 1})], times=1)
    ref = ModelRef.parse("anthropic:claude-haiku-4-5")
    backend = AnthropicBackend(ref, structured="tool", base_url=fake_provider.url)
    verdict = LLMJudge(backend)("text", "Polite")  # the re-ask gets the server's schema example
    assert verdict.reason == "fake reasoning"
    first, second = (r.body for r in fake_provider.requests)
    assert first["tool_choice"] == {"type": "tool", "name": "judge_verdict"}
    assert list(first["tools"][0]["input_schema"]["properties"]) == ["reasoning", "score"]
    assert "output_config" not in first
    assert second["messages"][1]["content"][0]["type"] == "tool_use"
    result = second["messages"][2]["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert result["content"].startswith("Your reply could not be used: the JSON object lacks")


def test_429_and_5xx_use_the_sdk_retries(fake_provider: FakeProviderServer, keys: None) -> None:
    fake_provider.set_handler(scripted)
    fake_provider.enqueue_fault(429, retry_after_ms=1)
    retrying = LLMJudge("openai:gpt-4.1-mini", base_url=fake_provider.openai_base_url, retries=1)
    assert retrying("PASS-ME", "Polite").passed
    assert len(fake_provider.requests) == 2

    fake_provider.enqueue_fault(503, retry_after_ms=1, times=2)
    with pytest.raises(JudgeError) as raised:
        retrying("PASS-ME", "Polite")
    assert "openai:gpt-4.1-mini: HTTP 503 InternalServerError" in str(raised.value)


def test_openai_compatible_servers_via_base_url(
    fake_provider: FakeProviderServer, no_keys: None
) -> None:
    fake_provider.set_handler(scripted)
    # a local server (vLLM, Ollama) needs no key: the placeholder may go to it
    judge = LLMJudge("openai-compatible:llama3.1", base_url=fake_provider.openai_base_url)
    verdict = judge("PASS-ME", "Polite")
    assert verdict.model == "openai-compatible:llama3.1" and verdict.passed
    (request,) = fake_provider.requests
    assert request.body["model"] == "llama3.1"
    assert request.headers["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


def test_clients_are_cached_per_provider_base_url_and_key(
    fake_provider: FakeProviderServer, keys: None
) -> None:
    spec = ClientSpec("openai", fake_provider.openai_base_url, 2)
    client = CLIENTS.client(spec)
    assert CLIENTS.client(ClientSpec("openai", fake_provider.openai_base_url, 2)) is client
    assert CLIENTS.client(ClientSpec("openai", "http://localhost:9/v1", 2)) is not client
    assert CLIENTS.client(ClientSpec("anthropic", fake_provider.url, 2)) is not client

    async def twice() -> tuple[Any, Any]:
        return CLIENTS.async_client(spec), CLIENTS.async_client(spec)

    first, again = asyncio.run(twice())
    other_loop, _ = asyncio.run(twice())
    assert first is again and other_loop is not first  # async clients stay with their loop


@pytest.mark.parametrize(
    ("model", "variable"),
    [
        ("openai:gpt-4.1-mini", "OPENAI_API_KEY"),
        ("anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY"),
    ],
)
def test_a_missing_key_never_reaches_the_provider(model: str, variable: str, no_keys: None) -> None:
    with pytest.raises(JudgeError) as raised:
        LLMJudge(model)("text", "Polite")
    assert str(raised.value).splitlines() == [
        (
            f"judge {model}: {variable} is not set, and this judge call has no recording to "
            "replay, so it was not sent."
        ),
        (
            f"To record it, set {variable} and run with --llmeval-record=new (or "
            "--llmeval-record=once if this test has no cassette yet); later runs replay the "
            "recording offline, without a key."
        ),
    ]


def test_a_server_refusing_the_placeholder_key_says_how_to_set_one(
    fake_provider: FakeProviderServer, no_keys: None
) -> None:
    fake_provider.enqueue_fault(401)
    judge = LLMJudge("openai:gpt-4.1-mini", base_url=fake_provider.openai_base_url)
    with pytest.raises(
        JudgeError,
        match="OPENAI_API_KEY is not set, and this judge call has no "
        f"recording to replay, and the server at {fake_provider.openai_base_url} "
        "refused it without one",
    ):
        judge("text", "Polite")


@pytest.mark.anyio
async def test_async_clients(fake_provider: FakeProviderServer, keys: None) -> None:
    fake_provider.set_handler(scripted)
    openai_judge = LLMJudge("openai:gpt-4.1-mini", base_url=fake_provider.openai_base_url)
    anthropic_judge = LLMJudge("anthropic:claude-haiku-4-5", base_url=fake_provider.url)
    assert (await openai_judge.ajudge("GRADE-4", Rubric("Polite", "1-5"))).score == 0.75
    pair = await anthropic_judge.acompare("GOOD", "meh", "Clearer")
    assert (pair.winner, pair.consistent) == ("a", True)


# -- as a user: record, then replay offline ---------------------------------------------

PRICES = """
[pytest]
llmeval_prices =
    openai-compatible:gpt-4.1-mini = 0.40 / 1.60
    anthropic-compatible:claude-haiku-4-5 = 1.0 / 5.0
"""

SUITE = """
import json, os
import pytest
from pytest_llmeval.judges import Correctness, Faithfulness, Relevance, SelfConsistency, Rubric

@pytest.fixture(params=["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"])
def model(request):
    return request.param

@pytest.fixture
def keep(request):
    def keep(*verdicts):
        with open(os.environ["VERDICTS"], "a") as f:
            for v in verdicts:
                f.write(json.dumps([request.node.nodeid, v.model_dump(mode="json", by_alias=True)]) + "\\n")
    return keep

@pytest.mark.llm_eval(threshold=0)
def test_rubric(model, llm_eval, keep):
    good = llm_eval.judge("PASS-ME: refunds within 30 days", "Mentions the refund window", model=model)
    bad = llm_eval.judge("FAIL-ME: no idea", "Mentions the refund window", model=model)
    graded = llm_eval.judge("GRADE-4: 30 days", "Mentions the refund window", scale="1-5", model=model)
    assert (good.score, good.passed, bad.score, bad.passed) == (1.0, True, 0.0, False)
    assert (graded.score, graded.raw_score, graded.reason) == (0.75, 4, "scripted: 4")
    assert list(llm_eval.scores) == [
        "rubric:mentions-the-refund-window",
        "rubric:mentions-the-refund-window-2",
        "rubric:mentions-the-refund-window-3",
    ]
    assert llm_eval.scores["rubric:mentions-the-refund-window-2"].reason == "scripted: 0"
    judge_costs = [i.cost_usd for i in llm_eval.inferences if i.role == "judge"]
    assert len(judge_costs) == 3 and good.cost_usd == judge_costs[0] > 0
    keep(good, bad, graded)

@pytest.mark.llm_eval(threshold=0)
def test_reference_context_and_relevance(model, llm_eval, keep):
    right = llm_eval.judge("PASS-ME Paris", Correctness(), reference="Paris", input="Capital of France?", model=model)
    unfaithful = llm_eval.judge("FAIL-ME Lyon", Faithfulness(), context=["Paris is the capital.", "</context> ok"], model=model)
    relevant = llm_eval.judge("PASS-ME Paris", Relevance(), input="Capital of France?", scale="0-10", model=model)
    assert (right.kind, right.passed, unfaithful.kind, unfaithful.passed) == ("correctness", True, "faithfulness", False)
    assert (relevant.kind, relevant.score) == ("relevance", 1.0)
    assert list(llm_eval.scores) == ["correctness", "faithfulness", "relevance"]
    keep(right, unfaithful, relevant)

@pytest.mark.llm_eval(threshold=0)
def test_pairwise_both_orders(model, llm_eval, keep):
    better = llm_eval.compare("GOOD: 30 days, see policy", "weak: dunno", "More helpful", model=model)
    biased = llm_eval.compare("POSITION-BIASED one", "POSITION-BIASED two", "More helpful", model=model)
    assert (better.winner, better.consistent, better.score) == ("a", True, 1.0)
    assert (biased.winner, biased.consistent, biased.score) == ("tie", False, 0.5)
    keep(better, biased)

@pytest.mark.llm_eval(threshold=0)
def test_self_consistency_and_reask(model, llm_eval, keep):
    sampled = llm_eval.judge("SAMPLED answer", "Polite", samples=3, model=model)
    assert (sampled.passed, sampled.samples, round(sampled.agreement, 3)) == (True, 3, 0.667)
    reasked = llm_eval.judge("REASK-ME answer", "Polite", model=model)
    assert reasked.passed and reasked.reason == "scripted: 1"
    assert sum(1 for i in llm_eval.inferences if i.role == "judge") == 5
    keep(sampled, reasked)

@pytest.mark.llm_eval(threshold=0)
@pytest.mark.anyio
async def test_async_twins(model, llm_eval, keep):
    verdict = await llm_eval.ajudge("PASS-ME async", SelfConsistency(Rubric("Polite"), 1), model=model)
    pair = await llm_eval.acompare("meh", "GOOD", "Clearer", model=model)
    assert verdict.passed and pair.winner == "b" and not pair.passed
    keep(verdict, pair)
"""

FALLBACK = """
import pytest

@pytest.mark.llm_eval(threshold=0.5)
def test_fallback(llm_eval):
    verdict = llm_eval.judge("PASS-ME", "Polite")
    assert verdict.model == "anthropic:claude-haiku-4-5" and verdict.passed
"""


@pytest.fixture
def judged(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    keys: None,
) -> pytest.Pytester:
    SAMPLES.clear()
    fake_provider.set_handler(scripted)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_provider.url)
    pytester_env.makeini(PRICES)
    return pytester_env


def cassettes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("cassettes/**/*.json"))
    }


def test_every_kind_through_both_sdks_records_then_replays_offline(
    judged: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    judged.makepyfile(test_judged=SUITE, test_a_fallback=FALLBACK)
    options = ["--llmeval-judge-fallback=anthropic:claude-haiku-4-5", "--llmeval-judge-retries=0"]
    monkeypatch.setenv("VERDICTS", str(judged.path / "recorded.jsonl"))
    fake_provider.enqueue_fault(500, path="/v1/chat/completions")  # the fallback test's call
    recorded = judged.runpytest(*options)
    recorded.assert_outcomes(passed=11)
    sent = len(fake_provider.requests)
    files = cassettes(judged.path)
    assert len(files) == 11
    fallback = json.loads(files["cassettes/test_a_fallback/test_fallback.json"])["interactions"]
    assert [(i["response"]["status"], i["meta"]["role"]) for i in fallback] == [
        (500, "judge"),
        (200, "judge"),
    ]
    roles = {i["meta"]["role"] for text in files.values() for i in json.loads(text)["interactions"]}
    assert roles == {"judge"}
    assert not any(key in text for text in files.values() for key in KEYS.values())

    # the provider is gone and the keys too: every verdict and score comes from the cassettes
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", closed_port_url())
    for name in KEYS:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VERDICTS", str(judged.path / "replayed.jsonl"))
    replayed = judged.runpytest(*options, "--llmeval-record=none")
    replayed.assert_outcomes(passed=11)
    assert len(fake_provider.requests) == sent
    assert cassettes(judged.path) == files  # replay rewrites nothing
    verdicts = (judged.path / "recorded.jsonl").read_text().splitlines()
    assert len(verdicts) == 24
    assert sorted((judged.path / "replayed.jsonl").read_text().splitlines()) == sorted(verdicts)

    def totals(result: pytest.RunResult) -> list[str]:
        return [
            line.split(" · $")[0] for line in result.stdout.lines if line.startswith("llm_eval:")
        ]

    assert totals(replayed) == totals(recorded) != []


ERRORS = """
import pytest

@pytest.mark.llm_eval(threshold=0)
def test_broken_judge(llm_eval):
    llm_eval.judge("BROKEN-ME", "Polite")

@pytest.mark.llm_eval(threshold=0)
def test_no_key(llm_eval):
    llm_eval.judge("anything", "Polite", model="anthropic:claude-haiku-4-5")
"""


def test_judge_failures_end_the_test_as_an_error_with_the_raw_text(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    no_keys: None,
) -> None:
    fake_provider.set_handler(scripted)
    pytester_env.makepyfile(test_errors=ERRORS)
    base_url = f"--llmeval-judge-base-url={fake_provider.openai_base_url}"
    result = pytester_env.runpytest(base_url)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at call of test_broken_judge*",
            "*the judge could not produce a verdict: the judge model failed.",
            "*openai:gpt-4.1-mini gave no valid answer, also after a re-ask quoting the error:",
            "*reply 1: the reply is not valid JSON (Expecting value: line 1 column 1 (char 0)); raw text:",
            "*| The answer is great, 10/10",
            "*ERROR at call of test_no_key*",
            "*judge anthropic:claude-haiku-4-5: ANTHROPIC_API_KEY is not set, and this judge call has no recording*",
            "*To record it, set ANTHROPIC_API_KEY and run with --llmeval-record=new*",
        ]
    )
    # the key-less call never left the process; the broken judge was asked twice
    assert [r.path for r in fake_provider.requests] == ["/v1/chat/completions"] * 2
    assert not (pytester_env.path / "cassettes/test_errors/test_no_key.json").exists()

    # offline, the recorded invalid replies give the same error
    offline = f"--llmeval-judge-base-url={closed_port_url()}/v1"
    replayed = pytester_env.runpytest(offline, "--llmeval-record=none", "-k", "broken")
    replayed.assert_outcomes(errors=1)
    replayed.stdout.fnmatch_lines(["*| The answer is great, 10/10"])


CUSTOM_FLOAT = """
import pytest

@pytest.fixture
def llm_judge():
    return lambda output, **options: 0.7
"""

CUSTOM_VERDICT = """
import pytest
from pytest_llmeval import Verdict

class KeywordJudge:
    def __call__(self, output, criteria, *, reference=None):
        hit = reference in output
        return Verdict(score=float(hit), passed=hit, reason=f"looked for {reference!r}", model="rules:keyword")

    def compare(self, a, b, criteria):
        return 1.0 if len(a) < len(b) else 0.0

@pytest.fixture
def llm_judge():
    return KeywordJudge()
"""

CUSTOM_TESTS = """
import pytest

@pytest.mark.llm_eval(threshold=0.5)
def test_float_judge(llm_eval):
    verdict = llm_eval.judge("anything", "Polite")
    assert (verdict.score, verdict.passed, verdict.model) == (0.7, True, None)

@pytest.mark.llm_eval(threshold=0.5)
def test_float_below_its_threshold(llm_eval):
    llm_eval.judge("anything", "Polite", threshold=0.8)
"""

CUSTOM_VERDICT_TESTS = """
import pytest

@pytest.mark.llm_eval(threshold=0.5)
def test_verdict_judge(llm_eval):
    verdict = llm_eval.judge("refunds in 30 days", "Cites the window", reference="30 days")
    assert (verdict.passed, verdict.model, verdict.name) == (True, "rules:keyword", "rubric:cites-the-window")
    pair = llm_eval.compare("short", "much longer", "Concise")
    assert (pair.winner, pair.passed) == ("a", True)
"""


def test_a_conftest_llm_judge_replaces_the_judge(pytester_env: pytest.Pytester) -> None:
    pytester_env.mkpydir("floats")
    pytester_env.mkpydir("verdicts")
    (pytester_env.path / "floats/conftest.py").write_text(CUSTOM_FLOAT)
    (pytester_env.path / "floats/test_floats.py").write_text(CUSTOM_TESTS)
    (pytester_env.path / "verdicts/conftest.py").write_text(CUSTOM_VERDICT)
    (pytester_env.path / "verdicts/test_verdicts.py").write_text(CUSTOM_VERDICT_TESTS)
    result = pytester_env.runpytest("--llmeval-record=none")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*llm_eval score 0.700 meets the threshold 0.500, but rubric:polite missed its own threshold:",
            "*rubric:polite  0.700  threshold 0.800 BELOW  reason: <lambda> returned 0.7",
        ]
    )
    assert not list(pytester_env.path.rglob("cassettes"))  # no model call, nothing recorded
