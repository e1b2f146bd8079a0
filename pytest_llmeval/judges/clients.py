"""Judge models by name (`provider:model`) and the SDK clients that call them.

Clients are created on first use and kept for the process, one per provider, base URL,
API key and retry count (creating one is slow). A client is built even when its API key
is not set, so that a judge call can replay from a cassette without a key; such a client
carries the placeholder key of `pytest_llmeval.capture.keys` (the same one cassette sessions
supply to the code under test) and, when it would talk to the provider's own API, a
transport that cannot connect anywhere, so the placeholder never reaches the network.
The backend turns the resulting connection error into a message that says how to record.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
import threading
import weakref
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pytest_llmeval.capture.keys import KEY_VARIABLES as KEY_VARIABLES
from pytest_llmeval.capture.keys import PLACEHOLDER_API_KEY as PLACEHOLDER_API_KEY
from pytest_llmeval.core.errors import JudgeError

# A Unix socket path nobody listens on: the transport of placeholder-key clients.
_NOWHERE_SOCKET = "/nonexistent/pytest-llmeval/no-api-key.sock"

#: Providers a judge model can name, and the SDK that talks to each.
PROVIDERS = {
    "openai": "openai",
    "openai-compatible": "openai",
    "anthropic": "anthropic",
    "google": "google",  # Gemini through google-genai (the [gemini] extra)
}

#: The environment variable each SDK reads its base URL from.
BASE_URL_VARIABLES = {
    "openai": "OPENAI_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
    "google": "GOOGLE_GEMINI_BASE_URL",
}

#: google-genai's key variables, in the order it reads them.
GOOGLE_KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")


class ModelNameError(JudgeError):
    """A judge model name is not `provider:model` with a known provider."""


@dataclass(frozen=True)
class ModelRef:
    """A judge model: its provider (openai, anthropic, openai-compatible) and name."""

    provider: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse `provider:model`, e.g. `openai:gpt-4.1-mini`, `anthropic:claude-haiku-4-5`."""
        provider, sep, name = str(text).strip().partition(":")
        if not sep or not name.strip():
            raise ModelNameError(
                f"judge model {text!r} is not of the form provider:model "
                "(e.g. openai:gpt-4.1-mini or anthropic:claude-haiku-4-5)"
            )
        provider = provider.strip().lower()
        if provider not in PROVIDERS:
            raise ModelNameError(
                f"judge model {text!r} names an unknown provider {provider!r}; "
                f"use one of {', '.join(PROVIDERS)}"
            )
        return cls(provider, name.strip())

    @property
    def sdk(self) -> str:
        """Which SDK calls this model: openai or anthropic."""
        return PROVIDERS[self.provider]

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}"


@dataclass(frozen=True)
class ClientSpec:
    """Everything a judge's SDK client is built from."""

    sdk: str
    base_url: str | None
    retries: int
    api_key: str | None = None  # None: the SDK's environment variable, or the placeholder

    def resolved_key(self) -> str:
        """The API key the client sends: given, from the environment, or the placeholder."""
        if self.api_key:
            return self.api_key
        if self.sdk == "google":
            found = (os.environ.get(name) for name in GOOGLE_KEY_VARIABLES)
            return next((key for key in found if key), PLACEHOLDER_API_KEY)
        return os.environ.get(KEY_VARIABLES[self.sdk]) or PLACEHOLDER_API_KEY

    def effective_base_url(self) -> str | None:
        """The base URL the client uses: given, or the SDK's environment variable."""
        return self.base_url or os.environ.get(BASE_URL_VARIABLES[self.sdk]) or None

    def key_variable(self) -> str:
        """The environment variable the API key is read from (the first of google-genai's)."""
        return GOOGLE_KEY_VARIABLES[0] if self.sdk == "google" else KEY_VARIABLES[self.sdk]

    def uses_placeholder(self) -> bool:
        """Whether no API key is set for this client."""
        if self.resolved_key() != PLACEHOLDER_API_KEY:
            return False
        # Anthropic can authenticate with a bearer token instead of a key.
        return not (self.sdk == "anthropic" and os.environ.get("ANTHROPIC_AUTH_TOKEN"))

    def blocked(self) -> bool:
        """Whether the client must not reach the network: no key, provider's own API."""
        return self.uses_placeholder() and self.effective_base_url() is None

    def cache_key(self) -> tuple[str, str | None, int, str, bool]:
        """Identity of a client; the key is hashed so it never sits in a repr."""
        digest = hashlib.sha256(self.resolved_key().encode()).hexdigest()[:16]
        return (self.sdk, self.effective_base_url(), self.retries, digest, self.blocked())


def _http_library(sdk: str) -> ModuleType:
    """The HTTP library the installed SDK is built on: httpx2 (openai 3.x, anthropic 1.x
    and later), or legacy httpx (openai 1.x and 2.x, anthropic 0.x); a client's
    `http_client` must come from it."""
    base_client = importlib.import_module(f"{sdk}._base_client")
    library: ModuleType | None = getattr(base_client, "httpx2", None)
    return library if library is not None else base_client.httpx


def _build_google(spec: ClientSpec, asynchronous: bool) -> Any:
    """A google-genai client (sync and async in one: its `.aio`); without a key, on a
    transport that cannot connect anywhere, as for the other SDKs."""
    try:
        import google.genai as genai
        from google.genai import _api_client, types
    except ImportError:
        raise JudgeError(
            "a google: judge needs the google-genai SDK: pip install 'pytest-llm-eval[gemini]'"
        ) from None
    # the HTTP library google-genai runs on here: httpx2 where it has it, else httpx
    http: Any = getattr(_api_client, "httpx2", None) or importlib.import_module("httpx")
    retry = types.HttpRetryOptions(attempts=1 if spec.blocked() else spec.retries + 1)
    options: dict[str, Any] = {"base_url": spec.effective_base_url(), "retry_options": retry}
    if spec.blocked():
        from pytest_llmeval.capture.cassettes.intercept import mark_unsendable

        if asynchronous:
            transport = mark_unsendable(http.AsyncHTTPTransport(uds=_NOWHERE_SOCKET))
            options["async_client_args"] = {"transport": transport}
        else:
            transport = mark_unsendable(http.HTTPTransport(uds=_NOWHERE_SOCKET))
            options["client_args"] = {"transport": transport}
    elif asynchronous:
        # a transport of its own keeps google-genai on httpx, where calls are recorded,
        # rather than aiohttp (its async default when installed), which bypasses it
        options["async_client_args"] = {"transport": http.AsyncHTTPTransport()}
    return genai.Client(api_key=spec.resolved_key(), http_options=types.HttpOptions(**options))


def _build(spec: ClientSpec, asynchronous: bool) -> Any:
    """Create an SDK client (the slow part the cache exists for)."""
    if spec.sdk == "google":
        return _build_google(spec, asynchronous)
    http = _http_library(spec.sdk)
    options: dict[str, Any] = {
        "base_url": spec.effective_base_url(),
        "max_retries": 0 if spec.blocked() else spec.retries,
    }
    if spec.uses_placeholder():
        options["api_key"] = PLACEHOLDER_API_KEY
    if spec.blocked():
        from pytest_llmeval.capture.cassettes.intercept import mark_unsendable

        # its connect error is the refusal, not a failure to record (and then replay)
        if asynchronous:
            transport: Any = mark_unsendable(http.AsyncHTTPTransport(uds=_NOWHERE_SOCKET))
            options["http_client"] = http.AsyncClient(transport=transport)
        else:
            options["http_client"] = http.Client(
                transport=mark_unsendable(http.HTTPTransport(uds=_NOWHERE_SOCKET))
            )
    if spec.sdk == "anthropic":
        import anthropic

        if asynchronous:
            return anthropic.AsyncAnthropic(**options)
        return anthropic.Anthropic(**options)
    import openai

    if asynchronous:
        return openai.AsyncOpenAI(**options)
    return openai.OpenAI(**options)


class ClientCache:
    """The judges' SDK clients, created on first use and kept for the process.

    This is the judges' one process-wide object (STYLE convention 2 allows it where the
    thing it holds is process-wide itself): SDK clients are slow to create (~35 ms),
    thread-safe, and hold no per-test state; interception patches the transport
    classes, so a cached client is recorded and replayed like a new one. An async
    client's connections belong to the event loop that opened them, so it is kept with
    that loop and replaced when asked for from another one (at most one per spec).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync: dict[tuple[Any, ...], Any] = {}
        self._async: dict[tuple[Any, ...], tuple[weakref.ref[Any], Any]] = {}

    def client(self, spec: ClientSpec) -> Any:
        """The synchronous client for `spec`."""
        key = spec.cache_key()
        with self._lock:
            client = self._sync.get(key)
            if client is None:
                client = self._sync[key] = _build(spec, asynchronous=False)
        return client

    def async_client(self, spec: ClientSpec) -> Any:
        """The asynchronous client for `spec` on the running event loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another async library (trio): no loop to keep it with
            return _build(spec, asynchronous=True)
        key = spec.cache_key()
        with self._lock:
            kept = self._async.get(key)
            if kept is not None and kept[0]() is loop:
                return kept[1]
            client = _build(spec, asynchronous=True)
            self._async[key] = (weakref.ref(loop), client)
        return client

    def clear(self) -> None:
        """Forget every client (they close when collected)."""
        with self._lock:
            self._sync.clear()
            self._async.clear()


CLIENTS = ClientCache()
