"""Bias probes: the position-swap disagreement rate over a run's pairwise comparisons,
and the opt-in verbosity and consistency probes (--llmeval-judge-probes).

Through the real openai and anthropic SDKs against the fake provider's scripted judges:
a comparison whose judge always prefers the output shown first disagrees with itself
across the two orders; a judge that favours long answers scores the padded answer
higher; a judge that alternates its answer disagrees with itself across samples; a
stable judge gives both probes a rate of 0. The terminal reports the rates and names
the calls, the JSON report keeps them, and the probes' calls replay offline.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from pytest_llmeval.judges.backends import SEED
from pytest_llmeval.judges.probes import PADDING_OPENING, PADDING_SENTENCES, pad
from pytest_llmeval.records.calibration import position_swaps
from pytest_llmeval.records.probes import consistency_probes, verbosity_probes
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, closed_port_url
from tests.test_judges_sdk import KEYS, SAMPLES, schema_of, scripted

SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0)
def test_pairs(llm_eval):
    llm_eval.compare("GOOD: 30 days", "weak", "More helpful", name="clear")
    llm_eval.compare("POSITION-BIASED one", "POSITION-BIASED two", "More helpful", name="biased")

@pytest.mark.llm_eval(threshold=0)
def test_one_pair(llm_eval):
    llm_eval.compare("weak", "GOOD", "More helpful", name="clear")

@pytest.mark.llm_eval(threshold=0)
def test_no_pair(llm_eval):
    llm_eval.score("plain", 1.0)
"""


def test_the_position_swap_rate_is_reported_per_run(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    SAMPLES.clear()
    fake_provider.set_handler(scripted)
    pytester_env.makepyfile(test_pairs=SUITE)
    result = pytester_env.runpytest("--llmeval-report=r.json")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "pairwise: 3 comparison(s), position-swap disagreement 33% (1)",
            "  orders disagree: test_pairs.py::test_pairs biased",
        ]
    )
    report = json.loads((pytester_env.path / "r.json").read_text())
    metadata = {r["nodeid"].split("::")[1]: r["metadata"] for r in report["results"]}
    assert metadata["test_pairs"] == {
        "pairwise_comparisons": 2,
        "position_swap_disagreements": ["biased"],
    }
    assert metadata["test_one_pair"] == {"pairwise_comparisons": 1}
    assert metadata["test_no_pair"] == {}
    assert report["judges"]["position_swap"] == {
        "comparisons": 3,
        "rate": 1 / 3,
        "disagreements": [{"case": "test_pairs.py::test_pairs", "name": "biased"}],
    }


def test_no_comparison_no_probe_line() -> None:
    assert position_swaps([("a", 0, [])]) is None
    probe = position_swaps([("a", 3, ["x"]), ("b", 1, [])])
    assert probe is not None and probe.rate == 0.25


# -- the verbosity and consistency probes --------------------------------------------------

PROBED = """
import pytest

@pytest.mark.llm_eval(threshold=0)
def test_long_lover(llm_eval):
    llm_eval.judge("LONG-LOVER: 30 days", "Mentions the refund window", name="window")

@pytest.mark.llm_eval(threshold=0)
def test_alternating(llm_eval):
    llm_eval.judge("ALTERNATING: 30 days", "Mentions the refund window", name="window")

@pytest.mark.llm_eval(threshold=0)
def test_stable(llm_eval):
    llm_eval.judge("STABLE: 30 days", "Mentions the refund window", name="window")
"""


def judged_output(request: RecordedRequest) -> str:
    found = re.search(r"<output-([0-9a-f]{16})>\n(.*?)\n</output-\1>", request.text, re.DOTALL)
    assert found is not None, "no output piece in the judge request"
    return found.group(2)


def probe_judges(asked: Counter[str]) -> object:
    """A judge that passes long answers only (LONG-LOVER), one that alternates pass and
    fail for the same answer (ALTERNATING), and a stable one (STABLE) that always passes."""

    def handler(request: RecordedRequest) -> ReplySpec:
        output = judged_output(request)
        scale = schema_of(request.body)["properties"]["score"]["enum"]
        asked[output] += 1
        if "LONG-LOVER" in output:
            passed = len(output) > 100
        elif "ALTERNATING" in output:
            passed = asked[output] % 2 == 1
        else:
            passed = True
        score = max(scale) if passed else min(scale)
        return ReplySpec(json={"reasoning": f"scripted: {score}", "score": score})

    return handler


@pytest.fixture
def probing(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    for name in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    fake_provider.set_handler(probe_judges(Counter()))
    pytester_env.makepyfile(test_probed=PROBED)
    return pytester_env


def test_the_probes_catch_a_long_loving_and_an_alternating_judge_and_replay_offline(
    probing: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes = "--llmeval-judge-probes=verbosity,consistency"
    result = probing.runpytest(probes, "--llmeval-report=r.json")
    result.assert_outcomes(passed=3)
    lines = [
        "verbosity probe: 3 judge call(s), padding raised 33% (1), mean score shift +0.333",
        "  padding raised: test_probed.py::test_long_lover window (0.00 -> 1.00)",
        "consistency probe: 3 judge call(s) x 3 samples, samples disagree 33% (1), "
        "score spread mean 0.333, max 1.000",
        "  samples disagree: test_probed.py::test_alternating window (scores 0.00 1.00 0.00)",
    ]
    result.stdout.fnmatch_lines(["judges: 15 calls, *", *lines])
    # each test: its judge call, the padded answer, 3 samples with a seed each
    alternating = [r.body for r in fake_provider.requests if "ALTERNATING" in r.text]
    assert len(alternating) == 5
    original, padded, *samples = alternating
    assert (original["temperature"], original["seed"]) == (0, SEED)
    assert judged_output(fake_provider.requests[1]) == pad("LONG-LOVER: 30 days")
    assert padded["temperature"] == 0
    assert [body["seed"] for body in samples] == [SEED, SEED + 1, SEED + 2]
    assert all("temperature" not in body for body in samples)

    report = json.loads((probing.path / "r.json").read_text())
    metadata = {r["nodeid"].split("::")[1]: r["metadata"] for r in report["results"]}
    assert metadata["test_long_lover"]["verbosity_probe"] == [
        {"name": "window", "score": 0.0, "padded_score": 1.0, "pass": False, "padded_pass": True}
    ]
    assert metadata["test_alternating"]["consistency_probe"] == [
        {"name": "window", "scores": [0.0, 1.0, 0.0], "passes": [False, True, False]}
    ]  # the judge call itself was the first answer (pass); the samples are the next three
    scores = {r["nodeid"].split("::")[1]: r["scores"][0]["value"] for r in report["results"]}
    assert scores == {"test_long_lover": 0.0, "test_alternating": 1.0, "test_stable": 1.0}
    judges = report["judges"]
    assert judges["verbosity"] == {
        "probed": 3,
        "rate": 1 / 3,
        "mean_shift": 1 / 3,
        "raised": [
            {"case": "test_probed.py::test_long_lover", "name": "window", "score": 0.0,
             "padded_score": 1.0}
        ],
    }  # fmt: skip
    assert judges["consistency"]["rate"] == 1 / 3
    assert judges["consistency"]["max_spread"] == 1.0
    assert judges["consistency"]["disagreements"] == [
        {"case": "test_probed.py::test_alternating", "name": "window", "scores": [0.0, 1.0, 0.0]}
    ]
    cassettes = sorted(probing.path.rglob("cassettes/**/*.json"))
    recorded = {path: path.read_bytes() for path in cassettes}

    # the server is gone: the probes' calls replay like any judge call
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    for name in KEYS:
        monkeypatch.delenv(name)
    sent = len(fake_provider.requests)
    offline = probing.runpytest(probes, "--llmeval-record=none")
    offline.assert_outcomes(passed=3)
    offline.stdout.fnmatch_lines(lines)
    assert len(fake_provider.requests) == sent
    assert {path: path.read_bytes() for path in cassettes} == recorded


def test_a_stable_judge_scores_zero_on_both_probes(
    probing: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    result = probing.runpytest("--llmeval-judge-probes=verbosity,consistency", "-k", "stable")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "verbosity probe: 1 judge call(s), padding raised 0% (0), mean score shift +0.000",
            "consistency probe: 1 judge call(s) x 3 samples, samples disagree 0% (0), "
            "score spread mean 0.000, max 0.000",
        ]
    )
    assert len(fake_provider.requests) == 5


def test_the_probes_are_off_by_default_and_the_samples_configurable(
    probing: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    plain = probing.runpytest("-k", "alternating")
    plain.assert_outcomes(passed=1, deselected=2)
    assert "probe:" not in plain.stdout.str()
    assert len(fake_provider.requests) == 1

    fake_provider.clear()
    five = probing.runpytest(
        "-k",
        "alternating",
        "--llmeval-judge-probes=consistency",
        "--llmeval-judge-probe-samples=5",
        "--llmeval-record=all",
    )
    five.assert_outcomes(passed=1, deselected=2)
    five.stdout.fnmatch_lines(
        ["consistency probe: 1 judge call(s) x 5 samples, samples disagree 100% (1), *"]
    )
    assert "verbosity probe" not in five.stdout.str()
    assert len(fake_provider.requests) == 6


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--llmeval-judge-probes=length", "*--llmeval-judge-probes*'length' is not a "
         "comma-separated subset of verbosity,consistency (or none)*"),
        ("--llmeval-judge-probe-samples=1", "*--llmeval-judge-probe-samples*1 must be at "
         "least 2 (one sample cannot disagree)*"),
    ],
)  # fmt: skip
def test_a_bad_probe_option_names_itself(
    pytester_env: pytest.Pytester, option: str, message: str
) -> None:
    pytester_env.makepyfile(test_probed=PROBED)
    result = pytester_env.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


ANTHROPIC_PROBED = """
import pytest

@pytest.mark.llm_eval(threshold=0, judge_model="anthropic:claude-haiku-4-5")
def test_alternating(llm_eval):
    llm_eval.judge("ALTERNATING: 30 days", "Mentions the refund window", name="window")
"""


def test_anthropic_samples_are_identical_requests_replayed_in_order(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Anthropic's API takes no seed: the samples send the same body as the judge call,
    # and the cassette replays them in the order they were recorded
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_provider.anthropic_base_url)
    fake_provider.set_handler(probe_judges(Counter()))
    pytester_env.makepyfile(test_probed=ANTHROPIC_PROBED)
    line = (
        "consistency probe: 1 judge call(s) x 3 samples, samples disagree 100% (1), "
        "score spread mean 1.000, max 1.000"
    )
    recorded = pytester_env.runpytest("--llmeval-judge-probes=consistency")
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines([line, "  samples disagree: * (scores 0.00 1.00 0.00)"])
    bodies = [r.body for r in fake_provider.requests]
    assert len(bodies) == 4 and all(body == bodies[0] for body in bodies)

    monkeypatch.setenv("ANTHROPIC_BASE_URL", closed_port_url())
    for name in KEYS:
        monkeypatch.delenv(name)
    offline = pytester_env.runpytest("--llmeval-judge-probes=consistency", "--llmeval-record=none")
    offline.assert_outcomes(passed=1)
    offline.stdout.fnmatch_lines([line, "  samples disagree: * (scores 0.00 1.00 0.00)"])
    assert len(fake_provider.requests) == 4


def test_padding_adds_no_information_and_doubles_the_length() -> None:
    short = pad("Yes.")
    assert short == f"{PADDING_OPENING}\n\nYes.\n\n{PADDING_SENTENCES[0]}"
    answer = "Refunds are accepted within 30 days of delivery. " * 6
    padded = pad(answer)
    assert padded.startswith(f"{PADDING_OPENING}\n\n{answer}\n\n")
    closing = padded.rsplit("\n\n", 1)[1]
    assert len(padded) >= 2 * len(answer)
    # only the fixed sentences, in their order, repeated
    sentences = re.findall(r"[^.!?]+[.!?]", closing)
    expected = [PADDING_SENTENCES[i % len(PADDING_SENTENCES)] for i in range(len(sentences))]
    assert [s.strip() for s in sentences] == expected
    assert pad(answer) == padded  # deterministic


def test_probe_rates_by_hand() -> None:
    entry = {"name": "n", "pass": False, "padded_pass": False}
    verbosity = verbosity_probes(
        [
            ("a", {**entry, "score": 0.25, "padded_score": 0.75}),
            ("b", {**entry, "score": 0.5, "padded_score": 0.25}),
            ("c", {**entry, "score": 0.5, "padded_score": 0.5, "padded_pass": True}),
            ("d", {**entry, "score": 1.0, "padded_score": 1.0}),
        ]
    )
    assert verbosity is not None
    # raised: a (score up) and c (fail -> pass); shifts +0.5, -0.25, 0, 0: mean 0.0625
    assert [case for case, *_ in verbosity.raised] == ["a", "c"]
    assert verbosity.rate == 0.5 and verbosity.mean_shift == 0.0625
    consistency = consistency_probes(
        [
            ("a", {"name": "n", "scores": [1.0, 0.75, 1.0], "passes": [True, True, True]}),
            ("b", {"name": "n", "scores": [0.0, 1.0, 0.5], "passes": [False, True, True]}),
        ]
    )
    assert consistency is not None
    # only b's verdicts differ; spreads 0.25 and 1.0: mean 0.625, max 1.0
    assert [case for case, *_ in consistency.disagreements] == ["b"]
    assert (consistency.rate, consistency.mean_spread, consistency.max_spread) == (0.5, 0.625, 1.0)
    assert verbosity_probes([]) is None and consistency_probes([]) is None


ASYNC_PROBED = """
import pytest

@pytest.mark.llm_eval(threshold=0)
@pytest.mark.anyio
async def test_async(llm_eval):
    await llm_eval.ajudge("LONG-LOVER: 30 days", "Mentions the refund window", name="long")
    await llm_eval.ajudge("ALTERNATING: 30 days", "Mentions the refund window", name="flaky")
"""


def test_ajudge_is_probed_too(probing: pytest.Pytester, fake_provider: FakeProviderServer) -> None:
    probing.makepyfile(test_probed=ASYNC_PROBED)
    probing.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    # in a subprocess: the SDKs' cached async clients are bound to one event loop
    result = probing.runpytest_subprocess("--llmeval-judge-probes=verbosity,consistency")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "verbosity probe: 2 judge call(s), padding raised 50% (1), mean score shift +0.500",
            "  padding raised: test_probed.py::test_async long (0.00 -> 1.00)",
            "consistency probe: 2 judge call(s) x 3 samples, samples disagree 50% (1), *",
            "  samples disagree: test_probed.py::test_async flaky (scores 0.00 1.00 0.00)",
        ]
    )
    assert len(fake_provider.requests) == 10


def test_under_rejudge_the_probes_ask_the_new_judge(
    probing: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    probing.runpytest("-k", "stable").assert_outcomes(passed=1, deselected=2)
    original = {p: p.read_bytes() for p in probing.path.rglob("cassettes/**/*.json")}
    fake_provider.clear()
    result = probing.runpytest(
        "-k", "stable", "--llmeval-rejudge=openai:gpt-4.1", "--llmeval-judge-probes=consistency"
    )
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["consistency probe: 1 judge call(s) x 3 samples, *"])
    # the re-asked judge call and its 3 samples, all to the new model
    assert [r.body["model"] for r in fake_provider.requests] == ["gpt-4.1"] * 4
    assert {p: p.read_bytes() for p in original} == original
    (rejudged,) = (probing.path / "cassettes").rglob("rejudge-openai-gpt-4.1/**/*.json")
    assert len(json.loads(rejudged.read_text())["interactions"]) == 4
