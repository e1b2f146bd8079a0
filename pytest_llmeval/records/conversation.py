"""Multi-turn conversations as values: scripted user turns, and what a conversation was.

Pure records (no pytest, no I/O). `UserTurn` is one scripted user message of a case
(`load_cases` reads them from a row's `turns`); `Conversation` is what driving an app
turn by turn produced (`llm_eval.converse` for a script, `llm_eval.simulate_user` for
an LLM-driven user): every turn with the app's calls made during it, the simulated
user's calls, why the conversation ended, and totals. `Conversation.transcript()` is
the text the conversation judges read, inside a fence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from pytest_llmeval.core.factories import empty_list
from pytest_llmeval.core.frozen import FrozenModel
from pytest_llmeval.records.models import Inference

__all__ = [
    "Conversation",
    "EndReason",
    "Turn",
    "TurnsError",
    "UserTurn",
    "parse_turns",
]

#: Why a conversation ended: its script ran out, the simulated user said its goal was
#: met, the simulated user saw the app give up, or `max_turns` was reached.
EndReason = Literal["script_done", "goal_met", "app_gave_up", "max_turns"]

#: How a turns list is written, quoted in its errors.
TURNS_EXAMPLE = (
    '"turns": ["Hi, I want to return shoes", {"role": "user", "content": "Order 1234", '
    '"expected": "a refund confirmation"}]'
)


class TurnsError(ValueError):
    """A `turns` list is not a list of user messages (the message says which entry)."""


class UserTurn(FrozenModel):
    """One scripted user message, and optionally what the app should answer to it."""

    content: str = Field(description="What the user says.")
    expected: Any = Field(default=None, description="A reference for the app's reply, if any.")


class Turn(FrozenModel):
    """One exchange: the user's message, the app's reply and the app calls made for it."""

    index: int = Field(description="1 for the first turn.")
    user: str = Field(description="What the user said.")
    reply: str = Field(description="What the app answered.")
    expected: Any = Field(default=None, description="The scripted turn's reference, if any.")
    inferences: list[Inference] = Field(
        default_factory=empty_list, description="The app's model calls made during this turn."
    )

    @property
    def cost_usd(self) -> float:
        """The recorded cost of this turn's priced app calls, USD."""
        return _cost(self.inferences)


class Conversation(FrozenModel):
    """A conversation driven against the app, turn by turn."""

    turns: list[Turn] = Field(default_factory=empty_list, description="The turns, in order.")
    ended_by: EndReason = Field(description="Why the conversation ended.")
    persona: str | None = Field(default=None, description="The simulated user's persona.")
    goal: str | None = Field(default=None, description="The simulated user's goal.")
    reason: str | None = Field(
        default=None, description="The simulated user's reasoning when it ended the conversation."
    )
    simulator_inferences: list[Inference] = Field(
        default_factory=empty_list, description="The simulated user's model calls, in order."
    )

    @property
    def messages(self) -> list[dict[str, str]]:
        """The history as chat messages: user and assistant, alternating."""
        return history(self.turns)

    @property
    def goal_met(self) -> bool:
        """Whether the simulated user said its goal was met."""
        return self.ended_by == "goal_met"

    @property
    def app_inferences(self) -> list[Inference]:
        """The app's model calls over every turn, in order."""
        return [inference for turn in self.turns for inference in turn.inferences]

    @property
    def app_calls(self) -> int:
        """How many model calls the app made."""
        return len(self.app_inferences)

    @property
    def simulator_calls(self) -> int:
        """How many model calls the simulated user made."""
        return len(self.simulator_inferences)

    @property
    def app_cost_usd(self) -> float:
        """The recorded cost of the app's priced calls, USD."""
        return _cost(self.app_inferences)

    @property
    def simulator_cost_usd(self) -> float:
        """The recorded cost of the simulated user's priced calls, USD."""
        return _cost(self.simulator_inferences)

    @property
    def input_tokens(self) -> int:
        """Uncached input tokens of the app's and the simulated user's calls."""
        return sum(i.input_tokens or 0 for i in self._all())

    @property
    def output_tokens(self) -> int:
        """Output tokens of the app's and the simulated user's calls."""
        return sum(i.output_tokens or 0 for i in self._all())

    @property
    def latency_s(self) -> float:
        """The app's calls' latencies added up, seconds."""
        return math.fsum(i.latency_s for i in self.app_inferences if i.latency_s is not None)

    def transcript(self) -> str:
        """The conversation as text, one `[turn N] user:` / `[turn N] assistant:` line each."""
        return render_transcript(self.turns)

    def _all(self) -> list[Inference]:
        return [*self.app_inferences, *self.simulator_inferences]


def history(turns: Sequence[Turn]) -> list[dict[str, str]]:
    """Chat messages (`role`, `content`) of the given turns, user then assistant."""
    messages: list[dict[str, str]] = []
    for turn in turns:
        messages.append({"role": "user", "content": turn.user})
        messages.append({"role": "assistant", "content": turn.reply})
    return messages


def render_transcript(turns: Sequence[Turn], pending_user: str | None = None) -> str:
    """The turns as labelled text (and a last user message still unanswered, if given)."""
    lines: list[str] = []
    for turn in turns:
        lines.append(f"[turn {turn.index}] user: {turn.user}")
        lines.append(f"[turn {turn.index}] assistant: {turn.reply}")
    if pending_user is not None:
        lines.append(f"[turn {len(turns) + 1}] user: {pending_user}")
    return "\n".join(lines)


def parse_turns(value: Any, *, name: str = "turns") -> tuple[UserTurn, ...]:
    """The scripted user turns of a `turns` value, or TurnsError saying what is wrong.

    A turns list holds, in order, what the user says: each entry a string, or an object
    with `content` (a string), an optional `role` that must be `user`, and an optional
    `expected` reference for the app's reply to it. The list must not be empty.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TurnsError(f"{name!r} must be a list of user messages, found {_kind(value)}")
    if not value:
        raise TurnsError(f"{name!r} is empty; give at least one user message")
    parsed: list[UserTurn] = []
    for number, entry in enumerate(value, 1):
        where = f"{name!r} entry {number}"
        if isinstance(entry, str):
            content: Any = entry
            expected = None
        elif isinstance(entry, Mapping):
            unknown = sorted(
                str(key) for key in entry if key not in ("role", "content", "expected")
            )
            if unknown:
                raise TurnsError(
                    f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; a turn has "
                    "'content', and optionally 'role' (user) and 'expected'"
                )
            role = entry.get("role", "user")
            if role != "user":
                raise TurnsError(
                    f"{where} has role {role!r}; turns list only what the user says (the "
                    "assistant's replies come from running the app), so the role is 'user'"
                )
            content = entry.get("content")
            expected = entry.get("expected")
        else:
            raise TurnsError(
                f"{where} is {_kind(entry)}; a turn is a string or an object with 'content'"
            )
        if not isinstance(content, str) or not content.strip():
            raise TurnsError(f"{where} has no text: 'content' must be a non-empty string")
        parsed.append(UserTurn(content=content, expected=expected))
    return tuple(parsed)


def _cost(inferences: Sequence[Inference]) -> float:
    return math.fsum(i.cost_usd for i in inferences if i.cost_usd is not None)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (str, bytes)):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"
