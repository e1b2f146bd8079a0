"""The exception hierarchy: every error the plugin raises derives from LLMEvalError."""

from __future__ import annotations


class LLMEvalError(Exception):
    """Base class of every error raised by pytest-llm-eval."""


class FileFormatError(LLMEvalError):
    """A file the plugin reads (cassette, baseline, report, dataset) is malformed."""


class CassetteMiss(LLMEvalError):
    """A request had no recorded response and the record mode forbids the network."""


class BudgetExceeded(LLMEvalError):
    """A live call was refused because a cost budget was used up."""


class JudgeError(LLMEvalError):
    """A judge could not produce a valid verdict."""


class UnplayedInteractionsWarning(UserWarning):
    """A test finished without requesting some interactions its cassette recorded."""
