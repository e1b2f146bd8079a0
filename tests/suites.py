"""Pieces of the suites the tests write with pytester and run through the plugin."""

from __future__ import annotations

#: The head of a suite whose tests ask the fake provider (at `FAKE_URL`) one chat
#: question through the real openai SDK: `ask(question)` returns the reply's text.
ASK = """
import os
import openai
import pytest

def ask(question):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="sk-test-key", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
    )
    return reply.choices[0].message.content
"""
