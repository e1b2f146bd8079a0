"""Inference records added up into usage rollups (pure; no pytest).

Sums are `math.fsum` over calls sorted by node id, so a rollup does not depend on
the order in which xdist workers finished. Latency percentiles use `stats.percentile`
(linear interpolation between closest ranks, numpy's default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from pytest_llmeval.core.vocabulary import BY_MODEL_NAME
from pytest_llmeval.records import stats
from pytest_llmeval.records.models import Inference, UsageRollup


def _model_name(inference: Inference) -> str:
    return f"{inference.provider}:{inference.model or 'unknown'}"


def _failed(inference: Inference) -> bool:
    return inference.error is not None or (inference.status is not None and inference.status >= 400)


def count_retries(inferences: Sequence[Inference]) -> int:
    """Calls of one test that repeat the call just before them after it failed."""
    retries = 0
    for previous, current in zip(inferences, inferences[1:], strict=False):
        same = (previous.api, previous.model, previous.input_text) == (
            current.api,
            current.model,
            current.input_text,
        )
        if same and _failed(previous):
            retries += 1
    return retries


def rollup(per_test: Iterable[Sequence[Inference]]) -> UsageRollup:
    """Add up the calls of several tests (each test's calls in the order they were made)."""
    calls: list[Inference] = []
    retries = 0
    for inferences in per_test:
        calls.extend(inferences)
        retries += count_retries(inferences)
    if not calls:
        return UsageRollup()
    latencies = [i.latency_s for i in calls if i.latency_s is not None]
    ttfts = [i.ttft_s for i in calls if i.ttft_s is not None]

    def cost(role: str | None) -> float:
        return math.fsum(
            i.cost_usd for i in calls if i.cost_usd is not None and role in (None, i.role)
        )

    return UsageRollup(
        calls=len(calls),
        app_calls=sum(1 for i in calls if i.role == "app"),
        judge_calls=sum(1 for i in calls if i.role == "judge"),
        replayed=sum(1 for i in calls if i.replayed),
        errors=sum(1 for i in calls if _failed(i)),
        retries=retries,
        injected=sum(1 for i in calls if i.injected_fault is not None and _failed(i)),
        unpriced=sum(1 for i in calls if not i.priced and not _failed(i)),
        priced=sum(1 for i in calls if i.priced),
        priced_by_model_name=sum(1 for i in calls if _by_model_name(i)),
        priced_by_model_name_models=sorted({_model_name(i) for i in calls if _by_model_name(i)}),
        input_tokens=sum(i.input_tokens or 0 for i in calls),
        output_tokens=sum(i.output_tokens or 0 for i in calls),
        cache_read_tokens=sum(i.cache_read_tokens or 0 for i in calls),
        cache_write_tokens=sum(i.cache_write_tokens or 0 for i in calls),
        cost_usd=cost(None),
        app_cost_usd=cost("app"),
        judge_cost_usd=cost("judge"),
        spent_usd=math.fsum(i.spent_usd for i in calls),
        latency_p50_s=stats.percentile(latencies, 50) if latencies else None,
        latency_p95_s=stats.percentile(latencies, 95) if latencies else None,
        latency_max_s=max(latencies) if latencies else None,
        ttft_p50_s=stats.percentile(ttfts, 50) if ttfts else None,
        app_models=sorted({_model_name(i) for i in calls if i.role == "app"}),
        judge_models=sorted({_model_name(i) for i in calls if i.role == "judge"}),
        unpriced_models=sorted({_model_name(i) for i in calls if not i.priced and not _failed(i)}),
        unpriced_reasons=_unpriced_reasons(calls),
        simulator_calls=sum(1 for i in calls if i.role == "simulator"),
        simulator_cost_usd=cost("simulator"),
        simulator_models=sorted({_model_name(i) for i in calls if i.role == "simulator"}),
        evaluation_calls=sum(1 for i in calls if i.role == "evaluation"),
        evaluation_cost_usd=cost("evaluation"),
        evaluation_models=sorted({_model_name(i) for i in calls if i.role == "evaluation"}),
    )


def _by_model_name(inference: Inference) -> bool:
    """Whether the call was priced by its model's name alone, its host being unknown."""
    return (inference.price_source or "").startswith(BY_MODEL_NAME)


def unpriced_reason(inference: Inference) -> str | None:
    """Why a call is not in the cost (None when it is): records written before reasons
    were kept had only one, no known price."""
    if inference.priced or _failed(inference):
        return None
    return inference.unpriced_reason or "no known price"


def _unpriced_reasons(calls: Iterable[Inference]) -> dict[str, list[str]]:
    models: dict[str, set[str]] = {}
    for call in calls:
        reason = unpriced_reason(call)
        if reason is not None:
            models.setdefault(reason, set()).add(_model_name(call))
    return {reason: sorted(names) for reason, names in sorted(models.items())}
