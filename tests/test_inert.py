"""The plugin is inert in a session without llm_eval tests (STYLE convention 0)."""

from __future__ import annotations

import json

import pytest

HEAVY = (
    "pydantic", "httpx", "httpx2", "openai", "anthropic", "diskcache", "genai_prices", "yaml",
    "opentelemetry", "google",
)  # fmt: skip
# lifecycle: the item lifecycle pieces plugin.py shares with the concurrent runner;
# vocabulary: the Literal types settings.py uses (stdlib and pytest only, like plugin.py);
# controller: the controller-side plugin object, registered at configure
ALLOWED_OWN = {
    "pytest_llmeval.core.vocabulary",
    "pytest_llmeval",
    "pytest_llmeval.plugin",
    "pytest_llmeval.items.settings",
    "pytest_llmeval.items.options",
    "pytest_llmeval.items.option_types",
    "pytest_llmeval.items.lifecycle",
    "pytest_llmeval.items.controller",
    "pytest_llmeval.items",
    "pytest_llmeval.core",
}

RECORD_MODULES = """
import json, sys

def pytest_unconfigure(config):
    with open(config.rootpath / "modules.json", "w") as f:
        json.dump(sorted(sys.modules), f)
"""


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]])
def test_no_heavy_imports_no_output_no_files(
    pytester_env: pytest.Pytester, xdist_args: list[str]
) -> None:
    pytester_env.makeconftest(RECORD_MODULES)
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("i", range(20))
        def test_plain(i):
            assert i >= 0
        """
    )
    # folders named like ours: one the collection skips, one it walks (pytest-recording's)
    for name in ("cassettes/test_mine/test_plain.json", "vcr/cassettes/test_theirs/test.yaml"):
        (pytester_env.path / name).parent.mkdir(parents=True)
        (pytester_env.path / name).write_text("{}")
    before = {p.name for p in pytester_env.path.iterdir()}
    result = pytester_env.runpytest_subprocess("-p", "no:cacheprovider", *xdist_args)
    result.assert_outcomes(passed=20)
    assert "llm_eval" not in result.stdout.str()
    modules = set(json.loads((pytester_env.path / "modules.json").read_text()))
    assert "pytest_llmeval.plugin" in modules  # the plugin really was loaded
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
    own = sorted(m for m in modules if m.startswith("pytest_llmeval") and m not in ALLOWED_OWN)
    assert own == []
    # pytester's own files (its basetemp and captured streams) and Python's bytecode
    # cache (written unless PYTHONDONTWRITEBYTECODE is set) aside, only our probe's
    pytester_files = {"runpytest-0", "runpytest-current", "stdout", "stderr", "__pycache__"}
    after = {p.name for p in pytester_env.path.iterdir()} - pytester_files
    assert after - before == {"modules.json"}


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]])
def test_eval_session_without_otel_loads_none_of_it(
    pytester_env: pytest.Pytester, xdist_args: list[str]
) -> None:
    """The optional extras stay unloaded in an eval session that does not ask for them."""
    pytester_env.makeconftest(RECORD_MODULES)
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.llm_eval
        @pytest.mark.parametrize("i", range(2))
        def test_eval(i, llm_eval):
            llm_eval.score("s", 1.0)
        """
    )
    args = ["-p", "no:cacheprovider", "--llmeval-report=report.json", *xdist_args]
    result = pytester_env.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)
    modules = set(json.loads((pytester_env.path / "modules.json").read_text()))
    assert "pytest_llmeval.items.session" in modules  # the eval machinery really ran
    loaded = sorted(m for m in modules if m.split(".")[0] in ("opentelemetry", "google"))
    assert loaded == []
    assert "pytest_llmeval.reporting.otel" not in modules


def test_plugin_can_be_disabled(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(
        """
        import pytest

        @pytest.mark.llm_eval
        def test_t():
            pass
        """
    )
    result = pytester_env.runpytest(
        "-p", "no:llmeval", "-W", "ignore::pytest.PytestUnknownMarkWarning"
    )
    result.assert_outcomes(passed=1)
    assert "llm_eval:" not in result.stdout.str()
