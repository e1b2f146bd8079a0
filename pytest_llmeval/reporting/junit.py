"""JUnit XML properties: per test case and per test suite (pure; no pytest import).

Every value is a string: numbers with 6 significant digits (`0.85`, `0.0123`,
`1.5e-05`), booleans as `true`/`false`. Properties that are unknown (no priced call,
no latency) are left out rather than written empty. Names and values made of user
text (group labels, score names, model names) carry control characters as visible
escapes (`printable`): pytest escapes property values but writes names raw, and one
NUL or ESC would make the whole file ill-formed XML.

How they reach pytest's junitxml writer is the plugin's business (see plugin.py): the
test case properties go into the teardown report's `user_properties`, which pytest's
`LogXML` writes as `<properties>` inside `<testcase>`; the suite properties go to
`LogXML.add_global_property` before `LogXML` writes the file at session finish.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence

from pytest_llmeval.core.printable import printable
from pytest_llmeval.records.accounting import rollup
from pytest_llmeval.records.baseline import group_accounting
from pytest_llmeval.records.comparison import BaselineComparison
from pytest_llmeval.records.models import EvalResult, SessionAggregate, UsageRollup
from pytest_llmeval.records.variant_models import VariantComparison

PREFIX = "llm_eval"

Property = tuple[str, str]


def format_number(value: float) -> str:
    """A number as a property value: 6 significant digits."""
    return f"{value:.6g}"


def _printable(properties: list[Property]) -> list[Property]:
    return [(printable(name), printable(value)) for name, value in properties]


def _shared(properties: list[Property]) -> list[Property]:
    """Printable test case properties, each name and value one shared string: pytest
    keeps every teardown report's user_properties, and junitxml their XML, until the
    session ends, and 10,000 test cases repeat the same names and mostly the same values
    (a copy of each per test case is about 6 MB)."""
    return [(sys.intern(name), sys.intern(value)) for name, value in _printable(properties)]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _known_cost(usage: UsageRollup) -> float | None:
    return usage.cost_usd if usage.calls > usage.unpriced else None


def testcase_properties(result: EvalResult) -> list[Property]:
    """The properties of one test case: score, threshold, status, scores, accounting."""
    properties: list[Property] = []
    if result.score is not None:
        properties.append((f"{PREFIX}.score", format_number(result.score)))
    properties.append((f"{PREFIX}.threshold", format_number(result.threshold)))
    properties.append((f"{PREFIX}.status", result.status))
    for score in result.scores:
        properties.append((f"{PREFIX}.score.{score.name}", format_number(score.value)))
    if not result.inferences:
        return _shared(properties)
    usage = rollup([result.inferences])
    cost = _known_cost(usage)
    if cost is not None:
        properties.append((f"{PREFIX}.cost_usd", format_number(cost)))
    if usage.latency_max_s is not None:
        properties.append((f"{PREFIX}.latency_s", format_number(usage.latency_max_s)))
    properties.append((f"{PREFIX}.input_tokens", str(usage.input_tokens)))
    properties.append((f"{PREFIX}.output_tokens", str(usage.output_tokens)))
    if usage.app_models:
        properties.append((f"{PREFIX}.model", ",".join(usage.app_models)))
    properties += simulator_properties(usage)
    if usage.simulator_models:
        properties.append((f"{PREFIX}.simulator_model", ",".join(usage.simulator_models)))
    return _shared(properties)


def simulator_properties(usage: UsageRollup) -> list[Property]:
    """The simulated users' calls and cost, apart from the app's (none without any)."""
    if not usage.simulator_calls:
        return []
    return [
        (f"{PREFIX}.simulator_calls", str(usage.simulator_calls)),
        (f"{PREFIX}.simulator_cost_usd", format_number(usage.simulator_cost_usd)),
    ]


def suite_properties(
    aggregate: SessionAggregate, comparison: BaselineComparison | None = None
) -> list[Property]:
    """The properties of the test suite: session totals, then each group."""
    properties: list[Property] = [
        (f"{PREFIX}.cases", str(aggregate.cases)),
        (f"{PREFIX}.passed", str(aggregate.passed)),
        (f"{PREFIX}.below", str(aggregate.below)),
        (f"{PREFIX}.failed", str(aggregate.failed)),
    ]
    if aggregate.mean is not None:
        properties.append((f"{PREFIX}.mean", format_number(aggregate.mean)))
    if aggregate.cases:
        properties.append(
            (f"{PREFIX}.pass_rate", format_number(aggregate.passed / aggregate.cases))
        )
    cost = _known_cost(aggregate.usage)
    if cost is not None:
        properties.append((f"{PREFIX}.cost_usd", format_number(cost)))
    if aggregate.usage.latency_p95_s is not None:
        properties.append((f"{PREFIX}.latency_p95_s", format_number(aggregate.usage.latency_p95_s)))
    properties += simulator_properties(aggregate.usage)
    if comparison is not None:
        properties.append((f"{PREFIX}.regression", _flag(comparison.regressed)))
        if comparison.cost_tolerance is not None:
            properties.append((f"{PREFIX}.cost_regression", _flag(comparison.cost_regressed)))
        if comparison.latency_tolerance is not None:
            properties.append((f"{PREFIX}.latency_regression", _flag(comparison.latency_regressed)))
    compared = {g.group: g for g in comparison.groups} if comparison is not None else {}
    for group in aggregate.groups:
        name = f"{PREFIX}.group.{group.label}"
        properties.append((f"{name}.n", str(group.n)))
        for field, value in (
            ("mean", group.mean),
            ("ci_low", group.ci_low),
            ("ci_high", group.ci_high),
            ("pass_rate", group.pass_rate),
            *zip(("cost_usd", "latency_p95_s"), group_accounting(group), strict=True),
        ):
            if value is not None:
                properties.append((f"{name}.{field}", format_number(value)))
        verdict = compared.get(group.group)
        if verdict is not None:
            if verdict.drop is not None:
                properties.append((f"{name}.delta", format_number(-verdict.drop)))
            if verdict.p_value is not None:
                properties.append((f"{name}.p_value", format_number(verdict.p_value)))
            properties.append((f"{name}.regressed", _flag(verdict.regressed)))
    return _printable(properties)


def variant_properties(
    comparisons: Iterable[VariantComparison], labels: Mapping[str, str]
) -> list[Property]:
    """The suite properties of the variants evals: per group its reference and pick
    (`none` when none qualifies), per variant its n, mean, pass rate, cost per case and
    verdict against the reference; `labels` maps group keys to display names."""
    properties: list[Property] = []
    for comparison in comparisons:
        name = f"{PREFIX}.variants.{labels.get(comparison.group, comparison.group)}"
        properties.append((f"{name}.reference", comparison.reference))
        properties.append((f"{name}.recommended", comparison.recommended or "none"))
        if comparison.pareto:
            properties.append((f"{name}.pareto", ",".join(comparison.pareto)))
        verdicts = {versus.name: versus.verdict for versus in comparison.versus}
        for stats in comparison.variants:
            each = f"{name}.{stats.name}"
            properties.append((f"{each}.n", str(stats.n)))
            properties.append((f"{each}.mean", format_number(stats.mean)))
            properties.append((f"{each}.pass_rate", format_number(stats.pass_rate)))
            if stats.cost_per_case_usd is not None:
                properties.append(
                    (f"{each}.cost_per_case_usd", format_number(stats.cost_per_case_usd))
                )
            if stats.name in verdicts:
                properties.append((f"{each}.verdict", verdicts[stats.name]))
    return _printable(properties)


def add_suite_properties(plugins: Iterable[object], properties: Sequence[Property]) -> bool:
    """Hand suite properties to pytest's junitxml writer, if one is registered.

    `plugins` is `config.pluginmanager.get_plugins()`. pytest registers its `LogXML`
    object without a public name, so it is found by its public method
    `add_global_property` (what the `record_testsuite_property` fixture calls).
    Returns whether a writer took them.
    """
    for plugin in plugins:
        add = getattr(plugin, "add_global_property", None)
        if callable(add) and type(plugin).__name__ == "LogXML":
            for name, value in properties:
                add(name, value)
            return True
    return False
