"""A seeded simulation of the gate's rules: false alarms under no change, power by drop.

Model: a group of n cases, each with its own true pass probability p_i ~ Beta(4, 1)
(mean 0.8, some hard cases); a run samples each case `repeats` times (Bernoulli(p_i)),
the case score is the mean of its samples and the case passes at score >= 0.5. The new
run draws from p_i - drop (clipped at 0), so the expected mean drop is about `drop`.
Each cell decides `SIMULATIONS` independent baseline/new pairs with the gate's own
`decide_group` (rule auto, no replay, one group so no multiplicity correction) and
counts regressions. `python -m tests.gate_simulation` prints the table in
docs/regression.md; tests/test_decision.py checks both.
"""

from __future__ import annotations

import random

from pytest_llmeval.records import stats
from pytest_llmeval.records.decision import GatePolicy, PairedGroup, decide_group

SIZES = (5, 10, 30, 100, 500)
REPEATS = (1, 3)
DROPS = (0.0, 0.05, 0.1, 0.2, 0.5)
SIMULATIONS = 300
SEED = 20261206
#: Monte Carlo rounds of the sign-flip test in the simulation (the gate uses 10,000;
#: 1,000 resolves p < 0.05 well enough and keeps the study under a minute).
ROUNDS = 1000


def _run(rng: random.Random, probabilities: list[float], repeats: int):
    scores, variances = [], []
    for p in probabilities:
        samples = [1.0 if rng.random() < p else 0.0 for _ in range(repeats)]
        scores.append(sum(samples) / repeats)
        variances.append(stats.stdev(samples) ** 2 if repeats > 1 else 0.0)
    return scores, variances


def simulate_cell(
    n: int, repeats: int, drop: float, policy: GatePolicy, seed: int
) -> tuple[float, dict[str, int]]:
    """(rate of regressions, count of decisions by rule) over SIMULATIONS pairs."""
    rng = random.Random(seed)
    regressions = 0
    rules: dict[str, int] = {}
    for _ in range(SIMULATIONS):
        truth = [rng.betavariate(4.0, 1.0) for _ in range(n)]
        before, var_before = _run(rng, truth, repeats)
        after, var_after = _run(rng, [max(0.0, p - drop) for p in truth], repeats)
        group = PairedGroup(
            before=before,
            after=after,
            passed_before=[s >= 0.5 for s in before],
            passed_after=[s >= 0.5 for s in after],
            variance_before=var_before if repeats > 1 else None,
            variance_after=var_after if repeats > 1 else None,
            repeats_before=repeats,
            repeats_after=repeats,
        )
        decision = decide_group(group, policy)
        rules[decision.rule] = rules.get(decision.rule, 0) + 1
        regressions += decision.regressed
    return regressions / SIMULATIONS, rules


def simulate(
    policy: GatePolicy | None = None,
) -> dict[tuple[int, int, float], tuple[float, dict[str, int]]]:
    """Every cell of the study, keyed by (n, repeats, drop)."""
    policy = policy or GatePolicy(rounds=ROUNDS)
    results = {}
    for i, n in enumerate(SIZES):
        for j, repeats in enumerate(REPEATS):
            for k, drop in enumerate(DROPS):
                seed = SEED + 100 * i + 10 * j + k
                results[(n, repeats, drop)] = simulate_cell(n, repeats, drop, policy, seed)
    return results


def _main_rule(rules: dict[str, int]) -> str:
    return max(sorted(rules), key=lambda rule: rules[rule])


def table(results: dict[tuple[int, int, float], tuple[float, dict[str, int]]]) -> str:
    """The markdown table of docs/regression.md."""
    header = (
        "| cases | repeats | rule (mostly) | no change | "
        + " | ".join(f"drop {d:g}" for d in DROPS[1:])
        + " |"
    )
    lines = [header, "|" + "---|" * (4 + len(DROPS) - 1)]
    for n in SIZES:
        for repeats in REPEATS:
            cells = [results[(n, repeats, d)] for d in DROPS]
            rule = _main_rule(cells[0][1])
            rates = " | ".join(f"{rate:.2f}" for rate, _ in cells)
            lines.append(f"| {n} | {repeats} | {rule} | {rates} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(simulate()))
