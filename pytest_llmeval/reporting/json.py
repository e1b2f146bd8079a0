"""The JSON report (`--llmeval-report=PATH`): every result, the aggregate, the verdict.

The report is a pydantic model written through `files.write_model`: `schema_version`
first, keys sorted, NaN/inf as null, atomic. Apart from the fields listed in
`VOLATILE_FIELDS` (the creation time and durations), two reports built from the same
results and settings are byte-identical: results are sorted by node id, the aggregate
and the comparison are deterministic, and nothing identifies the machine (no host
name; paths are made relative to the rootdir).
"""

from __future__ import annotations

import copy
import os
import platform
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator
from pydantic_core import to_jsonable_python

from pytest_llmeval.core.files import (
    iter_model_neutral,
    iter_model_text,
    load_model,
    write_model,
    write_text_atomic,
)
from pytest_llmeval.core.frozen import FrozenModel
from pytest_llmeval.records.accounting import rollup, usage_data
from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.comparison import BaselineComparison
from pytest_llmeval.records.diagnostics import JudgeDiagnostics, diagnostics_of
from pytest_llmeval.records.models import (
    EvalResult,
    Inference,
    SessionAggregate,
    UsageRollup,
    result_fields,
)
from pytest_llmeval.records.variant_models import VariantComparison

if TYPE_CHECKING:
    from pytest_llmeval.core.redact import Redactor

#: The report schema version this code writes, and the newest one it reads.
REPORT_SCHEMA_VERSION = 1

#: JSON paths whose values change from run to run even when the results do not.
VOLATILE_FIELDS = ("created_at", "duration_s", "results[*].duration_s")

#: The resolved settings a report records (paths relative to the rootdir).
REPORT_SETTINGS = (
    "record_mode",
    "repeat",
    "judge_model",
    "cache",
    "max_cost",
    "max_cost_strict",
    "match_ignore",
    "cassette_dir",
    "baseline",
    "require_baseline",
    "update_baseline",
    "tolerance",
    "alpha",
    "cost_tolerance",
    "latency_tolerance",
    "fail_on",
    "gate",
    "gate_correction",
    "cluster_key",
    "variant_margin",
)


class ReportResult(EvalResult):
    """One eval item's result in the report, with its calls added up (`usage`)."""

    usage: UsageRollup = Field(
        default_factory=UsageRollup,
        description="This test's calls added up: calls by role, tokens by kind, cost by "
        "role with priced and unpriced counts, latency p50/p95/max, time to first token. "
        "Always the rollup of `inferences` (computed when the report is built or read).",
    )

    @model_validator(mode="before")
    @classmethod
    def _add_usage(cls, data: Any) -> Any:
        """Reports written before results carried their usage get it from their calls."""
        if isinstance(data, dict) and "usage" not in data:
            calls = [Inference.model_validate(call) for call in data.get("inferences") or []]
            data = {**data, "usage": rollup([calls])}
        return data

    @classmethod
    def of(cls, result: EvalResult) -> ReportResult:
        """A result with its usage: the rollup of its own calls, never a stored total."""
        fields = {name: getattr(result, name) for name in EvalResult.model_fields}
        return cls(**fields, usage=rollup([result.inferences]))


class Report(FrozenModel):
    """A session's JSON report: results, aggregate and baseline verdict."""

    schema_version: int = Field(
        default=REPORT_SCHEMA_VERSION, description="Version of this file format; first."
    )
    created_at: str = Field(description="When the report was built, ISO 8601 UTC. Volatile.")
    duration_s: float | None = Field(
        default=None, description="Wall-clock duration of the session in seconds. Volatile."
    )
    pytest_version: str | None = Field(default=None, description="pytest's version.")
    plugin_version: str = Field(description="pytest-llm-eval's version.")
    python_version: str = Field(description="The Python version, e.g. 3.11.9.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The resolved settings that shaped the results."
    )
    results: list[ReportResult] = Field(
        default_factory=list,
        description="Every eval item's result with its usage rollup, sorted by node id.",
    )
    aggregate: SessionAggregate = Field(description="Case, group and session aggregates.")
    baseline: BaselineComparison | None = Field(
        default=None, description="The verdict against the baseline; null without one."
    )
    variants: list[VariantComparison] = Field(
        default_factory=list,
        description="Each variants eval (variants= on the marker) compared, one per group "
        "and axis: per variant statistics, each against the reference, the recommendation "
        "and the quality-cost Pareto front; empty without variants.",
    )
    judges: dict[str, Any] | None = Field(
        default=None,
        description="Judge diagnostics: `rejudge` (--llmeval-rejudge: kappa, flips, mean "
        "score shift per group), `position_swap` (pairwise comparisons whose two orders "
        "disagreed), `verbosity` and `consistency` (--llmeval-judge-probes); null when the "
        "run has none of them.",
    )
    volatile_fields: list[str] = Field(
        default_factory=lambda: list(VOLATILE_FIELDS),
        description="JSON paths of values that change between identical runs.",
    )


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _jsonable(value: object, rootdir: Path | None) -> Any:
    if isinstance(value, Path):
        if rootdir is not None:
            try:
                return value.relative_to(rootdir).as_posix()
            except ValueError:
                pass
        return os.fspath(value)
    if isinstance(value, (tuple, list)):
        return [_jsonable(item, rootdir) for item in value]
    return value


def report_settings(settings: object) -> dict[str, Any]:
    """The settings a report records, taken from a Settings object by name."""
    rootdir = getattr(settings, "rootdir", None)
    root = Path(rootdir) if rootdir is not None else None
    return {
        name: _jsonable(getattr(settings, name), root)
        for name in REPORT_SETTINGS
        if hasattr(settings, name)
    }


def build_report(
    results: Iterable[EvalResult],
    *,
    aggregate: SessionAggregate | None = None,
    comparison: BaselineComparison | None = None,
    settings: Mapping[str, Any] | None = None,
    duration_s: float | None = None,
    pytest_version: str | None = None,
    created_at: datetime | None = None,
    variants: Iterable[VariantComparison] = (),
) -> Report:
    """Assemble a report; the aggregate is computed from the results unless given (the
    variant comparisons are given: `records.variant_results` computes them)."""
    streamed = stream_report(
        results,
        aggregate=aggregate,
        comparison=comparison,
        settings=settings,
        duration_s=duration_s,
        pytest_version=pytest_version,
        created_at=created_at,
        variants=variants,
    )
    return streamed.head.model_copy(
        update={"results": [ReportResult.of(result) for result in streamed.results]}
    )


@dataclass(frozen=True)
class StreamedReport:
    """A report whose results are serialised one by one as its file is written: the
    same text as the built Report's, without holding a ReportResult (and its usage
    rollup) for every result at once (10,000 results: about 60 MB and a full garbage
    collection of the session's heap)."""

    #: Every field of the report but `results`, which is empty.
    head: Report
    #: The results, sorted by node id.
    results: Sequence[EvalResult]
    #: Their judge diagnostics (the head's `judges` is their JSON), for the HTML page.
    judges: JudgeDiagnostics = JudgeDiagnostics()

    def result_items(self) -> Iterator[dict[str, Any]]:
        """Each result's JSON data as the report holds it (ReportResult's), one by one."""
        for result in self.results:
            data = to_jsonable_python(result_fields(result), inf_nan_mode="null")
            # plain values; a non-finite float in it is written null (see iter_model_neutral)
            data["usage"] = usage_data([result.inferences])
            yield data

    def pieces(self, *, spread: bool = True) -> Iterator[str]:
        """The report's file text in pieces (see files.iter_model_text)."""
        return iter_model_text(self.head, spread=spread, items={"results": self.result_items()})

    def neutral_pieces(self) -> Iterator[str]:
        """The report's text in neutral pieces (see files.iter_model_neutral): made once
        for the JSON file and the HTML page that embeds it."""
        return iter_model_neutral(self.head, items={"results": self.result_items()})


def stream_report(
    results: Iterable[EvalResult],
    *,
    aggregate: SessionAggregate | None = None,
    comparison: BaselineComparison | None = None,
    settings: Mapping[str, Any] | None = None,
    duration_s: float | None = None,
    pytest_version: str | None = None,
    created_at: datetime | None = None,
    variants: Iterable[VariantComparison] = (),
    judges: JudgeDiagnostics | None = None,
) -> StreamedReport:
    """A report to write, its results serialised as they are written (see build_report);
    `judges`: the results' judge diagnostics when the caller has them already."""
    ordered = sorted(results, key=lambda r: r.nodeid)
    if judges is None:
        judges = diagnostics_of(ordered)
    moment = created_at or datetime.now(UTC)
    head = Report(
        created_at=moment.astimezone(UTC).isoformat(timespec="seconds"),
        duration_s=None if duration_s is None else round(duration_s, 3),
        pytest_version=pytest_version or _version("pytest"),
        plugin_version=_version("pytest-llm-eval") or "unknown",
        python_version=platform.python_version(),
        settings=dict(sorted((settings or {}).items())),
        results=[],
        aggregate=aggregate if aggregate is not None else aggregate_session(ordered),
        baseline=comparison,
        variants=list(variants),
        judges=judges.to_json(),
    )
    return StreamedReport(head, ordered, judges)


def write_report(
    path: str | os.PathLike[str],
    report: Report | StreamedReport,
    *,
    redactor: Redactor | None = None,
) -> None:
    """Write a report atomically and redacted, in its stable JSON form."""
    if isinstance(report, StreamedReport):
        write_text_atomic(path, report.pieces(), redactor=redactor)
    else:
        write_model(path, report, redactor=redactor)


def load_report(path: str | os.PathLike[str]) -> Report:
    """Read a report file; a bad one is a FileFormatError naming it."""
    return load_model(path, Report, what="report")


def _blank(data: Any, parts: list[str]) -> None:
    """Set the value at a VOLATILE_FIELDS-style path (a.b, a[*].b) to None, in place."""
    head, rest = parts[0], parts[1:]
    every = head.endswith("[*]")
    key = head[:-3] if every else head
    if not isinstance(data, dict) or key not in data:
        return
    if not rest:
        data[key] = None
    elif every and isinstance(data[key], list):
        for item in data[key]:
            _blank(item, rest)
    else:
        _blank(data[key], rest)


def without_volatile(
    data: dict[str, Any], paths: Iterable[str] = VOLATILE_FIELDS
) -> dict[str, Any]:
    """A report's JSON data with its volatile fields set to null (for comparisons)."""
    result = copy.deepcopy(data)
    for path in paths:
        _blank(result, path.split("."))
    return result
