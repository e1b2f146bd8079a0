"""Every option, ini key and environment variable, declared once, resolved once.

Each option has a command-line flag, an ini twin and an environment override.
Precedence, highest first (written here and nowhere else):

    command line  >  environment variable  >  ini file  >  built-in default

with one extra rule for the record mode: when the `CI` environment variable is set
and none of the three sources names a mode, the default is `none` (replay only),
so CI never spends money or needs keys by accident.

Paths given in the ini file are relative to the rootdir (like pytest's own ini
paths); paths given on the command line or in the environment are relative to the
directory pytest was started from.

This module imports only the standard library and pytest: it is loaded in every
pytest session of everyone who installed the plugin.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.core.vocabulary import RecordMode
from pytest_llmeval.items.option_types import Option
from pytest_llmeval.items.options import DEFAULT_BASELINE, OPTIONS, OPTIONS_BY_DEST, PATH_OPTIONS


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one pytest session."""

    record_mode: RecordMode = "once"
    repeat: int | None = None
    concurrency: int = 1
    concurrency_safe_fixtures: tuple[str, ...] = ()
    cassette_dir: Path | None = None
    judge_model: str = "openai:gpt-4.1-mini"
    judge_fallback: tuple[str, ...] = ()
    judge_retries: int = 2
    judge_base_url: str | None = None
    judge_min_kappa: float | None = None
    rejudge: str | None = None
    judge_probes: tuple[str, ...] = ()
    judge_probe_samples: int = 3
    cache: bool = False
    max_cost: float | None = None
    max_cost_strict: bool = False
    trace: Path | None = None
    otel: bool = False
    otel_content: bool = False
    redact: tuple[str, ...] = ()
    match_ignore: tuple[str, ...] = ()
    prices: tuple[str, ...] = ()
    free_hosts: tuple[str, ...] = ()
    report: Path | None = None
    html: Path | None = None
    summary_md: Path | None = None
    baseline: Path | None = None
    update_baseline: bool = False
    require_baseline: bool = False
    #: Where the baseline path came from (a flag, an ini key, an environment variable);
    #: None for the default, the only baseline whose absence is not an error by itself.
    baseline_source: str | None = None
    tolerance: float = 0.02
    alpha: float = 0.05
    cost_tolerance: float | None = None
    latency_tolerance: float | None = None
    fail_on: tuple[str, ...] = ("score",)
    gate: str = "auto"
    gate_correction: str = "holm"
    cluster_key: str | None = None
    variant_margin: float = 0.05
    rootdir: Path = field(default_factory=Path.cwd)
    is_ci: bool = False
    verbosity: int = 0  # pytest's -v count (-q counts down): how much a miss shows


settings_key = pytest.StashKey[Settings]()


def add_options(parser: pytest.Parser) -> None:
    """Declare the `--llmeval-*` option group and its ini twins."""
    group = parser.getgroup("llmeval", "LLM evaluations (pytest-llm-eval)")
    for option in OPTIONS:
        if option.is_flag:
            group.addoption(
                option.flag,
                action="store_true",
                default=None,
                dest=_cli_dest(option),
                help=option.help,
            )
        elif option.linelist:
            group.addoption(
                option.flag,
                action="append",
                default=None,
                dest=_cli_dest(option),
                metavar=option.metavar,
                help=option.help,
            )
        else:
            group.addoption(
                option.flag,
                default=None,
                dest=_cli_dest(option),
                metavar=option.metavar,
                help=option.help,
            )
        help_text = f"{option.help} (twin of {option.flag})"
        if option.linelist:
            parser.addini(option.ini, help_text, type="linelist", default=[])
        else:
            parser.addini(option.ini, help_text, type="string", default=None)


def _raw_value(config: pytest.Config, option: Option, environ: dict[str, str]) -> tuple[Any, str]:
    """Return (raw value, where it came from) by the precedence in the module docstring."""
    cli = config.getoption(_cli_dest(option))
    if cli is not None:
        return cli, option.flag
    if option.env in environ:
        text = environ[option.env]
        where = f"environment variable {option.env}"
        return (text.splitlines() if option.linelist else text), where
    ini = config.getini(option.ini)
    if ini not in (None, [], ""):
        return ini, f"ini option {option.ini}"
    return None, ""


def _cli_dest(option: Option) -> str:
    return f"llmeval_{option.dest}"


def resolve_settings(config: pytest.Config, environ: dict[str, str] | None = None) -> Settings:
    """Resolve every option once; a bad value is a UsageError naming its source."""
    env = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    from_ini: set[str] = set()
    for option in OPTIONS:
        raw, source = _raw_value(config, option, env)
        if raw is None:
            continue
        if source.startswith("ini"):
            from_ini.add(option.dest)
        if option.dest == "baseline":
            values["baseline_source"] = source
        try:
            if option.is_flag and isinstance(raw, bool):
                value: Any = raw
            elif option.linelist:
                items = [raw] if isinstance(raw, str) else list(raw)
                value = tuple(option.parse(item) for item in items if str(item).strip())
            else:
                value = option.parse(raw)
        except ValueError as error:
            raise pytest.UsageError(
                f"pytest-llm-eval: bad value for {source}: {error}.\n  {option.flag}: {option.help}"
            ) from None
        values[option.dest] = value
    if values.get("max_cost_strict") and values.get("max_cost") is None:
        strict, budget = OPTIONS_BY_DEST["max_cost_strict"], OPTIONS_BY_DEST["max_cost"]
        raise pytest.UsageError(
            f"pytest-llm-eval: {strict.flag} refuses the live calls the session budget cannot "
            f"price, but no budget is set: add {budget.flag}=USD (ini {budget.ini}), or drop "
            f"{strict.flag}."
        )
    if values.get("otel_content") and not values.get("otel"):
        content, otel = OPTIONS_BY_DEST["otel_content"], OPTIONS_BY_DEST["otel"]
        raise pytest.UsageError(
            f"pytest-llm-eval: {content.flag} puts prompts and answers on the OpenTelemetry "
            f"spans, but the export is off: add {otel.flag} (ini {otel.ini}), or drop "
            f"{content.flag}."
        )
    if values.get("otel"):
        # only now, and without importing it: a session without the export loads none of it
        from pytest_llmeval.reporting.otel import missing_otel

        missing = missing_otel()
        if missing is not None:
            raise pytest.UsageError(f"pytest-llm-eval: {OPTIONS_BY_DEST['otel'].flag}: {missing}")
    is_ci = bool(env.get("CI", "").strip())
    if "record_mode" not in values:
        values["record_mode"] = "none" if is_ci else "once"
    rootdir = Path(config.rootpath)
    invocation_dir = Path(config.invocation_params.dir)
    for dest in PATH_OPTIONS:
        if dest in values:
            base = rootdir if dest in from_ini else invocation_dir
            values[dest] = base / values[dest]
    values.setdefault("baseline", rootdir / DEFAULT_BASELINE)
    verbosity = int(config.getoption("verbose", 0) or 0)
    return Settings(rootdir=rootdir, is_ci=is_ci, verbosity=verbosity, **values)
