"""Price one model call in USD: the user's overrides first, then genai-prices.

Lookup order (the docs' "Cost" section says the same): an override keyed by the
call's host (`@host/model`, then `@host`, from `llmeval_prices` or `llmeval_free_hosts`),
then one keyed `provider:model` or `model`; then genai-prices by provider (OpenAI,
Anthropic) or by API URL (the clouds it knows); then, for a host genai-prices does not
know (a gateway, a proxy, a local server), genai-prices by the model name alone, marked
in the price's `source` ("by model name; host <host> unknown"). A model name of the
form `provider/model` (LiteLLM) or `vendor/model` (OpenRouter) is looked up as such.
A deployment URL (Azure OpenAI's `/deployments/<name>/`) names a deployment, not a
model, so only the model the response reports is looked up there.

Token accounting. A `CallSummary` counts `input_tokens` *without* cached tokens (see
`pytest_llmeval.capture.providers`). genai-prices wants the opposite: its `input_tokens` is the
whole prompt, and it subtracts `cache_read_tokens` and `cache_write_tokens` from it to
bill them at their own rates. So the prompt total handed to it is
`input_tokens + cache_read_tokens + cache_write_tokens`, for every provider. A cached
token is therefore billed once, at the cache rate (or at the input rate when the model
has no cache rate), never twice.

Speed. Pricing runs once per inference, 10,000 times in a big session, and one
genai-prices `calc_price` call costs about 60 microseconds. Within a pricing tier a price
is affine in the four token counts, so the first call for a model asks genai-prices for
the price of a few unit usages, keeps the rates it implies (in `_rate_card`'s memo), and
later calls are a few multiplications.
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pytest_llmeval.capture.price_overrides import PRICES_INI, ModelPrice, netloc, split_host
from pytest_llmeval.core.vocabulary import BY_MODEL_NAME

if TYPE_CHECKING:
    from decimal import Decimal

    from pytest_llmeval.capture.providers.types import CallSummary

__all__ = ["Price", "price_call"]


_PER_MILLION = 1_000_000
# Providers that bill their own API: genai-prices knows them by id. Any other host is
# looked up by its URL, which finds the clouds genai-prices knows (Azure, Groq, ...).
_PROVIDER_IDS = frozenset({"openai", "anthropic"})


@dataclass(frozen=True)
class Price:
    """The price of one call: `usd` is None (and `priced` False) when it is unknown."""

    usd: float | None
    priced: bool
    source: str | None
    """Where the price came from: `genai-prices`, `by model name; host <host> unknown`,
    `override <key>` or `free host <host>`; None when the call is unpriced or unbilled."""
    note: str | None = None
    """Why the call is unpriced (and how to fix it), or why it cost nothing."""
    reason: str | None = None
    """Why the call is unpriced, in a few words (one of the `REASON_*` texts); else None."""


#: Why a call is unpriced: nobody prices its model (an override would).
REASON_NO_PRICE = "no known price"
#: Why a call is unpriced: its response reported no token usage.
REASON_NO_USAGE = "usage not reported"
#: The same for a chat completion streamed without `stream_options={"include_usage": True}`.
REASON_NO_USAGE_STREAM = "usage not reported (stream without include_usage)"
#: Why a call is unpriced: neither its request nor its response names a model.
REASON_NO_MODEL = "no model named"


@dataclass(frozen=True)
class _Tokens:
    uncached: int
    output: int
    cache_read: int
    cache_write: int

    @property
    def prompt(self) -> int:
        return self.uncached + self.cache_read + self.cache_write


def price_call(
    summary: CallSummary,
    *,
    overrides: Mapping[str, ModelPrice] | None = None,
    catalog: bool = True,
) -> Price:
    """Price a call: an override keyed `provider:model` or `model` wins over genai-prices
    (consulted only when `catalog` is true).

    Never a silent zero: a call without usage, or with a model nobody prices, gets
    `usd=None` and a note saying how to fix it. A failed call that reports no usage is
    not billed (0.0).
    """
    counts = (
        summary.input_tokens,
        summary.output_tokens,
        summary.cache_read_tokens,
        summary.cache_write_tokens,
    )
    if all(count is None for count in counts):
        if summary.error is not None:
            return Price(usd=0.0, priced=True, source=None, note="failed call: not billed")
        reason = REASON_NO_USAGE_STREAM if _is_chat_stream(summary) else REASON_NO_USAGE
        # a price for the model is still worth knowing: the fix is then usage alone
        zero = replace(summary, input_tokens=0, output_tokens=0)
        if not price_call(zero, overrides=overrides, catalog=catalog).priced:
            reason = f"{reason}, and {REASON_NO_PRICE}"
        note = _no_usage_note(summary)
        return Price(usd=None, priced=False, source=None, note=note, reason=reason)
    tokens = _Tokens(*(count or 0 for count in counts))
    names = [name for name in (summary.model, summary.requested_model) if name]
    if overrides:
        found = _override_for(overrides, summary, names)
        if found is not None:
            key, override = found
            source = override.source or f"override {key}"
            return Price(usd=_override_usd(override, tokens), priced=True, source=source)
    if not names:
        note = f"the {summary.provider} call names no model, so it cannot be priced"
        return Price(usd=None, priced=False, source=None, note=note, reason=REASON_NO_MODEL)
    if _is_deployment(summary.api_url) and summary.model:
        names = [summary.model]  # the request names a deployment, the response the model
    provider_id = summary.provider if summary.provider in _PROVIDER_IDS else None
    api_url = None if provider_id else summary.api_url
    if catalog and (provider_id or api_url):
        for name in names:
            card = _rate_card(provider_id, api_url, name)
            if card is not None:
                return Price(usd=card.usd(tokens), priced=True, source="genai-prices")
        if api_url is not None and not _host_known(api_url):
            for name in names:
                card = _rate_card_by_name(name)
                if card is not None:
                    source = f"{BY_MODEL_NAME}; host {_netloc_of(api_url)} unknown"
                    return Price(usd=card.usd(tokens), priced=True, source=source)
    note = _unpriced_note(summary, names[0])
    return Price(usd=None, priced=False, source=None, note=note, reason=REASON_NO_PRICE)


def _override_for(
    overrides: Mapping[str, ModelPrice], summary: CallSummary, names: Sequence[str]
) -> tuple[str, ModelPrice] | None:
    """The override that prices a call, and its key: host-keyed ones first (`@host:port`
    before `@host`, with the model before without), then `provider:model`, then `model`."""
    keys: list[str] = []
    host = _host_keys(summary.api_url)
    keys += [f"{prefix}/{name}" for name in names for prefix in host]
    keys += host
    keys += [key for name in names for key in (f"{summary.provider}:{name}", name)]
    for key in keys:
        if key in overrides:
            return key, overrides[key]
    return None


def _netloc_of(api_url: str) -> str:
    try:
        hostname, port = split_host(api_url.partition("://")[2].partition("/")[0])
    except ValueError:
        return api_url
    return netloc(hostname, port)


def _host_keys(api_url: str | None) -> list[str]:
    """The override keys naming a call's host: `@host:port` (when it has a port), `@host`."""
    if not api_url:
        return []
    try:
        hostname, port = split_host(api_url.partition("://")[2].partition("/")[0])
    except ValueError:
        return []
    keys = [f"@{netloc(hostname, None)}"]
    if port is not None:
        keys.insert(0, f"@{netloc(hostname, port)}")
    return keys


def _is_deployment(api_url: str | None) -> bool:
    """Whether the URL addresses a deployment (Azure OpenAI), not a model."""
    return api_url is not None and "/deployments/" in api_url


def _override_usd(price: ModelPrice, tokens: _Tokens) -> float:
    cache_read = price.input if price.cache_read is None else price.cache_read
    cache_write = price.input if price.cache_write is None else price.cache_write
    total = (
        tokens.uncached * price.input
        + tokens.output * price.output
        + tokens.cache_read * cache_read
        + tokens.cache_write * cache_write
    )
    return round(total / _PER_MILLION, 12)


@dataclass(frozen=True)
class _Rates:
    """USD per token within one price tier: usd = fixed + sum(rate * count)."""

    fixed: float
    prompt: float  # per prompt token (the whole prompt, cached or not)
    output: float
    cache_read_extra: float  # added per cached token, on top of `prompt` (usually < 0)
    cache_write_extra: float


@dataclass(frozen=True)
class _RateCard:
    """A model's rates per tier; tier i applies when the prompt exceeds tier_starts[i-1]."""

    tier_starts: tuple[int, ...]
    tiers: tuple[_Rates, ...]

    def usd(self, tokens: _Tokens) -> float:
        rates = self.tiers[bisect_left(self.tier_starts, tokens.prompt)]
        total = (
            rates.fixed
            + rates.prompt * tokens.prompt
            + rates.output * tokens.output
            + rates.cache_read_extra * tokens.cache_read
            + rates.cache_write_extra * tokens.cache_write
        )
        return round(total, 12)


# The memo lives on this pure function (as genai-prices' own lookups do): prices do not
# change within a session, and the key is a few strings. No other state is kept.
@functools.lru_cache(maxsize=512)
def _rate_card(provider_id: str | None, api_url: str | None, model: str) -> _RateCard | None:
    """The rates genai-prices bills `model` at, or None when it has no token price for it."""
    from genai_prices import Usage, calc_price
    from genai_prices.types import PriceCalculation, TieredPrices

    def calculate(prompt: int, output: int = 0, read: int = 0, write: int = 0) -> PriceCalculation:
        usage = Usage(
            input_tokens=prompt,
            output_tokens=output,
            cache_read_tokens=read,
            cache_write_tokens=write,
        )
        if provider_id is not None:
            return calc_price(usage, model, provider_id=provider_id)
        return calc_price(usage, model, provider_api_url=api_url)

    def cost(prompt: int, output: int = 0, read: int = 0, write: int = 0) -> Decimal:
        return calculate(prompt, output, read, write).total_price

    try:
        model_price = calculate(0).model_price
        has_prices = any(price is not None for price in vars(model_price).values())
        if has_prices and model_price.input_mtok is None and model_price.output_mtok is None:
            return None  # priced per second, character or page: not something we count
        starts = sorted(
            {
                tier.start
                for price in vars(model_price).values()
                if isinstance(price, TieredPrices)
                for tier in price.tiers
            }
        )
        tiers = []
        for lower in (-1, *starts):
            prompt = lower + 1  # the smallest prompt in this tier; prompt + 1 stays in it
            base, plus_one = cost(prompt), cost(prompt + 1)
            per_prompt = plus_one - base
            tiers.append(
                _Rates(
                    fixed=float(base - per_prompt * prompt),
                    prompt=float(per_prompt),
                    output=float(cost(prompt, output=1) - base),
                    cache_read_extra=float(cost(prompt + 1, read=1) - plus_one),
                    cache_write_extra=float(cost(prompt + 1, write=1) - plus_one),
                )
            )
    except (LookupError, ValueError):  # an unknown provider or model; data it cannot price
        return None
    return _RateCard(tier_starts=tuple(starts), tiers=tuple(tiers))


@functools.lru_cache(maxsize=256)
def _host_known(api_url: str) -> bool:
    """Whether genai-prices knows the provider at this URL (then its price list decides)."""
    from genai_prices import data_snapshot

    try:
        data_snapshot.get_snapshot().find_provider(None, None, api_url)
    except LookupError:
        return False
    except (AttributeError, TypeError):  # another genai-prices: never guess by name then
        return True
    return True


def _rate_card_by_name(name: str) -> _RateCard | None:
    """The rates of a model known by name alone: `provider/model` (LiteLLM, whose
    provider prefix genai-prices resolves), `vendor/model` (OpenRouter's catalogue), the
    part after the last `/`, or a bare name genai-prices matches to one provider."""
    if "/" in name:
        for provider_id in ("litellm", "openrouter"):
            card = _rate_card(provider_id, None, name)
            if card is not None:
                return card
        name = name.rsplit("/", 1)[1]
    return _rate_card(None, None, name) if name else None


def _unpriced_note(summary: CallSummary, model: str) -> str:
    key = f"{summary.provider}:{model}"
    return (
        f"no price for {key}; set it in the {PRICES_INI} ini option "
        f"([tool.pytest.ini_options] in pyproject.toml), e.g. "
        f"'{key} = <input> / <output>' in USD per million tokens"
    )


def _is_chat_stream(summary: CallSummary) -> bool:
    return summary.api == "chat" and summary.params.get("stream") is True


def _no_usage_note(summary: CallSummary) -> str:
    name = f"{summary.provider}:{summary.model or summary.requested_model or '?'}"
    if _is_chat_stream(summary):
        return (
            f"the streamed {name} call reported no token usage, so its cost is unknown; "
            "pass stream_options={'include_usage': True} to get it"
        )
    return f"the {name} call reported no token usage, so its cost is unknown"
