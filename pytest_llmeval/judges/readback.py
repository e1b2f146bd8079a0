"""A recorded judge call read back: the material it was shown and what it answered.

A judge's request fences each piece of material (`prompts.build_prompt`); the fences
carry one id, so the pieces can be cut out of the rendered prompt again (`fence.unfence`)
exactly as the judge read them. `llmeval label` uses this to turn a JSONL trace into a
labelling file. Calls that judge no single output (a pairwise comparison, a
conversation's transcript, an agent's trajectory) are not read back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pytest_llmeval.judges.fence import unfence
from pytest_llmeval.judges.prompts import PIECE_INTRODUCTIONS

_OUTPUT_OPENING = re.compile(r"<output-([0-9a-f]{16})>\n")
_CRITERIA = "\n\nCriteria:\n"
_TASK = "Task: "


@dataclass(frozen=True)
class JudgedMaterial:
    """What one judge call was shown: the output and what came with it."""

    output: str
    input: str | None = None
    #: One passage as a string, several (numbered `[1]`, `[2]`, ... when fenced) as a tuple.
    context: str | tuple[str, ...] | None = None
    reference: str | None = None
    criteria: str | None = None
    #: The judge kind whose task the prompt states (`rubric`, `faithfulness`, ...), if known.
    kind: str | None = None


def read_judge_prompt(prompt: str) -> JudgedMaterial | None:
    """The material of a judge call from its rendered prompt (a trace's `input_text`);
    None when the prompt fences no single output."""
    found = _OUTPUT_OPENING.search(prompt)
    if found is None:
        return None
    boundary = found.group(1)
    output = unfence(prompt, "output", boundary)
    if output is None:
        return None
    context = unfence(prompt, "context", boundary)
    return JudgedMaterial(
        output=output,
        input=unfence(prompt, "input", boundary),
        context=None if context is None else _passages(context),
        reference=unfence(prompt, "reference", boundary),
        criteria=_criteria(prompt),
        kind=_kind(prompt),
    )


def read_judge_reply(text: str | None) -> tuple[str | None, int | str | None]:
    """(reasoning, decision) of a judge's JSON answer; (None, None) when it is not one
    (an unusable reply that was re-asked)."""
    try:
        answer = json.loads(text or "")
    except ValueError:
        return None, None
    if not isinstance(answer, dict) or not isinstance(answer.get("reasoning"), str):
        return None, None
    decisions = [key for key in answer if key not in ("reasoning", "evidence")]
    decision = answer[decisions[-1]] if decisions else None
    if isinstance(decision, bool) or not isinstance(decision, (int, str)):
        decision = None
    return answer["reasoning"], decision


def _passages(text: str) -> str | tuple[str, ...]:
    """A fenced context back as its passages when it was numbered `[1] ...`, `[2] ...`."""
    if not text.startswith("[1] "):
        return text
    passages, rest, number = [], text[len("[1] ") :], 2
    while True:
        marker = f"\n\n[{number}] "
        at = rest.find(marker)
        if at < 0:
            passages.append(rest)
            break
        passages.append(rest[:at])
        rest, number = rest[at + len(marker) :], number + 1
    return tuple(passages) if len(passages) > 1 else text


def _criteria(prompt: str) -> str | None:
    """The criteria section: after `Criteria:` up to the first piece's introduction."""
    start = prompt.find(_CRITERIA)
    if start < 0:
        return None
    start += len(_CRITERIA)
    ends = [prompt.find(f"\n\n{intro}\n", start) for intro in PIECE_INTRODUCTIONS.values()]
    found = [end for end in ends if end >= 0]
    return prompt[start : min(found)] if found else None


def _kind(prompt: str) -> str | None:
    """The kind whose task the prompt states."""
    from pytest_llmeval.judges import episodes, kinds

    start = prompt.find(_TASK)
    if start < 0:
        return None
    end = prompt.find("\n\n", start)
    task = prompt[start + len(_TASK) : end if end >= 0 else len(prompt)]
    for module in (kinds, episodes):
        for value in vars(module).values():
            if isinstance(value, type) and getattr(value, "task", None) == task:
                return str(getattr(value, "name", None))
    return None
