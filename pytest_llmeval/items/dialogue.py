"""Driving a conversation against the app, turn by turn: scripted or with a simulated user.

The app is the test's own callable: it takes the chat history (a list of
`{"role": "user" | "assistant", "content": str}` messages, ending with the new user
message) and returns the assistant's reply as a string (or, for the async drivers, an
awaitable of it). Its model calls run with the `app` role; the simulated user's with
the `simulator` role. The calls each turn made are read from the test's recorder:
the ones recorded while the turn ran. Run the conversations of one test one after
another (not concurrently) for that attribution to be exact.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.items.recorder_parts import DEFAULT_MAX_TURNS
from pytest_llmeval.records.conversation import (
    Conversation,
    Turn,
    TurnsError,
    UserTurn,
    history,
    parse_turns,
)
from pytest_llmeval.records.models import Inference

if TYPE_CHECKING:
    from pytest_llmeval.judges.simulator import SimulatedUser

#: The app of a conversation: history in, reply out (async drivers accept awaitables).
App = Callable[[list[dict[str, str]]], Any]


class _Calls:
    """Reads the calls a recorder got since a mark."""

    def __init__(self, inferences: Callable[[], list[Inference]]) -> None:
        self._inferences = inferences
        self._mark = len(inferences())

    def since(self, role: str) -> list[Inference]:
        """The calls of `role` recorded since the last mark, and move the mark."""
        calls = self._inferences()
        new, self._mark = calls[self._mark :], len(calls)
        return [call for call in new if call.role == role]


def script_turns(turns: Sequence[UserTurn | str] | Any) -> tuple[UserTurn, ...]:
    """Scripted turns from a case's `turns`, a list of strings, or turn objects."""
    __tracebackhide__ = True
    if isinstance(turns, Sequence) and turns and all(isinstance(t, UserTurn) for t in turns):
        return tuple(turns)
    listed = (
        [t.model_dump() if isinstance(t, UserTurn) else t for t in turns]
        if isinstance(turns, Sequence) and not isinstance(turns, str)
        else turns
    )
    try:
        return parse_turns(listed)
    except TurnsError as error:
        hint = (
            " (a case loaded without a 'turns' list has case.turns None: give the row a "
            "'turns' list)"
            if turns is None
            else ""
        )
        raise TurnsError(f"llm_eval.converse(): {error}{hint}") from None


def _reply_text(reply: Any, number: int) -> str:
    __tracebackhide__ = True
    if inspect.isawaitable(reply):
        close = getattr(reply, "close", None)
        if callable(close):
            close()  # never awaited: no "coroutine was never awaited" warning
        raise TypeError(
            f"the app returned an awaitable at turn {number}; for an async app use "
            "`await llm_eval.aconverse(...)` / `await llm_eval.asimulate_user(...)`"
        )
    if not isinstance(reply, str):
        raise TypeError(
            f"the app must return its reply as a string, got {type(reply).__name__} at turn "
            f"{number}"
        )
    return reply


def _turn(turns: list[Turn], user: str, reply: str, expected: Any, calls: _Calls) -> Turn:
    return Turn(
        index=len(turns) + 1,
        user=user,
        reply=reply,
        expected=expected,
        inferences=calls.since("app"),
    )


def _call_app(app: App, turns: list[Turn], user: str) -> Any:
    from pytest_llmeval.judges.backends import acting_as

    with acting_as("app"):
        return app([*history(turns), {"role": "user", "content": user}])


async def _acall_app(app: App, turns: list[Turn], user: str) -> Any:
    from pytest_llmeval.judges.backends import acting_as

    with acting_as("app"):
        reply = app([*history(turns), {"role": "user", "content": user}])
        if inspect.isawaitable(reply):
            reply = await reply
    return reply


def converse(
    inferences: Callable[[], list[Inference]], app: App, turns: Sequence[UserTurn | str]
) -> Conversation:
    """Send each scripted user turn to the app in order, with the history so far."""
    __tracebackhide__ = True
    script = script_turns(turns)
    calls = _Calls(inferences)
    done: list[Turn] = []
    for scripted in script:
        reply = _reply_text(_call_app(app, done, scripted.content), len(done) + 1)
        done.append(_turn(done, scripted.content, reply, scripted.expected, calls))
    return Conversation(turns=done, ended_by="script_done")


async def aconverse(
    inferences: Callable[[], list[Inference]], app: App, turns: Sequence[UserTurn | str]
) -> Conversation:
    """The asynchronous `converse` (the app may be sync or async)."""
    __tracebackhide__ = True
    script = script_turns(turns)
    calls = _Calls(inferences)
    done: list[Turn] = []
    for scripted in script:
        reply = _reply_text(await _acall_app(app, done, scripted.content), len(done) + 1)
        done.append(_turn(done, scripted.content, reply, scripted.expected, calls))
    return Conversation(turns=done, ended_by="script_done")


def check_max_turns(max_turns: int) -> None:
    """Refuse a max_turns that is not a whole number of at least 1."""
    __tracebackhide__ = True
    if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
        raise ValueError(f"max_turns must be a whole number of at least 1, got {max_turns!r}")


def simulate(
    inferences: Callable[[], list[Inference]],
    app: App,
    user: SimulatedUser,
    *,
    max_turns: int = DEFAULT_MAX_TURNS,
    opening: str | None = None,
) -> Conversation:
    """Let the simulated user talk to the app until its goal is met, the app gives up,
    or `max_turns` turns were answered (the simulator still judges the last one)."""
    __tracebackhide__ = True
    check_max_turns(max_turns)
    backend = user.backend()
    calls = _Calls(inferences)
    done: list[Turn] = []
    simulator: list[Inference] = []
    message = opening
    while True:
        if message is None or done:
            step = user.step(backend, done)
            simulator += calls.since("simulator")
            if step.status != "continue" or len(done) >= max_turns:
                return _ended(user, done, simulator, step.status, step.reasoning)
            message = step.message
        reply = _reply_text(_call_app(app, done, message), len(done) + 1)
        done.append(_turn(done, message, reply, None, calls))


async def asimulate(
    inferences: Callable[[], list[Inference]],
    app: App,
    user: SimulatedUser,
    *,
    max_turns: int = DEFAULT_MAX_TURNS,
    opening: str | None = None,
) -> Conversation:
    """The asynchronous `simulate` (the app may be sync or async)."""
    __tracebackhide__ = True
    check_max_turns(max_turns)
    backend = user.backend()
    calls = _Calls(inferences)
    done: list[Turn] = []
    simulator: list[Inference] = []
    message = opening
    while True:
        if message is None or done:
            step = await user.astep(backend, done)
            simulator += calls.since("simulator")
            if step.status != "continue" or len(done) >= max_turns:
                return _ended(user, done, simulator, step.status, step.reasoning)
            message = step.message
        reply = _reply_text(await _acall_app(app, done, message), len(done) + 1)
        done.append(_turn(done, message, reply, None, calls))


def _ended(
    user: SimulatedUser,
    turns: list[Turn],
    simulator: list[Inference],
    status: str,
    reasoning: str,
) -> Conversation:
    ended_by = "max_turns" if status == "continue" else status
    return Conversation(
        turns=turns,
        ended_by=ended_by,  # type: ignore[arg-type]
        persona=user.persona,
        goal=user.goal,
        reason=reasoning or None,
        simulator_inferences=simulator,
    )
