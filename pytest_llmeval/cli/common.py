"""What the `llmeval` commands share: exit statuses, the one-line input error, reading
reports and baselines, the gate's options and the policy they make."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_llmeval.core.errors import LLMEvalError
from pytest_llmeval.records.decision import CORRECTIONS, GATE_RULES, GatePolicy

if TYPE_CHECKING:
    from pytest_llmeval.records.session_outcome import SessionOutcome
    from pytest_llmeval.reporting.json import Report


EXIT_OK = 0


EXIT_REGRESSION = 1


EXIT_BAD_INPUT = 2


DEFAULT_TOLERANCE = GatePolicy.tolerance


DEFAULT_ALPHA = GatePolicy.alpha


class InputError(LLMEvalError):
    """A command cannot run on the input it was given (the message says why)."""


def _load(path: str, what: str) -> Any:
    """Load a report or baseline, turning a missing or unreadable file into InputError."""
    from pytest_llmeval.records.baseline import load_baseline
    from pytest_llmeval.reporting.json import load_report

    loader: Callable[[str], Any] = load_report if what == "report" else load_baseline
    try:
        return loader(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a {what} file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the {what} file ({error.strerror})") from None


def _check_output(path: str, what: str) -> None:
    """Refuse an output path that cannot be a file, before any work is done."""
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise InputError(f"{path}: is a folder; give the path of the {what} file to write")
    for folder in target.parents:
        if folder.exists():
            if not folder.is_dir():
                raise InputError(f"{path}: {folder} is a file, not a folder; give another path")
            break


def _number(low: float, high: float, hint: str) -> Callable[[str], float]:
    """An argparse type: a number from low to high."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if math.isnan(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must be {hint}")
        return value

    return parse


_fraction = _number(0.0, 1.0, "between 0 and 1")


_increase = _number(0.0, math.inf, "0 or more (0.2 means +20%)")


def _kinds(text: str) -> tuple[str, ...]:
    """argparse type: a comma-separated subset of score,cost,latency (or none)."""
    from pytest_llmeval.records.comparison import REGRESSION_KINDS

    parts = [part.strip().lower() for part in text.split(",") if part.strip()]
    if parts == ["none"]:
        return ()
    unknown = [part for part in parts if part not in REGRESSION_KINDS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use a comma-separated subset of {','.join(REGRESSION_KINDS)}, or none"
        )
    return tuple(kind for kind in REGRESSION_KINDS if kind in parts)


def _add_gate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tolerance",
        type=_fraction,
        help="Smallest mean drop that can count as a regression "
        f"(default: the report's setting, else {DEFAULT_TOLERANCE}).",
    )
    parser.add_argument(
        "--alpha",
        type=_fraction,
        help="Significance level of the paired test "
        f"(default: the report's setting, else {DEFAULT_ALPHA}).",
    )
    parser.add_argument(
        "--cost-tolerance",
        type=_increase,
        help="Allowed relative increase of cost per case, e.g. 0.2 for a 20 percent rise "
        "(default: the report's setting, else not checked).",
    )
    parser.add_argument(
        "--latency-tolerance",
        type=_increase,
        help="Allowed relative increase of p95 latency "
        "(default: the report's setting, else not checked).",
    )
    parser.add_argument(
        "--gate",
        choices=GATE_RULES,
        help="Which rule decides a score regression: auto, statistical or conservative "
        "(default: the report's setting, else auto).",
    )
    parser.add_argument(
        "--gate-correction",
        choices=CORRECTIONS,
        help="Correction of p-values across groups: holm, bh or none "
        "(default: the report's setting, else holm).",
    )
    parser.add_argument(
        "--cluster-key",
        help="The llm_eval.log field whose cases the paired test resamples together "
        "(default: the report's setting, else none).",
    )


def _gate_policy(args: argparse.Namespace, settings: dict[str, Any]) -> GatePolicy:
    """The gate policy: each threshold from the command line, else the report's
    settings, else the policy's default."""

    def pick(name: str) -> Any:
        given = getattr(args, name, None)
        if given is not None:
            return given
        recorded = settings.get(name)
        return recorded if recorded is not None else getattr(GatePolicy, name)

    # --fail-on none is (); a report that recorded none (or nothing) gates on score
    fail_on = getattr(args, "fail_on", None)
    if fail_on is None:
        fail_on = settings.get("fail_on") or None
    return GatePolicy(
        tolerance=pick("tolerance"),
        alpha=pick("alpha"),
        rule=_recorded(args, settings, "gate", GATE_RULES) or GatePolicy.rule,
        correction=_recorded(args, settings, "gate_correction", CORRECTIONS)
        or GatePolicy.correction,
        cost_tolerance=pick("cost_tolerance"),
        latency_tolerance=pick("latency_tolerance"),
        fail_on=tuple(fail_on) if fail_on is not None else GatePolicy.fail_on,
        cluster_key=getattr(args, "cluster_key", None) or settings.get("cluster_key"),
    )


def _recorded(
    args: argparse.Namespace, settings: dict[str, Any], name: str, allowed: tuple[Any, ...]
) -> Any:
    """A choice from the command line, else the report's settings (a value this version
    does not know is an error naming it); None when neither has one."""
    given = getattr(args, name, None)
    if given is not None:
        return given
    recorded = settings.get(name)
    if recorded is None:
        return None
    if recorded not in allowed:
        raise InputError(
            f"the report's setting {name}={recorded!r} is not one of {', '.join(allowed)}; "
            f"pass --{name.replace('_', '-')} to choose"
        )
    return recorded


def _report_outcome(report: Report) -> SessionOutcome:
    """A report's outcome as the session had it: its aggregate, baseline verdict and
    judge diagnostics."""
    from pytest_llmeval.records.diagnostics import diagnostics_of
    from pytest_llmeval.records.session_outcome import BaselineStatus, SessionOutcome

    comparison = report.baseline
    status = None
    if comparison is not None:
        status = BaselineStatus(comparison.source or "baseline", "compared")
    return SessionOutcome(
        aggregate=report.aggregate,
        policy=_gate_policy(argparse.Namespace(), report.settings),
        baseline=status,
        comparison=comparison,
        judges=diagnostics_of(report.results),
    )
