"""The plugin is inert in a session without llm_eval tests (STYLE convention 0)."""

from __future__ import annotations

import json

import pytest

HEAVY = ("pydantic", "httpx", "httpx2", "openai", "anthropic", "diskcache", "genai_prices", "yaml")
# lifecycle: the item lifecycle pieces plugin.py shares with the concurrent runner;
# vocabulary: the Literal types settings.py uses (stdlib and pytest only, like plugin.py)
ALLOWED_OWN = {
    "pytest_llmeval.vocabulary",
    "pytest_llmeval",
    "pytest_llmeval.plugin",
    "pytest_llmeval.settings",
    "pytest_llmeval.lifecycle",
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
    # pytester's own files (its basetemp and captured streams) aside, only our probe's
    pytester_files = {"runpytest-0", "runpytest-current", "stdout", "stderr"}
    after = {p.name for p in pytester_env.path.iterdir()} - pytester_files
    assert after - before == {"modules.json"}


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
