"""Re-record the examples' cassettes against a scripted stand-in of the OpenAI and
Anthropic APIs.

This repository has no API keys, so its example cassettes were recorded this way:
the examples run unchanged, through the real `openai` and `anthropic` SDKs with their
default base URLs, and every request they send to api.openai.com or api.anthropic.com
is answered by the test suite's fake provider (tests/fakeprovider), scripted below
with the answers a model might give. Cassettes therefore show the real hosts and
request bodies, and are priced with genai-prices' real prices; the answers, verdicts,
token counts and timings are the stand-in's.

With real keys, record for real instead: `pytest examples --llmeval-record=all`.

Usage, from the repository root:  python examples/record_examples.py [FOLDER ...]
(FOLDER: an example's folder under examples/, to re-record only those; the baseline is
always rewritten from a replay of every example).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, ToolCall  # noqa: E402

# --- what the stand-in "model" answers ----------------------------------------------

SUPPORT_ANSWERS = {
    "How long do I have to return a kettle?": (
        "You can return your kettle within 30 days of delivery, together with the receipt. "
        "Once we receive it, the refund goes back to your original payment method."
    ),
    "When do I get my money?": (
        "Refunds are sent to your original payment method within 5 business days of us "
        "receiving the return. Thank you for your patience!"
    ),
    "cracked lid": (
        "I'm sorry about the cracked lid! Please report it within 7 days with a photo of the "
        "damage, and we will send you a replacement at no cost."
    ),
    "55 EUR order to Spain": (
        "No, shipping is free for orders over 40 EUR inside the EU, so your 55 EUR order to "
        "Spain ships free of charge."
    ),
    "How long does delivery take?": (
        "Delivery takes 3-5 business days inside the EU, and you will receive tracking "
        "details by email."
    ),
    "ship to Canada?": ("I'm sorry, we only ship within the EU, so we cannot deliver to Canada."),
    # A weak answer on purpose: it invents an exception to the policy.
    "lost my receipt": (
        "No problem, a refund without a receipt is usually fine: just send the kettle back "
        "and we will sort it out."
    ),
    "best for green tea?": (
        "Our policy doesn't cover product recommendations, but I'd be happy to connect you "
        "with a human agent who can help you choose."
    ),
}

RAG_ANSWERS = {
    "carry over": (
        "You can carry over up to 5 unused leave days into the next year; they expire on 31 March."
    ),
    # Unfaithful on purpose: the handbook says 2 weeks, not 1.
    "Portugal": (
        "Yes, but working from another country needs written approval from HR at least one "
        "week in advance."
    ),
    "meal expenses": "Yes: meals are capped at 40 EUR per day when travelling.",
    "doctor's note": (
        "You need a doctor's note from the third consecutive day of sick leave, and you must "
        "notify your manager before 10:00 on the first day."
    ),
    "parking": "I don't know: the handbook passages don't mention parking.",
}

INVOICES = {
    "NL-2291": [
        '{"vendor":"Nordlicht GmbH","invoice_number":"NL-2291","total_eur":1250.0,'
        '"due_date":"2026-04-15"}'
    ],
    "BW-77": [
        '{"vendor":"Brightwater Supplies","invoice_number":"BW-77","total_eur":89.9,'
        '"due_date":"2026-05-31"}',
        # one of the three samples misreads "30 days from 1 May"
        '{"vendor":"Brightwater Supplies","invoice_number":"BW-77","total_eur":89.9,'
        '"due_date":"2026-06-01"}',
        '{"vendor":"Brightwater Supplies","invoice_number":"BW-77","total_eur":89.9,'
        '"due_date":"2026-05-31"}',
    ],
    "2026/118": [
        '{"vendor":"Lumen Print Oy","invoice_number":"2026/118","total_eur":4200.0,'
        '"due_date":"2026-06-01"}'
    ],
}

# The support agent's tool calls, by ticket: (order in the ticket) -> the reply after
# each number of tool results the request carries back (0 = the first turn).
AGENT_SCRIPTS: dict[str, dict[int, ReplySpec]] = {
    "A1001": {
        0: ReplySpec(
            tool_calls=[
                ToolCall("lookup_order", {"order_id": "A1001"}),
                ToolCall("check_refund_policy", {"topic": "damaged"}),
            ]
        ),
        2: ReplySpec(
            tool_calls=[ToolCall("issue_refund", {"order_id": "A1001", "amount_eur": 49.0})]
        ),
        3: ReplySpec(
            text="I'm sorry about the cracked lid! I have refunded the full 49 EUR for order "
            "A1001 to your original payment method; no need to send the kettle back."
        ),
    },
    "B2002": {
        0: ReplySpec(tool_calls=[ToolCall("lookup_order", {"order_id": "B2002"})]),
        1: ReplySpec(
            text="Your order B2002 has shipped and is on its way: you can follow it with "
            "tracking number TRK-88213."
        ),
    },
    "C3003": {
        0: ReplySpec(
            tool_calls=[
                ToolCall("lookup_order", {"order_id": "C3003"}),
                ToolCall("check_refund_policy", {"topic": "refund"}),
            ]
        ),
        2: ReplySpec(
            text="I'm sorry, order C3003 was delivered 69 days ago, past our 30-day refund "
            "window, so I cannot refund it."
        ),
    },
    # Hasty on purpose: it refunds at once, without looking the order up or reading the
    # policy, so the sequence scorer and the task-completion judge mark it down.
    "D4004": {
        0: ReplySpec(
            tool_calls=[ToolCall("issue_refund", {"order_id": "D4004", "amount_eur": 89.0})]
        ),
        1: ReplySpec(text="Done: order D4004 is refunded."),
    },
}


def agent_reply(request: RecordedRequest) -> ReplySpec | None:
    """The support agent's next step: scripted by its ticket and how far it got."""
    ticket = request.last_user_text or ""
    for order, steps in AGENT_SCRIPTS.items():
        if order in ticket:
            return steps.get(len(request.tool_results))
    return None


def _declares_tool(body: dict[str, Any], name: str) -> bool:
    return any(
        (tool.get("function") or {}).get("name") == name or tool.get("name") == name
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
    )


# The multi-turn order assistant: last customer message fragment -> reply.
ASSISTANT_ANSWERS = {
    "return a kettle": "Happy to help with your return. Could you give me your order number?",
    "order A-1042": (
        "Thanks! Order A-1042 is within the 30-day return window, so I've emailed you a "
        "prepaid return label."
    ),
    "Which order number": "You gave me order A-1042.",
    "poem about the sea": (
        "I'm Acme Kettles' order assistant, so I can't write poems, but I'm happy to help "
        "with an order, a return or a delivery."
    ),
    "How long does delivery take": (
        "Delivery takes 3-5 business days inside the EU, and the tracking link comes by email."
    ),
    "cracked lid": (
        "I'm sorry about the lid, Dana! Please send a photo of the damage within 7 days and "
        "we'll ship a replacement at no cost."
    ),
    "Where will you send the replacement": (
        "Thank you for the photo. We'll send the replacement to the delivery address of your order."
    ),
    # Forgetful on purpose: the customer gave her name in the first turn.
    "what name the ticket": "Could you tell me your name, please?",
    "Where is my kettle": "Sorry for the wait! Could you give me your order number?",
    "A-2001": (
        "Order A-2001 shipped on Monday and arrives within 3-5 business days; your tracking "
        "link is track.acme.example/A-2001."
    ),
    "45 days ago": (
        "I'm sorry, refunds are only possible within 30 days of delivery, so I can't offer "
        "one for this kettle. I can connect you with a human agent if you'd like."
    ),
}

# Simulated customers: goal fragment -> the steps after 0, 1, 2... assistant replies.
SIMULATED_CUSTOMERS: dict[str, list[dict[str, str]]] = {
    "order A-2001": [
        {
            "reasoning": "Nothing asked yet.",
            "status": "continue",
            "message": "Where is my kettle??",
        },
        {"reasoning": "It wants the order number.", "status": "continue", "message": "A-2001"},
        {
            "reasoning": "I have the delivery window and the tracking link.",
            "status": "goal_met",
            "message": "",
        },
    ],
    "45 days ago": [
        {
            "reasoning": "Nothing asked yet.",
            "status": "continue",
            "message": "Hello, I bought a kettle 45 days ago and I'd like a refund, please.",
        },
        {
            "reasoning": "The assistant says it cannot refund after 30 days.",
            "status": "app_gave_up",
            "message": "",
        },
    ],
}


def simulated_step(request: RecordedRequest) -> dict[str, str]:
    """The scripted customer's step: by its goal and how many replies it has seen."""
    text = request.text
    answered = len(re.findall(r"\] assistant: ", text))
    for goal, steps in SIMULATED_CUSTOMERS.items():
        if goal in text:
            return steps[min(answered, len(steps) - 1)]
    raise LookupError("no scripted customer for this simulator request")


# The ticket triage of model_choice: ticket fragment -> the queue every model answers,
# except where TRIAGE_MISTAKES gives a model's own (wrong) answer.
TRIAGE_ANSWERS = {
    "charged twice": "billing",
    "no sign of it": "shipping",
    "changed my mind": "returns",
    "blinks red": "technical",
    "password reset": "account",
    "VAT invoice": "billing",
    "handle came off": "returns",
    "delivery address": "shipping",
}
# The smallest model mistakes a return of a broken kettle for a technical problem.
TRIAGE_MISTAKES = {("gpt-4.1-nano", "handle came off"): "technical"}


def triage_reply(request: RecordedRequest) -> ReplySpec | None:
    """The queue a candidate model puts a ticket in."""
    ticket = request.last_user_text or ""
    for fragment, queue in TRIAGE_ANSWERS.items():
        if fragment in ticket:
            return ReplySpec(text=TRIAGE_MISTAKES.get((request.model, fragment), queue))
    return None


# Judge verdicts: (judged-answer fragment, criteria keyword) -> (score, reasoning).
# A criteria keyword is looked up in the judge's prompt; the first match wins.
VERDICTS: list[tuple[str, str, int, str]] = [
    (
        "refund without a receipt",
        "reference",
        0,
        "The reference says the receipt is required; the answer claims a refund without "
        "one is usually fine, which contradicts the policy.",
    ),
    (
        "refund without a receipt",
        "Polite",
        1,
        "Polite and short, and it answers the question, although its content is wrong.",
    ),
    (
        "one week in advance",
        "faithful to the context",
        0,
        "The passage requires approval at least 2 weeks in advance; the answer says one "
        "week, which the passages do not support.",
    ),
    (
        "Done: order D4004 is refunded.",
        "The goal:",
        0,
        "The agent called issue_refund in step 1 without looking order D4004 up or checking "
        "the refund policy, which the goal requires; the refund itself is right.",
    ),
    (
        "Could you tell me your name",
        "retains what the user told it",
        0,
        "The customer said she is Dana in the first turn; in the last turn the assistant "
        "asks for her name again.",
    ),
]


def judge_verdict(request: RecordedRequest) -> dict[str, Any]:
    """A verdict for a judge request: scripted for the weak answers, a pass otherwise."""
    text = request.text
    for fragment, keyword, score, reasoning in VERDICTS:
        if fragment in text and keyword in text:
            return {"reasoning": reasoning, "score": score}
    return {
        "reasoning": "The output meets the criteria: it is consistent with the material "
        "given and answers what was asked.",
        "score": 1,
    }


def _json_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the request asks the answer to follow, if any."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return dict(response_format["json_schema"].get("schema") or {})
    output_format = (body.get("output_config") or {}).get("format") or {}
    if output_format.get("type") == "json_schema":
        return dict(output_format.get("schema") or {})
    return None


def stand_in_model() -> Callable[[RecordedRequest], ReplySpec | None]:
    """The scripted model: answers by what the request asks for."""
    samples: dict[str, int] = {}

    def reply(request: RecordedRequest) -> ReplySpec | None:
        body = request.body if isinstance(request.body, dict) else {}
        schema = _json_schema(body)
        if schema is not None and "status" in (schema.get("properties") or {}):
            return ReplySpec(json=simulated_step(request))
        if schema is not None and "reasoning" in (schema.get("properties") or {}):
            return ReplySpec(json=judge_verdict(request))
        if _declares_tool(body, "lookup_order"):  # the support agent
            return agent_reply(request)
        if "Classify the support ticket of Acme Kettles" in request.text:  # model_choice
            return triage_reply(request)
        question = request.last_user_text or ""
        if "Acme Kettles' order assistant" in request.text:
            for fragment, answer in ASSISTANT_ANSWERS.items():
                if fragment in question:
                    return ReplySpec(text=answer)
        if schema is not None:  # invoice extraction
            for number, outputs in INVOICES.items():
                if number in question:
                    index = samples.get(number, 0)
                    samples[number] = index + 1
                    return ReplySpec(text=outputs[index % len(outputs)])
        for table in (SUPPORT_ANSWERS, RAG_ANSWERS):
            for fragment, answer in table.items():
                if fragment in question:
                    return ReplySpec(text=answer)
        return None

    return reply


# --- routing the SDKs' real hosts to the stand-in ----------------------------------


class StandIn:
    """A pytest plugin sending api.openai.com / api.anthropic.com traffic to the stand-in.

    It patches the HTTP transport under the plugin's own interception, so cassettes
    record the requests exactly as the SDKs sent them, real hosts included.
    """

    HOSTS = re.compile(r"^https://api\.(openai|anthropic)\.com")

    def __init__(self, url: str) -> None:
        self.url = url
        self.original: Any = None

    def pytest_configure(self, config: pytest.Config) -> None:
        import httpx2

        self.original = httpx2.HTTPTransport.handle_request
        original, url, hosts = self.original, self.url, self.HOSTS

        def handle_request(transport: Any, request: Any) -> Any:
            target = hosts.sub(url, str(request.url))
            routed = httpx2.Request(
                request.method, target, headers=request.headers, content=request.read()
            )
            response = original(transport, routed)
            response.request = request
            return response

        httpx2.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        import httpx2

        httpx2.HTTPTransport.handle_request = self.original  # type: ignore[method-assign]


def main(folders: list[str]) -> int:
    """Record the examples' cassettes (all, or those of `folders`), then write the
    examples' baseline."""
    with FakeProviderServer(latency=0.35, event_delay=0.02) as server:
        server.set_handler(stand_in_model())
        plugin = StandIn(server.url)
        paths = [str(ROOT / "examples" / folder) for folder in folders] or [str(ROOT / "examples")]
        args = [*paths, "--llmeval-record=all", "-q", "-p", "no:randomly"]
        status = pytest.main(args, plugins=[plugin])
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return int(status)
    # the committed baseline is the replay of what was just recorded
    return int(
        pytest.main(
            [str(ROOT / "examples"), "--llmeval-record=none", "--llmeval-update-baseline", "-q"]
        )
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
