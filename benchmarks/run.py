"""Benchmarks of pytest-llm-eval: `python benchmarks/run.py [--quick] [--only NAME] [--profile]`.

Workloads are generated under benchmarks/.work/ (gitignored); each variant of a
benchmark is a fresh pytest (or promptfoo) process, and the variants of a benchmark
run alternately, rotating the order each round; figures are medians of wall times.
See docs/performance.md for what each benchmark measures and the figures.

Benchmarks (names for --only): inert, replay, record, live, scale.
`--compare REF` adds our plugin at git revision REF as one more variant of the replay
and record benchmarks (a before/after measured in the same alternating rounds).
`--bounds` adds, to each replay group, replaybound.py's bare replay (what replaying
itself costs) and lean replay (the plugin's records without its plumbing).
Live variants are looked up by name in LIVE_VARIANTS: add one there (e.g. an
in-process concurrency option of the plugin) and it is measured alongside.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    BENCH_DIR,
    WORK,
    BenchmarkError,
    RunResult,
    Variant,
    alternate,
    clean_env,
    dev_python,
    ensure_peer_venv,
    ensure_promptfoo,
    ensure_tools,
    fake_provider,
    has_option,
    machine_description,
    peer_python,
    promptfoo_env,
    run_timed,
)
from workloads import (
    CLIENT_MODES,
    LIVE_STYLES,
    PROVIDERS,
    build_inert,
    build_live,
    build_record,
    build_replay,
    build_scale,
    read_stamp,
    record_dir,
    replay_dir,
    replay_params,
    scale_params,
    write_promptfoo_config,
)

LIVE_LATENCY_S = 0.2
#: Report options of the scale benchmark: the spellings `pytest --help` may list, and a file.
REPORT_OPTIONS = (
    (("--junitxml", "--junit-xml"), "junit.xml"),
    (("--llmeval-report",), "report.json"),
    (("--llmeval-html",), "report.html"),
)


@dataclass(frozen=True)
class Sizes:
    """How big each workload is and how many alternating rounds each benchmark runs."""

    inert_tests: int
    replay_tests: int
    live_cases: int
    scale_cases: int
    rounds: dict[str, int]
    warmup: dict[str, int]


FULL = Sizes(
    2000,
    500,
    100,
    10_000,
    rounds={"inert": 11, "replay": 5, "record": 3, "live": 5, "scale": 3},
    warmup={"inert": 1, "replay": 1, "record": 1, "live": 0, "scale": 0},
)
QUICK = Sizes(
    500,
    100,
    20,
    1_000,
    rounds={"inert": 1, "replay": 1, "record": 1, "live": 1, "scale": 1},
    warmup={"inert": 1, "replay": 0, "record": 0, "live": 0, "scale": 0},
)


@dataclass(frozen=True)
class Target:
    """One target and whether this run met it (None: not judged in this mode)."""

    benchmark: str
    what: str
    measured: str
    limit: str
    met: bool | None
    note: str = ""


@dataclass
class Context:
    """What every benchmark needs: sizes, where to build, what was found missing."""

    quick: bool
    sizes: Sizes
    root: Path
    profile: bool
    rounds_override: int | None
    #: (label, folder holding that revision's `pytest_llmeval`) from --compare, if given
    compare: tuple[str, Path] | None = None
    #: --bounds: the replay groups also run `replaybound.py`'s bare and lean replays
    bounds: bool = False
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    peers: dict[str, str] | None = None

    def rounds(self, name: str) -> int:
        """Timed rounds of a benchmark."""
        return self.rounds_override or self.sizes.rounds[name]

    def peer_ok(self, peer: str) -> bool:
        """Whether the peer virtualenv (with `peer` in it) is usable, installing on first use."""
        if self.peers is None:
            self.peers = ensure_peer_venv()
            for name, note in self.peers.items():
                self.notes.append(f"peer {name} skipped: {note}")
        return "venv-peers" not in self.peers and peer not in self.peers


def pytest_argv(python: Path, *options: str) -> list[str | Path]:
    """A quiet pytest run (no cache writes, so rounds do not see each other's state)."""
    return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options]


def export_revision(ref: str) -> tuple[str, Path]:
    """`git archive` the package at `ref` into benchmarks/.work/rev-<sha>/ (once)."""
    root = BENCH_DIR.parent
    sha = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()
    target = WORK / f"rev-{sha}"
    if not (target / "pytest_llmeval" / "plugin.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", sha, "pytest_llmeval"], cwd=root, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return f"ours@{sha}", target


def ours_at_revision(ctx: Context, variant: Variant) -> list[Variant]:
    """`variant` run with the --compare revision's plugin first on sys.path (or nothing)."""
    if ctx.compare is None:
        return []
    label, tree = ctx.compare
    env = {**variant.env, "PYTHONPATH": str(tree)}
    return [dataclasses.replace(variant, name=label, env=env, runs=[])]


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def _seconds(value: float) -> str:
    return f"{value:.3f} s"


# -- 1. inert ------------------------------------------------------------------------


def bench_inert(ctx: Context) -> dict[str, Any]:
    """Trivial tests, plugin installed vs disabled (and pytest-recording for scale)."""
    tests = ctx.sizes.inert_tests
    directory = ctx.root / "inert"
    build_inert(directory, tests)
    env = clean_env()
    passed = f"{tests} passed"
    dev = dev_python()
    variants = [
        Variant("llmeval", pytest_argv(dev), directory, env, expect_text=passed),
        Variant(
            "no:llmeval", pytest_argv(dev, "-p", "no:llmeval"), directory, env, expect_text=passed
        ),
    ]
    if ctx.peer_ok("pytest-recording"):
        peer = peer_python()
        variants += [
            Variant("recording", pytest_argv(peer), directory, env, expect_text=passed),
            Variant(
                "no:recording",
                pytest_argv(peer, "-p", "no:recording"),
                directory,
                env,
                expect_text=passed,
            ),
        ]
    alternate("inert", variants, rounds=ctx.rounds("inert"), warmup=ctx.sizes.warmup["inert"])
    if ctx.profile:
        _profile(ctx, "inert", variants[0])
    by_name = {variant.name: variant for variant in variants}
    ours = _ratio(by_name["llmeval"].median, by_name["no:llmeval"].median)
    figures: dict[str, Any] = {
        "tests": tests,
        "medians_s": {variant.name: variant.median for variant in variants},
        "cpu_medians_s": {variant.name: variant.cpu_median for variant in variants},
        "runs_s": {variant.name: variant.seconds for variant in variants},
        "ratio_llmeval": ours,
        "cpu_ratio_llmeval": _ratio(
            by_name["llmeval"].cpu_median, by_name["no:llmeval"].cpu_median
        ),
    }
    ctx.targets.append(
        Target(
            "inert",
            f"{tests} trivial tests, installed / -p no:llmeval",
            f"{ours:.3f}x (cpu {figures['cpu_ratio_llmeval']:.3f}x)",
            "<= 1.02x",
            ours <= 1.02,
        )
    )
    if "recording" in by_name:
        recording = _ratio(by_name["recording"].median, by_name["no:recording"].median)
        figures["ratio_recording"] = recording
        figures["cpu_ratio_recording"] = _ratio(
            by_name["recording"].cpu_median, by_name["no:recording"].cpu_median
        )
    line = f"inert: llmeval {ours:.3f}x (cpu {figures['cpu_ratio_llmeval']:.3f}x)"
    if "ratio_recording" in figures:
        line += (
            f", pytest-recording {figures['ratio_recording']:.3f}x "
            f"(cpu {figures['cpu_ratio_recording']:.3f}x)"
        )
    print(line)
    return figures


# -- 2. replay -----------------------------------------------------------------------


def bench_replay(ctx: Context) -> dict[str, Any]:
    """Replaying one chat completion per test: ours vs pytest-recording vs the floor."""
    tests = ctx.sizes.replay_tests
    tools = ["ours", "floor"] + (["vcr"] if ctx.peer_ok("pytest-recording") else [])
    stamps = _build_replays(ctx, tools, tests)
    figures: dict[str, Any] = {"tests": tests, "groups": {}}
    for provider in PROVIDERS:
        for client in CLIENT_MODES:
            label = f"replay-{provider}-{client}"
            variants = []
            for tool in ("ours", "vcr", "floor"):
                if tool not in tools:
                    continue
                directory = replay_dir(ctx.root, tool, provider, client)
                env = clean_env(BENCH_BASE_URL=str(stamps[(tool, provider, client)]["url"]))
                options = {
                    "ours": ["--llmeval-record=none"],
                    "vcr": ["--record-mode=none"],
                    "floor": [],
                }[tool]
                python = peer_python() if tool == "vcr" else dev_python()
                variants.append(
                    Variant(
                        tool,
                        pytest_argv(python, *options),
                        directory,
                        env,
                        expect_text=f"{tests} passed",
                    )
                )
            variants[1:1] = ours_at_revision(ctx, variants[0])
            if ctx.bounds:
                variants[1:1] = _bound_variants(variants[0], tests)
            alternate(
                label, variants, rounds=ctx.rounds("replay"), warmup=ctx.sizes.warmup["replay"]
            )
            medians = {variant.name: variant.median for variant in variants}
            cpu = {variant.name: variant.cpu_median for variant in variants}
            floor = medians["floor"]
            group: dict[str, Any] = {
                "medians_s": medians,
                "cpu_medians_s": cpu,
                "cpu_ratio_to_floor": {
                    name: _ratio(value, cpu["floor"]) for name, value in cpu.items()
                },
                "runs_s": {variant.name: variant.seconds for variant in variants},
                "ratio_to_floor": {name: _ratio(value, floor) for name, value in medians.items()},
                "per_call_ms": {
                    name: (value - floor) / tests * 1000 for name, value in medians.items()
                },
            }
            figures["groups"][f"{provider}/{client}"] = group
            limit = 1.10 if client == "shared" else 1.02
            ratio = group["ratio_to_floor"]["ours"]
            mode = "shared client" if client == "shared" else "client per test"
            ctx.targets.append(
                Target(
                    "replay",
                    f"{provider}, {mode}: ours / floor",
                    f"{ratio:.3f}x ({group['per_call_ms']['ours']:+.2f} ms/call; "
                    f"cpu {group['cpu_ratio_to_floor']['ours']:.3f}x)",
                    f"<= {limit:.2f}x",
                    ratio <= limit,
                )
            )
            print(
                f"{label}: "
                + ", ".join(
                    f"{name} {value:.2f} s ({group['ratio_to_floor'][name]:.3f}x, "
                    f"{group['per_call_ms'][name]:+.2f} ms/call, "
                    f"cpu {group['cpu_ratio_to_floor'][name]:.3f}x)"
                    for name, value in medians.items()
                )
            )
            if ctx.profile:
                _profile(ctx, label, variants[0])
    return figures


def _bound_variants(ours: Variant, tests: int) -> list[Variant]:
    """The bare and the lean replay of `replaybound.py`, in our workload's folder."""
    variants = []
    for bound in ("bare", "lean"):
        env = {
            **ours.env,
            "BENCH_BOUND": bound,
            "PYTHONPATH": os.pathsep.join((str(BENCH_DIR), str(BENCH_DIR.parent))),
        }
        argv = pytest_argv(dev_python(), "-p", "no:llmeval", "-p", "replaybound")
        variants.append(Variant(bound, argv, ours.cwd, env, expect_text=f"{tests} passed"))
    return variants


def _build_replays(
    ctx: Context, tools: list[str], tests: int
) -> dict[tuple[str, str, str], dict[str, Any]]:
    stamps: dict[tuple[str, str, str], dict[str, Any]] = {}
    missing = []
    for tool in tools:
        for provider in PROVIDERS:
            for client in CLIENT_MODES:
                directory = replay_dir(ctx.root, tool, provider, client)
                stamp = read_stamp(directory, replay_params(tool, provider, client, tests))
                if stamp is None:
                    missing.append((tool, provider, client))
                else:
                    stamps[(tool, provider, client)] = stamp
    if missing:
        with fake_provider(0.0) as url:
            for tool, provider, client in missing:
                python = peer_python() if tool == "vcr" else dev_python()
                stamps[(tool, provider, client)] = build_replay(
                    replay_dir(ctx.root, tool, provider, client),
                    tool=tool,
                    provider=provider,
                    client=client,
                    tests=tests,
                    url=url,
                    python=python,
                )
    return stamps


# -- 2b. recording --------------------------------------------------------------------


def bench_record(ctx: Context) -> dict[str, Any]:
    """Recording one call per test into a fresh cassette each: ours vs pytest-recording
    vs the same calls live without recording (the floor), against the fake provider."""
    tests = ctx.sizes.replay_tests
    tools = ["ours", "floor"] + (["vcr"] if ctx.peer_ok("pytest-recording") else [])
    figures: dict[str, Any] = {"tests": tests, "groups": {}}
    with fake_provider(0.0) as url:
        for provider in PROVIDERS:
            label = f"record-{provider}"
            variants = []
            for tool in ("ours", "vcr", "floor"):
                if tool not in tools:
                    continue
                directory = record_dir(ctx.root, tool, provider)
                build_record(directory, tool=tool, provider=provider, tests=tests)
                options = {
                    "ours": ["--llmeval-record=all"],
                    "vcr": ["--record-mode=all"],
                    "floor": [],
                }[tool]
                python = peer_python() if tool == "vcr" else dev_python()
                command = " ".join(str(part) for part in pytest_argv(python, *options))
                variants.append(
                    Variant(
                        tool,
                        # every run writes every cassette anew: none is there to merge with
                        ["sh", "-c", f"rm -rf cassettes && exec {command}"],
                        directory,
                        clean_env(BENCH_BASE_URL=url),
                        expect_text=f"{tests} passed",
                    )
                )
            variants[1:1] = ours_at_revision(ctx, variants[0])
            alternate(
                label, variants, rounds=ctx.rounds("record"), warmup=ctx.sizes.warmup["record"]
            )
            medians = {variant.name: variant.median for variant in variants}
            cpu = {variant.name: variant.cpu_median for variant in variants}
            floor = medians["floor"]
            group: dict[str, Any] = {
                "medians_s": medians,
                "cpu_medians_s": cpu,
                "runs_s": {variant.name: variant.seconds for variant in variants},
                "ratio_to_floor": {name: _ratio(value, floor) for name, value in medians.items()},
                "per_call_ms": {
                    name: (value - floor) / tests * 1000 for name, value in medians.items()
                },
            }
            figures["groups"][provider] = group
            if "vcr" in medians:
                ours, vcr = medians["ours"], medians["vcr"]
                ctx.targets.append(
                    Target(
                        "record",
                        f"{provider}: ours / pytest-recording",
                        f"{_ratio(ours, vcr):.3f}x ({ours:.2f} s against {vcr:.2f} s; "
                        f"{group['per_call_ms']['ours']:+.2f} ms/call over live)",
                        "<= 1.00x",
                        ours <= vcr,
                    )
                )
            print(
                f"{label}: "
                + ", ".join(
                    f"{name} {value:.2f} s ({group['per_call_ms'][name]:+.2f} ms/call over live, "
                    f"cpu {cpu[name]:.2f} s)"
                    for name, value in medians.items()
                )
            )
    return figures


# -- 3. live concurrency -------------------------------------------------------------

#: name -> (concurrency, factory(ctx, url, directory) -> Variant, or a note saying why not).
LiveFactory = Callable[[Context, str, Path], "Variant | str"]


def _ours_live(*options: str, needs: str | None = None, style: str = "ours") -> LiveFactory:
    def make(ctx: Context, url: str, directory: Path) -> Variant | str:
        if needs is not None and not has_option(dev_python(), needs):
            return f"{needs} is not in `pytest --help` (not implemented yet)"
        argv = pytest_argv(dev_python(), "--llmeval-record=all", *options)
        return Variant(
            "",
            argv,
            directory / style,
            clean_env(BENCH_BASE_URL=url),
            expect_text=f"{ctx.sizes.live_cases} passed",
        )

    return make


def _plain_live(*options: str) -> LiveFactory:
    """The same calls from tests without the marker: pytest, xdist and the SDK alone."""

    def make(ctx: Context, url: str, directory: Path) -> Variant | str:
        argv = pytest_argv(dev_python(), *options)
        return Variant(
            "",
            argv,
            directory / "plain",
            clean_env(BENCH_BASE_URL=url),
            expect_text=f"{ctx.sizes.live_cases} passed",
        )

    return make


def _promptfoo_live(jobs: int) -> LiveFactory:
    def make(ctx: Context, url: str, directory: Path) -> Variant | str:
        binary, note = ensure_promptfoo()
        if binary is None:
            return note
        if note not in ctx.notes:
            ctx.notes.append(note)
        config = write_promptfoo_config(directory / "promptfoo", ctx.sizes.live_cases, url)
        argv: list[str | Path] = [
            binary,
            "eval",
            "-c",
            config,
            "-j",
            str(jobs),
            "--no-cache",
            "--no-write",
            "--no-table",
            "--no-progress-bar",
        ]
        return Variant(
            "", argv, config.parent, promptfoo_env(), expect_text=f"{ctx.sizes.live_cases} passed"
        )

    return make


LIVE_VARIANTS: dict[str, tuple[int, LiveFactory]] = {
    "plain-serial": (1, _plain_live()),
    "plain-n4": (4, _plain_live("-n", "4")),
    "ours-serial": (1, _ours_live()),
    "ours-n4": (4, _ours_live("-n", "4")),
    # --llmeval-concurrency overlaps async llm_eval tests only: measured on async tests.
    "async-serial": (1, _ours_live(style="async")),
    "async-concurrency4": (
        4,
        _ours_live("--llmeval-concurrency=4", needs="--llmeval-concurrency", style="async"),
    ),
    "async-concurrency16": (
        16,
        _ours_live("--llmeval-concurrency=16", needs="--llmeval-concurrency", style="async"),
    ),
    "promptfoo-j4": (4, _promptfoo_live(4)),
    "promptfoo-j16": (16, _promptfoo_live(16)),
}


def bench_live(ctx: Context) -> dict[str, Any]:
    """Live calls against the fake provider with 0.2 s latency, at several concurrencies."""
    cases = ctx.sizes.live_cases
    directory = ctx.root / "live"
    for style in LIVE_STYLES:
        build_live(directory / style, cases, style=style)
    figures: dict[str, Any] = {"cases": cases, "latency_s": LIVE_LATENCY_S, "variants": {}}
    with fake_provider(LIVE_LATENCY_S) as url:
        variants, concurrency = [], {}
        for name, (jobs, factory) in LIVE_VARIANTS.items():
            made = factory(ctx, url, directory)
            if isinstance(made, str):
                ctx.notes.append(f"live variant {name} skipped: {made}")
                figures["variants"][name] = {"skipped": made}
                continue
            made.name = name
            variants.append(made)
            concurrency[name] = jobs
        alternate("live", variants, rounds=ctx.rounds("live"), warmup=ctx.sizes.warmup["live"])
        ours = [variant for variant in variants if variant.name == "ours-serial"]
        if ctx.profile and ours:
            _profile(ctx, "live-serial", ours[0])
    for variant in variants:
        bound = cases * LIVE_LATENCY_S / concurrency[variant.name]
        figures["variants"][variant.name] = {
            "concurrency": concurrency[variant.name],
            "median_s": variant.median,
            "cpu_median_s": variant.cpu_median,
            "runs_s": variant.seconds,
            "bound_s": bound,
            "ratio_to_bound": _ratio(variant.median, bound),
        }
        print(
            f"live {variant.name}: {variant.median:.2f} s (cpu {variant.cpu_median:.2f} s, "
            f"bound {bound:.2f} s)"
        )
    for name in ("ours-n4", "async-concurrency4"):
        data = figures["variants"].get(name, {})
        if "median_s" in data:
            met = None if ctx.quick else data["median_s"] <= 6.0
            ctx.targets.append(
                Target(
                    "live",
                    f"{cases} live cases at concurrency 4 ({name})",
                    _seconds(data["median_s"]),
                    "<= 6.0 s (100 cases)",
                    met,
                    "not judged with --quick (fewer cases)" if ctx.quick else "",
                )
            )
    return figures


# -- 4. scale ------------------------------------------------------------------------


def bench_scale(ctx: Context) -> dict[str, Any]:
    """10,000 replayed cases with reports on: session time, plugin's share, peak RSS."""
    cases = ctx.sizes.scale_cases
    directory, floor_dir = ctx.root / "scale", ctx.root / "scale-floor"
    stamp = read_stamp(directory, scale_params(cases))
    floor_stamp = read_stamp(floor_dir, scale_params(cases, floor=True))
    if stamp is None or floor_stamp is None:
        with fake_provider(0.0) as url:
            if stamp is None:
                stamp = build_scale(directory, cases=cases, url=url, python=dev_python())
            if floor_stamp is None:
                floor_stamp = build_scale(
                    floor_dir, cases=cases, url=url, python=dev_python(), floor=True
                )
    cases = int(stamp["cases"])
    out = ctx.root / "scale-out"
    out.mkdir(parents=True, exist_ok=True)
    present: list[str] = []
    missing: list[str] = []
    report_options: list[str] = []
    for spellings, filename in REPORT_OPTIONS:
        listed = [flag for flag in spellings if has_option(dev_python(), flag)]
        if listed:
            present.append(listed[0])
            report_options.append(f"{listed[0]}={out / filename}")
        else:
            missing.append(spellings[0])
    if missing:
        ctx.notes.append(f"scale: report options missing from `pytest --help`: {missing}")
    junit = [option for option in report_options if option.startswith("--junit")]
    timings = {name: out / f"timings-{name}.json" for name in ("reports", "no-reports", "floor")}
    variants = []
    for name, where, options in (
        ("reports", directory, ["--llmeval-record=none", *report_options]),
        ("no-reports", directory, ["--llmeval-record=none"]),
        ("floor", floor_dir, junit),
    ):
        env = clean_env(
            BENCH_BASE_URL=str(stamp["url"]),
            PYTHONPATH=os.pathsep.join((str(BENCH_DIR), str(BENCH_DIR.parent))),
            BENCH_HOOK_TIMINGS=str(timings[name]),
        )
        argv = pytest_argv(dev_python(), "-p", "hooktimer", *options)
        variants.append(Variant(name, argv, where, env, expect_text=f"{cases} passed"))
    per_run: dict[str, list[dict[str, float]]] = {name: [] for name in timings}

    def collect(variant: Variant, result: RunResult) -> None:
        raw = json.loads(timings[variant.name].read_text())
        per_run[variant.name].append(_hook_summary(raw, result.seconds))
        timings[variant.name].unlink()

    alternate(
        "scale",
        variants,
        rounds=ctx.rounds("scale"),
        warmup=ctx.sizes.warmup["scale"],
        after=collect,
    )
    figures: dict[str, Any] = {
        "cases": cases,
        "report_options": present,
        "missing_report_options": missing,
        "variants": {},
    }
    for variant in variants:
        rows = per_run[variant.name]
        summary = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        figures["variants"][variant.name] = {
            "median_s": variant.median,
            "cpu_median_s": variant.cpu_median,
            "runs_s": variant.seconds,
            "peak_rss_mb": variant.peak_rss_mb,
            **{f"median_{key}": value for key, value in summary.items()},
        }
        print(
            f"scale {variant.name}: {variant.median:.2f} s (cpu {variant.cpu_median:.2f} s), "
            f"plugin sessionfinish+summary {summary['finish_summary_s']:.3f} s "
            f"({summary['finish_summary_share'] * 100:.2f}%), "
            f"peak RSS {variant.peak_rss_mb:.0f} MB"
        )
    data = figures["variants"]["reports"]
    share = data["median_finish_summary_share"]
    ctx.targets.append(
        Target(
            "scale",
            f"{cases} cases: plugin sessionfinish + terminal summary / session",
            f"{share * 100:.2f}% ({data['median_finish_summary_s']:.2f} s of "
            f"{data['median_s']:.1f} s)",
            "<= 5%",
            share <= 0.05,
        )
    )
    rss = data["peak_rss_mb"]
    floor_rss = figures["variants"]["floor"]["peak_rss_mb"]
    ctx.targets.append(
        Target(
            "scale",
            f"{cases} cases: peak RSS with reports",
            f"{rss:.0f} MB (floor {floor_rss:.0f} MB)",
            "<= 300 MB",
            None if ctx.quick else rss <= 300,
            "not judged with --quick" if ctx.quick else "",
        )
    )
    if ctx.profile:
        _profile(ctx, "scale-reports", variants[0])
        _memory_profile(ctx, "scale-reports", variants[0])
    return figures


def _memory_profile(ctx: Context, label: str, variant: Variant) -> None:
    """Run a variant with `-p memtrace`: live objects by type after the last test."""
    profiles = WORK / "profiles" / ("quick" if ctx.quick else "full")
    profiles.mkdir(parents=True, exist_ok=True)
    target = profiles / f"{label}-memory.txt"
    python, _, *rest = variant.argv
    env = {**variant.env, "BENCH_MEMTRACE": str(target)}
    print(f"  [memory] {label} ({variant.name}) ...", flush=True)
    log = profiles / f"{label}-memory.log"
    result = run_timed([python, "-m", *rest, "-p", "memtrace"], cwd=variant.cwd, env=env, log=log)
    if result.returncode != 0 or not target.exists():
        ctx.notes.append(f"memory profile of {label} failed (log {log})")
        return
    print(target.read_text())


def _hook_summary(raw: dict[str, list[float]], wall: float) -> dict[str, float]:
    def total(owner: str, hooks: tuple[str, ...]) -> float:
        return sum(
            seconds
            for key, (seconds, _) in raw.items()
            if key.startswith(owner) and key.rsplit("::", 1)[1] in hooks
        )

    finish = total("pytest_llmeval", ("pytest_sessionfinish", "pytest_terminal_summary"))
    collect = total("pytest_llmeval", ("pytest_runtest_logreport",))
    everything = sum(sec for key, (sec, _) in raw.items() if key.startswith("pytest_llmeval"))
    junit = total("_pytest.junitxml", ("pytest_sessionfinish",))
    return {
        "wall_s": wall,
        "finish_summary_s": finish,
        "finish_summary_share": finish / wall,
        "logreport_s": collect,
        "plain_hooks_s": everything,
        "junit_sessionfinish_s": junit,
    }


# -- profiling -----------------------------------------------------------------------


def _profile(ctx: Context, label: str, variant: Variant, top: int = 25) -> None:
    """Run one variant under pyinstrument; write the JSON profile and a text summary of
    what the plugin's own frames cost to benchmarks/.work/profiles/."""
    tools = ensure_tools()
    if tools is None:
        ctx.notes.append("pyinstrument could not be installed: no profile taken")
        return
    profiles = WORK / "profiles" / ("quick" if ctx.quick else "full")
    profiles.mkdir(parents=True, exist_ok=True)
    json_path = profiles / f"{label}.json"
    python, _, *rest = variant.argv
    argv = [
        python, "-m", "pyinstrument", "-i", "0.0005", "-r", "json",
        "-p", "processor_options.filter_threshold=0", "-o", json_path, "-m", *rest,
    ]  # fmt: skip
    env = dict(variant.env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tools), env.get("PYTHONPATH")) if p)
    print(f"  [profile] {label} ({variant.name}) ...", flush=True)
    log = profiles / f"{label}.log"
    result = run_timed(argv, cwd=variant.cwd, env=env, log=log)
    if result.returncode != 0 or not json_path.exists():
        ctx.notes.append(f"profile of {label} failed (log {log})")
        return
    text = profile_summary(json.loads(json_path.read_text()), top)
    (profiles / f"{label}.txt").write_text(text)
    print(text)


def profile_summary(profile: dict[str, Any], top: int = 25, depth: int = 7) -> str:
    """The plugin's share of a pyinstrument profile.

    A frame in pytest_llmeval whose callers are not is an entry into the plugin; its
    inclusive time (with the pydantic, genai_prices... calls it makes) is the plugin's.
    Entries are merged into one call tree (same path of functions = same node), printed
    down to `depth` levels for nodes of at least 0.3% of the run; then the self time
    inside those subtrees, per function, says where that time goes.
    """
    tree: dict[str, Any] = {"time": 0.0, "children": {}}
    inside: dict[str, float] = {}

    def label(node: dict[str, Any], parent: str) -> str:
        if node["function"] == "[self]":
            return parent
        path = node["file_path"].split("site-packages/")[-1]
        path = path.replace(str(BENCH_DIR.parent) + "/", "")
        return f"{node['function']}  {path}:{node['line_no']}"

    def walk(node: dict[str, Any], parent: str, merged: dict[str, Any] | None) -> None:
        name = label(node, parent)
        ours = "pytest_llmeval" in node["file_path"]
        if merged is None and ours:
            merged = tree
        if merged is not None and node["function"] != "[self]":
            merged = merged["children"].setdefault(name, {"time": 0.0, "children": {}})
            merged["time"] += node["time"]
        children = node.get("children", [])
        if merged is not None:
            own = node["time"] - sum(child["time"] for child in children)
            inside[name] = inside.get(name, 0.0) + own
        for child in children:
            walk(child, name, merged)

    root = profile["root_frame"]
    walk(root, "", None)
    total = root["time"] or 1.0
    plugin = sum(child["time"] for child in tree["children"].values())
    share = plugin / total * 100
    lines = [
        f"sampled {root['time']:.2f} s; in pytest_llmeval frames: {plugin:.3f} s ({share:.1f}%)",
        "",
        "call tree of the plugin's frames (inclusive time, merged over calls):",
    ]

    def emit(node: dict[str, Any], level: int) -> None:
        items = sorted(node["children"].items(), key=lambda item: -item[1]["time"])
        for name, child in items:
            if child["time"] / total < 0.003:
                continue
            lines.append(
                f"  {child['time']:7.3f} s {child['time'] / total * 100:5.1f}%  "
                f"{'  ' * level}{name}"
            )
            if level + 1 < depth:
                emit(child, level + 1)

    emit(tree, 0)
    lines += ["", "self time inside the plugin's frames (any package), per function:"]
    for name, seconds in sorted(inside.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {seconds:7.3f} s {seconds / total * 100:5.1f}%  {name}")
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------------

BENCHMARKS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "inert": bench_inert,
    "replay": bench_replay,
    "record": bench_record,
    "live": bench_live,
    "scale": bench_scale,
}


def _targets_table(targets: list[Target]) -> str:
    rows = ["| benchmark | what | measured | target | met |", "|---|---|---|---|---|"]
    for target in targets:
        met = {True: "yes", False: "**no**", None: "n/a"}[target.met]
        note = f" ({target.note})" if target.note else ""
        rows.append(
            f"| {target.benchmark} | {target.what} | {target.measured} | "
            f"{target.limit} | {met}{note} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Smoke mode: smaller workloads, one round (< 3 minutes)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"Run only these benchmarks ({', '.join(BENCHMARKS)}); repeatable or comma-separated",
    )
    parser.add_argument("--rounds", type=int, default=None, help="Override the rounds")
    parser.add_argument(
        "--compare",
        metavar="REF",
        default=None,
        help="Also run our plugin at git revision REF in the replay and record benchmarks",
    )
    parser.add_argument(
        "--bounds",
        action="store_true",
        help="Also run the replay groups with replaybound.py's bare and lean replays "
        "(what replaying itself costs, and the plugin's records without its plumbing)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Also run our main variant of each benchmark under pyinstrument",
    )
    args = parser.parse_args(argv)
    selected = [name for item in args.only for name in item.split(",") if name] or list(BENCHMARKS)
    unknown = [name for name in selected if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    mode = "quick" if args.quick else "full"
    ctx = Context(
        quick=args.quick,
        sizes=QUICK if args.quick else FULL,
        root=WORK / mode,
        profile=args.profile,
        rounds_override=args.rounds,
        compare=export_revision(args.compare) if args.compare else None,
        bounds=args.bounds,
    )
    machine = machine_description()
    print(
        f"machine: {machine['nproc']} cores, {machine['cpu']}, Python {machine['python']}; "
        f"{machine['packages']}"
    )
    started = time.perf_counter()
    results: dict[str, Any] = {"mode": mode, "machine": machine, "benchmarks": {}}
    for name in selected:
        print(f"\n== {name} ==", flush=True)
        try:
            results["benchmarks"][name] = BENCHMARKS[name](ctx)
        except BenchmarkError as error:
            print(f"{name} FAILED: {error}", file=sys.stderr)
            ctx.notes.append(f"{name} failed: {str(error).splitlines()[0]}")
    elapsed = time.perf_counter() - started
    results["targets"] = [target.__dict__ for target in ctx.targets]
    results["notes"] = ctx.notes
    results["elapsed_s"] = elapsed
    table = _targets_table(ctx.targets)
    suffix = "" if set(selected) == set(BENCHMARKS) else "-" + "-".join(selected)
    output = WORK / f"results-{mode}{suffix}.json"
    output.write_text(json.dumps(results, indent=2, sort_keys=True, default=str))
    print(f"\n== targets ({mode}) ==\n{table}")
    for note in ctx.notes:
        print(f"note: {note}")
    print(f"\nfigures written to {output.relative_to(BENCH_DIR.parent)}; took {elapsed:.0f} s")
    failed = any(name not in results["benchmarks"] for name in selected)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
