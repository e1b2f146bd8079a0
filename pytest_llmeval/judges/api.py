"""The LLM judge: kinds, backends and fallbacks put together, with one re-ask per reply.

`LLMJudge` renders a kind's prompts, sends each through its model (and, if that fails,
through the fallback models in order), checks every reply against the answer's schema,
re-asks once with the validation error quoted, and combines the answers into a verdict.
The conversation with the models is written once, as a generator of requests, and
driven either synchronously or asynchronously.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, Protocol

from pytest_llmeval.core.errors import JudgeError
from pytest_llmeval.judges.answers import InvalidAnswer
from pytest_llmeval.judges.backends import Backend, ModelCallFailed, Reply, Retry, make_backend
from pytest_llmeval.judges.clients import ModelRef
from pytest_llmeval.judges.context import reads_no_output
from pytest_llmeval.judges.evidence import checked_verdict
from pytest_llmeval.judges.kinds import (
    Answer,
    JudgeKind,
    Material,
    Pairwise,
    Rubric,
    Scale,
    SelfConsistency,
    VerdictKind,
    pass_mark,
)
from pytest_llmeval.judges.prompts import Prompt
from pytest_llmeval.records.verdicts import PairwiseVerdict, Verdict

#: How many times an unusable reply is followed by a re-ask before the model is given up.
REASKS = 1

#: Longest raw reply quoted in a JudgeError, in characters.
MAX_QUOTED_CHARS = 2000

_Step = tuple[Backend, Prompt, tuple[Retry, ...]]
_Conversation = Generator[_Step, Reply, Answer]


class Judge(Protocol):
    """What the `llm_judge` fixture returns: a callable that scores one output.

    It is called as `judge(output, criteria, input=..., reference=..., context=...,
    scale=..., model=..., samples=..., threshold=...)` with the keyword arguments its
    signature accepts, and returns a `Verdict` or a float in [0, 1]. Judges may also have
    `ajudge` (async), `compare` and `acompare` (pairwise) methods, as `LLMJudge` does.
    """

    def __call__(self, output: str, /, *args: Any, **kwargs: Any) -> Verdict | float: ...


def plan_kind(
    criteria: str | VerdictKind, scale: Scale | None = None, samples: int = 1
) -> VerdictKind:
    """The kind a `judge()` call runs: a Rubric for plain criteria, sampled if asked."""
    if isinstance(criteria, str):
        kind: VerdictKind = Rubric(criteria, scale or "binary")
    elif isinstance(criteria, (JudgeKind, SelfConsistency)):
        kind = criteria.with_scale(scale) if scale is not None else criteria
    else:
        raise TypeError(
            "criteria must be a string or a judge kind (Rubric, Correctness, Faithfulness, "
            "Relevance, ContextRelevance, ContextRecall, ContextPrecision, SelfConsistency, "
            "TaskCompletion, ToolUse, GoalCompletion, RoleAdherence, KnowledgeRetention), "
            f"got {type(criteria).__name__}"
        )
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a whole number >= 1, got {samples!r}")
    if samples > 1:
        if isinstance(kind, SelfConsistency):
            raise ValueError("samples= cannot be combined with a SelfConsistency kind")
        kind = SelfConsistency(kind, samples)
    return kind


def make_material(
    output: str,
    input: str | None = None,
    reference: str | None = None,
    context: str | Sequence[str] | None = None,
    *,
    empty_context: bool = False,
) -> Material:
    """Check what a judge is shown: strings, and a context of one or more passages.

    With `empty_context` an empty list of passages is let through, for the kind's own
    check to refuse in its words (the context judges name themselves).
    """
    for what, value in (("output", output), ("input", input), ("reference", reference)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    if output is None:
        raise TypeError("output must be a string, got None")
    passages: tuple[str, ...] | None = None
    if isinstance(context, str):
        passages = (context,)
    elif context is not None:
        if not isinstance(context, Sequence):
            raise TypeError(
                "context must be a string or a non-empty sequence of strings, "
                f"got {type(context).__name__}"
            )
        passages = tuple(context)
        if (not passages and not empty_context) or not all(isinstance(p, str) for p in passages):
            raise TypeError("context must be a string or a non-empty sequence of strings")
    return Material(output=output, input=input, reference=reference, context=passages)


class LLMJudge:
    """A judge that asks a model through the openai / anthropic SDKs, with fallbacks.

    `model` and each `fallback` are `provider:model` names (or Backend objects);
    `base_url` applies to the models of the same provider as `model`; `retries` is the
    SDK's own retry count for 429 and 5xx answers.
    """

    def __init__(
        self,
        model: str | Backend = "openai:gpt-4.1-mini",
        *,
        fallback: Sequence[str | Backend] = (),
        retries: int = 2,
        base_url: str | None = None,
    ) -> None:
        self.model = model if isinstance(model, str) else model.model
        self.fallback = tuple(fallback)
        self.retries = retries
        self.base_url = base_url
        self._primary = model
        self._provider = ModelRef.parse(self.model).provider if isinstance(model, str) else None
        self._made: dict[str, Backend] = {}
        self._backends(None)  # a bad model name is an error now, not at the first call

    def __repr__(self) -> str:
        fallback = f", fallback={list(map(_name, self.fallback))!r}" if self.fallback else ""
        return f"LLMJudge({self.model!r}{fallback})"

    def __call__(
        self,
        output: str,
        criteria: str | VerdictKind,
        *,
        input: str | None = None,
        reference: str | None = None,
        context: str | Sequence[str] | None = None,
        scale: Scale | None = None,
        model: str | Backend | None = None,
        samples: int = 1,
        threshold: float | None = None,
    ) -> Verdict:
        """Judge one output against criteria (a string, or a kind such as Faithfulness())."""
        kind, material, prompts, backends = self._plan(
            output, criteria, input, reference, context, scale, model, samples
        )
        answers = [_drive(_conversation(prompt, backends)) for prompt in prompts]
        return check_evidence(kind, kind.combine(answers, threshold), answers, material, threshold)

    async def ajudge(
        self,
        output: str,
        criteria: str | VerdictKind,
        *,
        input: str | None = None,
        reference: str | None = None,
        context: str | Sequence[str] | None = None,
        scale: Scale | None = None,
        model: str | Backend | None = None,
        samples: int = 1,
        threshold: float | None = None,
    ) -> Verdict:
        """The asynchronous judge call (the SDKs' async clients)."""
        kind, material, prompts, backends = self._plan(
            output, criteria, input, reference, context, scale, model, samples
        )
        answers = [await _adrive(_conversation(prompt, backends)) for prompt in prompts]
        return check_evidence(kind, kind.combine(answers, threshold), answers, material, threshold)

    def sample_verdicts(
        self,
        output: str,
        criteria: str | VerdictKind,
        *,
        samples: int = 3,
        input: str | None = None,
        reference: str | None = None,
        context: str | Sequence[str] | None = None,
        scale: Scale | None = None,
        model: str | Backend | None = None,
        threshold: float | None = None,
    ) -> list[Verdict]:
        """Ask `samples` times, as `SelfConsistency` does (one seed per sample where the
        API takes one), and return each sample's own verdict rather than their aggregate
        (the consistency probe, `--llmeval-judge-probes=consistency`)."""
        kind, material, prompts, backends = self._plan(
            output, _unsampled(criteria), input, reference, context, scale, model, samples
        )
        answers = [_drive(_conversation(prompt, backends)) for prompt in prompts]
        return _each_sample(kind, answers, material, threshold)

    async def asample_verdicts(
        self,
        output: str,
        criteria: str | VerdictKind,
        *,
        samples: int = 3,
        input: str | None = None,
        reference: str | None = None,
        context: str | Sequence[str] | None = None,
        scale: Scale | None = None,
        model: str | Backend | None = None,
        threshold: float | None = None,
    ) -> list[Verdict]:
        """The asynchronous `sample_verdicts`."""
        kind, material, prompts, backends = self._plan(
            output, _unsampled(criteria), input, reference, context, scale, model, samples
        )
        answers = [await _adrive(_conversation(prompt, backends)) for prompt in prompts]
        return _each_sample(kind, answers, material, threshold)

    def compare(
        self,
        a: str,
        b: str,
        criteria: str,
        *,
        input: str | None = None,
        model: str | Backend | None = None,
    ) -> PairwiseVerdict:
        """Which of two outputs better meets the criteria (asked in both orders)."""
        kind, prompts, backends = self._plan_pair(a, b, criteria, input, model)
        return kind.combine([_drive(_conversation(p, backends)) for p in prompts])

    async def acompare(
        self,
        a: str,
        b: str,
        criteria: str,
        *,
        input: str | None = None,
        model: str | Backend | None = None,
    ) -> PairwiseVerdict:
        """The asynchronous `compare`."""
        kind, prompts, backends = self._plan_pair(a, b, criteria, input, model)
        return kind.combine([await _adrive(_conversation(p, backends)) for p in prompts])

    def _plan(
        self,
        output: str,
        criteria: str | VerdictKind,
        input: str | None,
        reference: str | None,
        context: str | Sequence[str] | None,
        scale: Scale | None,
        model: str | Backend | None,
        samples: int,
    ) -> tuple[VerdictKind, Material, list[Prompt], list[Backend]]:
        kind = plan_kind(criteria, scale, samples)
        material = make_material(
            output, input, reference, context, empty_context=reads_no_output(kind)
        )
        kind.check(material)
        return kind, material, kind.prompts(material), self._backends(model)

    def _plan_pair(
        self, a: str, b: str, criteria: str, input: str | None, model: str | Backend | None
    ) -> tuple[Pairwise, list[Prompt], list[Backend]]:
        for what, value in (("a", a), ("b", b), ("input", input)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{what} must be a string, got {type(value).__name__}")
        kind = Pairwise(criteria)
        return kind, kind.prompts(a, b, input), self._backends(model)

    def _backends(self, model: str | Backend | None) -> list[Backend]:
        """The chosen model, then the fallbacks (each once)."""
        chain: list[str | Backend] = [model if model is not None else self._primary]
        for item in self.fallback:
            if _name(item) not in map(_name, chain):
                chain.append(item)
        return [self._backend(item) for item in chain]

    def _backend(self, item: str | Backend) -> Backend:
        if not isinstance(item, str):
            return item
        backend = self._made.get(item)
        if backend is None:
            same_provider = ModelRef.parse(item).provider == self._provider
            base_url = self.base_url if same_provider else None
            backend = make_backend(item, base_url=base_url, retries=self.retries)
            self._made[item] = backend
        return backend


def check_evidence(
    kind: VerdictKind,
    verdict: Verdict,
    answers: Sequence[Answer],
    material: Material,
    threshold: float | None,
) -> Verdict:
    """The verdict with the judge's quotes checked against the material, for kinds that
    quote evidence; unchanged otherwise, or when no answer carries quotes (an answer
    recorded before evidence was asked for)."""
    inner = kind.kind if isinstance(kind, SelfConsistency) else kind
    if not inner.quotes_evidence():
        return verdict
    answered = [answer.evidence for answer in answers if answer.evidence is not None]
    if not answered:
        return verdict
    quotes = [quote for evidence in answered for quote in evidence]
    pieces = [material.output, *(material.context or ())]
    pieces += [text for text in (material.input, material.reference) if text is not None]
    return checked_verdict(
        verdict, quotes, pieces, strict=inner.strict_evidence, mark=pass_mark(threshold)
    )


def _unsampled(criteria: str | VerdictKind) -> str | VerdictKind:
    """The criteria without a `SelfConsistency` wrapper (the probe samples it itself)."""
    return criteria.kind if isinstance(criteria, SelfConsistency) else criteria


def _each_sample(
    kind: VerdictKind, answers: Sequence[Answer], material: Material, threshold: float | None
) -> list[Verdict]:
    """Each answer's own verdict under the sampled kind, its evidence checked."""
    inner = kind.kind if isinstance(kind, SelfConsistency) else kind
    return [
        check_evidence(inner, inner.combine([answer], threshold), [answer], material, threshold)
        for answer in answers
    ]


def _name(item: str | Backend) -> str:
    return item if isinstance(item, str) else item.model


def _conversation(prompt: Prompt, backends: Sequence[Backend]) -> _Conversation:
    """Ask each model in turn until one gives a valid answer (one re-ask per model)."""
    failures: list[str] = []
    for backend in backends:
        retries: tuple[Retry, ...] = ()
        while True:
            try:
                reply = yield backend, prompt, retries
            except ModelCallFailed as error:
                failures.append(str(error))
                break
            try:
                reading = prompt.answer.read(reply.text)
            except InvalidAnswer as error:
                retries = (*retries, Retry(reply, str(error)))
                if len(retries) > REASKS:
                    failures.append(_describe_invalid(backend.model, retries))
                    break
                continue
            return Answer(
                reading.reasoning, reading.decision, reply.model, reading.evidence, reading.items
            )
    raise JudgeError(_no_verdict(failures, len(backends)))


def _drive(conversation: _Conversation) -> Answer:
    """Run a conversation with the synchronous SDK clients."""
    try:
        backend, prompt, retries = next(conversation)
        while True:
            try:
                reply = backend.complete(prompt, retries)
            except ModelCallFailed as error:
                backend, prompt, retries = conversation.throw(error)
            else:
                backend, prompt, retries = conversation.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def _adrive(conversation: _Conversation) -> Answer:
    """Run a conversation with the asynchronous SDK clients."""
    try:
        backend, prompt, retries = next(conversation)
        while True:
            try:
                reply = await backend.acomplete(prompt, retries)
            except ModelCallFailed as error:
                backend, prompt, retries = conversation.throw(error)
            else:
                backend, prompt, retries = conversation.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _quote(text: str) -> str:
    clipped = text if len(text) <= MAX_QUOTED_CHARS else text[:MAX_QUOTED_CHARS] + " [...]"
    lines = clipped.splitlines() or [""]
    return "\n".join(f"        | {line}" for line in lines)


def _describe_invalid(model: str, retries: Sequence[Retry]) -> str:
    lines = [f"{model} gave no valid answer, also after a re-ask quoting the error:"]
    for number, retry in enumerate(retries, 1):
        lines.append(f"    reply {number}: {retry.error}; raw text:")
        lines.append(_quote(retry.reply.text))
    return "\n".join(lines)


def _no_verdict(failures: Sequence[str], models: int) -> str:
    tried = "the judge model" if models == 1 else f"all {models} judge models"
    body = "\n".join(f"  - {failure}" for failure in failures)
    return (
        f"the judge could not produce a verdict: {tried} failed.\n{body}\n"
        "Check the judge model (--llmeval-judge-model, or the marker's judge_model=), or add "
        "fallback models with --llmeval-judge-fallback."
    )
