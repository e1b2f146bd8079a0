"""What a session concluded, as one frozen value.

`EvalSession.finish` builds a `SessionOutcome` once, at the end of the session; every
reporter (the terminal summary, the JUnit suite properties, the JSON and HTML reports,
`llmeval show` and `llmeval gate`) renders its own text from it. The outcome holds data
only, never rendered lines, so reporters depend on this module and not on the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pytest_llmeval.records.diagnostics import JudgeDiagnostics

if TYPE_CHECKING:  # the models load with the first eval result, not with this module
    from pytest_llmeval.records.comparison import BaselineComparison
    from pytest_llmeval.records.decision import GatePolicy
    from pytest_llmeval.records.models import CaseAggregate, GroupAggregate, SessionAggregate
    from pytest_llmeval.records.variant_results import VariantOutcome

#: What the session did with its baseline file.
BaselineAction = Literal["missing", "written", "compared"]


@dataclass(frozen=True)
class BaselineStatus:
    """The baseline file the session used, and what it did with it."""

    #: The file as shown to the user (relative to the rootdir when inside it).
    path: str
    action: BaselineAction
    #: For "written": how many groups and cases the file holds.
    groups: int = 0
    cases: int = 0


@dataclass(frozen=True)
class BudgetOutcome:
    """Live spending against --llmeval-max-cost when the session ended."""

    limit_usd: float
    spent_usd: float
    #: Live calls the budget could not price: (cause, count), sorted by cause.
    unpriced: tuple[tuple[str, int], ...] = ()

    @property
    def exceeded(self) -> bool:
        """Whether live spending reached the limit."""
        return self.spent_usd >= self.limit_usd


@dataclass(frozen=True)
class SessionOutcome:
    """The aggregate, the baseline verdict, the budget and the file errors of a session."""

    aggregate: SessionAggregate
    #: The gate policy the comparison was made under (its fail_on decides what fails).
    policy: GatePolicy
    baseline: BaselineStatus | None = None
    comparison: BaselineComparison | None = None
    budget: BudgetOutcome | None = None
    #: One message per file that could not be read or written.
    file_errors: tuple[str, ...] = ()
    #: The judge diagnostics: re-judge agreement, position swaps, the probes.
    judges: JudgeDiagnostics = JudgeDiagnostics()
    #: The variants evals compared (variants= on the marker); None without any.
    variants: VariantOutcome | None = None

    @property
    def failing_groups(self) -> list[GroupAggregate]:
        """Groups whose pass rate fell below their min_pass_rate."""
        return [g for g in self.aggregate.groups if g.failed_min_pass_rate]

    @property
    def failing_cases(self) -> list[CaseAggregate]:
        """Cases that miss their per-case rule across runs (case_rule, min_case_pass_rate)
        in groups without a min_pass_rate (with one, the group's pass rate decides)."""
        return [
            case
            for group in self.aggregate.groups
            if group.min_pass_rate is None
            for case in group.cases
            if case.failed_case_rule
        ]

    @property
    def regressed(self) -> bool:
        """Whether the baseline comparison fails the session (per the policy's fail_on)."""
        return self.comparison is not None and self.comparison.fails(self.policy.fail_on)

    @property
    def budget_exceeded(self) -> bool:
        """Whether live spending reached --llmeval-max-cost."""
        return self.budget is not None and self.budget.exceeded

    @property
    def failed(self) -> bool:
        """Whether the eval results alone must fail the session."""
        return (
            bool(self.failing_groups)
            or bool(self.failing_cases)
            or self.regressed
            or self.budget_exceeded
        )

    @property
    def file_error(self) -> str | None:
        """The file errors, one per line; None when every file was read and written."""
        return "\n".join(self.file_errors) if self.file_errors else None
