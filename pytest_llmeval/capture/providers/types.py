"""The provider-neutral types the adapters return and read: CallSummary, SSEEvent, Api.

Token counts mean the same thing for every provider (the convention of
`pytest_llmeval.records.models.Inference`): `input_tokens` are the *uncached* input tokens, so
`input_tokens + cache_read_tokens + cache_write_tokens` is the whole prompt. OpenAI reports
`prompt_tokens` including cached tokens; its adapter subtracts them. Anthropic already
reports them apart. `output_tokens` include reasoning tokens, which are also given on their
own in `reasoning_tokens` when the API reports them.

They live here, not in the package's `__init__`, so that the adapters (`openai`,
`anthropic`, `generic`) import them without importing the package that dispatches to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Api", "CallSummary", "SSEEvent", "ToolCallSummary", "ToolResultSummary"]

#: The model APIs the adapters understand.
Api = Literal["chat", "responses", "embeddings", "messages", "generate_content", "unknown"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One server-sent event: its `event:` name (if any) and its raw `data:` payload."""

    event: str | None
    data: str


@dataclass(frozen=True, kw_only=True)
class ToolCallSummary:
    """A tool call the model requested: its id, the tool's name and the arguments.

    `arguments` is the parsed JSON (None when `arguments_raw` is not JSON, and then
    `arguments_valid` is False); a custom (free-text) tool's input is its text, as is.
    """

    id: str | None
    name: str
    arguments: Any
    arguments_raw: str
    arguments_valid: bool


@dataclass(frozen=True, kw_only=True)
class ToolResultSummary:
    """A tool's result that the request carried back, matched to its call by id."""

    call_id: str | None
    name: str | None
    """The tool's name, from the call with the same id earlier in the request, if any."""
    content: str
    is_error: bool = False


@dataclass(frozen=True, kw_only=True)
class CallSummary:
    """What one model API call was: who, which model, tokens, prompt, answer, error, and
    the tool calls it asked for, the tool results it carried and the tools it declared."""

    provider: str
    """openai, anthropic, openai-compatible, anthropic-compatible or unknown (the table in
    `pytest_llmeval.capture.providers`)."""
    api: Api
    """Which API shape the call used."""
    api_url: str | None = None
    """The endpoint as scheme://host[:port]/path; no query string and no credentials."""
    model: str | None = None
    """The model as the response names it (often a dated snapshot), else as requested."""
    requested_model: str | None = None
    """The model as the request named it."""
    input_tokens: int | None = None
    """Uncached input tokens; None when the response reported no usage."""
    output_tokens: int | None = None
    """Output tokens, reasoning included."""
    cache_read_tokens: int | None = None
    """Input tokens served from the provider's prompt cache."""
    cache_write_tokens: int | None = None
    """Input tokens written to the prompt cache (Anthropic's cache_creation_input_tokens)."""
    reasoning_tokens: int | None = None
    """The part of output_tokens spent on reasoning, when the API reports it."""
    params: dict[str, Any] = field(default_factory=dict)
    """Request settings present in the request: temperature, top_p, max_tokens,
    max_completion_tokens, max_output_tokens, seed, stream, tools (names), response_format."""
    input_text: str | None = None
    """The prompt as `role: text` lines (system first, tool results as `tool:` lines)."""
    output_text: str | None = None
    """The answer's text, and tool calls as `name(arguments)` lines."""
    stop_reason: str | None = None
    """finish_reason (chat), stop_reason (messages) or the response status (responses)."""
    error: str | None = None
    """The error message of an error body, or `HTTP <status>` for an error without one."""
    request_id: str | None = None
    """The provider's request id when the body carries one (Anthropic errors do)."""
    response_id: str | None = None
    """The id of the completion, response or message."""
    tool_calls: tuple[ToolCallSummary, ...] = ()
    """The client-side tool calls the answer requested, in order (server-side tools such as
    web search are run by the provider and are not here)."""
    tool_results: tuple[ToolResultSummary, ...] = ()
    """The tool results the request carried back, in the order the request has them."""
    tool_schemas: dict[str, Any] = field(default_factory=dict)
    """The function tools the request declared: name -> JSON Schema of the arguments."""
