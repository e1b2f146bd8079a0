"""pytest-llm-eval: evaluations of LLM-backed code as first-class pytest tests.

pytest imports this package in every session of everyone who installed the plugin,
so the public names are re-exported lazily (PEP 562): importing the package costs
nothing beyond the standard library until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Case",
    "Conversation",
    "LLMEvalError",
    "PairwiseVerdict",
    "Verdict",
    "fault",
    "guardrail_cases",
    "load_cases",
]

# public name -> module that defines it
_EXPORTS = {
    "Case": "pytest_llmeval.records.cases",
    "load_cases": "pytest_llmeval.records.cases",
    "Conversation": "pytest_llmeval.records.conversation",
    "LLMEvalError": "pytest_llmeval.core.errors",
    "Verdict": "pytest_llmeval.records.verdicts",
    "PairwiseVerdict": "pytest_llmeval.records.verdicts",
    "fault": "pytest_llmeval.records.injection",
    "guardrail_cases": "pytest_llmeval.scorers.guardrails",
}

if TYPE_CHECKING:
    from pytest_llmeval.core.errors import LLMEvalError
    from pytest_llmeval.records.cases import Case, load_cases
    from pytest_llmeval.records.conversation import Conversation
    from pytest_llmeval.records.injection import fault
    from pytest_llmeval.records.verdicts import PairwiseVerdict, Verdict
    from pytest_llmeval.scorers.guardrails import guardrail_cases


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_llmeval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
