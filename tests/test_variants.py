"""Variants as a pytest axis: one eval set over three models, through the real SDKs.

Two OpenAI models and one Anthropic model answer the same ten questions against the
fake provider, scripted per model. The comparison is checked by hand: the pairing keys,
each variant against the reference (flips both ways, the exact sign-flip p), the
recommendation (a tie on every case broken by cost, and "none qualifies"), the Pareto
front; and it is the same serial, under -n 2 and merged from two shards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from math import comb
from pathlib import Path
from typing import Any

import pytest

from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec

SUITE = """
import os

import anthropic
import openai
import pytest

URL = os.environ["FAKE_URL"]
QUESTIONS = [f"q{i}" for i in range(1, 11)]
MODELS = [
    {"provider": "openai", "model": "gpt-4.1-mini"},
    {"provider": "openai", "model": "gpt-4.1-nano"},
    {"provider": "anthropic", "model": "claude-haiku-4-5"},
]


def ask(config, question):
    if config["provider"] == "openai":
        client = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0)
        reply = client.chat.completions.create(
            model=config["model"], messages=[{"role": "user", "content": question}]
        )
        return reply.choices[0].message.content
    client = anthropic.Anthropic(base_url=URL, api_key="sk-ant-test", max_retries=0)
    reply = client.messages.create(
        model=config["model"], max_tokens=50, messages=[{"role": "user", "content": question}]
    )
    return reply.content[0].text


@pytest.mark.llm_eval(MARKER)
@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("config", MODELS, ids=lambda config: config["model"])
def test_answers(config, question, llm_eval):
    llm_eval.score("correct", ask(config, question) == "right")
"""

MAIN = "threshold=0.5, min_pass_rate=0.8, variants='config'"

# USD per million tokens (genai-prices' list prices of these models; the fake provider
# is a local host, which genai-prices rightly does not price).
PRICES = """
[pytest]
llmeval_prices =
    openai-compatible:gpt-4.1-mini = 0.40 / 1.60
    openai-compatible:gpt-4.1-nano = 0.10 / 0.40
    anthropic-compatible:claude-haiku-4-5 = 1.00 / 5.00
"""
USAGE = {"input_tokens": 100, "output_tokens": 20}
COST = {  # per call: 100 tokens in, 20 out
    "gpt-4.1-mini": (100 * 0.40 + 20 * 1.60) / 1e6,
    "gpt-4.1-nano": (100 * 0.10 + 20 * 0.40) / 1e6,
    "claude-haiku-4-5": (100 * 1.00 + 20 * 5.00) / 1e6,
}
QUESTIONS = [f"q{i}" for i in range(1, 11)]
#: Which questions each model gets right: the two OpenAI models the same nine, the
#: Anthropic model only the tenth.
RIGHT = {
    "gpt-4.1-mini": set(QUESTIONS[:9]),
    "gpt-4.1-nano": set(QUESTIONS[:9]),
    "claude-haiku-4-5": {"q10"},
}


def scripted(request: RecordedRequest) -> ReplySpec:
    """The models' answers: right or wrong by model and question, 120 tokens each."""
    right = request.last_user_text in RIGHT[request.model]
    return ReplySpec(text="right" if right else "wrong", usage=USAGE)


@pytest.fixture
def suite(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    fake_provider.set_handler(scripted)
    pytester_env.makeini(PRICES)
    pytester_env.makepyfile(test_models=SUITE.replace("MARKER", MAIN))
    return pytester_env


def variants_of(path: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(path.read_text())["variants"]
    return data


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def run_llmeval(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_three_models_paired_compared_and_the_cheapest_good_one_recommended(
    suite: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    result = suite.runpytest_subprocess("--llmeval-report=report.json", "--junitxml=junit.xml")
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["below"]) == (19, 11)
    # every model was asked every question, through its own SDK
    asked = {(r.provider, r.model, r.last_user_text) for r in fake_provider.requests}
    assert len(asked) == 30
    assert {provider for provider, _, _ in asked} == {"openai", "anthropic"}

    # pairing: the variant is the parametrize id, the case the node id without it
    report = json.loads((suite.path / "report.json").read_text())
    tags = {r["nodeid"]: r["variant"] for r in report["results"]}
    assert tags["test_models.py::test_answers[claude-haiku-4-5-q3]"] == {
        "axis": "config",
        "label": "claude-haiku-4-5",
        "index": 2,
        "case": "test_models.py::test_answers[q3]",
        "reference": "gpt-4.1-mini",
    }
    cases = {tag["case"] for tag in tags.values()}
    assert cases == {f"test_models.py::test_answers[{q}]" for q in QUESTIONS}

    [comparison] = report["variants"]
    assert comparison["group"] == "test_models.py::test_answers"
    assert comparison["axis"] == "config"
    assert comparison["reference"] == "gpt-4.1-mini"
    assert (comparison["margin"], comparison["alpha"]) == (0.05, 0.05)
    assert (comparison["threshold"], comparison["min_pass_rate"]) == (0.5, 0.8)
    stats = by_name(comparison["variants"])
    assert list(stats) == ["gpt-4.1-mini", "gpt-4.1-nano", "claude-haiku-4-5"]
    for name, right in RIGHT.items():
        assert stats[name]["n"] == 10
        assert stats[name]["mean"] == pytest.approx(len(right) / 10)
        assert stats[name]["pass_rate"] == pytest.approx(len(right) / 10)
        assert stats[name]["cost_per_case_usd"] == pytest.approx(COST[name], rel=1e-9)
        assert stats[name]["tokens_per_case"] == 120
    assert [stats[n]["meets_bar"] for n in stats] == [True, True, False]
    assert stats["claude-haiku-4-5"]["why_not"] == (
        "mean 0.100 < threshold 0.5; pass rate 10% < min_pass_rate 80%"
    )

    versus = by_name(comparison["versus"])
    # nano answers exactly as mini: nothing changed, nothing to test
    nano = versus["gpt-4.1-nano"]
    assert (nano["pairs"], nano["changed"], nano["mean_diff"]) == (10, 0, 0.0)
    assert (nano["verdict"], nano["p_value"]) == ("no_difference", 1.0)
    assert nano["flipped_to_fail"] == nano["flipped_to_pass"] == []
    assert nano["cost_ratio"] == pytest.approx(COST["gpt-4.1-nano"] / COST["gpt-4.1-mini"])
    # claude: 9 cases flip to fail, 1 to pass; the exact two-sided sign-flip p of 10
    # changed cases, 9 against 1: P(|#up - #down| >= 8) = (1 + 10 + 10 + 1) / 2^10
    claude = versus["claude-haiku-4-5"]
    assert (claude["pairs"], claude["changed"]) == (10, 10)
    assert claude["mean_diff"] == pytest.approx(0.1 - 0.9)
    expected_p = (comb(10, 0) + comb(10, 1) + comb(10, 9) + comb(10, 10)) / 2**10
    assert claude["p_value"] == pytest.approx(expected_p)
    assert claude["adjusted_p"] == pytest.approx(expected_p)  # the only testable one
    assert claude["verdict"] == "worse"
    assert claude["flipped_to_fail"] == [
        f"test_models.py::test_answers[{q}]" for q in sorted(QUESTIONS[:9])
    ]
    assert claude["flipped_to_pass"] == ["test_models.py::test_answers[q10]"]

    # mini and nano tie on every case: the cheaper one is recommended
    assert comparison["best"] == "gpt-4.1-mini"
    assert comparison["recommended"] == "gpt-4.1-nano"
    assert "also qualified: gpt-4.1-mini" in comparison["reason"]
    assert comparison["pareto"] == ["gpt-4.1-nano"]

    # the terminal section
    result.stdout.fnmatch_lines(
        [
            "variants of test_answers (config; reference gpt-4.1-mini, margin 0.05, alpha 0.05):",
            "  variant * n * mean ?95% CI? * pass * cost/case $ * p50/p95 s * vs gpt-4.1-mini",
            "  gpt-4.1-mini * 10 * 0.90 ?0.60, 0.98? * 90% * 0.000072 * reference",
            "  gpt-4.1-nano * 10 * 0.90 ?0.60, 0.98? * 90% * 0.000018 * no difference (p 1.00),"
            " flips -0/+0, cost x0.25, latency x*",
            "  claude-haiku-4-5 * 10 * 0.10 ?0.02, 0.40? * 10% * 0.000200 * no: mean 0.100 < "
            "threshold 0.5; pass rate 10% < min_pass_rate 80%; shortfall up to 1.00 > margin "
            "0.05 * worse (p 0.02),"
            " flips -9/+1, cost x2.78, latency x*",
            "  recommended: gpt-4.1-nano: the cheapest ($1.8e-05/case, mean 0.900) of the "
            "variants that meet the bar and are within 0.05 of the best (gpt-4.1-mini, mean "
            "0.900); also qualified: gpt-4.1-mini",
            "  Pareto front (quality vs cost): gpt-4.1-nano",
        ]
    )

    # JUnit suite properties
    suite_properties = {
        p.get("name"): p.get("value")
        for p in ET.parse(suite.path / "junit.xml").getroot().iter("property")
        if p.get("name", "").startswith("llm_eval.variants.")
    }
    assert suite_properties["llm_eval.variants.test_answers.recommended"] == "gpt-4.1-nano"
    assert suite_properties["llm_eval.variants.test_answers.reference"] == "gpt-4.1-mini"
    assert suite_properties["llm_eval.variants.test_answers.pareto"] == "gpt-4.1-nano"
    assert suite_properties["llm_eval.variants.test_answers.claude-haiku-4-5.verdict"] == "worse"
    assert suite_properties["llm_eval.variants.test_answers.gpt-4.1-nano.mean"] == "0.9"
    assert suite_properties["llm_eval.variants.test_answers.gpt-4.1-mini.cost_per_case_usd"] == (
        f"{COST['gpt-4.1-mini']:.6g}"
    )
    assert "llm_eval.variants.test_answers.gpt-4.1-mini.verdict" not in suite_properties

    # llmeval show prints the same section from the report
    shown = run_llmeval(suite.path, "show", "report.json")
    assert shown.returncode == 0, shown.stderr
    assert "  Pareto front (quality vs cost): gpt-4.1-nano" in shown.stdout
    assert "  recommended: gpt-4.1-nano: the cheapest" in shown.stdout


def test_the_comparison_is_the_same_serial_under_xdist_and_merged_from_shards(
    suite: pytest.Pytester,
) -> None:
    assert suite.runpytest_subprocess("--llmeval-report=serial.json").parseoutcomes()["below"] == 11
    serial = variants_of(suite.path / "serial.json")
    assert serial and serial[0]["recommended"] == "gpt-4.1-nano"
    # replayed from the cassettes the serial run recorded: same answers, same timings
    xdist = suite.runpytest_subprocess("-n", "2", "--llmeval-report=xdist.json")
    assert xdist.parseoutcomes()["below"] == 11
    assert variants_of(suite.path / "xdist.json") == serial
    # two CI shards, each with part of every variant's cases (-k q1 takes q10 too)
    first = suite.runpytest_subprocess("-k", "q1 or q2 or q3", "--llmeval-report=shard1.json")
    second = suite.runpytest_subprocess(
        "-k", "not (q1 or q2 or q3)", "--llmeval-report=shard2.json"
    )
    assert first.parseoutcomes()["passed"] + second.parseoutcomes()["passed"] == 19
    # each shard compares its own four or six cases; the merge compares all ten again
    [shard] = variants_of(suite.path / "shard1.json")
    assert [v["n"] for v in shard["variants"]] == [4, 4, 4]
    merged = run_llmeval(suite.path, "merge", "shard1.json", "shard2.json", "-o", "merged.json")
    assert merged.returncode == 0, merged.stderr
    assert variants_of(suite.path / "merged.json") == serial


def test_repeats_give_each_case_the_mean_of_its_runs(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: dict[tuple[str, str], int] = {}

    def alternating(request: RecordedRequest) -> ReplySpec:
        # nano gets q1 right on its first run only; every other answer as scripted
        key = (request.model, request.last_user_text)
        asked[key] = asked.get(key, 0) + 1
        if key == ("gpt-4.1-nano", "q1"):
            return ReplySpec(text="right" if asked[key] == 1 else "wrong", usage=USAGE)
        return scripted(request)

    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    fake_provider.set_handler(alternating)
    pytester_env.makeini(PRICES)
    source = SUITE.replace("MARKER", "threshold=0.5, variants='config', repeat=2")
    pytester_env.makepyfile(test_models=source)
    result = pytester_env.runpytest_subprocess("--llmeval-report=report.json", "-p", "no:randomly")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] + outcomes["failed"] == 60
    [comparison] = variants_of(pytester_env.path / "report.json")
    stats = by_name(comparison["variants"])
    # n counts cases, not runs; nano's q1 scores (1 + 0) / 2
    assert [s["n"] for s in stats.values()] == [10, 10, 10]
    assert stats["gpt-4.1-nano"]["mean"] == pytest.approx((8 + 0.5) / 10)
    assert stats["gpt-4.1-mini"]["mean"] == pytest.approx(0.9)
    # a case's cost is per run: two calls of a case cost what one does, per run
    assert stats["gpt-4.1-nano"]["cost_per_case_usd"] == pytest.approx(COST["gpt-4.1-nano"])
    nano = by_name(comparison["versus"])["gpt-4.1-nano"]
    # its q1 (mean 0.5, at the threshold) still passes: the score changed, no case flipped
    assert (
        nano["flipped_to_fail"] == []
        and nano["changed"] == 1
        and nano["mean_diff"] == pytest.approx(-0.05)
    )


def test_none_qualifies_says_why_for_each_variant(suite: pytest.Pytester) -> None:
    strict = SUITE.replace("MARKER", "threshold=0.5, min_pass_rate=0.95, variants='config'")
    suite.makepyfile(test_models=strict)
    result = suite.runpytest_subprocess("--llmeval-report=report.json")
    [comparison] = variants_of(suite.path / "report.json")
    assert comparison["recommended"] is None
    assert comparison["reason"] == (
        "none qualifies: gpt-4.1-mini: pass rate 90% < min_pass_rate 95% | "
        "gpt-4.1-nano: pass rate 90% < min_pass_rate 95% | "
        "claude-haiku-4-5: mean 0.100 < threshold 0.5; pass rate 10% < min_pass_rate 95%; "
        "not shown within 0.05 of the best (gpt-4.1-mini): mean 0.100 vs 0.900, upper bound "
        "of the shortfall 1.000"
    )
    result.stdout.fnmatch_lines(["  none qualifies: gpt-4.1-mini: pass rate 90% < *"])


def test_reference_and_margin_are_the_users(suite: pytest.Pytester) -> None:
    chosen = SUITE.replace(
        "MARKER", "threshold=0.5, variants='config', reference='claude-haiku-4-5'"
    )
    suite.makepyfile(test_models=chosen)
    suite.runpytest_subprocess("--llmeval-report=report.json", "--llmeval-variant-margin=0.2")
    [comparison] = variants_of(suite.path / "report.json")
    assert comparison["reference"] == "claude-haiku-4-5"
    assert comparison["margin"] == 0.2
    versus = by_name(comparison["versus"])
    assert set(versus) == {"gpt-4.1-mini", "gpt-4.1-nano"}
    assert versus["gpt-4.1-mini"]["flipped_to_pass"] == [
        f"test_models.py::test_answers[{q}]" for q in sorted(QUESTIONS[:9])
    ]
    assert versus["gpt-4.1-mini"]["verdict"] == "better"


def test_a_reference_that_did_not_run_is_said_not_compared(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-k", "nano", "--llmeval-report=report.json")
    assert result.parseoutcomes() == {"passed": 9, "below": 1, "deselected": 20}
    assert variants_of(suite.path / "report.json") == []
    result.stdout.fnmatch_lines(
        [
            "variants of test_answers (config): not compared, the reference 'gpt-4.1-mini' "
            "did not run (ran: gpt-4.1-nano); run it too, or set reference= to one that ran"
        ]
    )


BAD_MARKERS = {
    "variants='model'": (
        "test_bad.py::test_answers[a]: @pytest.mark.llm_eval(variants='model') names no "
        "parametrize argument of this test (its parametrize arguments: 'case'). Add "
        "@pytest.mark.parametrize('model', [...]) with the variants to the test, or name "
        "the argument that holds them."
    ),
    "variants='case', reference='z'": (
        "test_bad.py::test_answers[a]: @pytest.mark.llm_eval(reference='z') is not one of "
        "the variants of 'case': 'a', 'b' (their parametrize ids); name one of those."
    ),
    "reference='a'": (
        "test_bad.py::test_answers[a]: @pytest.mark.llm_eval(reference='a') names the "
        "variant the others are compared with, but the marker has no variants=; add "
        "variants='<the parametrize argument that holds the variants>', or drop reference=."
    ),
    "variants=['case']": (
        "test_bad.py::test_answers[a]: @pytest.mark.llm_eval(variants=['case']) is invalid; "
        "allowed: None or the name of a parametrize argument of the test whose values are "
        "the variants, e.g. variants='model'."
    ),
}


@pytest.mark.parametrize("arguments", BAD_MARKERS, ids=list(BAD_MARKERS))
def test_a_wrong_variants_marker_is_one_line_at_setup(
    pytester_env: pytest.Pytester, arguments: str
) -> None:
    pytester_env.makepyfile(
        test_bad=f"""
import pytest

@pytest.mark.llm_eval(threshold=0.5, {arguments})
@pytest.mark.parametrize("case", ["a", "b"])
def test_answers(case, llm_eval):
    llm_eval.score("q", 1.0)

def test_other():
    pass
"""
    )
    result = pytester_env.runpytest()
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines([BAD_MARKERS[arguments]])
    assert "Traceback" not in result.stdout.str()


def test_the_reference_is_checked_against_every_variant_even_deselected_ones(
    pytester_env: pytest.Pytester,
) -> None:
    pytester_env.makepyfile(
        test_sel="""
import pytest

@pytest.mark.llm_eval(threshold=0.5, variants="prompt", reference="long")
@pytest.mark.parametrize("prompt", ["short", "long"])
def test_prompts(prompt, llm_eval):
    llm_eval.score("q", 1.0)
"""
    )
    # the reference is deselected: still a valid reference, and no comparison is made
    result = pytester_env.runpytest("-k", "short")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*not compared, the reference 'long' did not run*"])


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_example_recommends_the_cheapest_model_that_is_good_enough(tmp_path: Path) -> None:
    env = {**os.environ, "CI": "true"}  # replay only
    env.pop("OPENAI_API_KEY", None)
    env.pop("ANTHROPIC_API_KEY", None)
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(EXAMPLES / "model_choice"), "-p", "no:randomly",
            f"--llmeval-report={report}",
        ],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [comparison] = variants_of(report)
    stats = by_name(comparison["variants"])
    assert list(stats) == ["gpt-4.1-mini", "gpt-4.1-nano", "claude-haiku-4-5"]
    # nano puts the broken-handle return in the technical queue; the others get all 8
    assert [s["mean"] for s in stats.values()] == [1.0, 0.875, 1.0]
    nano = by_name(comparison["versus"])["gpt-4.1-nano"]
    assert nano["flipped_to_fail"] == [
        "model_choice/test_model_choice.py::test_triages_tickets[broken-handle]"
    ]
    assert not stats["gpt-4.1-nano"]["non_inferior"]
    # mini and claude both qualify; mini is cheaper per ticket, nano cheapest of all
    costs = {name: s["cost_per_case_usd"] for name, s in stats.items()}
    assert costs["gpt-4.1-nano"] < costs["gpt-4.1-mini"] < costs["claude-haiku-4-5"]
    assert comparison["recommended"] == "gpt-4.1-mini"
    assert comparison["pareto"] == ["gpt-4.1-nano", "gpt-4.1-mini"]
    assert "  recommended: gpt-4.1-mini: the cheapest" in done.stdout


def test_a_named_group_compares_the_variants_of_all_its_tests(
    pytester_env: pytest.Pytester,
) -> None:
    # no model calls: the scores alone (a variant without calls costs nothing)
    pytester_env.makepyfile(
        test_prompts="""
import pytest

SCORES = {"short": {"a": 1.0, "b": 0.0}, "long": {"a": 1.0, "b": 1.0}}

@pytest.mark.llm_eval(threshold=0.5, variants="prompt", group="prompts")
@pytest.mark.parametrize("prompt", ["short", "long"])
@pytest.mark.parametrize("case", ["a", "b"])
def test_answers(case, prompt, llm_eval):
    llm_eval.score("q", SCORES[prompt][case])

@pytest.mark.llm_eval(threshold=0.5, variants="prompt", group="prompts")
@pytest.mark.parametrize("prompt", ["short", "long"])
def test_greets(prompt, llm_eval):
    llm_eval.score("q", 1.0)
"""
    )
    result = pytester_env.runpytest("-v", "--llmeval-report=report.json")
    [comparison] = variants_of(pytester_env.path / "report.json")
    assert comparison["group"] == "prompts"
    assert comparison["reference"] == "short"
    versus = by_name(comparison["versus"])["long"]
    # three cases of two tests pair across the prompts; one flips to pass
    assert versus["pairs"] == 3
    assert versus["flipped_to_pass"] == ["test_prompts.py::test_answers[b]"]
    stats = by_name(comparison["variants"])
    assert stats["short"]["mean"] == pytest.approx(2 / 3)
    assert stats["long"]["mean"] == 1.0
    # -v names the flipped cases
    result.stdout.fnmatch_lines(
        [
            "variants of prompts (prompt; reference short, margin 0.05, alpha 0.05):",
            "    long passes where short fails: test_prompts.py::test_answers[b]",
        ]
    )


def test_the_markdown_summary_carries_the_recommendation(suite: pytest.Pytester) -> None:
    """--llmeval-summary-md renders the session's variant comparisons, as `llmeval diff`
    renders a report's."""
    suite.runpytest_subprocess("--llmeval-summary-md=summary.md")
    summary = (suite.path / "summary.md").read_text(encoding="utf-8")
    assert "### Variants" in summary
    [line] = [line for line in summary.splitlines() if "over `config`" in line]
    assert "**recommended `gpt-4.1-nano`**" in line
