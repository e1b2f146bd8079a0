"""A pytest plugin for the scale benchmark's memory profile: what is still alive when
the tests are done.

Loaded with `-p memtrace` (benchmarks/ on PYTHONPATH). At the start of sessionfinish,
before any report is written, it counts the objects the garbage collector tracks, by
type (count and shallow size), and notes the process's RSS and peak RSS; at unconfigure
it adds the RSS again. The text goes to $BENCH_MEMTRACE. With PYTHONTRACEMALLOC=1 it
also lists tracemalloc's largest live allocations by line (slow: use small workloads).
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
from collections.abc import Generator
from pathlib import Path

import pytest

#: Source files under the repository are shown relative to it, wherever it is cloned.
_REPOSITORY = str(Path(__file__).resolve().parent.parent) + os.sep


def _rss() -> str:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return f"RSS {fields.get('VmRSS', 0):.0f} MB, peak {fields.get('VmHWM', 0):.0f} MB"


def _write(text: str, mode: str) -> None:
    target = os.environ.get("BENCH_MEMTRACE")
    if target:
        with open(target, mode, encoding="utf-8") as sink:
            sink.write(text)


def census(top: int = 35) -> list[str]:
    """Live gc-tracked objects by type: count and summed shallow size."""
    counts: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        cls = type(obj)
        key = f"{cls.__module__}.{cls.__qualname__}"
        slot = counts.setdefault(key, [0, 0])
        slot[0] += 1
        slot[1] += sys.getsizeof(obj, 0)
    rows = sorted(counts.items(), key=lambda item: -item[1][1])[:top]
    return [f"  {size / 2**20:8.1f} MiB {count:9d}  {name}" for name, (count, size) in rows]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    gc.collect()
    lines = [f"after the last test: {_rss()}", "", "live objects by type (shallow size):"]
    lines += census()
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        stats = snapshot.statistics("lineno")
        total = sum(stat.size for stat in stats)
        lines += ["", f"tracemalloc live: {total / 2**20:.1f} MiB; largest by line:"]
        for stat in stats[:25]:
            frame = stat.traceback[0]
            name = frame.filename.split("site-packages/")[-1].removeprefix(_REPOSITORY)
            lines.append(f"  {stat.size / 2**20:8.1f} MiB {stat.count:9d}  {name}:{frame.lineno}")
    _write("\n".join(lines) + "\n", "w")
    return (yield)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _write(f"\nat unconfigure (reports written): {_rss()}\n", "a")
