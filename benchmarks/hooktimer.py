"""A pytest plugin for the scale benchmark: times pytest-llm-eval's hook implementations.

Loaded with `-p hooktimer` (benchmarks/ on PYTHONPATH). Every plain hook implementation
of a plugin object from `pytest_llmeval` (the plugin module, and objects it registers
later, such as the session controller or reporters), and of pytest's junitxml writer
for scale, is wrapped in a timer when it registers. Wrappers (`wrapper=True`,
`hookwrapper=True`) are left alone: their time is inside the test phases, which the
replay benchmark measures as a whole. At unconfigure the totals are written as JSON
to $BENCH_HOOK_TIMINGS: {"<owner>::<hook>": [seconds, calls]}.
"""

from __future__ import annotations

import json
import os
import time
import types
from collections.abc import Callable
from typing import Any

import pytest

_TIMED_OWNERS = ("pytest_llmeval", "_pytest.junitxml")
_totals: dict[str, list[float]] = {}


def _owner(plugin: object) -> str:
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    cls = type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


def _timed(key: str, function: Callable[..., Any]) -> Callable[..., Any]:
    slot = _totals.setdefault(key, [0.0, 0])
    clock = time.perf_counter

    def timed(*args: Any) -> Any:
        started = clock()
        try:
            return function(*args)
        finally:
            slot[0] += clock() - started
            slot[1] += 1

    timed.bench_timed = True  # type: ignore[attr-defined]
    return timed


def pytest_plugin_registered(plugin: object, plugin_name: str, manager: Any) -> None:
    owner = _owner(plugin)
    if not owner.startswith(_TIMED_OWNERS):
        return
    for caller in manager.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin or impl.hookwrapper or impl.wrapper:
                continue
            if getattr(impl.function, "bench_timed", False):
                continue
            impl.function = _timed(f"{owner}::{caller.name}", impl.function)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    target = os.environ.get("BENCH_HOOK_TIMINGS")
    if target:
        with open(target, "w", encoding="utf-8") as sink:
            json.dump(_totals, sink, indent=2, sort_keys=True)
