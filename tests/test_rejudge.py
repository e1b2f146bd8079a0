"""Re-judging a recorded run (--llmeval-rejudge): the app replays, only the judge changes.

Through the real openai SDK against the fake provider: record a run (app and judge
calls), then re-judge it with a second scripted judge that is stricter on one case.
The app's calls replay from the original cassettes (the provider sees only the new
judge's requests), the original cassettes stay byte-identical, the new judge's calls
go to `cassettes/rejudge-openai-gpt-4.1/`, the terminal reports kappa, the flip and the
mean score shift, and the re-judged run replays offline with the server gone.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from pytest_llmeval.cli import main
from pytest_llmeval.records.calibration import compare_judges
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, closed_port_url
from tests.test_judges_sdk import KEYS

SUITE = """
import openai
import pytest

def app(question):
    client = openai.OpenAI()
    reply = client.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": question}]
    )
    return reply.choices[0].message.content

@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("question", ["plain", "strict", "bad"])
def test_answers(question, llm_eval):
    answer = app(question)
    llm_eval.judge(answer, "Answers the question", input=question, name="answers")
"""


def two_judges(request: RecordedRequest) -> ReplySpec | None:
    """The app answers `ANSWER:<question>`; the old judge fails `bad`, the new one
    (gpt-4.1) also fails `strict`."""
    body = request.body
    if "response_format" not in body:
        question = body["messages"][-1]["content"]
        return ReplySpec(text=f"ANSWER:{question.upper()}")
    text = request.text
    failing = ["ANSWER:BAD"] + (["ANSWER:STRICT"] if body["model"] == "gpt-4.1" else [])
    score = 0 if any(token in text for token in failing) else 1
    return ReplySpec(json={"reasoning": f"{body['model']} says {score}", "score": score})


def tree(root: Path, under: str) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / under).rglob("*.json"))
        if "rejudge-" not in str(p)
    }


def test_rejudging_replays_the_app_and_reports_the_flips(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    fake_provider.set_handler(two_judges)
    pytester_env.makepyfile(test_app=SUITE)

    recorded = pytester_env.runpytest()
    recorded.assert_outcomes(passed=2, failed=1)
    assert len(fake_provider.requests) == 6  # 3 app calls, 3 judge calls
    original = tree(pytester_env.path, "cassettes")
    assert len(original) == 3

    fake_provider.clear()
    rejudged = pytester_env.runpytest(
        "--llmeval-rejudge=openai:gpt-4.1", "--llmeval-report=r.json", "--llmeval-html=r.html"
    )
    rejudged.assert_outcomes(passed=1, failed=2)
    # only the new judge went to the provider: the app and the old judge replayed
    assert [r.body["model"] for r in fake_provider.requests] == ["gpt-4.1"] * 3
    assert tree(pytester_env.path, "cassettes") == original  # byte-identical
    new_files = sorted((pytester_env.path / "cassettes" / "rejudge-openai-gpt-4.1").rglob("*.json"))
    assert len(new_files) == 3
    for path in new_files:
        (interaction,) = json.loads(path.read_text())["interactions"]
        assert interaction["meta"]["role"] == "judge"
        assert interaction["request"]["body"]["model"] == "gpt-4.1"
    rejudged.stdout.fnmatch_lines(
        [
            "rejudge: openai*gpt-4.1* against openai*gpt-4.1-mini*: 3 judge calls, kappa 0.400, "
            "1 flipped verdict(s)",
            "  flipped test_app.py::test_answers[[]strict[]] answers: pass -> fail (1.00 -> 0.00)",
            "  mean score shift test_app.py::test_answers: -0.333",
        ]
    )
    report = json.loads((pytester_env.path / "r.json").read_text())
    strict = next(r for r in report["results"] if "strict" in r["nodeid"])
    (entry,) = strict["metadata"]["rejudge"]
    assert (entry["old_pass"], entry["new_pass"], entry["name"]) == (True, False, "answers")
    assert strict["scores"][0]["value"] == 0.0  # the new judge's verdict counts
    judges = report["judges"]["rejudge"]
    assert abs(judges["agreement"]["kappa"] - 0.4) < 1e-12
    assert judges["agreement"]["confusion_matrix"] == [[1, 0], [1, 1]]
    assert [flip["case"] for flip in judges["flips"]] == ["test_app.py::test_answers[strict]"]
    assert judges["new_models"] == ["openai:gpt-4.1"]
    assert abs(judges["score_shift"]["test_app.py::test_answers"] + 1 / 3) < 1e-12
    # `llmeval show` and the HTML report give the lines the terminal gave, from the report
    lines = [line for line in rejudged.outlines if line.startswith(("rejudge: ", "  "))]
    judged = [line for line in lines if line.startswith("rejudge: ") or "flipped" in line]
    assert len(judged) == 2 and any("mean score shift" in line for line in lines)
    assert main(["show", str(pytester_env.path / "r.json")]) == 0
    shown = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(shown) if line.startswith("rejudge: "))
    assert shown[start : start + 3] == [
        judged[0],
        judged[1],
        "  mean score shift test_app.py::test_answers: -0.333",
    ]
    page = (pytester_env.path / "r.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="judges"') :].split("</section>")[0]
    assert f"<p>{html.escape(judged[0])}</p>" in section
    assert f"<li>{html.escape(judged[1].strip())}</li>" in section

    # the server is gone: the re-judged run replays from both cassette sets
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    for name in KEYS:
        monkeypatch.delenv(name)
    sent = len(fake_provider.requests)
    offline = pytester_env.runpytest("--llmeval-rejudge=openai:gpt-4.1", "--llmeval-record=none")
    offline.assert_outcomes(passed=1, failed=2)
    offline.stdout.fnmatch_lines(["rejudge: *3 judge calls, kappa 0.400, 1 flipped verdict(s)"])
    assert len(fake_provider.requests) == sent
    assert tree(pytester_env.path, "cassettes") == original


def test_compare_judges_by_hand() -> None:
    entry = {"name": "n", "old_model": "a", "new_model": "b"}
    calls = [
        ("g1", "c1", {**entry, "old_pass": True, "new_pass": True, "old_score": 1, "new_score": 1}),
        ("g1", "c2", {**entry, "old_pass": True, "new_pass": False, "old_score": 1, "new_score": 0}),
        ("g2", "c3", {**entry, "old_pass": False, "new_pass": False, "old_score": 0.2, "new_score": 0.4}),
    ]  # fmt: skip
    comparison = compare_judges(calls)
    assert comparison is not None
    # matrix [[1, 0], [1, 1]]: p_o = 2/3, p_e = (1*2 + 2*1)/9 = 4/9, kappa = (2/9)/(5/9) = 0.4
    assert comparison.agreement.matrix == ((1, 0), (1, 1))
    assert abs(comparison.agreement.kappa - 0.4) < 1e-12
    assert [(f.case_id, f.old_pass, f.new_pass) for f in comparison.flips] == [("c2", True, False)]
    (first, first_shift), (second, second_shift) = comparison.score_shift
    assert (first, first_shift, second) == ("g1", -0.5, "g2")
    assert abs(second_shift - 0.2) < 1e-12
    assert compare_judges([]) is None


SNAPSHOT_SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0.5)
def test_polite(llm_eval):
    llm_eval.judge("Thank you for asking!", "Polite", name="polite")
"""


def test_a_judge_that_changed_snapshot_is_warned_about(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    snapshot = ["gpt-4.1-mini-2025-04-14"]

    def judge(request: RecordedRequest) -> ReplySpec:
        return ReplySpec(json={"reasoning": "fine", "score": 1}, model=snapshot[0])

    fake_provider.set_handler(judge)
    pytester_env.makepyfile(test_polite=SNAPSHOT_SUITE)
    pytester_env.runpytest().assert_outcomes(passed=1)

    # the same model name, re-judged live: same snapshot, no warning
    same = pytester_env.runpytest("--llmeval-rejudge=openai:gpt-4.1-mini")
    same.assert_outcomes(passed=1)
    assert "JudgeSnapshotWarning" not in same.stdout.str()

    snapshot[0] = "gpt-4.1-mini-2026-02-01"
    moved = pytester_env.runpytest("--llmeval-rejudge=openai:gpt-4.1-mini", "--llmeval-record=all")
    moved.assert_outcomes(passed=1, warnings=1)
    moved.stdout.fnmatch_lines(
        [
            "*JudgeSnapshotWarning: test_polite.py::test_polite: judge 'polite' "
            "(openai:gpt-4.1-mini) answered as gpt-4.1-mini-2026-02-01 but was recorded as "
            "gpt-4.1-mini-2025-04-14*"
        ]
    )


ASYNC_SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0)
@pytest.mark.anyio
async def test_async(llm_eval):
    await llm_eval.ajudge("ANSWER:STRICT", "Answers the question", name="answers")
"""


def test_ajudge_is_rejudged_too(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    fake_provider.set_handler(two_judges)
    pytester_env.makepyfile(test_async=ASYNC_SUITE)
    pytester_env.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    # in subprocesses: the SDKs' cached async clients are bound to one event loop
    pytester_env.runpytest_subprocess().assert_outcomes(passed=1)
    result = pytester_env.runpytest_subprocess("--llmeval-rejudge=openai:gpt-4.1")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "rejudge: *1 judge calls, kappa *, 1 flipped verdict(s)",
            "  flipped *answers: pass -> fail*",
        ]
    )


PAIRS_SUITE = """
import openai
import pytest

def app(messages):
    reply = openai.OpenAI().chat.completions.create(model="gpt-4.1-mini", messages=messages)
    return reply.choices[0].message.content

@pytest.mark.llm_eval(threshold=0)
def test_prompts(llm_eval):
    new = app([{"role": "user", "content": "v2 short"}])
    old = app([{"role": "user", "content": "v1 long"}])
    llm_eval.compare(new, old, "More helpful", name="new-vs-old")
    llm_eval.compare(old, new, "More polite", name="steady")

@pytest.mark.llm_eval(threshold=0)
def test_chat(llm_eval):
    chat = llm_eval.converse(app, ["hello", "refund please"])
    llm_eval.judge_conversation(chat, "Stays polite", name="polite")
"""


def pair_judges(request: RecordedRequest) -> ReplySpec | None:
    """The app answers `ANSWER:<text>`. On "More helpful" the old judge prefers the V2
    answer and the new one (gpt-4.1) the V1 answer; on "More polite" both prefer V1. The
    old judge passes the conversation, the new one fails it."""
    body = request.body
    if "response_format" not in body:
        return ReplySpec(text=f"ANSWER:{body['messages'][-1]['content'].upper()}")
    text = request.text
    new = body["model"] == "gpt-4.1"
    if "winner" in body["response_format"]["json_schema"]["schema"]["properties"]:
        liked = "V1" if new or "More polite" in text else "V2"
        winner = "A" if text.index(f"ANSWER:{liked}") < text.index("Output B:") else "B"
        return ReplySpec(json={"reasoning": f"{body['model']} likes {liked}", "winner": winner})
    score = 0 if new else 1
    return ReplySpec(json={"reasoning": f"{body['model']} says {score}", "score": score})


def test_compare_and_conversation_judges_are_rejudged(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    fake_provider.set_handler(pair_judges)
    pytester_env.makepyfile(test_pairs=PAIRS_SUITE)

    pytester_env.runpytest().assert_outcomes(passed=2)
    # 4 app calls, 2 comparisons in two orders, 1 conversation judge call
    assert len(fake_provider.requests) == 9
    original = tree(pytester_env.path, "cassettes")
    assert len(original) == 2

    fake_provider.clear()
    rejudged = pytester_env.runpytest(
        "--llmeval-rejudge=openai:gpt-4.1", "--llmeval-report=r.json", "--llmeval-html=r.html"
    )
    rejudged.assert_outcomes(passed=2)
    assert [r.body["model"] for r in fake_provider.requests] == ["gpt-4.1"] * 5
    assert tree(pytester_env.path, "cassettes") == original  # byte-identical
    rejudged.stdout.fnmatch_lines(
        [
            "rejudge: openai*gpt-4.1* against openai*gpt-4.1-mini*: 3 judge calls, kappa 0.000, "
            "2 flipped verdict(s)",
            "  flipped test_pairs.py::test_chat polite: pass -> fail (1.00 -> 0.00)",
            "  flipped test_pairs.py::test_prompts new-vs-old: winner a -> b (1.00 -> 0.00)",
            "  mean score shift test_pairs.py::test_chat: -1.000",
            "  mean score shift test_pairs.py::test_prompts: -0.500",
        ]
    )
    report = json.loads((pytester_env.path / "r.json").read_text())
    prompts = next(r for r in report["results"] if r["nodeid"].endswith("test_prompts"))
    first, second = prompts["metadata"]["rejudge"]
    assert (first["name"], first["kind"], first["old_winner"], first["new_winner"]) == (
        "new-vs-old", "pairwise", "a", "b"
    )  # fmt: skip
    assert (second["old_winner"], second["new_winner"]) == ("a", "a")  # no flip
    assert [s["value"] for s in prompts["scores"]] == [0.0, 1.0]  # the new judge counts
    flips = report["judges"]["rejudge"]["flips"]
    assert flips[1] == {
        "case": "test_pairs.py::test_prompts",
        "name": "new-vs-old",
        "old_pass": True,
        "new_pass": False,
        "old_score": 1.0,
        "new_score": 0.0,
        "old_winner": "a",
        "new_winner": "b",
    }
    # pass/fail over 3 calls: old (pass, pass, pass), new (fail, pass, fail): matrix
    # [[0, 0], [2, 1]], p_o = 1/3, p_e = (0*2 + 3*1)/9 = 1/3: kappa 0
    assert report["judges"]["rejudge"]["agreement"]["confusion_matrix"] == [[0, 0], [2, 1]]

    # the server is gone: the re-judged run replays from both cassette sets
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    for name in KEYS:
        monkeypatch.delenv(name)
    sent = len(fake_provider.requests)
    offline = pytester_env.runpytest("--llmeval-rejudge=openai:gpt-4.1", "--llmeval-record=none")
    offline.assert_outcomes(passed=2)
    offline.stdout.fnmatch_lines(["rejudge: *3 judge calls, kappa 0.000, 2 flipped verdict(s)"])
    assert len(fake_provider.requests) == sent
    assert tree(pytester_env.path, "cassettes") == original


ASYNC_PAIRS = """
import pytest

@pytest.mark.llm_eval(threshold=0)
@pytest.mark.anyio
async def test_async_pair(llm_eval):
    await llm_eval.acompare("ANSWER:V2 SHORT", "ANSWER:V1 LONG", "More helpful", name="pair")
"""


def test_acompare_is_rejudged_too(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    fake_provider.set_handler(pair_judges)
    pytester_env.makepyfile(test_async=ASYNC_PAIRS)
    pytester_env.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    pytester_env.runpytest_subprocess().assert_outcomes(passed=1)
    result = pytester_env.runpytest_subprocess("--llmeval-rejudge=openai:gpt-4.1")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "rejudge: *1 judge calls, kappa *, 1 flipped verdict(s)",
            "  flipped test_async.py::test_async_pair pair: winner a -> b (1.00 -> 0.00)",
        ]
    )
