"""The eval author's API: keyword-only score options, checks, the case, dataset assertions."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.fakeprovider import FakeProviderServer, RecordedRequest
from tests.test_judges_sdk import schema_of, scripted


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(source)
    return pytester.runpytest(*args)


def test_a_positional_weight_or_threshold_is_refused_naming_the_test(
    pytester_env: pytest.Pytester,
) -> None:
    # score("x", 0.6, 0.9) used to record weight 0.9 without a word
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval
        def test_positional(llm_eval):
            llm_eval.score("x", 0.6, 0.9)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TypeError: test_*.py::test_positional: llm_eval.score('x', 0.6, 0.9): weight and "
            "threshold are keyword-only; write llm_eval.score('x', 0.6, weight=..., threshold=...)"
        ]
    )


def test_weight_and_threshold_by_keyword_still_work(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval
        def test_t(llm_eval):
            llm_eval.score("x", 0.6, weight=2, threshold=0.5)
            assert llm_eval.scores["x"].weight == 2.0
            assert llm_eval.scores["x"].threshold == 0.5
        """,
    )
    result.assert_outcomes(passed=1)


CHECK_TEST = """
import pytest

@pytest.mark.llm_eval(threshold=0.5)
def test_answer(llm_eval):
    llm_eval.score("brevity", 1.0)
    assert llm_eval.check("polite", True) is True
    assert llm_eval.check("mentions_refund", False, reason="no 'refund' in the answer") is False
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["no-xdist", "xdist"])
def test_a_failed_check_fails_the_test_whatever_the_mean(
    pytester_env: pytest.Pytester, xdist: list[str]
) -> None:
    result = run(
        pytester_env,
        CHECK_TEST,
        "--llmeval-report=report.json",
        "--junitxml=out.xml",
        *xdist,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            # the check does not move the mean: brevity alone is 1.0
            "*llm_eval score 1.000 meets the threshold 0.500, but check mentions_refund failed:",
            "*brevity          1.000",
            "*polite           1.000  check passed",
            "*mentions_refund  0.000  check FAILED  reason: no 'refund' in the answer",
        ]
    )
    report = json.loads((pytester_env.path / "report.json").read_text())
    (case,) = report["results"]
    assert case["status"] == "below"
    by_name = {s["name"]: s for s in case["scores"]}
    assert by_name["mentions_refund"] == {
        "check": True,
        "name": "mentions_refund",
        "reason": "no 'refund' in the answer",
        "threshold": 1.0,
        "value": 0.0,
        "weight": 0.0,
    }
    assert by_name["polite"]["check"] is True and by_name["polite"]["value"] == 1.0
    assert "check" not in by_name["brevity"]  # a plain score serialises as before
    properties = {
        p.get("name"): p.get("value")
        for p in ET.parse(pytester_env.path / "out.xml").iter("property")
    }
    assert properties["llm_eval.score.mentions_refund"] == "0"
    assert properties["llm_eval.score.polite"] == "1"
    assert properties["llm_eval.status"] == "below"


def test_checks_that_pass_let_the_mean_decide(pytester_env: pytest.Pytester) -> None:
    # a passed check must not lift a weak score over the threshold
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval(threshold=0.5)
        def test_weak(llm_eval):
            llm_eval.score("quality", 0.2)
            llm_eval.check("format", True)
            llm_eval.check("length", True)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*llm_eval score 0.200 is below the threshold 0.500 (weighted mean of 1 score):"]
    )


def test_several_misses_are_named_with_the_right_grammar(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest
        from pytest_llmeval import scorers

        @pytest.mark.llm_eval(threshold=0.1)
        def test_t(llm_eval):
            llm_eval.score("relevance", 0.4, threshold=0.8)
            llm_eval.score("faithfulness", 0.6, threshold=0.8)
            llm_eval.check("a", scorers.contains("hello", "bye"))
            llm_eval.check("b", 0.5)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*but checks a, b failed and relevance, faithfulness missed their own thresholds:",
        ]
    )


def test_a_check_refuses_what_is_not_a_verdict(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
        import pytest

        @pytest.mark.llm_eval
        def test_t(llm_eval):
            llm_eval.check("c", "yes")
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*TypeError: llm_eval.check('c') passed must be a bool or a number from 0 to 1, got str*"]
    )


# -- the case: state the material once ---------------------------------------------------

RAG_CASES = (
    '{"id": "capital", "input": "Capital of France?", "expected": "REF-Paris", '
    '"context": ["Paris is the capital of France.", "Lyon is in the south-east."]}\n'
)

RAG_SUITE = """
import pytest
from pytest_llmeval import load_cases
from pytest_llmeval.judges import Correctness, Faithfulness, Relevance

pytestmark = pytest.mark.llm_eval(
    threshold=0.5, judge_model="openai:gpt-4.1-mini", judge_scale="0-10"
)

@pytest.mark.parametrize("case", load_cases("rag.jsonl"))
def test_rag(case, llm_eval):
    answer = "PASS-ME Paris is the capital."
    llm_eval.case(case, output=answer)
    faithful = llm_eval.judge(Faithfulness())
    relevant = llm_eval.judge(Relevance())
    correct = llm_eval.judge(Correctness())
    polite = llm_eval.judge("Polite", scale="binary")
    other = llm_eval.judge("FAIL-ME other text", "Polite", input="Something else?")
    assert [v.raw_score for v in (faithful, relevant, correct, polite, other)] == [10, 10, 10, 1, 0]
    assert list(llm_eval.scores) == [
        "faithfulness", "relevance", "correctness", "rubric:polite", "rubric:polite-2"
    ]

@pytest.mark.anyio
@pytest.mark.parametrize("case", load_cases("rag.jsonl"))
async def test_rag_async(case, llm_eval):
    llm_eval.case(case, output="PASS-ME async answer")
    verdict = await llm_eval.ajudge(Faithfulness())
    assert verdict.raw_score == 10
"""


@pytest.fixture
def judged(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-authoring")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    fake_provider.set_handler(scripted)
    return pytester_env


def judged_text(request: RecordedRequest) -> str:
    return json.dumps(request.body["messages"], ensure_ascii=False)


def test_judges_default_to_the_case_and_the_marker_scale(
    judged: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    judged.makefile(".jsonl", rag=RAG_CASES)
    judged.makepyfile(RAG_SUITE)
    judged.runpytest().assert_outcomes(passed=2)  # in file order: sync, then async
    faithful, relevant, correct, polite, other, async_faithful = fake_provider.requests
    assert "PASS-ME async answer" in judged_text(async_faithful)
    assert "Lyon is in the south-east." in judged_text(async_faithful)
    assert schema_of(async_faithful.body)["properties"]["score"]["enum"] == list(range(11))
    for request in (faithful, relevant, correct, polite):
        assert "PASS-ME Paris is the capital." in judged_text(request)
    # the marker's judge_scale, unless the call gives its own
    for request in (faithful, relevant, correct, other):
        assert schema_of(request.body)["properties"]["score"]["enum"] == list(range(11))
    assert schema_of(polite.body)["properties"]["score"]["enum"] == [0, 1]
    # each kind got the material it reads from the case
    assert "Paris is the capital of France." in judged_text(faithful)
    assert "Lyon is in the south-east." in judged_text(faithful)
    assert "Capital of France?" in judged_text(relevant)
    assert "REF-Paris" in judged_text(correct)
    # what a call passes wins over the case
    assert "Something else?" in judged_text(other)
    assert "Capital of France?" not in judged_text(other)
    assert "FAIL-ME other text" in judged_text(other)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'llm_eval.judge("Polite")',
            "*TypeError: test_*.py::test_t: llm_eval.judge() needs criteria (a rubric string "
            "or a judge kind), e.g. llm_eval.judge(answer, 'Polite and correct')",
        ),
        (
            'llm_eval.case(input="q")\n    llm_eval.judge(criteria="Polite")',
            "*TypeError: test_*.py::test_t: llm_eval.judge() has no output to judge: pass it, "
            "llm_eval.judge(answer, criteria), or set it once with llm_eval.case(output=answer)",
        ),
        (
            'llm_eval.case({"input": "q"}, output="a")',
            "*TypeError: test_*.py::test_t: llm_eval.case() takes a loaded Case (from "
            "load_cases) as its only positional argument, got dict*",
        ),
        (
            'llm_eval.case(output="a", context=[1, 2])',
            "*TypeError: test_*.py::test_t: llm_eval.case(): context must be a str or a list "
            "of str passages, got list",
        ),
    ],
    ids=["no-criteria", "no-output", "not-a-case", "bad-context"],
)
def test_a_judge_call_without_its_material_says_what_to_pass(
    pytester_env: pytest.Pytester, body: str, message: str
) -> None:
    result = run(
        pytester_env,
        f"""
import pytest

@pytest.mark.llm_eval
def test_t(llm_eval):
    {body}
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])


def test_case_material_from_a_loaded_case(pytester_env: pytest.Pytester) -> None:
    pytester_env.makefile(
        ".jsonl",
        cases='{"id": "a", "input": {"q": "hi"}, "expected": ["x", "y"], "context": "C"}\n',
    )
    result = run(
        pytester_env,
        """
import pytest
from pytest_llmeval import load_cases

@pytest.mark.llm_eval
@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_t(case, llm_eval):
    material = llm_eval.case(case, output="out")
    assert (material.input, material.output, material.context, material.reference) == (
        '{"q": "hi"}', "out", "C", '["x", "y"]'
    )
    assert material.case is case and llm_eval.current_case is material
    again = llm_eval.case(case, output="second", reference="R")
    assert (again.output, again.reference, again.input) == ("second", "R", '{"q": "hi"}')
""",
    )
    result.assert_outcomes(passed=1)


def test_a_bad_judge_scale_on_the_marker_is_refused(pytester_env: pytest.Pytester) -> None:
    result = run(
        pytester_env,
        """
import pytest

@pytest.mark.llm_eval(judge_scale="1-10")
def test_t(llm_eval):
    pass
""",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_t: @pytest.mark.llm_eval(judge_scale='1-10') is invalid; allowed: None, "
            "'binary', '1-5' or '0-10' (the scale of judge calls that give none).*"
        ]
    )


# -- assertions from the dataset -----------------------------------------------------------

ASSERTED_CASES = """\
{"id": "refund", "input": "Can I get a refund?", "assert": [{"type": "icontains", "value": "REFUND"}, {"type": "not-contains", "value": "sorry"}, {"type": "regex", "value": "\\\\d+ days"}]}
{"id": "json", "input": "as json", "assert": [{"type": "is-json"}, {"type": "json-schema", "value": {"type": "object", "required": ["days"], "properties": {"days": {"type": "integer"}}}}, {"type": "equals", "value": {"days": 30}, "name": "exact-json"}]}
{"id": "bad", "input": "be rude", "assert": [{"type": "contains", "value": "refund"}, {"type": "icontains", "value": "sorry", "name": "apology"}, {"type": "contains", "value": "policy", "weight": 1}]}
"""

ASSERTED_SUITE = """
import pytest
from pytest_llmeval import load_cases

ANSWERS = {
    "Can I get a refund?": "Yes: refunds within 30 days.",
    "as json": '{"days": 30}',
    "be rude": "Sorry, no.",
}

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("case", load_cases("asserted.jsonl"))
def test_app(case, llm_eval):
    llm_eval.case(case, output=ANSWERS[case.input])
    results = llm_eval.run_checks()
    assert "assert" not in case.metadata
    print("RESULTS", case.id, sorted(results.items()))
"""


def test_run_checks_applies_the_rows_assertions_as_named_checks(
    pytester_env: pytest.Pytester,
) -> None:
    pytester_env.makefile(".jsonl", asserted=ASSERTED_CASES)
    result = run(pytester_env, ASSERTED_SUITE, "-s", "--llmeval-report=report.json")
    result.assert_outcomes(passed=2, failed=1)
    printed = result.stdout.str()  # fnmatch would read the brackets as a set
    for line in (
        "RESULTS refund [('icontains', True), ('not-contains', True), ('regex', True)]",
        "RESULTS json [('exact-json', True), ('is-json', True), ('json-schema', True)]",
        "RESULTS bad [('apology', True), ('contains', False), ('contains-2', False)]",
    ):
        assert line in printed
    result.stdout.fnmatch_lines(
        [
            "*llm_eval score 0.000 is below the threshold 0.500 (weighted mean of 1 score):",
            "*contains    0.000  check FAILED  reason: contains: no 'refund' in the output",
            "*apology     1.000  check passed  reason: icontains: found 'sorry' in the output*",
            "*contains-2  0.000  reason: contains: no 'policy' in the output",
        ]
    )
    report = json.loads((pytester_env.path / "report.json").read_text())
    bad = next(r for r in report["results"] if r["case_id"].endswith("[bad]"))
    assert [(s["name"], s.get("check"), s["value"]) for s in bad["scores"]] == [
        ("contains", True, 0.0),
        ("apology", True, 1.0),
        ("contains-2", None, 0.0),
    ]


def test_a_schema_breach_and_a_non_json_output_say_why(pytester_env: pytest.Pytester) -> None:
    pytester_env.makefile(
        ".jsonl",
        cases='{"id": "j", "input": "x", "assert": [{"type": "json-schema", "value": '
        '{"type": "object", "required": ["days"]}}, {"type": "is-json", "name": "parses"}]}\n',
    )
    result = run(
        pytester_env,
        """
import pytest
from pytest_llmeval import load_cases

@pytest.mark.llm_eval
@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_t(case, llm_eval):
    llm_eval.case(case)
    assert llm_eval.run_checks('{"weeks": 4}') == {"json-schema": False, "parses": True}
    llm_eval.case(case)
    with pytest.raises(ValueError, match="already recorded"):
        llm_eval.run_checks("not json")
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*json-schema  0.000  check FAILED  reason: json-schema: the output breaks the "
            "schema at (root): 'days' is a required property"
        ]
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            '{"id": "a", "input": "x", "assert": [{"type": "contain", "value": "y"}]}',
            "*cases.jsonl, line 1: assertion 1: unknown type 'contain'; supported: contains, "
            "icontains, regex, equals, not-contains, *",
        ),
        (
            '{"id": "a", "input": "x", "assert": [{"type": "regex", "value": "("}]}',
            "*cases.jsonl, line 1: assertion 1: regex '(' does not compile: *",
        ),
        (
            '{"id": "a", "input": "x", "assert": {"type": "contains"}}',
            "*cases.jsonl, line 1: 'assert' must be a list of assertions, got dict*",
        ),
        (
            '{"id": "a", "input": "x", "assert": [{"type": "cost", "value": 0}]}',
            "*cases.jsonl, line 1: assertion 1: cost needs a 'value' in US dollars > 0, got 0*",
        ),
        (
            '{"id": "a", "input": "x", "assert": [{"type": "contains", "value": "y", '
            '"threshold": 1}]}',
            "*cases.jsonl, line 1: assertion 1: unknown key threshold (allowed: name, type, "
            "value, weight)*",
        ),
        (
            '{"id": "a", "input": "x", "assert": [{"type": "is-json", "name": "n"}, '
            '{"type": "is-json", "name": "n"}]}',
            "*cases.jsonl, line 1: assertion 2: the name 'n' is used twice in this case*",
        ),
    ],
    ids=["unknown-type", "bad-regex", "not-a-list", "bad-cost", "bad-key", "twice"],
)
def test_load_cases_refuses_a_bad_assertion_naming_the_file_and_case(
    pytester_env: pytest.Pytester, row: str, message: str
) -> None:
    pytester_env.makefile(".jsonl", cases=row + "\n")
    result = run(
        pytester_env,
        """
import pytest
from pytest_llmeval import load_cases

@pytest.mark.llm_eval
@pytest.mark.parametrize("case", load_cases("cases.jsonl"))
def test_t(case, llm_eval):
    pass
""",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_run_checks_without_a_loaded_case_says_how_to_set_it(
    pytester_env: pytest.Pytester,
) -> None:
    result = run(
        pytester_env,
        """
import pytest

@pytest.mark.llm_eval
def test_t(llm_eval):
    llm_eval.case(output="x")
    llm_eval.run_checks()
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TypeError: test_*.py::test_t: llm_eval.run_checks() applies a loaded case's "
            "assertions: set the case first, llm_eval.case(case, output=answer)"
        ]
    )


COST_CASES = """\
{"id": "cheap-limit", "input": "gpt-4o-mini", "assert": [{"type": "cost", "value": 0.0001}, {"type": "latency", "value": 60}]}
{"id": "ample-limit", "input": "gpt-4o-mini", "assert": [{"type": "cost", "value": 5}]}
{"id": "unpriced", "input": "model-nobody-prices", "assert": [{"type": "cost", "value": 5}]}
"""

COST_SUITE = """
import os
import openai
import pytest
from pytest_llmeval import load_cases

@pytest.mark.llm_eval
@pytest.mark.parametrize("case", load_cases("costs.jsonl"))
def test_app(case, llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(
        model=case.input, messages=[{"role": "user", "content": "hello"}]
    )
    llm_eval.case(case, output=reply.choices[0].message.content or "")
    llm_eval.run_checks()
"""


def test_cost_and_latency_assertions_read_the_apps_calls(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    # a dozen tokens at $1000 per million: about $0.01 a call
    pytester_env.makeini("[pytest]\nllmeval_prices = gpt-4o-mini = 1000 / 1000\n")
    pytester_env.makefile(".jsonl", costs=COST_CASES)
    result = run(pytester_env, COST_SUITE, "-p", "no:warnings")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_app?cheap-limit?*",
            "*cost     0.000  check FAILED  reason: cost: the app's calls cost $0.0* (limit "
            "$0.0001)",
            "*latency  1.000  check passed  reason: latency: the slowest app call took * s "
            "(limit 60 s)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*test_app?unpriced?*",
            "*cost  0.000  check FAILED  reason: cost: cannot be evaluated: an app call has "
            "no price",
        ]
    )
