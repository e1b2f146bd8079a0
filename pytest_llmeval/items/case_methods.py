"""The `llm_eval` fixture's case methods: `case()` sets the material once, judges
and `run_checks()` default to it; `evaluating()` marks helper calls as the
evaluation's (a mixin of `recorder.EvalRecorder`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from pytest_llmeval.core import context
from pytest_llmeval.items.recorder_parts import CaseMaterial, RecorderParts

if TYPE_CHECKING:
    from pytest_llmeval.judges.kinds import Scale
    from pytest_llmeval.records.assertions import Assertion
    from pytest_llmeval.records.cases import Case


def _as_text(what: str, value: object) -> str | None:
    """A case's input or reference as the text a judge reads (JSON for other values)."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise TypeError(
            f"llm_eval.case(): {what} must be a str or JSON-serialisable, "
            f"got {type(value).__name__}"
        ) from None


def _as_context(value: object) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TypeError(
        "llm_eval.case(): context must be a str or a list of str passages, "
        f"got {type(value).__name__}"
    )


def _embedding_similarities(output: str, texts: Sequence[str], model: str | None) -> list[float]:
    """The `similar` assertion's similarities: one embeddings request, evaluation role."""
    from pytest_llmeval.scorers.embedding import DEFAULT_EMBEDDING_MODEL, similarities

    scored = similarities(output, texts, model or DEFAULT_EMBEDDING_MODEL, scorer="similar")
    return [float(value) for value in scored]


class CaseMethods(RecorderParts):
    """The `llm_eval` fixture's case methods (a mixin of `EvalRecorder`)."""

    def case(
        self,
        loaded: Case | None = None,
        /,
        *,
        input: object = None,
        output: str | None = None,
        context: str | Sequence[str] | None = None,
        reference: object = None,
    ) -> CaseMaterial:
        """Set the material once: judges (and `run_checks`) default to it.

        `llm_eval.case(case, output=answer)` takes a loaded case's `input`, its
        `expected` as the reference and its metadata's `context`; keywords override
        them. Inputs and references that are not text reach the judge as JSON. A
        later call replaces the material. Returns it.
        """
        __tracebackhide__ = True
        if loaded is not None:
            # duck-typed: a Case from a re-imported module (pytester, importlib.reload) counts
            if not all(hasattr(loaded, a) for a in ("id", "input", "expected", "metadata")):
                raise TypeError(
                    f"{self.nodeid}: llm_eval.case() takes a loaded Case (from load_cases) "
                    f"as its only positional argument, got {type(loaded).__name__}; pass "
                    "the rest by keyword: llm_eval.case(input=..., output=..., ...)"
                )
            input = loaded.input if input is None else input
            reference = loaded.expected if reference is None else reference
            if context is None:
                context = loaded.metadata.get("context")
        if output is not None and not isinstance(output, str):
            raise TypeError(
                f"{self.nodeid}: llm_eval.case(): output must be a str (the text judges "
                f"read), got {type(output).__name__}"
            )
        try:
            material = CaseMaterial(
                input=_as_text("input", input),
                output=output,
                context=_as_context(context),
                reference=_as_text("reference", reference),
                case=loaded,
            )
        except TypeError as error:
            raise TypeError(f"{self.nodeid}: {error}") from None
        self._case = material
        return material

    @property
    def current_case(self) -> CaseMaterial | None:
        """What `case()` set, or None."""
        return self._case

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        """Mark the model calls made inside as the evaluation's, not the app's.

        `with llm_eval.evaluating(): grade(answer)`: a custom grader's or helper's calls
        get the role `evaluation`, so they are recorded, replayed and accounted (apart,
        in `evaluation_*`), but the marker's `budget_usd` and `max_latency_s`, the
        `cost` and `latency` assertions and the trajectory leave them out. The role is
        a context variable: asyncio tasks started inside inherit it, and concurrent
        tasks outside keep their own.
        """
        token = context.current_role.set("evaluation")
        try:
            yield
        finally:
            context.current_role.reset(token)

    def use_judge_scale(self, scale: Scale | None) -> None:
        """The scale judges use when a call gives none (the marker's judge_scale)."""
        self._judge_scale = scale

    def run_checks(self, output: str | None = None) -> dict[str, bool]:
        """Apply the case's dataset assertions (its row's `assert` list) to `output`.

        Needs a loaded case set with `llm_eval.case(case, ...)`; `output` defaults to
        the case's output. Each assertion is recorded as a check (a weighted score when
        it gives a `weight`) under its name, with the reason. `cost` and `latency`
        read the app's calls so far; `similar` embeds the output and its texts in one
        evaluation call (`scorers.embedding_similarity`); a `rubric` asks the test's
        judge (`judge()` with the criteria, the case's material and the marker's judge
        scale). Returns each name with whether it passed.
        """
        __tracebackhide__ = True
        from pytest_llmeval.records.assertions import apply_assertion

        material = self._case
        if material is None or material.case is None:
            raise TypeError(
                f"{self.nodeid}: llm_eval.run_checks() applies a loaded case's assertions: "
                "set the case first, llm_eval.case(case, output=answer)"
            )
        if output is None:
            output = material.output
        if not isinstance(output, str):
            raise TypeError(
                f"{self.nodeid}: llm_eval.run_checks() needs the output as a str: pass it, "
                "or set it with llm_eval.case(case, output=answer)"
            )
        app = [i for i in self._inferences if i.role == "app"]
        unpriced = any(i.cost_usd is None for i in app)
        cost = None if unpriced else math.fsum(i.cost_usd or 0.0 for i in app)
        latencies = [i.latency_s for i in app if i.latency_s is not None]
        results: dict[str, bool] = {}
        for assertion in getattr(material.case, "assertions", ()):
            if assertion.type == "rubric":
                results[assertion.name] = self._judge_rubric(assertion, output, material)
                continue
            try:
                outcome = apply_assertion(
                    assertion,
                    output,
                    app_cost_usd=cost,
                    app_latency_s=max(latencies) if latencies else None,
                    similarity=_embedding_similarities,
                )
            except ValueError as error:
                raise ValueError(
                    f"{self.nodeid}: case {material.case.id!r}, {assertion.name}: {error}"
                ) from None
            reason = f"{assertion.type}: {outcome.reason}"
            if assertion.weight is None:
                results[assertion.name] = self.check(assertion.name, outcome.value >= 1.0, reason)
            else:
                self.score(assertion.name, outcome.value, weight=assertion.weight, reason=reason)
                results[assertion.name] = outcome.value >= 1.0
        return results

    def _judge_rubric(self, assertion: Assertion, output: str, material: CaseMaterial) -> bool:
        """Judge a `rubric` assertion with the test's judge, then record its verdict as
        the check (or weighted score) the assertion asks for; whether it passed."""
        __tracebackhide__ = True
        try:
            verdict = self.judge(
                output,
                assertion.value,
                name=assertion.name,
                threshold=assertion.threshold,
                weight=0.0,
            )
        except ValueError as error:
            case_id = material.case.id if material.case is not None else "?"
            raise ValueError(
                f"{self.nodeid}: case {case_id!r}, {assertion.name}: {error}"
            ) from None
        # judge() recorded the verdict as a plain score: record it as the assertion says
        del self._scores[assertion.name]
        reason = f"rubric: {verdict.reason}"
        if assertion.weight is None:
            return self.check(assertion.name, verdict.passed, reason)
        self.score(
            assertion.name,
            verdict.score,
            weight=assertion.weight,
            threshold=assertion.threshold,
            reason=reason,
        )
        return verdict.passed

    def _with_case(
        self,
        call: str,
        output: Any,
        criteria: Any,
        input: str | None,
        reference: str | None,
        context: str | Sequence[str] | None,
    ) -> tuple[str, Any, str | None, str | None, str | Sequence[str] | None]:
        """Fill what a judge call left out from the case; one positional is the criteria
        when the case holds the output, or when it is a context judge (which reads no
        output: it judges the retrieved passages)."""
        __tracebackhide__ = True
        from pytest_llmeval.judges.context import reads_no_output

        material = self._case
        if criteria is None and reads_no_output(output):
            output, criteria = None, output
        if output is None and reads_no_output(criteria):
            output = "" if material is None or material.output is None else material.output
        if criteria is None:
            if output is not None and material is not None and material.output is not None:
                output, criteria = None, output
            else:
                raise TypeError(
                    f"{self.nodeid}: llm_eval.{call}() needs criteria (a rubric string or a "
                    f"judge kind), e.g. llm_eval.{call}(answer, 'Polite and correct')"
                )
        if output is None:
            if material is None or material.output is None:
                raise TypeError(
                    f"{self.nodeid}: llm_eval.{call}() has no output to judge: pass it, "
                    f"llm_eval.{call}(answer, criteria), or set it once with "
                    "llm_eval.case(output=answer)"
                )
            output = material.output
        if material is not None:
            input = material.input if input is None else input
            reference = material.reference if reference is None else reference
            context = material.context if context is None else context
        # a custom judge may take other outputs; the built-in judges check it is text
        return cast(str, output), criteria, input, reference, context
