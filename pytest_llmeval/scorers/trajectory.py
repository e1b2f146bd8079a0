"""Deterministic scorers over an agent's trajectory (re-exported by `scorers`).

Each takes a `Trajectory` (`llm_eval.trajectory`, or a list of inferences) and returns a
`Scored`: a float in [0, 1] (1 is best) that also carries a `reason` naming the steps
that decided it, e.g. `step 3: called refund(order_id='A1'), a forbidden tool`.
`llm_eval.score(name, scored)` records that reason with the score.

A wrong argument (an empty tool name, a negative limit, an unknown mode) raises
TypeError or ValueError naming the scorer; a poor trajectory scores low.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pytest_llmeval.records.trajectory import ToolUse, Trajectory, as_trajectory
from pytest_llmeval.scorers.scored import Scored

if TYPE_CHECKING:
    from pydantic import BaseModel

    from pytest_llmeval.records.models import Inference

__all__ = [
    "Scored",
    "max_steps",
    "max_tool_calls",
    "no_forbidden_tools",
    "no_tool_errors",
    "tool_arguments_valid",
    "tool_called",
    "tool_sequence",
]

#: How many failing steps a reason lists before it says "and N more".
REASON_ITEMS = 3

SequenceMode = Literal["exact", "in_order", "any_order"]
ArgumentsMatch = Literal["exact", "subset"]


def tool_called(
    trajectory: Trajectory | Sequence[Inference],
    name: str,
    *,
    arguments: Mapping[str, Any] | None = None,
    match: ArgumentsMatch = "subset",
    where: Callable[[Any], bool] | None = None,
    schema: Mapping[str, Any] | type[BaseModel] | None = None,
) -> Scored:
    """1.0 if the tool was called (with arguments that match, if asked), else 0.0.

    `arguments` are compared with each call's parsed arguments: every given key with an
    equal value (`match="subset"`, the default) or the whole object equal
    (`match="exact"`). `where` is a predicate over the parsed arguments; `schema` a JSON
    Schema or a pydantic model they must satisfy. One call satisfying all of them is
    enough; the reason names the calls that came closest when none does.
    """
    scorer = "tool_called"
    episode = as_trajectory(trajectory, scorer)
    _check_name(scorer, "name", name)
    if match not in ("exact", "subset"):
        raise ValueError(f"{scorer}: match must be 'exact' or 'subset', got {match!r}")
    if arguments is not None and not isinstance(arguments, Mapping):
        raise TypeError(f"{scorer}: arguments must be a dict, got {type(arguments).__name__}")
    if where is not None and not callable(where):
        raise TypeError(f"{scorer}: where must be a callable taking the arguments")
    check_schema = _schema_check(scorer, schema) if schema is not None else None
    uses = [use for use in episode.tool_uses if use.name == name]
    if not uses:
        called = ", ".join(dict.fromkeys(episode.tool_names)) or "no tool"
        return Scored(0.0, f"{name} was never called (called: {called})")
    misses: list[str] = []
    for use in uses:
        problem = _argument_problem(use, arguments, match, where, check_schema)
        if problem is None:
            return Scored(1.0, f"step {use.step}: called {use.describe()}")
        misses.append(f"step {use.step}: called {use.describe()}: {problem}")
    return Scored(0.0, _listed(misses))


def tool_sequence(
    trajectory: Trajectory | Sequence[Inference],
    expected: Sequence[str],
    *,
    mode: SequenceMode = "in_order",
    partial: bool = True,
) -> Scored:
    """How well the tools called follow `expected` (tool names), with partial credit.

    * `in_order`: the expected calls must appear in this order, others allowed between;
      the score is the recall: the share of expected calls found in order (the longest
      common subsequence of the two sequences).
    * `any_order`: the expected calls must all appear, in any order, others allowed;
      the score is the recall of the expected calls (counted with repeats).
    * `exact`: the calls must be exactly `expected`; the score is the F1 of precision
      (matched / calls made) and recall (matched / expected), matched in order, so
      a missing, extra or misplaced call lowers it and only the exact sequence scores 1.

    `details` holds `precision` and `recall`; `partial=False` scores 1.0 or 0.0.
    """
    scorer = "tool_sequence"
    episode = as_trajectory(trajectory, scorer)
    if isinstance(expected, str) or not isinstance(expected, Sequence):
        raise TypeError(f"{scorer}: expected must be a list of tool names, got {expected!r}")
    for item in expected:
        _check_name(scorer, "each expected tool", item)
    if mode not in ("exact", "in_order", "any_order"):
        raise ValueError(f"{scorer}: mode must be 'exact', 'in_order' or 'any_order', got {mode!r}")
    wanted = list(expected)
    uses = episode.tool_uses
    made = [use.name for use in uses]
    if mode == "any_order":
        found = Counter(made) & Counter(wanted)
        matched = sum(found.values())
        missing = sorted((Counter(wanted) - found).elements())
        lost = [f"{name} was not called" for name in missing]
    else:
        pairs = _common_subsequence(wanted, made)
        matched = len(pairs)
        kept = {want for want, _ in pairs}
        lost = [
            _missing_in_order(wanted, position, pairs, uses)
            for position in range(len(wanted))
            if position not in kept
        ]
        if mode == "exact":
            used = {made_at for _, made_at in pairs}
            lost += [
                f"step {use.step}: {use.describe()} is extra or out of order"
                for index, use in enumerate(uses)
                if index not in used
            ]
    recall = matched / len(wanted) if wanted else 1.0
    precision = matched / len(made) if made else 1.0
    if mode == "exact":
        value = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        measure = f"F1 {value:.2f} of precision {precision:.2f} and recall {recall:.2f}"
    else:
        value = recall
        measure = f"recall {recall:.2f} ({matched} of {len(wanted)} expected calls)"
    perfect = value == 1.0
    if not partial:
        value = 1.0 if perfect else 0.0
    shown = " -> ".join(made) or "no tool"
    head = f"{mode.replace('_', ' ')}: {measure}; called {shown}"
    reason = head if perfect else f"{head}; {_listed(lost)}"
    return Scored(value, reason, {"precision": precision, "recall": recall})


def no_forbidden_tools(
    trajectory: Trajectory | Sequence[Inference], forbidden: Sequence[str]
) -> Scored:
    """1.0 if none of the `forbidden` tools was called, else 0.0 (the reason names each call)."""
    scorer = "no_forbidden_tools"
    episode = as_trajectory(trajectory, scorer)
    if isinstance(forbidden, str):
        forbidden = [forbidden]
    for item in forbidden:
        _check_name(scorer, "each forbidden tool", item)
    banned = set(forbidden)
    calls = [
        f"step {use.step}: called {use.describe()}, a forbidden tool"
        for use in episode.tool_uses
        if use.name in banned
    ]
    if calls:
        return Scored(0.0, _listed(calls))
    return Scored(1.0, f"none of {', '.join(sorted(banned))} was called")


def tool_arguments_valid(trajectory: Trajectory | Sequence[Inference]) -> Scored:
    """The share of tool calls whose arguments satisfy the tool's declared JSON Schema.

    The schema is the one the request that got the call declared (`Inference.tool_schemas`);
    arguments that are not JSON, and a call of a tool the request did not declare, are
    invalid. 1.0 when no tool was called. Validated by `jsonschema`.
    """
    scorer = "tool_arguments_valid"
    episode = as_trajectory(trajectory, scorer)
    uses = episode.tool_uses
    if not uses:
        return Scored(1.0, "no tool was called")
    problems: list[str] = []
    for step in episode.steps:
        declared = step.inference.tool_schemas
        for use in step.tools:
            problem = _schema_problem(use, declared)
            if problem is not None:
                problems.append(f"step {use.step}: {use.describe()}: {problem}")
    valid = len(uses) - len(problems)
    if not problems:
        return Scored(1.0, f"{len(uses)} of {len(uses)} tool calls match their tools' schemas")
    return Scored(valid / len(uses), f"{valid} of {len(uses)} valid; {_listed(problems)}")


def max_steps(trajectory: Trajectory | Sequence[Inference], limit: int) -> Scored:
    """1.0 if the episode took at most `limit` model calls (steps), else 0.0."""
    scorer = "max_steps"
    episode = as_trajectory(trajectory, scorer)
    _check_limit(scorer, limit)
    count = episode.model_calls
    if count <= limit:
        return Scored(1.0, f"{count} steps, within the limit of {limit}")
    names = ", ".join(episode.tool_names[-REASON_ITEMS:]) or "no tool"
    return Scored(
        0.0,
        f"{count} steps, over the limit of {limit}: step {limit + 1} is the first past it "
        f"(last tools called: {names})",
    )


def max_tool_calls(trajectory: Trajectory | Sequence[Inference], limit: int) -> Scored:
    """1.0 if the episode made at most `limit` tool calls, else 0.0."""
    scorer = "max_tool_calls"
    episode = as_trajectory(trajectory, scorer)
    _check_limit(scorer, limit)
    uses = episode.tool_uses
    if len(uses) <= limit:
        return Scored(1.0, f"{len(uses)} tool calls, within the limit of {limit}")
    first = uses[limit]
    return Scored(
        0.0,
        f"{len(uses)} tool calls, over the limit of {limit}: call {limit + 1} is "
        f"step {first.step}: {first.describe()}",
    )


def no_tool_errors(trajectory: Trajectory | Sequence[Inference]) -> Scored:
    """The share of tool calls whose result is not an error (1.0 when there is none).

    A result counts as an error where the API marks it so (Anthropic's `is_error`);
    OpenAI's APIs have no such mark, so there every result counts as a success.
    """
    scorer = "no_tool_errors"
    episode = as_trajectory(trajectory, scorer)
    uses = episode.tool_uses
    if not uses:
        return Scored(1.0, "no tool was called")
    errors = [
        f"step {use.step}: {use.describe()} returned an error: "
        f"{_short(use.result.content if use.result else '')}"
        for use in uses
        if use.is_error
    ]
    if not errors:
        return Scored(1.0, f"no errors in {len(uses)} tool calls")
    return Scored((len(uses) - len(errors)) / len(uses), _listed(errors))


# -- helpers --------------------------------------------------------------------------


def _check_name(scorer: str, what: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{scorer}: {what} must be a non-empty tool name, got {name!r}")


def _check_limit(scorer: str, limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"{scorer}: limit must be a whole number >= 0, got {limit!r}")


def _listed(items: Sequence[str]) -> str:
    shown = "; ".join(items[:REASON_ITEMS])
    more = len(items) - REASON_ITEMS
    return f"{shown}; and {more} more" if more > 0 else shown


def _short(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _argument_problem(
    use: ToolUse,
    arguments: Mapping[str, Any] | None,
    match: ArgumentsMatch,
    where: Callable[[Any], bool] | None,
    check_schema: Callable[[Any], str | None] | None,
) -> str | None:
    """Why a call's arguments do not match what was asked, or None when they do."""
    if arguments is None and where is None and check_schema is None:
        return None
    if not use.call.arguments_valid:
        return "its arguments are not valid JSON"
    given = use.arguments
    if arguments is not None:
        if not isinstance(given, Mapping):
            return f"its arguments are not an object: {given!r}"
        for key, value in arguments.items():
            if key not in given:
                return f"{key} is missing (expected {value!r})"
            if given[key] != value:
                return f"{key} is {given[key]!r}, expected {value!r}"
        if match == "exact":
            extra = sorted(set(given) - set(arguments))
            if extra:
                return f"unexpected argument(s) {', '.join(extra)}"
    if where is not None and not where(given):
        name = getattr(where, "__name__", "the predicate")
        return f"{name} is false for its arguments"
    if check_schema is not None:
        return check_schema(given)
    return None


def _schema_check(scorer: str, schema: Any) -> Callable[[Any], str | None]:
    """A check of arguments against a JSON Schema or a pydantic model: the problem or None."""
    from pydantic import BaseModel

    if isinstance(schema, type) and issubclass(schema, BaseModel):
        model = schema

        def check_model(value: Any) -> str | None:
            from pydantic import ValidationError

            try:
                model.model_validate(value)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "arguments"
                return f"does not validate as {model.__name__}: {where}: {first['msg']}"
            return None

        return check_model
    if not isinstance(schema, (Mapping, bool)):
        raise TypeError(
            f"{scorer}: schema must be a JSON Schema dict or a pydantic model class, "
            f"got {type(schema).__name__}"
        )
    from pytest_llmeval.scorers.text import _first_schema_error, _validator

    validator = _validator(schema)

    def check_json(value: Any) -> str | None:
        error = _first_schema_error(validator, value)
        return None if error is None else f"breaks the schema at {error}"

    return check_json


def _schema_problem(use: ToolUse, declared: Mapping[str, Any]) -> str | None:
    """Why a call breaks its tool's declared schema, or None when it conforms."""
    from pytest_llmeval.scorers.text import _first_schema_error, _validator

    if not use.call.arguments_valid:
        return f"arguments are not valid JSON: {_short(use.call.arguments_raw)}"
    if use.name not in declared:
        tools = ", ".join(sorted(declared)) or "none"
        return f"{use.name} is not a declared tool (declared: {tools})"
    try:
        validator = _validator(declared[use.name])
    except ValueError as invalid:
        return f"the tool's declared schema is not valid: {invalid}"
    error = _first_schema_error(validator, use.arguments)
    return None if error is None else f"breaks the tool's schema at {error}"


def _common_subsequence(wanted: Sequence[str], made: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs (in wanted, in made) of a longest common subsequence, earliest first."""
    rows, columns = len(wanted), len(made)
    table = [[0] * (columns + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(columns - 1, -1, -1):
            if wanted[i] == made[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < rows and j < columns:
        if wanted[i] == made[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _missing_in_order(
    wanted: Sequence[str], position: int, pairs: Sequence[tuple[int, int]], uses: Sequence[ToolUse]
) -> str:
    """Why expected call number `position` is missing: never called, or out of order."""
    name = wanted[position]
    before = [made for want, made in pairs if want < position]
    after_step = uses[before[-1]].step if before else None
    if name not in {use.name for use in uses}:
        return f"expected call {position + 1} ({name}) was never made"
    where = f"after step {after_step}" if after_step is not None else "first"
    steps = ", ".join(str(use.step) for use in uses if use.name == name)
    return (
        f"expected call {position + 1} ({name}) should come {where}, but was made out of "
        f"order (step {steps})"
    )
