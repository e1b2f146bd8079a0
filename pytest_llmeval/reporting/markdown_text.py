"""Text for the markdown summary: user text made inert, numbers formatted (pure).

`code` writes user text (a test id, a group name, a path) as an inline code span: its
control characters (line breaks included) shown as escapes (`core.printable`) so none
can end a line, a list item or a table row; the fence longer than any run of backticks
inside; `|` escaped in a table cell. Inside a code span nothing is markup, so no `*`,
`_`, `[`, `<`, `@` or `#` can emphasise, link, inject HTML or mention anyone. `plain`
writes prose that may hold user text with every character CommonMark could read as
markup backslash-escaped. A missing number is an en dash.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pytest_llmeval.core.printable import printable

_BACKTICKS = re.compile("`+")


def code(text: str, *, table: bool = False, length: int = 300) -> str:
    """User text as an inline code span that nothing in it can break out of."""
    shown = printable(text)
    if len(shown) > length:
        shown = shown[: max(length - 1, 1)] + "…"
    if not shown:
        return "*(empty)*"
    if table:
        shown = shown.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(shown)), default=0)
    fence = "`" * (longest + 1)
    if shown[0] == "`" or shown[-1] == "`" or (shown[0] == " " and shown[-1] == " "):
        shown = f" {shown} "
    return f"{fence}{shown}{fence}"


#: What CommonMark could read as markup in running text (emphasis, code, links, HTML,
#: entities, table cells, strikethrough): each is written backslash-escaped.
_MARKUP = re.compile(r"([\\`*_\[\]()<>|&#!~])")


def plain(text: str) -> str:
    """Prose that may hold user text, written so that none of it is markup."""
    return _MARKUP.sub(r"\\\1", printable(text))


def score(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def usd(value: float | None) -> str:
    """Dollars: cents from $1 up, else up to six decimals (replayed test calls cost
    millionths), never fewer than two."""
    if value is None:
        return "–"
    if value >= 1:
        return f"${value:,.2f}"
    text = f"{value:.6f}".rstrip("0")
    return "$" + text + "0" * max(0, 2 - len(text.partition(".")[2]))


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def signed(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if round(value, 2) != 0 else "0.00"


def p_value(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def change(old: float | None, new: float | None, show: Callable[[float | None], str]) -> str:
    """`old → new (+x%)`; only `new` when there is nothing before it."""
    if old is None and new is None:
        return "–"
    if old is None:
        return show(new)
    text = f"{show(old)} → {show(new)}"
    if new is not None and old > 0:
        ratio = (new - old) / old
        text += f" ({ratio:+.0%})" if round(ratio, 2) != 0 else " (0%)"
    return text


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def number(value: Any, form: str) -> str:
    number = as_float(value)
    if number is None:
        return "–"
    return form.format(int(number) if form == "{:,}" else number)
