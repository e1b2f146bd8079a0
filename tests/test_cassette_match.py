"""Request matching: canonical form, ignored paths, the first-difference diff."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmeval.capture.cassettes.match import (
    MISSING,
    Matcher,
    canonical_path,
    count_differences,
    describe_value,
    difference_window,
    first_difference,
    miss_message,
    parse_ignore_path,
    remove_paths,
    replace_pattern,
)
from pytest_llmeval.capture.cassettes.models import RecordedRequest
from pytest_llmeval.capture.cassettes.session import CassetteSession
from pytest_llmeval.core.errors import CassetteMiss
from pytest_llmeval.core.redact import Redactor
from tests.fakeprovider import FakeProviderServer

# a test that fails between start() and stop() must not leave interception on
pytestmark = pytest.mark.usefixtures("stop_leaked_cassette_sessions")


URL = "https://api.example.test/v1/messages"
MESSAGES: Any = [{"role": "user", "content": "hello"}]


def live(body: Any, matcher: Matcher | None = None, url: str = URL) -> Any:
    matcher = matcher or Matcher(Redactor())
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return matcher.live("post", url, content)


def test_key_order_and_whitespace_do_not_matter() -> None:
    a = Matcher(Redactor()).live("POST", URL, b'{"a": 1, "b": [1, 2]}')
    b = Matcher(Redactor()).live("POST", URL, b'{"b":[1,2],\n "a":1}')
    assert a.canonical.key == b.canonical.key
    assert a.canonical.body == '{"a":1,"b":[1,2]}'


def test_values_matter_and_int_is_not_float() -> None:
    assert live({"a": 1}).canonical.key != live({"a": 1.0}).canonical.key
    assert live({"p": "hello"}).canonical.key != live({"p": "hello!"}).canonical.key


def test_query_is_kept_and_sorted_host_is_not_compared() -> None:
    assert canonical_path("https://h/v1/x?b=2&a=1") == "/v1/x?a=1&b=2"
    one = live({}, url="https://one.test/v1/x?b=2&a=1").canonical
    two = live({}, url="http://two.test:8080/v1/x?a=1&b=2").canonical
    assert one.key == two.key


def test_live_and_recorded_canonical_forms_agree() -> None:
    matcher = Matcher(Redactor(), ignore_paths=["metadata.user_id"])
    request = live({"model": "m", "x": 0.1, "n": 10**30, "metadata": {"user_id": "u1"}}, matcher)
    stored = RecordedRequest(method="POST", url=request.url, body_format="json", body=request.body)
    stored = RecordedRequest.model_validate_json(stored.model_dump_json())
    assert matcher.recorded(stored).key == request.canonical.key


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                    max_leaves=12))  # fmt: skip
def test_recorded_round_trip_always_matches(body: Any) -> None:
    matcher = Matcher(Redactor())
    request = matcher.live("POST", URL, json.dumps(body).encode())
    stored = RecordedRequest(
        method="POST", url=request.url, body_format=request.body_format, body=request.body
    )
    reloaded = RecordedRequest.model_validate(json.loads(stored.model_dump_json()))
    assert matcher.recorded(reloaded).key == request.canonical.key


def test_text_binary_and_empty_bodies() -> None:
    matcher = Matcher(Redactor())
    assert matcher.live("GET", URL, b"").body_format == "empty"
    text = matcher.live("POST", URL, b"plain text")
    assert (text.body_format, text.body) == ("text", "plain text")
    binary = matcher.live("POST", URL, b"\xff\x00\xfe")
    assert binary.body_format == "base64"
    for request in (text, binary):
        stored = RecordedRequest(
            method="POST", url=URL, body_format=request.body_format, body=request.body
        )
        assert matcher.recorded(stored).key == request.canonical.key


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("metadata.user_id", {"metadata": {"user_id": "u", "k": 1}}, {"metadata": {"k": 1}}),
        ("messages[*].cache_control",
         {"messages": [{"c": 1, "cache_control": 2}, {"c": 3}]}, {"messages": [{"c": 1}, {"c": 3}]}),
        ("a[0]", {"a": [1, 2]}, {"a": [2]}),
        ("a[5]", {"a": [1, 2]}, {"a": [1, 2]}),
        ("missing.path", {"a": 1}, {"a": 1}),
        ("a.b", {"a": [1]}, {"a": [1]}),
    ],
)  # fmt: skip
def test_remove_paths(path: str, body: Any, expected: Any) -> None:
    original = json.loads(json.dumps(body))
    assert remove_paths(body, [parse_ignore_path(path)]) == expected
    assert body == original  # the input is never mutated


def test_ignored_paths_are_not_compared() -> None:
    matcher = Matcher(Redactor(), ignore_paths=["metadata.user_id", "messages[*].cache_control"])
    a = live({"messages": [{"c": "x", "cache_control": 1}], "metadata": {"user_id": "a"}}, matcher)
    b = live({"messages": [{"c": "x"}], "metadata": {"user_id": "b"}}, matcher)
    assert a.canonical.key == b.canonical.key


@pytest.mark.parametrize("bad", ["", "a..b", "a[x]", "a[", "a]b"])
def test_bad_ignore_path(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid JSON path"):
        parse_ignore_path(bad)


def test_normalizer_for_random_fences() -> None:
    matcher = Matcher(Redactor(), normalize=replace_pattern(r"FENCE-[0-9a-f]{8}"))
    a = live({"p": "FENCE-0123abcd text FENCE-0123abcd"}, matcher)
    b = live({"p": "FENCE-ffffffff text FENCE-ffffffff"}, matcher)
    assert a.canonical.key == b.canonical.key
    assert a.body == {"p": "FENCE-0123abcd text FENCE-0123abcd"}  # stored as sent


def test_secret_in_body_is_redacted_on_both_sides() -> None:
    matcher = Matcher(Redactor())
    request = live({"p": "key sk-test-PLANTED0123456789abcdef"}, matcher)
    assert request.body == {"p": "key <redacted>"}
    stored = RecordedRequest(method="POST", url=URL, body_format="json", body=request.body)
    assert matcher.recorded(stored).key == request.canonical.key


def test_first_difference() -> None:
    a = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "t": 1}
    b = {"model": "m", "messages": [{"role": "user", "content": "hello!"}], "t": 2}
    assert first_difference(a, b) == ("messages[0].content", "hello", "hello!")
    assert first_difference(a, a) is None
    assert first_difference({"a": 1}, {}) == ("a", 1, MISSING)
    assert first_difference([1], [1, 2]) == ("[1]", MISSING, 2)
    assert first_difference(1, 1.0) == ("", 1, 1.0)
    assert first_difference(True, 1) == ("", True, 1)


def test_count_differences_and_describe() -> None:
    assert count_differences({"a": 1, "b": [1, 2]}, {"a": 2, "b": [1]}) == 2
    assert describe_value("x" * 200).endswith("...")
    assert len(describe_value("x" * 200)) == 80
    assert describe_value(MISSING) == "<missing>"


@pytest.mark.parametrize("raw", [b'{"x": Infinity}', b'{"x": NaN}', b"-Infinity"])
def test_non_finite_numbers_keep_the_body_as_text(raw: bytes) -> None:
    request = Matcher(Redactor()).live("POST", URL, raw)
    assert (request.body_format, request.body) == ("text", raw.decode())


def test_multipart_boundary_does_not_decide_matching() -> None:

    def upload(data: bytes) -> Any:
        request = httpx2.Request(
            "POST", URL, files={"file": ("a.wav", data)}, data={"model": "whisper"}
        )
        return request.headers["content-type"], request.read()

    matcher = Matcher(Redactor())
    for data in (b"RIFF text", b"\xff\xfe binary"):
        (type_a, body_a), (type_b, body_b) = upload(data), upload(data)
        assert body_a != body_b  # random boundaries
        a = matcher.live("POST", URL, body_a, type_a)
        b = matcher.live("POST", URL, body_b, type_b)
        assert a.canonical.key == b.canonical.key
        stored = RecordedRequest(method="POST", url=URL, headers={"content-type": type_a},
                                 body_format=a.body_format, body=a.body)  # fmt: skip
        assert matcher.recorded(stored).key == b.canonical.key
    (type_x, body_x), (type_y, body_y) = upload(b"x"), upload(b"y")
    assert (
        matcher.live("POST", URL, body_x, type_x).canonical.key
        != matcher.live("POST", URL, body_y, type_y).canonical.key
    )


# -- the miss message, through the real SDKs --------------------------------------------


def test_miss_message_reaches_the_test_unwrapped_and_unretried(
    fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    url, cassette = fake_provider.url, tmp_path / "c.json"
    oa, an = (openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=5),
              anthropic.Anthropic(base_url=url, api_key="k", max_retries=5))  # fmt: skip
    recording = CassetteSession(path=cassette, mode="once", nodeid="tests/test_mod.py::test_x")
    recording.start()
    oa.chat.completions.create(
        model="gpt-x", messages=[{"role": "user", "content": "What is the refund window?"}]
    )
    an.messages.create(model="claude-x", max_tokens=5, messages=MESSAGES)
    recording.stop()

    replay = CassetteSession(path=cassette, mode="none", nodeid="tests/test_mod.py::test_x")
    replay.start()
    with pytest.raises(CassetteMiss) as info:
        oa.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": "What is the refund policy?"}]
        )
    assert str(info.value) == (
        "No recorded response for POST /v1/chat/completions\n"
        "  test:     tests/test_mod.py::test_x\n"
        f"  cassette: {cassette} (record mode 'none': replay only, the network is blocked)\n"
        "Closest recorded request: interaction #1 of 2, POST /v1/chat/completions\n"
        "  first difference at messages[0].content:\n"
        '    recorded:  "What is the refund window?"\n'
        '    this call: "What is the refund policy?"\n'
        "To re-record this test's cassette (and no other): "
        "pytest tests/test_mod.py::test_x --llmeval-record=all\n"
        "(--llmeval-record=new would add this call but keep the recordings it replaces; "
        "drop those with: llmeval cassettes prune --unplayed --apply tests/test_mod.py::test_x)"
    )
    with pytest.raises(CassetteMiss) as info:
        an.messages.create(model="claude-x", max_tokens=6, messages=MESSAGES)
    assert "Closest recorded request: interaction #2 of 2, POST /v1/messages" in str(info.value)
    assert "  first difference at max_tokens:\n    recorded:  5\n    this call: 6" in str(
        info.value
    )
    with pytest.raises(CassetteMiss, match="No recorded request has this method and path. Recorded: "
                       "POST /v1/chat/completions, POST /v1/messages."):  # fmt: skip
        oa.embeddings.create(model="e", input="x")

    async def anthropic_miss() -> None:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=5)
        await client.messages.create(model="claude-x", max_tokens=7, messages=MESSAGES)

    async def openai_miss() -> None:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=5)
        await client.chat.completions.create(model="gpt-y", messages=MESSAGES, stream=True)

    for miss in (anthropic_miss, openai_miss):
        with pytest.raises(CassetteMiss, match="^No recorded response for POST /v1/"):
            asyncio.run(miss())
    outcome = replay.stop()
    assert len(outcome.misses) == 5  # one per call: nothing was retried (max_retries=5)
    assert len(outcome.unplayed) == 2
    assert len(fake_provider.requests) == 2  # and nothing reached the network


def test_miss_text_for_text_bodies_and_missing_file(tmp_path: Path) -> None:
    matcher = Matcher(Redactor())
    recorded = RecordedRequest(method="POST", url=URL, body_format="text", body="hello world")
    live_request = matcher.live("POST", URL, b"hello there")
    message = miss_message(live_request, [(recorded, None)], nodeid="t", path=tmp_path, mode="none",
                           file_exists=True, already_replayed=0)  # fmt: skip
    assert (
        '  bodies differ from character 6:\n    recorded:  "hello world"\n'
        '    this call: "hello there"'
    ) in message
    message = miss_message(live_request, [], nodeid="t", path=tmp_path, mode="none", file_exists=False,
                           already_replayed=0)  # fmt: skip
    assert "The cassette file does not exist yet." in message


def test_a_long_value_is_shown_around_its_first_difference() -> None:
    prefix = "You are a support agent. " * 20
    recorded_body = {"messages": [{"content": prefix + "Answer in English, briefly."}]}
    live_request = live({"messages": [{"content": prefix + "Answer in French, briefly."}]})
    recorded = RecordedRequest(method="POST", url=URL, body_format="json", body=recorded_body)
    arguments: Any = dict(nodeid="t.py::test_a[x y]", path="c.json", mode="none",
                          file_exists=True, already_replayed=0)  # fmt: skip
    lines = miss_message(live_request, [(recorded, recorded_body)], **arguments).splitlines()
    at = len(prefix) + len("Answer in ")
    assert lines[4] == f"  first difference at messages[0].content, character {at}:"
    shown_recorded, shown_live = lines[5], lines[6]
    assert 'in English, briefly."' in shown_recorded and shown_recorded.endswith('."')
    assert 'in French, briefly."' in shown_live
    assert shown_recorded.startswith("    recorded:  ...") and len(shown_recorded) < 110
    assert lines[-2].endswith("pytest 't.py::test_a[x y]' --llmeval-record=all")
    whole = miss_message(live_request, [(recorded, recorded_body)], verbosity=2, **arguments)
    assert f"    recorded:  {json.dumps(recorded_body['messages'][0]['content'])}" in whole
    assert f'    this call: "{prefix}Answer in French, briefly."' in whole


TEXT = st.text(alphabet="ab é\n", max_size=300)


@given(TEXT, TEXT, TEXT)
def test_difference_window_holds_the_first_difference(common: str, a: str, b: str) -> None:
    recorded, current = common + a, common + b
    position, *shown = difference_window(recorded, current)
    assert recorded[:position] == current[:position]
    assert position == min(len(recorded), len(current)) or recorded[position] != current[position]
    for text, window in zip((recorded, current), shown, strict=True):
        piece = window.removeprefix("...").removesuffix("...")
        assert len(window) <= max(80, len(text)) + 3
        starts = [i for i in range(len(text) + 1) if text.startswith(piece, i)]
        assert any(i <= position <= i + len(piece) for i in starts), (text, window, position)


# -- replay order and the hot path -------------------------------------------------------


def test_identical_requests_replay_in_recorded_order_and_unplayed(
    fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    cassette = tmp_path / "c.json"

    def chat(url: str) -> str:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
        return (
            client.chat.completions.create(model="gpt-x", messages=MESSAGES)
            .choices[0]
            .message.content
            or ""
        )

    fake_provider.script("one", "two", "three")
    recording = CassetteSession(path=cassette, mode="once", nodeid="t")
    recording.start()
    assert [chat(fake_provider.url) for _ in range(3)] == ["one", "two", "three"]
    recording.stop()
    replay = CassetteSession(path=cassette, mode="none", nodeid="t")
    replay.start()
    assert [chat(fake_provider.url), chat(fake_provider.url)] == ["one", "two"]
    outcome = replay.stop()
    assert [i.response.body["choices"][0]["message"]["content"] for i in outcome.unplayed] == [
        "three"
    ]

    replay = CassetteSession(path=cassette, mode="none", nodeid="t")
    replay.start()
    for _ in range(3):
        chat(fake_provider.url)
    with pytest.raises(CassetteMiss) as info:
        chat(fake_provider.url)
    assert (
        "An identical request was recorded 3 time(s) and every recorded copy was already replayed"
        in str(info.value)
    )
    assert replay.stop().unplayed == ()
