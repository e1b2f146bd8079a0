"""Shared setup of the examples."""

from __future__ import annotations

import os

# Replaying from cassettes needs no API key, but the SDK clients refuse to be built
# without one: give them a placeholder when none is set. Recording needs real keys
# (or the stand-in server of record_examples.py).
os.environ.setdefault("OPENAI_API_KEY", "replay-only-no-key")
os.environ.setdefault("ANTHROPIC_API_KEY", "replay-only-no-key")
