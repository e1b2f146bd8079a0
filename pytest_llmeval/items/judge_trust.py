"""The `llm_eval` fixture's judge-trust methods: `calibrate()` against human labels,
the re-judging steps of `--llmeval-rejudge` and the bias probes of
`--llmeval-judge-probes` (a mixin of `recorder.EvalRecorder`)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from pytest_llmeval.items.recorder_parts import RecorderParts

if TYPE_CHECKING:
    from pytest_llmeval.judges.kinds import Scale, VerdictKind
    from pytest_llmeval.records.calibration import Agreement
    from pytest_llmeval.records.cases import Case
    from pytest_llmeval.records.verdicts import PairwiseVerdict, Verdict


@contextmanager
def routed_to(cassette: Any) -> Iterator[None]:
    """Route the HTTP calls made inside to `cassette` (the re-judge cassette)."""
    from pytest_llmeval.capture.cassettes import intercept

    token = intercept.current_cassette.set(cassette)
    try:
        yield
    finally:
        intercept.current_cassette.reset(token)


def _category(verdict: Verdict, categories: Sequence[int]) -> int:
    """The judge's answer as one of the scale's categories (its raw score, rounded)."""
    low, high = categories[0], categories[-1]
    raw = verdict.raw_score
    if raw is None:
        raw = low + verdict.score * (high - low)
    if tuple(categories) == (0, 1):
        return 1 if verdict.passed else 0
    return min(max(round(raw), low), high)


class JudgeTrustMethods(RecorderParts):
    """The `llm_eval` fixture's judge-trust methods (a mixin of `EvalRecorder`)."""

    def _check_snapshot(
        self,
        name: str,
        old: Verdict | PairwiseVerdict,
        new: Verdict | PairwiseVerdict,
        start: int,
        middle: int,
    ) -> None:
        """Warn when the same judge model, re-run live, reports another snapshot than the
        recorded calls did (the provider moved the model under its name)."""
        import warnings

        from pytest_llmeval.core.errors import JudgeSnapshotWarning

        if old.model != new.model:
            return
        recorded = {i.model for i in self._inferences[start:middle] if i.model}
        live = {i.model for i in self._inferences[middle:] if i.model}
        if recorded and live and recorded != live:
            warnings.warn(
                JudgeSnapshotWarning(
                    f"{self.nodeid}: judge {name!r} ({new.model}) answered as "
                    f"{', '.join(sorted(live))} but was recorded as "
                    f"{', '.join(sorted(recorded))}: the provider changed the model behind "
                    "the name; compare the verdicts before updating the baseline"
                ),
                stacklevel=2,
            )

    def _rejudged(self, name: str, old: Verdict, new: Verdict) -> Verdict:
        """Keep both judges' verdicts of one judge call (metadata `rejudge`); the new
        judge's verdict is the one recorded."""
        entries = list(self._metadata.get("rejudge", []))
        entries.append(
            {
                "name": name,
                "old_model": old.model,
                "new_model": new.model,
                "old_score": old.score,
                "new_score": new.score,
                "old_pass": old.passed,
                "new_pass": new.passed,
                "new_reason": new.reason,
            }
        )
        self.log(rejudge=entries)
        return new

    def _rejudged_pair(
        self, name: str, old: PairwiseVerdict, new: PairwiseVerdict
    ) -> PairwiseVerdict:
        """Keep both judges' preferences of one comparison (metadata `rejudge`, with the
        winners); the new judge's preference is the one recorded."""
        entries = list(self._metadata.get("rejudge", []))
        entries.append(
            {
                "name": name,
                "kind": "pairwise",
                "old_model": old.model,
                "new_model": new.model,
                "old_score": old.score,
                "new_score": new.score,
                "old_pass": old.passed,
                "new_pass": new.passed,
                "old_winner": old.winner,
                "new_winner": new.winner,
                "new_reason": new.reason,
            }
        )
        self.log(rejudge=entries)
        return new

    def _probe_route(self, options: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        """The options and cassette routing of the probes' judge calls: those of the
        verdict that counts (under --llmeval-rejudge, the new judge's)."""
        chosen = dict(options)
        routing: AbstractContextManager[None] = nullcontext()
        if self.rejudge is not None:
            model_name, cassette = self.rejudge
            chosen["model"] = model_name
            routing = routed_to(cassette)
        return chosen, routing

    def _probe_judge(
        self,
        judge: Any,
        output: Any,
        criteria: Any,
        options: Mapping[str, Any],
        name: str,
        verdict: Verdict,
    ) -> None:
        """--llmeval-judge-probes: judge the padded answer, and ask for k samples, after
        the verdict is recorded; the probes' verdicts are kept, never scored."""
        __tracebackhide__ = True
        from pytest_llmeval.judges.backends import judge_role
        from pytest_llmeval.judges.custom import call_with_accepted, verdict_from
        from pytest_llmeval.judges.probes import pad, pads

        probes, samples = self.judge_probes
        chosen, routing = self._probe_route(options)
        threshold = chosen.get("threshold")
        single = {key: value for key, value in chosen.items() if key != "samples"}
        with judge_role(), routing:
            if "verbosity" in probes and isinstance(output, str) and pads(criteria):
                padded = call_with_accepted(judge, pad(output), criteria=criteria, **chosen)
                self._note_verbosity(name, verdict, verdict_from(padded, threshold, judge))
            if "consistency" in probes:
                method = getattr(judge, "sample_verdicts", None)
                if callable(method):
                    results = call_with_accepted(
                        method, output, criteria=criteria, samples=samples, **single
                    )
                else:  # a custom judge without it is asked again as it is
                    results = [
                        call_with_accepted(judge, output, criteria=criteria, **single)
                        for _ in range(samples)
                    ]
                self._note_samples(name, [verdict_from(r, threshold, judge) for r in results])

    async def _aprobe_judge(
        self,
        judge: Any,
        output: Any,
        criteria: Any,
        options: Mapping[str, Any],
        name: str,
        verdict: Verdict,
    ) -> None:
        """The asynchronous `_probe_judge` (the judge's `ajudge` and `asample_verdicts`)."""
        __tracebackhide__ = True
        from pytest_llmeval.judges.backends import judge_role
        from pytest_llmeval.judges.custom import call_with_accepted, resolve, verdict_from
        from pytest_llmeval.judges.probes import pad, pads

        probes, samples = self.judge_probes
        chosen, routing = self._probe_route(options)
        threshold = chosen.get("threshold")
        single = {key: value for key, value in chosen.items() if key != "samples"}
        method = getattr(judge, "ajudge", None)
        ask = method if callable(method) else judge
        with judge_role(), routing:
            if "verbosity" in probes and isinstance(output, str) and pads(criteria):
                padded = await resolve(
                    call_with_accepted(ask, pad(output), criteria=criteria, **chosen)
                )
                self._note_verbosity(name, verdict, verdict_from(padded, threshold, judge))
            if "consistency" in probes:
                sampler = getattr(judge, "asample_verdicts", None)
                if callable(sampler):
                    results = await resolve(
                        call_with_accepted(
                            sampler, output, criteria=criteria, samples=samples, **single
                        )
                    )
                else:
                    results = [
                        await resolve(call_with_accepted(ask, output, criteria=criteria, **single))
                        for _ in range(samples)
                    ]
                self._note_samples(name, [verdict_from(r, threshold, judge) for r in results])

    def _note_verbosity(self, name: str, verdict: Verdict, padded: Verdict) -> None:
        """Keep the verbosity probe's verdict beside the recorded one (metadata
        `verbosity_probe`)."""
        entries = list(self._metadata.get("verbosity_probe", []))
        entries.append(
            {
                "name": name,
                "score": verdict.score,
                "padded_score": padded.score,
                "pass": verdict.passed,
                "padded_pass": padded.passed,
            }
        )
        self.log(verbosity_probe=entries)

    def _note_samples(self, name: str, verdicts: Sequence[Verdict]) -> None:
        """Keep the consistency probe's sample verdicts (metadata `consistency_probe`)."""
        entries = list(self._metadata.get("consistency_probe", []))
        entries.append(
            {
                "name": name,
                "scores": [verdict.score for verdict in verdicts],
                "passes": [verdict.passed for verdict in verdicts],
            }
        )
        self.log(consistency_probe=entries)

    def calibrate(
        self,
        criteria: str | VerdictKind,
        cases: Sequence[Case],
        *,
        scale: Scale | None = None,
        min_kappa: float | None = None,
        model: str | None = None,
        name: str = "calibration",
    ) -> Agreement:
        """Run the judge over human-labelled cases and measure how far it agrees.

        Each case (from `load_cases`) gives `input`, `output`, a `label` (pass/fail, or a
        grade on a graded `scale`) and optionally `context` and `reference`. Each verdict
        is recorded as `<name>:<case id>` with weight 0; the agreement as the scores
        `<name>:kappa` (weight 1; a negative kappa counts 0), `<name>:true_positive_rate`
        and `<name>:true_negative_rate` (weight 0), and in full (confusion matrix,
        disagreements with the judge's reasons) under the metadata key `name`. Below
        `min_kappa` (default: --llmeval-judge-min-kappa) the test fails, listing the
        disagreements.
        """
        __tracebackhide__ = True
        import pytest

        from pytest_llmeval.judges.answers import SCALES
        from pytest_llmeval.records.calibration import (
            Rating,
            describe,
            measure_agreement,
            read_labelled,
        )

        chosen = scale or getattr(getattr(criteria, "kind", criteria), "scale", None)
        categories = SCALES[str(chosen or "binary")]
        floor = self.judge_min_kappa if min_kappa is None else min_kappa
        ratings = []
        for case in cases:
            row = read_labelled(case, categories)
            verdict = self.judge(
                row.output,
                criteria,
                input=row.input,
                reference=row.reference,
                context=row.context,
                scale=scale,
                model=model,
                name=f"{name}:{row.case_id}",
                weight=0.0,
            )
            judged = _category(verdict, categories)
            ratings.append(Rating(row.case_id, row.label, judged, verdict.reason))
        agreement = measure_agreement(ratings, categories)
        summary = describe(agreement)
        kappa = agreement.kappa
        self.score(
            f"{name}:kappa",
            0.0 if math.isnan(kappa) else min(max(kappa, 0.0), 1.0),
            reason=summary.splitlines()[0],
        )
        for rate_name in ("true_positive_rate", "true_negative_rate"):
            rate = getattr(agreement, rate_name)
            if rate is not None:
                self.score(f"{name}:{rate_name}", rate, weight=0.0)
        self.log(**{name: agreement.to_json()})
        if floor is not None and not kappa >= floor:
            pytest.fail(
                f"judge calibration {name!r}: kappa {kappa:.3f} is below the floor "
                f"{floor:g} (min_kappa= or --llmeval-judge-min-kappa)\n{summary}",
                pytrace=False,
            )
        return agreement
