"""Pydantic models shared across the plugin: scores, inferences, verdicts, results.

Imported on first use (an eval test, an eval report), never when the plugin loads.
Every field is documented: the docs' tables and the JSON Schema come from here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from pytest_llmeval.vocabulary import Aggregate, Role

Status = Literal["passed", "below", "failed", "error", "skipped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Score(_Model):
    """One named score a test recorded, in [0, 1]."""

    name: str = Field(description="Name of the metric, unique within the test.")
    value: float = Field(description="The score, from 0 (worst) to 1 (best).")
    weight: float = Field(default=1.0, description="Weight in the test's weighted mean.")
    threshold: float | None = Field(
        default=None, description="This metric's own pass mark, if any."
    )
    reason: str | None = Field(default=None, description="Why (a judge's reasoning), if known.")

    @property
    def passed(self) -> bool:
        """Whether the score meets its own threshold (always true without one)."""
        return self.threshold is None or self.value >= self.threshold


class ToolCall(_Model):
    """A tool call the model requested in its answer."""

    id: str | None = Field(default=None, description="The call id the API gave, if any.")
    name: str = Field(description="The tool's name.")
    arguments: Any = Field(
        default=None, description="The arguments parsed as JSON; None when they do not parse."
    )
    arguments_raw: str = Field(
        default="", description="The arguments exactly as the model sent them."
    )
    arguments_valid: bool = Field(
        default=True, description="Whether the raw arguments parsed as JSON."
    )


class ToolResult(_Model):
    """A tool's result that the request carried back to the model (matched by call id)."""

    call_id: str | None = Field(default=None, description="The id of the call it answers.")
    name: str | None = Field(
        default=None, description="The tool's name, from the matching call where known."
    )
    content: str = Field(default="", description="The result as text, redacted.")
    is_error: bool = Field(
        default=False, description="Whether the API marks the result as an error."
    )


class Inference(_Model):
    """One model call (live or replayed) made during a test."""

    nodeid: str = Field(description="The test that made the call.")
    role: Role = Field(
        description="The code under test (app), a judge, or a simulated user (simulator)."
    )
    provider: str = Field(description="openai, anthropic, openai-compatible, ... or unknown.")
    api: str = Field(default="unknown", description="chat, responses, embeddings, messages.")
    model: str | None = Field(default=None, description="Model name as the API reported it.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Sampling parameters: temperature, max tokens, tools."
    )
    input_text: str | None = Field(default=None, description="The prompt, rendered, redacted.")
    output_text: str | None = Field(default=None, description="The response, rendered, redacted.")
    input_tokens: int | None = Field(default=None, description="Uncached input tokens.")
    output_tokens: int | None = Field(default=None, description="Output tokens.")
    cache_read_tokens: int | None = Field(default=None, description="Input tokens read from cache.")
    cache_write_tokens: int | None = Field(
        default=None, description="Input tokens written to the cache."
    )
    cost_usd: float | None = Field(
        default=None, description="Price of the call in USD (the recorded price on replay)."
    )
    priced: bool = Field(default=False, description="False when no price is known for the model.")
    unpriced_reason: str | None = Field(
        default=None,
        description="Why an unpriced call is not in the cost: no known price, usage not "
        "reported (stream without include_usage), usage not reported, or no model named.",
    )
    spent_usd: float = Field(default=0.0, description="Money actually spent now: 0 on replay.")
    latency_s: float | None = Field(default=None, description="Request to last byte, seconds.")
    ttft_s: float | None = Field(default=None, description="Time to first streamed event.")
    status: int | None = Field(default=None, description="HTTP status; None on transport error.")
    error: str | None = Field(default=None, description="Error text, if the call failed.")
    replayed: bool = Field(default=False, description="Served from a cassette or the cache.")
    stream: bool = Field(default=False, description="Whether the response was streamed.")
    tool_calls: list[ToolCall] = Field(
        default_factory=list, description="Tool calls the model requested, in order."
    )
    tool_results: list[ToolResult] = Field(
        default_factory=list, description="Tool results the request carried back, in order."
    )
    tool_schemas: dict[str, Any] = Field(
        default_factory=dict,
        description="The tools the request declared: name -> JSON Schema of its arguments.",
    )


class UsageRollup(_Model):
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
    unpriced: int = Field(default=0, description="Calls of models with no known price.")
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
    app_models: list[str] = Field(default_factory=list, description="provider:model of app calls.")
    judge_models: list[str] = Field(
        default_factory=list, description="provider:model of judge calls."
    )
    unpriced_models: list[str] = Field(
        default_factory=list, description="provider:model of calls with no known price."
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
        default_factory=list, description="provider:model of simulated users' calls."
    )


class EvalResult(_Model):
    """The outcome of one llm_eval test item: what travels from a worker to the controller."""

    nodeid: str = Field(description="pytest node id of the item.")
    case_id: str = Field(description="The case: the node id without the repeat suffix.")
    group: str = Field(description="Group key: group= of the marker, or the test function.")
    repeat_index: int | None = Field(default=None, description="1..N under repeat, else None.")
    threshold: float = Field(description="The marker's threshold.")
    aggregate: Aggregate = Field(description="How scores combine.")
    min_pass_rate: float | None = Field(default=None, description="The group's pass-rate floor.")
    scores: list[Score] = Field(default_factory=list, description="Scores in recorded order.")
    score: float | None = Field(description="The test score; None when skipped.")
    status: Status = Field(description="passed, below (threshold), failed, error or skipped.")
    message: str | None = Field(default=None, description="Why it did not pass.")
    duration_s: float = Field(default=0.0, description="Duration of the call phase.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="What llm_eval.log() got.")
    inferences: list[Inference] = Field(default_factory=list, description="Calls it made.")


class CaseAggregate(_Model):
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


class GroupAggregate(_Model):
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
    ci_low: float | None = Field(default=None, description="95% CI of the mean (Student t).")
    ci_high: float | None = Field(default=None, description="95% CI of the mean (Student t).")
    pass_rate: float | None = Field(description="passed / n.")
    min_pass_rate: float | None = None
    failed_min_pass_rate: bool = Field(
        default=False, description="True when pass_rate < min_pass_rate: the session fails."
    )
    usage: UsageRollup = Field(default_factory=UsageRollup, description="Calls of the group.")
    cases: list[CaseAggregate] = Field(default_factory=list)


class SessionAggregate(_Model):
    """Everything the session's eval results add up to."""

    groups: list[GroupAggregate]
    cases: int
    passed: int
    below: int
    failed: int
    skipped: int
    items: int = Field(description="Test items (cases x repeats).")
    mean: float | None = Field(description="Mean over all case scores.")
    usage: UsageRollup = Field(default_factory=UsageRollup, description="Calls of the session.")


class Verdict(_Model):
    """A judge's decision on one output."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    score: float = Field(ge=0.0, le=1.0, description="0 (fails the criteria) to 1 (meets them).")
    passed: bool = Field(
        validation_alias=AliasChoices("pass", "passed"),
        serialization_alias="pass",
        description="Whether the output passes (JSON key `pass`).",
    )
    reason: str = Field(description="The judge's reasoning.")
    model: str | None = Field(default=None, description="provider:model of the judge.")
    cost_usd: float | None = Field(default=None, description="Cost of the judge calls.")
    name: str | None = Field(default=None, description="Score name the verdict was recorded as.")
    kind: str | None = Field(
        default=None, description="Judge kind: rubric, correctness, faithfulness, relevance."
    )
    raw_score: float | None = Field(
        default=None, description="The judge's score on its own scale (mean over samples)."
    )
    samples: int = Field(default=1, description="How many times the judge was asked.")
    agreement: float | None = Field(
        default=None, description="Share of samples whose pass/fail vote matches the verdict."
    )
    evidence: list[str] | None = Field(
        default=None,
        description="The passages the judge quoted as its evidence (judges that quote it).",
    )
    evidence_missing: list[str] = Field(
        default_factory=list,
        description="Quotes of the evidence that occur nowhere in the material.",
    )


class PairwiseVerdict(_Model):
    """A judge's preference between two outputs, after running both orders."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    winner: Literal["a", "b", "tie"] = Field(description="The better output, or a tie.")
    score: float = Field(ge=0.0, le=1.0, description="1 = a better, 0 = b better, 0.5 tie.")
    passed: bool = Field(
        validation_alias=AliasChoices("pass", "passed"),
        serialization_alias="pass",
        description="True when a wins or ties (JSON key `pass`).",
    )
    reason: str = Field(description="The judge's reasoning in both orders.")
    model: str | None = Field(default=None, description="provider:model of the judge.")
    cost_usd: float | None = Field(default=None, description="Cost of the judge calls.")
    name: str | None = Field(default=None, description="Score name the verdict was recorded as.")
    consistent: bool | None = Field(
        default=None, description="Whether both orders picked the same winner (else a tie)."
    )
