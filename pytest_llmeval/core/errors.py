"""The exception hierarchy: every error the plugin raises derives from LLMEvalError."""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class LLMEvalError(Exception):
    """Base class of every error raised by pytest-llm-eval."""


class FileFormatError(LLMEvalError):
    """A file the plugin reads (cassette, baseline, report, dataset) is malformed."""


class CassetteMiss(LLMEvalError):
    """A request had no recorded response and the record mode forbids the network."""


class BudgetExceeded(LLMEvalError):
    """A live call was refused because a cost budget was used up."""


class UnpricedCallRefused(BudgetExceeded):
    """A live call was refused because the session budget could not price it (strict)."""


class JudgeError(LLMEvalError):
    """A judge could not produce a valid verdict."""


class UnplayedInteractionsWarning(UserWarning):
    """A test finished without requesting some interactions its cassette recorded."""


class JudgeSnapshotWarning(UserWarning):
    """A re-judged call's live model reported another snapshot than the recorded one."""


class UnpricedCallWarning(UserWarning):
    """A call the plugin could not price, so a cost limit could not count it: a live call
    under --llmeval-max-cost, or an app call of a test with the marker's budget_usd."""


class BypassedClientWarning(UserWarning):
    """An eval test called a model through a client the cassettes do not intercept."""


def find_cause(error: BaseException | None, kind: type[E]) -> E | None:
    """The first exception of `kind` in error's chain of causes and contexts (SDKs and
    user code often wrap what the plugin raised)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class FileWriteError(LLMEvalError, OSError):
    """A file the plugin writes could not be written: `cannot write PATH: REASON`.

    An OSError too, so callers that handle OSError keep working.
    """

    def __init__(self, path: str, reason: str, errno: int | None = None) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason
        self.errno = errno

    def __str__(self) -> str:
        return str(self.args[0])


class CassetteWriteError(LLMEvalError):
    """A test's recording could not be saved to its cassette (where it went instead is
    in the message)."""
