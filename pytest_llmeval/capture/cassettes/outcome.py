"""What one test's cassette session did (`CassetteSession.stop()`), and the warning for
the recorded interactions its replay never requested."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from pytest_llmeval.capture.cassettes.models import Interaction
from pytest_llmeval.core.vocabulary import RecordMode


@dataclass(frozen=True)
class CassetteOutcome:
    """What a session did, returned by `stop()`."""

    path: Path
    mode: RecordMode
    recorded: int
    replayed: int
    cached: int
    unplayed: tuple[Interaction, ...]  # recorded but never requested (none/once replay)
    misses: tuple[str, ...]  # CassetteMiss messages raised, even if the code swallowed them
    written: Path | None


def unplayed_message(outcome: CassetteOutcome, nodeid: str, *, test_failed: bool | None) -> str:
    """The warning for recorded interactions a replay did not request.

    After a failure that was not a mismatch (the test stopped before making the calls),
    the cassette is fine and re-recording it would be wrong, so the advice is to fix the
    failure. Otherwise it is to drop them with `llmeval cassettes prune --unplayed`,
    which replays the test first and never re-records. `test_failed` is None when the
    caller cannot see the test's outcome.
    """
    count = len(outcome.unplayed)
    if test_failed:
        return (
            f"{count} recorded interaction(s) in {outcome.path} were not played, and "
            f"{nodeid} failed: it may have stopped before requesting them. That is not a "
            "mismatch; fix the failure first (the cassette needs no re-recording)"
        )
    return (
        f"{count} recorded interaction(s) in {outcome.path} were not requested by the "
        f"test; if it no longer makes them, drop them without re-recording: "
        f"llmeval cassettes prune --unplayed --apply {shlex.quote(nodeid)}"
    )
