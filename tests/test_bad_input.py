"""Bad input explains itself: one line naming the file, never a crash, a hang or raw bytes.

* Non-finite numbers (`NaN`, `Infinity`, `1e999`) in any file the plugin loads
  (cassette, baseline, report) are refused on load, naming the file and the field.
* A cassette body that is not valid base64 is refused on load, naming the field.
* Control characters in user text (group and score names, test ids, judge reasons)
  reach the terminal and JUnit XML as visible escapes.
* Every path argument of `llmeval` must exist (inputs) or be writable (outputs).
* YAML aliases may not expand past a small bound (vcrpy import, YAML datasets).
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from junitparser import JUnitXml

from tests.fakeprovider import FakeProviderServer, closed_port_url
from tests.suites import ASK

SUITE = (
    ASK
    + """
@pytest.mark.llm_eval(threshold=0.5)
@pytest.mark.parametrize("question", ["first", "second"])
def test_answers(question, llm_eval):
    ask(question)
    llm_eval.score("quality", 1.0)
"""
)


def llmeval(*args: str, cwd: Path, limit_memory: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the `llmeval` console tool as a user does."""

    def at_most_1_gb() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=at_most_1_gb if limit_memory else None,
    )


def assert_one_line_error(run: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, one line on stderr holding every fragment, no traceback, nothing on stdout."""
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def recorded(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    """A suite of two eval tests, recorded; the provider is unreachable afterwards."""
    monkeypatch.setenv("FAKE_URL", fake_provider.url)
    pytester_env.makepyfile(test_bot=SUITE)
    pytester_env.runpytest("--llmeval-report=report.json").assert_outcomes(passed=2)
    monkeypatch.setenv("FAKE_URL", closed_port_url())
    return pytester_env


def first_cassette(root: Path) -> Path:
    return sorted((root / "cassettes" / "test_bot").glob("test_answers*first*.json"))[0]


def assert_a_line_has(result: pytest.RunResult, *fragments: str) -> None:
    """One output line holds every fragment (in order); fnmatch would read `[0]` as a set."""
    pattern = ".*".join(re.escape(fragment) for fragment in fragments)
    assert any(re.search(pattern, line) for line in result.stdout.lines), result.stdout.str()


def run_suite(pytester: pytest.Pytester, xdist: list[str], *args: str) -> pytest.RunResult:
    run = pytester.runpytest_subprocess if xdist else pytester.runpytest
    return run("--llmeval-record=none", *xdist, *args)


# -- 6. non-finite numbers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "xdist"),
    [("NaN", []), ("NaN", ["-n", "2"]), ("-Infinity", []), ("1e999", [])],
    ids=["NaN-serial", "NaN-xdist", "-Infinity-serial", "1e999-serial"],
)
def test_a_non_finite_number_in_a_cassette_is_one_error_naming_it(
    recorded: pytest.Pytester, xdist: list[str], literal: str
) -> None:
    cassette = first_cassette(recorded.path)
    text = cassette.read_text()
    edited = re.sub(r'"latency_s": [0-9.e-]+', f'"latency_s": {literal}', text, count=1)
    assert edited != text
    cassette.write_text(edited)

    result = run_suite(recorded, xdist, "--llmeval-report=again.json")
    result.assert_outcomes(passed=1, errors=1)
    assert_a_line_has(
        result,
        f"{cassette}: invalid cassette at interactions[0].meta.latency_s: "
        f"{literal} is not a finite number (",
        "); delete it, or re-record it",
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    # the session still finished: the summary and the report of the other test are there
    result.stdout.fnmatch_lines(["llm_eval: 2 cases, 1 passed, 1 failed*"])
    report = json.loads((recorded.path / "again.json").read_text())
    assert [r["status"] for r in report["results"]] == ["error", "passed"]
    assert cassette.read_text() == edited  # left alone


def with_number(path: Path, pattern: str, literal: str) -> None:
    """Put `literal` where the first match of `pattern` (a key and a number) is."""
    text = path.read_text()
    edited = re.sub(
        pattern + r"[0-9.e-]+",
        lambda m: m.group()[: m.group().index(":") + 2] + literal,
        text,
        count=1,
    )
    assert edited != text, pattern
    path.write_text(edited)


@pytest.mark.parametrize(
    ("pattern", "location", "xdist"),
    [
        (r'"score": ', 'groups["test_bot.py::test_answers"].cases[', []),
        (r'"mean": ', 'groups["test_bot.py::test_answers"].mean', []),
        (r'"mean": ', 'groups["test_bot.py::test_answers"].mean', ["-n", "2"]),
        (r'"latency_p95_s": ', 'groups["test_bot.py::test_answers"].latency_p95_s', []),
    ],
    ids=["score", "mean", "mean-xdist", "latency_p95_s"],
)
def test_a_non_finite_number_in_a_baseline_is_refused_naming_it(
    recorded: pytest.Pytester, pattern: str, location: str, xdist: list[str]
) -> None:
    recorded.runpytest("--llmeval-record=none", "--llmeval-update-baseline").assert_outcomes(
        passed=2
    )
    baseline = recorded.path / "llmeval-baseline.json"
    with_number(baseline, pattern, "NaN")
    edited = baseline.read_text()

    result = run_suite(recorded, xdist, "--llmeval-report=again.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_a_line_has(
        result, f"llmeval-baseline.json: invalid baseline at {location}", "NaN is not a finite"
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert baseline.read_text() == edited

    gate = llmeval("gate", "report.json", "--baseline", "llmeval-baseline.json", cwd=recorded.path)
    assert_one_line_error(
        gate, "llmeval-baseline.json: invalid baseline at ", "NaN is not a finite number"
    )


@pytest.mark.parametrize(
    ("command", "literal"),
    [
        (["show", "bad.json"], "NaN"),
        (["diff", "good.json", "bad.json"], "Infinity"),
        (["merge", "good.json", "bad.json", "-o", "merged.json"], "1e999"),
        (["gate", "bad.json", "--baseline", "llmeval-baseline.json"], "-Infinity"),
        (["baseline", "bad.json", "-o", "new-baseline.json"], "NaN"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else value,
)
def test_a_non_finite_number_in_a_report_is_refused_by_every_command(
    tmp_path: Path, command: list[str], literal: str
) -> None:
    from tests.test_cli import GOOD, baseline_file, write

    write(tmp_path, "good.json", GOOD)
    baseline_file(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text((tmp_path / "good.json").read_text())
    with_number(bad, r'"mean": ', literal)
    run = llmeval(*command, cwd=tmp_path)
    assert_one_line_error(
        run, "bad.json: invalid report at aggregate.", f"{literal} is not a finite number"
    )
    assert run.stdout == ""
    assert not (tmp_path / "merged.json").exists()
    assert not (tmp_path / "new-baseline.json").exists()


# -- 7. invalid base64 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "location"),
    [
        ("response", "interactions[0].response.body_text"),
        ("request", "interactions[0].request.body"),
    ],
)
def test_invalid_base64_in_a_cassette_is_one_error_naming_the_field(
    recorded: pytest.Pytester, side: str, location: str
) -> None:
    cassette = first_cassette(recorded.path)
    document = json.loads(cassette.read_text())
    interaction = document["interactions"][0]
    if side == "response":
        interaction["response"].update(body_encoding="base64", body_text="eyJpZCI6!!!", body=None)
    else:
        interaction["request"].update(body_format="base64", body="eyJpZCI6!!!")
    cassette.write_text(json.dumps(document, indent=2))

    result = recorded.runpytest("--llmeval-record=none")
    result.assert_outcomes(passed=1, errors=1)
    assert_a_line_has(result, f"{cassette}: invalid cassette at {location}: ", "not valid base64")
    assert "binascii" not in result.stdout.str() and "Traceback" not in result.stdout.str()


# -- 8. control characters in names ---------------------------------------------------------

NAMES_SUITE = """
import pytest

@pytest.mark.llm_eval(threshold=0.5, group="bot\\x1b[31m\\x00red")
@pytest.mark.parametrize("case", ["a", "b"])
def test_answers(case, llm_eval):
    llm_eval.score("polite\\x1b[2J\\x07", 1.0)
    llm_eval.log(note="\\x1b]0;title\\x07")

@pytest.mark.llm_eval(threshold=0.9)
def test_judged(llm_eval):
    llm_eval.score("tone\\x1b[1m\\x7f", 0.2, reason="too\\x1b[8m hidden\\x0c \\u202eevil")
"""

RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\u202e]")


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_control_characters_in_names_reach_junit_and_the_terminal_escaped(
    pytester_env: pytest.Pytester, xdist: list[str]
) -> None:
    pytester_env.makepyfile(test_names=NAMES_SUITE)
    run = pytester_env.runpytest_subprocess if xdist else pytester_env.runpytest
    result = run("--junitxml=out.xml", "-vv", "--llmeval-report=report.json", *xdist)
    result.assert_outcomes(passed=2, failed=1)

    # JUnit: well-formed (ElementTree and junitparser read it), the names with the escapes
    xml = pytester_env.path / "out.xml"
    JUnitXml.fromfile(str(xml))
    names = {p.get("name") for p in ET.parse(xml).getroot().iter("property")}
    assert "llm_eval.group.bot\\x1b[31m\\x00red.mean" in names  # a suite property
    assert "llm_eval.score.polite\\x1b[2J\\x07" in names  # a test case property
    assert "llm_eval.score.tone\\x1b[1m\\x7f" in names

    # terminal: the escapes, visibly; no raw control character anywhere
    out = result.stdout.str()
    assert not RAW_CONTROLS.search(out), [
        line for line in result.stdout.lines if RAW_CONTROLS.search(line)
    ]
    assert_a_line_has(result, "bot\\x1b[31m\\x00red  ", "  2  ")
    assert_a_line_has(result, "[polite\\x1b[2J\\x07 1.00]")
    assert_a_line_has(
        result, "tone\\x1b[1m\\x7f  0.200  reason: too\\x1b[8m hidden \\u202eevil"
    )  # \\x0c is whitespace: joined

    # the llmeval tool prints the same report with the same escapes
    show = llmeval("show", "report.json", cwd=pytester_env.path)
    assert show.returncode == 0, show.stderr
    assert not RAW_CONTROLS.search(show.stdout)
    assert "bot\\x1b[31m\\x00red" in show.stdout


# -- 9. missing paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        (["show", "nope.json"], "nope.json: no such report file"),
        (["diff", "nope.json", "report.json"], "nope.json: no such report file"),
        (["diff", "report.json", "nope.json"], "nope.json: no such report file"),
        (["merge", "nope.json", "-o", "m.json"], "nope.json: no such report file"),
        (
            ["merge", "report.json", "-o", "m.json", "--baseline", "nope.json"],
            "nope.json: no such baseline file",
        ),
        (["gate", "nope.json", "--baseline", "report.json"], "nope.json: no such report file"),
        (["gate", "report.json", "--baseline", "nope.json"], "nope.json: no such baseline file"),
        (["baseline", "nope.json", "-o", "b.json"], "nope.json: no such report file"),
        (["cassettes", "stats", "nope"], "nope: no such file or folder"),
        (["cassettes", "stats", ".", "nope"], "nope: no such file or folder"),
        (["cassettes", "import-vcr", "nope", "out"], "nope: no such file or folder"),
        (["merge", "report.json", "-o", "folder"], "folder: is a folder"),
        (["baseline", "report.json", "-o", "folder"], "folder: is a folder"),
        (
            ["baseline", "report.json", "-o", "file.txt/b.json"],
            "file.txt/b.json: file.txt is a file",
        ),
        (["cassettes", "import-vcr", "folder", "out"], "folder: no .yaml or .yml file"),
        (["cassettes", "import-vcr", "c.yaml", "file.txt"], "file.txt: is a file, not a folder"),
    ],
)
def test_every_path_argument_is_checked(tmp_path: Path, command: list[str], fragment: str) -> None:
    from tests.test_cli import GOOD, write

    write(tmp_path, "report.json", GOOD)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "c.yaml").write_text("interactions: []\n")
    run = llmeval(*command, cwd=tmp_path)
    assert_one_line_error(run, fragment)
    assert run.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c.yaml",
        "file.txt",
        "folder",
        "report.json",
    ]


# -- 10. YAML alias bombs -------------------------------------------------------------------


def alias_bomb(key: str) -> str:
    """Nine levels of nine aliases: under 1.5 KB of YAML describing 9**9 values.

    `key` starts each level's line: `k{level}: ` for a mapping, `- input: ` for a list.
    """
    lines = [
        key.format(level=0) + '&a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'
    ]
    for level in range(1, 9):
        lines.append(
            key.format(level=level) + f"&a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]"
        )
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_given_to_import_vcr_is_refused(tmp_path: Path) -> None:
    cassette = alias_bomb("k{level}: ") + (
        "interactions:\n- request: {method: POST, uri: 'http://x/v1', body: *a8, headers: {}}\n"
        "  response: {status: {code: 200}, headers: {}, body: {string: ok}}\n"
    )
    (tmp_path / "bomb.yaml").write_text(cassette)
    assert len(cassette) < 1600
    run = llmeval("cassettes", "import-vcr", "bomb.yaml", "out", cwd=tmp_path, limit_memory=True)
    assert_one_line_error(
        run, "bomb.yaml: not a readable YAML file (line ", "aliases in this YAML expand it"
    )
    assert not (tmp_path / "out").exists()


def test_a_yaml_alias_bomb_as_a_dataset_is_one_collection_error(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text(alias_bomb("- input: "))
    (tmp_path / "test_data.py").write_text(
        "import pytest\nfrom pytest_llmeval import load_cases\n\n"
        "@pytest.mark.llm_eval(threshold=0.5)\n"
        "@pytest.mark.parametrize('case', load_cases('cases.yaml'))\n"
        "def test_case(case, llm_eval):\n    llm_eval.score('ok', 1.0)\n"
    )

    def at_most_1_gb() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_data.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=at_most_1_gb,
    )
    assert run.returncode == pytest.ExitCode.INTERRUPTED, run.stdout[-2000:]
    assert "cases.yaml, line " in run.stdout and "aliases in this YAML expand it" in run.stdout
    assert "MemoryError" not in run.stdout


def test_yaml_aliases_within_the_bound_still_load(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text(
        "- input: hello\n  tags: &shared [greeting, short]\n- input: bye\n  tags: *shared\n"
    )
    from pytest_llmeval import load_cases

    cases = load_cases(tmp_path / "cases.yaml")
    assert [case.metadata["tags"] for case in cases] == [["greeting", "short"]] * 2


def test_a_recursive_yaml_document_is_refused(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text("interactions: &loop [*loop]\n")
    run = llmeval("cassettes", "import-vcr", "loop.yaml", "out", cwd=tmp_path)
    assert_one_line_error(run, "loop.yaml: not a readable YAML file (line 1: ", "recursive")
