"""Replay does not redact a stored request body again when that cannot change it, and
the canonical form it matches against is the same either way."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmeval.capture.cassettes.match import Matcher, canonical_path
from pytest_llmeval.capture.cassettes.models import RecordedRequest
from pytest_llmeval.capture.cassettes.pending import pending_folders
from pytest_llmeval.core.redact import REDACTED, Redactor

URL = "https://api.example.test/v1/chat/completions"

# strings a built-in pattern redacts, or that hide one behind an escape, beside plain ones
SECRETISH = st.sampled_from(
    [
        "sk-" + "a" * 24,
        "sk-ant-" + "b" * 20,
        "Bearer abc.def",
        "api_key=hunter2",
        "token=x&y=1",
        "see http://user:pass@host/x",
        'quote " and \\ backslash',
        "line\nbreak",
        "sk-\u00e9" + "c" * 20,
        "plain words",
        "",
    ]
)
BODIES = st.recursive(
    st.none() | st.booleans() | st.integers() | SECRETISH | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SECRETISH | st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)  # fmt: skip


def _fully_redacted(matcher: Matcher, redactor: Redactor, body: Any) -> Any:
    """The canonical request as replay made it before: every stored string redacted."""
    path = canonical_path(redactor.url(URL))
    return matcher._json("POST", path, redactor.value(body))


@pytest.mark.parametrize("patterns", [(), (r"^plain words$",)], ids=["built-in", "anchored"])
@given(body=BODIES)
def test_a_stored_body_matches_as_if_redacted_string_by_string(
    patterns: tuple[str, ...], body: Any
) -> None:
    redactor = Redactor(patterns)
    matcher = Matcher(redactor)
    stored = RecordedRequest(method="POST", url=URL, body_format="json", body=body)
    canonical = matcher.recorded(stored)
    expected = _fully_redacted(matcher, redactor, body)
    assert (canonical.key, canonical.parsed) == (expected.key, expected.parsed)


def test_a_secret_left_in_a_stored_body_is_redacted_before_matching() -> None:
    matcher = Matcher(Redactor())
    stored = RecordedRequest(
        method="POST",
        url=URL,
        body_format="json",
        body={"messages": [{"content": "sk-" + "z" * 30}], "note": "api_key=hunter2"},
    )
    canonical = matcher.recorded(stored)
    assert "zzzz" not in canonical.body and "hunter2" not in canonical.body
    assert canonical.body.count(REDACTED) == 2


def test_a_clean_stored_body_is_matched_as_stored() -> None:
    matcher = Matcher(Redactor())
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    stored = RecordedRequest(method="POST", url=URL, body_format="json", body=body)
    canonical = matcher.recorded(stored)
    assert canonical.body == '{"messages":[{"content":"hello","role":"user"}],"model":"m"}'
    assert canonical.parsed is body  # not copied string by string


def test_pending_folders_follow_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = pending_folders(tmp_path)
    assert first[0] == tmp_path / ".llmeval_cache" / "pending"
    assert first[-1].parent == Path(tempfile.gettempdir())
    other = tmp_path / "elsewhere"
    monkeypatch.setattr(tempfile, "tempdir", str(other))
    assert pending_folders(tmp_path)[-1].parent == other
    assert pending_folders(None) == [pending_folders(tmp_path)[-1]]
    pending_folders(tmp_path).append(Path("x"))  # a caller's list is its own
    assert Path("x") not in pending_folders(tmp_path)
