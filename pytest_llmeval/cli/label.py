"""`llmeval label TRACE -o LABELS`: turn a JSONL trace into a labelling file.

Each judge call of the trace (`--llmeval-trace`) that judged one output becomes a row
of the material it was shown (`input`, `output`, `context`, `reference`), its criteria
and judge kind, the judge's answer as a hint (`judge_score`, `judge_reason`) and an
empty `label` for a person to fill in: the file `load_cases` reads and
`llm_eval.calibrate()` takes. Rows are deduplicated by criteria and material (a judge
asked several times, a re-ask, a self-consistency sample: one row); the verbosity
probe's padded answers are left out. Every byte goes through the one writer and its
redaction.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_llmeval.core.errors import LLMEvalError

EXIT_OK = 0

#: The trace format this command reads (`reporting.trace.TRACE_SCHEMA_VERSION`).
READS_TRACE_VERSION = 1


class LabelInputError(LLMEvalError):
    """The trace cannot be read, or the labelling file cannot be written."""


def _trace_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The trace's records with their line numbers; an error names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelInputError(f"{path}: no such trace file") from None
    except IsADirectoryError:
        raise LabelInputError(f"{path}: is a folder, not a trace file") from None
    except UnicodeDecodeError:
        raise LabelInputError(f"{path}: is not UTF-8 text; give a --llmeval-trace file") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise LabelInputError(
                f"{path}, line {number}: not JSON ({error}); give the JSONL file "
                "--llmeval-trace wrote"
            ) from None
        if not isinstance(record, dict) or "schema_version" not in record:
            raise LabelInputError(
                f"{path}, line {number}: not a trace record (no schema_version); give the "
                "JSONL file --llmeval-trace wrote"
            )
        version = record["schema_version"]
        if not isinstance(version, int) or version > READS_TRACE_VERSION:
            raise LabelInputError(
                f"{path}, line {number}: trace schema_version {version!r} is newer than this "
                f"llmeval reads ({READS_TRACE_VERSION}); upgrade pytest-llm-eval"
            )
        yield number, record


def labelling_rows(path: Path) -> list[dict[str, Any]]:
    """One row per judged output of the trace (see the module docstring), in trace order."""
    from pytest_llmeval.judges.readback import read_judge_prompt, read_judge_reply
    from pytest_llmeval.records.cases import sanitize_id

    rows: dict[str, dict[str, Any]] = {}
    seen_ids: set[str] = set()
    for _, record in _trace_lines(path):
        if record.get("role") != "judge" or not isinstance(record.get("input_text"), str):
            continue
        material = read_judge_prompt(record["input_text"])
        if material is None or _is_padded(material.output):
            continue
        reason, decision = read_judge_reply(record.get("output_text"))
        key = json.dumps(
            [material.kind, material.criteria, material.input, material.output,
             material.context, material.reference],
            ensure_ascii=False,
        )  # fmt: skip
        row = rows.get(key)
        if row is not None:
            if row["judge_reason"] is None and reason is not None:  # a re-ask answered
                row.update(judge_score=decision, judge_reason=reason)
            continue
        source = str(record.get("case_id") or record.get("nodeid") or "trace")
        row_id = _unique(sanitize_id(source) or "trace", seen_ids)
        rows[key] = {
            "id": row_id,
            "source": source,
            "input": material.input if material.input is not None else "",
            "output": material.output,
            "context": list(material.context)
            if isinstance(material.context, tuple)
            else material.context,
            "reference": material.reference,
            "criteria": material.criteria,
            "judge_kind": material.kind,
            "judge_score": decision,
            "judge_reason": reason,
            "label": "",
        }
    return list(rows.values())


def _is_padded(output: str) -> bool:
    """Whether `output` is the verbosity probe's padding of some answer."""
    from pytest_llmeval.judges.probes import PADDING_OPENING, pad

    head = PADDING_OPENING + "\n\n"
    if not output.startswith(head) or "\n\n" not in output[len(head) :]:
        return False
    inner = output[len(head) :].rsplit("\n\n", 1)[0]
    return pad(inner) == output


def _pattern(text: str) -> str:
    """argparse type: a regular expression that compiles."""
    import re

    try:
        re.compile(text)
    except re.error as error:
        problem = f"{text!r} is not a regular expression ({error})"
        raise argparse.ArgumentTypeError(problem) from None
    return text


def _unique(base: str, seen: set[str]) -> str:
    chosen, number = base, 1
    while chosen in seen:
        number += 1
        chosen = f"{base}-{number}"
    seen.add(chosen)
    return chosen


def _label(args: argparse.Namespace) -> int:
    from pytest_llmeval.core.files import write_text_atomic
    from pytest_llmeval.core.redact import Redactor

    target = Path(args.output)
    if target.is_dir():
        raise LabelInputError(f"{args.output}: is a folder; give the labelling file to write")
    if target.exists() and not args.force:
        raise LabelInputError(
            f"{args.output}: already exists (it may hold labels); give another path, or "
            "--force to overwrite it"
        )
    rows = labelling_rows(Path(args.trace))
    if not rows:
        raise LabelInputError(
            f"{args.trace}: no judge call of the trace judged a single output; record the "
            "trace (--llmeval-trace) of a run whose tests call llm_eval.judge()"
        )
    lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_text_atomic(target, lines, redactor=Redactor(args.redact or ()))
    cases = len({row["source"] for row in rows})
    print(
        f"wrote {len(rows)} row(s) to label from {cases} test case(s) to {args.output}; "
        'fill in each "label" (pass or fail, or a grade), then calibrate with load_cases'
    )
    return EXIT_OK


def add_label_command(commands: Any) -> None:
    """Register `llmeval label`."""
    parser = commands.add_parser(
        "label",
        help="Turn a JSONL trace's judged outputs into a labelling file.",
        description="Write one JSONL row per output a judge judged in the trace (input, "
        "output, context, reference, criteria, the judge's score and reason as a hint, and "
        "an empty label to fill in), for load_cases and llm_eval.calibrate().",
    )
    parser.add_argument("trace", help="A JSONL trace written with --llmeval-trace.")
    parser.add_argument("-o", "--output", required=True, help="The labelling file to write.")
    parser.add_argument(
        "--force", action="store_true", help="Overwrite the labelling file if it exists."
    )
    parser.add_argument(
        "--redact",
        action="append",
        type=_pattern,
        metavar="REGEX",
        help="Another pattern to redact from what is written (as --llmeval-redact). Repeatable.",
    )
    parser.set_defaults(handler=_label)
