"""Scorers: pure functions that return a score in [0, 1] (1 is best), the public
home of every deterministic scorer (`from pytest_llmeval.scorers import exact`).

By kind: `text` (exact, contains, regex, JSON and schema checks, similarity),
`trajectory` (an agent's tool calls), `resilience` (what the app did about injected
provider faults), `guardrails` (the adversarial corpus and its checks), `retrieval`
(ranking metrics), `embedding` (embedding similarity, through the SDK: its calls are
evaluation calls); `scored.Scored` is the float-with-a-reason some return.
The names are re-exported lazily (PEP 562): importing this package costs nothing
beyond the standard library until a scorer is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmeval.scorers.embedding import aembedding_similarity, embedding_similarity
    from pytest_llmeval.scorers.guardrails import (
        canary_token,
        ignored_injection,
        no_canary_leak,
        no_pii,
    )
    from pytest_llmeval.scorers.resilience import (
        failed_cleanly,
        fell_back_to,
        recovered_within,
        within_latency_budget,
    )
    from pytest_llmeval.scorers.retrieval import (
        hit_rate_at_k,
        mrr,
        ndcg_at_k,
        precision_at_k,
        recall_at_k,
    )
    from pytest_llmeval.scorers.scored import Scored
    from pytest_llmeval.scorers.text import (
        contains,
        edit_similarity,
        exact,
        json_schema_valid,
        json_valid,
        numeric_close,
        pydantic_valid,
        regex,
        token_f1,
    )
    from pytest_llmeval.scorers.trajectory import (
        max_steps,
        max_tool_calls,
        no_forbidden_tools,
        no_tool_errors,
        tool_arguments_valid,
        tool_called,
        tool_sequence,
    )

__all__ = [
    "Scored",
    "aembedding_similarity",
    "canary_token",
    "contains",
    "edit_similarity",
    "embedding_similarity",
    "exact",
    "failed_cleanly",
    "fell_back_to",
    "hit_rate_at_k",
    "ignored_injection",
    "json_schema_valid",
    "json_valid",
    "max_steps",
    "max_tool_calls",
    "mrr",
    "ndcg_at_k",
    "no_canary_leak",
    "no_forbidden_tools",
    "no_pii",
    "no_tool_errors",
    "numeric_close",
    "precision_at_k",
    "pydantic_valid",
    "recall_at_k",
    "recovered_within",
    "regex",
    "token_f1",
    "tool_arguments_valid",
    "tool_called",
    "tool_sequence",
    "within_latency_budget",
]

# public name -> module that defines it
_EXPORTS = {
    "Scored": "pytest_llmeval.scorers.scored",
    "aembedding_similarity": "pytest_llmeval.scorers.embedding",
    "canary_token": "pytest_llmeval.scorers.guardrails",
    "contains": "pytest_llmeval.scorers.text",
    "edit_similarity": "pytest_llmeval.scorers.text",
    "embedding_similarity": "pytest_llmeval.scorers.embedding",
    "exact": "pytest_llmeval.scorers.text",
    "failed_cleanly": "pytest_llmeval.scorers.resilience",
    "fell_back_to": "pytest_llmeval.scorers.resilience",
    "hit_rate_at_k": "pytest_llmeval.scorers.retrieval",
    "ignored_injection": "pytest_llmeval.scorers.guardrails",
    "json_schema_valid": "pytest_llmeval.scorers.text",
    "json_valid": "pytest_llmeval.scorers.text",
    "max_steps": "pytest_llmeval.scorers.trajectory",
    "max_tool_calls": "pytest_llmeval.scorers.trajectory",
    "mrr": "pytest_llmeval.scorers.retrieval",
    "ndcg_at_k": "pytest_llmeval.scorers.retrieval",
    "no_canary_leak": "pytest_llmeval.scorers.guardrails",
    "no_forbidden_tools": "pytest_llmeval.scorers.trajectory",
    "no_pii": "pytest_llmeval.scorers.guardrails",
    "no_tool_errors": "pytest_llmeval.scorers.trajectory",
    "numeric_close": "pytest_llmeval.scorers.text",
    "precision_at_k": "pytest_llmeval.scorers.retrieval",
    "pydantic_valid": "pytest_llmeval.scorers.text",
    "recall_at_k": "pytest_llmeval.scorers.retrieval",
    "recovered_within": "pytest_llmeval.scorers.resilience",
    "regex": "pytest_llmeval.scorers.text",
    "token_f1": "pytest_llmeval.scorers.text",
    "tool_arguments_valid": "pytest_llmeval.scorers.trajectory",
    "tool_called": "pytest_llmeval.scorers.trajectory",
    "tool_sequence": "pytest_llmeval.scorers.trajectory",
    "within_latency_budget": "pytest_llmeval.scorers.resilience",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_llmeval.scorers' has no attribute {name!r}")
    # import_module reads sys.modules, so a module a test harness dropped (pytester) is
    # imported afresh instead of read from a stale attribute of this package
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
