"""Provider faults a test asks for: the rules (`fault(...)`) and the plan that picks them.

A `FaultRule` says which fault to serve and to which requests: by the role that makes
the call (`app`, `judge`, `simulator` or `any`), by the request's index among that
role's requests (`at`, 0-based, every attempt counted, faulted ones too), by a seeded
probability, and how many times (`times`). A `FaultPlan` holds a test's rules (from the
marker's `faults=[...]` and the `llm_faults` fixture) and, asked once per intercepted
request, answers with the fault to serve or None. It counts requests per role, so the
same calls get the same faults in a recording run and in every replay of it.

Standard library only: the marker's spec validates rules with it at collection.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from pytest_llmeval.records.attempts import RequestStart

if TYPE_CHECKING:
    from pytest_llmeval.records.attempts import LogicalCall
    from pytest_llmeval.records.models import Inference

#: The faults the plugin can serve in place of (or, `slow_first_token`, ahead of) a
#: provider's response.
FaultKind = Literal[
    "429",
    "500",
    "502",
    "503",
    "529",
    "connection_reset",
    "read_timeout",
    "slow_first_token",
    "stream_cut",
    "malformed_json",
    "refusal",
    "content_filter",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
#: The HTTP error faults, whose response may carry `retry-after`.
HTTP_FAULTS = frozenset({"429", "500", "502", "503", "529"})
FaultRole = Literal["app", "judge", "simulator", "evaluation", "any"]
FAULT_ROLES: tuple[FaultRole, ...] = get_args(FaultRole)


class FaultRuleError(ValueError):
    """A fault rule has an invalid argument (the message names it and the fix)."""


@dataclass(frozen=True)
class FaultRule:
    """One fault to inject: what, into whose calls, which of them, how many times."""

    kind: FaultKind
    role: FaultRole = "app"
    at: int | None = None  # the role's request index (0-based) where the rule starts
    times: int | None = 1  # how many requests get the fault; None: every matching one
    probability: float | None = None  # each candidate request faulted with this chance
    seed: int = 0  # the probability's random sequence, the same on every run
    retry_after: float | None = None  # seconds, sent as retry-after(-ms) on HTTP faults
    delay_s: float = 2.0  # slow_first_token: how late the first byte comes

    def describe(self) -> str:
        """The fault as reports name it, e.g. `429 (retry-after 1s)`."""
        text: str = self.kind
        if self.kind in HTTP_FAULTS and self.retry_after is not None:
            text += f" (retry-after {self.retry_after:g}s)"
        elif self.kind == "slow_first_token":
            text += f" (+{self.delay_s:g}s)"
        return text


def fault(
    kind: str,
    *,
    role: str = "app",
    at: int | None = None,
    times: int | None = 1,
    probability: float | None = None,
    seed: int = 0,
    retry_after: float | None = None,
    delay_s: float = 2.0,
) -> FaultRule:
    """A provider fault for `@pytest.mark.llm_eval(faults=[...])` or `llm_faults.inject`.

    `fault("429", times=2)` fails the first two app requests with a 429; `fault("503",
    at=1)` fails the second one; `fault("connection_reset", probability=0.3, seed=7,
    times=None)` resets about 30% of them, the same ones on every run.
    """
    return check_rule(
        FaultRule(kind, role, at, times, probability, seed, retry_after, delay_s)  # type: ignore[arg-type]
    )


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_rule(rule: FaultRule) -> FaultRule:
    """Return `rule` if every argument is valid, else raise a FaultRuleError naming it."""
    problems = []
    if rule.kind not in FAULT_KINDS:
        problems.append(f"kind {rule.kind!r} is not one of {', '.join(FAULT_KINDS)}")
    if rule.role not in FAULT_ROLES:
        problems.append(f"role {rule.role!r} is not one of {', '.join(FAULT_ROLES)}")
    if rule.at is not None and (
        not isinstance(rule.at, int) or isinstance(rule.at, bool) or rule.at < 0
    ):
        problems.append(f"at={rule.at!r} must be None or a request index >= 0")
    if rule.times is not None and (
        not isinstance(rule.times, int) or isinstance(rule.times, bool) or rule.times < 1
    ):
        problems.append(f"times={rule.times!r} must be None (every request) or a whole number >= 1")
    if rule.probability is not None and (
        not _number(rule.probability) or not 0.0 < rule.probability <= 1.0
    ):
        problems.append(f"probability={rule.probability!r} must be None or in (0, 1]")
    if not isinstance(rule.seed, int) or isinstance(rule.seed, bool):
        problems.append(f"seed={rule.seed!r} must be a whole number")
    if rule.retry_after is not None and (
        not _number(rule.retry_after) or not 0.0 < rule.retry_after <= 60.0
    ):
        problems.append(f"retry_after={rule.retry_after!r} must be None or seconds in (0, 60]")
    if not _number(rule.delay_s) or math.isnan(rule.delay_s) or not 0.0 < rule.delay_s <= 600:
        problems.append(f"delay_s={rule.delay_s!r} must be seconds in (0, 600]")
    if problems:
        raise FaultRuleError("; ".join(problems))
    return rule


def as_rule(value: object) -> FaultRule:
    """A marker's fault: a `fault(...)` rule, or a kind string meaning `fault(kind)`."""
    if isinstance(value, FaultRule):
        return check_rule(value)
    if isinstance(value, str):
        return fault(value)
    raise FaultRuleError(
        f"{value!r} is not a fault; use a kind string such as '429' or "
        "pytest_llmeval.fault('429', times=2)"
    )


@dataclass
class _Armed:
    rule: FaultRule
    fired: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.rule.seed)


class FaultPlan:
    """A test's fault rules and the requests they were applied to (thread-safe)."""

    def __init__(self, rules: tuple[FaultRule, ...] | list[FaultRule] = ()) -> None:
        self._lock = threading.Lock()
        self._armed = [_Armed(check_rule(rule)) for rule in rules]
        self._counts: dict[str, int] = {}
        self.requests: list[RequestStart] = []
        self._inferences: Callable[[], Sequence[Inference]] = tuple

    def bind(self, inferences: Callable[[], Sequence[Inference]]) -> None:
        """Where `calls()` reads the test's Inference records (the llm_eval recorder's)."""
        self._inferences = inferences

    def calls(self, role: str = "app") -> list[LogicalCall]:
        """The test's logical calls of `role` so far, each with its attempts (see
        `pytest_llmeval.records.attempts`), the delays before retries measured here."""
        from pytest_llmeval.records.attempts import logical_calls

        with self._lock:
            requests = tuple(self.requests)
        return logical_calls(self._inferences(), role=role, requests=requests)

    def inject(self, kind: str, **options: object) -> FaultRule:
        """Add a rule for the requests still to come (arguments as for `fault`)."""
        rule = fault(kind, **options)  # type: ignore[arg-type]
        with self._lock:
            self._armed.append(_Armed(rule))
        return rule

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The rules, in the order they were given."""
        with self._lock:
            return tuple(armed.rule for armed in self._armed)

    def pick(self, role: str) -> FaultRule | None:
        """The fault for the next request of `role`, or None; counts the request."""
        with self._lock:
            index = self._counts.get(role, 0)
            self._counts[role] = index + 1
            chosen = None
            for armed in self._armed:
                rule = armed.rule
                if rule.role not in ("any", role):
                    continue
                if rule.at is not None and index < rule.at:
                    continue
                if rule.times is not None and armed.fired >= rule.times:
                    continue
                if rule.probability is not None and armed.rng.random() >= rule.probability:
                    continue
                if (
                    rule.at is not None
                    and rule.probability is None
                    and index != rule.at + armed.fired
                ):
                    continue  # `at` with `times`: consecutive requests from `at` on
                armed.fired += 1
                chosen = rule
                break
            self.requests.append(
                RequestStart(
                    role, index, time.perf_counter(), chosen.describe() if chosen else None
                )
            )
            return chosen

    def injected(self) -> int:
        """How many requests got a fault so far."""
        with self._lock:
            return sum(1 for request in self.requests if request.fault is not None)
