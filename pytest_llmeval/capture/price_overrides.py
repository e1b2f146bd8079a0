"""Price overrides: the user's own prices (`--llmeval-price` and `llmeval_prices`, keyed by
`provider:model`, model or host) and hosts priced at zero (`llmeval_free_hosts`), parsed
and checked once per session. Standard library only."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


#: The ini option holding per-model price overrides, one `key = input / output` per line.
PRICES_INI = "llmeval_prices"


#: The ini option naming hosts (local servers) whose calls cost nothing, one per line.
FREE_HOSTS_INI = "llmeval_free_hosts"


_LINE_FORMAT = (
    "expected 'provider:model = input / output [cache_read=X] [cache_write=Y]' "
    "in USD per million tokens"
)


_PRICE_LINE = re.compile(
    r"(?P<key>[^=\s]+)\s*=\s*(?P<input>[^/\s]+)\s*/\s*(?P<output>\S+)(?P<options>.*)"
)


_HOSTNAME = re.compile(r"[\w.:%-]+")


_OPTION = re.compile(r"\s*(?P<name>\w+)\s*=\s*(?P<value>[^\s=]+)")


@dataclass(frozen=True)
class ModelPrice:
    """A model's price in USD per million tokens; a missing cache rate bills at `input`."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    source: str | None = None
    """What set the price, shown as the call's price source; None for an llmeval_prices
    line (the source then names the line's key)."""

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_read", "cache_write"):
            value = getattr(self, name)
            if value is None and name.startswith("cache"):
                continue
            if not _is_rate(value):
                raise ValueError(f"{name} price must be a finite number >= 0, got {value!r}")


def netloc(hostname: str, port: int | None) -> str:
    host = f"[{hostname}]" if ":" in hostname else hostname
    return host if port is None else f"{host}:{port}"


def split_host(text: str) -> tuple[str, int | None]:
    """(hostname, port) of `host[:port]`, lower case; ValueError when it is no host."""
    from urllib.parse import urlsplit

    parts = urlsplit(f"//{text}")
    hostname, port = parts.hostname, parts.port  # .port raises ValueError on a bad port
    if (
        not hostname
        or not _HOSTNAME.fullmatch(hostname)
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise ValueError(f"{text!r} is not a host or host:port")
    return hostname.lower(), port


def parse_price_overrides(
    value: str | Sequence[str] | Mapping[str, object],
    free_hosts: Sequence[str] = (),
) -> dict[str, ModelPrice]:
    """Read price overrides: ini text (or its lines) like `openai:gpt-4.1-mini = 0.4 / 1.6
    cache_read=0.1`, or a mapping of key to such a string, a dict, or a ModelPrice; plus
    the `free_hosts` (`llmeval_free_hosts`), priced at zero.

    A key is `provider:model`, `model`, `@host[:port]` (every call to that host) or
    `@host[:port]/model`. Blank lines and `#` comments are skipped; a bad line raises
    ValueError naming it.
    """
    prices: dict[str, ModelPrice] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            prices[_key(str(key))] = _price_of(str(key), item)
        _add_free_hosts(prices, free_hosts)
        return prices
    lines = value.splitlines() if isinstance(value, str) else list(value)
    for number, raw in enumerate(lines, start=1):
        line = raw.strip() if isinstance(raw, str) else ""
        if not line or line.startswith("#"):
            continue
        match = _PRICE_LINE.fullmatch(line)
        try:
            if match is None:
                raise ValueError(_LINE_FORMAT)
            key = _key(match["key"])
            if key in prices:
                raise ValueError(f"{key} is priced twice")
            prices[key] = _parse_rates(match["input"], match["output"], match["options"])
        except ValueError as error:
            raise ValueError(f"bad {PRICES_INI} line {number} {raw!r}: {error}") from None
    _add_free_hosts(prices, free_hosts)
    return prices


def parse_free_hosts(lines: Sequence[str]) -> list[str]:
    """The hosts of `llmeval_free_hosts` as `host[:port]`, lower case (a URL gives its
    host); blank lines and `#` comments are skipped, anything else raises ValueError."""
    hosts: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        text = line.split("://", 1)[1].split("/", 1)[0] if "://" in line else line
        try:
            hosts.append(netloc(*split_host(text)))
        except ValueError as error:
            raise ValueError(
                f"bad {FREE_HOSTS_INI} line {number} {raw!r}: {error} "
                "(expected a host such as localhost:11434 or 127.0.0.1)"
            ) from None
    return hosts


def _add_free_hosts(prices: dict[str, ModelPrice], free_hosts: Sequence[str]) -> None:
    for host in parse_free_hosts(list(free_hosts)):
        key = f"@{host}"
        if key in prices:
            raise ValueError(
                f"{host} is in {FREE_HOSTS_INI} and priced in {PRICES_INI} ({key}); keep one"
            )
        prices[key] = ModelPrice(input=0.0, output=0.0, source=f"free host {host}")


def _key(key: str) -> str:
    """An override key with its host part (`@host[:port]`) in canonical form."""
    if not key.startswith("@"):
        return key
    host, slash, model = key[1:].partition("/")
    try:
        canonical = netloc(*split_host(host))
    except ValueError as error:
        raise ValueError(f"bad host key {key!r}: {error}") from None
    if slash and not model:
        raise ValueError(f"bad host key {key!r}: no model after '/'")
    return f"@{canonical}{slash}{model}"


def _price_of(key: str, item: object) -> ModelPrice:
    try:
        if isinstance(item, ModelPrice):
            return item
        if isinstance(item, str):
            match = re.fullmatch(
                r"(?P<input>[^/\s]+)\s*/\s*(?P<output>\S+)(?P<options>.*)", item.strip()
            )
            if match is None:
                raise ValueError(_LINE_FORMAT)
            return _parse_rates(match["input"], match["output"], match["options"])
        if isinstance(item, Mapping):
            unknown = set(item) - {"input", "output", "cache_read", "cache_write"}
            if unknown or "input" not in item or "output" not in item:
                raise ValueError(
                    "expected the keys input, output and optionally cache_read, cache_write"
                )
            return ModelPrice(
                input=_rate(item["input"]),
                output=_rate(item["output"]),
                cache_read=_rate(item["cache_read"]) if "cache_read" in item else None,
                cache_write=_rate(item["cache_write"]) if "cache_write" in item else None,
            )
        raise ValueError(f"expected 'input / output' text or a table, got {type(item).__name__}")
    except ValueError as error:
        raise ValueError(f"bad {PRICES_INI} entry {key!r}: {error}") from None


def _parse_rates(input_text: str, output_text: str, options_text: str) -> ModelPrice:
    options: dict[str, float] = {}
    position = 0
    while position < len(options_text.rstrip()):
        option = _OPTION.match(options_text, position)
        if option is None:
            raise ValueError(f"cannot read {options_text[position:].strip()!r}; {_LINE_FORMAT}")
        name = option["name"]
        if name not in ("cache_read", "cache_write"):
            raise ValueError(f"unknown option {name!r} (only cache_read and cache_write)")
        options[name] = _rate(option["value"])
        position = option.end()
    return ModelPrice(
        input=_rate(input_text),
        output=_rate(output_text),
        cache_read=options.get("cache_read"),
        cache_write=options.get("cache_write"),
    )


def _rate(value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _is_rate(value):
        raise ValueError(f"{value!r} is not a finite price >= 0")
    return float(value)


def _is_rate(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and value >= 0
