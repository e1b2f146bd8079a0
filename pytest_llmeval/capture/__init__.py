"""Capture: every model call an eval test makes, seen, recorded and priced.

`cassettes/` intercepts the SDKs' HTTP traffic and records or replays it; `providers/`
reads what each call was (provider, model, usage, text, tool calls); `inference` turns
an exchange into an `Inference` record; `pricing` prices it (`price_overrides`: the
user's own prices); `budget` keeps the spending ledger; `keys` supplies placeholder API
keys in replay.

May import: `pytest_llmeval.records`, `pytest_llmeval.core` and each other; never the
judges, the reporters or the pytest glue. Nothing is imported here.
"""
