"""Pricing: hand-computed prices, cache tokens, overrides, unpriced calls, the ini parser.

The rates in the hand computations were read from genai-prices 0.2.3's bundled data
(`genai_prices/data.py`):
  openai    gpt-4o            input 2.5, cache_read 1.25, output 10        USD per Mtok
  anthropic claude-haiku-4-5  input 1, cache_read 0.1, cache_write 1.25, output 5
  anthropic claude-sonnet-4-5 input 3 / 6, cache_read 0.3 / 0.6, output 15 / 22.5
                              (the second rate once the whole prompt exceeds 200,000)
  groq      llama-3.3-70b-versatile  input 0.59, output 0.79
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmeval.capture import pricing
from pytest_llmeval.capture.price_overrides import (
    PRICES_INI,
    ModelPrice,
    parse_free_hosts,
    parse_price_overrides,
)
from pytest_llmeval.capture.pricing import Price, price_call
from pytest_llmeval.capture.providers import CallSummary, describe_call


def summary(provider: str = "openai", model: str | None = "gpt-4o", **fields: Any) -> CallSummary:
    api = "messages" if provider.startswith("anthropic") else "chat"
    return CallSummary(provider=provider, api=fields.pop("api", api), model=model, **fields)


# --- hand computations ---------------------------------------------------------------------


def test_openai_hand_computation_with_cached_tokens() -> None:
    # OpenAI's prompt_tokens (1000) include the 800 cached ones: 200 uncached + 800 cached
    response = {
        "model": "gpt-4o-2024-08-06",
        "usage": {
            "prompt_tokens": 1000,
            "completion_tokens": 300,
            "prompt_tokens_details": {"cached_tokens": 800},
        },
    }
    call = describe_call(
        method="POST",
        url="https://api.openai.com/v1/chat/completions",
        request_body={"model": "gpt-4o"},
        status=200,
        response_body=response,
        events=None,
    )
    price = price_call(call)
    # 200 x 2.5 + 800 x 1.25 + 300 x 10 = 500 + 1000 + 3000 = 4500 USD per Mtok
    assert price.usd == pytest.approx(0.0045, rel=1e-12)
    assert (price.priced, price.source, price.note) == (True, "genai-prices", None)
    # not 1000 x 2.5 + 800 x 1.25 + ... (cached tokens counted twice) = 0.0065


def test_openai_hand_computation_without_cache() -> None:
    price = price_call(summary(model="gpt-4o-2024-08-06", input_tokens=24, output_tokens=8))
    assert price.usd == pytest.approx((24 * 2.5 + 8 * 10) / 1e6, rel=1e-12)  # 0.00014


def test_anthropic_hand_computation_with_cache_reads_and_writes() -> None:
    # Anthropic's input_tokens (50) exclude the 4000 read from and 1200 written to cache
    response = {
        "model": "claude-haiku-4-5-20251001",
        "usage": {
            "input_tokens": 50,
            "output_tokens": 20,
            "cache_read_input_tokens": 4000,
            "cache_creation_input_tokens": 1200,
        },
    }
    call = describe_call(
        method="POST",
        url="https://api.anthropic.com/v1/messages",
        request_body={"model": "claude-haiku-4-5"},
        status=200,
        response_body=response,
        events=None,
    )
    price = price_call(call)
    # 50 x 1 + 4000 x 0.1 + 1200 x 1.25 + 20 x 5 = 50 + 400 + 1500 + 100 = 2050 USD per Mtok
    assert price.usd == pytest.approx(0.00205, rel=1e-12)
    assert (price.priced, price.source, price.note) == (True, "genai-prices", None)


def test_anthropic_long_context_tier_counts_the_whole_prompt() -> None:
    below = summary("anthropic", "claude-sonnet-4-5", input_tokens=100_000, output_tokens=1000)
    assert price_call(below).usd == pytest.approx((100_000 * 3 + 1000 * 15) / 1e6, rel=1e-12)
    # 150,000 uncached + 60,000 cached = 210,000 > 200,000: every token at the higher rate
    above = summary(
        "anthropic",
        "claude-sonnet-4-5",
        input_tokens=150_000,
        cache_read_tokens=60_000,
        output_tokens=1000,
    )
    expected = (150_000 * 6 + 60_000 * 0.6 + 1000 * 22.5) / 1e6  # 0.9585
    assert price_call(above).usd == pytest.approx(expected, rel=1e-12)


def test_zero_tokens_with_a_known_model_cost_zero() -> None:
    price = price_call(summary(input_tokens=0, output_tokens=0))
    assert price == Price(usd=0.0, priced=True, source="genai-prices")


def test_embeddings_have_input_tokens_only() -> None:
    call = summary(model="text-embedding-3-small", api="embeddings", input_tokens=4)
    assert price_call(call).usd == pytest.approx(4 * 0.02 / 1e6, rel=1e-12)


def test_known_cloud_behind_an_openai_compatible_url() -> None:
    call = summary(
        "openai-compatible",
        "llama-3.3-70b-versatile",
        api_url="https://api.groq.com/openai/v1/chat/completions",
        input_tokens=1000,
        output_tokens=100,
    )
    price = price_call(call)
    assert price.usd == pytest.approx((1000 * 0.59 + 100 * 0.79) / 1e6, rel=1e-12)
    assert price.source == "genai-prices"


def test_requested_model_is_tried_when_the_response_model_is_unknown() -> None:
    call = summary(model="gpt-4o-custom-snapshot", requested_model="gpt-4o", output_tokens=1000)
    assert price_call(call).usd == pytest.approx(1000 * 10 / 1e6, rel=1e-12)


# --- unpriced and unbilled calls --------------------------------------------------------------


def test_unknown_model_is_unpriced_with_a_remedy() -> None:
    price = price_call(summary(model="gpt-foo", input_tokens=10, output_tokens=5))
    assert (price.usd, price.priced, price.source) == (None, False, None)
    assert price.note == (
        "no price for openai:gpt-foo; set it in the llmeval_prices ini option "
        "([tool.pytest.ini_options] in pyproject.toml), e.g. "
        "'openai:gpt-foo = <input> / <output>' in USD per million tokens"
    )


def test_unknown_host_with_a_known_model_is_priced_by_name_and_marked() -> None:
    # a gateway, proxy or local server genai-prices does not know, serving a model it
    # does know: priced by the model's name, and the price says so
    call = summary(
        "openai-compatible",
        "gpt-4o",
        api_url="http://localhost:11434/v1/chat/completions",
        input_tokens=10,
        output_tokens=100,
    )
    price = price_call(call)
    assert price.usd == pytest.approx((10 * 2.5 + 100 * 10) / 1e6, rel=1e-12)
    assert price.source == "by model name; host localhost:11434 unknown"


def test_unknown_model_on_an_unknown_host_stays_unpriced() -> None:
    call = summary(
        "openai-compatible",
        "mystery-model",
        api_url="http://gateway.internal:8080/v1/chat/completions",
        input_tokens=10,
    )
    price = price_call(call)
    assert (price.usd, price.priced, price.source, price.reason) == (
        None,
        False,
        None,
        "no known price",
    )


def test_known_host_with_an_unknown_model_is_not_priced_by_name() -> None:
    # genai-prices knows Groq: its price list decides, a name match elsewhere does not
    call = summary(
        "openai-compatible",
        "gpt-4o-mini",
        api_url="https://api.groq.com/openai/v1/chat/completions",
        input_tokens=10,
    )
    assert price_call(call).priced is False


@pytest.mark.parametrize(
    ("model", "rates"),
    [
        ("openai/gpt-4o-mini", (0.15, 0.60)),  # OpenRouter / LiteLLM: vendor/model
        ("anthropic/claude-haiku-4-5", (1.0, 5.0)),  # LiteLLM provider/model
        ("vertex_ai/gemini-2.5-flash", (0.30, 2.50)),  # a provider prefix it does not know
    ],
)
def test_vendor_slash_model_names_are_recognised(model: str, rates: tuple[float, float]) -> None:
    call = summary(
        "openai-compatible",
        model,
        api_url="http://127.0.0.1:4000/v1/chat/completions",
        input_tokens=1000,
        output_tokens=100,
    )
    price = price_call(call)
    assert price.usd == pytest.approx((1000 * rates[0] + 100 * rates[1]) / 1e6, rel=1e-9)
    assert price.source == "by model name; host 127.0.0.1:4000 unknown"


def test_openrouter_catalogue_names_are_recognised() -> None:
    from genai_prices import Usage, calc_price

    listed = calc_price(
        Usage(input_tokens=1000, output_tokens=100),
        "meta-llama/llama-3.1-8b-instruct",
        provider_id="openrouter",
    ).total_price
    call = summary(
        "openai-compatible",
        "meta-llama/llama-3.1-8b-instruct",
        api_url="http://127.0.0.1:4000/v1/chat/completions",
        input_tokens=1000,
        output_tokens=100,
    )
    assert price_call(call).usd == pytest.approx(float(listed), rel=1e-9)


def test_azure_deployment_is_priced_by_the_model_the_response_reports() -> None:
    url = "http://127.0.0.1:9000/openai/deployments/gpt-4o/chat/completions"
    reported = summary(
        "openai-compatible",
        "gpt-4o-mini-2024-07-18",
        requested_model="gpt-4o",
        api_url=url,
        output_tokens=1000,
    )
    assert price_call(reported).usd == pytest.approx(1000 * 0.60 / 1e6, rel=1e-12)
    # the deployment is named gpt-4o, but the model behind it is not one genai-prices
    # knows: the deployment's name is no price
    finetune = summary(
        "openai-compatible",
        "ft:my-support-model",
        requested_model="gpt-4o",
        api_url=url,
        output_tokens=1000,
    )
    assert price_call(finetune).priced is False


def test_host_keyed_overrides() -> None:
    overrides = parse_price_overrides(
        [
            "@Gateway.Internal:8080 = 1 / 2",
            "@gateway.internal/gpt-4o-mini = 3 / 4",
            "openai-compatible:gpt-4o-mini = 5 / 6",
        ]
    )
    assert set(overrides) >= {"@gateway.internal:8080", "@gateway.internal/gpt-4o-mini"}

    def price(model: str, host: str) -> Price:
        call = summary(
            "openai-compatible",
            model,
            api_url=f"http://{host}/v1/chat/completions",
            input_tokens=1_000_000,
            output_tokens=1_000_000,
        )
        return price_call(call, overrides=overrides)

    # host and model first, then host alone (with its port), then provider:model
    assert (
        price("gpt-4o-mini", "gateway.internal:9").usd,
        price("gpt-4o-mini", "gateway.internal:9").source,
    ) == (7.0, "override @gateway.internal/gpt-4o-mini")
    assert price("mystery", "gateway.internal:8080").usd == 3.0
    assert price("mystery", "gateway.internal:8080").source == "override @gateway.internal:8080"
    assert price("mystery", "gateway.internal:9").priced is False
    assert price("gpt-4o-mini", "elsewhere:1").source == "override openai-compatible:gpt-4o-mini"


def test_free_hosts_cost_nothing_and_only_they() -> None:
    overrides = parse_price_overrides(
        [], free_hosts=["localhost:11434", "http://127.0.0.1:8000/v1"]
    )
    assert parse_free_hosts(["# local", "", "LOCALHOST:11434", "[::1]:8000"]) == [
        "localhost:11434",
        "[::1]:8000",
    ]

    def price(host: str, model: str = "llama3.1:8b") -> Price:
        call = summary(
            "openai-compatible",
            model,
            api_url=f"http://{host}/v1/chat/completions",
            input_tokens=100,
            output_tokens=100,
        )
        return price_call(call, overrides=overrides)

    assert (price("localhost:11434").usd, price("localhost:11434").source) == (
        0.0,
        "free host localhost:11434",
    )
    assert price("127.0.0.1:8000").usd == 0.0
    # another port of the same host is not free: never guessed
    assert price("localhost:11435").priced is False
    assert (
        price("localhost:11435", "gpt-4o").source == "by model name; host localhost:11435 unknown"
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["http://"], "bad llmeval_free_hosts line 1 'http://': "),
        (["localhost:port"], "bad llmeval_free_hosts line 1 'localhost:port': "),
        (["a b"], "bad llmeval_free_hosts line 1 'a b': "),
    ],
)
def test_bad_free_host_names_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_free_hosts(lines)


def test_a_host_both_free_and_priced_is_an_error() -> None:
    with pytest.raises(ValueError, match="localhost:1 is in llmeval_free_hosts and priced"):
        parse_price_overrides(["@localhost:1 = 1 / 1"], free_hosts=["localhost:1"])


def test_stream_without_usage_is_unpriced_not_free() -> None:
    call = summary(params={"stream": True})
    price = price_call(call)
    assert (price.usd, price.priced) == (None, False)
    assert price.note == (
        "the streamed openai:gpt-4o call reported no token usage, so its cost is unknown; "
        "pass stream_options={'include_usage': True} to get it"
    )


def test_an_unpriced_call_says_why_and_a_priced_model_is_not_called_unpriced() -> None:
    override = {"openai-compatible:llama3": ModelPrice(input=1, output=1)}
    stream = summary("openai-compatible", "llama3", params={"stream": True})
    assert price_call(stream, overrides=override).reason == (
        "usage not reported (stream without include_usage)"
    )
    assert price_call(stream).reason == (
        "usage not reported (stream without include_usage), and no known price"
    )
    plain = summary("openai-compatible", "llama3")
    assert price_call(plain, overrides=override).reason == "usage not reported"
    counted = summary("openai-compatible", "llama3", input_tokens=3, output_tokens=4)
    assert price_call(counted).reason == "no known price"
    assert price_call(counted, overrides=override).reason is None
    nameless = summary("unknown", None, api="unknown", input_tokens=5)
    assert price_call(nameless).reason == "no model named"


def test_failed_call_without_usage_is_not_billed() -> None:
    price = price_call(summary(model="nonexistent", error="The model does not exist"))
    assert price == Price(usd=0.0, priced=True, source=None, note="failed call: not billed")


def test_call_without_a_model() -> None:
    price = price_call(summary("unknown", None, api="unknown", input_tokens=5))
    assert (price.usd, price.priced) == (None, False)
    assert price.note == "the unknown call names no model, so it cannot be priced"


# --- overrides ------------------------------------------------------------------------------------


def test_overrides_win_provider_key_first() -> None:
    call = summary(model="gpt-4o-2024-08-06", requested_model="gpt-4o", input_tokens=1_000_000)
    bare = {"gpt-4o": ModelPrice(input=1, output=1)}
    assert price_call(call, overrides=bare) == Price(usd=1.0, priced=True, source="override gpt-4o")
    both = {**bare, "openai:gpt-4o": ModelPrice(input=2, output=2)}
    assert price_call(call, overrides=both).usd == 2.0
    exact = {**both, "gpt-4o-2024-08-06": ModelPrice(input=3, output=3)}
    assert price_call(call, overrides=exact).usd == 3.0  # the response's model before the request's


def test_override_prices_an_unknown_model_and_cache_defaults_to_input() -> None:
    overrides = parse_price_overrides("openai-compatible:llama3 = 0.5 / 2")
    call = summary(
        "openai-compatible",
        "llama3",
        input_tokens=1000,
        cache_read_tokens=1000,
        cache_write_tokens=1000,
        output_tokens=1000,
    )
    # no cache rates given: cached tokens bill at the input rate
    assert price_call(call, overrides=overrides).usd == pytest.approx((3000 * 0.5 + 1000 * 2) / 1e6)
    overrides = parse_price_overrides("llama3 = 0.5 / 2 cache_read=0.05 cache_write=1")
    assert price_call(call, overrides=overrides).usd == pytest.approx(
        (1000 * 0.5 + 1000 * 0.05 + 1000 * 1 + 1000 * 2) / 1e6
    )


# --- the override parser ----------------------------------------------------------------------------


def test_parse_ini_text() -> None:
    text = """
        # prices negotiated with our account manager
        openai:gpt-4.1-mini = 0.4 / 1.6
        anthropic:claude-sonnet-4-5=3/15 cache_read = 0.3 cache_write=3.75

        ollama-model:7b = 0 / 0
    """
    assert parse_price_overrides(text) == {
        "openai:gpt-4.1-mini": ModelPrice(input=0.4, output=1.6),
        "anthropic:claude-sonnet-4-5": ModelPrice(
            input=3, output=15, cache_read=0.3, cache_write=3.75
        ),
        "ollama-model:7b": ModelPrice(input=0, output=0),
    }


def test_parse_ini_linelist_and_mappings() -> None:
    assert parse_price_overrides(["m = 1 / 2", ""]) == {"m": ModelPrice(input=1, output=2)}
    table = {
        "a": "1 / 2 cache_read=0.5",
        "b": {"input": 1, "output": 2, "cache_write": 3},
        "c": ModelPrice(input=4, output=5),
    }
    assert parse_price_overrides(table) == {
        "a": ModelPrice(input=1, output=2, cache_read=0.5),
        "b": ModelPrice(input=1, output=2, cache_write=3),
        "c": ModelPrice(input=4, output=5),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "openai:gpt-4.1-mini = 0.4",
            (
                "bad llmeval_prices line 1 'openai:gpt-4.1-mini = 0.4': expected "
                "'provider:model = input / output [cache_read=X] [cache_write=Y]' "
                "in USD per million tokens"
            ),
        ),
        (
            "m = 1 / 2\nx = cheap / 2",
            "bad llmeval_prices line 2 'x = cheap / 2': 'cheap' is not a number",
        ),
        ("x = -1 / 2", "bad llmeval_prices line 1 'x = -1 / 2': -1.0 is not a finite price >= 0"),
        ("x = nan / 2", "bad llmeval_prices line 1 'x = nan / 2': nan is not a finite price >= 0"),
        (
            "x = 1 / 2 batch=0.5",
            (
                "bad llmeval_prices line 1 'x = 1 / 2 batch=0.5': "
                "unknown option 'batch' (only cache_read and cache_write)"
            ),
        ),
        (
            "x = 1 / 2 cache_read",
            "bad llmeval_prices line 1 'x = 1 / 2 cache_read': cannot read 'cache_read'; expected",
        ),
        ("x = 1 / 2\nx = 3 / 4", "bad llmeval_prices line 2 'x = 3 / 4': x is priced twice"),
    ],
)
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_price_overrides(text)
    assert str(raised.value).startswith(message)


def test_parse_errors_name_the_mapping_entry() -> None:
    with pytest.raises(ValueError, match=r"^bad llmeval_prices entry 'm': expected the keys input"):
        parse_price_overrides({"m": {"input": 1}})
    with pytest.raises(
        ValueError, match=r"^bad llmeval_prices entry 'm': expected 'input / output'"
    ):
        parse_price_overrides({"m": 3})
    with pytest.raises(ValueError, match=r"True is not a finite price"):
        parse_price_overrides({"m": {"input": True, "output": 1}})


def test_model_price_validates() -> None:
    with pytest.raises(ValueError, match="input price must be a finite number >= 0, got -1"):
        ModelPrice(input=-1, output=1)
    assert PRICES_INI == "llmeval_prices"


# --- memo and speed --------------------------------------------------------------------------------


def test_second_pricing_of_a_model_does_no_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    import genai_prices

    lookups = []
    real = genai_prices.calc_price

    def counting(*args: Any, **kwargs: Any) -> Any:
        lookups.append(args[1])
        return real(*args, **kwargs)

    pricing._rate_card.cache_clear()
    monkeypatch.setattr(genai_prices, "calc_price", counting)
    price_call(summary(input_tokens=1, output_tokens=1))
    first = len(lookups)
    assert first > 0
    price_call(summary(input_tokens=100, output_tokens=7))
    price_call(summary(model="gpt-foo", input_tokens=1))
    price_call(summary(model="gpt-foo", input_tokens=2))
    assert lookups[first:] == ["gpt-foo"]  # one miss, remembered too
    pricing._rate_card.cache_clear()


# --- properties --------------------------------------------------------------------------------------


def _token_priced_models() -> list[tuple[str, str]]:
    from genai_prices import Usage, calc_price
    from genai_prices.data_snapshot import get_snapshot

    models = []
    for provider in get_snapshot().providers:
        if provider.id in ("openai", "anthropic"):
            for model in provider.models:
                try:  # some ids do not match their own model (e.g. openai's 'ft:gpt-4o')
                    price = calc_price(Usage(), model.id, provider_id=provider.id).model_price
                except LookupError:
                    continue
                if price.input_mtok is not None:
                    models.append((provider.id, model.id))
    return models


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(_token_priced_models()),
    counts=st.tuples(*[st.integers(0, 400_000)] * 4),
)
def test_fast_path_matches_genai_prices(model: tuple[str, str], counts: tuple[int, ...]) -> None:
    from genai_prices import Usage, calc_price

    provider, name = model
    uncached, output, read, write = counts
    expected = calc_price(
        Usage(
            input_tokens=uncached + read + write,
            output_tokens=output,
            cache_read_tokens=read,
            cache_write_tokens=write,
        ),
        name,
        provider_id=provider,
    ).total_price
    call = summary(
        provider,
        name,
        input_tokens=uncached,
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_tokens=write,
    )
    assert price_call(call).usd == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


counts = st.none() | st.integers(0, 10**9)


@settings(max_examples=300, deadline=None)
@given(
    provider=st.sampled_from(["openai", "anthropic", "openai-compatible", "unknown", "x"]),
    model=st.none() | st.sampled_from(["gpt-4o", "claude-haiku-4-5", "gpt-foo", ""]) | st.text(),
    api_url=st.none() | st.sampled_from(["https://api.groq.com/v1", "http://localhost", "::"]),
    tokens=st.tuples(counts, counts, counts, counts),
    error=st.none() | st.text(),
)
def test_price_call_never_raises(
    provider: str,
    model: str | None,
    api_url: str | None,
    tokens: tuple[int | None, ...],
    error: str | None,
) -> None:
    uncached, output, read, write = tokens
    call = CallSummary(
        provider=provider,
        api="chat",
        api_url=api_url,
        model=model,
        input_tokens=uncached,
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_tokens=write,
        error=error,
    )
    price = price_call(call, overrides={"gpt-foo": ModelPrice(input=1, output=1)})
    if price.priced:
        assert price.usd is not None and price.usd >= 0
    else:
        assert price.usd is None and price.note


def test_unknown_api_on_a_known_cloud_host() -> None:
    # Google's generateContent has no adapter, but its usage is read and its host is known
    call = describe_call(
        method="POST",
        url="https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent",
        request_body={"contents": []},
        status=200,
        response_body={
            "modelVersion": "gemini-2.0-flash",
            "usageMetadata": {"promptTokenCount": 1454, "candidatesTokenCount": 100},
        },
        events=None,
    )
    # gemini-2.0-flash: input 0.1, output 0.4 USD per Mtok in genai-prices' data
    assert price_call(call).usd == pytest.approx((1454 * 0.1 + 100 * 0.4) / 1e6, rel=1e-12)
