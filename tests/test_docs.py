"""The documentation stays true to the code: options, names, examples, links, the site.

Every option in `options.OPTIONS` and every `--llmeval-*` flag pytest shows must have
its row in docs/reference.md; names used in the docs must exist; the `pycon` examples
run; relative links and their anchors resolve; and `mkdocs build --strict` succeeds
(skipped only when mkdocs-material is not installed).
"""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from pytest_llmeval.items.option_types import Option
from pytest_llmeval.items.options import OPTIONS
from pytest_llmeval.items.recorder import EvalRecorder
from pytest_llmeval.records.spec import ALLOWED, SpecError, build_spec

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference.md"
MKDOCS_YML = ROOT / "mkdocs.yml"

#: Written by the benchmarks engineer; listed in the nav, may not exist yet.
NAV_ONLY = {"performance.md"}

#: Flags the docs may describe (from DESIGN.md) before they are registered, as
#: {flag: where}. When one is registered, give it its row in the option table of
#: docs/reference.md and drop it here.
PENDING_FLAGS: dict[str, str] = {}

#: `llm_eval` fixture members the docs may describe before they exist.
PENDING_RECORDER_MEMBERS: set[str] = set()

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
FLAG = re.compile(r"--llmeval-[a-z][a-z-]*[a-z]")


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def blocks(language: str) -> list[tuple[str, int, str]]:
    """(page name, block number, code) of every fenced block in that language."""
    found = []
    for page in pages():
        for number, match in enumerate(FENCE.finditer(page.read_text(encoding="utf-8")), 1):
            if match.group(1) == language:
                found.append((page.name, number, match.group(2)))
    return found


def prose(text: str) -> str:
    """The text with fenced blocks and HTML comments removed."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    return FENCE.sub("", text)


def reference_rows() -> list[str]:
    return [
        line for line in REFERENCE.read_text(encoding="utf-8").splitlines() if line.startswith("|")
    ]


def in_backticks(name: str) -> re.Pattern[str]:
    """`name` or `name=VALUE` between backticks."""
    return re.compile(rf"`{re.escape(name)}(?:=[^`]*)?`")


# -- options ----------------------------------------------------------------------------


def _default_text(default: object) -> str | None:
    if default in (None, (), False):
        return None
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return str(default)


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.flag)
def test_every_option_has_its_row_in_the_reference(option: Option) -> None:
    flag, ini, env = option.flag, option.ini, option.env
    rows = [row for row in reference_rows() if in_backticks(flag).search(row.split("|")[1])]
    assert rows, (
        f"docs/reference.md has no table row for {flag}; add one (flag, ini key, env var, default, help)"
    )
    row = rows[0]
    assert f"`{ini}`" in row, (
        f"the row of {flag} in docs/reference.md does not name its ini key `{ini}`"
    )
    assert f"`{env}`" in row, (
        f"the row of {flag} in docs/reference.md does not name its environment variable `{env}`"
    )
    default = _default_text(option.default)
    if default is not None:
        assert default in row, (
            f"the row of {flag} in docs/reference.md does not show its default {default!r}"
        )


def test_every_flag_and_ini_key_in_pytest_help_is_documented(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LLMEVAL_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    flags = set(FLAG.findall(result.stdout))
    inis = set(re.findall(r"^\s+(llmeval_[a-z_]+) \(", result.stdout, re.MULTILINE))
    assert {o.flag for o in OPTIONS} <= flags, (
        "an option of options.OPTIONS is missing from pytest --help"
    )
    text = REFERENCE.read_text(encoding="utf-8")
    undocumented = sorted(f for f in flags if not in_backticks(f).search(text))
    assert not undocumented, f"flags in pytest --help but not in docs/reference.md: {undocumented}"
    undocumented = sorted(i for i in inis if f"`{i}`" not in text)
    assert not undocumented, (
        f"ini keys in pytest --help but not in docs/reference.md: {undocumented}"
    )


def test_flags_named_in_the_docs_exist() -> None:
    registered = {o.flag for o in OPTIONS}
    for page in pages():
        for flag in sorted(set(FLAG.findall(page.read_text(encoding="utf-8")))):
            assert flag in registered or flag in PENDING_FLAGS, (
                f"docs/{page.name} names {flag}, which is not an option (options.OPTIONS)"
            )
    for flag in PENDING_FLAGS:
        assert flag not in registered, (
            f"{flag} is registered now: give it a row in the option table of docs/reference.md, "
            "remove its 'verify' note, and drop it from PENDING_FLAGS in tests/test_docs.py"
        )


def test_ini_keys_and_environment_variables_named_in_the_docs_exist() -> None:
    known = {o.ini for o in OPTIONS} | {o.env for o in OPTIONS}
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for name in sorted(set(re.findall(r"(?<![\w.])(?:llmeval_[a-z_]+|LLMEVAL_[A-Z_]+)", text))):
            assert name in known, (
                f"docs/{page.name} names {name}, which is no option's ini key or environment variable"
            )


# -- names and examples -----------------------------------------------------------------


def _recorder_members() -> set[str]:
    return {name for name in dir(EvalRecorder) if not name.startswith("_")}


def test_llm_eval_members_named_in_the_docs_exist() -> None:
    members = _recorder_members() | PENDING_RECORDER_MEMBERS
    for page in pages():
        text = page.read_text(encoding="utf-8")
        used = set(re.findall(r"`llm_eval\.(\w+)\(", prose(text)))
        for language, code in ((m.group(1), m.group(2)) for m in FENCE.finditer(text)):
            if language == "python":
                used |= set(re.findall(r"\bllm_eval\.(\w+)", code))
        unknown = sorted(used - members)
        assert not unknown, (
            f"docs/{page.name} uses llm_eval.{unknown[0]}, which the fixture does not have"
        )
    for name in PENDING_RECORDER_MEMBERS & _recorder_members():
        pytest.fail(
            f"llm_eval.{name} exists now: check its documentation (docs/reference.md, docs/judges.md) "
            "and drop it from PENDING_RECORDER_MEMBERS in tests/test_docs.py"
        )


PYTHON_BLOCKS = blocks("python")


@pytest.mark.parametrize(
    ("page", "number", "code"), PYTHON_BLOCKS, ids=[f"{p}-{n}" for p, n, _ in PYTHON_BLOCKS]
)
def test_python_examples_parse_and_use_real_names(page: str, number: int, code: str) -> None:
    tree = ast.parse(code, filename=f"docs/{page} block {number}")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pytest_llmeval"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                assert hasattr(module, alias.name), (
                    f"docs/{page}: {node.module} has no {alias.name}"
                )
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "pytest.mark.llm_eval":
            unknown = [k.arg for k in node.keywords if k.arg not in ALLOWED]
            assert not unknown, (
                f"docs/{page}: llm_eval marker argument {unknown} is not one of {list(ALLOWED)}"
            )
            args = tuple(ast.literal_eval(a) for a in node.args)
            kwargs = {k.arg: _marker_value(k.value) for k in node.keywords if k.arg}
            try:
                build_spec([(args, kwargs)], f"docs/{page}")
            except SpecError as error:
                pytest.fail(str(error))


def _marker_value(node: ast.expr) -> object:
    """A marker argument's value: a literal, or literals and `fault(...)` rules."""
    from pytest_llmeval import fault

    code = compile(ast.Expression(node), "<marker>", "eval")
    return eval(code, {"__builtins__": {}, "fault": fault})  # a docs literal, no names


PYCON_BLOCKS = blocks("pycon")


@pytest.mark.parametrize(
    ("page", "number", "code"), PYCON_BLOCKS, ids=[f"{p}-{n}" for p, n, _ in PYCON_BLOCKS]
)
def test_pycon_examples_run(page: str, number: int, code: str) -> None:
    name = f"docs/{page} block {number}"
    test = doctest.DocTestParser().get_doctest(code, {}, name, name, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    output: list[str] = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


# -- links, anchors, nav ----------------------------------------------------------------


def slugify(heading: str) -> str:
    """Python-Markdown's toc slug of a heading, after inline markup is rendered."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = re.sub(r"<!--.*?-->", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {slugify(h) for h in HEADING.findall(FENCE.sub("", text))}


@pytest.mark.parametrize("page", pages(), ids=lambda page: page.name)
def test_relative_links_point_to_existing_files_and_headings(page: Path) -> None:
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        path, _, fragment = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        assert destination.is_file(), f"docs/{page.name} links to {target}, which does not exist"
        if fragment and destination.suffix == ".md":
            assert fragment in anchors(destination), (
                f"docs/{page.name} links to {target}, but {destination.name} has no heading #{fragment}"
            )


def _nav_files(entries: object) -> list[str]:
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [f for entry in entries for f in _nav_files(entry)]
    if isinstance(entries, dict):
        return [f for value in entries.values() for f in _nav_files(value)]
    return []


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    import yaml  # type: ignore[import-untyped, unused-ignore]

    nav = _nav_files(yaml.safe_load(MKDOCS_YML.read_text(encoding="utf-8"))["nav"])
    on_disk = {page.name for page in pages()}
    assert sorted(on_disk - set(nav)) == [], "pages missing from the nav in mkdocs.yml"
    assert sorted(set(nav) - on_disk - NAV_ONLY) == [], "nav entries in mkdocs.yml with no page"
    assert NAV_ONLY <= set(nav)


def test_reliability_names_tests_that_exist() -> None:
    text = (DOCS / "reliability.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert named, "docs/reliability.md names no enforcing test"
    for path, function in named:
        source = ROOT / path
        assert source.is_file(), f"docs/reliability.md names {path}, which does not exist"
        assert re.search(
            rf"^(?:async )?def {function}\(", source.read_text(encoding="utf-8"), re.MULTILINE
        ), f"docs/reliability.md names {path}::{function}, which does not exist"


# -- the site ---------------------------------------------------------------------------


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs-material is not installed (pip install -e '.[docs]')")
    config = MKDOCS_YML
    missing = sorted(name for name in NAV_ONLY if not (DOCS / name).exists())
    if missing:
        # Pages another engineer owns may not exist yet: build a copy with stubs for them.
        docs = tmp_path / "docs"
        shutil.copytree(DOCS, docs)
        for name in missing:
            (docs / name).write_text(f"# {name}\n\nNot written yet.\n", encoding="utf-8")
        config = tmp_path / "mkdocs.yml"
        config.write_text(
            f"INHERIT: {MKDOCS_YML.as_posix()}\ndocs_dir: {docs.as_posix()}\n", encoding="utf-8"
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(config),
            "-d",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


# -- maintainer notes and the README's commands -----------------------------------------


@pytest.mark.parametrize("page", pages(), ids=lambda page: page.name)
def test_pages_carry_no_maintainer_notes(page: Path) -> None:
    # HTML comments are invisible on the site and stale in the source: notes belong in
    # issues, not in the pages users read
    assert re.findall(r"<!--.*?-->", page.read_text(encoding="utf-8"), re.DOTALL) == []


README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"


def _ci_readme_command(marker: str) -> str:
    """What .ci/run's readme_command prints for a marker (its own function, run by bash)."""
    function = re.search(
        r"^readme_command\(\) \{\n.*?^\}\n", CI_RUN.read_text(encoding="utf-8"), re.M | re.S
    )
    assert function is not None, ".ci/run has no readme_command function"
    done = subprocess.run(
        ["bash", "-c", function.group(0) + 'readme_command "$1"', "bash", marker],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", ["examples", "tests"])
def test_readme_commands_are_fenced_and_are_what_ci_runs(name: str) -> None:
    marker = f"<!-- ci: {name} -->"
    text = README.read_text(encoding="utf-8")
    # the command is a copyable fenced block right under its marker, without a prompt
    block = re.search(rf"^{re.escape(marker)}\n```(\w*)\n(.*?)\n```$", text, re.M | re.S)
    assert block is not None, f"README.md has no fenced code block right after {marker}"
    assert block.group(1) in ("bash", "sh", "shell")
    command = block.group(2)
    assert "\n" not in command and not command.startswith("$")
    assert command.startswith("python3.11 -m venv .venv && ")
    # .ci/run runs exactly that line
    assert _ci_readme_command(marker) == command + "\n"
