"""A customer-support bot on the OpenAI SDK: the code under test of this example."""

from __future__ import annotations

import openai

MODEL = "gpt-4.1-mini"

POLICY = """\
Acme Kettles customer policy.
- Refunds: within 30 days of delivery, with the receipt; refunds go back to the original
  payment method within 5 business days.
- Damaged items: report within 7 days with a photo; we send a replacement at no cost.
- Shipping: free over 40 EUR inside the EU; 3-5 business days; tracking by email.
- We do not ship outside the EU.
"""

SYSTEM = (
    "You are Acme Kettles' support assistant. Answer in at most three sentences, "
    "politely, using only this policy; if the policy does not cover the question, "
    "say so and offer a human agent.\n\n" + POLICY
)


def answer(question: str, client: openai.OpenAI | None = None) -> str:
    """Answer one customer question."""
    client = client or openai.OpenAI()
    reply = client.chat.completions.create(
        model=MODEL,
        temperature=0,
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question},
        ],
    )
    return reply.choices[0].message.content or ""
