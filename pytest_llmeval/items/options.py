"""Every option, declared once: its flag, ini twin, environment variable, parser and help.

The table `OPTIONS` is what `settings` registers with pytest and resolves, what the docs'
option tables are checked against (`tests/test_docs.py`), and where a new option is added.
Like `settings`, it imports only the standard library and pytest: it is loaded in every
pytest session of everyone who installed the plugin."""

from __future__ import annotations

import math

from pytest_llmeval.core.vocabulary import RECORD_MODES
from pytest_llmeval.items.option_types import (
    GATE_CORRECTIONS,
    GATE_RULES,
    Option,
    _at_least_two,
    _bool,
    _choice,
    _fail_on,
    _judge_model,
    _non_negative_int,
    _number,
    _positive_int,
    _probes,
    _regex,
    _text,
)

MARKER = "llm_eval"


MARKER_HELP = (
    "llm_eval(threshold=0.5, *, aggregate='mean', min_pass_rate=None, repeat=1, group=None, "
    "judge_model=None, budget_usd=None, max_latency_s=None, case_rule=None, pass_k=None, "
    "min_case_pass_rate=None, adaptive=None, variants=None, reference=None): an evaluation "
    "of LLM-backed code. "
    "The test's score (weighted mean, or min, of what it records with the llm_eval fixture) "
    "must be >= threshold. Reference: docs/reference.md."
)


DEFAULT_BASELINE = "llmeval-baseline.json"


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
        "judge_probes",
        "--llmeval-judge-probes",
        "llmeval_judge_probes",
        "LLMEVAL_JUDGE_PROBES",
        "Bias probes to run on every llm_eval.judge() call, a comma-separated subset of "
        "verbosity,consistency: verbosity judges the answer again padded with text that adds "
        "no information, consistency asks the judge --llmeval-judge-probe-samples more times; "
        "the run's rates are reported. Default: none (each probe costs extra judge calls).",
        _probes,
        default=(),
        metavar="PROBES",
    ),
    Option(
        "judge_probe_samples",
        "--llmeval-judge-probe-samples",
        "llmeval_judge_probe_samples",
        "LLMEVAL_JUDGE_PROBE_SAMPLES",
        "How many samples the consistency probe asks of each judge call (default 3).",
        _at_least_two,
        default=3,
        metavar="K",
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
        "summary_md",
        "--llmeval-summary-md",
        "llmeval_summary_md",
        "LLMEVAL_SUMMARY_MD",
        "Write a pull-request-ready markdown summary (verdict first, group changes, "
        "flipped cases, cost and latency deltas) to PATH: against the baseline when one is "
        "compared, else of the run alone.",
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
    Option(
        "variant_margin",
        "--llmeval-variant-margin",
        "llmeval_variant_margin",
        "LLMEVAL_VARIANT_MARGIN",
        "Non-inferiority margin of a variants eval (variants= on the marker): a cheaper "
        "variant can be recommended when its mean is not worse than the best variant's by "
        "more than this (default 0.05).",
        _number(0.0, 1.0),
        default=0.05,
        metavar="MARGIN",
    ),
)


OPTIONS_BY_DEST = {option.dest: option for option in OPTIONS}


#: Options whose values are paths (resolved in resolve_settings).
PATH_OPTIONS = ("cassette_dir", "trace", "report", "html", "baseline", "summary_md")
