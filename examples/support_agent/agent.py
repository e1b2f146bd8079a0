"""A tool-using support agent on the OpenAI SDK: the code under test of this example.

The model reads a customer's ticket and works through it with three tools: it looks
the order up and reads the refund policy (often both at once, as one parallel tool
call), may issue a refund, and answers. The loop stops after `MAX_STEPS` model calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import openai

MODEL = "gpt-4.1-mini"
MAX_STEPS = 6
TODAY = date(2026, 3, 20)

SYSTEM = (
    "You are Acme Kettles' support agent. Use the tools: look the order up before acting "
    "on it, check the refund policy before refunding, and refund only what the policy "
    "allows, the order's full total. Then answer the customer in at most three sentences."
)

#: The shop's orders (a stand-in for a database).
ORDERS: dict[str, dict[str, Any]] = {
    "A1001": {"item": "Glass kettle", "total_eur": 49.0, "status": "delivered", "delivered": "2026-03-15"},
    "B2002": {"item": "Steel kettle", "total_eur": 35.0, "status": "shipped", "tracking": "TRK-88213"},
    "C3003": {"item": "Travel kettle", "total_eur": 25.0, "status": "delivered", "delivered": "2026-01-10"},
    "D4004": {"item": "Smart kettle", "total_eur": 89.0, "status": "delivered", "delivered": "2026-03-12"},
}  # fmt: skip

POLICY = {
    "refund": "Refunds within 30 days of delivery, for the order's full total.",
    "damaged": "Damaged items: a full refund within 30 days of delivery, no return needed.",
    "shipping": "Orders ship in 1-2 days; delivery takes 3-5 business days in the EU.",
}

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look an order up by its id: item, total, status, delivery date.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "pattern": "^[A-Z][0-9]{4}$"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "check_refund_policy",
            "description": "Read the policy for a topic: refund, damaged or shipping.",
            "parameters": {
                "type": "object",
                "properties": {"topic": {"type": "string", "enum": sorted(POLICY)}},
                "required": ["topic"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "issue_refund",
            "description": "Refund an order to the original payment method.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "amount_eur": {"type": "number", "exclusiveMinimum": 0},
                },
                "required": ["order_id", "amount_eur"],
                "additionalProperties": False,
            },
        },
    },
]


def lookup_order(order_id: str) -> dict[str, Any]:
    """The order, or an error the model can read."""
    order = ORDERS.get(order_id)
    if order is None:
        return {"error": f"no order {order_id}"}
    found = {"order_id": order_id, **order}
    if "delivered" in order:
        found["days_since_delivery"] = (TODAY - date.fromisoformat(order["delivered"])).days
    return found


def check_refund_policy(topic: str) -> str:
    """The policy text for a topic."""
    return POLICY.get(topic, "No policy on that topic.")


def issue_refund(order_id: str, amount_eur: float) -> dict[str, Any]:
    """Refund an order (here: only say so)."""
    return {"refund_id": f"R-{order_id}", "order_id": order_id, "amount_eur": amount_eur}


HANDLERS: dict[str, Callable[..., Any]] = {
    "lookup_order": lookup_order,
    "check_refund_policy": check_refund_policy,
    "issue_refund": issue_refund,
}


def run_tool(name: str, arguments: str) -> str:
    """Run one tool call and return its result as text (errors included, for the model)."""
    try:
        result = HANDLERS[name](**json.loads(arguments))
    except (KeyError, TypeError, ValueError) as error:
        return json.dumps({"error": f"{name} failed: {error}"})
    return result if isinstance(result, str) else json.dumps(result)


def handle_ticket(ticket: str, client: openai.OpenAI | None = None) -> str | None:
    """Work a ticket through to an answer; None if the agent ran out of steps."""
    client = client or openai.OpenAI()
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": ticket},
    ]
    for _ in range(MAX_STEPS):
        reply = client.chat.completions.create(
            model=MODEL, temperature=0, messages=messages, tools=TOOLS
        )
        message = reply.choices[0].message
        if not message.tool_calls:
            return message.content
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            result = run_tool(call.function.name, call.function.arguments)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return None
