"""Fences around the text a judge reads: the judged text is data, never instructions.

Every piece of material (the output under judgement, the input, a reference, the
context) is wrapped in a tag carrying a one-time id, `<output-1f0c…>` … `</output-1f0c…>`,
and the judge's instructions say that only a closing tag with that exact id ends a piece.

The id is the first 16 hex digits (64 bits) of a sha256 over everything the judge is
shown, so it is deterministic (the same judge call sends the same request, which is
what lets cassettes replay it and keeps re-recordings free of churn) and the text
cannot predict it: to close its own fence a text would have to contain a hash of
itself. As a guard all the same, any occurrence of the id inside the material is
replaced before fencing, so no fenced text can ever contain its closing tag.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

#: Hex digits of the id: 16 hex digits are 64 bits.
BOUNDARY_LENGTH = 16

#: What replaces an occurrence of the id inside fenced text.
REMOVED_ID = "[id removed]"

_BOUNDARY = re.compile(rf"^[0-9a-f]{{{BOUNDARY_LENGTH}}}$")
_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")


def derive_boundary(*parts: str | None) -> str:
    """The fence id for a judge call: 16 hex digits of a sha256 over all its parts."""
    document = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:BOUNDARY_LENGTH]


def neutralize(text: str, boundary: str) -> str:
    """`text` with every occurrence of the id (in any letter case) replaced."""
    _check_boundary(boundary)
    return re.sub(re.escape(boundary), REMOVED_ID, text, flags=re.IGNORECASE)


def open_tag(label: str, boundary: str) -> str:
    """The opening tag of a fenced piece, e.g. `<output-1f0c…>`."""
    return f"<{label}-{boundary}>"


def close_tag(label: str, boundary: str) -> str:
    """The closing tag of a fenced piece, e.g. `</output-1f0c…>`."""
    return f"</{label}-{boundary}>"


def fence(label: str, text: str, boundary: str) -> str:
    """Wrap `text` in tags with the id, after removing any occurrence of the id from it."""
    if not _LABEL.match(label):
        raise ValueError(f"fence label must be lowercase letters, digits or _, got {label!r}")
    body = neutralize(text, boundary)
    return f"{open_tag(label, boundary)}\n{body}\n{close_tag(label, boundary)}"


def fence_passages(label: str, passages: Sequence[str], boundary: str) -> str:
    """Fence several passages (retrieved documents) as one numbered piece."""
    if len(passages) == 1:
        return fence(label, passages[0], boundary)
    numbered = "\n\n".join(f"[{number}] {text}" for number, text in enumerate(passages, 1))
    return fence(label, numbered, boundary)


def unfence(prompt: str, label: str, boundary: str) -> str | None:
    """The text of the fenced piece `label` in a prompt, or None (used by tests and tools).

    The piece runs from its opening tag to the first closing tag with the id; this is
    how a reader that honours the fence (the judge, told so) delimits it.
    """
    start = prompt.find(open_tag(label, boundary) + "\n")
    if start < 0:
        return None
    start += len(open_tag(label, boundary)) + 1
    end = prompt.find("\n" + close_tag(label, boundary), start)
    return None if end < 0 else prompt[start:end]


def _check_boundary(boundary: str) -> None:
    if not _BOUNDARY.match(boundary):
        raise ValueError(
            f"fence id must be {BOUNDARY_LENGTH} lowercase hex digits, got {boundary!r}"
        )
