"""A tiny support-ticket router: the code under test of this example.

Real teams would call a model here; this one is deterministic so the example runs
anywhere. The other examples call the openai and anthropic SDKs through cassettes.
"""

from __future__ import annotations

import re

RULES = {
    "refund": ("refund", "money back", "reimburse", "charge back", "chargeback"),
    "shipping": ("shipping", "delivery", "arrive", "tracking", "package", "courier"),
    "account": ("password", "log in", "login", "sign in", "2fa", "account"),
    "billing": ("invoice", "charged twice", "billing", "vat", "receipt"),
}


def classify(message: str) -> str:
    """Route a customer message to refund, shipping, account, billing or other."""
    text = re.sub(r"\s+", " ", message.lower())
    for intent, keywords in RULES.items():
        if any(keyword in text for keyword in keywords):
            return intent
    return "other"


def confidence(message: str) -> float:
    """How many of the chosen intent's keywords the message hits, squashed to [0, 1]."""
    intent = classify(message)
    if intent == "other":
        return 0.5
    hits = sum(keyword in message.lower() for keyword in RULES[intent])
    return min(1.0, 0.6 + 0.2 * hits)
