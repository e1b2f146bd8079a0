"""Judges without the network: answers, prompts, kinds, re-asks, fallbacks, the recorder.

`ScriptedBackend` is a test double of the SDK boundary (the `Backend` protocol): it
returns scripted reply texts, or raises `ModelCallFailed` as an SDK error would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_llmeval.core.errors import JudgeError
from pytest_llmeval.items.recorder import EvalRecorder
from pytest_llmeval.judges import (
    Correctness,
    Faithfulness,
    LLMJudge,
    Pairwise,
    Relevance,
    Rubric,
    SelfConsistency,
)
from pytest_llmeval.judges.answers import InvalidAnswer, normalize_score, score_spec, winner_spec
from pytest_llmeval.judges.backends import ModelCallFailed, Reply, Retry
from pytest_llmeval.judges.clients import ModelNameError
from pytest_llmeval.judges.kinds import Material, slug
from pytest_llmeval.judges.prompts import Prompt
from pytest_llmeval.records.verdicts import PairwiseVerdict, Verdict


def answer(score: int | str, reasoning: str = "because") -> str:
    field = "winner" if isinstance(score, str) else "score"
    return json.dumps({"reasoning": reasoning, field: score})


class ScriptedBackend:
    """A Backend that answers from a script: texts, or exceptions to raise."""

    def __init__(self, model: str, *script: str | Exception) -> None:
        self.model = model
        self.script = list(script)
        self.calls: list[tuple[Prompt, tuple[Retry, ...]]] = []

    def complete(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> Reply:
        self.calls.append((prompt, tuple(retries)))
        if not self.script:
            raise AssertionError(f"{self.model}: no scripted reply left")
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return Reply(item, self.model)

    async def acomplete(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> Reply:
        return self.complete(prompt, retries)


# -- answers --------------------------------------------------------------------------


def test_the_schema_puts_reasoning_before_the_decision() -> None:
    schema = score_spec("1-5").schema()
    assert list(schema["properties"]) == ["reasoning", "score"]
    assert schema["required"] == ["reasoning", "score"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["score"] == {
        "type": "integer",
        "enum": [1, 2, 3, 4, 5],
        "description": "How well the output meets the criteria, from 1 (not at all) to 5 (fully).",
    }
    assert winner_spec().schema()["properties"]["winner"]["enum"] == ["A", "B", "tie"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"reasoning": "ok", "score": 1}', ("ok", 1)),
        ('```json\n{"reasoning": " ok ", "score": 0}\n```', ("ok", 0)),
        ('{"reasoning": "ok", "score": 1.0}', ("ok", 1)),
        ('{"reasoning": "ok", "score": "1"}', ("ok", 1)),
    ],
)
def test_valid_answers_parse(text: str, expected: tuple[str, int]) -> None:
    assert score_spec("binary").parse(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "the reply is empty"),
        ("Sure! Score: 1", "the reply is not valid JSON (Expecting value: line 1 column 1"),
        ("[1]", "expected a JSON object, got list"),
        ('{"score": 1}', "the JSON object lacks 'reasoning'"),
        ('{"reasoning": "x", "score": 1, "note": 2}', "unexpected key(s) 'note'"),
        ('{"reasoning": " ", "score": 1}', '"reasoning" must be a non-empty string'),
        ('{"reasoning": "x", "score": 7}', '"score" must be one of 0, 1, got 7'),
        ('{"reasoning": "x", "score": true}', '"score" must be one of 0, 1, got True'),
    ],
)
def test_invalid_answers_say_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(InvalidAnswer) as raised:
        score_spec("binary").parse(text)
    assert str(raised.value).startswith(error)


def test_winner_answers_fold_case_and_scores_normalise() -> None:
    assert winner_spec().parse('{"reasoning": "r", "winner": "TIE"}') == ("r", "tie")
    assert [normalize_score(v, "1-5") for v in (1, 3, 5)] == [0.0, 0.5, 1.0]
    assert normalize_score(7, "0-10") == pytest.approx(0.7)
    with pytest.raises(ValueError, match="scale must be one of binary, 1-5, 0-10"):
        score_spec("1-10")


# -- kinds ----------------------------------------------------------------------------


def run(kind: Any, material: Material, *texts: str, threshold: float | None = None) -> Verdict:
    backend = ScriptedBackend("fake:judge", *texts)
    return LLMJudge(backend)(
        material.output,
        kind,
        input=material.input,
        reference=material.reference,
        context=material.context,
        threshold=threshold,
    )


def test_rubric_binary_and_graded() -> None:
    verdict = run(Rubric("Polite"), Material("Thanks!"), answer(1, "It thanks the user."))
    assert verdict == Verdict(
        score=1.0,
        passed=True,
        reason="It thanks the user.",
        model="fake:judge",
        kind="rubric",
        raw_score=1,
    )
    graded = run(Rubric("Polite", scale="1-5"), Material("Hm."), answer(2))
    assert (graded.score, graded.passed, graded.raw_score) == (0.25, False, 2)
    strict = run(Rubric("Polite", scale="0-10"), Material("Hi"), answer(7), threshold=0.8)
    assert strict.score == pytest.approx(0.7) and not strict.passed


def test_each_kind_asks_its_own_question_with_its_material() -> None:
    backend = ScriptedBackend("fake:judge", *[answer(1)] * 3)
    judge = LLMJudge(backend)
    judge("Paris", Correctness(), reference="Paris is the capital", input="Capital of France?")
    judge("Paris", Faithfulness(), context=["France's capital is Paris.", "Lyon is big."])
    judge("Paris", Relevance(criteria="Answers in one word"), input="Capital of France?")
    correctness, faithfulness, relevance = (prompt.user for prompt, _ in backend.calls)
    assert correctness.startswith("Task: Evaluate whether the output is correct, using the")
    assert "A reference answer, known to be correct:\n<reference-" in correctness
    assert (
        correctness.index("<input-")
        < correctness.index("<reference-")
        < correctness.index("<output-")
    )
    assert "Criteria:" not in faithfulness
    assert "[1] France's capital is Paris.\n\n[2] Lyon is big." in faithfulness
    assert "Do not judge whether it is factually correct" in relevance
    assert "Criteria:\nAnswers in one word" in relevance


@pytest.mark.parametrize(
    ("kind", "missing"),
    [(Correctness(), "reference"), (Faithfulness(), "context"), (Relevance(), "input")],
)
def test_a_kind_refuses_to_run_without_its_material(kind: Any, missing: str) -> None:
    backend = ScriptedBackend("fake:judge")
    with pytest.raises(ValueError, match=f"the {kind.name} judge needs {missing}="):
        LLMJudge(backend)("answer", kind)
    assert backend.calls == []


def test_labels_name_the_kind_and_the_start_of_the_criteria() -> None:
    assert Rubric("Polite, correct, and cites the refund policy!").label() == (
        "rubric:polite-correct-and-cites-the-refund-policy"
    )
    assert slug("A very long criterion that goes on and on about many things") == (
        "a-very-long-criterion-that-goes-on-and-on-about"
    )
    assert Faithfulness().label() == "faithfulness"
    assert SelfConsistency(Correctness("Same number"), 5).label() == "correctness:same-number"
    assert Pairwise("Clearer").label() == "pairwise:clearer"
    with pytest.raises(ValueError, match="criteria must be a non-empty string"):
        Rubric("  ")


def test_self_consistency_majority_and_mean() -> None:
    backend = ScriptedBackend("fake:judge", answer(1, "yes"), answer(0, "no"), answer(1, "yes!"))
    verdict = LLMJudge(backend)("out", "Polite", samples=3)
    assert (verdict.score, verdict.passed, verdict.samples) == (1.0, True, 3)
    assert verdict.agreement == pytest.approx(2 / 3)
    assert verdict.reason == "yes [2 of 3 samples pass, mode majority]"
    assert [prompt.sample for prompt, _ in backend.calls] == [0, 1, 2]
    assert len({prompt.user for prompt, _ in backend.calls}) == 1

    graded = run(SelfConsistency(Rubric("Polite", "1-5"), 2), Material("o"), answer(5), answer(2))
    assert graded.score == pytest.approx(0.625)  # mean of 1.0 and 0.25
    assert (graded.passed, graded.raw_score, graded.agreement) == (True, 3.5, 0.5)
    tie = run(SelfConsistency(Rubric("Polite"), 2, "majority"), Material("o"), answer(1), answer(0))
    assert tie.score == 0.5
    with pytest.raises(ValueError, match="samples must be at least 1"):
        SelfConsistency(Rubric("x"), 0)


def test_pairwise_runs_both_orders_and_a_disagreement_is_a_tie() -> None:
    consistent = ScriptedBackend("fake:judge", answer("B", "B is clearer"), answer("A", "A!"))
    verdict = LLMJudge(consistent).compare("short", "clear", "Clearer", input="Explain")
    assert (verdict.winner, verdict.score, verdict.passed, verdict.consistent) == (
        "b",
        0.0,
        False,
        True,
    )
    forward, backward = (prompt.user for prompt, _ in consistent.calls)
    assert forward.index("short") < forward.index("clear\n") and backward.index(
        "clear\n"
    ) < backward.index("short")
    assert verdict.reason == "a shown as A: B is clearer\nb shown as A: A!"

    biased = ScriptedBackend("fake:judge", answer("A"), answer("A"))
    tie = LLMJudge(biased).compare("one", "two", "Clearer")
    assert (tie.winner, tie.score, tie.passed, tie.consistent) == ("tie", 0.5, True, False)
    assert tie.reason.endswith("(the two orders disagree: counted as a tie)")


# -- re-ask, errors, fallbacks ----------------------------------------------------------


def test_an_invalid_reply_gets_one_reask_quoting_the_error() -> None:
    backend = ScriptedBackend("fake:judge", "I think it passes.", answer(1, "fine"))
    verdict = LLMJudge(backend)("out", "Polite")
    assert verdict.passed and verdict.reason == "fine"
    (_, first), (_, second) = backend.calls
    assert first == ()
    assert second[0].reply.text == "I think it passes."
    assert second[0].error.startswith("the reply is not valid JSON")


def test_two_invalid_replies_are_a_judge_error_carrying_the_raw_text() -> None:
    backend = ScriptedBackend("fake:judge", "Score: 10/10", '{"reasoning": "x", "score": 9}')
    with pytest.raises(JudgeError) as raised:
        LLMJudge(backend)("out", "Polite")
    message = str(raised.value)
    assert message.splitlines() == [
        "the judge could not produce a verdict: the judge model failed.",
        "  - fake:judge gave no valid answer, also after a re-ask quoting the error:",
        "    reply 1: the reply is not valid JSON (Expecting value: line 1 column 1 (char 0)); raw text:",
        "        | Score: 10/10",
        '    reply 2: "score" must be one of 0, 1, got 9; raw text:',
        '        | {"reasoning": "x", "score": 9}',
        (
            "Check the judge model (--llmeval-judge-model, or the marker's judge_model=), or add "
            "fallback models with --llmeval-judge-fallback."
        ),
    ]
    assert len(backend.calls) == 2


def test_fallback_models_are_tried_in_order() -> None:
    down = ScriptedBackend("fake:down", ModelCallFailed("fake:down: HTTP 529 overloaded"))
    confused = ScriptedBackend("fake:confused", "nope", "still nope")
    good = ScriptedBackend("fake:good", answer(1, "ok"))
    judge = LLMJudge(down, fallback=[confused, good])
    verdict = judge("out", "Polite")
    assert (verdict.model, verdict.reason) == ("fake:good", "ok")
    assert [len(b.calls) for b in (down, confused, good)] == [1, 2, 1]

    down.script.append(ModelCallFailed("fake:down: HTTP 500"))
    confused.script += ["a", "b"]
    good.script.append(ModelCallFailed("fake:good: connection refused"))
    with pytest.raises(JudgeError) as raised:
        judge("out", "Polite")
    message = str(raised.value)
    assert "all 3 judge models failed" in message
    assert "  - fake:down: HTTP 500\n  - fake:confused gave no valid answer" in message
    assert message.count("raw text:") == 2 and "  - fake:good: connection refused" in message


def test_other_errors_are_not_swallowed_by_fallbacks() -> None:
    broken = ScriptedBackend("fake:broken", JudgeError("no API key"))
    spare = ScriptedBackend("fake:spare", answer(1))
    with pytest.raises(JudgeError, match="no API key"):
        LLMJudge(broken, fallback=[spare])("out", "Polite")
    assert spare.calls == []


@pytest.mark.anyio
async def test_async_twins() -> None:
    backend = ScriptedBackend("fake:judge", "oops", answer(1), answer("A"), answer("B"))
    judge = LLMJudge(backend)
    verdict = await judge.ajudge("out", "Polite")
    assert verdict.passed and len(backend.calls) == 2
    pair = await judge.acompare("a", "b", "Clearer")
    assert (pair.winner, pair.consistent) == ("a", True)


# -- models, settings ---------------------------------------------------------------------


def test_fallbacks_and_retries_apply_and_base_url_stays_with_its_provider() -> None:
    judge = LLMJudge(
        "openai:gpt-4.1-mini",
        fallback=("anthropic:claude-haiku-4-5", "openai:gpt-4.1"),
        retries=5,
        base_url="http://localhost:8000/v1",
    )
    backends = judge._backends(None)
    assert [b.model for b in backends] == [
        "openai:gpt-4.1-mini",
        "anthropic:claude-haiku-4-5",
        "openai:gpt-4.1",
    ]
    assert [b.spec.base_url for b in backends] == [  # type: ignore[attr-defined]
        "http://localhost:8000/v1",
        None,
        "http://localhost:8000/v1",
    ]
    assert {b.spec.retries for b in backends} == {5}  # type: ignore[attr-defined]
    assert repr(judge) == (
        "LLMJudge('openai:gpt-4.1-mini', fallback=['anthropic:claude-haiku-4-5', 'openai:gpt-4.1'])"
    )


def test_bad_model_names_are_judge_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelNameError, match="unknown provider 'gemini'; use one of openai, "):
        LLMJudge("gemini:pro")
    with pytest.raises(JudgeError, match="not of the form provider:model"):
        LLMJudge("gpt-4")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(JudgeError, match="no base URL is set: pass --llmeval-judge-base-url"):
        LLMJudge("openai-compatible:llama3")
    assert LLMJudge("openai-compatible:llama3", base_url="http://localhost:11434/v1")


def test_verdict_json_uses_pass() -> None:
    verdict = Verdict(score=1.0, passed=True, reason="r")
    data = json.loads(verdict.model_dump_json(by_alias=True))
    assert data["pass"] is True and "passed" not in data
    assert Verdict.model_validate(data) == verdict
    assert PairwiseVerdict.model_validate(
        {"winner": "a", "score": 1, "pass": True, "reason": "r"}
    ).passed


# -- the recorder -------------------------------------------------------------------------


def recorder_with(judge: Any) -> EvalRecorder:
    recorder = EvalRecorder("test_x.py::test_x")
    recorder.bind_judge(lambda: judge)
    return recorder


def test_judge_records_named_scores_with_reasons() -> None:
    backend = ScriptedBackend("fake:judge", answer(1, "polite"), answer(0, "rude"), answer(1))
    recorder = recorder_with(LLMJudge(backend))
    first = recorder.judge("Thanks!", "Polite")
    second = recorder.judge("Go away", "Polite", weight=2, threshold=0.5)
    named = recorder.judge("Hi", "Polite", name="greeting")
    assert (first.name, second.name, named.name) == ("rubric:polite", "rubric:polite-2", "greeting")
    scores = recorder.scores
    assert list(scores) == ["rubric:polite", "rubric:polite-2", "greeting"]
    assert scores["rubric:polite-2"].model_dump() == {
        "name": "rubric:polite-2",
        "value": 0.0,
        "weight": 2.0,
        "threshold": 0.5,
        "reason": "rude",
    }
    assert first.cost_usd is None  # no model call went through the plugin's capture here


def test_a_taken_name_or_bad_weight_is_refused_before_the_judge_is_called() -> None:
    backend = ScriptedBackend("fake:judge")
    recorder = recorder_with(LLMJudge(backend))
    recorder.score("tone", 1.0)
    with pytest.raises(ValueError, match="a score named 'tone' was already recorded"):
        recorder.judge("x", "Polite", name="tone")
    with pytest.raises(ValueError, match=r"llm_eval.judge\('rubric:polite'\): weight must be >= 0"):
        recorder.judge("x", "Polite", weight=-1)
    with pytest.raises(ValueError, match="threshold must be from 0 to 1"):
        recorder.judge("x", "Polite", threshold=2)
    assert backend.calls == [] and list(recorder.scores) == ["tone"]


def test_custom_judges_return_floats_or_verdicts() -> None:
    recorder = recorder_with(lambda output: 0.7)
    verdict = recorder.judge("x", "Polite")
    assert (verdict.score, verdict.passed, verdict.reason) == (0.7, True, "<lambda> returned 0.7")
    assert not recorder.judge("x", "Polite", threshold=0.8).passed

    seen: dict[str, Any] = {}

    def judge(output: str, criteria: str, *, reference: str | None = None) -> Verdict:
        seen.update(output=output, criteria=criteria, reference=reference)
        return Verdict(score=0.2, passed=False, reason="too short", model="mine")

    recorder = recorder_with(judge)
    verdict = recorder.judge("x", "Complete", reference="ref", scale="1-5", samples=3)
    assert seen == {"output": "x", "criteria": "Complete", "reference": "ref"}
    assert (verdict.name, verdict.model, recorder.scores["rubric:complete"].reason) == (
        "rubric:complete",
        "mine",
        "too short",
    )
    with pytest.raises(TypeError, match="returned str 'good'; a judge must return a Verdict"):
        recorder_with(lambda *a, **k: "good").judge("x", "Polite")
    with pytest.raises(ValueError, match=r"returned 1.5, not within \[0, 1\]"):
        recorder_with(lambda *a, **k: 1.5).judge("x", "Polite")
    with pytest.raises(TypeError, match="has no compare\\(\\) method"):
        recorder_with(lambda *a, **k: 0.5).compare("a", "b", "Clearer")


def test_compare_records_the_preference() -> None:
    backend = ScriptedBackend("fake:judge", answer("A", "a wins"), answer("B", "a wins again"))
    recorder = recorder_with(LLMJudge(backend))
    verdict = recorder.compare("new", "old", "More helpful")
    assert (verdict.name, verdict.winner) == ("pairwise:more-helpful", "a")
    score = recorder.scores["pairwise:more-helpful"]
    assert score.value == 1.0
    assert str(score.reason).startswith("winner a: a shown as A: a wins")


@pytest.mark.anyio
async def test_recorder_async_twins_use_the_judges_async_methods() -> None:
    backend = ScriptedBackend("fake:judge", answer(1), answer("A"), answer("A"))
    recorder = recorder_with(LLMJudge(backend))
    verdict = await recorder.ajudge("x", Rubric("Polite", "binary"))
    pair = await recorder.acompare("a", "b", "Clearer")
    assert verdict.passed and pair.winner == "tie"
    assert list(recorder.scores) == ["rubric:polite", "pairwise:clearer"]

    async def async_judge(output: str) -> float:
        return 0.25

    recorder = recorder_with(async_judge)
    assert (await recorder.ajudge("x", "Polite")).score == 0.25


def test_importing_the_judges_does_not_import_pytest() -> None:
    code = (
        "import sys; import pytest_llmeval.judges.api, pytest_llmeval.judges.backends; "
        "print('pytest' in sys.modules, 'pytest_llmeval.items.settings' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]
