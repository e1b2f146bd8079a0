"""load_cases and Case: the four formats, ids, errors with file and line, path resolution."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmeval.core.errors import FileFormatError, LLMEvalError
from pytest_llmeval.records.cases import Case, load_cases

# What a parameter id must avoid to be usable in a node id on a command line.
UNSAFE = re.compile(r"[\[\]/\\\s\x00-\x1f\x7f]|::")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(rows: list[Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def error(path: Path, **fields: str) -> str:
    with pytest.raises(FileFormatError) as info:
        load_cases(path, **fields)
    return str(info.value)


def assert_safe(case_id: str) -> None:
    assert case_id
    assert not UNSAFE.search(case_id), case_id


# --- formats ---------------------------------------------------------------------------


def test_jsonl_rows_become_cases(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "refunds.jsonl",
        '{"id": "r1", "input": "Can I return shoes?", "expected": "yes", "lang": "en"}\n'
        "\n"
        "   \n"
        '{"id": 2, "input": {"question": "and socks?"}, "difficulty": 3}\n',
    )
    first, second = load_cases(path)
    assert first == Case(
        id="r1", input="Can I return shoes?", expected="yes", metadata={"lang": "en"}
    )
    assert second.id == "2"
    assert second.input == {"question": "and socks?"}
    assert second.expected is None
    assert second.metadata == {"difficulty": 3}


def test_jsonl_tolerates_crlf_bom_and_u2028_inside_strings(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"input": "a\xe2\x80\xa8b"}\r\n{"input": "c"}\r\n')
    assert [case.input for case in load_cases(path)] == ["a\u2028b", "c"]


def test_json_list_and_cases_object(tmp_path: Path) -> None:
    rows = [{"input": "a", "expected": 1}, {"input": "b", "extra": [1]}]
    as_list = load_cases(write(tmp_path, "list.json", json.dumps(rows, indent=2)))
    as_object = load_cases(
        write(tmp_path, "object.json", json.dumps({"version": 1, "cases": rows}))
    )
    assert as_list == as_object
    assert [(c.input, c.expected, c.metadata) for c in as_list] == [
        ("a", 1, {}),
        ("b", None, {"extra": [1]}),
    ]


def test_csv_parses_json_cells_of_input_and_expected_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "data.csv",
        "id, input ,expected,notes\n"
        'q1,"{""city"": ""Paris""}","[1, 2]","{""kept"": ""as text""}"\n'
        'q2,"two\nlines",,\n'
        ",,,\n"
        "q3,[not json,{,\n",
    )
    q1, q2, q3 = load_cases(path)
    assert q1 == Case(
        id="q1",
        input={"city": "Paris"},
        expected=[1, 2],
        metadata={"notes": '{"kept": "as text"}'},
    )
    assert (q2.input, q2.expected, q2.metadata) == ("two\nlines", None, {"notes": ""})
    assert (q3.input, q3.expected) == ("[not json", "{")


def test_csv_short_rows_and_trailing_empty_cells(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", "input,expected,notes\nonly input\nx,y,z,,\n")
    short, padded = load_cases(path)
    assert (short.input, short.expected, short.metadata) == ("only input", None, {})
    assert (padded.input, padded.expected, padded.metadata) == ("x", "y", {"notes": "z"})


def test_yaml_list_and_cases_mapping(tmp_path: Path) -> None:
    listed = write(
        tmp_path,
        "list.yaml",
        "- id: a\n  input: hello\n  expected: [hi, hey]\n- input: {q: 1}\n  tags: [x]\n",
    )
    mapped = write(
        tmp_path,
        "mapped.yml",
        "cases:\n  - id: a\n    input: hello\n    expected: [hi, hey]\n"
        "  - input: {q: 1}\n    tags: [x]\n",
    )
    assert load_cases(listed) == load_cases(mapped)
    a, b = load_cases(listed)
    assert (a.id, a.input, a.expected) == ("a", "hello", ["hi", "hey"])
    assert (b.input, b.metadata) == ({"q": 1}, {"tags": ["x"]})


@pytest.mark.parametrize(
    ("name", "text"),
    [("e.jsonl", ""), ("e.json", "  \n"), ("e.csv", ""), ("e.yaml", "# nothing\n")],
)
def test_an_empty_file_gives_no_cases(tmp_path: Path, name: str, text: str) -> None:
    assert load_cases(write(tmp_path, name, text)) == []


def test_custom_field_names(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", jsonl([{"key": "k1", "question": "q", "answer": "a"}]))
    (case,) = load_cases(path, id_field="key", input_field="question", expected_field="answer")
    assert case == Case(id="k1", input="q", expected="a")


# --- Case -----------------------------------------------------------------------------


def test_case_is_frozen_and_prints_its_id() -> None:
    case = Case(id="refund-1", input="x")
    assert str(case) == "refund-1"
    assert f"{case}" == "refund-1"
    assert case.__name__ == "refund-1"  # what pytest's id maker reads
    assert Case.__name__ == "Case"  # type: ignore[comparison-overlap]  # the class keeps its name
    with pytest.raises(pydantic.ValidationError):
        case.id = "other"


@pytest.mark.parametrize("bad", ["", "a[1]", "a::b", "a b", "a/b", "line\nbreak"])
def test_case_refuses_ids_pytest_cannot_carry(bad: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="test ids cannot carry"):
        Case(id=bad, input="x")


# --- ids ------------------------------------------------------------------------------


def test_generated_ids_are_row_number_and_ascii_slug(tmp_path: Path) -> None:
    rows = [
        {"input": "What is the refund policy for damaged items, exactly?"},
        {"input": "Crème brûlée [recipe] / step::one"},
        {"input": "日本語の質問"},
        {"input": {"question": "Où?", "lang": "fr"}},
        {"input": "  "},
        {"input": 42},
    ]
    ids = [case.id for case in load_cases(write(tmp_path, "d.jsonl", jsonl(rows)))]
    # Literal values: these ids name cassettes and baseline entries, on every machine.
    assert ids == [
        "1-what-is-the-refund-policy-for",
        "2-creme-brulee-recipe-step-one",
        "3",
        "4-lang-fr-question-ou",
        "5",
        "6-42",
    ]


def test_user_ids_are_sanitised(tmp_path: Path) -> None:
    rows = [
        {"id": "refund[1]", "input": "a"},
        {"id": "a::b/c d", "input": "b"},
        {"id": "  ", "input": "blank id means generated"},
        {"id": "café", "input": "unicode kept"},
    ]
    ids = [case.id for case in load_cases(write(tmp_path, "d.jsonl", jsonl(rows)))]
    assert ids == ["refund-1", "a-b-c-d", "3-blank-id-means-generated", "café"]


def test_a_generated_id_steps_aside_for_a_row_id(tmp_path: Path) -> None:
    rows = [{"id": "2-hello", "input": "x"}, {"input": "hello"}, {"id": "3", "input": "…"}]
    ids = [case.id for case in load_cases(write(tmp_path, "d.jsonl", jsonl(rows)))]
    assert ids == ["2-hello", "2-hello-2", "3"]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inputs=st.lists(st.text(), min_size=1, max_size=20))
def test_generated_ids_are_unique_safe_and_stable(tmp_path: Path, inputs: list[str]) -> None:
    path = write(tmp_path, "h.jsonl", jsonl([{"input": text} for text in inputs]))
    ids = [case.id for case in load_cases(path)]
    assert len(set(ids)) == len(ids)
    for case_id in ids:
        assert_safe(case_id)
        assert case_id.isascii()
    assert [case.id for case in load_cases(path)] == ids


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(st.one_of(st.none(), st.text(), st.integers()), st.text()),
        min_size=1,
        max_size=12,
    )
)
def test_any_ids_are_unique_and_safe_or_refused(
    tmp_path: Path, rows: list[tuple[str | int | None, str]]
) -> None:
    data = [{"input": text} if i is None else {"id": i, "input": text} for i, text in rows]
    path = write(tmp_path, "h.jsonl", jsonl(data))
    try:
        cases = load_cases(path)
    except FileFormatError as exc:
        assert "h.jsonl" in str(exc)
        assert re.search(r"line \d+", str(exc))
        return
    ids = [case.id for case in cases]
    assert len(set(ids)) == len(ids)
    for case_id in ids:
        assert_safe(case_id)


# --- errors ---------------------------------------------------------------------------


def test_invalid_json_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", '{"input": "ok"}\n\n{"input": "oops",}\n')
    message = error(path)
    assert f"{path}, line 3: not valid JSON" in message
    assert "one complete JSON object" in message


def test_row_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", '{"input": "ok"}\n["input", "x"]\n')
    message = error(path)
    assert (
        f"{path}, line 2: a case must be an object with an 'input' key, found an array" in message
    )


def test_missing_input_names_the_keys_and_the_option(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", '{"input": "ok"}\n{"question": "q", "id": "x"}\n')
    message = error(path)
    assert f"{path}, line 2: the case has no 'input' (keys: id, question)" in message
    assert "input_field=" in message


def test_null_input_is_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", '{"input": null}\n')
    assert f"{path}, line 1: the case has no 'input'" in error(path)


def test_json_errors_name_the_line(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.json", '[\n  {"input": "a"},\n  {"input": }\n]\n')
    assert f"{broken}, line 3: not valid JSON" in error(broken)
    rows = write(
        tmp_path,
        "rows.json",
        '{"name": "x",\n "cases": [\n  {"input": "a"},\n  {"input": "b",\n   "id": 1},\n  "c"\n ]}\n',
    )
    assert f"{rows}, line 6: a case must be an object" in error(rows)
    wrong = write(tmp_path, "wrong.json", '{"items": []}')
    assert 'expected a list of cases or an object with a "cases" list' in error(wrong)


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", 'id,input\na,"multi\nline"\nb,x,surplus\n')
    message = error(path)
    assert f"{path}, line 4: 3 cells but the header has 2 columns" in message
    assert "quote cells that contain commas" in message
    missing = write(tmp_path, "missing.csv", "id,question\na,x\n")
    assert f"{missing}, line 2: the case has no 'input'" in error(missing)
    repeated = write(tmp_path, "repeated.csv", "input,input\na,b\n")
    assert f"{repeated}, line 1: the header row repeats column 'input'" in error(repeated)


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "cases:\n  - input: a\n\n  - id: b\n    expected: c\n")
    assert f"{path}, line 4: the case has no 'input'" in error(path)
    broken = write(tmp_path, "broken.yaml", "- input: a\n- input: [unclosed\n- input: c\n")
    message = error(broken)
    assert f"{broken}, line 3: not valid YAML" in message
    scalar = write(tmp_path, "scalar.yaml", "- just a string\n")
    assert f"{scalar}, line 1: a case must be an object" in error(scalar)
    key = write(tmp_path, "key.yaml", "- input: a\n  yes: 1\n")
    assert f"{key}, line 1: key True is not a string; quote it" in error(key)


@pytest.mark.parametrize("aliases", [99, 101])
def test_a_yaml_dataset_of_aliases_past_the_bound_is_refused(tmp_path: Path, aliases: int) -> None:
    """Each alias of a 1,000-character input adds 1,001 to what the file holds: 99
    of them stay under the 100,000 bound, 101 go past it."""
    text = "- input: &long " + "x" * 1000 + "\n" + "- input: *long\n" * aliases
    path = write(tmp_path, "aliases.yaml", text)
    if aliases == 99:
        assert len(load_cases(path)) == 100
        return
    message = error(path)
    assert f"{path}, line 1: not valid YAML (aliases in this YAML expand it by more" in message


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dup.jsonl",
        '{"id": "a", "input": "1"}\n{"id": "b", "input": "2"}\n{"id": "a", "input": "3"}\n',
    )
    message = error(path)
    assert f"{path}: duplicate id 'a' on line 1 and line 3" in message
    assert "rename one of them" in message


def test_ids_that_collide_once_sanitised(tmp_path: Path) -> None:
    path = write(
        tmp_path, "dup.jsonl", jsonl([{"id": "a b", "input": "1"}, {"id": "a/b", "input": "2"}])
    )
    assert f"{path}: ids 'a b' and 'a/b' both become 'a-b' on line 1 and line 2" in error(path)
    empty = write(tmp_path, "empty.jsonl", jsonl([{"id": "[]", "input": "1"}]))
    assert f"{empty}, line 1: id '[]' is empty once" in error(empty)
    listed = write(tmp_path, "listed.jsonl", jsonl([{"id": ["x"], "input": "1"}]))
    assert f"{listed}, line 1: 'id' is an array; an id is a string or a number" in error(listed)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"input\nok\ncaf\xe9\n")
    assert f"{path}, line 3: not UTF-8 text" in error(path)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "cases.txt", "input\n")
    assert "unsupported file type '.txt'" in error(path)


def test_errors_are_llmeval_errors(tmp_path: Path) -> None:
    with pytest.raises(LLMEvalError):
        load_cases(tmp_path / "nope.jsonl")


# --- path resolution --------------------------------------------------------------------


def load_from_module(module_dir: Path, relative: str) -> list[Case]:
    """Call load_cases from a module living in module_dir, as a test file would."""
    source = module_dir / "caller_module.py"
    source.write_text(
        "from pytest_llmeval import load_cases\n\ndef load(path):\n    return load_cases(path)\n",
        encoding="utf-8",
    )
    spec = importlib.util.spec_from_file_location(f"caller_{module_dir.name}", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases: list[Case] = module.load(relative)
    return cases


def test_relative_path_prefers_the_caller_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests_dir, cwd = tmp_path / "tests", tmp_path / "elsewhere"
    (tests_dir / "data").mkdir(parents=True)
    (cwd / "data").mkdir(parents=True)
    write(tests_dir / "data", "d.jsonl", '{"input": "next to the test"}\n')
    write(cwd / "data", "d.jsonl", '{"input": "in the cwd"}\n')
    monkeypatch.chdir(cwd)
    assert [c.input for c in load_from_module(tests_dir, "data/d.jsonl")] == ["next to the test"]


def test_relative_path_falls_back_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    write(tmp_path, "root.jsonl", '{"input": "from the rootdir"}\n')
    monkeypatch.chdir(tmp_path)
    assert [c.input for c in load_from_module(tests_dir, "root.jsonl")] == ["from the rootdir"]


def test_missing_file_names_every_path_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests_dir, cwd = tmp_path / "tests", tmp_path / "cwd"
    tests_dir.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    with pytest.raises(FileFormatError) as info:
        load_from_module(tests_dir, "data/missing.jsonl")
    message = str(info.value)
    assert "dataset file 'data/missing.jsonl' not found" in message
    assert str(tests_dir / "data" / "missing.jsonl") in message
    assert str(cwd / "data" / "missing.jsonl") in message


def test_absolute_path_is_used_as_is(tmp_path: Path) -> None:
    path = write(tmp_path, "abs.jsonl", '{"input": "x"}\n')
    assert [c.input for c in load_cases(str(path))] == ["x"]


# --- as a user: parametrize ---------------------------------------------------------------


def test_parametrize_shows_case_ids(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".jsonl",
        data='{"id": "refund-1", "input": "a"}\n{"input": "Where is my order?"}\n',
    )
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmeval import load_cases

        CASES = load_cases("data.jsonl")

        @pytest.mark.parametrize("case", CASES, ids=str)
        def test_str(case):
            pass

        @pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
        def test_lambda(case):
            pass

        @pytest.mark.parametrize("case", CASES)
        def test_plain(case):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:llmeval", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            f"test_parametrize_shows_case_ids.py::{name}[{case_id}]"
            for name in ("test_str", "test_lambda", "test_plain")
            for case_id in ("refund-1", "2-where-is-my-order")
        ]
    )


# -- multi-turn cases -------------------------------------------------------------------


def test_turns_in_jsonl_yaml_and_csv(tmp_path: Path) -> None:
    from pytest_llmeval.records.conversation import UserTurn

    rows = [
        {
            "id": "refund",
            "turns": ["Hi", {"role": "user", "content": "Order 12", "expected": "ok"}],
        },
        {"turns": [{"content": "Hello there"}], "persona": "terse"},
    ]
    yaml_text = (
        "- id: refund\n  turns:\n    - Hi\n    - role: user\n      content: Order 12\n"
        "      expected: ok\n- turns: [{content: Hello there}]\n  persona: terse\n"
    )
    csv_text = (
        'id,turns,persona\nrefund,"[""Hi"", {""content"": ""Order 12"", ""expected"": ""ok""}]",\n'
    )
    csv_text += ',"[""Hello there""]",terse\n'
    for name, text in (("c.jsonl", jsonl(rows)), ("c.yaml", yaml_text), ("c.csv", csv_text)):
        first, second = load_cases(write(tmp_path, name, text))
        assert first.turns == (UserTurn(content="Hi"), UserTurn(content="Order 12", expected="ok"))
        assert (first.id, first.input, first.metadata.get("persona") or None) == (
            "refund",
            ["Hi", "Order 12"],
            None,
        )
        assert (second.id, second.input, second.metadata) == (
            "2-hello-there",
            ["Hello there"],
            {"persona": "terse"},
        )
    (single,) = load_cases(write(tmp_path, "i.jsonl", jsonl([{"input": "one turn"}])))
    assert single.turns is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"turns": []}, "'turns' is empty; give at least one user message"),
        ({"turns": "Hi"}, "'turns' must be a list of user messages, found a string"),
        ({"turns": {"content": "Hi"}}, "'turns' must be a list of user messages, found an object"),
        (
            {"turns": ["Hi", {"role": "assistant", "content": "Hello"}]},
            "'turns' entry 2 has role 'assistant'; turns list only what the user says",
        ),
        ({"turns": ["Hi", 3]}, "'turns' entry 2 is a number; a turn is a string or an object"),
        (
            {"turns": [{"content": " "}]},
            "'turns' entry 1 has no text: 'content' must be a non-empty",
        ),
        ({"turns": [{"text": "Hi"}]}, "'turns' entry 1 has unknown key(s) 'text'; a turn has"),
        ({"turns": ["Hi"], "input": "Hi"}, "the case has both 'input' and 'turns'; a multi-turn"),
    ],
)
def test_bad_turns_name_the_file_line_and_entry(
    tmp_path: Path, row: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, "cases.jsonl", jsonl([{"input": "fine"}, row]))
    assert error(path).startswith(f"{path}, line 2: {message}")


def test_a_renamed_turns_field_is_named_in_its_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "cases.yaml", "- id: a\n  dialogue: []\n")
    assert error(path, turns_field="dialogue").startswith(
        f"{path}, line 1: 'dialogue' is empty; give at least one user message"
    )
    assert "add an 'input' key (or a 'dialogue' list" in error(
        write(tmp_path, "none.jsonl", jsonl([{"id": "a"}])), turns_field="dialogue"
    )
