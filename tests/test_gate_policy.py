"""The gate's policy end to end (issue 18): which rule decides, small sets that gate,
the correction across groups, what a group can detect, replayed runs and clusters.

Each scenario is a user's suite whose real `openai` SDK calls go to the loopback fake
provider; the "model" answers with a quality figure per question, the eval reads it
back as the score. A baseline is written, the answers change, and the suite is
re-recorded (live calls) or replayed from its cassettes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_llmeval.records.baseline import load_baseline
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec

SUITE = """
import os
import openai
import pytest

GROUPS = {groups!r}

def ask(q):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": q}}]
    ).choices[0].message.content
    # a scorer change the replayed tests make: SCORE_SCALE multiplies every score
    return float(reply.split("quality=")[1]) * float(os.environ.get("SCORE_SCALE", "1"))

{tests}
"""

TEST = """
@pytest.mark.llm_eval(threshold=0.5, min_pass_rate=0.0)
@pytest.mark.parametrize("q", GROUPS[{name!r}])
def test_{name}(q, llm_eval):
    llm_eval.log(doc=q.split("/")[0])
    llm_eval.score("quality", ask(q))
"""


def questions(name: str, n: int, docs: int = 1) -> list[str]:
    """n questions; with docs > 1, each belongs to one of `docs` source documents."""
    return [f"doc{i * docs // n}/{name} question {i:02d}" for i in range(n)]


def write_suite(pytester: pytest.Pytester, groups: dict[str, list[str]]) -> None:
    tests = "".join(TEST.format(name=name) for name in groups)
    pytester.makepyfile(test_app=SUITE.format(groups=groups, tests=tests))


def answer(server: FakeProviderServer, quality: dict[str, float]) -> None:
    def reply(request: RecordedRequest) -> ReplySpec:
        q = request.last_user_text
        return ReplySpec(text=f"answer to {q} quality={quality[q]:.4f}")

    server.set_handler(reply)


@pytest.fixture
def env(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    return pytester_env


def baseline_then(
    pytester: pytest.Pytester,
    server: FakeProviderServer,
    groups: dict[str, list[str]],
    before: dict[str, float],
    after: dict[str, float],
    *args: str,
) -> pytest.RunResult:
    """Write the baseline with `before` answers, then re-record with `after` ones."""
    write_suite(pytester, groups)
    answer(server, before)
    written = pytester.runpytest("--llmeval-update-baseline")
    assert written.ret == pytest.ExitCode.OK, written.stdout.str()
    answer(server, after)
    return pytester.runpytest("--llmeval-record=all", "--llmeval-report=report.json", *args)


def comparison(pytester: pytest.Pytester) -> dict[str, object]:
    data = json.loads((pytester.path / "report.json").read_text())
    return data["baseline"]  # type: ignore[no-any-return]


def group_of(pytester: pytest.Pytester, name: str) -> dict[str, object]:
    groups = comparison(pytester)["groups"]
    assert isinstance(groups, list)
    [group] = [g for g in groups if g["label"] == f"test_{name}"]
    return group  # type: ignore[no-any-return]


# -- small sets gate by default ----------------------------------------------------------


def test_four_of_ten_collapsing_fails_by_default_and_names_the_rule(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    qs = questions("answers", 10)
    after = {q: 0.0 if i < 4 else 1.0 for i, q in enumerate(qs)}
    result = baseline_then(env, fake_provider, {"answers": qs}, dict.fromkeys(qs, 1.0), after)
    # every test ran fine (min_pass_rate 0): the gate alone fails the session
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "baseline llmeval-baseline.json: REGRESSION (score) in test_answers; see the "
            "REGRESSION section",
            "  gate auto (tolerance 0.02, alpha 0.05), Holm correction across groups (no "
            "group's test could reach alpha)",
            "*= REGRESSION =*",
            "test_answers: mean -0.40 (1.00 -> 0.60 over 10 shared cases), decided by the "
            "conservative rule (4 cases changed, too few for p < 0.05): 4 newly failing - 0 "
            "newly passing, 2 needed; McNemar p=0.062",
            "  detects drops >= 0.20 (the conservative rule); a drop of 0.10 would need about "
            "20 cases",
            "  newly failing (4):",
        ]
    )
    group = group_of(env, "answers")
    assert (group["rule"], group["regressed"], group["p_value"]) == ("conservative", True, 0.0625)
    assert comparison(env)["gate"] == "auto"
    # the statistical rule alone cannot see it (2^-4 = 0.0625): asked for, it passes
    answer(fake_provider, after)
    statistical = env.runpytest("--llmeval-record=all", "--llmeval-gate=statistical")
    assert statistical.ret == pytest.ExitCode.OK
    statistical.stdout.fnmatch_lines(
        [
            "baseline llmeval-baseline.json: no regression (largest drop test_answers -0.40, "
            "p=0.062)",
            "  test_answers: no regression, mean -0.40 over 10 shared cases, decided by the "
            "statistical rule: p=0.062 (paired sign-flip over cases)",
        ]
    )


def test_two_of_five_falling_from_pass_to_zero_fails(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    qs = questions("answers", 5)
    after = {q: 0.0 if i < 2 else 0.9 for i, q in enumerate(qs)}
    result = baseline_then(env, fake_provider, {"answers": qs}, dict.fromkeys(qs, 0.9), after)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "test_answers: mean -0.36 (0.90 -> 0.54 over 5 shared cases), decided by the "
            "conservative rule (2 cases changed, too few for p < 0.05): 2 newly failing - 0 "
            "newly passing, 2 needed; McNemar p=0.25",
            # 5 cases: the conservative rule flags 2 falling (2/5 = 0.40)
            "  detects drops >= 0.40 (the conservative rule)*",
        ]
    )


def test_noise_of_a_hundredth_passes(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    qs = questions("answers", 10)
    after = {q: 0.8 + (0.01 if i % 2 else -0.01) for i, q in enumerate(qs)}
    # -v: the verdict of a group whose mean did not move is shown only with -v
    result = baseline_then(env, fake_provider, {"answers": qs}, dict.fromkeys(qs, 0.8), after, "-v")
    assert result.ret == pytest.ExitCode.OK
    assert "REGRESSION" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "baseline llmeval-baseline.json: no regression*",
            "  test_answers: no regression, mean 0.00 over 10 shared cases, within the "
            "tolerance 0.02 (p=*)",
        ]
    )


def test_a_one_sided_noise_shift_inside_the_tolerance_passes_under_every_rule(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    qs = questions("answers", 10)
    after = {q: 0.79 for q in qs}  # every case 0.01 lower: significant, but within 0.02
    result = baseline_then(env, fake_provider, {"answers": qs}, dict.fromkeys(qs, 0.8), after)
    assert result.ret == pytest.ExitCode.OK
    for rule in ("statistical", "conservative"):
        again = env.runpytest("--llmeval-record=all", f"--llmeval-gate={rule}")
        assert again.ret == pytest.ExitCode.OK, rule


# -- many groups ---------------------------------------------------------------------------


def borderline(env: pytest.Pytester, server: FakeProviderServer, *args: str) -> pytest.RunResult:
    """Group `collapse`: 5 of 10 fall 1 -> 0, p = 2^-5 = 0.031 alone. Group `wobble`: 6
    of 10 move by 0.05 both ways (drop 0.01, p ~ 0.66). Holm over the two: 0.0625."""
    collapse, wobble = questions("collapse", 10), questions("wobble", 10)
    before = dict.fromkeys(collapse, 1.0) | dict.fromkeys(wobble, 0.8)
    after = {q: 0.0 if i < 5 else 1.0 for i, q in enumerate(collapse)}
    after |= {q: 0.8 + (0.05, -0.05, -0.05)[i % 3] if i < 6 else 0.8 for i, q in enumerate(wobble)}
    return baseline_then(
        env, server, {"collapse": collapse, "wobble": wobble}, before, after, *args
    )


def test_holm_keeps_a_borderline_group_from_failing_a_multi_group_run(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    result = borderline(env, fake_provider)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "baseline llmeval-baseline.json: no regression (largest drop test_collapse -0.50, "
            "p=0.031)",
            "  gate auto (tolerance 0.02, alpha 0.05), Holm correction across the 2 groups a "
            "test decided",
            "  test_collapse: no regression, mean -0.50 over 10 shared cases, decided by the "
            "statistical rule: p=0.031 (paired sign-flip over cases), Holm-adjusted p=0.062",
        ]
    )
    group = group_of(env, "collapse")
    assert group["p_value"] == 2**-5 and group["adjusted_p"] == 2 * 2**-5
    # -q keeps the verdict and the policy, not each passing group's line
    quiet = env.runpytest("--llmeval-record=all", "-q").stdout.str()
    assert "Holm correction across the 2 groups a test decided" in quiet
    assert "test_collapse: no regression" not in quiet
    assert (comparison(env)["correction"], comparison(env)["tested_groups"]) == ("holm", 2)


def test_without_a_correction_the_borderline_group_fails(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    result = borderline(env, fake_provider, "--llmeval-gate-correction=none")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "baseline llmeval-baseline.json: REGRESSION (score) in test_collapse; see the "
            "REGRESSION section",
            "  gate auto (tolerance 0.02, alpha 0.05), no correction across groups",
            "test_collapse: mean -0.50 (1.00 -> 0.50 over 10 shared cases), decided by the "
            "statistical rule: p=0.031 (paired sign-flip over cases), no correction across "
            "groups; McNemar p=0.031",
        ]
    )
    assert group_of(env, "collapse")["adjusted_p"] == 2**-5
    # the ini twin chooses Benjamini-Hochberg, which the verdict names: adjusted
    # p = min(2 * 0.031 / 1, p_wobble) = 0.0625, so no regression either
    answer_again = env.runpytest("--llmeval-record=all", "-o", "llmeval_gate_correction=bh")
    answer_again.stdout.fnmatch_lines(
        ["  gate auto *, Benjamini-Hochberg correction across the 2 groups a test decided"]
    )


# -- what a group can detect, in every report ----------------------------------------------


def test_the_detectable_drop_is_in_the_terminal_json_and_html_reports(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    qs = questions("answers", 30)
    after = {q: 0.8 + (0.01 if i % 2 else -0.01) for i, q in enumerate(qs)}
    result = baseline_then(
        env, fake_provider, {"answers": qs}, dict.fromkeys(qs, 0.8), after, "--llmeval-html=r.html",
        "-v",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    # 30 cases: 5 must fall (5/30 = 0.167) plus the noise term 2.49 * sd(0.0102) / sqrt(30)
    result.stdout.fnmatch_lines(
        [
            "    detects drops >= 0.17 (the statistical rule, alpha 0.05, power 0.8); a drop of "
            "0.09 would need about 56 cases",
        ]
    )
    group = group_of(env, "answers")
    assert group["detectable_drop"] == pytest.approx(5 / 30 + 2.4865 * 0.010171 / 30**0.5, abs=1e-3)
    # a drop of half that (0.0856, shown to 2 places: 0.09) needs ceil(5 / 0.09) = 56
    assert (group["detectable_by"], group["smaller_drop"], group["cases_needed"]) == (
        "statistical",
        0.09,
        56,
    )
    html = (env.path / "r.html").read_text()
    # the static summary (readers without JavaScript) carries the same lines
    assert "detects drops &gt;= 0.17 (the statistical rule, alpha 0.05, power 0.8)" in html


def test_the_html_report_draws_each_groups_rule_and_detectable_drop(
    env: pytest.Pytester, fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    from tests.test_report_html_browser import CHROMIUM, run_chromium

    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("headless Chromium not found at /usr/bin/chromium")
    qs = questions("answers", 10)
    after = {q: 0.0 if i < 4 else 1.0 for i, q in enumerate(qs)}
    baseline_then(
        env, fake_provider, {"answers": qs}, dict.fromkeys(qs, 1.0), after, "--llmeval-html=r.html"
    )
    finished = run_chromium(tmp_path / "profile", "--dump-dom", (env.path / "r.html").as_uri())
    dom = finished.stdout
    assert '<html lang="en" data-state="ready">' in dom, finished.stderr[-2000:]
    assert "gate auto, alpha 0.05; Holm correction across 0 tested groups" in dom
    assert (
        "score fell 0.40 over 10 shared cases, decided by the conservative rule: 4 newly "
        "failing \u2212 0 newly passing, 2 needed (4 cases changed)" in dom
    )
    assert (
        "detects drops \u2265 0.20 (the conservative rule); a drop of 0.10 would need about "
        "20 cases" in dom
    )
    assert "detects \u2265 0.20" in dom  # the Δ baseline cell of the groups table


# -- replayed runs ------------------------------------------------------------------------


def test_a_replayed_run_is_deterministic_so_its_drop_decides(
    env: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    qs = questions("answers", 30)
    write_suite(env, {"answers": qs})
    answer(fake_provider, dict.fromkeys(qs, 0.9))
    env.runpytest("--llmeval-update-baseline").assert_outcomes(passed=30)
    # the same cassettes, replayed: identical scores, no regression
    same = env.runpytest("--llmeval-record=none")
    assert same.ret == pytest.ExitCode.OK
    same.stdout.fnmatch_lines(["baseline llmeval-baseline.json: no regression*"])
    # a scorer change lowers every case by 0.045: too small for any case to fail, and the
    # sign-flip test would call it significant anyway; replayed, the drop alone decides
    monkeypatch.setenv("SCORE_SCALE", "0.95")
    replayed = env.runpytest("--llmeval-record=none", "--llmeval-report=report.json")
    assert replayed.ret == pytest.ExitCode.TESTS_FAILED
    replayed.stdout.fnmatch_lines(
        [
            "test_answers: mean -0.05 (0.90 -> 0.85 over 30 shared cases), decided by the "
            "replayed rule: every call was replayed, so the scores are deterministic and a "
            "change comes from the code or the scorers, not sampling noise; McNemar p=1.00",
            "  detects drops >= 0.02 (the replayed rule)",
        ]
    )
    assert group_of(env, "answers")["rule"] == "replayed"
    # a drop within the tolerance stays one, replayed or not
    monkeypatch.setenv("SCORE_SCALE", "0.99")
    assert env.runpytest("--llmeval-record=none").ret == pytest.ExitCode.OK


# -- cases that are not independent --------------------------------------------------------


def test_a_cluster_key_resamples_cases_of_one_document_together(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    # 10 cases from 2 documents; the 5 of doc0 all collapse (one retrieval bug)
    qs = questions("answers", 10, docs=2)
    after = {q: 0.0 if q.startswith("doc0/") else 1.0 for q in qs}
    result = baseline_then(
        env, fake_provider, {"answers": qs}, dict.fromkeys(qs, 1.0), after,
        "--llmeval-gate=statistical",
    )  # fmt: skip
    # as 10 independent cases: 5 fell, p = 2^-5, a regression
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert group_of(env, "answers")["p_value"] == 2**-5
    # by document: one of two clusters fell, p = 1/2: no evidence the suite got worse
    clustered = env.runpytest(
        "--llmeval-record=none", "--llmeval-gate=statistical", "--llmeval-cluster-key=doc",
        "--llmeval-report=report.json",
    )  # fmt: skip
    assert clustered.ret == pytest.ExitCode.OK
    clustered.stdout.fnmatch_lines(
        [
            "  gate statistical (tolerance 0.02, alpha 0.05), Holm correction across groups (no "
            "group's test could reach alpha), cases clustered by doc",
            "  test_answers: no regression, mean -0.50 over 10 shared cases, decided by the "
            "statistical rule: p=0.50 (paired sign-flip over clusters)",
        ]
    )
    group = group_of(env, "answers")
    assert (group["p_value"], group["clusters"]) == (0.5, 2)
    assert comparison(env)["cluster_key"] == "doc"


# -- llmeval gate applies the same policy ---------------------------------------------------


def test_llmeval_gate_applies_the_policy_the_session_recorded(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    qs = questions("answers", 10)
    after = {q: 0.0 if i < 4 else 1.0 for i, q in enumerate(qs)}
    result = baseline_then(
        env, fake_provider, {"answers": qs}, dict.fromkeys(qs, 1.0), after,
        "--llmeval-gate=statistical",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK

    def gate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_llmeval.cli", "gate", "report.json",
             "--baseline", "llmeval-baseline.json", *args],
            cwd=env.path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    # the report recorded --llmeval-gate=statistical: the same verdict outside pytest
    recorded = gate()
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert "decided by the statistical rule: p=0.062" in recorded.stdout
    # --gate overrides it, like the session's option would
    auto = gate("--gate", "auto")
    assert auto.returncode == 1, auto.stdout + auto.stderr
    assert "decided by the conservative rule (4 cases changed" in auto.stdout


# -- the baseline file -------------------------------------------------------------------


def test_repeat_spreads_are_written_only_for_repeated_cases(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    qs = questions("answers", 3)
    write_suite(env, {"answers": qs})
    answer(fake_provider, dict.fromkeys(qs, 0.9))
    env.runpytest("--llmeval-update-baseline").assert_outcomes(passed=3)
    text = (env.path / "llmeval-baseline.json").read_text()
    assert '"runs"' not in text and '"stdev"' not in text  # the two-key form of old
    env.runpytest("--llmeval-update-baseline", "--llmeval-repeat=2").assert_outcomes(passed=6)
    cases = (
        load_baseline(env.path / "llmeval-baseline.json").groups["test_app.py::test_answers"].cases
    )
    assert {(c.runs, c.stdev) for c in cases.values()} == {(2, 0.0)}


def test_a_baseline_written_before_the_gate_rules_still_compares(tmp_path: Path) -> None:
    # the examples' baseline as committed before the rules existed (kept as test data)
    # loads and compares under the new gate; its bytes are what they were
    path = Path(__file__).resolve().parent / "data" / "baseline-before-gate-rules.json"
    from pytest_llmeval.records.baseline import write_baseline
    from pytest_llmeval.records.comparison import compare_baselines

    old = load_baseline(path)
    verdict = compare_baselines(old, old)
    assert not verdict.regressed and {g.rule for g in verdict.groups} <= {
        "statistical",
        "conservative",
    }
    write_baseline(tmp_path / "again.json", old)
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


# -- repeats: the within-case rule ----------------------------------------------------------


def answer_in_turn(server: FakeProviderServer, samples: dict[str, list[float]]) -> None:
    """Each question's answers, one per call, in turn: the spread of a repeated case."""
    calls: dict[str, int] = {}

    def reply(request: RecordedRequest) -> ReplySpec:
        q = request.last_user_text
        turn = calls.get(q, 0)
        calls[q] = turn + 1
        return ReplySpec(text=f"answer to {q} quality={samples[q][turn % len(samples[q])]:.4f}")

    server.set_handler(reply)


def test_repeats_absorb_a_drop_inside_their_spread_and_flag_one_far_outside(
    env: pytest.Pytester, fake_provider: FakeProviderServer
) -> None:
    qs = questions("answers", 5)
    write_suite(env, {"answers": qs})
    # baseline: every case samples 1, 1, 0 (mean 0.67, variance 1/3)
    answer_in_turn(fake_provider, dict.fromkeys(qs, [1.0, 1.0, 0.0]))
    written = env.runpytest("--llmeval-update-baseline", "--llmeval-repeat=3")
    assert written.ret == pytest.ExitCode.OK
    # 3 of 5 cases now sample 1, 0, 0: drop 0.2 and 3 newly failing cases, but the
    # drop's standard error from the repeats is sqrt(5 * (1/9 + 1/9)) / 5 = 0.21: t = 0.95
    inside = dict.fromkeys(qs[:3], [1.0, 0.0, 0.0]) | dict.fromkeys(qs[3:], [1.0, 1.0, 0.0])
    answer_in_turn(fake_provider, inside)
    result = env.runpytest(
        "--llmeval-record=all", "--llmeval-repeat=3", "--llmeval-report=report.json"
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "  test_answers: no regression, mean -0.20 over 5 shared cases, decided by the "
            "within-case rule: p=0.18 (t test against the cases' own spread between repeats)",
        ]
    )
    group = group_of(env, "answers")
    assert group["rule"] == "within-case" and len(group["newly_failing"]) == 3  # type: ignore[arg-type]
    # a baseline with no spread (1, 1, 1) and cases falling to 1, 0, 0: far outside it
    answer_in_turn(fake_provider, dict.fromkeys(qs, [1.0]))
    rewritten = env.runpytest(
        "--llmeval-update-baseline", "--llmeval-repeat=3", "--llmeval-record=all"
    )
    assert rewritten.ret == pytest.ExitCode.OK
    answer_in_turn(fake_provider, dict.fromkeys(qs, [1.0, 0.0, 0.0]))
    far = env.runpytest("--llmeval-record=all", "--llmeval-repeat=3")
    assert far.ret == pytest.ExitCode.TESTS_FAILED
    far.stdout.fnmatch_lines(
        [
            "test_answers: mean -0.67 (1.00 -> 0.33 over 5 shared cases), decided by the "
            "within-case rule: p=* (t test against the cases' own spread between repeats)*"
        ]
    )


# -- the options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env_var", "message"),
    [
        (
            ["--llmeval-gate=bayesian"],
            None,
            "pytest-llm-eval: bad value for --llmeval-gate: 'bayesian' is not one of: auto, "
            "statistical, conservative.",
        ),
        (
            [],
            ("LLMEVAL_GATE_CORRECTION", "bonferroni"),
            "pytest-llm-eval: bad value for environment variable LLMEVAL_GATE_CORRECTION: "
            "'bonferroni' is not one of: holm, bh, none.",
        ),
        (
            ["-o", "llmeval_cluster_key= "],
            None,
            "pytest-llm-eval: bad value for ini option llmeval_cluster_key: an empty value is "
            "not allowed.",
        ),
    ],
    ids=["gate", "correction-env", "cluster-key-ini"],
)
def test_a_bad_gate_option_is_a_usage_error_naming_it(
    env: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env_var: tuple[str, str] | None,
    message: str,
) -> None:
    if env_var is not None:
        monkeypatch.setenv(*env_var)
    write_suite(env, {"answers": questions("answers", 2)})
    result = env.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
