"""promptfoo's assertions as the dataset's, for `llmeval import promptfoo`.

`convert_assertions` turns a test's (or defaultTest's) `assert` list into the entries
`load_cases` reads (see records/assertions.py); what it cannot convert is passed to
`note` with where and why, and left out. `named` gives each entry of a case a name of
its own (run_checks records them by name).

What converts: contains, icontains, regex, equals (and `not-`), is-json; starts-with,
contains-any/-all, icontains-any/-all (and `not-`) as a regex named after the type;
cost, latency (promptfoo's milliseconds as seconds); llm-rubric as written; similar
and not-similar (cosine, the `similar:cosine` spelling too) with their threshold and
their OpenAI embedding model, promptfoo's default `openai:text-embedding-3-large`
when the config names none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Note = Callable[[str], None]

_DIRECT_TYPES = ("contains", "icontains", "regex", "equals")
_LIST_TYPES = ("contains-any", "icontains-any", "contains-all", "icontains-all")
_SIMILAR_TYPES = {
    "similar": "similar",
    "similar:cosine": "similar",
    "not-similar": "not-similar",
    "not-similar:cosine": "not-similar",
}
#: promptfoo embeds with this model when a similar assertion names no provider.
PROMPTFOO_EMBEDDING_MODEL = "openai:text-embedding-3-large"


def convert_assertions(raw: Any, where: str, note: Note) -> list[dict[str, Any]]:
    """A promptfoo `assert` list as dataset assertions (the rest noted, left out)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        note(f"{where}: 'assert' is not a list, not converted")
        return []
    converted: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        one = convert_assertion(entry, f"{where}[{index}]", note)
        if one is not None:
            converted.append(one)
    return converted


def convert_assertion(entry: Any, where: str, note: Note) -> dict[str, Any] | None:
    """One promptfoo assertion as a dataset assertion, or None (noted) if it cannot be."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
        note(f"{where}: an assertion without a 'type' is not converted")
        return None
    kind: str = entry["type"]
    value = entry.get("value")
    for key in ("transform", "rubricPrompt", "config", "contextTransform"):
        if key in entry:
            note(f"{where}: assertion {kind!r} with {key!r} is not converted")
            return None
    if "provider" in entry and kind not in _SIMILAR_TYPES:
        note(f"{where}.provider: the grader is the marker's judge_model, not this")
    if "weight" in entry:
        note(
            f"{where}.weight: ignored (each assertion is a check that must pass, as "
            "promptfoo passes a test only when every assertion passes)"
        )
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, str) and v.startswith("file://") for v in values):
        note(f"{where}: assertion {kind!r} with a file:// value is not converted")
        return None
    negated = kind.startswith("not-")
    base = kind.removeprefix("not-")
    prefix = "not-" if negated else ""
    result: dict[str, Any] | None
    if base in _DIRECT_TYPES and value is not None:
        result = {"type": kind, "value": value}
    elif base == "starts-with" and isinstance(value, str):
        result = {"type": f"{prefix}regex", "value": "^" + re.escape(value), "name": kind}
    elif base in _LIST_TYPES:
        result = _list_assertion(base, prefix, value, where, note)
    elif kind == "is-json":
        result = {"type": "is-json"} if value is None else {"type": "is-json", "value": value}
    elif kind in ("cost", "latency"):
        limit = entry.get("threshold")
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0:
            note(f"{where}: {kind} without a positive 'threshold' is not converted")
            return None
        # promptfoo's latency threshold is in milliseconds, run_checks' in seconds
        result = {"type": kind, "value": limit / 1000 if kind == "latency" else limit}
    elif kind == "llm-rubric":
        result = {"type": kind, "value": value}
        if "threshold" in entry:
            result["threshold"] = entry["threshold"]
    elif kind in _SIMILAR_TYPES:
        result = _similar_assertion(_SIMILAR_TYPES[kind], entry, where, note)
    else:
        note(
            f"{where}: assertion type {kind!r} is not converted; check it in the test "
            "(llm_eval.check or llm_eval.judge)"
        )
        return None
    if result is None:
        return None
    from pytest_llmeval.records.assertions import InvalidAssertion, parse_assertions

    try:  # what load_cases would refuse is left out here, saying why
        parse_assertions([result])
    except InvalidAssertion as error:
        note(f"{where}: {str(error).removeprefix('assertion 1: ')}; not converted")
        return None
    metric = entry.get("metric")
    if isinstance(metric, str) and metric:
        result["name"] = metric
    return result


def _list_assertion(
    base: str, prefix: str, value: Any, where: str, note: Note
) -> dict[str, Any] | None:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        note(f"{where}: {prefix}{base} needs a list of strings, not converted")
        return None
    flags = "(?i)" if base.startswith("i") else ""
    escaped = [re.escape(v) for v in value]
    if base.endswith("-any"):
        pattern = flags + "|".join(escaped)
    else:
        pattern = flags + "(?s)^" + "".join(f"(?=.*{e})" for e in escaped)
    return {"type": f"{prefix}regex", "value": pattern, "name": f"{prefix}{base}"}


def _similar_assertion(
    kind: str, entry: Mapping[str, Any], where: str, note: Note
) -> dict[str, Any] | None:
    """similar / not-similar with its threshold and embedding model (promptfoo's default
    when none is named: a different model would move the similarities)."""
    provider = entry.get("provider", PROMPTFOO_EMBEDDING_MODEL)
    if isinstance(provider, Mapping):  # {id: ..., config: ...}
        provider = provider.get("id")
    if not isinstance(provider, str) or not provider.startswith("openai:"):
        note(
            f"{where}.provider: {provider!r} is not converted (similar embeds through "
            "OpenAI's embeddings API: openai:<model>); the assertion is left out"
        )
        return None
    result: dict[str, Any] = {"type": kind, "value": entry.get("value")}
    if "threshold" in entry:
        result["threshold"] = entry["threshold"]
    result["provider"] = provider
    return result


def named(asserts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The assertions with names unique within the case (run_checks records them by name)."""
    taken: set[str] = set()
    result: list[dict[str, Any]] = []
    for entry in asserts:
        base = entry.get("name") or entry["type"]
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}-{number}"
        taken.add(name)
        result.append({**entry, "name": name} if name != entry["type"] else dict(entry))
    return result
