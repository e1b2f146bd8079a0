"""The session budget of `--llmeval-max-cost`: live spending shared across xdist workers.

Every process appends what its live calls cost to one ledger file (one short line per
call, written with O_APPEND, which POSIX keeps whole for writes this small), and reads
the total before each live call. Once the total reaches the limit, further live calls
fail fast. The check happens before a call and the price is known after it, so calls
already in flight when the limit is reached can overshoot it by their own cost.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from pytest_llmeval.errors import BudgetExceeded


class SessionBudget:
    """A USD limit on live spending, shared through a ledger file."""

    def __init__(self, limit_usd: float, ledger: Path) -> None:
        self.limit_usd = limit_usd
        self.ledger = Path(ledger)

    def spent(self) -> float:
        """USD spent by live calls of this session so far, in every process."""
        try:
            text = self.ledger.read_text(encoding="ascii")
        except FileNotFoundError:
            return 0.0
        amounts = []
        for line in text.splitlines():
            try:
                amounts.append(float(line))
            except ValueError:  # a line still being written by another process
                continue
        return math.fsum(amounts)

    def add(self, usd: float) -> None:
        """Record the cost of one live call."""
        if usd <= 0:
            return
        descriptor = os.open(self.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, f"{usd!r}\n".encode("ascii"))
        finally:
            os.close(descriptor)

    def check(self, nodeid: str) -> None:
        """Refuse a live call once the limit is reached."""
        spent = self.spent()
        if spent >= self.limit_usd:
            raise BudgetExceeded(
                f"llm_eval session budget used up: live calls have cost ${spent:.4f} of "
                f"--llmeval-max-cost=${self.limit_usd:.4f}; {nodeid} made a live call after "
                "that. Raise the budget, or replay from cassettes (--llmeval-record=none)."
            )

    @property
    def exceeded(self) -> bool:
        """Whether live spending reached the limit."""
        return self.spent() >= self.limit_usd
