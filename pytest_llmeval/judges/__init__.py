"""LLM-as-judge: judge kinds, the LLM judge over the openai, anthropic and google-genai SDKs.

Names are re-exported lazily (PEP 562), so importing this package costs nothing until
a judge is used; pydantic and the SDKs load with the first judge call.

    from pytest_llmeval.judges import Faithfulness, SelfConsistency

    verdict = llm_eval.judge(answer, Faithfulness(), context=documents)
    verdict = llm_eval.judge(answer, "Polite and cites the policy", scale="1-5", samples=3)
    verdict = llm_eval.judge(ContextPrecision(), input=question, context=passages)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AnthropicBackend",
    "Backend",
    "ContextPrecision",
    "ContextRecall",
    "ContextRelevance",
    "ConversationRubric",
    "Correctness",
    "Faithfulness",
    "GoalCompletion",
    "GuardrailHeld",
    "Judge",
    "JudgeKind",
    "KnowledgeRetention",
    "LLMJudge",
    "OpenAIBackend",
    "Pairwise",
    "Relevance",
    "RoleAdherence",
    "Rubric",
    "SelfConsistency",
    "SimulatedUser",
    "TaskCompletion",
    "ToolUse",
]

# public name -> module that defines it
_EXPORTS = {
    "AnthropicBackend": "pytest_llmeval.judges.backends",
    "Backend": "pytest_llmeval.judges.backends",
    "OpenAIBackend": "pytest_llmeval.judges.backends",
    "ContextPrecision": "pytest_llmeval.judges.context",
    "ContextRecall": "pytest_llmeval.judges.context",
    "ContextRelevance": "pytest_llmeval.judges.context",
    "Correctness": "pytest_llmeval.judges.kinds",
    "Faithfulness": "pytest_llmeval.judges.kinds",
    "JudgeKind": "pytest_llmeval.judges.kinds",
    "Pairwise": "pytest_llmeval.judges.kinds",
    "Relevance": "pytest_llmeval.judges.kinds",
    "Rubric": "pytest_llmeval.judges.kinds",
    "SelfConsistency": "pytest_llmeval.judges.kinds",
    "TaskCompletion": "pytest_llmeval.judges.episodes",
    "ToolUse": "pytest_llmeval.judges.episodes",
    "ConversationRubric": "pytest_llmeval.judges.episodes",
    "GoalCompletion": "pytest_llmeval.judges.episodes",
    "KnowledgeRetention": "pytest_llmeval.judges.episodes",
    "RoleAdherence": "pytest_llmeval.judges.episodes",
    "SimulatedUser": "pytest_llmeval.judges.simulator",
    "GuardrailHeld": "pytest_llmeval.judges.episodes",
    "Judge": "pytest_llmeval.judges.api",
    "LLMJudge": "pytest_llmeval.judges.api",
}

if TYPE_CHECKING:
    from pytest_llmeval.judges.api import Judge, LLMJudge
    from pytest_llmeval.judges.backends import AnthropicBackend, Backend, OpenAIBackend
    from pytest_llmeval.judges.context import ContextPrecision, ContextRecall, ContextRelevance
    from pytest_llmeval.judges.episodes import (
        ConversationRubric,
        GoalCompletion,
        GuardrailHeld,
        KnowledgeRetention,
        RoleAdherence,
        TaskCompletion,
        ToolUse,
    )
    from pytest_llmeval.judges.kinds import (
        Correctness,
        Faithfulness,
        JudgeKind,
        Pairwise,
        Relevance,
        Rubric,
        SelfConsistency,
    )
    from pytest_llmeval.judges.simulator import SimulatedUser


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_llmeval.judges' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
