"""The measuring side of the benchmarks: subprocess timing, alternation, venvs, fake server.

Nothing here knows a workload; `run.py` builds workloads (see `workloads.py`) and hands
this module lists of named variants to run against each other.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
WORK = BENCH_DIR / ".work"
PEER_VENV = WORK / "venv-peers"
TOOLS_DIR = WORK / "tools"
PROMPTFOO_DIR = WORK / "promptfoo"
LOG_DIR = WORK / "logs"

#: Environment variables that would change what a pytest session does; never inherited.
_SCRUBBED_ENV_PREFIXES = ("LLMEVAL_", "PYTEST_", "OPENAI_", "ANTHROPIC_", "PROMPTFOO_")
_SCRUBBED_ENV = {"CI", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "VIRTUAL_ENV"}


def dev_python() -> Path:
    """The project's dev virtualenv interpreter (the plugin installed editable)."""
    candidate = ROOT / ".venv" / "bin" / "python"
    return candidate if candidate.exists() else Path(sys.executable)


def peer_python() -> Path:
    """The interpreter of the throwaway virtualenv holding the peers."""
    return PEER_VENV / "bin" / "python"


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment minus anything that steers pytest, the SDKs or the plugin."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _SCRUBBED_ENV and not name.startswith(_SCRUBBED_ENV_PREFIXES)
    }
    env["PYTHONHASHSEED"] = "0"
    # this checkout's package first: the dev venv's editable install may point at another
    # worktree, and the figures must be of the code beside these benchmarks
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


# -- one timed subprocess ------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """One finished subprocess: wall time, exit code, peak RSS of the process tree."""

    seconds: float
    returncode: int
    max_rss_mb: float
    log: Path
    cpu_seconds: float = 0.0  # user + system time of the process tree

    def tail(self, lines: int = 25) -> str:
        """The end of the run's combined output, for error messages."""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def run_timed(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout: float = 900.0,
) -> RunResult:
    """Run argv to completion, timing it from fork to reap.

    The peak RSS comes from wait4()'s rusage of this child, which on Linux is the
    largest resident set of the child and of the descendants it waited for (the
    per-process form of `resource.getrusage(RUSAGE_CHILDREN)`).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(part) for part in argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, _kill_group, (process.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return RunResult(seconds, process.returncode, usage.ru_maxrss / 1024.0, log, cpu)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- variants run against each other ------------------------------------------------


@dataclass
class Variant:
    """A named way to run a workload; `ok` checks a run's output beyond its exit code."""

    name: str
    argv: list[str | Path]
    cwd: Path
    env: dict[str, str]
    expect_rc: tuple[int, ...] = (0,)
    expect_text: str | None = None
    timeout: float = 900.0
    runs: list[RunResult] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        """Wall times of the timed runs."""
        return [run.seconds for run in self.runs]

    @property
    def median(self) -> float:
        """Median wall time of the timed runs."""
        return statistics.median(self.seconds)

    @property
    def cpu_seconds(self) -> list[float]:
        """CPU times (user + system) of the timed runs."""
        return [run.cpu_seconds for run in self.runs]

    @property
    def cpu_median(self) -> float:
        """Median CPU time of the timed runs: steadier than wall time on a shared machine."""
        return statistics.median(self.cpu_seconds)

    @property
    def peak_rss_mb(self) -> float:
        """The largest peak RSS seen over the timed runs."""
        return max(run.max_rss_mb for run in self.runs)


class BenchmarkError(RuntimeError):
    """A variant did not run as it should (its output names the problem)."""


def run_once(variant: Variant, log: Path) -> RunResult:
    """Run a variant once and check it did what it should."""
    result = run_timed(
        variant.argv, cwd=variant.cwd, env=variant.env, log=log, timeout=variant.timeout
    )
    if result.returncode not in variant.expect_rc:
        raise BenchmarkError(
            f"variant {variant.name!r} exited {result.returncode} (expected {variant.expect_rc});"
            f" log {log}:\n{result.tail()}"
        )
    if variant.expect_text is not None:
        text = log.read_text(errors="replace")
        if variant.expect_text not in text:
            raise BenchmarkError(
                f"variant {variant.name!r}: {variant.expect_text!r} not in its output; "
                f"log {log}:\n{result.tail()}"
            )
    return result


def alternate(
    label: str,
    variants: Sequence[Variant],
    *,
    rounds: int,
    warmup: int = 0,
    after: Callable[[Variant, RunResult], None] | None = None,
) -> list[Variant]:
    """Run the variants round-robin, rotating the order each round (ABC, BCA, CAB...).

    Each variant sits in each position equally often, so slow drift of the machine
    (thermal, page cache, a neighbour's load) spreads over all of them alike.
    """
    count = len(variants)
    for index in range(warmup):
        for variant in variants:
            print(f"  [{label}] warm-up {variant.name}", flush=True)
            run_once(variant, LOG_DIR / label / f"{variant.name}.warmup{index}.log")
    for round_index in range(rounds):
        order = [variants[(round_index + offset) % count] for offset in range(count)]
        for variant in order:
            log = LOG_DIR / label / f"{variant.name}.{round_index}.log"
            result = run_once(variant, log)
            variant.runs.append(result)
            if after is not None:
                after(variant, result)
            print(
                f"  [{label}] round {round_index + 1}/{rounds} {variant.name}: "
                f"{result.seconds:.3f} s (cpu {result.cpu_seconds:.3f} s, "
                f"load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    return list(variants)


# -- environment: peers, tools, the fake provider -----------------------------------


def installed_versions(python: Path, names: Sequence[str]) -> dict[str, str | None]:
    """Distribution versions as `python` sees them (None when not installed)."""
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try: out[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError: out[name] = None\n"
        "print(json.dumps(out))"
    )
    completed = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=True
    )
    return dict(json.loads(completed.stdout))


def _pip_install(python: Path, requirements: Sequence[str], log: Path) -> bool:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        completed = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                *requirements,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=1200,
        )
    return completed.returncode == 0


def ensure_peer_venv() -> dict[str, str]:
    """Create benchmarks/.work/venv-peers with the dev venv's pytest and SDK versions,
    plus pytest-recording and vcrpy>=8.2; returns {peer: note} for peers that failed."""
    notes: dict[str, str] = {}
    base = ["pytest", "pytest-xdist", "openai", "anthropic", "httpx2"]
    pins = installed_versions(dev_python(), base)
    log = LOG_DIR / "venv-peers-install.log"
    if not peer_python().exists():
        print(f"creating {PEER_VENV} ...", flush=True)
        subprocess.run([str(dev_python_base()), "-m", "venv", str(PEER_VENV)], check=True)
    have = installed_versions(peer_python(), [*base, "pytest-recording", "vcrpy"])
    wanted = [f"{name}=={version}" for name, version in pins.items() if version]
    if any(have.get(name) != version for name, version in pins.items() if version):
        print("installing the peer venv's base packages ...", flush=True)
        if not _pip_install(peer_python(), wanted, log):
            notes["venv-peers"] = f"pip install {' '.join(wanted)} failed (see {log})"
            return notes
    if have.get("pytest-recording") is None or not _vcrpy_at_least(have.get("vcrpy"), (8, 2)):
        print("installing pytest-recording and vcrpy>=8.2 into the peer venv ...", flush=True)
        if not _pip_install(peer_python(), ["pytest-recording", "vcrpy>=8.2"], log):
            notes["pytest-recording"] = f"pip install pytest-recording vcrpy>=8.2 failed ({log})"
    return notes


def dev_python_base() -> Path:
    """The base interpreter of the dev virtualenv (to create sibling virtualenvs)."""
    completed = subprocess.run(
        [str(dev_python()), "-c", "import sys; print(sys._base_executable)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(completed.stdout.strip())


def _vcrpy_at_least(version: str | None, minimum: tuple[int, int]) -> bool:
    if not version:
        return False
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts) >= minimum


def ensure_tools() -> Path | None:
    """pyinstrument installed with `pip --target` into benchmarks/.work/tools (not the venv)."""
    if (TOOLS_DIR / "pyinstrument").is_dir():
        return TOOLS_DIR
    print("installing pyinstrument into benchmarks/.work/tools ...", flush=True)
    log = LOG_DIR / "tools-install.log"
    ok = _pip_install(dev_python(), ["--target", str(TOOLS_DIR), "pyinstrument"], log)
    return TOOLS_DIR if ok else None


def ensure_promptfoo() -> tuple[Path | None, str]:
    """promptfoo from npm into benchmarks/.work/promptfoo; (binary or None, note)."""
    binary = PROMPTFOO_DIR / "node_modules" / ".bin" / "promptfoo"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "node/npm not found on PATH: promptfoo skipped"
    if not binary.exists():
        print("npm install promptfoo into benchmarks/.work/promptfoo (one-time) ...", flush=True)
        PROMPTFOO_DIR.mkdir(parents=True, exist_ok=True)
        log = LOG_DIR / "promptfoo-install.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            with log.open("wb") as sink:
                completed = subprocess.run(
                    [npm, "install", "--no-audit", "--no-fund", "promptfoo"],
                    cwd=PROMPTFOO_DIR,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=900,
                )
        except subprocess.TimeoutExpired:
            return None, f"npm install promptfoo timed out after 900 s (log {log})"
        if completed.returncode != 0 or not binary.exists():
            return None, f"npm install promptfoo failed (exit {completed.returncode}, log {log})"
    version = (
        subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            env=promptfoo_env(),
            cwd=PROMPTFOO_DIR,
            timeout=120,
        )
        .stdout.strip()
        .splitlines()
    )
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    return binary, f"promptfoo {version[0] if version else '?'} on node {node_version.strip()}"


def promptfoo_env() -> dict[str, str]:
    """promptfoo without telemetry, update checks, sharing, or writes to the home folder."""
    return clean_env(
        PROMPTFOO_DISABLE_TELEMETRY="1",
        PROMPTFOO_DISABLE_UPDATE="1",
        PROMPTFOO_DISABLE_SHARING="1",
        PROMPTFOO_CONFIG_DIR=str(PROMPTFOO_DIR / "home"),
        PROMPTFOO_CACHE_ENABLED="false",
        NO_COLOR="1",
    )


_HELP_CACHE: dict[Path, str] = {}


def pytest_help(python: Path) -> str:
    """`pytest --help` of an interpreter, run where no project ini applies."""
    if python not in _HELP_CACHE:
        WORK.mkdir(parents=True, exist_ok=True)
        completed = subprocess.run(
            [str(python), "-m", "pytest", "--help"],
            cwd=WORK,
            env=clean_env(),
            capture_output=True,
            text=True,
        )
        _HELP_CACHE[python] = completed.stdout
    return _HELP_CACHE[python]


def has_option(python: Path, flag: str) -> bool:
    """Whether `pytest --help` lists the option (as `--flag` or `--flag=`)."""
    text = pytest_help(python)
    return any(
        token == flag or token.startswith(flag + "=") for token in text.replace(",", " ").split()
    )


@contextmanager
def fake_provider(latency: float = 0.0) -> Iterator[str]:
    """Run `python -m tests.fakeprovider` and yield its URL; stop it afterwards."""
    process = subprocess.Popen(
        [str(dev_python()), "-m", "tests.fakeprovider", "--port", "0", "--latency", str(latency)],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise BenchmarkError("the fake provider did not print its URL")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def machine_description() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python_version = subprocess.run(
        [str(dev_python()), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    pins = installed_versions(
        dev_python(), ["pytest", "pytest-xdist", "openai", "anthropic", "httpx2", "pydantic"]
    )
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "python": python_version,
        "os": f"{platform.system()} {platform.release()}",
        "memory_gb": f"{_memory_gb():.0f}",
        "packages": ", ".join(f"{name} {version}" for name, version in pins.items()),
    }


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def self_peak_rss_mb() -> float:
    """This process's own peak RSS (a sanity check that the harness itself is small)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
