"""Options: one --llmeval-* group, ini twins, environment overrides, clear errors."""

from __future__ import annotations

import pytest

from pytest_llmeval.items.options import OPTIONS

SHOW = """
import pytest
from pytest_llmeval.items.settings import settings_key

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    s = config.stash[settings_key]
    print(f"SETTINGS record={s.record_mode} repeat={s.repeat} judge={s.judge_model} "
          f"cache={s.cache} max_cost={s.max_cost} redact={list(s.redact)} ci={s.is_ci}")
"""


def test_every_option_in_help(pytester_env: pytest.Pytester) -> None:
    result = pytester_env.runpytest("--help")
    result.stdout.fnmatch_lines(["LLM evaluations (pytest-llm-eval):"])
    out = result.stdout.str()
    for option in OPTIONS:
        assert option.flag in out, option.flag
        assert option.ini in out, option.ini


def show(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeconftest(SHOW)
    pytester.makepyfile("def test_x():\n    pass\n")
    return pytester.runpytest_subprocess("-s", *args)


def test_defaults(pytester_env: pytest.Pytester) -> None:
    result = show(pytester_env)
    result.stdout.fnmatch_lines(
        [
            "SETTINGS record=once repeat=None judge=openai:gpt-4.1-mini cache=False max_cost=None redact=[] ci=False"
        ]
    )


def test_ci_defaults_record_mode_to_none(
    pytester_env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    show(pytester_env).stdout.fnmatch_lines(["SETTINGS record=none * ci=True"])


def test_precedence_cli_over_env_over_ini(
    pytester_env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester_env.makeini(
        """
        [pytest]
        llmeval_record_mode = new
        llmeval_repeat = 3
        llmeval_judge_model = anthropic:claude-sonnet-4-5
        llmeval_redact =
            secret-[0-9]+
            token=\\w+
        """
    )
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("LLMEVAL_REPEAT", "4")
    result = show(pytester_env, "--llmeval-repeat=5")
    # ini sets the mode even under CI; the command line beats the environment beats ini
    result.stdout.fnmatch_lines(
        [
            (
                "SETTINGS record=new repeat=5 judge=anthropic:claude-sonnet-4-5 cache=False max_cost=None "
                "redact=['secret-[0-9]+', 'token=\\\\w+'] ci=True"
            )
        ]
    )
    monkeypatch.setenv("LLMEVAL_RECORD_MODE", "all")
    show(pytester_env).stdout.fnmatch_lines(["SETTINGS record=all repeat=4 *"])


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--llmeval-record=sometimes"],
            {},
            "*bad value for --llmeval-record: 'sometimes' is not one of: none, once, new, all*",
        ),
        (["--llmeval-repeat=0"], {}, "*bad value for --llmeval-repeat: 0 must be at least 1*"),
        (
            [],
            {"LLMEVAL_MAX_COST": "lots"},
            "*bad value for environment variable LLMEVAL_MAX_COST: 'lots' is not a number*",
        ),
        (
            ["--llmeval-judge-model=gpt-4"],
            {},
            "*bad value for --llmeval-judge-model: 'gpt-4' is not of the form provider:model*",
        ),
    ],
)
def test_bad_values_are_usage_errors(
    pytester_env: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = show(pytester_env, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-llm-eval: " + message.lstrip("*")])


def test_bad_ini_value_names_the_ini_key(pytester_env: pytest.Pytester) -> None:
    pytester_env.makeini("[pytest]\nllmeval_cache = maybe\n")
    result = show(pytester_env)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*bad value for ini option llmeval_cache: 'maybe' is not a boolean*"]
    )
