"""The gate's decision rules (pytest_llmeval.records.decision): hand computations and a seeded
simulation of false alarms and power."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pytest_llmeval.records.decision import (
    GatePolicy,
    PairedGroup,
    cases_needed,
    choose_rule,
    correct,
    decide_group,
    detectable_drop,
    interval,
    is_unstable,
    min_changed_cases,
    pass_at_k,
    pass_hat_k,
    within_case_test,
)
from tests import gate_simulation


def paired(before: list[float], after: list[float], **extra: object) -> PairedGroup:
    return PairedGroup(
        before=before,
        after=after,
        passed_before=[s >= 0.5 for s in before],
        passed_after=[s >= 0.5 for s in after],
        **extra,  # type: ignore[arg-type]
    )


def test_four_of_ten_collapsing_regresses_by_the_conservative_rule() -> None:
    group = paired([1.0] * 10, [0.0] * 4 + [1.0] * 6)
    decision = decide_group(group, GatePolicy())
    assert decision.rule == "conservative"
    assert decision.regressed
    assert "4 changed case(s) cannot reach p < 0.05" in decision.reason
    # the sign-flip test alone cannot: 2^-4 = 0.0625
    statistical = decide_group(group, GatePolicy(rule="statistical"))
    assert statistical.rule == "statistical" and statistical.p_value == 0.0625
    assert not statistical.regressed


def test_two_of_five_from_pass_to_zero_regresses() -> None:
    decision = decide_group(paired([1.0] * 5, [0.0, 0.0, 1.0, 1.0, 1.0]), GatePolicy())
    assert (decision.rule, decision.regressed) == ("conservative", True)


def test_small_noise_does_not_regress() -> None:
    before = [0.80, 0.70, 0.90, 0.60, 0.75, 0.85, 0.65, 0.95, 0.70, 0.80]
    after = [b + (0.01 if i % 2 else -0.01) for i, b in enumerate(before)]
    for rule in ("auto", "statistical", "conservative"):
        assert not decide_group(paired(before, after), GatePolicy(rule=rule)).regressed  # type: ignore[arg-type]


def test_noise_flips_both_ways_and_the_conservative_rule_counts_the_balance() -> None:
    # 2 newly failing and 2 newly passing: no net collapse
    group = paired([1.0, 1.0, 0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.6, 0.0, 1.0])
    decision = decide_group(group, GatePolicy(rule="conservative"))
    assert decision.drop_beyond_tolerance and not decision.regressed
    assert "(found 3 - 2)" in decision.reason


def test_many_changed_cases_are_decided_by_the_paired_test() -> None:
    before = [1.0] * 20
    after = [0.0] * 8 + [1.0] * 12
    decision = decide_group(paired(before, after), GatePolicy())
    assert decision.rule == "statistical"
    assert decision.p_value == pytest.approx(2.0**-8)
    assert decision.regressed


def test_a_replayed_run_is_decided_by_its_drop() -> None:
    group = paired([1.0] * 30, [0.0] + [1.0] * 29, replayed=True)
    decision = decide_group(group, GatePolicy())
    assert decision.rule == "replayed" and decision.regressed
    assert "not sampling noise" in decision.reason
    # the statistical rule, asked for, still decides it statistically
    assert decide_group(group, GatePolicy(rule="statistical")).rule == "statistical"


def test_repeats_with_wide_spread_absorb_a_drop_inside_their_noise() -> None:
    # 5 cases, 3 repeats each, case variance 1/3 (e.g. samples 1,1,0): a 0.07 drop is noise
    inside = paired(
        [0.67] * 5,
        [0.60] * 5,
        variance_before=[1 / 3] * 5,
        variance_after=[1 / 3] * 5,
        repeats_before=3,
        repeats_after=3,
    )
    decision = decide_group(inside, GatePolicy())
    assert decision.rule == "within-case"
    assert decision.p_value is not None and decision.p_value > 0.3
    assert not decision.regressed


def test_repeats_alarm_on_a_drop_far_outside_their_noise() -> None:
    # the same 5 cases fall from 1.0 with no spread to 0.33 (samples 1,0,0)
    far = paired(
        [1.0] * 5,
        [1 / 3] * 5,
        variance_before=[0.0] * 5,
        variance_after=[1 / 3] * 5,
        repeats_before=3,
        repeats_after=3,
    )
    decision = decide_group(far, GatePolicy())
    assert decision.rule == "within-case" and decision.regressed
    # hand computation: var = 5 * (0/3 + (1/3)/3) / 25 = 1/45; t = (2/3) / sqrt(1/45) = 4.47
    assert decision.p_value == pytest.approx(within_case_test(far))
    assert decision.p_value < 1e-3


def test_clustered_cases_flip_together() -> None:
    # 6 cases in 2 clusters: the test has only 2 units, so it cannot reach 0.05
    group = paired(
        [1.0] * 6, [0.0] * 6, clusters=["doc-a", "doc-a", "doc-a", "doc-b", "doc-b", "doc-b"]
    )
    assert choose_rule(group, GatePolicy(rule="statistical")) == "statistical"
    assert decide_group(group, GatePolicy(rule="statistical")).p_value == 0.25
    unclustered = paired([1.0] * 6, [0.0] * 6)
    assert decide_group(unclustered, GatePolicy(rule="statistical")).p_value == 2.0**-6


def test_holm_and_benjamini_hochberg_by_hand() -> None:
    p = [0.01, 0.04, 0.03]
    assert correct(p, "holm") == pytest.approx([0.03, 0.06, 0.06])
    assert correct(p, "bh") == pytest.approx([0.03, 0.04, 0.04])
    assert correct(p, "none") == p
    # a borderline group: 0.03 passes alone, not after Holm over three groups
    assert p[2] < 0.05 and correct(p, "holm")[2] > 0.05


def test_pass_at_k_and_pass_hat_k_by_hand() -> None:
    # 5 samples, 2 passed
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)
    assert pass_at_k(5, 2, 4) == 1.0  # only 3 failures: any 4 include a pass
    assert pass_hat_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_hat_k(5, 2, 2) == pytest.approx(1 / 10)
    assert pass_hat_k(5, 2, 3) == 0.0
    assert pass_hat_k(3, 3, 3) == 1.0
    with pytest.raises(ValueError, match="pass_at_k: need 0 <= passed <= samples"):
        pass_at_k(3, 4, 1)


def test_unstable_cases_and_intervals() -> None:
    assert is_unstable([0.9, 0.4, 0.8], threshold=0.5)
    assert not is_unstable([0.9, 0.6, 0.8], threshold=0.5)
    assert not is_unstable([0.4], threshold=0.5)
    kind, low, high = interval([1.0, 1.0, 0.0, 1.0])
    assert kind == "wilson" and 0.0 < low < 0.75 < high <= 1.0
    assert interval([0.5, 0.7, 0.9])[0] == "t"


def test_what_a_group_can_detect() -> None:
    assert min_changed_cases(0.05) == 5  # 2^-5 = 0.031 < 0.05 <= 2^-4
    ten = paired([1.0] * 10, [1.0] * 10)
    assert detectable_drop(ten, GatePolicy(), "statistical") == pytest.approx(0.5)
    assert detectable_drop(ten, GatePolicy(), "conservative") == pytest.approx(0.2)
    assert detectable_drop(paired([1.0] * 4, [1.0] * 4), GatePolicy(), "statistical") == math.inf
    assert detectable_drop(ten, GatePolicy(), "replayed") == pytest.approx(0.02)
    # a drop of 0.1 spread as cases falling to 0 needs 50 cases
    assert cases_needed(0.1, ten, GatePolicy()) == 50


# -- the simulation study --------------------------------------------------------------


@pytest.fixture(scope="module")
def study() -> dict[tuple[int, int, float], tuple[float, dict[str, int]]]:
    return gate_simulation.simulate()


def test_the_statistical_rules_keep_false_alarms_at_alpha(
    study: dict[tuple[int, int, float], tuple[float, dict[str, int]]],
) -> None:
    alpha = GatePolicy().alpha
    error = 3 * math.sqrt(alpha * (1 - alpha) / gate_simulation.SIMULATIONS)
    for (n, repeats, drop), (rate, rules) in study.items():
        if drop == 0.0 and set(rules) <= {"statistical", "within-case"}:
            assert rate <= alpha + error, (n, repeats, rate)


def test_power_grows_with_the_drop_and_the_cases(
    study: dict[tuple[int, int, float], tuple[float, dict[str, int]]],
) -> None:
    for n in gate_simulation.SIZES:
        for repeats in gate_simulation.REPEATS:
            rates = [study[(n, repeats, drop)][0] for drop in gate_simulation.DROPS]
            assert rates[-1] > rates[0], (n, repeats, rates)
    assert study[(500, 1, 0.1)][0] > 0.9
    assert study[(100, 3, 0.1)][0] > 0.8


def test_the_docs_show_the_table_the_simulation_prints(
    study: dict[tuple[int, int, float], tuple[float, dict[str, int]]],
) -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "regression.md"
    assert gate_simulation.table(study) in docs.read_text(encoding="utf-8"), (
        "docs/regression.md's simulation table is not the one `python -m "
        "tests.gate_simulation` prints: paste its output into the section"
    )
