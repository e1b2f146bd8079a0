"""The `llm_eval` fixture's conversation methods: drive, simulate, judge conversations.

A mixin of `recorder.EvalRecorder`, kept apart so that the recorder stays one concern;
the driving itself is in `items/dialogue.py`, the records in `records/conversation.py`.
Both load with the first conversation a test drives, not with the recorder: a test that
never converses does not pay for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.items.recorder_parts import DEFAULT_MAX_TURNS, RecorderParts

if TYPE_CHECKING:
    from pytest_llmeval.items.dialogue import App
    from pytest_llmeval.judges.backends import Backend
    from pytest_llmeval.judges.kinds import Scale, VerdictKind
    from pytest_llmeval.records.conversation import Conversation, Turn, UserTurn
    from pytest_llmeval.records.verdicts import Verdict


class ConversationMethods(RecorderParts):
    """The `llm_eval` fixture's conversation methods (a mixin of `EvalRecorder`)."""

    def converse(self, app: App, turns: Sequence[UserTurn | str]) -> Conversation:
        """Drive a scripted conversation: send each user turn to `app` with the history.

        `app(messages)` gets the chat history (`{"role", "content"}` dicts, ending with
        the new user message) and returns the reply as a string; `turns` is a case's
        `turns`, or a list of strings. Returns the `Conversation`: each turn with the
        app's calls made during it, and totals.
        """
        __tracebackhide__ = True
        from pytest_llmeval.items.dialogue import converse

        return converse(lambda: self._inferences, app, turns)

    async def aconverse(self, app: App, turns: Sequence[UserTurn | str]) -> Conversation:
        """The asynchronous `converse` (the app may return its reply or an awaitable)."""
        __tracebackhide__ = True
        from pytest_llmeval.items.dialogue import aconverse

        return await aconverse(lambda: self._inferences, app, turns)

    def simulate_user(
        self,
        app: App,
        *,
        persona: str,
        goal: str,
        model: str | Backend,
        max_turns: int = DEFAULT_MAX_TURNS,
        opening: str | None = None,
        base_url: str | None = None,
    ) -> Conversation:
        """Let an LLM-simulated user (`persona`, `goal`) talk to `app`.

        The simulator (`model` as `provider:model`) writes each user message, and after
        each reply says whether the goal is met or the app gave up; the conversation
        ends then, or after `max_turns` replies. `opening` is a scripted first message
        (default: the simulator writes it). Its calls are recorded with the `simulator`
        role and accounted apart from the app's and the judges'.
        """
        __tracebackhide__ = True
        from pytest_llmeval.items.dialogue import simulate
        from pytest_llmeval.judges.simulator import SimulatedUser

        user = SimulatedUser(persona, goal, model, base_url=base_url)
        return simulate(lambda: self._inferences, app, user, max_turns=max_turns, opening=opening)

    async def asimulate_user(
        self,
        app: App,
        *,
        persona: str,
        goal: str,
        model: str | Backend,
        max_turns: int = DEFAULT_MAX_TURNS,
        opening: str | None = None,
        base_url: str | None = None,
    ) -> Conversation:
        """The asynchronous `simulate_user` (the app may be sync or async)."""
        __tracebackhide__ = True
        from pytest_llmeval.items.dialogue import asimulate
        from pytest_llmeval.judges.simulator import SimulatedUser

        user = SimulatedUser(persona, goal, model, base_url=base_url)
        return await asimulate(
            lambda: self._inferences, app, user, max_turns=max_turns, opening=opening
        )

    def judge_conversation(
        self,
        conversation: Conversation,
        criteria: str | VerdictKind,
        *,
        scale: Scale | None = None,
        model: str | None = None,
        samples: int = 1,
        name: str | None = None,
        threshold: float | None = None,
        weight: float = 1.0,
    ) -> Verdict:
        """Judge a whole conversation over its fenced transcript and record the score.

        `criteria` is a conversation kind (`GoalCompletion(goal)`, `RoleAdherence(role)`,
        `KnowledgeRetention()`) or a string, judged as a rubric over the transcript.
        """
        __tracebackhide__ = True
        return self.judge(
            conversation.transcript(),
            _conversation_kind(criteria),
            scale=scale,
            model=model,
            samples=samples,
            name=name,
            threshold=threshold,
            weight=weight,
        )

    async def ajudge_conversation(
        self,
        conversation: Conversation,
        criteria: str | VerdictKind,
        *,
        scale: Scale | None = None,
        model: str | None = None,
        samples: int = 1,
        name: str | None = None,
        threshold: float | None = None,
        weight: float = 1.0,
    ) -> Verdict:
        """The asynchronous `judge_conversation`."""
        __tracebackhide__ = True
        return await self.ajudge(
            conversation.transcript(),
            _conversation_kind(criteria),
            scale=scale,
            model=model,
            samples=samples,
            name=name,
            threshold=threshold,
            weight=weight,
        )

    def judge_turns(
        self,
        conversation: Conversation,
        criteria: str | VerdictKind,
        *,
        scale: Scale | None = None,
        model: str | None = None,
        name: str | None = None,
        threshold: float | None = None,
        weight: float = 1.0,
    ) -> list[Verdict]:
        """Judge each turn's reply, with the conversation up to it as the input.

        A turn's `expected` (from the case's turns) is its reference; a kind that needs
        a reference (`Correctness()`) judges only the turns that have one. Each verdict
        is recorded as `<name>:turn-<N>` (name defaults to the kind's label).
        """
        __tracebackhide__ = True
        return [
            self.judge(turn.reply, criteria, **options)
            for turn, options in _turn_judgements(
                self, conversation, criteria, scale, model, name, threshold, weight
            )
        ]

    async def ajudge_turns(
        self,
        conversation: Conversation,
        criteria: str | VerdictKind,
        *,
        scale: Scale | None = None,
        model: str | None = None,
        name: str | None = None,
        threshold: float | None = None,
        weight: float = 1.0,
    ) -> list[Verdict]:
        """The asynchronous `judge_turns` (one turn after another)."""
        __tracebackhide__ = True
        return [
            await self.ajudge(turn.reply, criteria, **options)
            for turn, options in _turn_judgements(
                self, conversation, criteria, scale, model, name, threshold, weight
            )
        ]


def _conversation_kind(criteria: Any) -> Any:
    """A string becomes a rubric over the transcript; kinds pass as they are."""
    if isinstance(criteria, str):
        from pytest_llmeval.judges.episodes import ConversationRubric

        return ConversationRubric(criteria)
    return criteria


def _turn_judgements(
    recorder: RecorderParts,
    conversation: Conversation,
    criteria: str | VerdictKind,
    scale: Scale | None,
    model: str | None,
    name: str | None,
    threshold: float | None,
    weight: float,
) -> list[tuple[Turn, dict[str, Any]]]:
    """The turns judge_turns judges, each with the options of its judge call."""
    from pytest_llmeval.records.conversation import render_transcript

    base = name or recorder._default_judge_name(criteria, scale, 1)
    needs_reference = "reference" in getattr(criteria, "requires", ())
    judged = []
    for turn in conversation.turns:
        reference = None if turn.expected is None else str(turn.expected)
        if needs_reference and reference is None:
            continue
        before = conversation.turns[: turn.index - 1]
        options = {
            "input": render_transcript(before, pending_user=turn.user),
            "reference": reference,
            "scale": scale,
            "model": model,
            "name": f"{base}:turn-{turn.index}",
            "threshold": threshold,
            "weight": weight,
        }
        judged.append((turn, options))
    return judged
