"""The attempts behind each logical call of a test: retries, their delays, who answered.

A logical call is what the app asked for once; its attempts are the HTTP requests the
SDK (or the app's own retry or fallback wrapper) made for it. Read from a test's
`Inference` records of one role, in order: a logical call runs up to and including its
first answered attempt (no error, HTTP status below 400); failed attempts after the
last answer form a final logical call that failed. Pure: no pytest, no pydantic import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_llmeval.records.models import Inference


@dataclass(frozen=True)
class Attempt:
    """One HTTP request behind a logical call."""

    number: int  # 1-based within its logical call
    provider: str
    model: str | None
    status: int | None
    error: str | None
    injected_fault: str | None
    latency_s: float | None
    delay_s: float | None  # wait since the previous attempt ended; None if first or unknown

    @property
    def answered(self) -> bool:
        """Whether this attempt got an answer (no error, status below 400)."""
        return self.error is None and (self.status is None or self.status < 400)

    @property
    def label(self) -> str:
        """`provider:model`, as the reports name a model."""
        return f"{self.provider}:{self.model or '?'}"

    def describe(self) -> str:
        """The attempt in a sentence part, naming its fault: `attempt 2 (injected 429)`."""
        if self.injected_fault is not None:
            what = f"injected {self.injected_fault}"
        elif self.answered:
            what = f"answered by {self.label}"
        else:
            what = (self.error or f"HTTP {self.status}").splitlines()[0][:120]
        return f"attempt {self.number} ({what})"


@dataclass(frozen=True)
class LogicalCall:
    """The attempts of one logical call, in order."""

    attempts: tuple[Attempt, ...]

    @property
    def retries(self) -> int:
        """Attempts after the first."""
        return len(self.attempts) - 1

    @property
    def answered(self) -> bool:
        """Whether the last attempt got an answer."""
        return bool(self.attempts) and self.attempts[-1].answered

    @property
    def final(self) -> Attempt:
        """The last attempt (the answer, or the failure the app was left with)."""
        return self.attempts[-1]

    @property
    def first(self) -> Attempt:
        """The first attempt (the model the app asked first)."""
        return self.attempts[0]

    @property
    def faults(self) -> tuple[str, ...]:
        """The injected faults among the attempts, in order."""
        return tuple(a.injected_fault for a in self.attempts if a.injected_fault is not None)

    @property
    def delays_s(self) -> tuple[float | None, ...]:
        """The waits before each retry (None where unknown)."""
        return tuple(attempt.delay_s for attempt in self.attempts[1:])

    @property
    def elapsed_s(self) -> float | None:
        """Latencies plus delays of every attempt; None when one is unknown."""
        total = 0.0
        for attempt in self.attempts:
            if attempt.latency_s is None:
                return None
            total += attempt.latency_s + (attempt.delay_s or 0.0)
        return total

    def describe(self) -> str:
        """Every attempt in one line, e.g. `attempt 1 (injected 429), attempt 2 (...)`."""
        return ", ".join(attempt.describe() for attempt in self.attempts)


@dataclass(frozen=True)
class RequestStart:
    """One intercepted request as the plan saw it: for the attempts of a logical call."""

    role: str
    index: int  # among the role's requests, 0-based
    started: float  # time.perf_counter() when it was intercepted
    fault: str | None  # the injected fault's description, if one was served


def logical_calls(
    inferences: Sequence[Inference],
    *,
    role: str = "app",
    requests: Sequence[RequestStart] = (),
) -> list[LogicalCall]:
    """Group a test's calls of `role` into logical calls (see the module docstring).

    `requests` (a `FaultPlan`'s, in the order they were intercepted) give the start of
    each attempt, from which the delay before a retry is measured; without them the
    delays are None.
    """
    chosen = [inference for inference in inferences if inference.role == role]
    starts = [request.started for request in requests if request.role == role]
    if len(starts) != len(chosen):
        starts = []  # calls made before the plan existed: no reliable pairing
    calls: list[LogicalCall] = []
    current: list[Attempt] = []
    previous_end: float | None = None
    for position, inference in enumerate(chosen):
        delay = None
        if starts and current and previous_end is not None:
            delay = max(0.0, starts[position] - previous_end)
        attempt = Attempt(
            number=len(current) + 1,
            provider=inference.provider,
            model=inference.model or _requested_model(inference),
            status=inference.status,
            error=inference.error,
            injected_fault=inference.injected_fault,
            latency_s=inference.latency_s,
            delay_s=delay,
        )
        current.append(attempt)
        if starts:
            previous_end = starts[position] + (inference.latency_s or 0.0)
        if attempt.answered:
            calls.append(LogicalCall(tuple(current)))
            current = []
    if current:
        calls.append(LogicalCall(tuple(current)))
    return calls


def _requested_model(inference: Inference) -> str | None:
    model = inference.params.get("model")
    return model if isinstance(model, str) else None
