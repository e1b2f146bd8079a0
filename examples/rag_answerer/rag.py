"""A retrieval-augmented answerer on the Anthropic SDK, streaming its answer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anthropic

MODEL = "claude-haiku-4-5"
DOCS = json.loads((Path(__file__).parent / "data" / "handbook.json").read_text(encoding="utf-8"))


def retrieve(question: str, k: int = 2) -> list[str]:
    """The k handbook passages sharing the most words with the question."""
    words = set(re.findall(r"[a-z]{4,}", question.lower()))

    def overlap(doc: dict[str, str]) -> int:
        return len(words & set(re.findall(r"[a-z]{4,}", doc["text"].lower())))

    ranked = sorted(DOCS, key=lambda doc: (-overlap(doc), doc["id"]))
    return [doc["text"] for doc in ranked[:k]]


def answer(question: str, client: anthropic.Anthropic | None = None) -> tuple[str, list[str]]:
    """Answer from the handbook; returns the answer and the passages it was given."""
    client = client or anthropic.Anthropic()
    passages = retrieve(question)
    context = "\n\n".join(f"<passage>{p}</passage>" for p in passages)
    with client.messages.stream(
        model=MODEL,
        max_tokens=300,
        system="Answer the employee's question using only the passages. "
        "If they do not contain the answer, say you don't know.",
        messages=[{"role": "user", "content": f"{context}\n\nQuestion: {question}"}],
    ) as stream:
        text = "".join(stream.text_stream)
    return text, passages
