"""The life of one llm_eval item: start capture, record, evaluate, hand over the result.

plugin.py calls these from its hooks; everything here can be exercised without them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmeval.core.errors import JudgeError, find_cause
from pytest_llmeval.items.recorder import EvalRecorder
from pytest_llmeval.items.runtime import Runtime
from pytest_llmeval.records.models import (
    EvalResult,
    Inference,
    Score,
    Status,
    VariantTag,
    trusted,
)
from pytest_llmeval.records.outcome import evaluate, limit_breaches, unpriced_limit_warning
from pytest_llmeval.records.spec import EvalSpec

if TYPE_CHECKING:
    from pytest_llmeval.capture.cassettes.calls import Exchange, ExchangeObserver
    from pytest_llmeval.capture.cassettes.match import LiveRequest
    from pytest_llmeval.capture.cassettes.models import Interaction
    from pytest_llmeval.capture.cassettes.session import CassetteOutcome, CassetteSession


@dataclass(frozen=True)
class ItemIdentity:
    """Where an item sits: its node id, case, group and repeat index."""

    nodeid: str
    case_id: str
    group: str
    repeat_index: int | None
    #: Its variant and pairing key in a variants eval (`variants=`); None otherwise.
    variant: VariantTag | None = None


def identify(
    nodeid: str,
    function_nodeid: str,
    callspec_id: str | None,
    repeat_index: int | None,
    spec: EvalSpec,
    variant: VariantTag | None = None,
) -> ItemIdentity:
    """Derive case id (node id minus the `-rN` repeat suffix) and group key of an item."""
    case_id = nodeid
    if repeat_index is not None and callspec_id is not None:
        suffix = f"r{repeat_index}"
        if callspec_id == suffix:
            case_id = nodeid[: -len(f"[{suffix}]")]
        elif callspec_id.endswith("-" + suffix):
            case_id = nodeid[: -len(f"-{suffix}]")] + "]"
    return ItemIdentity(nodeid, case_id, spec.group or function_nodeid, repeat_index, variant)


class _BudgetGate:
    """What both cassette observers do the same way: gate a live call on the session
    budget and annotate a recorded interaction, for the test `nodeid` names."""

    runtime: Runtime

    @property
    def nodeid(self) -> str:
        raise NotImplementedError

    def before_live(self, request: LiveRequest) -> None:
        """Refuse a live call the session budget cannot take (see `gate_live_call`)."""
        gate_live_call(self.runtime, self.nodeid, request)

    def annotate(self, interaction: Interaction) -> dict[str, Any]:
        """The provider, model, usage and price to store with a recorded interaction."""
        from pytest_llmeval.capture.inference import annotate_interaction

        return annotate_interaction(interaction, self.runtime.price_overrides)


@dataclass
class ItemRun(_BudgetGate):
    """One llm_eval item in progress; the observer of its cassette (`ExchangeObserver`)."""

    identity: ItemIdentity
    spec: EvalSpec
    runtime: Runtime
    recorder: EvalRecorder = field(init=False)
    result: EvalResult | None = None
    cassette: CassetteSession | None = None
    adaptive: bool = False
    """An extra run adaptive repeats added for a straddling case (see `items/adaptive.py`)."""
    extra_runs: list[ItemRun] = field(default_factory=list)
    """The extra runs adaptive repeats made within this item (its case's last run)."""
    #: Under --llmeval-rejudge: the separate cassette the new judge's calls go to.
    rejudge_cassette: CassetteSession | None = None
    budget_warnings: list[str] = field(default_factory=list)
    """Live calls the session budget could not price, first of their cause: to warn about."""
    _started: float = 0.0
    _started_at: float | None = None

    def __post_init__(self) -> None:
        self.recorder = EvalRecorder(self.identity.nodeid, redact=self.runtime.redactor.value)
        self.recorder.judge_min_kappa = self.runtime.settings.judge_min_kappa
        settings = self.runtime.settings
        self.recorder.judge_probes = (settings.judge_probes, settings.judge_probe_samples)

    def start_capture(self, test_file: Path) -> None:
        """Open this item's cassette and start intercepting its HTTP calls.

        Under --llmeval-rejudge the test's own cassette only replays (mode none, so it
        stays byte-identical) and a second cassette, started first, takes the new judge's
        calls; the recorder routes those calls to it (`EvalRecorder.rejudge`).
        """
        rejudge = self.runtime.settings.rejudge
        if rejudge is not None:
            self.rejudge_cassette = open_cassette(
                self.identity.nodeid, test_file, self.runtime, self, rejudge=rejudge
            )
            self.rejudge_cassette.start()
            self.recorder.rejudge = (rejudge, self.rejudge_cassette)
        self.cassette = open_cassette(self.identity.nodeid, test_file, self.runtime, self)
        if self.spec.faults:  # the marker's faults=[...]; llm_faults adds to the same plan
            from pytest_llmeval.records.injection import FaultPlan

            self.cassette.faults = FaultPlan(self.spec.faults)
            self.cassette.faults.bind(lambda: self.recorder.inferences)
        self.cassette.start()

    def stop_capture(self) -> CassetteOutcome | None:
        """Stop intercepting and write what was recorded."""
        if self.cassette is None or not self.cassette.active:
            return None
        outcome = self.cassette.stop()
        if self.rejudge_cassette is not None and self.rejudge_cassette.active:
            self.rejudge_cassette.stop()
        return outcome

    @property
    def nodeid(self) -> str:
        return self.identity.nodeid

    def exchanged(self, exchange: Exchange) -> None:
        """Record one call of the test as an inference and charge the session budget."""
        from pytest_llmeval.capture.inference import build_inference

        runtime = self.runtime
        inference = build_inference(
            exchange, self.identity.nodeid, runtime.price_overrides, runtime.redactor.text
        )
        if runtime.budget is not None:
            warning = charge_budget(runtime, self.identity.nodeid, exchange, inference)
            if warning is not None:
                self.budget_warnings.append(warning)
        self.recorder.add_inference(inference)

    def cassette_misses(self) -> tuple[str, ...]:
        """Requests that found no recording (even if the code under test swallowed the error)."""
        own = self.cassette.misses() if self.cassette is not None else ()
        extra = self.rejudge_cassette.misses() if self.rejudge_cassette is not None else ()
        return (*own, *extra)

    def start_call(self) -> None:
        """Note when the test body starts."""
        self._started = time.perf_counter()
        self._started_at = time.time()

    def finish_call(self, error: BaseException | None, skipped: bool) -> str | None:
        """Evaluate the body's outcome; return a failure message when the test must fail."""
        duration = time.perf_counter() - self._started if self._started else 0.0
        scores = self._scores()
        if skipped:
            self.result = self._result("skipped", None, None, duration, scores)
            return None
        spec = self.spec
        evaluation = evaluate(spec, scores, body_passed=error is None)
        status: Status = evaluation.status
        message = evaluation.message
        inferences = self.recorder.inferences
        breaches = limit_breaches(spec, inferences)  # the app's calls alone
        unpriced = unpriced_limit_warning(spec, self.identity.nodeid, inferences)
        if unpriced is not None:
            self.budget_warnings.append(unpriced)
        if error is None:
            breaches += self.cassette_misses()
        if error is None and breaches:
            status = "failed"
            message = "\n".join(breaches + ([message] if message else []))
        elif error is not None:
            message = f"{type(error).__name__}: {error}".strip()
            if find_cause(error, JudgeError) is not None:
                status = "error"
        if message is not None:
            message = self._redact(message)
        self.result = self._result(status, evaluation.score, message, duration, scores)
        if status == "failed" and error is None:
            return message
        if status == "below" and self.spec.min_pass_rate is None and not self.spec.judges_cases:
            return message
        return None

    def finish_setup_failure(self, skipped: bool, message: str) -> None:
        """Record that the item never reached its body (setup error or skip)."""
        message = self._redact(message) or ""
        self.result = self._result("skipped" if skipped else "error", None, message, 0.0)

    def mark_teardown_error(self, message: str) -> None:
        """A teardown error turns the item's result into an error."""
        if self.result is not None and self.result.status != "skipped":
            message = self._redact(message) or ""
            self.result = self.result.model_copy(update={"status": "error", "message": message})

    def redact_failure(self, report: Any) -> None:
        """Redact the failure text of one of the item's reports (a provider error echoing
        a key, a judge's reason), which pytest shows and writes to the JUnit XML."""
        text = getattr(report, "longreprtext", "")
        clean = self._redact(text)
        if clean != text:
            # the crash line first: pytest's short summary shows a text's first line
            crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", None)
            head = f"{self._redact(crash.splitlines()[0])}\n\n" if crash else ""
            report.longrepr = head + (clean or "")

    def _redact(self, text: str | None) -> str | None:
        return None if text is None else self.runtime.redactor.text(text)

    def _scores(self) -> list[Score]:
        """The recorded scores, their reasons redacted (a judge may echo a key)."""
        return [
            score.model_copy(update={"reason": self._redact(score.reason)})
            if score.reason
            else score
            for score in self.recorder.scores.values()
        ]

    def _result(
        self,
        status: Status,
        score: float | None,
        message: str | None,
        duration: float,
        scores: list[Score] | None = None,
    ) -> EvalResult:
        ident = self.identity
        spec = self.spec
        values: dict[str, Any] = {  # every field, in EvalResult's order (see `trusted`)
            "nodeid": ident.nodeid,
            "case_id": ident.case_id,
            "group": ident.group,
            "repeat_index": ident.repeat_index,
            "threshold": spec.threshold,
            "aggregate": spec.aggregate,
            "min_pass_rate": spec.min_pass_rate,
            "case_rule": spec.case_rule,
            "pass_k": spec.pass_k,
            "min_case_pass_rate": spec.min_case_pass_rate,
            "adaptive": self.adaptive,
            "variant": ident.variant,
            "scores": self._scores() if scores is None else scores,
            "score": score,
            "status": status,
            "message": message,
            "duration_s": round(duration, 6),
            "metadata": _as_sent(self.recorder.metadata),
            "inferences": self.recorder.inferences,
            "started_at": self._started_at,
        }
        # Every value is already of its field's type (the spec was checked when the marker
        # was read; the lists and the dict are new), so the record is not validated again.
        # The fields left at their default None are not given, as in a result that came
        # through JSON: pydantic keeps the names given in a set on every result, and a set
        # of 19 names or more takes 2.2 KB where one of up to 18 takes 0.7 (15 MB over
        # 10,000 results held to the session's end). `score` is required, None or not.
        given = {name for name, value in values.items() if value is not None}
        given.add("score")
        return trusted(EvalResult, values, given)

    def results(self, *, extras: bool) -> tuple[EvalResult, ...]:
        """The result (none before there is one), then with `extras` those of the adaptive
        runs made within the item: what a controller in this same process takes, the
        very objects `wire` would dump for xdist to carry and the controller to validate
        again."""
        if self.result is None:
            return ()
        if not extras:
            return (self.result,)
        return (self.result, *(run.result for run in self.extra_runs if run.result is not None))

    def wire(self) -> dict[str, Any] | None:
        """The result as JSON-able data, to travel on the report (xdist-safe)."""
        if self.result is None:
            return None
        data = self.result.model_dump(mode="json")
        # the telemetry fields, which every file leaves out, travel all the same
        data["started_at"] = self.result.started_at
        for entry, inference in zip(data["inferences"], self.result.inferences, strict=True):
            entry.update(inference.telemetry())
        return data


def _as_sent(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What `llm_eval.log()` got, as the controller gets it through xdist (a tuple comes
    as a list): a result handed over in-process equals one that went through JSON."""
    return json.loads(json.dumps(metadata)) if metadata else {}


def charge_budget(
    runtime: Runtime, nodeid: str, exchange: Exchange, inference: Inference
) -> str | None:
    """Add a live call to the session budget; a call the budget cannot price is noted,
    and the first of its cause in the session returns the warning to give."""
    budget = runtime.budget
    if budget is None or inference.replayed:
        return None
    if inference.spent_usd:
        budget.add(inference.spent_usd)
    from pytest_llmeval.capture.budget import fix_for, usd
    from pytest_llmeval.capture.inference import unpriced_cause

    cause = unpriced_cause(inference, exchange.request.url)
    if cause is None or not budget.note_unpriced(cause):
        return None
    return (
        f"--llmeval-max-cost={usd(budget.limit_usd)} cannot count a live call of {nodeid}: "
        f"{cause}. The call went out and its cost is not in the budget. {fix_for(cause)} "
        "--llmeval-max-cost-strict refuses such calls instead. Later calls for this reason "
        "are counted in the llm_eval summary, not warned about again."
    )


class BudgetMeter(_BudgetGate):
    """The observer (`ExchangeObserver`) of the cassette of a test that records through
    the llm_cassette fixture alone (no llm_eval marker, so no ItemRun records its calls):
    gates and charges the session budget with its live calls."""

    def __init__(self, runtime: Runtime, nodeid: str) -> None:
        self.runtime = runtime
        self._nodeid = nodeid
        self.warnings: list[str] = []

    @property
    def nodeid(self) -> str:
        return self._nodeid

    def exchanged(self, exchange: Exchange) -> None:
        """Price one exchange and charge it to the session budget (if there is one)."""
        if self.runtime.budget is None:
            return
        from pytest_llmeval.capture.inference import build_inference

        inference = build_inference(exchange, self.nodeid, self.runtime.price_overrides)
        warning = charge_budget(self.runtime, self.nodeid, exchange, inference)
        if warning is not None:
            self.warnings.append(warning)


def open_cassette(
    nodeid: str,
    test_file: Path,
    runtime: Runtime,
    observer: ExchangeObserver,
    *,
    rejudge: str | None = None,
) -> CassetteSession:
    """The cassette session of one test, configured from the session's settings, reporting
    to `observer`; with `rejudge`, the separate cassette of that judge model's calls."""
    from pytest_llmeval.capture.cassettes.session import CassetteSession
    from pytest_llmeval.capture.cassettes.store import cassette_path

    settings = runtime.settings
    runtime.hold_interception()
    root = settings.cassette_dir
    mode = settings.record_mode
    if rejudge is not None:
        folder = "rejudge-" + re.sub(r"[^A-Za-z0-9._-]+", "-", rejudge).strip(".-")
        root = (root or test_file.parent / "cassettes") / folder
    elif settings.rejudge is not None:
        mode = "none"  # re-judging replays the app and never writes its cassette
    path = runtime.read_ahead_path(nodeid) if rejudge is None else None
    return CassetteSession(
        path=path or cassette_path(test_file, nodeid, root),
        mode=mode,
        nodeid=nodeid,
        redactor=runtime.redactor,
        cache=runtime.cache,
        observer=observer,
        verbosity=settings.verbosity,
        # a replay-only cassette never writes, so never keeps a recording pending
        pending_folders=() if mode == "none" else runtime.pending_folders,
        matcher=runtime.matcher,
        shelf=runtime.shelf,
    )


def gate_live_call(runtime: Runtime, nodeid: str, live: LiveRequest) -> None:
    """What runs before each live call: the session budget, if any, must have room and,
    in strict mode, be able to price the call (raises the refusal otherwise)."""
    budget = runtime.budget
    if budget is None:
        return
    budget.check(nodeid)
    if budget.strict:
        from pytest_llmeval.capture.inference import unpriceable_request

        cause = unpriceable_request(live, runtime.price_overrides)
        if cause is not None:
            raise budget.refuse_unpriceable(nodeid, cause)
