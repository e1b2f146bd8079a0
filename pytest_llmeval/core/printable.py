"""Control characters in user-provided text, made visible (pure; stdlib only).

Group and score names, test ids, judge reasons and model names come from users and
from model replies. Written raw, an escape sequence (`\\x1b[2J`) acts on the terminal
and a NUL or a lone surrogate makes JUnit XML ill-formed. Every such string the plugin
puts on the terminal or into JUnit properties goes through `printable`, which writes
each control character as the escape a Python string literal would use (`\\x1b`,
`\\x00`, `\\n`, `\\u202e`): visible, and legal in XML 1.0.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, lone surrogates, the two XML non-characters, the line
# and paragraph separators, and the bidirectional overrides and isolates (which
# reorder what a terminal shows).
_OTHER_CONTROLS = "\x7f-\x9f\ud800-\udfff\ufffe\uffff\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x1f{_OTHER_CONTROLS}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHER_CONTROLS}]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    short = _SHORT.get(character)
    if short is not None:
        return short
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as a visible escape.

    `keep_newlines` keeps line breaks (a multi-line message); otherwise they are
    escaped too (a name in a table row or a property).
    """
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)
