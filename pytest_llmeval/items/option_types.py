"""What an option is (`Option`) and the parsers that read its values from the command line,
the ini file or the environment, each failing with a message that says what is allowed.
Standard library only, like `options`: loaded in every pytest session."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """One user-facing setting: its flag, ini key, environment variable and parser."""

    dest: str
    flag: str
    ini: str
    env: str
    help: str
    parse: Callable[[str], Any]
    default: Any = None
    is_flag: bool = False
    metavar: str | None = None
    linelist: bool = False


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"{text!r} is not one of: {', '.join(allowed)}")
        return value

    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"{value} must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{value} must be 0 or more")
    return value


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if math.isnan(value) or not low <= value <= high:
            raise ValueError(f"{text!r} must be between {low:g} and {high:g}")
        return value

    return parse


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true/false, 1/0, yes/no)")


def _text(text: str) -> str:
    value = str(text).strip()
    if not value:
        raise ValueError("an empty value is not allowed")
    return value


def _regex(text: str) -> str:
    value = _text(text)
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"{value!r} is not a valid regular expression ({error})") from None
    return value


def _judge_model(text: str) -> str:
    value = _text(text)
    provider, sep, model = value.partition(":")
    if not sep or not provider or not model:
        raise ValueError(f"{text!r} is not of the form provider:model (e.g. openai:gpt-4.1-mini)")
    return value


#: The kinds of regression --llmeval-fail-on can name (baseline.REGRESSION_KINDS).
FAIL_ON_KINDS = ("score", "cost", "latency")


#: The gate rules and corrections (decision.GATE_RULES, decision.CORRECTIONS).
GATE_RULES = ("auto", "statistical", "conservative")


GATE_CORRECTIONS = ("holm", "bh", "none")


def _fail_on(text: str) -> tuple[str, ...]:
    parts = [part.strip().lower() for part in str(text).split(",") if part.strip()]
    if parts == ["none"]:
        return ()
    unknown = [part for part in parts if part not in FAIL_ON_KINDS]
    if unknown or not parts:
        raise ValueError(
            f"{text!r} is not a comma-separated subset of {','.join(FAIL_ON_KINDS)} (or none)"
        )
    return tuple(kind for kind in FAIL_ON_KINDS if kind in parts)


#: The judge probes --llmeval-judge-probes can name.
JUDGE_PROBES = ("verbosity", "consistency")


def _probes(text: str) -> tuple[str, ...]:
    parts = [part.strip().lower() for part in str(text).split(",") if part.strip()]
    if parts == ["none"]:
        return ()
    unknown = [part for part in parts if part not in JUDGE_PROBES]
    if unknown or not parts:
        raise ValueError(
            f"{text!r} is not a comma-separated subset of {','.join(JUDGE_PROBES)} (or none)"
        )
    return tuple(probe for probe in JUDGE_PROBES if probe in parts)


def _at_least_two(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise ValueError(f"{value} must be at least 2 (one sample cannot disagree)")
    return value
