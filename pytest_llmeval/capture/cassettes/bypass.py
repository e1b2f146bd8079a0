"""Model calls that bypass the httpx interception are named, not silently missed.

The cassettes see what the SDKs send through httpx / httpx2. A test that calls a model
through another client (`requests`, `urllib3`, `urllib.request`, boto3 for Bedrock, raw
`http.client`, `aiohttp`) would otherwise pass as "0 calls, $0": nothing recorded,
replayed, priced or counted against a budget. While an eval test runs, this module
watches those clients and warns (`BypassedClientWarning`, once per test, client and
host) when one of them sends a request that looks like a model call: a POST to a path
a provider adapter knows (`.../chat/completions`, `.../v1/messages`, ...), Bedrock's
`/model/<id>/invoke|converse`, Gemini's `:generateContent`, or any request to a host of
a known model provider.

Cheap and inert: nothing is imported. `http.client.HTTPConnection.putrequest` (which
`requests`, `urllib3`, botocore and `urllib.request` all end in) is wrapped only when
`http.client` is already imported, and `aiohttp.ClientSession._request` only when
`aiohttp` is; `watch` runs again before each eval test, so a client imported by an
earlier test is watched from the next one. The wrappers only look: the request goes
out unchanged. Outside an eval test (no cassette session routed to) they do nothing
but one context-variable read. Like the transport patches in `intercept`, the
bookkeeping of what was wrapped is one process-wide object, because the wrapped
classes are process-wide.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from pytest_llmeval.core.errors import BypassedClientWarning

__all__ = ["hold", "is_model_call", "release", "watch"]

# Hosts of model providers: any request to them is a model call, whatever its path.
# The patterns are compiled on the first bypassing call (`_patterns`), not at import:
# every eval session imports this module, few ever see a client bypass the transports.
_PROVIDER_HOSTS = (
    r"(?:.+\.)?(?:api\.openai\.com|api\.anthropic\.com|openai\.azure\.com"
    r"|bedrock-runtime(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?"
    r"|generativelanguage\.googleapis\.com|aiplatform\.googleapis\.com"
    r"|api\.mistral\.ai|api\.cohere\.(?:com|ai)|api\.groq\.com|openrouter\.ai"
    r"|api\.together\.xyz|api\.deepseek\.com|api\.fireworks\.ai|api\.x\.ai)"
)
# Model-call paths of APIs the adapters do not read (Bedrock, Gemini).
_MODEL_PATHS = r".*(?:/model/[^/]+/(?:invoke|converse)[\w-]*|:(?:stream)?generateContent)"
# Packages whose frames name the client: the outermost one found on the stack wins.
_CLIENTS = (
    ("boto3", "boto3"),
    ("botocore", "botocore (boto3)"),
    ("requests", "requests"),
    ("httplib2", "httplib2"),
    ("urllib3", "urllib3"),
    ("aiohttp", "aiohttp"),
    ("urllib.request", "urllib.request"),
    ("http.client", "http.client"),
)


def is_model_call(method: str, url: str) -> bool:
    """Whether a request (method, absolute URL) looks like a call to a model API."""
    from urllib.parse import urlsplit

    from pytest_llmeval.capture.providers import provider_of

    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    hosts, paths = _patterns()
    if hosts.fullmatch(host):
        return True
    if method.upper() != "POST":
        return False
    return provider_of("POST", url) != "unknown" or bool(paths.fullmatch(parts.path))


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The provider hosts and model paths, compiled once."""
    return re.compile(_PROVIDER_HOSTS), re.compile(_MODEL_PATHS, re.IGNORECASE)


def _client_on_stack(default: str) -> str:
    """The outermost known HTTP client among the caller's frames (e.g. requests over
    urllib3 over http.client)."""
    found = default
    frame = sys._getframe(2)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        for package, name in _CLIENTS:
            if module == package or module.startswith(package + "."):
                found = name
                break
        frame = frame.f_back  # type: ignore[assignment]
    return found


def _current_test() -> str | None:
    """The node id of the eval test whose cassette session this call would go to."""
    from pytest_llmeval.capture.cassettes.intercept import routed_session

    session = routed_session()
    nodeid = getattr(session, "nodeid", None)
    return nodeid if isinstance(nodeid, str) else None


class _Watch:
    """What was wrapped (to put back), and which bypasses were already warned about."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holds = 0
        self.originals: list[tuple[type, str, Any]] = []
        self.warned: set[tuple[str, str, str]] = set()

    def watch(self) -> None:
        with self.lock:
            wrapped = {(cls, name) for cls, name, _ in self.originals}
            http_client = sys.modules.get("http.client")
            if http_client is not None:
                cls = http_client.HTTPConnection
                if (cls, "putrequest") not in wrapped:
                    self._wrap(cls, "putrequest", _putrequest(cls.putrequest, http_client))
            aiohttp = sys.modules.get("aiohttp")
            session = getattr(aiohttp, "ClientSession", None)
            if session is not None and hasattr(session, "_request"):
                if (session, "_request") not in wrapped:
                    self._wrap(session, "_request", _aiohttp_request(session._request))

    def hold(self) -> None:
        with self.lock:
            self.holds += 1
        self.watch()

    def release(self) -> None:
        with self.lock:
            self.holds = max(0, self.holds - 1)
            if self.holds:
                return
            for cls, name, original in reversed(self.originals):
                setattr(cls, name, original)
            self.originals.clear()
            self.warned.clear()

    def _wrap(self, cls: type, name: str, wrapper: Callable[..., Any]) -> None:
        self.originals.append((cls, name, cls.__dict__[name]))
        setattr(cls, name, wrapper)

    def seen(self, method: str, url: str, default_client: str) -> None:
        """A request went out through a watched client: warn if it is a model call made
        by an eval test (once per test, client and host)."""
        nodeid = _current_test()
        if nodeid is None or not is_model_call(method, url):
            return
        client = _client_on_stack(default_client)
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]  # never show credentials
        key = (nodeid, client, host)
        with self.lock:
            if key in self.warned:
                return
            self.warned.add(key)
        warnings.warn(
            BypassedClientWarning(
                f"{nodeid} made a model call through {client} ({method.upper()} "
                f"{parts.scheme}://{host}{parts.path}), which llm_eval does not "
                "intercept: it was not recorded or replayed, and its tokens and cost are in "
                "no report or budget. Call the model through the openai or anthropic SDK "
                "(or another client on httpx), or silence this with "
                "-W ignore::pytest_llmeval.core.errors.BypassedClientWarning."
            ),
            stacklevel=2,
        )


_WATCH = _Watch()


def _putrequest(original: Callable[..., Any], http_client: Any) -> Callable[..., Any]:
    def putrequest(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        _look(method, url, lambda: _absolute(self, url, http_client), "http.client")
        return original(self, method, url, *args, **kwargs)

    putrequest.__wrapped__ = original  # type: ignore[attr-defined]
    return putrequest


def _aiohttp_request(original: Callable[..., Any]) -> Callable[..., Any]:
    def _request(self: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        _look(method, str_or_url, lambda: str(str_or_url), "aiohttp")
        return original(self, method, str_or_url, *args, **kwargs)

    _request.__wrapped__ = original  # type: ignore[attr-defined]
    return _request


def _look(method: Any, url: Any, absolute: Callable[[], str], client: str) -> None:
    """Check one request; never let the check break it (only -W error may: the warning
    then is an error by the user's choice)."""
    if _current_test() is None:
        return
    try:
        _WATCH.seen(str(method), absolute(), client)
    except BypassedClientWarning:
        raise
    except Exception:  # looking must never break the user's request
        pass


def _absolute(connection: Any, url: str, http_client: Any) -> str:
    """The absolute URL of an http.client request line (a proxy's is already absolute)."""
    if not url.startswith("/"):
        return url
    https = isinstance(connection, http_client.HTTPSConnection)
    default = 443 if https else 80
    port = "" if connection.port in (None, default) else f":{connection.port}"
    return f"{'https' if https else 'http'}://{connection.host}{port}{url}"


def hold() -> None:
    """Start watching (a session's runtime, once): the clients imported so far."""
    _WATCH.hold()


def watch() -> None:
    """Watch the non-httpx clients imported since (before each eval test)."""
    _WATCH.watch()


def release() -> None:
    """Let go of the watch; the last holder puts every wrapped method back."""
    _WATCH.release()
