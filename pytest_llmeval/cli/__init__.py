"""The `llmeval` console tool (`main`; `cassettes`: `llmeval cassettes ...`).

Beside the pytest glue: it uses the records, the capture and the reporters, never the
hooks. `python -m pytest_llmeval.cli` runs it too.
"""

from __future__ import annotations

from pytest_llmeval.cli.main import main

__all__ = ["main"]
