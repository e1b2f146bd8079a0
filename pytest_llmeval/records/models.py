"""Pydantic models shared across the plugin: scores, inferences, verdicts, results.

Imported on first use (an eval test, an eval report), never when the plugin loads.
Every field is documented: the docs' tables and the JSON Schema come from here.
The record of one model call (`Inference`, `ToolCall`, `ToolResult`,
`TELEMETRY_FIELDS`) lives in `inference_models.py` and is re-exported here, where its
users import it.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from pytest_llmeval.core.factories import empty_list
from pytest_llmeval.core.frozen import FrozenModel
from pytest_llmeval.core.vocabulary import Aggregate

# re-exported (see the docstring); Inference must also be a global here, where pydantic
# resolves EvalResult's annotations
from pytest_llmeval.records.inference_models import TELEMETRY_FIELDS as TELEMETRY_FIELDS
from pytest_llmeval.records.inference_models import Inference as Inference
from pytest_llmeval.records.inference_models import ToolCall as ToolCall
from pytest_llmeval.records.inference_models import ToolResult as ToolResult

_M = TypeVar("_M", bound=BaseModel)

Status = Literal["passed", "below", "failed", "error", "skipped"]


def _omit_defaults(data: Any, model: BaseModel, names: tuple[str, ...]) -> Any:
    """Drop the named fields that hold their default: the repeat fields of a case that
    ran once, so reports of suites without repeats keep their size and bytes."""
    if isinstance(data, dict):
        defaults = _defaults(type(model), names)
        for name in names:
            if name in data and getattr(model, name) == defaults[name]:
                del data[name]
    return data


@functools.cache
def _defaults(model: type[BaseModel], names: tuple[str, ...]) -> dict[str, Any]:
    """The defaults of a model's named fields, read once per model: `get_default` reads
    the factory's signature each time (about 0.15 ms), and a report serialises every
    result and case. Only compared with, never handed out, so a factory's value is safe
    to share. `validated_data`: pydantic 2.10 requires it with `call_default_factory`."""
    fields = model.model_fields
    return {
        name: fields[name].get_default(call_default_factory=True, validated_data={})
        for name in names
    }


#: The fields_sets of trusted records, one per set of names: thousands of records share
#: a handful of shapes, and each set kept apart holds 0.7 to 2.2 KB and is visited by
#: every full garbage collection. Sharing is safe: the models are frozen, and pydantic
#: copies the set before changing a copy's (`model_copy(update=...)`).
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
_MAX_SHAPES = 1024


def trusted(model: type[_M], values: dict[str, Any], given: set[str]) -> _M:
    """A `model` record holding `values` as they are, not validated: for records this
    package builds on every call from values that already have the fields' types (a
    replayed call's Inference, a test's EvalResult), where validating them again costs
    more than the rest of the step. `values` holds every field, in the model's order
    (the order pydantic serialises them in); `given` becomes the record's fields_set (the
    names given, as a validated record keeps them). `model_construct` does the same but
    fills and orders the fields in Python, slower than validating (7 against 5 us for an
    Inference; this takes 1). tests/test_trusted_records.py holds such records equal, in
    every dump, to validated ones. Records with the same names given share one set."""
    shared = _FIELDS_SETS.get(shape := frozenset(given))
    if shared is None:
        shared = given
        if len(_FIELDS_SETS) < _MAX_SHAPES:
            _FIELDS_SETS[shape] = given
    record = model.__new__(model)
    object.__setattr__(record, "__dict__", values)
    object.__setattr__(record, "__pydantic_fields_set__", shared)
    object.__setattr__(record, "__pydantic_extra__", None)
    object.__setattr__(record, "__pydantic_private__", None)
    return record


#: UsageRollup's fields of the evaluation role (omitted when no call had it).
_USAGE_EVALUATION_FIELDS = ("evaluation_calls", "evaluation_cost_usd", "evaluation_models")

#: EvalResult's fields for the per-case rules across runs and for variants (omitted when
#: unset).
_RESULT_REPEAT_FIELDS = ("case_rule", "pass_k", "min_case_pass_rate", "adaptive", "variant")

#: CaseAggregate's fields about a case's runs (a case that ran once omits those unset).
_CASE_REPEAT_FIELDS = (
    "nodeids",
    "run_scores",
    "passed_runs",
    "run_pass_rate",
    "run_pass_rate_low",
    "run_pass_rate_high",
    "pass_k",
    "pass_hat_k",
    "pass_at_k",
    "unstable",
    "adaptive_runs",
    "case_rule",
    "min_case_pass_rate",
    "failed_case_rule",
)


class Score(FrozenModel):
    """One named score a test recorded, in [0, 1]."""

    name: str = Field(description="Name of the metric, unique within the test.")
    value: float = Field(description="The score, from 0 (worst) to 1 (best).")
    weight: float = Field(default=1.0, description="Weight in the test's weighted mean.")
    threshold: float | None = Field(
        default=None, description="This metric's own pass mark, if any."
    )
    reason: str | None = Field(default=None, description="Why (a judge's reasoning), if known.")
    check: bool = Field(
        default=False,
        description=(
            "A requirement (llm_eval.check): value 1 or 0, threshold 1, weight 0; "
            "failing it fails the test whatever the mean."
        ),
    )

    @model_serializer(mode="wrap")
    def _omit_false_check(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # a plain score serialises as it did before checks existed: one report format
        data: dict[str, Any] = handler(self)
        if not self.check:
            data.pop("check", None)
        return data

    @property
    def passed(self) -> bool:
        """Whether the score meets its own threshold (always true without one)."""
        return self.threshold is None or self.value >= self.threshold


class UsageRollup(FrozenModel):
    """Model calls added up: counts, tokens, cost and latency percentiles.

    Percentiles are linear interpolation between closest ranks (numpy's default,
    "type 7"); `None` when there were no calls with a latency.
    """

    calls: int = Field(default=0, description="Model calls (HTTP exchanges).")
    app_calls: int = Field(default=0, description="Calls made by the code under test.")
    judge_calls: int = Field(default=0, description="Calls made by judges.")
    replayed: int = Field(default=0, description="Calls served from cassettes or the cache.")
    errors: int = Field(default=0, description="Calls that failed (HTTP >= 400 or transport).")
    retries: int = Field(default=0, description="Calls repeating a failed identical call.")
    injected: int = Field(
        default=0, description="Failed calls whose failure the test injected (`faults=`)."
    )
    unpriced: int = Field(default=0, description="Calls of models with no known price.")
    priced: int = Field(
        default=0,
        description="Calls whose cost is known (a failed call that reports no usage costs 0).",
    )
    priced_by_model_name: int = Field(
        default=0,
        description="Priced calls to hosts genai-prices does not know (gateways, proxies), "
        "priced by their model's name alone.",
    )
    priced_by_model_name_models: list[str] = Field(
        default_factory=empty_list, description="provider:model of the calls priced by model name."
    )
    input_tokens: int = Field(default=0, description="Uncached input tokens.")
    output_tokens: int = Field(default=0, description="Output tokens.")
    cache_read_tokens: int = Field(default=0, description="Input tokens read from cache.")
    cache_write_tokens: int = Field(default=0, description="Input tokens written to cache.")
    cost_usd: float = Field(default=0.0, description="Recorded cost of priced calls, USD.")
    app_cost_usd: float = Field(default=0.0, description="Recorded cost of app calls, USD.")
    judge_cost_usd: float = Field(default=0.0, description="Recorded cost of judge calls, USD.")
    spent_usd: float = Field(default=0.0, description="Money actually spent this run, USD.")
    latency_p50_s: float | None = Field(default=None, description="Median latency, seconds.")
    latency_p95_s: float | None = Field(default=None, description="95th percentile latency.")
    latency_max_s: float | None = Field(default=None, description="Slowest call, seconds.")
    ttft_p50_s: float | None = Field(default=None, description="Median time to first token.")
    app_models: list[str] = Field(
        default_factory=empty_list, description="provider:model of app calls."
    )
    judge_models: list[str] = Field(
        default_factory=empty_list, description="provider:model of judge calls."
    )
    unpriced_models: list[str] = Field(
        default_factory=empty_list, description="provider:model of calls with no known price."
    )
    unpriced_reasons: dict[str, list[str]] = Field(
        default_factory=dict,
        description="For each reason calls are unpriced, the provider:model of those calls.",
    )
    simulator_calls: int = Field(default=0, description="Calls made by simulated users.")
    simulator_cost_usd: float = Field(
        default=0.0, description="Recorded cost of simulated users' calls, USD."
    )
    simulator_models: list[str] = Field(
        default_factory=empty_list, description="provider:model of simulated users' calls."
    )
    evaluation_calls: int = Field(
        default=0,
        description="Calls made by evaluation helpers (embedding scorers, code under "
        "llm_eval.evaluating()); this and the two fields below are omitted when 0.",
    )
    evaluation_cost_usd: float = Field(
        default=0.0, description="Recorded cost of evaluation helpers' calls, USD."
    )
    evaluation_models: list[str] = Field(
        default_factory=empty_list, description="provider:model of evaluation helpers' calls."
    )

    @model_serializer(mode="wrap")
    def _omit_unused_roles(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        return drop_unused_evaluation(data) if isinstance(data, dict) else data


def drop_unused_evaluation(data: dict[str, Any]) -> dict[str, Any]:
    """A usage rollup's data without the evaluation fields that hold their default (no
    evaluation helper called a model: reports keep their bytes). UsageRollup serialises
    through it, and the reports that write `accounting.usage_data` directly too."""
    defaults = _defaults(UsageRollup, _USAGE_EVALUATION_FIELDS)
    for name in _USAGE_EVALUATION_FIELDS:
        if name in data and data[name] == defaults[name]:
            del data[name]
    return data


class VariantTag(FrozenModel):
    """Which variant of a variants eval (`variants=` on the marker) an item ran, and the
    case it pairs on across the variants."""

    axis: str = Field(description="The parametrize argument whose values are the variants.")
    label: str = Field(description="This item's variant: its parametrize id.")
    index: int = Field(
        description="The variant's position among the argument's values (as collected)."
    )
    case: str = Field(
        description="The pairing key: the test's node id without the variant (and repeat) "
        "parameters, the same for every variant of one case."
    )
    reference: str = Field(
        description="The variant the others are compared with: the marker's reference=, "
        "else the first variant."
    )


class EvalResult(FrozenModel):
    """The outcome of one llm_eval test item: what travels from a worker to the controller."""

    nodeid: str = Field(description="pytest node id of the item.")
    case_id: str = Field(description="The case: the node id without the repeat suffix.")
    group: str = Field(description="Group key: group= of the marker, or the test function.")
    repeat_index: int | None = Field(default=None, description="1..N under repeat, else None.")
    threshold: float = Field(description="The marker's threshold.")
    aggregate: Aggregate = Field(description="How scores combine.")
    min_pass_rate: float | None = Field(default=None, description="The group's pass-rate floor.")
    case_rule: str | None = Field(
        default=None, description="The marker's per-case rule across runs: pass^k or pass@k."
    )
    pass_k: int | None = Field(
        default=None, description="The marker's k for pass^k and pass@k (None: all runs)."
    )
    min_case_pass_rate: float | None = Field(
        default=None, description="The marker's floor on the share of a case's runs passing."
    )
    adaptive: bool = Field(
        default=False, description="An extra run adaptive repeats added to a straddling case."
    )
    variant: VariantTag | None = Field(
        default=None, description="The item's variant in a variants eval; None otherwise."
    )

    @model_serializer(mode="wrap")
    def _omit_unset_rules(self, handler: SerializerFunctionWrapHandler) -> Any:
        # the fields above, unset, are left out: files without repeats keep their bytes
        return _omit_defaults(handler(self), self, _RESULT_REPEAT_FIELDS)

    scores: list[Score] = Field(default_factory=empty_list, description="Scores in recorded order.")
    score: float | None = Field(description="The test score; None when skipped.")
    status: Status = Field(description="passed, below (threshold), failed, error or skipped.")
    message: str | None = Field(default=None, description="Why it did not pass.")
    duration_s: float = Field(default=0.0, description="Duration of the call phase.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="What llm_eval.log() got.")
    inferences: list[Inference] = Field(default_factory=empty_list, description="Calls it made.")
    started_at: float | None = Field(
        default=None,
        exclude=True,
        description="Wall-clock time the call phase began, Unix seconds (telemetry, on the "
        "wire only: the test span's start).",
    )


def result_fields(result: EvalResult) -> dict[str, Any]:
    """The fields an EvalResult serialises, their values as they are: its serialiser's
    output is these, each serialised by its type. A report serialises them directly
    (`to_jsonable_python`): the wrap serialiser's second pass over its own output cost
    as much as the rest, about 5 us a result."""
    excluded = _excluded(EvalResult)
    fields = {name: value for name, value in result.__dict__.items() if name not in excluded}
    _omit_defaults(fields, result, _RESULT_REPEAT_FIELDS)
    return fields


@functools.cache
def _excluded(model: type[BaseModel]) -> frozenset[str]:
    """A model's fields that are never serialised (`exclude=True`)."""
    return frozenset(name for name, field in model.model_fields.items() if field.exclude)


class CaseAggregate(FrozenModel):
    """One case: the mean over its repeats."""

    case_id: str
    group: str
    threshold: float
    runs: int = Field(description="Items that ran (repeats not skipped).")
    score: float = Field(description="Mean test score over the runs.")
    stdev: float | None = Field(default=None, description="Spread over runs (None for 1 run).")
    status: Status = Field(description="passed, below, failed or error, over all runs.")
    scores: dict[str, float] = Field(
        default_factory=dict, description="Mean of each named score over the runs."
    )
    nodeids: list[str] = Field(
        default_factory=empty_list, description="The test ids of the runs (repeated cases only)."
    )
    run_scores: list[float] = Field(
        default_factory=empty_list,
        description="Each run's test score, in run order (repeated cases).",
    )
    passed_runs: int | None = Field(
        default=None, description="Runs that passed (repeated cases only)."
    )
    run_pass_rate: float | None = Field(
        default=None, description="passed_runs / runs (repeated cases only)."
    )
    run_pass_rate_low: float | None = Field(
        default=None, description="95% Wilson interval of run_pass_rate, low end."
    )
    run_pass_rate_high: float | None = Field(
        default=None, description="95% Wilson interval of run_pass_rate, high end."
    )
    pass_k: int | None = Field(
        default=None, description="The k of pass_hat_k and pass_at_k (repeated cases only)."
    )
    pass_hat_k: float | None = Field(
        default=None, description="Unbiased estimate of P(all k runs pass): C(c,k)/C(n,k)."
    )
    pass_at_k: float | None = Field(
        default=None, description="Unbiased estimate of P(at least one of k runs passes)."
    )
    unstable: bool = Field(
        default=False,
        description="Its runs straddle the threshold: some passed, some fell below.",
    )
    adaptive_runs: int = Field(
        default=0, description="Runs adaptive repeats added because the case straddled."
    )
    case_rule: str | None = Field(default=None, description="Per-case rule: pass^k or pass@k.")
    min_case_pass_rate: float | None = Field(
        default=None, description="Floor on the share of the case's runs that pass."
    )
    failed_case_rule: bool = Field(
        default=False,
        description="The case misses its case_rule or min_case_pass_rate; it fails the "
        "session unless the group has a min_pass_rate.",
    )

    @model_serializer(mode="wrap")
    def _omit_single_run_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        # a repeated case writes all of them; a case that ran once only those it uses
        data = handler(self)
        return (
            data
            if self.passed_runs is not None
            else _omit_defaults(data, self, _CASE_REPEAT_FIELDS)
        )


class GroupAggregate(FrozenModel):
    """All cases of one test function (or one group=)."""

    group: str = Field(description="Group key.")
    label: str = Field(description="Short display name.")
    n: int = Field(description="Cases that ran.")
    passed: int
    below: int
    failed: int = Field(description="Failed or errored cases.")
    skipped: int = Field(default=0, description="Cases whose every run was skipped.")
    runs_per_case: int = Field(default=1, description="Largest number of runs of a case.")
    mean: float | None = Field(description="Mean case score; None when no case ran.")
    ci_low: float | None = Field(default=None, description="95% CI of the mean (see ci_kind).")
    ci_high: float | None = Field(default=None, description="95% CI of the mean (see ci_kind).")
    ci_kind: str | None = Field(
        default=None,
        description="Which interval ci_low/ci_high are: wilson (every case score 0 or 1, so "
        "the mean is a proportion) or t (the mean's Student t interval, graded scores).",
    )
    pass_rate: float | None = Field(description="passed / n.")
    pass_rate_low: float | None = Field(
        default=None, description="95% Wilson interval of the pass rate, lower bound."
    )
    pass_rate_high: float | None = Field(
        default=None, description="95% Wilson interval of the pass rate, upper bound."
    )
    min_pass_rate: float | None = None
    failed_min_pass_rate: bool = Field(
        default=False, description="True when pass_rate < min_pass_rate: the session fails."
    )
    usage: UsageRollup = Field(default_factory=UsageRollup, description="Calls of the group.")
    cases: list[CaseAggregate] = Field(default_factory=empty_list)
    unstable: int = Field(
        default=0, description="Cases whose runs straddle their threshold (see CaseAggregate)."
    )


class SessionAggregate(FrozenModel):
    """Everything the session's eval results add up to."""

    groups: list[GroupAggregate]
    cases: int
    passed: int
    below: int
    failed: int
    skipped: int
    items: int = Field(
        description="Test items (cases x repeats); adaptive runs, made inside items, not counted."
    )
    mean: float | None = Field(description="Mean over all case scores.")
    usage: UsageRollup = Field(default_factory=UsageRollup, description="Calls of the session.")
