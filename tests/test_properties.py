"""Properties of the file loaders, request canonicalisation and redaction (hypothesis).

* Loaders (`load_cassette`, `load_baseline`, `load_report`): whatever bytes a file
  holds (random bytes, random JSON, a valid file cut short, a valid file with one part
  replaced), loading gives the model or exactly one `FileFormatError` whose message
  names the file, with no chained exception: never another exception type. A
  non-finite number anywhere is always that error, naming its JSON path.
* Canonicalisation (`capture/cassettes/match.py`): the canonical request ignores key order,
  whitespace and query-parameter order, is idempotent, and a request read back from a
  cassette file canonicalises to the key of the live request it was recorded from.
* Redaction (`core/redact.py`): planted secrets (`sk-...`, `sk-ant-...`,
  `Bearer ...`, secret query parameters, secret headers, custom patterns) are gone
  from headers, URLs and nested JSON bodies, on both the request and response side.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmeval.capture.cassettes.match import Matcher, canonical_path
from pytest_llmeval.capture.cassettes.models import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    received_interaction,
    sse_event,
)
from pytest_llmeval.capture.cassettes.store import dump_cassette, load_cassette, write_cassette
from pytest_llmeval.core.errors import FileFormatError
from pytest_llmeval.core.files import _json_path, dump_model
from pytest_llmeval.core.redact import Redactor
from pytest_llmeval.records.baseline import Baseline, BaselineCase, BaselineGroup, load_baseline
from pytest_llmeval.records.models import EvalResult, Inference, Score
from pytest_llmeval.reporting.json import Report, build_report, load_report

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- loaders ------------------------------------------------------------------------------


def sample_cassette() -> Cassette:
    request = RecordedRequest(
        method="POST",
        url="https://api.openai.com/v1/chat/completions",
        headers={"content-type": "application/json"},
        body_format="json",
        body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    plain = Interaction(
        request=request,
        response=RecordedResponse(status=200, body_text='{"id": "x"}', body={"id": "x"}),
    )
    streamed = Interaction(
        request=request,
        response=RecordedResponse(
            status=200,
            headers={"content-type": "text/event-stream"},
            events=[sse_event('data: {"a": 1}\n\n', 0.01), sse_event("data: [DONE]\n\n", 0.02)],
        ),
    )
    return Cassette(interactions=[plain, streamed])


def sample_baseline() -> Baseline:
    case = BaselineCase(score=0.75, passed=True)
    group = BaselineGroup(
        label="test_x", n=1, mean=0.75, pass_rate=1.0, cost_usd=0.01, cases={"t.py::test_x": case}
    )
    return Baseline(groups={"t.py::test_x": group})


def sample_report() -> Report:
    inference = Inference(nodeid="t.py::test_x", role="app", provider="openai", model="m")
    result = EvalResult(
        nodeid="t.py::test_x",
        case_id="t.py::test_x",
        group="t.py::test_x",
        threshold=0.5,
        aggregate="mean",
        scores=[Score(name="s", value=0.75)],
        score=0.75,
        status="passed",
        inferences=[inference],
    )
    return build_report([result], settings={"record_mode": "none"})


LOADERS: dict[str, tuple[Callable[[Path], Any], type, str]] = {
    "cassette": (load_cassette, Cassette, dump_cassette(sample_cassette())),
    "baseline": (load_baseline, Baseline, dump_model(sample_baseline())),
    "report": (load_report, Report, dump_model(sample_report())),
}


def load_or_clear_error(kind: str, path: Path, raw: bytes) -> None:
    """Loading `raw` gives the model, or one FileFormatError naming the file."""
    load, model, _ = LOADERS[kind]
    path.write_bytes(raw)
    try:
        loaded = load(path)
    except FileFormatError as error:
        assert type(error) is FileFormatError
        assert str(error).startswith(f"{path}: ")
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
    else:
        assert isinstance(loaded, model)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("loaders")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_the_samples_round_trip(kind: str, folder: Path) -> None:
    load, model, text = LOADERS[kind]
    path = folder / f"sample-{kind}.json"
    path.write_text(text, encoding="utf-8")
    assert isinstance(load(path), model)


@pytest.mark.parametrize("kind", sorted(LOADERS))
@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=512))
def test_loaders_on_arbitrary_bytes(kind: str, folder: Path, raw: bytes) -> None:
    load_or_clear_error(kind, folder / f"bytes-{kind}.json", raw)


@pytest.mark.parametrize("kind", sorted(LOADERS))
@PROPERTY_SETTINGS
@given(value=json_values)
def test_loaders_on_arbitrary_json(kind: str, folder: Path, value: Any) -> None:
    load_or_clear_error(kind, folder / f"json-{kind}.json", json_bytes(value))


@pytest.mark.parametrize("kind", sorted(LOADERS))
@PROPERTY_SETTINGS
@given(
    version=st.integers(-2, 3) | st.booleans() | st.floats() | st.text(max_size=3),
    value=st.dictionaries(
        st.sampled_from(["interactions", "groups", "results", "aggregate", "created_at", "x"]),
        json_values,
        max_size=4,
    ),
)
def test_loaders_on_versioned_json(kind: str, folder: Path, version: Any, value: Any) -> None:
    document = {"schema_version": version, **value}
    load_or_clear_error(kind, folder / f"versioned-{kind}.json", json_bytes(document))


@pytest.mark.parametrize("kind", sorted(LOADERS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_loaders_on_valid_files_cut_short(kind: str, folder: Path, data: st.DataObject) -> None:
    raw = LOADERS[kind][2].encode("utf-8")
    cut = data.draw(st.integers(0, len(raw)))
    load_or_clear_error(kind, folder / f"cut-{kind}.json", raw[:cut])


def paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_in(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_in(item, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


@pytest.mark.parametrize("kind", sorted(LOADERS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_loaders_on_valid_files_with_one_part_replaced(
    kind: str, folder: Path, data: st.DataObject
) -> None:
    document = json.loads(LOADERS[kind][2])
    path = data.draw(st.sampled_from(paths_in(document)))
    delete = bool(path) and data.draw(st.booleans())
    new = data.draw(json_values)
    mutated = replaced(document, path, new, delete)
    load_or_clear_error(kind, folder / f"mutated-{kind}.json", json_bytes(mutated))


NON_FINITE_MARK = "@@non-finite@@"


@pytest.mark.parametrize("kind", sorted(LOADERS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_loaders_refuse_a_non_finite_number_anywhere(
    kind: str, folder: Path, data: st.DataObject
) -> None:
    """NaN, Infinity or an overflowing number at any place in a valid file is refused,
    naming the file and that place (Python's json would read them as floats)."""
    document = json.loads(LOADERS[kind][2])
    location = data.draw(st.sampled_from(paths_in(document)[1:]))
    literal = data.draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-4e400"]))
    text = json.dumps(replaced(document, location, NON_FINITE_MARK, delete=False))
    path = folder / f"non-finite-{kind}.json"
    path.write_text(text.replace(json.dumps(NON_FINITE_MARK), literal))
    with pytest.raises(FileFormatError) as raised:
        LOADERS[kind][0](path)
    assert str(raised.value).startswith(
        f"{path}: invalid {kind} at {_json_path(location)}: {literal} is not a finite number"
    )


DEEP_NESTING_BUG = (
    "BUG: JSON nested deeper than the interpreter's recursion limit makes json.loads raise "
    "RecursionError, which escapes files.load_model (so every loader); it should catch "
    "RecursionError next to the JSON decoding errors"
)
HUGE_INTEGER_BUG = (
    "BUG: an integer of more than 4300 digits makes json.loads raise a plain ValueError "
    "(int max str digits); files.load_model catches only UnicodeDecodeError and "
    "json.JSONDecodeError, so it escapes (cassettes too, since commit 7940990 they load "
    "through load_model); it should catch ValueError"
)


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_loaders_on_deeply_nested_json(kind: str, folder: Path) -> None:
    raw = b'{"schema_version": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    load_or_clear_error(kind, folder / f"deep-{kind}.json", raw)


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_loaders_on_a_huge_integer(kind: str, folder: Path) -> None:
    raw = b'{"schema_version": 1, "x": ' + b"7" * 5000 + b"}"
    load_or_clear_error(kind, folder / f"huge-{kind}.json", raw)


# -- canonicalisation -----------------------------------------------------------------------

# What a live request body can hold: JSON an HTTP client sends (finite numbers, text
# without lone surrogates, which UTF-8 cannot carry).
body_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
body_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | body_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(body_text, children, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.dictionaries(body_text, body_values, min_size=1, max_size=5)
query_names = st.text(string.ascii_lowercase, min_size=1, max_size=6)
queries = st.lists(
    st.tuples(query_names, st.text(string.ascii_letters + string.digits, max_size=6)),
    max_size=4,
    unique_by=lambda pair: pair[0],
)


def shuffled(value: Any, shuffle: random.Random) -> Any:
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        keys = list(value)
        shuffle.shuffle(keys)
        return {key: shuffled(value[key], shuffle) for key in keys}
    if isinstance(value, list):
        return [shuffled(item, shuffle) for item in value]
    return value


def url_with(query: list[tuple[str, str]]) -> str:
    text = "&".join(f"{name}={value}" for name, value in query)
    return "https://api.example.com/v1/chat/completions" + (f"?{text}" if text else "")


@PROPERTY_SETTINGS
@given(
    body=bodies,
    query=queries,
    shuffle=st.randoms(use_true_random=False),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
)
def test_canonical_request_ignores_key_order_whitespace_and_query_order(
    body: dict[str, Any],
    query: list[tuple[str, str]],
    shuffle: random.Random,
    indent: int | None,
    ascii_only: bool,
) -> None:
    matcher = Matcher(Redactor())
    compact = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    other = json.dumps(shuffled(body, shuffle), indent=indent, ensure_ascii=ascii_only)
    permuted = list(query)
    shuffle.shuffle(permuted)
    first = matcher.live("post", url_with(query), compact, "application/json")
    second = matcher.live("POST", url_with(permuted), other.encode("utf-8"), "application/json")
    assert first.canonical.key == second.canonical.key
    assert first.canonical.digest() == second.canonical.digest()


@PROPERTY_SETTINGS
@given(body=bodies, query=queries)
def test_canonicalisation_is_idempotent(body: dict[str, Any], query: list[tuple[str, str]]) -> None:
    matcher = Matcher(Redactor(), ignore_paths=["metadata.user_id"])
    url = url_with(query)
    once = matcher.live("POST", url, json.dumps(body).encode("utf-8")).canonical
    twice = matcher.live("POST", url, once.body.encode("utf-8")).canonical
    assert twice == once
    assert canonical_path("https://h" + once.path) == once.path


@PROPERTY_SETTINGS
@given(body=bodies, query=queries)
def test_a_recorded_request_matches_the_live_one_after_a_round_trip_through_the_file(
    body: dict[str, Any], query: list[tuple[str, str]], folder: Path
) -> None:
    matcher = Matcher(Redactor())
    live = matcher.live("POST", url_with(query), json.dumps(body).encode("utf-8"))
    request = RecordedRequest(
        method=live.canonical.method, url=live.url, body_format=live.body_format, body=live.body
    )
    path = folder / "round-trip.json"
    write_cassette(
        path,
        Cassette(
            interactions=[Interaction(request=request, response=RecordedResponse(status=200))]
        ),
    )
    stored = load_cassette(path).interactions[0].request
    assert matcher.recorded(stored).key == live.canonical.key


LONE_SURROGATE_BUG = (
    "BUG: a JSON body with an escaped lone surrogate (half an emoji, '\\ud83d') parses "
    "to a str that UTF-8 cannot encode; store.dump_cassette (and files.dump_model, "
    "trace.trace_lines) write with ensure_ascii=False, so writing the cassette raises "
    "UnicodeEncodeError; they should escape lone surrogates as \\uXXXX"
)


def test_a_lone_surrogate_in_a_body_round_trips_through_the_file(folder: Path) -> None:
    matcher = Matcher(Redactor())
    live = matcher.live("POST", url_with([]), b'{"text": "half an emoji \\ud83d"}')
    request = RecordedRequest(
        method="POST", url=live.url, body_format=live.body_format, body=live.body
    )
    path = folder / "surrogate.json"
    write_cassette(
        path,
        Cassette(
            interactions=[Interaction(request=request, response=RecordedResponse(status=200))]
        ),
    )
    assert matcher.recorded(load_cassette(path).interactions[0].request).key == live.canonical.key


# -- redaction ------------------------------------------------------------------------------

URL_SAFE = string.ascii_letters + string.digits + "-_"
ALPHANUMERIC = string.ascii_letters + string.digits


def random_part(low: int, high: int) -> st.SearchStrategy[str]:
    # ends on a letter or digit, as real keys do (and the patterns then see all of it)
    return st.builds(
        lambda body, end: body + end,
        st.text(URL_SAFE, min_size=low - 1, max_size=high - 1),
        st.sampled_from(ALPHANUMERIC),
    )


#: Secrets made of URL-safe characters: (what is planted, the part that must disappear).
url_safe_planted = st.one_of(
    random_part(20, 40).map(lambda part: (f"sk-{part}", part)),
    random_part(20, 40).map(lambda part: (f"sk-proj-{part}", part)),
    random_part(20, 40).map(lambda part: (f"sk-ant-api03-{part}", part)),
    random_part(16, 40).map(lambda part: (f"ACME_{part}", part)),  # the custom pattern
)
planted = url_safe_planted | random_part(16, 40).map(lambda part: (f"Bearer {part}", part))
CUSTOM = [r"ACME_[A-Za-z0-9_-]{16,}"]

#: Text around a planted secret: words and punctuation that end any token before it.
surrounding = st.text(string.ascii_letters + string.digits + " .,:;!?()\n", max_size=12).map(
    lambda text: text if not text or text[-1] in " .,:;!?()\n" else text + " "
)


@st.composite
def text_with_secret(
    draw: st.DrawFn, secrets: st.SearchStrategy[tuple[str, str]] = planted
) -> tuple[str, str]:
    secret, part = draw(secrets)
    before = draw(surrounding)
    after = draw(st.text(" .,:;!?()\n", max_size=3))
    return before + secret + after + draw(surrounding), part


@st.composite
def body_with_secrets(draw: st.DrawFn) -> tuple[Any, list[str]]:
    """A nested JSON body with planted secrets in values and keys at random depths."""
    document: Any = draw(st.dictionaries(body_text, body_values, max_size=3))
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        text, part = draw(text_with_secret())
        parts.append(part)
        as_key = draw(st.booleans())
        container = document
        for _ in range(draw(st.integers(0, 3))):
            wrapper = draw(st.sampled_from(["dict", "list"]))
            child: Any = {} if wrapper == "dict" else []
            if isinstance(container, dict):
                container[draw(body_text)] = child
            else:
                container.append(child)
            container = child
        if isinstance(container, dict):
            if as_key:
                container[text] = draw(body_values)
            else:
                container[draw(body_text)] = text
        else:
            container.append(text)
    return document, parts


def assert_gone(parts: list[str], *places: Any) -> None:
    text = json.dumps(places, ensure_ascii=False)
    for part in parts:
        assert part not in text


@PROPERTY_SETTINGS
@given(body=body_with_secrets(), ascii_only=st.booleans())
def test_redaction_removes_secrets_from_nested_json_bodies(
    body: tuple[Any, list[str]], ascii_only: bool
) -> None:
    document, parts = body
    redactor = Redactor(CUSTOM)
    assert_gone(parts, redactor.value(document))
    # the request side as the cassette session stores it
    live = Matcher(redactor).live(
        "POST", url_with([]), json.dumps(document, ensure_ascii=ascii_only).encode("utf-8")
    )
    assert_gone(parts, live.body, live.canonical.body)
    # the response side: the body as received, and as the parsed copy beside it
    raw = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8")
    request = RecordedRequest(method="POST", url=url_with([]))
    interaction = received_interaction(
        request, 200, {}, raw, None, role="app", latency=0.1, error=None, truncated=False,
        redact=redactor,
    )  # fmt: skip
    assert_gone(parts, interaction.response.body_text, interaction.response.body)


SECRET_HEADERS = [
    "Authorization",
    "authorization",
    "Proxy-Authorization",
    "x-api-key",
    "X-API-Key",
    "api-key",
    "Cookie",
    "Set-Cookie",
    "x-goog-api-key",
    "Ocp-Apim-Subscription-Key",
    "X-Auth-Token",
    "x-amz-security-token",
    "x-client-secret",
]


@PROPERTY_SETTINGS
@given(
    secret_headers=st.lists(
        st.tuples(st.sampled_from(SECRET_HEADERS), random_part(8, 40)), min_size=1, max_size=4
    ),
    other_headers=st.lists(
        st.tuples(
            st.sampled_from(["x-note", "user-agent", "x-request-id", "accept"]), text_with_secret()
        ),
        max_size=3,
    ),
    response=st.booleans(),
)
def test_redaction_removes_secrets_from_headers(
    secret_headers: list[tuple[str, str]],
    other_headers: list[tuple[str, tuple[str, str]]],
    response: bool,
) -> None:
    # a secret header goes whatever its value; a secret inside any other value is redacted
    headers = [(name, value) for name, value in secret_headers]
    headers += [(name, text) for name, (text, _) in other_headers]
    random.Random(len(headers)).shuffle(headers)
    kept = Redactor(CUSTOM).headers(headers, response=response)
    parts = [value for _, value in secret_headers] + [part for _, (_, part) in other_headers]
    assert_gone(parts, kept)
    assert not {name.lower() for name, _ in secret_headers} & set(kept)


SECRET_QUERY_NAMES = [
    "api_key",
    "apikey",
    "apiKey",
    "key",
    "token",
    "access_token",
    "client_secret",
    "password",
    "sig",
    "X-Amz-Signature",
    "auth",
    "accessToken",
    "authToken",
    "clientSecret",
    "sessionToken",
    "refresh_token",
    "APIKey",
]


@PROPERTY_SETTINGS
@given(
    secret_query=st.lists(
        st.tuples(st.sampled_from(SECRET_QUERY_NAMES), random_part(8, 40)), min_size=1, max_size=3
    ),
    planted_in_value=st.lists(text_with_secret(url_safe_planted), max_size=2),
    plain=queries,
    fragment=st.booleans(),
    userinfo=st.none() | st.tuples(st.text(URL_SAFE, max_size=8), random_part(8, 30)),
)
def test_redaction_removes_secrets_from_urls(
    secret_query: list[tuple[str, str]],
    planted_in_value: list[tuple[str, str]],
    plain: list[tuple[str, str]],
    fragment: bool,
    userinfo: tuple[str, str] | None,
) -> None:
    query = [(name, quote(value)) for name, value in secret_query]
    query += [(f"q{index}", quote(text)) for index, (text, _) in enumerate(planted_in_value)]
    query += plain
    random.Random(len(query)).shuffle(query)
    url = url_with(query) + ("#section" if fragment else "")
    if userinfo is not None:  # https://user:password@host/...
        url = url.replace("://", f"://{userinfo[0]}:{userinfo[1]}@", 1)
    redactor = Redactor(CUSTOM)
    parts = [value for _, value in secret_query] + [part for _, part in planted_in_value]
    parts += [userinfo[1]] if userinfo is not None else []
    redacted = redactor.url(url)
    assert_gone(parts, redacted)
    # matching redacts the URL the same way, so what is stored and matched is clean
    assert_gone(parts, Matcher(redactor).live("GET", url, b"").url)
    assert redactor.url(redacted) == redacted


@PROPERTY_SETTINGS
@given(text=st.text(max_size=60), planted_text=st.lists(text_with_secret(), max_size=3))
def test_redaction_is_idempotent(text: str, planted_text: list[tuple[str, str]]) -> None:
    redactor = Redactor(CUSTOM)
    full = text + "".join(planted for planted, _ in planted_text)
    once = redactor.text(full)
    assert redactor.text(once) == once


ESCAPED_SECRET_BUG = (
    "BUG: Matcher.live redacts a JSON request body only when its raw text matches a "
    "pattern, and received_interaction redacts a response's raw text; a JSON escape "
    "inside the match (here the tab of 'Bearer\\t<token>', likewise \\/ or \\uXXXX) hides "
    "the secret from the raw text, so the parsed body is stored in clear. Fix: always "
    "apply Redactor.value to the parsed body, and re-serialise a response whose parsed "
    "body changes"
)


@pytest.mark.parametrize("separator", ["\t", "\n"])
def test_a_secret_behind_a_json_escape_is_redacted(separator: str) -> None:
    token = "Zq8W3nVt5Lr7Xk2Pj9Hs"
    raw = json.dumps({"note": f"header Authorization: Bearer{separator}{token}"}).encode()
    redactor = Redactor()
    live = Matcher(redactor).live("POST", url_with([]), raw)
    request = RecordedRequest(method="POST", url=url_with([]))
    response = received_interaction(
        request, 200, {}, raw, None, role="app", latency=0.1, error=None, truncated=False,
        redact=redactor,
    ).response  # fmt: skip
    assert_gone([token], live.body, response.body_text, response.body)


@PROPERTY_SETTINGS
@given(
    body=body_with_secrets(),
    ascii_only=st.booleans(),
    escaped_slashes=st.booleans(),
    levels=st.integers(1, 3),
    separator=st.sampled_from([" ", "\t", "\n", "  "]),
)
def test_a_secret_behind_any_json_escaping_is_redacted_in_place(
    body: tuple[Any, list[str]],
    ascii_only: bool,
    escaped_slashes: bool,
    levels: int,
    separator: str,
) -> None:
    """JSON text, JSON inside a JSON string (an SSE event in a cassette), escaped slashes
    (`\\/`), `\\uXXXX` and `Bearer\\t`: the secrets go, and the text stays the same JSON
    apart from them."""
    document, parts = body
    text = json.dumps(document, ensure_ascii=ascii_only).replace("Bearer ", f"Bearer{separator}")
    for _ in range(levels - 1):
        text = json.dumps(text, ensure_ascii=ascii_only)
    if escaped_slashes:
        text = text.replace("/", "\\/")
    redacted = Redactor(CUSTOM).text(text)
    value: Any = redacted
    for _ in range(levels):
        value = json.loads(value)
    assert_gone(parts, value)
    for part in parts:
        assert part not in redacted
    assert Redactor(CUSTOM).text(redacted) == redacted


INLINE_FLAGS_BUG = (
    "BUG: Redactor joins every pattern into one alternation, so a custom pattern with an "
    "inline flag such as (?i) raises re.error ('global flags not at the start'); compile "
    "each pattern on its own (or turn a leading (?i) into a scoped (?i:...) group)"
)


def test_a_custom_pattern_may_carry_inline_flags() -> None:
    redactor = Redactor([r"(?i)acme_[a-z0-9]{16,}"])
    assert redactor.text("key ACME_Q3zT5w7Y9aB1cD3eF5 here") == "key <redacted> here"


PERCENT_ENCODED_BUG = (
    "BUG: Redactor.url matches the value patterns against the URL as sent, so a secret "
    "whose characters get percent-encoded in a query value (the space of 'Bearer <token>', "
    "the / and + of a base64 key under a custom pattern) is not recognised and stays in "
    "the cassette; it should also match each query value after unquote_plus and redact "
    "the whole value on a hit"
)


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer Zq8W3nVt5Lr7Xk2Pj9Hs", "Zq8W3nVt5Lr7Xk2Pj9Hs"),
        ("AWS wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+x", "bPxRfiCYEXAMPLEKEY"),
    ],
    ids=["bearer", "custom-base64"],
)
def test_a_percent_encoded_secret_in_a_query_value_is_redacted(value: str, token: str) -> None:
    redactor = Redactor([r"AWS [A-Za-z0-9/+]{40,}"])
    assert token not in redactor.url(url_with([("q", quote(value, safe=""))]))
