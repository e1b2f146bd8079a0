"""The content type of an intercepted request decides how its body is matched: a
multipart upload's random boundary must not make its replay a miss, whatever the header
holds (read from the raw headers; a value that is not ASCII as httpx decodes it)."""

from __future__ import annotations

import pytest

from tests.fakeprovider import FakeProviderServer, closed_port_url

SUITE = """
import os
import uuid

import httpx2
import pytest

URL = os.environ["FAKE_URL"] + "/v1/uploads"


def post(**options):
    with httpx2.Client() as client:
        return client.post(URL, **options)


@pytest.mark.llm_eval
def test_multipart_upload():
    # a new random boundary on every run: matched all the same
    response = post(files={"file": ("a.wav", b"RIFF audio")}, data={"purpose": "test"})
    assert response.status_code in (200, 404)


@pytest.mark.llm_eval
def test_content_type_not_ascii():
    # a boundary of its own on every run, with a byte that is not ASCII
    boundary = f"caf\\xe9-{uuid.uuid4().hex}".encode("latin-1")
    kind = b"multipart/form-data; boundary=" + boundary
    body = b"--" + boundary + b"\\r\\nhello\\r\\n--" + boundary + b"--\\r\\n"
    response = post(content=body, headers={"content-type": kind})
    assert response.status_code in (200, 404)
"""


def test_multipart_requests_replay_from_their_raw_content_type(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_uploads=SUITE)
    pytester_env.runpytest("--llmeval-record=once").assert_outcomes(passed=2)
    sent = len(fake_provider.requests)
    assert sent == 2
    monkeypatch.setenv("FAKE_URL", closed_port_url())  # replay only: a miss would fail
    pytester_env.runpytest("--llmeval-record=none").assert_outcomes(passed=2)
    assert len(fake_provider.requests) == sent
