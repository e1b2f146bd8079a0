"""The pytest glue and item lifecycle, above every other layer.

`settings` (options, ini lines and environment variables), `lifecycle` (what one
item's run shares with the hooks), `controller` (the controller-side plugin object),
`runner` (`ItemRun`: one item's run; `adaptive`: adaptive repeats' extra runs),
`runtime` (the session's shared parts, built on the first eval item), `recorder` (the
`llm_eval` fixture object; `case_methods`, `judge_trust`, and `conversation_methods`
with `dialogue`: its mixins),
`session` (the controller-side `EvalSession`), `xdist` (the worker-to-controller hop)
and `concurrency/` (`--llmeval-concurrency`). `pytest_llmeval.plugin`, the pytest entry
point, holds only the hooks and fixtures.

May import every layer. Nothing is imported here: `plugin` loads `settings`,
`lifecycle`, `controller` and `core.vocabulary` at pytest start, the rest on the first
eval item.
"""
