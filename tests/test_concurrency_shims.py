"""The pytest and pytest-xdist internals `--llmeval-concurrency` relies on, exercised
against the installed versions: when a release changes one, a test here fails and names
it (the runner itself then says so once and keeps tests attached, never silently)."""

from __future__ import annotations

import functools

import pytest

from pytest_llmeval.items.concurrency import shims


def test_setup_state_holds_pytests_own_fixture_finalizers(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest
from pytest_llmeval.items.concurrency import shims

seen = {}


@pytest.fixture(scope="module")
def plain():
    return 1


class Teardown(pytest.Class):
    pass


def pytest_runtest_teardown(item, nextitem):
    if nextitem is None:
        module = item.getparent(pytest.Module)
        finalizers = shims.collector_finalizers(item.session, [module])
        seen["fixtures"] = [
            shims.finalizer_fixture(f).argname for f in finalizers if shims.finalizer_fixture(f)
        ]
        seen["collector_teardown"] = any(shims.is_collector_teardown(f) for f in finalizers)
        seen["unknown"] = [
            f for f in finalizers
            if shims.finalizer_fixture(f) is None and not shims.is_collector_teardown(f)
        ]


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"SEEN {seen}")
"""
    )
    pytester.makepyfile("def test_a(plain):\n    assert plain == 1\n")
    result = pytester.runpytest("-p", "no:llmeval", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["SEEN {'fixtures': ['plain'], 'collector_teardown': True, 'unknown': []}"]
    )


def test_an_unknown_setup_state_raises_internals_changed() -> None:
    class Session:
        _setupstate = object()

    with pytest.raises(shims.InternalsChanged, match=r"session\._setupstate\.stack"):
        shims.collector_finalizers(Session(), [])  # type: ignore[arg-type]


def test_finalizer_fixture_recognises_only_fixturedef_finish() -> None:
    assert shims.finalizer_fixture(functools.partial(print, 1)) is None
    assert shims.finalizer_fixture(lambda: None) is None


def test_xdist_worker_interactor_tags_reports_with_item_index(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
from pytest_llmeval.items.concurrency import shims


def pytest_runtest_setup(item):
    worker = shims.xdist_worker(item.config)
    before = worker.item_index
    with shims.reporting_as(worker, 41):
        assert worker.item_index == 41
    assert worker.item_index == before
    item.user_properties.append(("index", before))
"""
    )
    pytester.makepyfile("def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = pytester.runpytest_subprocess("-n", "1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_deferred_stash_hides_and_defers() -> None:
    key = pytest.StashKey[int]()
    hidden = pytest.StashKey[int]()
    real = pytest.Stash()
    real[key] = 1
    real[hidden] = 2
    stash = shims.DeferredStash(real, {hidden})
    assert key in stash and hidden not in stash and len(stash) == 1
    del stash[key]
    assert key not in stash and key in real and stash.deleted == [key]
    stash[key] = 3
    assert stash[key] == 3 and stash.deleted == []


def test_patched_restores_the_class_method() -> None:
    class Node:
        def runtest(self) -> str:
            return "class"

    node = Node()
    with shims.patched(node, "runtest", lambda: "patched"):
        assert node.runtest() == "patched"
    assert node.runtest() == "class"
