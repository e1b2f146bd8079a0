"""Backends: send a judge prompt through a real SDK with structured output, get the reply.

* OpenAI (and any OpenAI-compatible server, via `base_url`): Chat Completions with a
  strict JSON-schema `response_format`, `temperature=0` and a fixed `seed` (reasoning
  models, which refuse a temperature, get the seed only; self-consistency samples get
  the default temperature and one seed per sample).
* Anthropic: Messages with a JSON-schema `output_config` format, or a forced tool call
  for models without structured output (`claude-3*`). The Messages API takes no
  sampling parameters in the current SDK, so none are sent.
* Google (`google:<model>`, the [gemini] extra): Gemini's generateContent through
  google-genai with a JSON-schema response, `temperature=0` and a fixed seed.

Every SDK call runs with the `judge` role (`context.current_role`), so interception and
accounting mark it as a judge call. A backend raises `ModelCallFailed` on an API or
connection error (the judge then tries its fallback models), `JudgeError` when no API
key is set and the call was not replayed, and lets cassette errors through unchanged.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pytest_llmeval.core import context
from pytest_llmeval.core.errors import JudgeError, LLMEvalError
from pytest_llmeval.core.vocabulary import Role
from pytest_llmeval.judges.clients import CLIENTS, ClientCache, ClientSpec, ModelRef
from pytest_llmeval.judges.prompts import Prompt, reask_message

#: The seed of OpenAI judge requests (sample i of a self-consistency judge uses SEED + i).
SEED = 20240601

#: Output token limit of Anthropic judge requests (the API requires one).
ANTHROPIC_MAX_TOKENS = 2048

# OpenAI model families that reject a temperature other than the default.
_NO_TEMPERATURE = ("o1", "o3", "o4", "gpt-5")


@dataclass(frozen=True)
class Reply:
    """What a judge model answered: its raw text, which model, and the turn to echo back."""

    text: str
    model: str
    turn: Any = None  # provider-specific: the assistant turn to send back on a re-ask


@dataclass(frozen=True)
class Retry:
    """An unusable reply and the validation error the re-ask quotes."""

    reply: Reply
    error: str


class ModelCallFailed(JudgeError):
    """A judge model failed with an API or connection error (after the SDK's retries)."""


class Backend(Protocol):
    """Sends judge prompts to one model; implemented over the SDKs, or by a test double."""

    @property
    def model(self) -> str:
        """The model as `provider:model`."""
        ...

    def complete(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> Reply:
        """Ask the model (after `retries`, the unusable replies so far) and return its reply."""
        ...

    async def acomplete(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> Reply:
        """The asynchronous `complete`."""
        ...


@contextmanager
def judge_role() -> Iterator[None]:
    """Mark the HTTP calls made inside as judge calls."""
    with acting_as("judge"):
        yield


@contextmanager
def acting_as(role: Role) -> Iterator[None]:
    """Mark the HTTP calls made inside as calls of `role` (app, judge or simulator)."""
    token = context.current_role.set(role)
    try:
        yield
    finally:
        context.current_role.reset(token)


class _SDKBackend:
    """What the OpenAI and Anthropic backends share: clients, the role, error mapping.

    `role` is who the calls are accounted to: `judge`, or `simulator` for a simulated
    user's backend.
    """

    role: Role = "judge"

    def __init__(
        self,
        ref: ModelRef,
        *,
        base_url: str | None = None,
        retries: int = 2,
        api_key: str | None = None,
        clients: ClientCache = CLIENTS,
    ) -> None:
        self.ref = ref
        self.spec = ClientSpec(ref.sdk, base_url, retries, api_key)
        self._clients = clients

    @property
    def model(self) -> str:
        """The model as `provider:model`."""
        return str(self.ref)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r})"

    def complete(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> Reply:
        """Ask the model through the synchronous SDK client."""
        client = self._clients.client(self.spec)
        with self._judge_request():
            response = self._send(client, prompt, retries)
        return self._reply(response)

    async def acomplete(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> Reply:
        """Ask the model through the asynchronous SDK client."""
        client = self._clients.async_client(self.spec)
        with self._judge_request():
            response = await self._send(client, prompt, retries)
        return self._reply(response)

    @contextmanager
    def _judge_request(self) -> Iterator[None]:
        """A request in the judge role; an SDK error raised as the judge failure it means."""
        with acting_as(self.role):
            try:
                yield
            except Exception as error:
                failure = self._failure(error)
                if failure is error:
                    raise
                raise failure from None  # its message says what the SDK error said

    def _send(self, client: Any, prompt: Prompt, retries: Sequence[Retry]) -> Any:
        raise NotImplementedError

    def _reply(self, response: Any) -> Reply:
        raise NotImplementedError

    def _failure(self, error: Exception) -> Exception:
        """The exception to raise for an SDK error (see the module docstring)."""
        if isinstance(error, LLMEvalError):
            return error  # a cassette miss or a refused live call, as the cassette layer said
        sdk = importlib.import_module(self.ref.sdk)
        if not isinstance(error, sdk.APIError):
            return error
        if self.spec.blocked() and isinstance(error, sdk.APIConnectionError):
            return JudgeError(self._missing_key_message("so it was not sent", "new"))
        if self.spec.uses_placeholder() and getattr(error, "status_code", None) == 401:
            server = self.spec.effective_base_url()
            # the refusal itself was recorded: only a re-recording replaces it
            refused = f"and the server at {server} refused it without one"
            return JudgeError(self._missing_key_message(refused, "all"))
        return ModelCallFailed(f"{self.model}: {_describe(error)}")

    def _who(self) -> str:
        return "simulated user" if self.role == "simulator" else "judge"

    def _missing_key_message(self, what_happened: str, mode: str) -> str:
        variable = self.spec.key_variable()
        from pytest_llmeval.capture.cassettes.intercept import current_cassette

        cassette = current_cassette.get()
        where = f" in {cassette.path}" if cassette is not None else ""
        how = (
            "--llmeval-record=new (or --llmeval-record=once if this test has no cassette yet)"
            if mode == "new"
            else f"--llmeval-record={mode}"
        )
        return (
            f"{self._who()} {self.model}: {variable} is not set, and this {self._who()} call "
            "has no recording "
            f"to replay{where}, {what_happened}.\n"
            f"To record it, set {variable} and run with {how}; later runs replay the "
            "recording offline, without a key."
        )


def _describe(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    if status is not None:
        return f"HTTP {status} {type(error).__name__}: {message}"
    cause = error.__cause__
    detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return f"{type(error).__name__}: {message}{detail}"


class OpenAIBackend(_SDKBackend):
    """Chat Completions with a strict JSON-schema response format (OpenAI or compatible)."""

    def request(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> dict[str, Any]:
        """The keyword arguments of `chat.completions.create` for a prompt."""
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]
        for retry in retries:
            messages.append({"role": "assistant", "content": retry.reply.text})
            messages.append({"role": "user", "content": reask_message(retry.error, prompt.answer)})
        params: dict[str, Any] = {
            "model": self.ref.name,
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": prompt.answer.name,
                    "schema": prompt.answer.schema(),
                    "strict": True,
                },
            },
            "seed": SEED + prompt.sample,
        }
        if prompt.samples == 1 and not self.ref.name.startswith(_NO_TEMPERATURE):
            params["temperature"] = 0
        return params

    def _send(self, client: Any, prompt: Prompt, retries: Sequence[Retry]) -> Any:
        return client.chat.completions.create(**self.request(prompt, retries))

    def _reply(self, response: Any) -> Reply:
        text = ""
        if response.choices:
            message = response.choices[0].message
            text = message.content or getattr(message, "refusal", None) or ""
        return Reply(text=text, model=self.model)


class AnthropicBackend(_SDKBackend):
    """Messages with a JSON-schema `output_config` format, or a forced tool call."""

    def __init__(
        self,
        ref: ModelRef,
        *,
        structured: Literal["output_config", "tool"] | None = None,
        base_url: str | None = None,
        retries: int = 2,
        api_key: str | None = None,
        clients: ClientCache = CLIENTS,
    ) -> None:
        super().__init__(ref, base_url=base_url, retries=retries, api_key=api_key, clients=clients)
        if structured is None:
            # Structured output arrived with the Claude 4.5 generation; older models get a tool.
            structured = "tool" if ref.name.startswith("claude-3") else "output_config"
        if structured not in ("output_config", "tool"):
            raise ValueError(f"structured must be 'output_config' or 'tool', got {structured!r}")
        self.structured = structured

    def request(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> dict[str, Any]:
        """The keyword arguments of `messages.create` for a prompt."""
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt.user}]
        for retry in retries:
            reask = reask_message(retry.error, prompt.answer)
            tool_use = retry.reply.turn
            if isinstance(tool_use, dict):
                messages.append({"role": "assistant", "content": [tool_use]})
                result = {
                    "type": "tool_result",
                    "tool_use_id": tool_use["id"],
                    "content": reask,
                    "is_error": True,
                }
                messages.append({"role": "user", "content": [result]})
            else:
                messages.append({"role": "assistant", "content": retry.reply.text or "(empty)"})
                messages.append({"role": "user", "content": reask})
        params: dict[str, Any] = {
            "model": self.ref.name,
            "max_tokens": ANTHROPIC_MAX_TOKENS,
            "system": prompt.system,
            "messages": messages,
        }
        schema = prompt.answer.schema()
        if self.structured == "output_config":
            params["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        else:
            params["tools"] = [
                {
                    "name": prompt.answer.name,
                    "description": "Record your verdict: reasoning first, then the decision.",
                    "input_schema": schema,
                }
            ]
            params["tool_choice"] = {"type": "tool", "name": prompt.answer.name}
        return params

    def _send(self, client: Any, prompt: Prompt, retries: Sequence[Retry]) -> Any:
        return client.messages.create(**self.request(prompt, retries))

    def _reply(self, response: Any) -> Reply:
        blocks = list(response.content or [])
        if self.structured == "tool":
            for block in blocks:
                if getattr(block, "type", None) == "tool_use":
                    turn = {"type": "tool_use", "id": block.id, "name": block.name}
                    turn["input"] = block.input
                    return Reply(json.dumps(block.input, ensure_ascii=False), self.model, turn)
        text = "".join(block.text for block in blocks if getattr(block, "type", None) == "text")
        return Reply(text=text, model=self.model)


class GoogleBackend(_SDKBackend):
    """Gemini through google-genai: generateContent with a JSON-schema response
    (`response_json_schema`), `temperature=0` and a fixed seed, as for OpenAI."""

    def request(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> dict[str, Any]:
        """The keyword arguments of `models.generate_content` for a prompt."""
        from google.genai import types

        contents: list[dict[str, Any]] = [{"role": "user", "parts": [{"text": prompt.user}]}]
        for retry in retries:
            contents.append({"role": "model", "parts": [{"text": retry.reply.text or "(empty)"}]})
            reask = reask_message(retry.error, prompt.answer)
            contents.append({"role": "user", "parts": [{"text": reask}]})
        config: dict[str, Any] = {
            "system_instruction": prompt.system,
            "response_mime_type": "application/json",
            "response_json_schema": prompt.answer.schema(),
            "seed": SEED + prompt.sample,
        }
        if prompt.samples == 1:
            config["temperature"] = 0
        return {
            "model": self.ref.name,
            "contents": contents,
            "config": types.GenerateContentConfig(**config),
        }

    def _send(self, client: Any, prompt: Prompt, retries: Sequence[Retry]) -> Any:
        return client.models.generate_content(**self.request(prompt, retries))

    async def acomplete(self, prompt: Prompt, retries: Sequence[Retry] = ()) -> Reply:
        """Ask the model through google-genai's asynchronous surface (`client.aio`)."""
        client = self._clients.async_client(self.spec)
        with self._judge_request():
            response = await client.aio.models.generate_content(**self.request(prompt, retries))
        return self._reply(response)

    def _reply(self, response: Any) -> Reply:
        parts = []
        for candidate in (getattr(response, "candidates", None) or [])[:1]:
            content = getattr(candidate, "content", None)
            parts = list(getattr(content, "parts", None) or [])
        text = "".join(part.text for part in parts if part.text and not part.thought)
        return Reply(text=text, model=self.model)

    def _failure(self, error: Exception) -> Exception:
        if isinstance(error, LLMEvalError):
            return error
        from google.genai import errors

        if isinstance(error, errors.APIError):
            if self.spec.uses_placeholder() and error.code in (400, 401, 403):
                server = self.spec.effective_base_url()
                refused = f"and the server at {server} refused it without one"
                return JudgeError(self._missing_key_message(refused, "all"))
            return ModelCallFailed(f"{self.model}: HTTP {error.code} {error.message or error}")
        if self.spec.blocked() and _is_connection_error(error):
            return JudgeError(self._missing_key_message("so it was not sent", "new"))
        if _is_connection_error(error):
            return ModelCallFailed(f"{self.model}: {_describe(error)}")
        return error


def _is_connection_error(error: Exception) -> bool:
    """A transport failure of httpx or httpx2 (google-genai raises them unwrapped)."""
    return any(
        type(error).__module__.split(".")[0] in ("httpx", "httpx2")
        and cls.__name__ in ("TransportError", "TimeoutException")
        for cls in type(error).__mro__
    )


def make_backend(model: str, *, base_url: str | None = None, retries: int = 2) -> _SDKBackend:
    """The backend of a `provider:model` name (no client is created until the first call)."""
    ref = ModelRef.parse(model)
    if (
        ref.provider == "openai-compatible"
        and not ClientSpec("openai", base_url, 0).effective_base_url()
    ):
        raise JudgeError(
            f"judge model {model!r} is on an OpenAI-compatible server, but no base URL is set: "
            "pass --llmeval-judge-base-url=URL (ini llmeval_judge_base_url) or set "
            "OPENAI_BASE_URL, e.g. http://localhost:11434/v1 for Ollama"
        )
    if ref.sdk == "anthropic":
        return AnthropicBackend(ref, base_url=base_url, retries=retries)
    if ref.sdk == "google":
        return GoogleBackend(ref, base_url=base_url, retries=retries)
    return OpenAIBackend(ref, base_url=base_url, retries=retries)
