"""The `llm_eval` fixture's judge methods: `judge()`/`ajudge()` over one output and
`compare()`/`acompare()` over two, each recording its verdict as a score (a mixin of
`EvalRecorder`; re-judging and the bias probes they call are `judge_trust`'s)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pytest_llmeval.items.judge_trust import JudgeTrustMethods, routed_to
from pytest_llmeval.items.recorder_parts import check_unit_interval

if TYPE_CHECKING:
    from pytest_llmeval.judges.api import Judge
    from pytest_llmeval.judges.kinds import Scale, VerdictKind
    from pytest_llmeval.records.verdicts import PairwiseVerdict, Verdict


class JudgeMethods(JudgeTrustMethods):
    """judge(), ajudge(), compare() and acompare() of the `llm_eval` fixture."""

    def judge(
        self,
        output: str | VerdictKind | None = None,
        criteria: str | VerdictKind | None = None,
        *,
        input: str | None = None,
        reference: str | None = None,
        context: str | Sequence[str] | None = None,
        scale: Scale | None = None,
        model: str | None = None,
        samples: int = 1,
        name: str | None = None,
        threshold: float | None = None,
        weight: float = 1.0,
    ) -> Verdict:
        """Judge `output` with the llm_judge fixture's judge and record it as a score.

        `criteria` is a string (a rubric) or a judge kind (`Correctness()`,
        `Faithfulness()`, `Relevance()`, ...); `input`, `reference` and `context` are
        shown to the judge as data. `scale` is binary, 1-5 or 0-10; `samples=k` asks k
        times (majority vote or mean). The verdict is recorded under `name` (default:
        the kind and the start of the criteria, made unique in the test) with its
        reason, `weight` and `threshold`, and returned.

        What the call leaves out (output, input, reference, context) comes from
        `llm_eval.case()`; with the case's output set, `llm_eval.judge(criteria)`
        judges it. `scale` defaults to the marker's `judge_scale`.
        """
        __tracebackhide__ = True
        from pytest_llmeval.judges.backends import judge_role
        from pytest_llmeval.judges.custom import call_with_accepted, verdict_from

        output, criteria, input, reference, context = self._with_case(
            "judge", output, criteria, input, reference, context
        )

        scale = self._judge_scale if scale is None else scale

        judge = self._judge()
        self._check_judge_arguments(
            "judge", judge, output, criteria, input, reference, context, scale, samples
        )
        default = self._default_judge_name(criteria, scale, samples)
        with self._judge_call(name, default, weight, threshold) as (name, start):
            options = _judge_options(input, reference, context, scale, model, samples, threshold)
            with judge_role():
                result = call_with_accepted(judge, output, criteria=criteria, **options)
            verdict = verdict_from(result, threshold, judge)
            if self.rejudge is not None:
                model_name, cassette = self.rejudge
                before = len(self._inferences)
                with judge_role(), routed_to(cassette):
                    again = call_with_accepted(
                        judge, output, criteria=criteria, **{**options, "model": model_name}
                    )
                new = verdict_from(again, threshold, judge)
                self._check_snapshot(name, verdict, new, start, before)
                verdict = self._rejudged(name, verdict, new)
            verdict = self._record_verdict(verdict, name, start, weight, threshold)
            if self.judge_probes[0]:
                self._probe_judge(judge, output, criteria, options, name, verdict)
            return verdict

    async def ajudge(
        self,
        output: str | VerdictKind | None = None,
        criteria: str | VerdictKind | None = None,
        *,
        input: str | None = None,
        reference: str | None = None,
        context: str | Sequence[str] | None = None,
        scale: Scale | None = None,
        model: str | None = None,
        samples: int = 1,
        name: str | None = None,
        threshold: float | None = None,
        weight: float = 1.0,
    ) -> Verdict:
        """The asynchronous `judge()` (the judge's `ajudge` method, if it has one)."""
        __tracebackhide__ = True
        from pytest_llmeval.judges.backends import judge_role
        from pytest_llmeval.judges.custom import call_with_accepted, resolve, verdict_from

        output, criteria, input, reference, context = self._with_case(
            "ajudge", output, criteria, input, reference, context
        )

        scale = self._judge_scale if scale is None else scale

        judge = self._judge()
        self._check_judge_arguments(
            "ajudge", judge, output, criteria, input, reference, context, scale, samples
        )
        default = self._default_judge_name(criteria, scale, samples)
        with self._judge_call(name, default, weight, threshold) as (name, start):
            options = _judge_options(input, reference, context, scale, model, samples, threshold)
            method = getattr(judge, "ajudge", None)
            with judge_role():
                call = call_with_accepted(
                    method if callable(method) else judge, output, criteria=criteria, **options
                )
                result = await resolve(call)
            verdict = verdict_from(result, threshold, judge)
            if self.rejudge is not None:
                model_name, cassette = self.rejudge
                before = len(self._inferences)
                with judge_role(), routed_to(cassette):
                    again = call_with_accepted(
                        method if callable(method) else judge,
                        output,
                        criteria=criteria,
                        **{**options, "model": model_name},
                    )
                    new = verdict_from(await resolve(again), threshold, judge)
                self._check_snapshot(name, verdict, new, start, before)
                verdict = self._rejudged(name, verdict, new)
            verdict = self._record_verdict(verdict, name, start, weight, threshold)
            if self.judge_probes[0]:
                await self._aprobe_judge(judge, output, criteria, options, name, verdict)
            return verdict

    def compare(
        self,
        a: str,
        b: str,
        criteria: str,
        *,
        input: str | None = None,
        model: str | None = None,
        name: str | None = None,
        weight: float = 1.0,
    ) -> PairwiseVerdict:
        """Compare two outputs (both orders) and record the preference as a score.

        The score is 1 when `a` is better, 0 when `b` is, 0.5 for a tie (including when
        the two orders disagree); the verdict passes when `a` wins or ties.
        """
        __tracebackhide__ = True
        from pytest_llmeval.judges.backends import judge_role
        from pytest_llmeval.judges.custom import call_with_accepted, pairwise_from

        judge = self._judge()
        method = self._compare_method(judge, "compare")
        default = _default_pairwise_name(criteria)
        with self._judge_call(name, default, weight, None) as (name, start):
            if input is None and self._case is not None:
                input = self._case.input
            with judge_role():
                options = _given(input=input, model=model)
                result = call_with_accepted(method, a, b, criteria=criteria, **options)
            verdict = pairwise_from(result, judge)
            if self.rejudge is not None:
                model_name, cassette = self.rejudge
                before = len(self._inferences)
                with judge_role(), routed_to(cassette):
                    again = call_with_accepted(
                        method, a, b, criteria=criteria, **{**options, "model": model_name}
                    )
                new = pairwise_from(again, judge)
                self._check_snapshot(name, verdict, new, start, before)
                verdict = self._rejudged_pair(name, verdict, new)
            return self._record_pairwise(verdict, name, start, weight)

    async def acompare(
        self,
        a: str,
        b: str,
        criteria: str,
        *,
        input: str | None = None,
        model: str | None = None,
        name: str | None = None,
        weight: float = 1.0,
    ) -> PairwiseVerdict:
        """The asynchronous `compare()` (the judge's `acompare` method, if it has one)."""
        __tracebackhide__ = True
        from pytest_llmeval.judges.backends import judge_role
        from pytest_llmeval.judges.custom import call_with_accepted, pairwise_from, resolve

        judge = self._judge()
        method = getattr(judge, "acompare", None)
        if not callable(method):
            method = self._compare_method(judge, "compare")
        default = _default_pairwise_name(criteria)
        with self._judge_call(name, default, weight, None) as (name, start):
            if input is None and self._case is not None:
                input = self._case.input
            with judge_role():
                options = _given(input=input, model=model)
                call = call_with_accepted(method, a, b, criteria=criteria, **options)
                result = await resolve(call)
            verdict = pairwise_from(result, judge)
            if self.rejudge is not None:
                model_name, cassette = self.rejudge
                before = len(self._inferences)
                with judge_role(), routed_to(cassette):
                    again = call_with_accepted(
                        method, a, b, criteria=criteria, **{**options, "model": model_name}
                    )
                    new = pairwise_from(await resolve(again), judge)
                self._check_snapshot(name, verdict, new, start, before)
                verdict = self._rejudged_pair(name, verdict, new)
            return self._record_pairwise(verdict, name, start, weight)

    @contextmanager
    def _judge_call(
        self, name: str | None, default: str, weight: float, threshold: float | None
    ) -> Iterator[tuple[str, int]]:
        """One judge call: its score name (reserved until it is recorded) and the number
        of inferences before it (its own calls come after), options checked first."""
        __tracebackhide__ = True
        chosen = self._reserve_name(name, default)
        try:
            self._check_options(chosen, weight, threshold)
            yield chosen, len(self._inferences)
        finally:
            self._reserved_names.discard(chosen)

    def _check_judge_arguments(
        self,
        call: str,
        judge: Judge,
        output: str,
        criteria: Any,
        input: str | None,
        reference: str | None,
        context: str | Sequence[str] | None,
        scale: Scale | None,
        samples: int,
    ) -> None:
        """Refuse, from the public call, the arguments the built-in judge would refuse
        deep inside: the error names the test and `llm_eval.judge()`, and the traceback
        ends at the test's line. A custom judge decides for itself what it accepts."""
        __tracebackhide__ = True
        from pytest_llmeval.judges.api import LLMJudge, make_material, plan_kind

        if not isinstance(judge, LLMJudge):
            return
        try:
            kind = plan_kind(criteria, scale, samples)
            kind.check(make_material(output, input, reference, context))
        except (TypeError, ValueError) as error:
            raise type(error)(f"{self.nodeid}: llm_eval.{call}(): {error}") from None

    def _judge(self) -> Judge:
        """The llm_judge fixture's judge."""
        if self._judge_resolver is None:
            raise RuntimeError(
                "llm_eval.judge() has no judge: it uses the llm_judge fixture, which the "
                "plugin binds to the llm_eval fixture of an llm_eval test"
            )
        return self._judge_resolver()

    @staticmethod
    def _compare_method(judge: Any, attribute: str) -> Callable[..., Any]:
        method = getattr(judge, attribute, None)
        if not callable(method):
            raise TypeError(
                f"the llm_judge fixture's judge {judge!r} has no {attribute}() method, so "
                f"llm_eval.{attribute}() cannot use it; give it one taking (a, b, criteria) "
                "and returning a PairwiseVerdict or a number (1 = a better, 0 = b better)"
            )
        return method  # type: ignore[no-any-return]

    @staticmethod
    def _default_judge_name(criteria: Any, scale: Any, samples: Any) -> str:
        from pytest_llmeval.judges.api import plan_kind

        try:
            return plan_kind(criteria, scale, samples).label()
        except (TypeError, ValueError):  # a custom judge's own kind of criteria
            return "judge"

    def _reserve_name(self, name: str | None, default: str) -> str:
        """A score name for a judge call: the given one (if free) or a unique default."""
        taken = set(self._scores) | self._reserved_names
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise TypeError(f"name must be a non-empty string, got {name!r}")
            if name in taken:
                raise ValueError(
                    f"a score named {name!r} was already recorded in this test; give each "
                    "judge call its own name (or none, for a unique default)"
                )
            chosen = name
        else:
            chosen, number = default, 1
            while chosen in taken:
                number += 1
                chosen = f"{default}-{number}"
        self._reserved_names.add(chosen)
        return chosen

    @staticmethod
    def _check_options(name: str, weight: float, threshold: float | None) -> None:
        """Refuse a bad weight or threshold before the judge spends anything."""
        __tracebackhide__ = True
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise TypeError(f"llm_eval.judge({name!r}): weight must be a number, got {weight!r}")
        if math.isnan(weight) or math.isinf(weight) or weight < 0:
            raise ValueError(f"llm_eval.judge({name!r}): weight must be >= 0, got {weight!r}")
        if threshold is not None:
            check_unit_interval(f"llm_eval.judge({name!r}) threshold", threshold)

    def _judge_cost(self, start: int) -> float | None:
        """The recorded cost of the judge calls made since inference number `start`."""
        costs = [
            i.cost_usd
            for i in self._inferences[start:]
            if i.role == "judge" and i.cost_usd is not None
        ]
        return math.fsum(costs) if costs else None

    def _record_verdict(
        self, verdict: Verdict, name: str, start: int, weight: float, threshold: float | None
    ) -> Verdict:
        cost = self._judge_cost(start)
        verdict = verdict.model_copy(
            update={"name": name, "cost_usd": verdict.cost_usd if cost is None else cost}
        )
        self._reserved_names.discard(name)
        self.score(name, verdict.score, weight=weight, threshold=threshold, reason=verdict.reason)
        if verdict.evidence_missing:
            missing = dict(self._metadata.get("evidence_missing", {}))
            missing[name] = list(verdict.evidence_missing)
            self.log(evidence_missing=missing)
        return verdict

    def _record_pairwise(
        self, verdict: PairwiseVerdict, name: str, start: int, weight: float
    ) -> PairwiseVerdict:
        cost = self._judge_cost(start)
        verdict = verdict.model_copy(
            update={"name": name, "cost_usd": verdict.cost_usd if cost is None else cost}
        )
        self._reserved_names.discard(name)
        if not verdict.consistent:
            swapped = list(self._metadata.get("position_swap_disagreements", []))
            self.log(position_swap_disagreements=[*swapped, name])
        compared = int(self._metadata.get("pairwise_comparisons", 0))
        self.log(pairwise_comparisons=compared + 1)
        reason = f"winner {verdict.winner}: {verdict.reason}"
        self.score(name, verdict.score, weight=weight, reason=reason)
        return verdict


def _judge_options(
    input: str | None,
    reference: str | None,
    context: str | Sequence[str] | None,
    scale: str | None,
    model: str | None,
    samples: int,
    threshold: float | None,
) -> dict[str, Any]:
    """The keyword arguments a judge is called with (those left at their default omitted)."""
    options = _given(
        input=input,
        reference=reference,
        context=context,
        scale=scale,
        model=model,
        threshold=threshold,
    )
    if samples != 1:
        options["samples"] = samples
    return options


def _given(**options: Any) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None}


def _default_pairwise_name(criteria: Any) -> str:
    from pytest_llmeval.judges.kinds import Pairwise

    try:
        return Pairwise(criteria).label()
    except (TypeError, ValueError):
        return "pairwise"
