"""JUnit XML properties: the pure builders, and pytest's --junitxml output as users see it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from junitparser import xunit2

from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.baseline import baseline_from_aggregate
from pytest_llmeval.records.comparison import compare_to_baseline
from pytest_llmeval.records.models import EvalResult, Inference, Score
from pytest_llmeval.reporting import junit

NODE = "tests/test_bot.py::test_answers[a]"


def result(score: float = 0.85, inferences: list[Inference] | None = None) -> EvalResult:
    return EvalResult(
        nodeid=NODE,
        case_id=NODE,
        group="tests/test_bot.py::test_answers",
        threshold=0.8,
        aggregate="mean",
        scores=[Score(name="polite", value=1.0), Score(name="correct", value=0.7)],
        score=score,
        status="passed" if score >= 0.8 else "below",
        inferences=inferences or [],
    )


def call(role: str, model: str | None, **usage: float | int | bool | None) -> Inference:
    return Inference(nodeid=NODE, role=role, provider="openai", model=model, **usage)  # type: ignore[arg-type]


def test_testcase_properties_without_calls() -> None:
    assert junit.testcase_properties(result()) == [
        ("llm_eval.score", "0.85"),
        ("llm_eval.threshold", "0.8"),
        ("llm_eval.status", "passed"),
        ("llm_eval.score.polite", "1"),
        ("llm_eval.score.correct", "0.7"),
    ]


def test_test_cases_share_their_property_strings() -> None:
    # pytest keeps every test case's properties to the session's end: one copy of each
    calls = [call("app", "gpt-4.1-mini", input_tokens=100, output_tokens=20, latency_s=0.4)]
    first = junit.testcase_properties(result(0.85, calls))
    second = junit.testcase_properties(result(0.85, [c.model_copy() for c in calls]))
    assert first == second and len(first) == 9
    assert all(a[0] is b[0] and a[1] is b[1] for a, b in zip(first, second, strict=True))


def test_testcase_properties_with_calls() -> None:
    inferences = [
        call(
            "app",
            "gpt-4.1-mini",
            input_tokens=100,
            output_tokens=20,
            cost_usd=0.00012,
            priced=True,
            latency_s=0.4,
        ),
        call("app", "gpt-4.1", input_tokens=50, output_tokens=None, cost_usd=None, latency_s=1.25),
        call(
            "judge",
            "claude-sonnet-4-5",
            input_tokens=300,
            output_tokens=40,
            cost_usd=0.003,
            priced=True,
        ),
    ]
    properties = dict(junit.testcase_properties(result(0.5, inferences)))
    assert properties["llm_eval.status"] == "below"
    assert properties["llm_eval.cost_usd"] == "0.00312"
    assert properties["llm_eval.latency_s"] == "1.25"  # the slowest call
    assert properties["llm_eval.input_tokens"] == "450"
    assert properties["llm_eval.output_tokens"] == "60"
    assert properties["llm_eval.model"] == "openai:gpt-4.1,openai:gpt-4.1-mini"  # app only


def test_a_skipped_result_has_no_score_property() -> None:
    skipped = result().model_copy(update={"score": None, "status": "skipped", "scores": []})
    assert junit.testcase_properties(skipped) == [
        ("llm_eval.threshold", "0.8"),
        ("llm_eval.status", "skipped"),
    ]


def test_suite_properties_with_a_comparison() -> None:
    old = [
        result(1.0).model_copy(update={"nodeid": f"{NODE}{i}", "case_id": f"{NODE}{i}"})
        for i in range(5)
    ]
    new = [r.model_copy(update={"score": 0.0, "status": "below"}) for r in old]
    comparison = compare_to_baseline(
        aggregate_session(new), baseline_from_aggregate(aggregate_session(old))
    )
    properties = junit.suite_properties(aggregate_session(new), comparison)
    assert properties == [
        ("llm_eval.cases", "5"),
        ("llm_eval.passed", "0"),
        ("llm_eval.below", "5"),
        ("llm_eval.failed", "0"),
        ("llm_eval.mean", "0"),
        ("llm_eval.pass_rate", "0"),
        ("llm_eval.regression", "true"),
        ("llm_eval.group.test_answers.n", "5"),
        ("llm_eval.group.test_answers.mean", "0"),
        ("llm_eval.group.test_answers.ci_low", "0"),
        # every score 0: the Wilson interval of 0 of 5, (0, 0.4345)
        ("llm_eval.group.test_answers.ci_high", "0.434482"),
        ("llm_eval.group.test_answers.pass_rate", "0"),
        ("llm_eval.group.test_answers.delta", "-1"),
        ("llm_eval.group.test_answers.p_value", "0.03125"),
        ("llm_eval.group.test_answers.regressed", "true"),
    ]


CONTROLS = "".join(
    chr(code) for code in [*range(0x20), 0x7F, 0x85, 0x9B, 0xD800, 0xFFFE, 0x2028, 0x202E]
)


def test_property_names_and_values_carry_control_characters_escaped() -> None:
    """pytest escapes property values but writes names raw: every name and value the
    builders return holds no control character, so the XML is well-formed."""
    named = result(0.5, [call("app", "m" + CONTROLS, latency_s=0.1)]).model_copy(
        update={
            "group": "g" + CONTROLS,
            "scores": [Score(name="s" + CONTROLS, value=0.5)],
        }
    )
    aggregate = aggregate_session([named])
    properties = junit.testcase_properties(named) + junit.suite_properties(aggregate)
    escaped = "\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\t\\n\\x0b\\x0c\\r\\x0e"
    assert any(n.startswith("llm_eval.score.s" + escaped) and v == "0.5" for n, v in properties)
    assert any(n == "llm_eval.model" and v.startswith("openai:m" + escaped) for n, v in properties)
    assert any(name.startswith("llm_eval.group.g" + escaped) for name, _ in properties)
    for name, value in properties:
        assert not set(name + value) & set(CONTROLS), (name, value)
    element = ET.Element("properties")
    for name, value in properties:
        ET.SubElement(element, "property", name=name, value=value)
    ET.fromstring(ET.tostring(element, encoding="unicode"))


def test_suite_properties_go_to_pytests_junit_writer() -> None:
    class LogXML:
        def __init__(self) -> None:
            self.global_properties: list[tuple[str, str]] = []

        def add_global_property(self, name: str, value: object) -> None:
            self.global_properties.append((name, str(value)))

    writer = LogXML()
    assert junit.add_suite_properties([object(), writer], [("llm_eval.cases", "3")])
    assert writer.global_properties == [("llm_eval.cases", "3")]
    assert not junit.add_suite_properties([object()], [("llm_eval.cases", "3")])


SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("case", ["a", "b"])
def test_answers(case, llm_eval):
    llm_eval.score("quality", 1.0 if case == "a" else 0.75)

def test_plain():
    pass
"""


def _parse(path: Path) -> tuple[dict[str, list[tuple[str, str]]], list[tuple[str, str]]]:
    """Per test case and suite properties, read the way a junitparser user reads them."""
    xml = xunit2.JUnitXml.fromfile(str(path))
    suite: Any
    [suite] = list(xml)
    # xunit2.TestCase (what xunit2 suites yield) reads <properties> inside <testcase>.
    cases: list[Any] = list(suite)
    by_name = {case.name: [(p.name, p.value) for p in case.properties()] for case in cases}
    return by_name, [(p.name, p.value) for p in suite.properties()]


@pytest.mark.parametrize(
    ("family", "xdist_args"),
    [("xunit1", []), ("xunit2", []), ("xunit2", ["-n", "2"])],
    ids=["xunit1", "xunit2", "xunit2-xdist"],
)
def test_junitxml_carries_testcase_and_suite_properties(
    pytester_env: pytest.Pytester, family: str, xdist_args: list[str]
) -> None:
    pytester_env.makepyfile(test_suite=SUITE)
    run = pytester_env.runpytest_subprocess if xdist_args else pytester_env.runpytest
    result = run("--junitxml=out.xml", "-o", f"junit_family={family}", *xdist_args)
    result.assert_outcomes(passed=3)
    cases, suite = _parse(pytester_env.path / "out.xml")
    assert cases["test_answers[a]"] == [
        ("llm_eval.score", "1"),
        ("llm_eval.threshold", "0.5"),
        ("llm_eval.status", "passed"),
        ("llm_eval.score.quality", "1"),
    ]
    assert ("llm_eval.score", "0.75") in cases["test_answers[b]"]
    assert cases["test_plain"] == []
    assert suite[:6] == [
        ("llm_eval.cases", "2"),
        ("llm_eval.passed", "2"),
        ("llm_eval.below", "0"),
        ("llm_eval.failed", "0"),
        ("llm_eval.mean", "0.875"),
        ("llm_eval.pass_rate", "1"),
    ]
    assert ("llm_eval.group.test_answers.mean", "0.875") in suite
    # pytest writes testcase <properties> for every family; xunit2's schema
    # (junit-10.xsd) has no place for them there, but the suite's properties are valid.
    root = ET.parse(pytester_env.path / "out.xml").getroot()
    testsuite = root.find("testsuite")
    assert testsuite is not None and testsuite[0].tag == "properties"


def test_junitxml_suite_reports_the_regression_verdict(
    pytester_env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester_env.makepyfile(
        test_suite="""
        import os, pytest

        @pytest.mark.llm_eval(threshold=0.5)
        @pytest.mark.parametrize("case", range(6))
        def test_answers(case, llm_eval):
            llm_eval.score("quality", float(os.environ.get("SCORE", "1.0")))
        """
    )
    pytester_env.runpytest("--llmeval-update-baseline").assert_outcomes(passed=6)
    assert (pytester_env.path / "llmeval-baseline.json").exists()
    monkeypatch.setenv("SCORE", "0.0")
    result = pytester_env.runpytest("--junitxml=out.xml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    _, suite = _parse(pytester_env.path / "out.xml")
    assert ("llm_eval.regression", "true") in suite
    assert ("llm_eval.group.test_answers.delta", "-1") in suite
    assert ("llm_eval.group.test_answers.p_value", "0.015625") in suite
