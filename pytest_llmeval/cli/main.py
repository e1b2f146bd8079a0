"""The `llmeval` console tool: show, diff, merge and gate JSON reports, write baselines.

Exit status: 0 success, 1 a regression (`gate` only), 2 bad input (a missing, corrupt
or too-new file, conflicting shards, bad arguments), always with one line naming the
file and never a traceback. Runnable as `python -m pytest_llmeval.cli` too. What it
prints passes through `printable`: a control character in a report's group names,
case ids or model names shows as its escape (`\\x1b`), never raw.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.cli.common import (
    EXIT_BAD_INPUT,
    _add_gate_options,
    _kinds,
)
from pytest_llmeval.cli.diff import _diff
from pytest_llmeval.cli.reports import _baseline, _gate, _merge, _show
from pytest_llmeval.core.errors import LLMEvalError

if TYPE_CHECKING:
    pass


Handler = Callable[[argparse.Namespace], int]


def _add_show(commands: Any) -> None:
    parser = commands.add_parser(
        "show", help="Print a report's group table.", description="Print a report's table."
    )
    parser.add_argument("report", help="A JSON report written with --llmeval-report.")
    parser.set_defaults(handler=_show)


def _add_diff(commands: Any) -> None:
    parser = commands.add_parser(
        "diff",
        help="Compare two reports: per group deltas and flipped cases.",
        description="Per group mean and pass-rate deltas and the cases that flipped; with "
        "--format markdown or json, a pull-request summary (verdict first) of the change.",
    )
    parser.add_argument("old", help="The earlier report (or a baseline file).")
    parser.add_argument("new", help="The later report.")
    parser.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text (default): the table; markdown: a pull-request summary, verdict first; "
        "json: the same summary as data.",
    )
    _add_gate_options(parser)
    parser.add_argument(
        "--fail-on",
        type=_kinds,
        help="Which regressions the summary's gate verdict fails on "
        "(default: the new report's setting, else score).",
    )
    parser.set_defaults(handler=_diff)


def _add_merge(commands: Any) -> None:
    parser = commands.add_parser(
        "merge",
        help="Merge the reports of CI shards into one.",
        description="Concatenate the shards' results, aggregate them again and, with "
        "--baseline, compare the whole against the baseline.",
    )
    parser.add_argument("shards", nargs="+", metavar="SHARD", help="Shard reports.")
    parser.add_argument("-o", "--output", required=True, help="Where to write the merge.")
    parser.add_argument("--baseline", help="Baseline to compare the merged results with.")
    _add_gate_options(parser)
    parser.set_defaults(handler=_merge)


def _add_gate(commands: Any) -> None:
    parser = commands.add_parser(
        "gate",
        help="Exit 1 when a report regresses against a baseline.",
        description="Compare a report with a baseline; print the REGRESSION section and "
        "exit 1 on a regression, exit 0 otherwise.",
    )
    parser.add_argument("report", help="A JSON report (or a merge of shards).")
    parser.add_argument("--baseline", required=True, help="The baseline file.")
    _add_gate_options(parser)
    parser.add_argument(
        "--fail-on",
        type=_kinds,
        help="Which regressions fail: a comma-separated subset of score,cost,latency, or "
        "none (default: the report's setting, else score).",
    )
    parser.set_defaults(handler=_gate)


def _add_baseline(commands: Any) -> None:
    parser = commands.add_parser(
        "baseline",
        help="Write a baseline from a report.",
        description="Write the baseline file --llmeval-update-baseline would have written.",
    )
    parser.add_argument("report", help="A JSON report (or a merge of shards).")
    parser.add_argument("-o", "--output", required=True, help="The baseline file to write.")
    parser.set_defaults(handler=_baseline)


def _add_cassettes(commands: Any) -> None:
    from pytest_llmeval.cli.cassettes import add_cassettes_command

    add_cassettes_command(commands)


def _add_label(commands: Any) -> None:
    from pytest_llmeval.cli.label import add_label_command

    add_label_command(commands)


def _add_import(commands: Any) -> None:
    from pytest_llmeval.cli.import_promptfoo import add_import_command

    add_import_command(commands)


#: Each adds one subcommand.
_COMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_show,
    _add_diff,
    _add_merge,
    _add_gate,
    _add_baseline,
    _add_cassettes,
    _add_label,
    _add_import,
)


def _installed_version() -> str:
    """The version of the installed pytest-llm-eval distribution."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-llm-eval")
    except PackageNotFoundError:
        return "unknown (not installed as a distribution)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `llmeval`."""
    parser = argparse.ArgumentParser(
        prog="llmeval",
        description="Inspect, merge and gate pytest-llm-eval reports; look after cassettes.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"llmeval (pytest-llm-eval) {_installed_version()}",
        help="Print the installed pytest-llm-eval version and exit.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(commands)
    return parser


class _PrintableStream:
    """A text stream writing control characters as visible escapes (line breaks kept)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from pytest_llmeval.core.printable import printable

        return int(self._stream.write(printable(text, keep_newlines=True)))

    def isatty(self) -> bool:
        return False  # what goes through here carries no colour codes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command with its output escaped, unless it prints pytest's own output."""
    if getattr(args, "raw_output", False):
        return handler(args)
    from contextlib import redirect_stderr, redirect_stdout

    with redirect_stdout(_PrintableStream(sys.stdout)):
        with redirect_stderr(_PrintableStream(sys.stderr)):
            return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `llmeval` with argv (default: the command line) and return the exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    from pytest_llmeval.core.printable import printable

    try:
        return _run(handler, args)
    except LLMEvalError as error:
        print(printable(f"llmeval {args.command}: error: {error}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        problem = f"{where}{error.strerror or error}"
        print(printable(f"llmeval {args.command}: error: {problem}"), file=sys.stderr)
        return EXIT_BAD_INPUT
