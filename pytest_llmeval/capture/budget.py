"""The session budget of `--llmeval-max-cost`: live spending shared across xdist workers.

Every process appends what its live calls cost to one ledger file (one short line per
call, written with O_APPEND, which POSIX keeps whole for writes this small), and reads
the total before each live call. Once the total reaches the limit, further live calls
fail fast. The check happens before a call and the price is known after it, so calls
already in flight when the limit is reached can overshoot it by their own cost.

A live call the plugin cannot price (no known price, no usage reported) spends money
the ledger never sees. Each one is noted, with its cause, in a second file beside the
ledger, `unpriced`: the controller names them in the summary. The first call of each
cause in the session, in any process, wins a claim file (created with O_EXCL) and is
the one that warns. In strict mode such calls are refused before they leave.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from pathlib import Path

from pytest_llmeval.core.errors import BudgetExceeded, UnpricedCallRefused
from pytest_llmeval.core.money import format_usd
from pytest_llmeval.core.money import usd as usd  # where the budget's messages import it

_CLAIM = os.O_WRONLY | os.O_CREAT | os.O_EXCL


class SessionBudget:
    """A USD limit on live spending, shared through a ledger file."""

    def __init__(self, limit_usd: float, ledger: Path, strict: bool = False) -> None:
        self.limit_usd = limit_usd
        self.ledger = Path(ledger)
        self.strict = strict  # --llmeval-max-cost-strict: refuse what cannot be priced
        self._unpriced = self.ledger.parent / "unpriced"

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
        _append_line(self.ledger, repr(usd))

    def note_unpriced(self, cause: str) -> bool:
        """Record a live call the budget could not price; True for the first of its cause
        in the whole session (that call warns)."""
        cause = " ".join(cause.split())[:500]  # one short line: appended whole
        _append_line(self._unpriced, cause)
        digest = hashlib.sha256(cause.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        try:
            os.close(os.open(self.ledger.parent / f"warned-{digest}", _CLAIM, 0o600))
        except FileExistsError:
            return False
        return True

    def unpriced(self) -> dict[str, int]:
        """How many live calls of each cause the budget could not price, in every process."""
        try:
            text = self._unpriced.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return {}
        # the last line may still be being written by another process
        lines = text.split("\n")[:-1]
        return dict(sorted(Counter(line for line in lines if line).items()))

    def check(self, nodeid: str) -> None:
        """Refuse a live call once the limit is reached."""
        spent = self.spent()
        if spent >= self.limit_usd:
            raise BudgetExceeded(
                f"llm_eval session budget used up: live calls have cost ${format_usd(spent)} "
                f"of --llmeval-max-cost={usd(self.limit_usd)}; {nodeid} made a live call after "
                "that. Raise the budget, or replay from cassettes (--llmeval-record=none)."
            )

    def refuse_unpriceable(self, nodeid: str, cause: str) -> BudgetExceeded:
        """The error refusing, in strict mode, a live call the budget could not price."""
        return UnpricedCallRefused(
            f"llm_eval refused a live call of {nodeid}: {cause}, so --llmeval-max-cost "
            "could not count its cost, and --llmeval-max-cost-strict refuses such calls. "
            f"{fix_for(cause)} Or replay it from a cassette, or drop --llmeval-max-cost-strict "
            "(the call then goes out, with a warning)."
        )


def fix_for(cause: str) -> str:
    """How to make the calls of a cause priceable (the cause names the reason)."""
    fixes = []
    if "include_usage" in cause:
        fixes.append("Pass stream_options={'include_usage': True} so the stream reports usage.")
    elif "usage not reported" in cause:
        fixes.append("The server reported no token usage; a server that does can be budgeted.")
    if "no known price" in cause:
        model = cause.split(" at ", 1)[0]
        fixes.append(
            f"Set its price in the llmeval_prices ini option: '{model} = <input> / <output>' "
            "in USD per million tokens."
        )
    if "no model named" in cause or "not a model API" in cause:
        fixes.append("The plugin cannot tell what it costs.")
    return " ".join(fixes)


def _append_line(path: Path, line: str) -> None:
    # O_APPEND keeps a write this small whole when several processes append at once
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, f"{line}\n".encode("utf-8", "surrogatepass"))
    finally:
        os.close(descriptor)
