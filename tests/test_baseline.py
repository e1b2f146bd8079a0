"""The baseline file and the regression verdict, with hand-checked p-values."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pytest_llmeval.core.errors import FileFormatError
from pytest_llmeval.records.aggregate import aggregate_session
from pytest_llmeval.records.baseline import (
    Baseline,
    BaselineCase,
    BaselineGroup,
    baseline_from_aggregate,
    group_accounting,
    load_baseline,
    write_baseline,
)
from pytest_llmeval.records.comparison import (
    BaselineComparison,
    GroupComparison,
    compare_baselines,
    compare_to_baseline,
)
from pytest_llmeval.records.decision import GatePolicy
from pytest_llmeval.records.models import EvalResult, Inference, Score
from pytest_llmeval.reporting.regression import (
    missing_baseline_line,
    regression_lines,
    summary_lines,
)

FILE = "tests/test_bot.py"


def result(
    function: str,
    case: str,
    score: float | None,
    *,
    threshold: float = 0.5,
    repeat: int | None = None,
    status: str | None = None,
    group: str | None = None,
) -> EvalResult:
    case_id = f"{FILE}::{function}[{case}]"
    nodeid = case_id if repeat is None else f"{FILE}::{function}[{case}-r{repeat}]"
    if status is None:
        status = "skipped" if score is None else ("passed" if score >= threshold else "below")
    return EvalResult(
        nodeid=nodeid,
        case_id=case_id,
        group=group or f"{FILE}::{function}",
        repeat_index=repeat,
        threshold=threshold,
        aggregate="mean",
        scores=[] if score is None else [Score(name="quality", value=score)],
        score=score,
        status=status,  # type: ignore[arg-type]
    )


def run(function: str, scores: list[float]) -> list[EvalResult]:
    return [result(function, f"c{i:02d}", s) for i, s in enumerate(scores)]


def verdict(
    old: list[float], new: list[float], alpha: float = 0.05, **policy: object
) -> tuple[BaselineComparison, GroupComparison]:
    baseline = baseline_from_aggregate(aggregate_session(run("test_answers", old)))
    comparison = compare_to_baseline(
        aggregate_session(run("test_answers", new)),
        baseline,
        GatePolicy(alpha=alpha, **policy),  # type: ignore[arg-type]
    )
    [group] = comparison.groups
    return comparison, group


# -- the baseline file ------------------------------------------------------------------


def test_baseline_holds_per_group_summary_and_cases() -> None:
    results = [
        result("test_a", "x", 1.0),
        result("test_a", "y", 0.2),
        result("test_a", "z", None),  # skipped: left out
        result("test_b", "p", 0.6, repeat=1),
        result("test_b", "p", 0.8, repeat=2),
    ]
    baseline = baseline_from_aggregate(aggregate_session(results))
    assert list(baseline.groups) == [f"{FILE}::test_a", f"{FILE}::test_b"]
    a = baseline.groups[f"{FILE}::test_a"]
    assert (a.label, a.n, a.mean, a.pass_rate) == ("test_a", 2, 0.6, 0.5)
    assert a.cases == {
        f"{FILE}::test_a[x]": BaselineCase(score=1.0, passed=True),
        f"{FILE}::test_a[y]": BaselineCase(score=0.2, passed=False),
    }
    b = baseline.groups[f"{FILE}::test_b"]
    assert b.cases[f"{FILE}::test_b[p]"].score == pytest.approx(0.7)  # repeats averaged
    assert a.cost_usd is None and a.latency_p95_s is None


def test_baseline_bytes_are_stable(tmp_path: Path) -> None:
    results = run("test_answers", [1.0, 0.25, 0.5])
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    write_baseline(first, baseline_from_aggregate(aggregate_session(results)))
    write_baseline(second, baseline_from_aggregate(aggregate_session(reversed(results))))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text(encoding="utf-8") == (
        "{\n"
        '  "schema_version": 1,\n'
        '  "groups": {\n'
        '    "tests/test_bot.py::test_answers": {\n'
        '      "cases": {\n'
        '        "tests/test_bot.py::test_answers[c00]": {\n'
        '          "passed": true,\n'
        '          "score": 1.0\n'
        "        },\n"
        '        "tests/test_bot.py::test_answers[c01]": {\n'
        '          "passed": false,\n'
        '          "score": 0.25\n'
        "        },\n"
        '        "tests/test_bot.py::test_answers[c02]": {\n'
        '          "passed": true,\n'
        '          "score": 0.5\n'
        "        }\n"
        "      },\n"
        '      "cost_usd": null,\n'
        '      "label": "test_answers",\n'
        '      "latency_p95_s": null,\n'
        '      "mean": 0.5833333333333334,\n'
        '      "n": 3,\n'
        '      "pass_rate": 0.6666666666666666\n'
        "    }\n"
        "  }\n"
        "}\n"
    )
    assert load_baseline(first) == baseline_from_aggregate(aggregate_session(results))


def test_corrupt_baseline_is_an_error_and_stays_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "llmeval-baseline.json"
    path.write_bytes(b'{"schema_version": 1, "groups": {"g": {"n": "many"}}}')
    before = path.read_bytes()
    with pytest.raises(FileFormatError) as info:
        load_baseline(path)
    assert path.read_bytes() == before
    assert str(info.value).startswith(f"{path}: invalid baseline at groups.g.label: Field required")
    assert "--llmeval-update-baseline" in str(info.value)


def test_newer_baseline_is_refused_and_stays_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "llmeval-baseline.json"
    path.write_bytes(b'{"schema_version": 99, "groups": {}, "anything": [1]}\n')
    before = path.read_bytes()
    with pytest.raises(FileFormatError) as info:
        load_baseline(path)
    assert path.read_bytes() == before
    assert "schema_version 99, newer than this pytest-llm-eval reads (1)" in str(info.value)
    assert "pip install -U pytest-llm-eval" in str(info.value)


# -- the verdict ------------------------------------------------------------------------


def test_four_of_ten_cases_falling_to_zero_is_not_significant() -> None:
    # 10 paired cases, 4 fall from 1.0 to 0.0, 6 unchanged. Differences: four -1.0 and
    # six 0.0. Flipping a zero changes nothing, so the sign-flip distribution lives on
    # the 2^4 = 16 sign patterns of the four -1.0s; only "all negative" is as extreme as
    # observed: p = 1/16 = 0.0625 >= 0.05. McNemar: b = 4 pass->fail, c = 0,
    # P(Binomial(4, 1/2) >= 4) = 1/16. The drop (0.4) is large, the evidence is not:
    # under --llmeval-gate=statistical the group does not regress.
    comparison, group = verdict([1.0] * 10, [0.0] * 4 + [1.0] * 6, rule="statistical")
    assert group.drop == pytest.approx(0.4)
    assert group.p_value == 0.0625
    assert group.mcnemar_p == 0.0625
    assert (group.changed, group.underpowered, group.regressed) == (4, False, False)
    assert group.rule == "statistical"
    lines = summary_lines(comparison, "llmeval-baseline.json")
    assert lines == [
        (
            "baseline llmeval-baseline.json: no regression (largest drop test_answers -0.40, "
            "p=0.062)"
        ),
        (
            "  gate statistical (tolerance 0.02, alpha 0.05), Holm correction across groups "
            "(no group's test could reach alpha)"
        ),
        (
            "  test_answers: no regression, mean -0.40 over 10 shared cases, decided by the "
            "statistical rule: p=0.062 (paired sign-flip over cases)"
        ),
        (
            "    detects drops >= 0.50 (the statistical rule, alpha 0.05, power 0.8); a drop "
            "of 0.25 would need about 20 cases"
        ),
    ]


def test_four_of_ten_cases_falling_to_zero_regress_by_default() -> None:
    # the same collapse under the default gate (auto): 4 changed cases cannot reach
    # p < 0.05 (2^-4), so the conservative rule decides: drop 0.4 > 0.02 and 4 newly
    # failing - 0 newly passing >= 2.
    comparison, group = verdict([1.0] * 10, [0.0] * 4 + [1.0] * 6)
    assert (group.rule, group.regressed, comparison.fails()) == ("conservative", True, True)
    assert group.adjusted_p is None and comparison.tested_groups == 0
    assert summary_lines(comparison, "b.json")[0] == (
        "baseline b.json: REGRESSION (score) in test_answers; see the REGRESSION section"
    )
    lines = regression_lines(comparison, "b.json")
    assert lines[1] == (
        "test_answers: mean -0.40 (1.00 -> 0.60 over 10 shared cases), decided by the "
        "conservative rule (4 cases changed, too few for p < 0.05): 4 newly failing - 0 "
        "newly passing, 2 needed; McNemar p=0.062"
    )
    # the conservative rule flags 2 of 10 falling: drop 0.2; a 0.1 drop needs 2 / 0.1 cases
    assert (group.detectable_drop, group.detectable_by) == (pytest.approx(0.2), "conservative")
    assert (group.smaller_drop, group.cases_needed) == (0.1, 20)


def test_four_hard_failures_and_six_slight_drops_regress() -> None:
    # All 10 differences negative (four -1.0, six -0.05): only the all-negative pattern of
    # 2^10 is as extreme, p = 1/1024 = 0.0009765625. Drop = (4 * 1.0 + 6 * 0.05) / 10 = 0.43.
    comparison, group = verdict([1.0] * 10, [0.0] * 4 + [0.95] * 6)
    assert group.p_value == 1 / 1024
    assert group.drop == pytest.approx(0.43)
    assert group.regressed and comparison.regressed and comparison.fails()
    assert group.newly_failing == [f"{FILE}::test_answers[c0{i}]" for i in range(4)]
    assert group.mcnemar_p == 0.0625  # 4 flips, all pass -> fail: 1/16, reported only


def test_five_of_ten_cases_falling_to_zero_regress() -> None:
    # five -1.0 differences: p = 2^-5 = 0.03125 < 0.05, drop 0.5 > 0.02.
    comparison, group = verdict([1.0] * 10, [0.0] * 5 + [1.0] * 5)
    assert group.p_value == 0.03125
    assert group.regressed
    lines = regression_lines(comparison, "llmeval-baseline.json")
    assert lines[:4] == [
        "against baseline llmeval-baseline.json (tolerance 0.02, alpha 0.05):",
        (
            "test_answers: mean -0.50 (1.00 -> 0.50 over 10 shared cases), decided by the "
            "statistical rule: p=0.031 (paired sign-flip over cases); McNemar p=0.031"
        ),
        (
            "  detects drops >= 0.50 (the statistical rule, alpha 0.05, power 0.8); a drop "
            "of 0.25 would need about 20 cases"
        ),
        "  newly failing (5):",
    ]
    assert lines[4] == f"    {FILE}::test_answers[c00]"


def test_noise_does_not_regress() -> None:
    rng = random.Random(1234)
    old = [rng.uniform(0.6, 0.95) for _ in range(30)]
    new = [score + rng.choice((-0.01, 0.01)) for score in old]
    comparison, group = verdict(old, new)
    assert group.drop is not None and abs(group.drop) < 0.02
    assert not group.regressed and not comparison.fails()
    assert summary_lines(comparison, "b.json")[0].startswith("baseline b.json: no regression")


def test_a_large_drop_on_one_case_is_not_significant() -> None:
    # one of 30 cases falls 1.0 -> 0.0: drop 1/30 = 0.033 > 0.02, but p = 1/2.
    _, group = verdict([1.0] * 30, [0.0] + [1.0] * 29)
    assert group.drop == pytest.approx(1 / 30)
    assert group.p_value == 0.5
    assert not group.regressed


def test_a_significant_drop_below_the_tolerance_is_not_a_regression() -> None:
    # every case drops 0.01: 20 changed cases, so 10,000 random sign patterns; none is as
    # extreme (exact p would be 2^-20), giving the floor (0 + 1) / (10,000 + 1). Yet the
    # drop (0.01) is within the tolerance.
    _, group = verdict([0.9] * 20, [0.89] * 20)
    assert group.p_value == 1 / 10_001
    assert not group.regressed


@pytest.mark.parametrize(("n", "underpowered"), [(1, True), (4, True), (5, False)])
def test_small_groups_are_underpowered(n: int, underpowered: bool) -> None:
    comparison, group = verdict([1.0] * n, [0.0] * n, rule="statistical")
    assert group.min_p == 0.5**n
    assert group.p_value == 0.5**n
    assert group.underpowered is underpowered
    assert group.regressed is not underpowered
    assert group.detectable_drop is (None if underpowered else group.detectable_drop)
    if underpowered:
        cases = "case" if n == 1 else "cases"
        assert summary_lines(comparison, "b.json")[3] == (
            f"    no drop is detectable by the statistical rule with {n} {cases}; a drop of "
            f"0.50 would need about 10 cases"
        )


@pytest.mark.parametrize(("n", "regressed"), [(1, False), (2, True), (4, True)])
def test_small_groups_are_gated_by_the_conservative_rule(n: int, regressed: bool) -> None:
    # too few cases for the paired test: all of them falling 1 -> 0 regresses once at
    # least 2 fall (min_newly_failing), and the group says it is the conservative rule's
    _, group = verdict([1.0] * n, [0.0] * n)
    assert (group.rule, group.regressed) == ("conservative", regressed)
    assert group.detectable_by == "conservative"
    assert group.detectable_drop == (None if n < 2 else pytest.approx(2 / n))


def test_alpha_sets_the_power_bound() -> None:
    _, group = verdict([1.0] * 4, [0.0] * 4, alpha=0.1)
    assert not group.underpowered and group.regressed  # 2^-4 = 0.0625 < 0.1


def test_only_shared_cases_are_paired_and_changes_listed() -> None:
    old = [result("test_a", c, s) for c, s in [("a", 1.0), ("b", 0.2), ("gone", 1.0)]]
    old.append(result("test_old", "x", 1.0))
    new = [result("test_a", c, s) for c, s in [("a", 0.3), ("b", 0.9), ("fresh", 0.0)]]
    new.append(result("test_new", "x", 1.0))
    comparison = compare_to_baseline(
        aggregate_session(new), baseline_from_aggregate(aggregate_session(old))
    )
    [group] = comparison.groups
    assert group.shared == 2
    assert group.old_mean == pytest.approx(0.6) and group.new_mean == pytest.approx(0.6)
    assert group.drop == pytest.approx(0.0)
    assert group.overall_drop == pytest.approx(0.7333333 - 0.4, abs=1e-6)
    assert group.newly_failing == [f"{FILE}::test_a[a]"]
    assert group.newly_passing == [f"{FILE}::test_a[b]"]
    assert group.new_cases == [f"{FILE}::test_a[fresh]"]
    assert group.vanished_cases == [f"{FILE}::test_a[gone]"]
    assert comparison.new_groups == [f"{FILE}::test_new"]
    assert comparison.vanished_groups == [f"{FILE}::test_old"]
    lines = summary_lines(comparison, "b.json")
    assert f"  new groups (not in the baseline): {FILE}::test_new" in lines
    assert f"  vanished groups (in the baseline, not run now): {FILE}::test_old" in lines


def test_many_changed_cases_use_a_seeded_monte_carlo_and_are_deterministic() -> None:
    rng = random.Random(7)
    old = [rng.uniform(0.5, 1.0) for _ in range(40)]
    new = [s - rng.uniform(-0.02, 0.06) for s in old]
    first = verdict(old, new)[1]
    second = verdict(old, new)[1]
    assert first == second
    assert first.changed == 40
    assert first.p_value is not None and 1 / 10_001 <= first.p_value < 0.05


def test_newly_failing_cases_are_cut_after_ten() -> None:
    comparison, group = verdict([1.0] * 14, [0.0] * 13 + [1.0])
    lines = regression_lines(comparison, "b.json")
    assert "  newly failing (13):" in lines
    assert lines[-1] == "    and 3 more"
    assert sum(1 for line in lines if line.startswith(f"    {FILE}")) == 10


# -- cost and latency -------------------------------------------------------------------


def snapshot(cost: float | None, latency: float | None, n: int = 4) -> Baseline:
    cases = {f"c{i}": BaselineCase(score=1.0, passed=True) for i in range(n)}
    group = BaselineGroup(
        label="test_a",
        n=n,
        mean=1.0,
        pass_rate=1.0,
        cost_usd=cost,
        latency_p95_s=latency,
        cases=cases,
    )
    return Baseline(groups={"g": group})


def test_cost_is_compared_per_case_against_its_tolerance() -> None:
    # 0.04 over 4 cases = 0.01 per case; 0.075 over 5 cases = 0.015: +50%.
    comparison = compare_baselines(
        snapshot(0.04, None), snapshot(0.075, None, n=5), GatePolicy(cost_tolerance=0.2)
    )
    [group] = comparison.groups
    assert group.cost_increase == pytest.approx(0.5)
    assert group.cost_regressed and comparison.cost_regressed
    assert not comparison.fails() and comparison.fails(["score", "cost"])
    assert comparison.failing_kinds(["cost", "latency"]) == ["cost"]
    lines = summary_lines(comparison, "b.json")
    # found but not failing: reported as a regression, never as "no regression"
    assert lines[0] == (
        "baseline b.json: regression (cost) in test_a, reported only: --llmeval-fail-on is score"
    )
    assert lines[-1] == (
        "  cost test_a: +50% per case ($0.0100 -> $0.0150), over the 20% tolerance "
        "(reported only: --llmeval-fail-on has no cost)"
    )
    failing = regression_lines(comparison, "b.json", fail_on=["cost"])
    assert failing[1] == "cost test_a: +50% per case ($0.0100 -> $0.0150), over the 20% tolerance"


def test_cost_within_tolerance_or_unchecked_is_fine() -> None:
    assert not compare_baselines(
        snapshot(0.04, None), snapshot(0.044, None), GatePolicy(cost_tolerance=0.2)
    ).cost_regressed
    assert not compare_baselines(snapshot(0.04, None), snapshot(4.0, None)).cost_regressed
    assert not compare_baselines(
        snapshot(None, None), snapshot(4.0, None), GatePolicy(cost_tolerance=0.0)
    ).cost_regressed


def test_cost_from_zero_counts_as_an_increase() -> None:
    comparison = compare_baselines(
        snapshot(0.0, None), snapshot(0.01, None), GatePolicy(cost_tolerance=0.5)
    )
    [group] = comparison.groups
    assert group.cost_increase is None and group.cost_regressed
    assert "cost test_a: from zero per case" in summary_lines(comparison, "b.json")[-1]


def test_latency_p95_increase_past_its_tolerance() -> None:
    comparison = compare_baselines(
        snapshot(None, 0.8), snapshot(None, 1.2), GatePolicy(latency_tolerance=0.25)
    )
    [group] = comparison.groups
    assert group.latency_increase == pytest.approx(0.5)
    assert comparison.latency_regressed and comparison.fails(["latency"])
    assert regression_lines(comparison, "b.json", fail_on=["latency"])[1] == (
        "latency test_a: p95 +50% (0.80 s -> 1.20 s), over the 25% tolerance"
    )


def test_accounting_is_read_from_the_aggregate_usage() -> None:
    plain = run("test_a", [1.0, 1.0])
    assert group_accounting(aggregate_session(plain).groups[0]) == (None, None)
    calls = [
        Inference(
            nodeid=r.nodeid,
            role="app",
            provider="openai",
            model="m",
            priced=True,
            cost_usd=0.25,
            latency_s=float(i + 1),
        )
        for i, r in enumerate(plain)
    ]
    results = [r.model_copy(update={"inferences": [c]}) for r, c in zip(plain, calls, strict=True)]
    group = baseline_from_aggregate(aggregate_session(results)).groups[f"{FILE}::test_a"]
    assert group.cost_usd == 0.5
    assert group.latency_p95_s == pytest.approx(1.95)  # type 7: 1 + 0.95 * (2 - 1)
    unpriced = [
        r.model_copy(
            update={"inferences": [c.model_copy(update={"priced": False, "cost_usd": None})]}
        )
        for r, c in zip(plain, calls, strict=True)
    ]
    assert group_accounting(aggregate_session(unpriced).groups[0])[0] is None


# -- status lines ------------------------------------------------------------------------


def test_missing_baseline_line() -> None:
    assert missing_baseline_line("llmeval-baseline.json") == (
        "no baseline at llmeval-baseline.json: run with --llmeval-update-baseline to create one"
    )


def test_no_regression_line_names_the_largest_drop() -> None:
    # differences -0.02, -0.02, 0, +0.01, 0: drop 0.03 / 5 = 0.006, shown as -0.01. The three
    # non-zero differences have 8 sign patterns; sums <= -0.03: (-,-,-) = -0.05 and
    # (-,-,+) = -0.03, so p = 2/8 = 0.25.
    comparison, _ = verdict(
        [0.9, 0.9, 0.9, 0.9, 0.9], [0.88, 0.88, 0.9, 0.91, 0.9], rule="statistical"
    )
    assert summary_lines(comparison, "llmeval-baseline.json")[0] == (
        "baseline llmeval-baseline.json: no regression (largest drop test_answers -0.01, p=0.25)"
    )
