"""Amounts of US dollars as text (pure; stdlib only): one rule for every place that
prints money (terminal, failure messages, budgets, the console tool).

`format_usd` prints a cost at 4 decimals, the precision of a cost column; an amount
below $0.001 would lose its digits there (`$0.00005` as `$0.0001`, `$0.000012` as
`$0.0000`), so it keeps 2 significant digits instead. `usd` prints a limit as the
user wrote it.
"""

from __future__ import annotations

import math


def format_usd(amount: float) -> str:
    """A cost without the `$`: 4 decimals (`0.0123`), or 2 significant digits for an
    amount below 0.001 (`0.000050`); 0 is `0.0000`."""
    if amount == 0 or not math.isfinite(amount) or abs(amount) >= 0.001:
        return f"{amount:.4f}"
    decimals = 1 - math.floor(math.log10(abs(amount)))
    return f"{amount:.{decimals}f}"


def usd(amount: float) -> str:
    """A limit as the user wrote it: $0.000001, $2, $0.02 (not 1e-06 or 2.0000)."""
    return "$" + (f"{amount:.10f}".rstrip("0").rstrip(".") or "0")
