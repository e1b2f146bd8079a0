"""Inference records added up into usage rollups (pure; no pytest).

Sums are `math.fsum` over calls sorted by node id, so a rollup does not depend on
the order in which xdist workers finished. Latency percentiles use `stats.percentile`
(linear interpolation between closest ranks, numpy's default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from pytest_llmeval.core.vocabulary import BY_MODEL_NAME
from pytest_llmeval.records import stats
from pytest_llmeval.records.models import Inference, UsageRollup, drop_unused_evaluation


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
    return UsageTally.of(per_test).rollup()


def usage_data(per_test: Iterable[Sequence[Inference]]) -> dict[str, Any]:
    """The fields of the calls' UsageRollup as plain values (see rollup): what a report
    writes for each result, without building the model.

    One pass over the calls: a report rolls up every test's calls, and an aggregate
    every group's and the session's, so this runs once per result and more.
    """
    return UsageTally.of(per_test).data()


class UsageTally:
    """What `usage_data` adds up, kept to add more to: counts, and every cost, spend,
    latency and model name. Two tallies merged are the tally of both their tests (sums
    are `math.fsum`, exact whatever the order; percentiles sort): a session's usage is
    its groups' tallies merged, without walking every call again."""

    def __init__(self) -> None:
        self.calls = 0
        self.retries = 0
        self.counts = dict.fromkeys(_COUNTED, 0)
        self.tokens = [0, 0, 0, 0]
        self.costs: dict[str | None, list[float]] = {
            None: [],
            "app": [],
            "judge": [],
            "simulator": [],
            "evaluation": [],
        }
        self.spent: list[float] = []
        self.latencies: list[float] = []
        self.ttfts: list[float] = []
        self.models: dict[str, set[str]] = {
            "app": set(),
            "judge": set(),
            "simulator": set(),
            "evaluation": set(),
        }
        self.by_model_name: set[str] = set()
        self.unpriced_models: set[str] = set()
        self.unpriced_reasons: dict[str, set[str]] = {}

    @classmethod
    def of(cls, per_test: Iterable[Sequence[Inference]]) -> UsageTally:
        """The tally of several tests' calls (each test's in the order they were made)."""
        tally = cls()
        for inferences in per_test:
            tally.add(inferences)
        return tally

    def add(self, inferences: Sequence[Inference]) -> None:
        """Add one test's calls, in the order they were made."""
        self.retries += count_retries(inferences)
        self.calls += len(inferences)
        counts, tokens, costs, models = self.counts, self.tokens, self.costs, self.models
        spent, latencies, ttfts = self.spent, self.latencies, self.ttfts
        for call in inferences:
            role = call.role
            failed = _failed(call)
            name = _model_name(call)
            if role in models:
                counts[role] += 1
                models[role].add(name)
            if call.replayed:
                counts["replayed"] += 1
            if failed:
                counts["errors"] += 1
                if call.injected_fault is not None:
                    counts["injected"] += 1
            if call.priced:
                counts["priced"] += 1
            elif not failed:
                counts["unpriced"] += 1
                self.unpriced_models.add(name)
                reason = call.unpriced_reason or "no known price"
                self.unpriced_reasons.setdefault(reason, set()).add(name)
            if _by_model_name(call):
                counts["priced_by_model_name"] += 1
                self.by_model_name.add(name)
            tokens[0] += call.input_tokens or 0
            tokens[1] += call.output_tokens or 0
            tokens[2] += call.cache_read_tokens or 0
            tokens[3] += call.cache_write_tokens or 0
            if call.cost_usd is not None:
                costs[None].append(call.cost_usd)
                if role in costs:
                    costs[role].append(call.cost_usd)
            spent.append(call.spent_usd)
            if call.latency_s is not None:
                latencies.append(call.latency_s)
            if call.ttft_s is not None:
                ttfts.append(call.ttft_s)

    def merge(self, other: UsageTally) -> None:
        """Add another tally's tests."""
        self.calls += other.calls
        self.retries += other.retries
        for key, count in other.counts.items():
            self.counts[key] += count
        self.tokens = [
            mine + theirs for mine, theirs in zip(self.tokens, other.tokens, strict=True)
        ]
        for role, values in other.costs.items():
            self.costs[role] += values
        self.spent += other.spent
        self.latencies += other.latencies
        self.ttfts += other.ttfts
        for role, names in other.models.items():
            self.models[role] |= names
        self.by_model_name |= other.by_model_name
        self.unpriced_models |= other.unpriced_models
        for reason, names in other.unpriced_reasons.items():
            self.unpriced_reasons.setdefault(reason, set()).update(names)

    def data(self) -> dict[str, Any]:
        """The fields of the UsageRollup of everything added (see usage_data)."""
        counts, tokens, costs, models = self.counts, self.tokens, self.costs, self.models
        latency_p50 = latency_p95 = latency_max = ttft_p50 = None
        if self.latencies:
            latency_p50, latency_p95 = stats.percentiles(self.latencies, (50, 95))
            latency_max = max(self.latencies)
        if self.ttfts:
            ttft_p50 = stats.percentile(self.ttfts, 50)
        return drop_unused_evaluation(
            dict(
                calls=self.calls,
                app_calls=counts["app"],
                judge_calls=counts["judge"],
                replayed=counts["replayed"],
                errors=counts["errors"],
                retries=self.retries,
                injected=counts["injected"],
                unpriced=counts["unpriced"],
                priced=counts["priced"],
                priced_by_model_name=counts["priced_by_model_name"],
                priced_by_model_name_models=sorted(self.by_model_name),
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                cache_read_tokens=tokens[2],
                cache_write_tokens=tokens[3],
                cost_usd=math.fsum(costs[None]),
                app_cost_usd=math.fsum(costs["app"]),
                judge_cost_usd=math.fsum(costs["judge"]),
                spent_usd=math.fsum(self.spent),
                latency_p50_s=latency_p50,
                latency_p95_s=latency_p95,
                latency_max_s=latency_max,
                ttft_p50_s=ttft_p50,
                app_models=sorted(models["app"]),
                judge_models=sorted(models["judge"]),
                unpriced_models=sorted(self.unpriced_models),
                unpriced_reasons={
                    reason: sorted(names) for reason, names in sorted(self.unpriced_reasons.items())
                },
                simulator_calls=counts["simulator"],
                simulator_cost_usd=math.fsum(costs["simulator"]),
                simulator_models=sorted(models["simulator"]),
                evaluation_calls=counts["evaluation"],
                evaluation_cost_usd=math.fsum(costs["evaluation"]),
                evaluation_models=sorted(models["evaluation"]),
            )
        )

    def rollup(self) -> UsageRollup:
        """The UsageRollup of everything added (see rollup)."""
        data = self.data()
        return UsageRollup(**data) if data["calls"] else UsageRollup()


#: The counters rollup keeps in one dict: the roles it counts, then kinds of call.
_COUNTED = (
    "app",
    "judge",
    "simulator",
    "evaluation",
    "replayed",
    "errors",
    "injected",
    "priced",
    "unpriced",
    "priced_by_model_name",
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
