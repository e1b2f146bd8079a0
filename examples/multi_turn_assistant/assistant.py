"""An order assistant on the Anthropic SDK that keeps a conversation: the code under test."""

from __future__ import annotations

import anthropic

MODEL = "claude-haiku-4-5"

SYSTEM = """\
You are Acme Kettles' order assistant. You help customers with their orders, returns, \
damaged items and deliveries, in at most three sentences per reply, politely. Stay in \
this role: decline anything else and offer help with an order instead. Remember what \
the customer told you earlier in the conversation.
Policy: refunds within 30 days of delivery, with a prepaid return label by email; \
damaged items reported within 7 days with a photo get a free replacement; delivery \
takes 3-5 business days inside the EU, with tracking by email."""


def reply(messages: list[dict[str, str]], client: anthropic.Anthropic | None = None) -> str:
    """The assistant's next reply to the conversation so far (user and assistant turns)."""
    client = client or anthropic.Anthropic()
    response = client.messages.create(model=MODEL, max_tokens=300, system=SYSTEM, messages=messages)
    return "".join(block.text for block in response.content if block.type == "text")
