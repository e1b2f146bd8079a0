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

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.vocabulary import RECORD_MODES, RecordMode

MARKER = "llm_eval"

MARKER_HELP = (
    "llm_eval(threshold=0.5, *, aggregate='mean', min_pass_rate=None, repeat=1, group=None, "
    "judge_model=None, budget_usd=None, max_latency_s=None, case_rule=None, pass_k=None, "
    "min_case_pass_rate=None, adaptive=None): an evaluation of LLM-backed code. "
    "The test's score (weighted mean, or min, of what it records with the llm_eval fixture) "
    "must be >= threshold. Reference: docs/reference.md."
)


@dataclass(frozen=True)
class Option:
    """One user-facing setting: its flag, ini key, environment variable and parser."""

    dest: str
    flag: str
    ini: str
    env: str
    help: str
    parse: Callable[[str], Any]
    default: Any = None
    is_flag: bool = False
    metavar: str | None = None
    linelist: bool = False


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"{text!r} is not one of: {', '.join(allowed)}")
        return value

    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"{value} must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{value} must be 0 or more")
    return value


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if math.isnan(value) or not low <= value <= high:
            raise ValueError(f"{text!r} must be between {low:g} and {high:g}")
        return value

    return parse


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true/false, 1/0, yes/no)")


def _text(text: str) -> str:
    value = str(text).strip()
    if not value:
        raise ValueError("an empty value is not allowed")
    return value


def _regex(text: str) -> str:
    value = _text(text)
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"{value!r} is not a valid regular expression ({error})") from None
    return value


def _judge_model(text: str) -> str:
    value = _text(text)
    provider, sep, model = value.partition(":")
    if not sep or not provider or not model:
        raise ValueError(f"{text!r} is not of the form provider:model (e.g. openai:gpt-4.1-mini)")
    return value


#: The kinds of regression --llmeval-fail-on can name (baseline.REGRESSION_KINDS).
FAIL_ON_KINDS = ("score", "cost", "latency")

DEFAULT_BASELINE = "llmeval-baseline.json"

#: The gate rules and corrections (decision.GATE_RULES, decision.CORRECTIONS).
GATE_RULES = ("auto", "statistical", "conservative")
GATE_CORRECTIONS = ("holm", "bh", "none")


def _fail_on(text: str) -> tuple[str, ...]:
    parts = [part.strip().lower() for part in str(text).split(",") if part.strip()]
    if parts == ["none"]:
        return ()
    unknown = [part for part in parts if part not in FAIL_ON_KINDS]
    if unknown or not parts:
        raise ValueError(
            f"{text!r} is not a comma-separated subset of {','.join(FAIL_ON_KINDS)} (or none)"
        )
    return tuple(kind for kind in FAIL_ON_KINDS if kind in parts)


OPTIONS: tuple[Option, ...] = (
    Option(
        "record_mode",
        "--llmeval-record",
        "llmeval_record_mode",
        "LLMEVAL_RECORD_MODE",
        "Cassette record mode: none (replay only, network blocked), once (record missing "
        "cassettes), new (also record unmatched requests), all (re-record everything). "
        "Default: once, or none when the CI environment variable is set.",
        _choice(*RECORD_MODES),
        metavar="MODE",
    ),
    Option(
        "repeat",
        "--llmeval-repeat",
        "llmeval_repeat",
        "LLMEVAL_REPEAT",
        "Run every llm_eval case N times (overrides the marker's repeat=).",
        _positive_int,
        metavar="N",
    ),
    Option(
        "concurrency",
        "--llmeval-concurrency",
        "llmeval_concurrency",
        "LLMEVAL_CONCURRENCY",
        "Experimental: run up to N async llm_eval tests (anyio, asyncio backend) at once on "
        "one event loop in each process; other tests run one at a time as usual. Default: 1.",
        _positive_int,
        default=1,
        metavar="N",
    ),
    Option(
        "concurrency_safe_fixtures",
        "--llmeval-concurrency-safe-fixture",
        "llmeval_concurrency_safe_fixtures",
        "LLMEVAL_CONCURRENCY_SAFE_FIXTURES",
        "With --llmeval-concurrency: a function-scoped fixture whose teardown keeps no "
        "per-test state, so tests using it may still overlap (one name per line).",
        _text,
        default=(),
        metavar="NAME",
        linelist=True,
    ),
    Option(
        "cassette_dir",
        "--llmeval-cassette-dir",
        "llmeval_cassette_dir",
        "LLMEVAL_CASSETTE_DIR",
        "Folder for cassettes. Default: cassettes/<module>/ beside each test file.",
        _text,
        metavar="DIR",
    ),
    Option(
        "judge_model",
        "--llmeval-judge-model",
        "llmeval_judge_model",
        "LLMEVAL_JUDGE_MODEL",
        "Default judge model as provider:model (the marker's judge_model= overrides it).",
        _judge_model,
        default="openai:gpt-4.1-mini",
        metavar="PROVIDER:MODEL",
    ),
    Option(
        "judge_fallback",
        "--llmeval-judge-fallback",
        "llmeval_judge_fallback",
        "LLMEVAL_JUDGE_FALLBACK",
        "Judge models (provider:model) tried in order when the judge model keeps failing.",
        _judge_model,
        default=(),
        metavar="PROVIDER:MODEL",
        linelist=True,
    ),
    Option(
        "judge_retries",
        "--llmeval-judge-retries",
        "llmeval_judge_retries",
        "LLMEVAL_JUDGE_RETRIES",
        "How many times the judge's SDK client retries 429/5xx responses (default 2).",
        _non_negative_int,
        default=2,
        metavar="N",
    ),
    Option(
        "judge_base_url",
        "--llmeval-judge-base-url",
        "llmeval_judge_base_url",
        "LLMEVAL_JUDGE_BASE_URL",
        "Base URL for the judge's SDK client (any OpenAI-compatible server: vLLM, Ollama, "
        "LiteLLM). Default: the SDK's own (OPENAI_BASE_URL / ANTHROPIC_BASE_URL).",
        _text,
        metavar="URL",
    ),
    Option(
        "rejudge",
        "--llmeval-rejudge",
        "llmeval_rejudge",
        "LLMEVAL_REJUDGE",
        "Re-judge a recorded run with another judge (provider:model): the app's calls replay "
        "from the cassettes, each judge call is made again with this model, recorded under "
        "cassettes/rejudge-<provider>-<model>/, and the two judges' agreement is reported.",
        _judge_model,
        metavar="PROVIDER:MODEL",
    ),
    Option(
        "judge_min_kappa",
        "--llmeval-judge-min-kappa",
        "llmeval_judge_min_kappa",
        "LLMEVAL_JUDGE_MIN_KAPPA",
        "Lowest Cohen's kappa between the judge and human labels that llm_eval.calibrate() "
        "accepts (its min_kappa= overrides it); below it the calibration test fails.",
        _number(-1.0, 1.0),
        metavar="KAPPA",
    ),
    Option(
        "cache",
        "--llmeval-cache",
        "llmeval_cache",
        "LLMEVAL_CACHE",
        "Reuse identical responses across tests from .llmeval_cache/ (local iteration aid).",
        _bool,
        default=False,
        is_flag=True,
    ),
    Option(
        "max_cost",
        "--llmeval-max-cost",
        "llmeval_max_cost",
        "LLMEVAL_MAX_COST",
        "Session budget in USD for live calls; once reached, further live calls fail fast.",
        _number(0.0, math.inf),
        metavar="USD",
    ),
    Option(
        "max_cost_strict",
        "--llmeval-max-cost-strict",
        "llmeval_max_cost_strict",
        "LLMEVAL_MAX_COST_STRICT",
        "Refuse, before it is sent, every live call the --llmeval-max-cost budget could not "
        "price (no known price, a chat stream without include_usage); without it such calls "
        "go out with a warning.",
        _bool,
        default=False,
        is_flag=True,
    ),
    Option(
        "trace",
        "--llmeval-trace",
        "llmeval_trace",
        "LLMEVAL_TRACE",
        "Write every model call of the session (redacted) to this JSONL file.",
        _text,
        metavar="PATH",
    ),
    Option(
        "redact",
        "--llmeval-redact",
        "llmeval_redact",
        "LLMEVAL_REDACT",
        "Extra regular expressions whose matches are redacted from cassettes and reports "
        "(ini: one per line; environment: separated by newlines).",
        _regex,
        default=(),
        metavar="REGEX",
        linelist=True,
    ),
    Option(
        "prices",
        "--llmeval-price",
        "llmeval_prices",
        "LLMEVAL_PRICES",
        "Price overrides in USD per million tokens, one per line: "
        "'provider:model = input / output [cache_read=X cache_write=Y]'.",
        _text,
        default=(),
        metavar="PRICE",
        linelist=True,
    ),
    Option(
        "free_hosts",
        "--llmeval-free-host",
        "llmeval_free_hosts",
        "LLMEVAL_FREE_HOSTS",
        "Hosts (host or host:port, e.g. a local model server) whose calls cost nothing, "
        "one per line; never assumed for any other host.",
        _text,
        default=(),
        metavar="HOST",
        linelist=True,
    ),
    Option(
        "match_ignore",
        "--llmeval-match-ignore",
        "llmeval_match_ignore",
        "LLMEVAL_MATCH_IGNORE",
        "JSON paths of the request body ignored when matching requests to recordings, "
        "e.g. metadata.user_id or messages[*].cache_control.",
        _text,
        default=(),
        metavar="PATH",
        linelist=True,
    ),
    Option(
        "otel",
        "--llmeval-otel",
        "llmeval_otel",
        "LLMEVAL_OTEL",
        "Export the session as OpenTelemetry traces (a span per test, a GenAI span per model "
        "call) through the exporter the OTEL_* environment variables configure (OTLP/HTTP "
        "by default). Needs pip install pytest-llm-eval[otel].",
        _bool,
        default=False,
        is_flag=True,
    ),
    Option(
        "otel_content",
        "--llmeval-otel-content",
        "llmeval_otel_content",
        "LLMEVAL_OTEL_CONTENT",
        "With --llmeval-otel: also put each call's prompt and answer (redacted) on its span.",
        _bool,
        default=False,
        is_flag=True,
    ),
    Option(
        "report",
        "--llmeval-report",
        "llmeval_report",
        "LLMEVAL_REPORT",
        "Write a JSON report (every eval result, the aggregates and the baseline verdict) to PATH.",
        _text,
        metavar="PATH",
    ),
    Option(
        "html",
        "--llmeval-html",
        "llmeval_html",
        "LLMEVAL_HTML",
        "Write a self-contained HTML report (summary, groups, charts, every case with its "
        "transcript) to PATH.",
        _text,
        metavar="PATH",
    ),
    Option(
        "baseline",
        "--llmeval-baseline",
        "llmeval_baseline",
        "LLMEVAL_BASELINE",
        "Baseline file the regression gate compares with. "
        "Default: llmeval-baseline.json in the rootdir.",
        _text,
        default=DEFAULT_BASELINE,
        metavar="PATH",
    ),
    Option(
        "update_baseline",
        "--llmeval-update-baseline",
        "llmeval_update_baseline",
        "LLMEVAL_UPDATE_BASELINE",
        "Write this session's results as the new baseline instead of comparing with it.",
        _bool,
        default=False,
        is_flag=True,
    ),
    Option(
        "require_baseline",
        "--llmeval-require-baseline",
        "llmeval_require_baseline",
        "LLMEVAL_REQUIRE_BASELINE",
        "Make a missing baseline file an error (exit status 4) instead of a note, so CI "
        "cannot pass without the gate. A path given with --llmeval-baseline (or its ini "
        "twin or environment variable) must exist either way.",
        _bool,
        default=False,
        is_flag=True,
    ),
    Option(
        "tolerance",
        "--llmeval-tolerance",
        "llmeval_tolerance",
        "LLMEVAL_TOLERANCE",
        "Smallest drop of a group's mean score that can count as a regression (default 0.02).",
        _number(0.0, 1.0),
        default=0.02,
        metavar="DROP",
    ),
    Option(
        "alpha",
        "--llmeval-alpha",
        "llmeval_alpha",
        "LLMEVAL_ALPHA",
        "Significance level of the paired test a drop must pass to count as a regression "
        "(default 0.05).",
        _number(0.0, 1.0),
        default=0.05,
        metavar="P",
    ),
    Option(
        "cost_tolerance",
        "--llmeval-cost-tolerance",
        "llmeval_cost_tolerance",
        "LLMEVAL_COST_TOLERANCE",
        "Allowed relative increase of a group's cost per case over the baseline, e.g. 0.2 "
        "for a 20 percent rise. Default: cost is not compared.",
        _number(0.0, math.inf),
        metavar="FRACTION",
    ),
    Option(
        "latency_tolerance",
        "--llmeval-latency-tolerance",
        "llmeval_latency_tolerance",
        "LLMEVAL_LATENCY_TOLERANCE",
        "Allowed relative increase of a group's p95 latency over the baseline, e.g. 0.25 "
        "for a 25 percent rise. Default: latency is not compared.",
        _number(0.0, math.inf),
        metavar="FRACTION",
    ),
    Option(
        "fail_on",
        "--llmeval-fail-on",
        "llmeval_fail_on",
        "LLMEVAL_FAIL_ON",
        "Which regressions fail the session: a comma-separated subset of "
        "score,cost,latency, or none (default score); the others are reported only.",
        _fail_on,
        default=("score",),
        metavar="KINDS",
    ),
    Option(
        "gate",
        "--llmeval-gate",
        "llmeval_gate",
        "LLMEVAL_GATE",
        "Which rule decides a score regression: auto (default: the paired test where it "
        "can reach alpha, else the conservative rule; the drop alone for a fully replayed "
        "group), statistical (the paired test only) or conservative (drop past the "
        "tolerance and at least 2 more newly failing than newly passing cases).",
        _choice(*GATE_RULES),
        default="auto",
        metavar="RULE",
    ),
    Option(
        "gate_correction",
        "--llmeval-gate-correction",
        "llmeval_gate_correction",
        "LLMEVAL_GATE_CORRECTION",
        "Correction of the paired tests' p-values across groups: holm (default), bh "
        "(Benjamini-Hochberg) or none.",
        _choice(*GATE_CORRECTIONS),
        default="holm",
        metavar="METHOD",
    ),
    Option(
        "cluster_key",
        "--llmeval-cluster-key",
        "llmeval_cluster_key",
        "LLMEVAL_CLUSTER_KEY",
        "A field the tests log with llm_eval.log (e.g. source document): cases sharing "
        "its value are not independent, so the gate's paired test resamples them together.",
        _text,
        metavar="FIELD",
    ),
)

OPTIONS_BY_DEST = {option.dest: option for option in OPTIONS}

#: Options whose values are paths (resolved in resolve_settings).
PATH_OPTIONS = ("cassette_dir", "trace", "report", "html", "baseline")


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
