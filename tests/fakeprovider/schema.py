"""A small generator of example documents valid against a JSON schema.

It covers what pydantic emits and what the OpenAI and Anthropic SDKs send on the
wire for structured output and tool parameters: objects with properties, required
and `additionalProperties: false`, strings (with common formats and length bounds),
numbers and integers (with bounds), booleans, null, enum, const, arrays (with item
counts and `uniqueItems`), `anyOf`/`oneOf`/`allOf`, and `$ref` into `$defs`. The
Anthropic SDK moves constraints it does not send (`minimum`, `minItems` > 1, ...)
into the description as a trailing `{key: value, ...}`; those are honoured too.

The output is deterministic: numbers sit at their maximum (a judge asked for a
score is satisfied by default), booleans are true, enums take their first member,
strings are `"fake <property name>"`. `pattern` is not supported.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["example_from_schema"]

_STRING_FORMATS: dict[str, str] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "duration": "P1D",
    "email": "user@example.com",
    "hostname": "example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
_DESCRIPTION_CONSTRAINTS = re.compile(r"\{([^{}]*)\}\s*$")
_CONSTRAINT_KEYS = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "multipleOf",
    }
)
_MAX_DEPTH = 24
_RECURSION_DEPTH = 6


def example_from_schema(schema: Mapping[str, Any]) -> Any:
    """Return a deterministic JSON value that is valid against `schema`."""
    return _Generator(schema).generate(schema, name="", index=0, depth=0)


class _Generator:
    """Walks one schema document, resolving `$ref` against its root."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            raise ValueError(f"fake provider: only local $ref are supported, got {ref!r}")
        node: Any = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def generate(
        self, schema: Mapping[str, Any] | bool, *, name: str, index: int, depth: int
    ) -> Any:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(schema, bool):
            return f"fake {name or 'value'}"
        schema = self.flatten(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            members = list(schema["enum"])
            return members[index % len(members)]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                variants = [self.flatten(v) for v in schema[key]]
                concrete = [v for v in variants if v.get("type") != "null"]
                nulls = [v for v in variants if v.get("type") == "null"]
                # past a few levels prefer null, so that recursive models terminate
                if concrete and (depth < _RECURSION_DEPTH or not nulls):
                    chosen = concrete[0]
                else:
                    chosen = (nulls or variants)[0]
                return self.generate(chosen, name=name, index=index, depth=depth + 1)
        type_ = schema.get("type")
        if isinstance(type_, list):
            type_ = next((t for t in type_ if t != "null"), "null")
        if type_ is None:
            type_ = "object" if "properties" in schema else "string"
        constraints = {**_description_constraints(schema), **schema}
        if type_ == "object":
            return self.object(constraints, index=index, depth=depth)
        if type_ == "array":
            return self.array(constraints, name=name, depth=depth)
        if type_ == "string":
            return _string(constraints, name=name, index=index)
        if type_ in ("number", "integer"):
            return _number(constraints, integer=type_ == "integer", index=index)
        if type_ == "boolean":
            return index % 2 == 0
        return None

    def flatten(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Inline `$ref` and merge `allOf` members into one mapping."""
        seen = 0
        while "$ref" in schema and seen < _MAX_DEPTH:
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self.resolve(schema["$ref"]), **extra}
            seen += 1
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for member in schema["allOf"]:
                part = self.flatten(member)
                properties = {**merged.get("properties", {}), **part.get("properties", {})}
                required = [*merged.get("required", []), *part.get("required", [])]
                merged.update(part)
                if properties:
                    merged["properties"] = properties
                if required:
                    merged["required"] = list(dict.fromkeys(required))
            schema = merged
        return schema

    def object(self, schema: Mapping[str, Any], *, index: int, depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        return {
            key: self.generate(sub, name=key, index=index, depth=depth + 1)
            for key, sub in properties.items()
        }

    def array(self, schema: Mapping[str, Any], *, name: str, depth: int) -> list[Any]:
        prefix = list(schema.get("prefixItems") or [])
        default_count = 1 if depth < _RECURSION_DEPTH else 0
        count = max(int(schema.get("minItems", default_count)), len(prefix))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = schema.get("items", {})
        values = []
        for position in range(count):
            sub = prefix[position] if position < len(prefix) else items
            values.append(self.generate(sub, name=name, index=position, depth=depth + 1))
        return values


def _description_constraints(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Constraints the Anthropic SDK moved into the description, parsed back."""
    description = schema.get("description")
    if not isinstance(description, str):
        return {}
    match = _DESCRIPTION_CONSTRAINTS.search(description)
    if match is None:
        return {}
    found: dict[str, Any] = {}
    for pair in match.group(1).split(","):
        key, _, value = pair.partition(":")
        key = key.strip()
        if key in _CONSTRAINT_KEYS:
            try:
                found[key] = float(value.strip())
            except ValueError:
                continue
    return found


def _string(schema: Mapping[str, Any], *, name: str, index: int) -> str:
    format_ = schema.get("format")
    if format_ == "uuid":
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake/{name}/{index}"))
    if isinstance(format_, str) and format_ in _STRING_FORMATS:
        return _STRING_FORMATS[format_]
    value = f"fake {name or 'text'}" + (f" {index + 1}" if index else "")
    min_length = int(schema.get("minLength", 0))
    max_length = int(schema["maxLength"]) if "maxLength" in schema else None
    if len(value) < min_length:
        value = value + "x" * (min_length - len(value))
    if max_length is not None and len(value) > max_length:
        value = value[:max_length] if index == 0 else (str(index) + value)[:max_length]
    return value


def _number(schema: Mapping[str, Any], *, integer: bool, index: int) -> int | float:
    low, high = _bounds(schema, integer=integer)
    if high is not None:
        value = high - index
        if low is not None and value < low:
            value = low
    elif low is not None:
        value = low + index
    else:
        value = 1 + index
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and step > 0:
        value = math.floor(value / step) * step
        if low is not None and value < low:
            value += step
    if integer:
        return int(value)
    return float(value)


def _bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[float | None, float | None]:
    """The inclusive [low, high] interval allowed by the numeric keywords."""
    low: float | None = None
    high: float | None = None
    epsilon = 1.0 if integer else 1e-6
    if isinstance(schema.get("minimum"), (int, float)):
        low = float(schema["minimum"])
    if isinstance(schema.get("exclusiveMinimum"), (int, float)):
        low = max(low if low is not None else -math.inf, schema["exclusiveMinimum"] + epsilon)
    if isinstance(schema.get("maximum"), (int, float)):
        high = float(schema["maximum"])
    if isinstance(schema.get("exclusiveMaximum"), (int, float)):
        high = min(high if high is not None else math.inf, schema["exclusiveMaximum"] - epsilon)
    if integer:
        low = math.ceil(low) if low is not None else None
        high = math.floor(high) if high is not None else None
    return low, high
