"""Ambient state for code running inside an eval test: which cassette, which role.

These are the plugin's only context variables (STYLE convention 2). They are
context variables, not module globals, so that eval tests running concurrently on
one event loop (each an asyncio task with its own context copy) route their HTTP
calls to their own cassette, and a judge marks only its own calls as `judge`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pytest_llmeval.cassettes.session import CassetteSession

Role = Literal["app", "judge"]

#: The cassette of the eval test whose code is running, or None outside eval tests.
current_cassette: ContextVar[CassetteSession | None] = ContextVar(
    "llmeval_current_cassette", default=None
)

#: Who is making the HTTP call: the code under test (`app`) or a judge (`judge`).
current_role: ContextVar[Role] = ContextVar("llmeval_current_role", default="app")
