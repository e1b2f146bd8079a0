"""The peer examples ported in docs/migrating.md run as written: each port's blocks are
read from the page, run through the real SDKs against the fake provider, then replayed
offline with the same results; the page's line counts are the blocks' own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec
from tests.test_context_judges import piece
from tests.test_import_promptfoo import (
    CONFIGS,
    live,
    replay_offline,
    results,
    riddles,
    translations,
)
from tests.test_judges_sdk import schema_of, scripted

__all__ = ["live"]  # the fixture, shared with the importer's tests

PAGE = Path(__file__).resolve().parent.parent / "docs" / "migrating.md"


PORTS = {
    "deepeval-quickstart": ("test_example.py",),
    "deepeval-rag": ("test_rag.py",),
    "promptfoo-getting-started": ("test_translate.py", "translations.yaml"),
    "promptfoo-claude-vs-gpt": ("test_riddles.py", "riddles.yaml"),
    "langsmith-pytest": ("my_app/main.py", "test_my_app.py"),
}


def page_files() -> dict[str, str]:
    """Every block of the page that starts with a `# file: NAME` line, by name."""
    text = PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"```\w+\n# file: (\S+)\n(.*?)```", text, re.DOTALL)
    files = {name: f"# file: {name}\n{code}" for name, code in blocks}
    assert len(files) == len(blocks), "two blocks of the page name the same file"
    return files


def port_files(name: str) -> dict[str, str]:
    """The files of one port, as the page shows them."""
    files = page_files()
    return {file: files[file] for file in PORTS[name]}


def test_every_file_block_on_the_page_belongs_to_a_port() -> None:
    assert sorted(page_files()) == sorted(file for files in PORTS.values() for file in files)


def code_lines(text: str) -> int:
    """Lines that are neither blank nor a comment (the count docs/migrating.md states)."""
    return sum(
        1 for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def write_port(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    for name, code in files.items():
        target = pytester.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")
    pytester.syspathinsert()  # the ports import the application's modules by name


def is_judge_request(request: RecordedRequest) -> bool:
    return "response_format" in request.body or "output_config" in request.body


def judge_requests(fake: FakeProviderServer) -> list[RecordedRequest]:
    return [r for r in fake.requests if is_judge_request(r)]


def judged_text(request: RecordedRequest) -> str:
    return json.dumps(request.body["messages"], ensure_ascii=False)


# -- the line counts -----------------------------------------------------------------------

TABLE_ROWS = {
    "DeepEval quickstart": "deepeval-quickstart",
    "DeepEval RAG evaluation (the whole script)": "deepeval-rag",
    "promptfoo getting-started": "promptfoo-getting-started",
    "promptfoo claude-vs-gpt (config and prompt file)": "promptfoo-claude-vs-gpt",
    "LangSmith pytest example (app and test)": "langsmith-pytest",
}


def test_the_line_counts_on_the_page_are_the_ports_and_each_port_is_shorter() -> None:
    text = PAGE.read_text(encoding="utf-8")
    rows = dict(
        (label, (int(original), int(port)))
        for label, original, port in re.findall(r"^\| (.+?) \| (\d+) \| (\d+) \|$", text, re.M)
    )
    assert set(rows) == set(TABLE_ROWS)
    for label, name in TABLE_ROWS.items():
        original, port = rows[label]
        assert port == sum(code_lines(code) for code in port_files(name).values()), label
        assert port < original, label
    # promptfoo's originals are committed: their counts are checked too
    getting_started = (CONFIGS / "getting-started" / "promptfooconfig.yaml").read_text()
    assert rows["promptfoo getting-started"][0] == code_lines(getting_started)
    claude = CONFIGS / "claude-vs-gpt"
    both = [(claude / name).read_text() for name in ("promptfooconfig.yaml", "prompt.yaml")]
    assert rows["promptfoo claude-vs-gpt (config and prompt file)"][0] == sum(map(code_lines, both))


# -- DeepEval ------------------------------------------------------------------------------


def test_deepeval_quickstart_port(
    live: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = port_files("deepeval-quickstart")
    # the same test with an answer the scripted judges fail: the lowest score decides
    failing = files["test_example.py"].replace('output="We offer', 'output="FAIL-ME We offer')
    write_port(live, {**files, "test_example_failing.py": failing})
    fake_provider.set_handler(scripted)
    result = live.runpytest("--llmeval-report=live.json")
    result.assert_outcomes(passed=1, failed=1)
    relevance, correctness, *_ = judge_requests(fake_provider)
    assert schema_of(relevance.body)["properties"]["score"]["enum"] == list(range(11))
    assert schema_of(correctness.body)["properties"]["score"]["enum"] == [0, 1]
    assert "What if these shoes don't fit?" in judged_text(relevance)
    assert "free full refund within 30 days" in judged_text(correctness)  # the reference
    assert "We offer a 30-day full refund" in judged_text(correctness)
    result.stdout.fnmatch_lines(["*llm_eval score 0.000 is below the threshold 0.700*"])
    live_results = results(live.path / "live.json")
    replay_offline(live, monkeypatch, fake_provider).assert_outcomes(passed=1, failed=1)
    assert results(live.path / "replay.json") == live_results


RAG_APP = """\
PASSAGES = [
    "document: A collection holds points of one vector size and distance,source: collections.md",
    "document: A snapshot backs up a collection; restore it with recover,source: snapshots.md",
    "document: Payload indexes speed up filtering on payload fields,source: indexing.md",
    "document: Scalar quantization keeps int8 values in memory,source: quantization.md",
]


def retrieve(question, limit):
    words = set(question.lower().replace("?", "").split())
    return sorted(PASSAGES, key=lambda p: -len(words & set(p.lower().split())))[:limit]
"""

RAG_CASES = (
    '{"input": "How do I back up a collection?", '
    '"expected": "A snapshot backs up a collection. Restore it with recover."}\n'
    '{"input": "What values does scalar quantization keep?", '
    '"expected": "Scalar quantization keeps int8 values. It halves the memory."}\n'
)

#: The passage that answers each question (by its source), for the scripted judges.
RAG_SOURCES = {"back up": "snapshots.md", "quantization": "quantization.md"}


def rag_context_judge(request: RecordedRequest) -> ReplySpec | None:
    """The context judges, scripted: a passage is relevant when it is the question's
    source, a reference statement supported when the context holds it (ignoring case)."""
    user = next(m["content"] for m in request.body["messages"] if m["role"] == "user")
    context = piece(user, "context") or ""
    properties = schema_of(request.body)["properties"]
    if "verdicts" in properties:
        wanted = next(s for key, s in RAG_SOURCES.items() if key in (piece(user, "input") or ""))
        verdicts = [
            {"passage": n, "reasoning": f"scripted: {source}", "relevant": int(source == wanted)}
            for n, source in enumerate(re.findall(r"source: (\S+)", context), 1)
        ]
        return ReplySpec(json={"reasoning": "scripted passages", "verdicts": verdicts})
    if "statements" in properties:
        reference = piece(user, "reference") or ""
        found = [
            {
                "statement": s,
                "reasoning": "scripted",
                "supported": int(s.lower() in context.lower()),
            }
            for s in (part.strip() for part in reference.split("."))
            if s
        ]
        return ReplySpec(json={"reasoning": "scripted statements", "statements": found})
    return scripted(request)


def rag_replies(request: RecordedRequest) -> ReplySpec | None:
    if is_judge_request(request):
        return rag_context_judge(request)
    if "back up" in request.last_user_text:
        return ReplySpec(text="Take a snapshot of it (snapshots.md).")
    return ReplySpec(text="FAIL-ME It keeps float64 values.")


def test_deepeval_rag_port(
    live: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = port_files("deepeval-rag")
    write_port(live, {**files, "rag_app.py": RAG_APP, "qdrant_doc_qna.jsonl": RAG_CASES})
    fake_provider.set_handler(rag_replies)
    result = live.runpytest("--llmeval-report=live.json")
    result.assert_outcomes(passed=1, failed=1)
    judged = judge_requests(fake_provider)
    assert len(judged) == 10  # five judges per case, each given the case's material once
    backup_relevance, backup_faithfulness = judged[:2]
    assert "How do I back up a collection?" in judged_text(backup_relevance)
    # the retrieved passages reach the faithfulness judge, the best match first
    text = judged_text(backup_faithfulness)
    assert "A snapshot backs up a collection" in text and "Take a snapshot of it" in text
    for request in judged[:2] + judged[5:7]:
        assert schema_of(request.body)["properties"]["score"]["enum"] == list(range(11))
    # the context judges answer per passage or statement, on no scale; recall reads the
    # case's expected answer as the reference
    precision, recall, relevance = (schema_of(r.body)["properties"] for r in judged[2:5])
    assert ("verdicts", "statements", "verdicts") == (
        list(precision)[-1],
        list(recall)[-1],
        list(relevance)[-1],
    )
    assert "Restore it with recover." in judged_text(judged[3])
    app = [r for r in fake_provider.requests if not is_judge_request(r)]
    assert [(r.body["temperature"], r.body["max_tokens"]) for r in app] == [(0, 636)] * 2
    live_results = results(live.path / "live.json")
    # retrieved: backup [collections, snapshots, indexing], quantization [quantization,
    # collections, snapshots]; the one relevant passage at rank 2, then at rank 1
    context = {
        nodeid.split("[")[1].rstrip("]"): {n: v for n, v, _ in scores if n.startswith("context_")}
        for nodeid, _, scores in live_results
    }
    assert context == {
        "1-how-do-i-back-up-a-collection": {
            "context_precision": pytest.approx(1 / 2),  # (1/2) / 1
            "context_recall": 1.0,  # both reference statements in the passages
            "context_relevance": pytest.approx(1 / 3),
        },
        "2-what-values-does-scalar-quanti": {
            "context_precision": 1.0,
            "context_recall": 0.5,  # "It halves the memory" is in no passage
            "context_relevance": pytest.approx(1 / 3),
        },
    }
    # the backup case passes on the mean of its five: (1 + 1 + 1/2 + 1 + 1/3) / 5 = 0.767
    assert [status for _, status, _ in live_results] == ["passed", "below"]
    replay_offline(live, monkeypatch, fake_provider).assert_outcomes(passed=1, failed=1)
    assert results(live.path / "replay.json") == live_results


# -- promptfoo -----------------------------------------------------------------------------


def test_promptfoo_getting_started_port(
    live: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_port(live, port_files("promptfoo-getting-started"))
    fake_provider.set_handler(translations)
    result = live.runpytest("--llmeval-report=live.json")
    result.assert_outcomes(passed=6, failed=2)  # o4-mini's Spanish, with both prompts
    sent = {(r.model, r.body["messages"][0]["content"]) for r in fake_provider.requests}
    assert ("o4-mini", "Translate to Spanish: Where is the library?") in sent
    assert len(sent) == 8
    live_results = results(live.path / "live.json")
    replay_offline(live, monkeypatch, fake_provider).assert_outcomes(passed=6, failed=2)
    assert results(live.path / "replay.json") == live_results


def test_promptfoo_claude_vs_gpt_port(
    live: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_port(live, port_files("promptfoo-claude-vs-gpt"))
    fake_provider.set_handler(riddles)
    result = live.runpytest("--llmeval-report=live.json")
    result.assert_outcomes(passed=28, failed=2)  # gpt-4o's "A weight." and its apology
    result.stdout.fnmatch_lines(
        [
            "*rubric     0.000  check FAILED  reason: rubric: scripted: it apologizes",
            "*icontains  0.000  check FAILED  reason: icontains: no 'ton'*",
        ],
    )
    app = [r for r in fake_provider.requests if "Answer this riddle" in r.last_user_text]
    claude = next(r.body for r in app if r.provider == "anthropic")
    assert claude["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert (claude["max_tokens"], claude["cache_control"]) == (1024, {"type": "ephemeral"})
    # the two rubrics, judged once per model, each with its criteria and the answer
    judged = judge_requests(fake_provider)
    assert len(judged) == 4
    assert sum("Do not apologize" in r.text for r in judged) == 2
    assert sum("below deck" in r.text for r in judged) == 2
    live_results = results(live.path / "live.json")
    for _, _, scores in live_results:
        assert ("brevity", 1.0, None) in scores  # every fake answer is under 100 characters
    replay_offline(live, monkeypatch, fake_provider).assert_outcomes(passed=28, failed=2)
    assert results(live.path / "replay.json") == live_results


# -- LangSmith -----------------------------------------------------------------------------


def test_langsmith_pytest_port(
    live: pytest.Pytester, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = port_files("langsmith-pytest")
    write_port(live, {**files, "my_app/__init__.py": ""})
    fake_provider.reply_with("SELECT * FROM customers;")
    result = live.runpytest("--llmeval-report=live.json")
    result.assert_outcomes(passed=1)
    (request,) = fake_provider.requests
    assert request.body["messages"][1] == {
        "role": "user",
        "content": "Get all users from the customers table",
    }
    (case,) = json.loads((live.path / "live.json").read_text())["results"]
    assert case["metadata"] == {
        "user_query": "Get all users from the customers table",
        "sql": "SELECT * FROM customers;",
        "expected": "SELECT * FROM customers;",
    }
    live_results = results(live.path / "live.json")
    replay_offline(live, monkeypatch, fake_provider).assert_outcomes(passed=1)
    assert results(live.path / "replay.json") == live_results
