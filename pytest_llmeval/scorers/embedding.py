"""Embedding similarity: the cosine of two texts' embeddings, asked through the real SDK.

`embedding_similarity(a, b, model=...)` (and `aembedding_similarity`, through the SDK's
async client) embeds both texts in one request to an OpenAI (or OpenAI-compatible)
embeddings endpoint, through the SDK clients the judges use
(`judges.clients`: the API key and base URL are resolved the same way, and without a
key a call can still replay, but never reaches the provider). The call runs in the
`evaluation` role: in an eval test it is recorded in the test's cassette, replayed
offline, and accounted as an evaluation call, apart from the app's, so the marker's
`budget_usd` and `max_latency_s` never count it.

The score is the cosine clipped to [0, 1], `max(0, cos)`, not `(1 + cos) / 2`: a
threshold then means the cosine itself (`threshold=0.8` passes at cosine 0.8, as in
promptfoo's `similar`, ragas and the papers), and unrelated texts, whose cosine is
near 0, score near 0 instead of near 0.5 in a weighted mean. A negative cosine (rare
with text embeddings) says "unrelated" as firmly as 0 does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.scorers.scored import Scored

if TYPE_CHECKING:
    from pytest_llmeval.judges.backends import OpenAIBackend

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "aembedding_similarity",
    "asimilarities",
    "embedding_similarity",
    "similarities",
]

#: The model `embedding_similarity` and the `similar` assertion use unless told.
DEFAULT_EMBEDDING_MODEL = "openai:text-embedding-3-small"


def embedding_similarity(
    a: str,
    b: str,
    model: str = DEFAULT_EMBEDDING_MODEL,
    *,
    base_url: str | None = None,
) -> Scored:
    """How alike two texts mean: the cosine of their embeddings, clipped to [0, 1].

    `model` is `provider:model` (`openai:` or `openai-compatible:` with a base URL);
    `base_url` defaults to `OPENAI_BASE_URL`. The request is an evaluation call
    (recorded, replayed, accounted apart from the app's). An empty text scores 0
    against a non-empty one and 1 against another empty one, without a call. The
    result carries a reason and the raw cosine in `details["cosine"]`.
    """
    (scored,) = similarities(a, [b], model, base_url=base_url, scorer="embedding_similarity")
    return scored


def similarities(
    text: str,
    others: Sequence[str],
    model: str = DEFAULT_EMBEDDING_MODEL,
    *,
    base_url: str | None = None,
    scorer: str = "similarities",
) -> list[Scored]:
    """`text`'s embedding similarity to each of `others`, from one embeddings request."""
    text, others, backend, wanted = _prepare(scorer, text, others, model, base_url)
    vectors = dict(zip(wanted, _embed(backend, wanted), strict=True)) if wanted else {}
    return [_similarity(text, other, vectors, backend.model) for other in others]


async def aembedding_similarity(
    a: str,
    b: str,
    model: str = DEFAULT_EMBEDDING_MODEL,
    *,
    base_url: str | None = None,
) -> Scored:
    """The asynchronous `embedding_similarity`: the request goes through the SDK's async
    client, so an async eval test (or the tests `--llmeval-concurrency` overlaps) does
    not hold up its event loop while the embeddings come back."""
    (scored,) = await asimilarities(
        a, [b], model, base_url=base_url, scorer="aembedding_similarity"
    )
    return scored


async def asimilarities(
    text: str,
    others: Sequence[str],
    model: str = DEFAULT_EMBEDDING_MODEL,
    *,
    base_url: str | None = None,
    scorer: str = "asimilarities",
) -> list[Scored]:
    """The asynchronous `similarities` (see `aembedding_similarity`)."""
    text, others, backend, wanted = _prepare(scorer, text, others, model, base_url)
    vectors = dict(zip(wanted, await _aembed(backend, wanted), strict=True)) if wanted else {}
    return [_similarity(text, other, vectors, backend.model) for other in others]


def _prepare(
    scorer: str, text: object, others: Sequence[object], model: str, base_url: str | None
) -> tuple[str, list[str], OpenAIBackend, list[str]]:
    """The texts checked, the backend, and the texts to embed: distinct, non-empty, and
    only when some pair has two texts (an empty one scores alone, without a call)."""
    text = _text(scorer, "a", text)
    texts = [_text(scorer, "b", other) for other in others]
    backend = _backend(scorer, model, base_url)
    wanted = [t for t in dict.fromkeys([text, *texts]) if t] if text and any(texts) else []
    return text, texts, backend, wanted


def _text(scorer: str, argument: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{scorer}: {argument} must be a str, got {type(value).__name__}")
    return value


def _backend(scorer: str, model: str, base_url: str | None) -> OpenAIBackend:
    """The OpenAI backend whose client and error messages the embedding call uses."""
    from pytest_llmeval.judges.backends import OpenAIBackend
    from pytest_llmeval.judges.clients import ClientSpec, ModelNameError, ModelRef

    class EmbeddingBackend(OpenAIBackend):
        role = "evaluation"

        def _who(self) -> str:
            return "embedding scorer"

    if not isinstance(model, str):
        raise TypeError(f"{scorer}: model must be a str, got {type(model).__name__}")
    try:
        ref = ModelRef.parse(model)
    except ModelNameError:
        raise ValueError(
            f"{scorer}: model {model!r} is not of the form provider:model, "
            f"e.g. {DEFAULT_EMBEDDING_MODEL}"
        ) from None
    if ref.sdk != "openai":
        raise ValueError(
            f"{scorer}: model {model!r}: only OpenAI's embeddings API is supported; use "
            "openai:<model>, or openai-compatible:<model> with a base URL"
        )
    if (
        ref.provider == "openai-compatible"
        and not ClientSpec("openai", base_url, 0).effective_base_url()
    ):
        raise ValueError(
            f"{scorer}: model {model!r} is on an OpenAI-compatible server, but no base URL "
            "is set: pass base_url=... or set OPENAI_BASE_URL"
        )
    return EmbeddingBackend(ref, base_url=base_url)


def _embed(backend: OpenAIBackend, texts: list[str]) -> list[list[float]]:
    """The embeddings of `texts`, in order, from one request in the evaluation role."""
    from pytest_llmeval.judges.clients import CLIENTS

    client: Any = CLIENTS.client(backend.spec)
    with backend._judge_request():
        response = client.embeddings.create(model=backend.ref.name, input=texts)
    return _vectors(backend, texts, response)


async def _aembed(backend: OpenAIBackend, texts: list[str]) -> list[list[float]]:
    """`_embed` through the SDK's async client."""
    from pytest_llmeval.judges.clients import CLIENTS

    client: Any = CLIENTS.async_client(backend.spec)
    with backend._judge_request():
        response = await client.embeddings.create(model=backend.ref.name, input=texts)
    return _vectors(backend, texts, response)


def _vectors(backend: OpenAIBackend, texts: list[str], response: Any) -> list[list[float]]:
    data = sorted(response.data, key=lambda item: item.index)
    if len(data) != len(texts):
        from pytest_llmeval.core.errors import JudgeError

        raise JudgeError(
            f"embedding scorer {backend.model}: asked for {len(texts)} embeddings, got {len(data)}"
        )
    return [list(item.embedding) for item in data]


def _similarity(a: str, b: str, vectors: dict[str, list[float]], model: str) -> Scored:
    if not a or not b:
        if a == b:
            return Scored(1.0, "both texts are empty", {"cosine": 1.0})
        return Scored(0.0, f"{'a' if not a else 'b'} is empty", {"cosine": 0.0})
    first, second = vectors[a], vectors[b]
    if len(first) != len(second):
        raise ValueError(
            f"embedding_similarity: {model} returned vectors of {len(first)} and "
            f"{len(second)} dimensions"
        )
    norms = math.sqrt(math.fsum(x * x for x in first)) * math.sqrt(math.fsum(y * y for y in second))
    if norms == 0:
        return Scored(0.0, f"{model} returned a zero vector", {"cosine": 0.0})
    cosine = math.fsum(x * y for x, y in zip(first, second, strict=True)) / norms
    value = min(1.0, max(0.0, cosine))
    clipped = "" if cosine >= 0 else ", clipped to 0"
    return Scored(
        value,
        f"cosine similarity {cosine:.3f} of the {model} embeddings{clipped}",
        {"cosine": cosine},
    )
