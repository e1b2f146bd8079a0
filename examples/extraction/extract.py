"""Structured extraction of invoice fields with the OpenAI SDK's structured outputs."""

from __future__ import annotations

import openai
from pydantic import BaseModel, Field

MODEL = "gpt-4.1-mini"


class Invoice(BaseModel):
    """The fields the accounts team needs from an invoice email."""

    vendor: str = Field(description="Company that issued the invoice.")
    invoice_number: str
    total_eur: float = Field(description="Total amount due, in EUR.")
    due_date: str = Field(description="ISO date (YYYY-MM-DD) the payment is due.")


def extract(email: str, client: openai.OpenAI | None = None) -> str:
    """The model's JSON for the invoice in `email` (validated by the eval, not here)."""
    client = client or openai.OpenAI()
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Extract the invoice fields from the email."},
            {"role": "user", "content": email},
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "Invoice", "strict": True, "schema": _strict_schema()},
        },
    )
    return reply.choices[0].message.content or ""


def _strict_schema() -> dict[str, object]:
    schema = Invoice.model_json_schema()
    schema["additionalProperties"] = False
    return schema
