"""Ambient state for code running inside an eval test: who makes an HTTP call.

`current_role` is a context variable, not a module global, so that a judge running
concurrently with the code under test (each an asyncio task with its own context copy)
marks only its own calls as `judge`. Its twin, the cassette a call is routed to, is
`cassettes.intercept.current_cassette`, defined beside the router that reads it; this
module imports only the vocabulary, so every layer may import it (STYLE convention 2).
"""

from __future__ import annotations

from contextvars import ContextVar

from pytest_llmeval.core.vocabulary import Role

#: Who is making the HTTP call: the code under test (`app`), a judge (`judge`), a
#: simulated user (`simulator`) or an evaluation helper (`evaluation`: the embedding
#: scorer, code under `llm_eval.evaluating()`).
current_role: ContextVar[Role] = ContextVar("llmeval_current_role", default="app")
