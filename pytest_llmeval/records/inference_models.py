"""The record of one model call: `Inference`, with the tool calls the model asked for
(`ToolCall`), the tool results the request carried back (`ToolResult`) and the fields
only telemetry reads, which no file holds (`TELEMETRY_FIELDS`).

Pydantic models like the rest of `models.py`, which re-exports every name here and
builds the test's record (`EvalResult`) over these. Imported on first use (an eval
test, an eval report), never when the plugin loads. Every field is documented: the
docs' tables and the JSON Schema come from here.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pytest_llmeval.core.factories import empty_list
from pytest_llmeval.core.frozen import FrozenModel
from pytest_llmeval.core.vocabulary import Role


class ToolCall(FrozenModel):
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


class ToolResult(FrozenModel):
    """A tool's result that the request carried back to the model (matched by call id)."""

    call_id: str | None = Field(default=None, description="The id of the call it answers.")
    name: str | None = Field(
        default=None, description="The tool's name, from the matching call where known."
    )
    content: str = Field(default="", description="The result as text, redacted.")
    is_error: bool = Field(
        default=False, description="Whether the API marks the result as an error."
    )


#: Inference fields only telemetry reads: they travel to the controller with the result
#: (`runner.ItemRun.wire`) but are excluded from every file written, being volatile
#: (`started_at`) or of use to the exporter alone.
TELEMETRY_FIELDS = ("request_model", "response_id", "finish_reason", "started_at")


class Inference(FrozenModel):
    """One model call (live or replayed) made during a test."""

    nodeid: str = Field(description="The test that made the call.")
    role: Role = Field(
        description="The code under test (app), a judge, a simulated user (simulator), or "
        "an evaluation helper (evaluation: an embedding scorer, llm_eval.evaluating())."
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
    price_source: str | None = Field(
        default=None,
        description="Where the price came from: genai-prices, 'by model name; host <host> "
        "unknown' (a gateway or proxy genai-prices does not know, priced by the model's "
        "name), 'override <key>', 'free host <host>', or 'recorded' (a cassette written "
        "before sources were kept); None for unpriced and unbilled calls.",
    )
    spent_usd: float = Field(default=0.0, description="Money actually spent now: 0 on replay.")
    latency_s: float | None = Field(default=None, description="Request to last byte, seconds.")
    ttft_s: float | None = Field(default=None, description="Time to first streamed event.")
    status: int | None = Field(default=None, description="HTTP status; None on transport error.")
    error: str | None = Field(default=None, description="Error text, if the call failed.")
    replayed: bool = Field(default=False, description="Served from a cassette or the cache.")
    stream: bool = Field(default=False, description="Whether the response was streamed.")
    tool_calls: list[ToolCall] = Field(
        default_factory=empty_list, description="Tool calls the model requested, in order."
    )
    tool_results: list[ToolResult] = Field(
        default_factory=empty_list, description="Tool results the request carried back, in order."
    )
    tool_schemas: dict[str, Any] = Field(
        default_factory=dict,
        description="The tools the request declared: name -> JSON Schema of its arguments.",
    )
    injected_fault: str | None = Field(
        default=None,
        description="The fault the plugin injected into this call on the test's request "
        "(e.g. `429 (retry-after 1s)`); None for a call the provider answered.",
    )
    # Telemetry (--llmeval-otel): on the wire to the controller only, never in a file
    # (`exclude`; see TELEMETRY_FIELDS), so files stay as they were and stay comparable.
    request_model: str | None = Field(
        default=None, exclude=True, description="The model as the request named it."
    )
    response_id: str | None = Field(
        default=None, exclude=True, description="The id the API gave the completion, if any."
    )
    finish_reason: str | None = Field(
        default=None, exclude=True, description="Why the model stopped, as the API said it."
    )
    started_at: float | None = Field(
        default=None,
        exclude=True,
        description="Wall-clock time the request was sent, Unix seconds (a span's start).",
    )

    def telemetry(self) -> dict[str, Any]:
        """The telemetry fields, which the files leave out, for the wire."""
        return {name: getattr(self, name) for name in TELEMETRY_FIELDS}
