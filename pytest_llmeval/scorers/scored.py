"""`Scored`: what a scorer that explains itself returns, a float in [0, 1] with a reason.

Shared by the trajectory, resilience and guardrail scorers, so every explained score has
one type: pass it on as `llm_eval.score(name, scored)` and its reason goes with it.
Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Scored"]


class Scored(float):
    """A score in [0, 1] with the reason for it (and, for some scorers, its parts)."""

    reason: str
    details: dict[str, float]

    def __new__(
        cls, value: float, reason: str, details: Mapping[str, float] | None = None
    ) -> Scored:
        scored = super().__new__(cls, value)
        scored.reason = reason
        scored.details = dict(details or {})
        return scored

    def __repr__(self) -> str:
        return f"Scored({float(self)!r}, {self.reason!r})"
