"""Test wiring of the whole repository (the rootdir of `pytest tests`).

* The fake provider's fixtures (`fake_provider`, `openai_client`, ...) are a plugin
  listed here, in the rootdir conftest where pytest wants `pytest_plugins`, so any
  test under the repository can use them.
* `--run-slow` turns on the tests marked `slow` (the stress tests; CI runs their
  bounded versions).

The suite's own fixtures (`pytester_env`, ...) live in tests/conftest.py. examples/ is
a pytest project of its own (examples/pytest.ini makes it the rootdir of `pytest
examples`), so this file is not loaded there: the examples need no fake provider.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.fakeprovider.fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        dest="run_slow",
        help="Run the tests marked slow (stress tests; CI runs their bounded versions).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("run_slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
