"""Interception at the httpx / httpx2 transport, installed only while a session needs it.

`HTTPTransport.handle_request` and `AsyncHTTPTransport.handle_async_request` of `httpx2`
(what openai 3.x and anthropic 2.x use) and of legacy `httpx` (when importable) are
replaced while at least one session is installed or a holder (the pytest session, once
it runs an eval test) keeps them, and the original functions are put back, by identity,
when the last one lets go. Legacy httpx that is not imported yet is patched when
something imports it. Clients the SDKs create and user clients on the default transport
all pass through them; custom transports are not intercepted.

A call is routed to `current_cassette`; calls from threads that did not inherit the
context fall back to the only installed session, if exactly one is installed; otherwise
the call goes to the network untouched. What a patched transport does with a call
is in `transport` (the handlers, and `InterceptedSession`, the one protocol they call a
session through: the cassette session implements it, neither module imports it), the
byte streams in `streams`.

The patch bookkeeping is the one process-wide object here, because the patched classes
are process-wide themselves (STYLE convention 2 keeps other state off module globals).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from contextvars import ContextVar
from types import ModuleType
from typing import Any

from pytest_llmeval.capture.cassettes.transport import (
    InterceptedSession,
    adapter_for,
    async_handler,
    sync_handler,
)

# the protocol lives in transport.py beside the handlers that call it; named from here too
__all__ = [
    "InterceptedSession",
    "current_cassette",
    "hold",
    "install",
    "is_installed",
    "mark_unsendable",
    "release",
    "routed_session",
    "uninstall",
]


#: The session of the eval test whose code is running, or None outside eval tests. A
#: context variable, not a global, so that eval tests running concurrently on one event
#: loop (each an asyncio task with its own context copy) route to their own cassette.
current_cassette: ContextVar[InterceptedSession | None] = ContextVar(
    "llmeval_current_cassette", default=None
)

_SYNC, _ASYNC = "handle_request", "handle_async_request"


class _Interception:
    """The transport patches and the started sessions they route to (refcounted).

    Holders (a pytest session's runtime) keep the patches installed between tests, so
    each test only registers its session instead of patching and restoring the classes.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: list[InterceptedSession] = []
        self.holds = 0
        self.originals: list[tuple[type, str, Any]] = []

    def install(self, session: InterceptedSession) -> None:
        with self.lock:
            if not self.originals:
                self._patch()
            self.sessions.append(session)

    def uninstall(self, session: InterceptedSession) -> None:
        with self.lock:
            if session in self.sessions:
                self.sessions.remove(session)
            self._restore_if_idle()

    def hold(self) -> None:
        with self.lock:
            if not self.originals:
                self._patch()
            self.holds += 1

    def release(self) -> None:
        with self.lock:
            self.holds = max(0, self.holds - 1)
            self._restore_if_idle()

    def session_for_call(self) -> InterceptedSession | None:
        session = current_cassette.get()
        if session is not None and session.active:
            return session
        sessions = self.sessions
        return sessions[0] if len(sessions) == 1 else None

    def patch_late(self, module: ModuleType) -> None:
        """Patch a legacy httpx imported while the patches are installed."""
        with self.lock:
            if self.originals and _is_legacy(module):
                self._patch_module(module)

    def _patch(self) -> None:
        import httpx2

        self._patch_module(httpx2)
        legacy = sys.modules.get("httpx")
        if legacy is not None:
            if _is_legacy(legacy):
                self._patch_module(legacy)
        elif importlib.util.find_spec("httpx") is not None:
            # Importing httpx costs ~60 ms when click and rich are installed (its CLI):
            # patch it if and when something imports it instead.
            sys.meta_path.insert(0, _LEGACY_HOOK)

    def _patch_module(self, module: ModuleType) -> None:
        adapter = adapter_for(module)
        for cls, name, make in (
            (module.HTTPTransport, _SYNC, sync_handler),
            (module.AsyncHTTPTransport, _ASYNC, async_handler),
        ):
            original = cls.__dict__[name]
            self.originals.append((cls, name, original))
            setattr(cls, name, make(adapter, original, self.session_for_call))

    def _restore_if_idle(self) -> None:
        if self.sessions or self.holds:
            return
        if _LEGACY_HOOK in sys.meta_path:
            sys.meta_path.remove(_LEGACY_HOOK)
        for cls, name, original in reversed(self.originals):
            setattr(cls, name, original)
        self.originals.clear()


def _is_legacy(module: ModuleType) -> bool:
    """Whether `module` is legacy httpx, not httpx2 aliased as `httpx` by alias_httpx()."""
    import httpx2

    transport = getattr(module, "HTTPTransport", None)
    return transport is not None and transport is not httpx2.HTTPTransport


class _LegacyImportHook(importlib.abc.MetaPathFinder):
    """Patches legacy httpx right after it is first imported (see _Interception._patch)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "httpx":
            return None
        finders = sys.meta_path[sys.meta_path.index(self) + 1 :]
        spec = None
        for finder in finders:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    """Runs the module's own loader, then patches the module (otherwise delegates)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _INTERCEPTION.patch_late(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, ...
        return getattr(self.loader, name)


_INTERCEPTION = _Interception()
_LEGACY_HOOK = _LegacyImportHook()


def install(session: InterceptedSession) -> None:
    """Route transport calls to `session` until `uninstall` (patches on the first one)."""
    _INTERCEPTION.install(session)


def uninstall(session: InterceptedSession) -> None:
    """Stop routing to `session`; the last one out restores the original methods."""
    _INTERCEPTION.uninstall(session)


def hold() -> None:
    """Keep the transports patched until `release`, between sessions too (refcounted)."""
    _INTERCEPTION.hold()


def release() -> None:
    """Drop a `hold`; once nothing holds or uses the patches, the originals are restored."""
    _INTERCEPTION.release()


def routed_session() -> InterceptedSession | None:
    """The session an HTTP call made here and now would be routed to, if any."""
    return _INTERCEPTION.session_for_call()


def is_installed() -> bool:
    """Whether the transports are currently patched."""
    return bool(_INTERCEPTION.originals)


def mark_unsendable(transport: Any) -> Any:
    """Mark a transport whose live calls fail on purpose (a judge client without an API
    key) and return it: its transport errors are the plugin's refusal, not the provider's
    failure, so they are not recorded, and a later run with a key goes live instead of
    replaying the refusal. Replay through it works as through any transport."""
    transport._llmeval_unsendable = True
    return transport
