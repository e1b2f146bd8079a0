"""`llmeval label`: a JSONL trace becomes a labelling file that calibration takes.

A real pytester run through the openai SDK against the fake provider writes a trace
(app calls, a faithfulness judge, a sampled rubric judge, the verbosity probe's padded
calls and a pairwise comparison); the command turns its judged outputs into rows, one
per output and criteria; a person's labels are filled in; `llm_eval.calibrate()` over
the file sends the very requests the original judge calls sent, and its kappa matches
a hand computation. Bad input gets one line naming the file; no secret is written.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.judges.readback import read_judge_prompt, read_judge_reply
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec
from tests.test_judges_sdk import KEYS, schema_of

SUITE = """
import openai
import pytest
from pytest_llmeval.judges import Faithfulness

POLICY = ["Refunds are accepted within 30 days.", "Shipping is free over 50 euros."]

def app(question):
    reply = openai.OpenAI().chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": question}]
    )
    return reply.choices[0].message.content

@pytest.mark.llm_eval(threshold=0)
@pytest.mark.parametrize("question", ["refund", "shipping", "warranty"])
def test_support(question, llm_eval):
    answer = app(question)
    llm_eval.judge(answer, Faithfulness(), input=question, context=POLICY, name="faithful")
    llm_eval.judge(answer, "Polite", input=question, samples=3, name="polite")

@pytest.mark.llm_eval(threshold=0)
def test_pair(llm_eval):
    llm_eval.compare("first answer", "second answer", "More helpful")
"""

ANSWERS = {
    "refund": "Refunds are accepted within 30 days.",
    "shipping": "Shipping is free over 20 euros.",
    "warranty": "Every product has a lifetime warranty.",
}

_NUMBER = re.compile(r"\d+")


def fenced(text: str, label: str) -> str | None:
    found = re.search(rf"<{label}-([0-9a-f]{{16}})>\n(.*?)\n</{label}-\1>", text, re.DOTALL)
    return None if found is None else found.group(2)


def support(request: RecordedRequest) -> ReplySpec:
    """The app answers from ANSWERS; the faithfulness judge only checks the answer's
    numbers against the context (so it misses the invented warranty); the rubric and
    pairwise judges always pass and prefer A."""
    body = request.body
    if "response_format" not in body:
        return ReplySpec(text=ANSWERS[body["messages"][-1]["content"]])
    properties = schema_of(body)["properties"]
    if "winner" in properties:
        return ReplySpec(json={"reasoning": "A is fine", "winner": "A"})
    context = fenced(request.text, "context")
    output = fenced(request.text, "output") or ""
    if context is None:
        return ReplySpec(json={"reasoning": "polite enough", "score": 1})
    unknown = sorted(set(_NUMBER.findall(output)) - set(_NUMBER.findall(context)))
    reasoning = f"not in the context: {', '.join(unknown)}" if unknown else "numbers match"
    return ReplySpec(json={"reasoning": reasoning, "score": 0 if unknown else 1})


def llmeval(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def traced(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    for name in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    fake_provider.set_handler(support)
    pytester_env.makepyfile(test_app=SUITE)
    result = pytester_env.runpytest(
        "--llmeval-trace=trace.jsonl", "--llmeval-judge-probes=verbosity"
    )
    result.assert_outcomes(passed=4)
    return pytester_env


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_trace_becomes_a_labelling_file_that_calibration_takes(
    traced: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    judged = [
        r
        for r in fake_provider.requests
        if "response_format" in r.body and fenced(r.text, "context") is not None
    ]
    originals = [r.body["messages"] for r in judged if "Here is my answer" not in r.text]
    assert len(originals) == 3  # the faithfulness calls, without their padded probes

    done = llmeval(traced.path, "label", "trace.jsonl", "-o", "labels.jsonl")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "wrote 6 row(s) to label from 3 test case(s) to labels.jsonl; fill in each "
        '"label" (pass or fail, or a grade), then calibrate with load_cases'
    ]
    rows = rows_of(traced.path / "labels.jsonl")
    # 3 answers x 2 criteria; the 3 samples of "polite", the padded answers and the
    # comparison are no rows of their own
    assert [(row["id"], row["judge_kind"], row["criteria"]) for row in rows] == [
        ("test_app.py-test_support-refund", "faithfulness", None),
        ("test_app.py-test_support-refund-2", "rubric", "Polite"),
        ("test_app.py-test_support-shipping", "faithfulness", None),
        ("test_app.py-test_support-shipping-2", "rubric", "Polite"),
        ("test_app.py-test_support-warranty", "faithfulness", None),
        ("test_app.py-test_support-warranty-2", "rubric", "Polite"),
    ]
    shipping = rows[2]
    assert shipping == {
        "id": "test_app.py-test_support-shipping",
        "source": "test_app.py::test_support[shipping]",
        "input": "shipping",
        "output": "Shipping is free over 20 euros.",
        "context": ["Refunds are accepted within 30 days.", "Shipping is free over 50 euros."],
        "reference": None,
        "criteria": None,
        "judge_kind": "faithfulness",
        "judge_score": 0,
        "judge_reason": "not in the context: 20",
        "label": "",
    }

    # a person labels the faithfulness rows: the invented warranty fails
    human = {"refund": "pass", "shipping": "fail", "warranty": "fail"}
    for row in rows:
        row["label"] = human[row["input"]] if row["judge_kind"] == "faithfulness" else "pass"
    (traced.path / "labels.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
    )
    traced.makepyfile(
        test_app="",
        test_calibrate="""
import pytest
from pytest_llmeval import load_cases
from pytest_llmeval.judges import Faithfulness

CASES = [c for c in load_cases("labels.jsonl") if c.metadata["judge_kind"] == "faithfulness"]

@pytest.mark.llm_eval(threshold=0)
def test_calibrate(llm_eval):
    agreement = llm_eval.calibrate(Faithfulness(), CASES)
    print("KAPPA", round(agreement.kappa, 6), agreement.matrix)
""",
    )
    fake_provider.clear()
    calibrated = traced.runpytest("-s")
    calibrated.assert_outcomes(passed=1)
    # human (pass, fail, fail), judge (pass, fail, pass): matrix [[1, 1], [0, 1]];
    # p_o = 2/3, p_e = (2*1 + 1*2)/9 = 4/9, kappa = (2/9)/(5/9) = 0.4
    calibrated.stdout.fnmatch_lines(["*KAPPA 0.4 ((1, 1), (0, 1))*"])
    # the calibration asked the judge exactly what the traced run asked it
    assert [r.body["messages"] for r in fake_provider.requests] == originals


def test_the_label_file_is_not_overwritten_and_bad_traces_name_the_line(
    traced: pytest.Pytester,
) -> None:
    assert llmeval(traced.path, "label", "trace.jsonl", "-o", "labels.jsonl").returncode == 0
    before = (traced.path / "labels.jsonl").read_bytes()
    again = llmeval(traced.path, "label", "trace.jsonl", "-o", "labels.jsonl")
    assert again.returncode == 2
    assert again.stderr.splitlines() == [
        "llmeval label: error: labels.jsonl: already exists (it may hold labels); give "
        "another path, or --force to overwrite it"
    ]
    assert (traced.path / "labels.jsonl").read_bytes() == before
    assert (
        llmeval(traced.path, "label", "trace.jsonl", "-o", "labels.jsonl", "--force").returncode
        == 0
    )

    missing = llmeval(traced.path, "label", "nothing.jsonl", "-o", "x.jsonl")
    assert (missing.returncode, missing.stderr.strip()) == (
        2, "llmeval label: error: nothing.jsonl: no such trace file"
    )  # fmt: skip
    lines = (traced.path / "trace.jsonl").read_text(encoding="utf-8").splitlines()
    (traced.path / "corrupt.jsonl").write_text(lines[0] + "\n{not json\n", encoding="utf-8")
    corrupt = llmeval(traced.path, "label", "corrupt.jsonl", "-o", "x.jsonl")
    assert corrupt.returncode == 2
    assert corrupt.stderr.startswith("llmeval label: error: corrupt.jsonl, line 2: not JSON")
    newer = json.dumps({**json.loads(lines[0]), "schema_version": 99})
    (traced.path / "newer.jsonl").write_text(newer + "\n", encoding="utf-8")
    refused = llmeval(traced.path, "label", "newer.jsonl", "-o", "x.jsonl")
    assert refused.stderr.strip() == (
        "llmeval label: error: newer.jsonl, line 1: trace schema_version 99 is newer than "
        "this llmeval reads (1); upgrade pytest-llm-eval"
    )
    app_only = [line for line in lines if json.loads(line)["role"] == "app"]
    (traced.path / "app.jsonl").write_text("\n".join(app_only) + "\n", encoding="utf-8")
    empty = llmeval(traced.path, "label", "app.jsonl", "-o", "x.jsonl")
    assert empty.returncode == 2 and "no judge call of the trace judged a single output" in (
        empty.stderr
    )
    assert not (traced.path / "x.jsonl").exists()


def test_no_secret_reaches_the_labelling_file(traced: pytest.Pytester) -> None:
    # a trace line carrying secrets (as a trace from elsewhere might): the writer's
    # built-in patterns and --redact take them out of every field
    lines = (traced.path / "trace.jsonl").read_text(encoding="utf-8").splitlines()
    record = next(json.loads(line) for line in lines if "faithful" in line or "context" in line)
    key, own = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0", "ACME-7731-SECRET"
    record["input_text"] = record["input_text"].replace("Refunds are", f"{key} {own} Refunds are")
    record["output_text"] = json.dumps({"reasoning": f"saw {key}", "score": 1})
    (traced.path / "secret.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    done = llmeval(
        traced.path, "label", "secret.jsonl", "-o", "labels.jsonl", "--redact", r"ACME-\d+-SECRET"
    )
    assert done.returncode == 0, done.stderr
    written = (traced.path / "labels.jsonl").read_text(encoding="utf-8")
    assert key not in written and own not in written
    (row,) = rows_of(traced.path / "labels.jsonl")
    assert "Refunds are" in row["context"][0] and row["judge_reason"].startswith("saw ")


def test_reading_a_judge_prompt_back() -> None:
    from pytest_llmeval.judges.kinds import Correctness, Faithfulness, Material, Pairwise

    material = Material("It is 4.", input="2+2?", reference="4", context=("a", "b\n\n[x] c"))
    (prompt,) = Correctness().prompts(material)
    read = read_judge_prompt(f"system: {prompt.system}\nuser: {prompt.user}")
    assert read is not None
    assert (read.output, read.input, read.reference, read.kind) == (
        "It is 4.",
        "2+2?",
        "4",
        "correctness",
    )
    assert read.context == ("a", "b\n\n[x] c")
    (graded,) = Faithfulness("Cite the policy\n\nword for word").prompts(
        Material("x", context=("[1] only",))
    )
    again = read_judge_prompt(graded.user)
    assert again is not None and again.criteria == "Cite the policy\n\nword for word"
    assert again.context == "[1] only" and again.input is None
    forward, _ = Pairwise("Better").prompts("a", "b")
    assert read_judge_prompt(forward.user) is None
    assert read_judge_reply('{"reasoning": "ok", "evidence": ["x"], "score": 4}') == ("ok", 4)
    assert read_judge_reply("The answer is great") == (None, None)
