"""Pieces of the suites the tests write with pytester and run through the plugin."""

from __future__ import annotations

from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec

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


def quality_suite(questions: list[str]) -> str:
    """A suite of one eval test per question whose score is the quality figure the fake
    provider's answer carries, as
    `script_quality` scripts it; the group's min_pass_rate keeps below-threshold cases
    from failing the session on their own."""
    return f"""
import os
import openai
import pytest

QUESTIONS = {questions!r}

@pytest.mark.llm_eval(threshold=0.5, min_pass_rate=0.1)
@pytest.mark.parametrize("q", QUESTIONS)
def test_answers(q, llm_eval):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": q}}]
    ).choices[0].message.content
    # the "model" answers with a quality figure; the eval reads it back as the score
    llm_eval.score("quality", float(reply.split("quality=")[1]))
"""


def script_quality(server: FakeProviderServer, quality: dict[str, float]) -> None:
    """Make the fake provider answer each question with its quality figure."""

    def reply(request: RecordedRequest) -> ReplySpec:
        question = request.last_user_text
        return ReplySpec(text=f"answer to {question} quality={quality[question]:.4f}")

    server.set_handler(reply)
