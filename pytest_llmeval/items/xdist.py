"""pytest-xdist integration: what the controller hands to each worker.

Per-test results need nothing here: they travel on the test reports (plugin.py).
These hooks exist only in xdist's hook specification, so the class is registered
only when xdist is loaded.
"""

from __future__ import annotations

from typing import Any

#: workerinput key holding the path of the session budget's ledger file.
LEDGER_KEY = "llmeval_ledger"


class XdistHooks:
    """Controller-side xdist hooks."""

    def __init__(self, ledger: str) -> None:
        self.ledger = ledger

    def pytest_configure_node(self, node: Any) -> None:
        """Tell each worker where the shared budget ledger is."""
        node.workerinput[LEDGER_KEY] = self.ledger
