"""Ticket triage: one prompt, any of three models, through the real OpenAI and Anthropic
SDKs. The code under test of this example; which model it should run on is the question."""

from __future__ import annotations

from typing import Any

import anthropic
import openai

QUEUES = ("billing", "shipping", "returns", "technical", "account")

SYSTEM = (
    "Classify the support ticket of Acme Kettles into exactly one queue: "
    + ", ".join(QUEUES)
    + ". Answer with the queue's name only, in lower case."
)

#: The candidates compared: each a provider and a model (a config a test is
#: parametrized over; the eval names them by model).
CANDIDATES: list[dict[str, Any]] = [
    {"provider": "openai", "model": "gpt-4.1-mini"},
    {"provider": "openai", "model": "gpt-4.1-nano"},
    {"provider": "anthropic", "model": "claude-haiku-4-5"},
]


def triage(ticket: str, *, provider: str, model: str) -> str:
    """The queue the model puts a ticket in (its answer, stripped and lower-cased)."""
    if provider == "openai":
        reply = openai.OpenAI().chat.completions.create(
            model=model,
            temperature=0,
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": ticket},
            ],
        )
        text = reply.choices[0].message.content or ""
    else:
        message = anthropic.Anthropic().messages.create(
            model=model,
            max_tokens=10,
            system=SYSTEM,
            messages=[{"role": "user", "content": ticket}],
        )
        text = "".join(block.text for block in message.content if block.type == "text")
    return text.strip().lower()
