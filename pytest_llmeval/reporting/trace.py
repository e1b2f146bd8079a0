"""`--llmeval-trace=PATH`: one JSON line per model call, for per-inference observability.

Each line is an `Inference` (prompt and response already redacted by the cassette
layer, and the line again by the writer) with `schema_version` first. Lines are
ordered by test node id, then by call order within the test, so serial and xdist runs
write the same file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pytest_llmeval.core.files import write_text_atomic
from pytest_llmeval.records.models import EvalResult

if TYPE_CHECKING:
    from pytest_llmeval.core.redact import Redactor

TRACE_SCHEMA_VERSION = 1


def trace_lines(results: Iterable[EvalResult]) -> list[str]:
    """The trace as JSON lines (no trailing newlines), deterministic in order and form."""
    lines = []
    for result in sorted(results, key=lambda r: r.nodeid):
        for index, inference in enumerate(result.inferences):
            record = {
                "schema_version": TRACE_SCHEMA_VERSION,
                "case_id": result.case_id,
                "group": result.group,
                "call_index": index,
                **inference.model_dump(mode="json"),
            }
            lines.append(json.dumps(record, ensure_ascii=False, sort_keys=False))
    return lines


def write_trace(
    path: str | os.PathLike[str],
    results: Iterable[EvalResult],
    *,
    redactor: Redactor | None = None,
) -> int:
    """Write the trace atomically and redacted, one line per piece; return the number of
    calls written."""
    lines = trace_lines(results)
    write_text_atomic(path, (line + "\n" for line in lines), redactor=redactor)
    return len(lines)
