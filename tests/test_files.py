"""The one loader and writer of versioned JSON files: strict reads, stable atomic writes."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from pytest_llmeval.core.errors import FileFormatError
from pytest_llmeval.core.files import dump_model, load_model, write_model
from pytest_llmeval.records.baseline import Baseline, BaselineCase, BaselineGroup


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = 2
    name: str
    ratio: float | None = None
    nested: dict[str, int] = {}
    items: list[float] = []


def _load_error(path: Path, what: str = "baseline") -> str:
    before = path.read_bytes()
    with pytest.raises(FileFormatError) as info:
        load_model(path, Sample, what=what)
    assert path.read_bytes() == before, "a failed load must leave the file untouched"
    return str(info.value)


def test_dump_is_stable_sorted_and_versioned_first() -> None:
    model = Sample(name="é ✓", ratio=0.5, nested={"z": 1, "a": 2}, items=[1.0, 0.25])
    text = dump_model(model)
    assert text == (
        "{\n"
        '  "schema_version": 2,\n'
        '  "items": [\n'
        "    1.0,\n"
        "    0.25\n"
        "  ],\n"
        '  "name": "é ✓",\n'
        '  "nested": {\n'
        '    "a": 2,\n'
        '    "z": 1\n'
        "  },\n"
        '  "ratio": 0.5\n'
        "}\n"
    )
    assert dump_model(model) == text


def test_nan_and_infinity_are_written_as_null() -> None:
    text = dump_model(Sample(name="x", ratio=math.nan, items=[math.inf, 1.0]))
    data = json.loads(text)
    assert data["ratio"] is None
    assert data["items"] == [None, 1.0]
    assert "NaN" not in text and "Infinity" not in text


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "file.json"
    model = Sample(name="x", ratio=0.1, nested={"b": 3})
    write_model(path, model)
    assert load_model(path, Sample) == model
    assert [p.name for p in path.parent.iterdir()] == ["file.json"]


def test_write_goes_through_a_per_process_temp_file_in_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.json"
    moves: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        moves.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_model(path, Sample(name="x"))
    [(src, dst)] = moves
    assert Path(src).parent == tmp_path
    assert str(os.getpid()) in Path(src).name
    assert dst == str(path)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.json"
    write_model(path, Sample(name="old"))
    before = path.read_bytes()

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_model(path, Sample(name="new"))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.json", Sample)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the baseline file is empty"),
        (b'{"schema_version": 1,', "not valid JSON (line 1, column 22: Expecting property name"),
        (b"[1, 2]", "not a baseline file (expected a JSON object)"),
        (b'{"name": "x"}', "not a baseline file (no integer schema_version at the top)"),
        (b'{"schema_version": true}', "no integer schema_version"),
        (b"\xff\xfe{}", "not a baseline file (not UTF-8 text"),
        (
            b'\xef\xbb\xbf{"schema_version": 1}',
            "not valid JSON (line 1, column 1: Unexpected UTF-8 BOM",
        ),
        (b'{"schema_version": 1, "x": NaN}', "NaN"),
    ],
)
def test_malformed_files_are_refused_with_the_file_named(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "llmeval-baseline.json"
    path.write_bytes(content)
    message = _load_error(path)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "--llmeval-update-baseline" in message


def test_a_newer_schema_version_is_refused_with_an_upgrade_hint(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"schema_version": 3, "name": "x", "future": true}\n')
    message = _load_error(path, what="report")
    assert message == (
        f"{path}: this report has schema_version 3, newer than this pytest-llm-eval reads "
        "(2); upgrade pytest-llm-eval (pip install -U pytest-llm-eval) to read it."
    )


def test_older_versions_are_read(tmp_path: Path) -> None:
    path = tmp_path / "file.json"
    path.write_text('{"schema_version": 1, "name": "x"}')
    assert load_model(path, Sample).name == "x"


def test_validation_errors_name_the_first_location_and_count_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "file.json"
    path.write_text('{"schema_version": 2, "name": 5, "items": [1.0, "x"], "extra": 1}')
    message = _load_error(path, what="report")
    assert message == (
        f"{path}: invalid report at name: Input should be a valid string (and 2 more "
        "errors); write it again with `pytest --llmeval-report=PATH`."
    )


def test_locations_quote_keys_that_are_not_identifiers(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "groups": {
                    "tests/t.py::test_a": {
                        "label": "test_a",
                        "n": 1,
                        "mean": 1.0,
                        "pass_rate": 1.0,
                        "cases": {"tests/t.py::test_a[x]": {"score": "high", "passed": True}},
                    }
                },
            }
        )
    )
    with pytest.raises(FileFormatError) as info:
        load_model(path, Baseline)
    assert (
        'invalid baseline at groups["tests/t.py::test_a"].cases["tests/t.py::test_a[x]"].score:'
        in str(info.value)
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_any_bytes_load_or_raise_file_format_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    try:
        load_model(path, Baseline)
    except FileFormatError as error:
        assert str(error).startswith(f"{path}: ")
    assert path.read_bytes() == content


scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
cases = st.dictionaries(
    st.text(min_size=1, max_size=20),
    st.builds(BaselineCase, score=scores, passed=st.booleans()),
    max_size=5,
)
groups = st.builds(
    BaselineGroup,
    label=st.text(max_size=10),
    n=st.integers(0, 100),
    mean=st.none() | scores,
    pass_rate=st.none() | scores,
    cost_usd=st.none() | st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    latency_p95_s=st.none() | st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    cases=cases,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    baseline=st.builds(Baseline, groups=st.dictionaries(st.text(max_size=20), groups, max_size=3))
)
def test_baselines_round_trip_byte_for_byte(tmp_path: Path, baseline: Baseline) -> None:
    path = tmp_path / "b.json"
    write_model(path, baseline)
    loaded = load_model(path, Baseline)
    assert loaded == baseline
    write_model(path, loaded)
    assert path.read_text(encoding="utf-8") == dump_model(baseline)


@pytest.mark.skipif(os.name != "posix", reason="whether a pid runs is only told on POSIX")
def test_a_write_removes_temp_files_of_dead_writers_only(tmp_path: Path) -> None:
    target = tmp_path / "baseline.json"
    dead = tmp_path / f".{target.name}.4194303-140000000000000.tmp"  # above Linux's pid_max
    alive = tmp_path / f".{target.name}.{os.getppid()}-1.tmp"  # a writer still running
    other = tmp_path / ".other.json.4194303-1.tmp"  # another file's
    for path in (dead, alive, other):
        path.write_text("{", encoding="utf-8")
    write_model(target, Sample(name="x"))
    assert not dead.exists()
    assert alive.exists() and other.exists()
    assert load_model(target, Sample).name == "x"


def test_one_listing_of_a_folder_serves_each_target_at_its_first_write(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    stale = [tmp_path / f".{target.name}.4194303-1.tmp" for target in (first, second)]
    for path in stale:
        path.write_text("{", encoding="utf-8")
    write_model(first, Sample(name="a"))
    assert [path.exists() for path in stale] == [False, True]  # b's waits for b's write
    later = tmp_path / f".{second.name}.4194302-1.tmp"  # left after this process listed
    later.write_text("{", encoding="utf-8")
    write_model(second, Sample(name="b"))
    assert not stale[1].exists()
    assert later.exists()  # to the next process: the folder is listed once per process
    assert load_model(second, Sample).name == "b"


def test_a_failed_write_names_the_target_never_its_temp_file(tmp_path: Path) -> None:
    from pytest_llmeval.core.errors import FileWriteError

    folder = tmp_path / "report.json"
    folder.mkdir()  # a folder where the file should go: os.replace fails (EISDIR)
    with pytest.raises(FileWriteError) as info:
        write_model(folder, Sample(name="x"))
    assert str(info.value) == f"cannot write {folder}: Is a directory [EISDIR]"
    assert isinstance(info.value, OSError)  # callers handling OSError still do
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(FileWriteError) as info:
        write_model(blocker / "deeper" / "report.json", Sample(name="x"))
    assert str(info.value) == (
        f"cannot write {blocker}/deeper/report.json: {blocker} is a file, not a folder [ENOTDIR]"
    )


def test_a_failed_clean_up_on_a_read_only_disk_is_not_a_second_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_llmeval.core.errors import FileWriteError

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    # root ignores permissions: the read-only file system is the OS calls failing as EROFS
    monkeypatch.setattr(os, "replace", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(FileWriteError) as info:
        write_model(tmp_path / "file.json", Sample(name="x"))
    assert (
        str(info.value) == f"cannot write {tmp_path / 'file.json'}: Read-only file system [EROFS]"
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_files_written_together_take_a_piece_of_each_in_turn(tmp_path: Path) -> None:
    from pytest_llmeval.core.files import write_texts_atomic
    from pytest_llmeval.core.redact import Redactor

    order: list[str] = []

    def pieces(name: str, count: int) -> Iterator[str]:
        for n in range(count):
            order.append(f"{name}{n}")
            yield f"{name}{n} sk-proj-{'A' * 40}\n"

    errors = write_texts_atomic(
        [(tmp_path / "a.txt", pieces("a", 3)), (tmp_path / "b" / "b.txt", pieces("b", 1))],
        redactor=Redactor(),
    )
    assert errors == [None, None]
    assert order == ["a0", "b0", "a1", "a2"]
    a_text = (tmp_path / "a.txt").read_text(encoding="utf-8")
    assert a_text.splitlines()[0].startswith("a0 ") and "AAAA" not in a_text  # redacted
    assert len(a_text.splitlines()) == 3
    assert (tmp_path / "b" / "b.txt").read_text(encoding="utf-8").startswith("b0 ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b"]


def test_a_file_written_together_that_fails_leaves_the_others_written(tmp_path: Path) -> None:
    from pytest_llmeval.core.errors import FileWriteError, LLMEvalError
    from pytest_llmeval.core.files import write_texts_atomic

    def broken() -> Iterator[str]:
        yield "{"
        raise LLMEvalError("the template is damaged")

    (tmp_path / "in-the-way").mkdir()
    (tmp_path / "kept.txt").write_text("old", encoding="utf-8")
    errors = write_texts_atomic(
        [
            (tmp_path / "in-the-way", iter(["x", "y"])),
            (tmp_path / "kept.txt", broken()),
            (tmp_path / "new.txt", iter(["1", "2", "3"])),
        ]
    )
    assert isinstance(errors[0], FileWriteError)
    assert str(errors[0]) == f"cannot write {tmp_path / 'in-the-way'}: Is a directory [EISDIR]"
    assert isinstance(errors[1], LLMEvalError) and str(errors[1]) == "the template is damaged"
    assert errors[2] is None
    assert (tmp_path / "new.txt").read_text(encoding="utf-8") == "123"
    assert (tmp_path / "kept.txt").read_text(encoding="utf-8") == "old"  # never half written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in-the-way", "kept.txt", "new.txt"]


def test_a_file_written_together_that_failed_still_takes_its_pieces(tmp_path: Path) -> None:
    # two files share one source (itertools.tee): the one that failed keeps taking its
    # share, so the source's items are not held for it while the other is written
    import itertools

    from pytest_llmeval.core.files import write_texts_atomic

    made: list[int] = []

    def source() -> Iterator[str]:
        for n in range(1000):
            made.append(n)
            yield f"{n}\n"

    (tmp_path / "blocker").write_text("a file where a folder should be", encoding="utf-8")
    first, second = itertools.tee(source())
    taken: list[str] = []

    def counted(pieces: Iterator[str]) -> Iterator[str]:
        for piece in pieces:
            taken.append(piece)
            yield piece

    errors = write_texts_atomic(
        [(tmp_path / "blocker" / "a.txt", counted(first)), (tmp_path / "b.txt", second)]
    )
    assert str(errors[0]).endswith("is a file, not a folder [ENOTDIR]") and errors[1] is None
    assert len(taken) == len(made) == 1000
    assert (tmp_path / "b.txt").read_text(encoding="utf-8").splitlines()[-1] == "999"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt", "blocker"]


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int = 1


JSON_DATA = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from(["a", ",", ":", " ", "\n", "\0", "é", '"', "\\"]))
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(alphabet="abc_", min_size=1, max_size=4), JSON_DATA, max_size=4))
def test_one_serialisation_makes_the_spread_and_the_compact_text(fields: dict[str, object]) -> None:
    # the JSON report and the HTML page share each piece of neutral text: each layout made
    # from it is the JSON the encoder gives with that layout's separators
    from pytest_llmeval.core.files import iter_model_text

    model = Loose(**fields)
    spread = "".join(iter_model_text(model))
    tight = "".join(iter_model_text(model, spread=False))
    assert json.loads(spread) == json.loads(tight) == {"schema_version": 1, **fields}

    def compact(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    members = "".join(f",{json.dumps(k)}:{compact(v)}" for k, v in sorted(fields.items()))
    assert tight == '{"schema_version":1' + members + "}"
    for name, value in fields.items():
        if not isinstance(value, (dict, list)) or not value:
            line = f"\n  {json.dumps(name)}: {json.dumps(value, ensure_ascii=False)}"
            assert line in spread
        elif isinstance(value, list):  # each item compact, spread separators, on its line
            for item in value:
                assert f"\n    {json.dumps(item, ensure_ascii=False, sort_keys=True)}" in spread


def test_given_items_with_a_non_finite_float_write_it_as_null() -> None:
    from pytest_llmeval.core.files import iter_model_text

    items = [{"cost": math.inf, "n": 1}, {"cost": 0.5, "n": math.nan}]
    for spread in (True, False):
        text = "".join(iter_model_text(Loose(rows=[]), spread=spread, items={"rows": items}))
        assert json.loads(text)["rows"] == [{"cost": None, "n": 1}, {"cost": 0.5, "n": None}]


def test_each_layout_is_written_in_the_pieces_it_is_redacted_in() -> None:
    # each piece is redacted on its own: the file is cut at each line of a spread value,
    # the page's compact text keeps a field's value whole, as when each was made alone
    from pytest_llmeval.core.files import iter_model_text

    class Nested(BaseModel):
        schema_version: int = 2
        name: str
        nested: dict[str, object] = {}
        items: list[float] = []

    model = Nested(name="x", nested={"a": 1, "b": [1, {"c": 2}]}, items=[1.0, 2.5])
    assert list(iter_model_text(model)) == [
        "{",
        '\n  "schema_version": ',
        "2",
        ',\n  "items": ',
        "[",
        "\n    1.0",
        ",\n    2.5",
        "\n  ]",
        ',\n  "name": ',
        '"x"',
        ',\n  "nested": ',
        "{",
        '\n    "a": ',
        "1",
        ',\n    "b": ',
        "[",
        '\n      1,\n      {"c": 2}',
        "\n    ]",
        "\n  }",
        "\n}\n",
    ]
    assert list(iter_model_text(model, spread=False)) == [
        "{",
        '"schema_version":',
        "2",
        ',"items":',
        "[",
        "1.0",
        ",2.5",
        "]",
        ',"name":',
        '"x"',
        ',"nested":',
        '{"a":1,"b":[1,{"c":2}]}',
        "}",
    ]
