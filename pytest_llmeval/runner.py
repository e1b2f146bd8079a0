"""The life of one llm_eval item: start capture, record, evaluate, hand over the result.

plugin.py calls these from its hooks; everything here can be exercised without them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmeval.errors import JudgeError, find_cause
from pytest_llmeval.models import EvalResult, Status
from pytest_llmeval.outcome import evaluate, limit_breaches
from pytest_llmeval.recorder import EvalRecorder
from pytest_llmeval.runtime import Runtime
from pytest_llmeval.spec import EvalSpec

if TYPE_CHECKING:
    from pytest_llmeval.cassettes.session import CassetteOutcome, CassetteSession, Exchange


@dataclass(frozen=True)
class ItemIdentity:
    """Where an item sits: its node id, case, group and repeat index."""

    nodeid: str
    case_id: str
    group: str
    repeat_index: int | None


def identify(
    nodeid: str,
    function_nodeid: str,
    callspec_id: str | None,
    repeat_index: int | None,
    spec: EvalSpec,
) -> ItemIdentity:
    """Derive case id (node id minus the `-rN` repeat suffix) and group key of an item."""
    case_id = nodeid
    if repeat_index is not None and callspec_id is not None:
        suffix = f"r{repeat_index}"
        if callspec_id == suffix:
            case_id = nodeid[: -len(f"[{suffix}]")]
        elif callspec_id.endswith("-" + suffix):
            case_id = nodeid[: -len(f"-{suffix}]")] + "]"
    return ItemIdentity(nodeid, case_id, spec.group or function_nodeid, repeat_index)


@dataclass
class ItemRun:
    """One llm_eval item in progress."""

    identity: ItemIdentity
    spec: EvalSpec
    runtime: Runtime
    recorder: EvalRecorder = field(init=False)
    result: EvalResult | None = None
    cassette: CassetteSession | None = None
    _started: float = 0.0

    def __post_init__(self) -> None:
        self.recorder = EvalRecorder(self.identity.nodeid, redact=self.runtime.redactor.value)

    def start_capture(self, test_file: Path) -> None:
        """Open this item's cassette and start intercepting its HTTP calls."""
        self.cassette = open_cassette(self.identity.nodeid, test_file, self.runtime, self._record)
        self.cassette.start()

    def stop_capture(self) -> CassetteOutcome | None:
        """Stop intercepting and write what was recorded."""
        if self.cassette is None or not self.cassette.active:
            return None
        return self.cassette.stop()

    def _record(self, exchange: Exchange) -> None:
        from pytest_llmeval.capture import build_inference

        runtime = self.runtime
        inference = build_inference(
            exchange, self.identity.nodeid, runtime.price_overrides, runtime.redactor.text
        )
        if self.runtime.budget is not None and inference.spent_usd:
            self.runtime.budget.add(inference.spent_usd)
        self.recorder.add_inference(inference)

    def cassette_misses(self) -> tuple[str, ...]:
        """Requests that found no recording (even if the code under test swallowed the error)."""
        return tuple(getattr(self.cassette, "misses", ()))

    def start_call(self) -> None:
        """Note when the test body starts."""
        self._started = time.perf_counter()

    def finish_call(self, error: BaseException | None, skipped: bool) -> str | None:
        """Evaluate the body's outcome; return a failure message when the test must fail."""
        duration = time.perf_counter() - self._started if self._started else 0.0
        scores = list(self.recorder.scores.values())
        if skipped:
            self.result = self._result("skipped", None, None, duration)
            return None
        evaluation = evaluate(self.spec, scores, body_passed=error is None)
        status: Status = evaluation.status
        message = evaluation.message
        inferences = self.recorder.inferences
        latencies = [i.latency_s for i in inferences if i.latency_s is not None]
        priced = [i.cost_usd for i in inferences if i.cost_usd is not None]
        breaches = limit_breaches(
            self.spec, sum(priced) if priced else None, max(latencies) if latencies else None
        )
        misses = self.cassette_misses()
        if error is None and misses:
            breaches = [*breaches, *misses]
        if error is None and breaches:
            status = "failed"
            message = "\n".join(breaches + ([message] if message else []))
        elif error is not None:
            message = f"{type(error).__name__}: {error}".strip()
            if find_cause(error, JudgeError) is not None:
                status = "error"
        self.result = self._result(status, evaluation.score, message, duration)
        if status == "failed" and error is None:
            return message
        if status == "below" and self.spec.min_pass_rate is None:
            return message
        return None

    def finish_setup_failure(self, skipped: bool, message: str) -> None:
        """Record that the item never reached its body (setup error or skip)."""
        self.result = self._result("skipped" if skipped else "error", None, message, 0.0)

    def mark_teardown_error(self, message: str) -> None:
        """A teardown error turns the item's result into an error."""
        if self.result is not None and self.result.status != "skipped":
            self.result = self.result.model_copy(update={"status": "error", "message": message})

    def _result(
        self, status: Status, score: float | None, message: str | None, duration: float
    ) -> EvalResult:
        ident = self.identity
        return EvalResult(
            nodeid=ident.nodeid,
            case_id=ident.case_id,
            group=ident.group,
            repeat_index=ident.repeat_index,
            threshold=self.spec.threshold,
            aggregate=self.spec.aggregate,  # type: ignore[arg-type]
            min_pass_rate=self.spec.min_pass_rate,
            scores=list(self.recorder.scores.values()),
            score=score,
            status=status,
            message=message,
            duration_s=round(duration, 6),
            metadata=dict(self.recorder.metadata),
            inferences=self.recorder.inferences,
        )

    def wire(self) -> dict[str, Any] | None:
        """The result as JSON-able data, to travel on the report (xdist-safe)."""
        return None if self.result is None else self.result.model_dump(mode="json")


def open_cassette(
    nodeid: str, test_file: Path, runtime: Runtime, on_exchange: Any = None
) -> CassetteSession:
    """The cassette session of one test, configured from the session's settings."""
    from pytest_llmeval.capture import annotate_interaction
    from pytest_llmeval.cassettes.pending import pending_folders
    from pytest_llmeval.cassettes.session import CassetteSession
    from pytest_llmeval.cassettes.store import cassette_path

    settings = runtime.settings
    overrides = runtime.price_overrides
    budget = runtime.budget
    runtime.hold_interception()
    return CassetteSession(
        path=cassette_path(test_file, nodeid, settings.cassette_dir),
        mode=settings.record_mode,  # type: ignore[arg-type]
        nodeid=nodeid,
        ignore_paths=settings.match_ignore,
        redact_patterns=settings.redact,
        cache=runtime.cache,
        on_exchange=on_exchange,
        annotate=lambda interaction: annotate_interaction(interaction, overrides),
        before_live=None if budget is None else lambda: budget.check(nodeid),
        pending_folders=pending_folders(Path(settings.rootdir)),
    )
