"""`llmeval import promptfoo`: promptfoo's own example configs become suites that record
against the fake provider and replay offline with the same results; bad configs are
refused naming the file and key, unsupported parts are listed and the rest converted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_llmeval.cli.main import main
from tests.fakeprovider import FakeProviderServer, RecordedRequest, ReplySpec, closed_port_url
from tests.test_judges_sdk import schema_of, scripted

CONFIGS = Path(__file__).resolve().parent / "data" / "promptfoo"


def run_import(
    capsys: pytest.CaptureFixture[str], config: Path, folder: Path, *options: str
) -> tuple[int, str, str]:
    status = main(["import", "promptfoo", str(config), "-o", str(folder), *options])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def live(
    pytester_env: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    """Generated suites reach the fake provider through the SDKs' environment variables."""
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-import")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-import")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_provider.anthropic_base_url)
    return pytester_env


def results(report: Path) -> list[tuple[str, str, list[tuple[str, float, str | None]]]]:
    data = json.loads(report.read_text())
    return sorted(
        (r["nodeid"], r["status"], [(s["name"], s["value"], s.get("reason")) for s in r["scores"]])
        for r in data["results"]
    )


def replay_offline(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake: FakeProviderServer
) -> pytest.RunResult:
    """Run again with no keys, no reachable host and the network blocked."""
    sent = len(fake.requests)
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url() + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", closed_port_url())
    result = pytester.runpytest("--llmeval-record=none", "--llmeval-report=replay.json")
    assert len(fake.requests) == sent  # nothing reached the provider
    return result


# -- getting-started ---------------------------------------------------------------------


def translations(request: RecordedRequest) -> ReplySpec:
    """French right everywhere; Spanish right from gpt-4.1, wrong from o4-mini."""
    text = request.last_user_text
    if "French" in text:
        return ReplySpec(text="Bonjour le monde")
    if request.model == "o4-mini":
        return ReplySpec(text="La biblioteca, por favor")
    return ReplySpec(text="¿DÓNDE ESTÁ LA BIBLIOTECA?")


def test_getting_started_records_then_replays_offline_with_the_same_results(
    live: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = CONFIGS / "getting-started" / "promptfooconfig.yaml"
    status, out, err = run_import(capsys, config, live.path)
    assert (status, err) == (0, "")
    module = live.path / "test_promptfoo_getting_started.py"
    dataset = live.path / "promptfoo_getting_started.yaml"
    assert out == (f"wrote {module} and {dataset}: 2 prompt(s) x 2 provider(s) x 2 case(s)\n")
    text = module.read_text()
    assert '@pytest.mark.llm_eval(variants="provider")\n' in text

    fake_provider.set_handler(translations)
    result = live.runpytest("--llmeval-report=live.json")
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*icontains  0.000  check FAILED  reason: icontains: no 'Dónde está la biblioteca' "
            "in the output (ignoring case)"
        ]
    )
    sent = {
        (r.model, r.body["messages"][0]["content"]) for r in fake_provider.requests
    }  # 2 prompts x 2 providers x 2 cases, each rendered with its case's vars
    assert sent == {
        (model, prompt)
        for model in ("gpt-4.1", "o4-mini")
        for prompt in (
            "Convert this English to French: Hello world",
            "Translate to French: Hello world",
            "Convert this English to Spanish: Where is the library?",
            "Translate to Spanish: Where is the library?",
        )
    }
    cassettes = sorted((live.path / "cassettes" / "test_promptfoo_getting_started").iterdir())
    assert len(cassettes) == 8
    live_results = results(live.path / "live.json")
    failed = [nodeid for nodeid, status, _ in live_results if status != "passed"]
    assert len(failed) == 2 and all("2-spanish" in n and "o4-mini" in n for n in failed)

    # variants="provider": the providers compared side by side, with a recommendation
    variants = [
        "variants of test_promptfoo (provider; reference openai:gpt-4.1, margin 0.05, *",
        "*variant*n*mean*pass*cost/case $*qualifies*vs openai:gpt-4.1",
        "*openai:gpt-4.1  4  1.00 *100%*reference",
        "*openai:o4-mini  4  0.50 * 50%*flips -2/+0*",
        # o4-mini broke two cases' checks: they score 0 here, so it is not picked as cheaper
        "*recommended: openai:gpt-4.1: the only one *",
    ]
    result.stdout.fnmatch_lines(variants)

    replay = replay_offline(live, monkeypatch, fake_provider)
    replay.assert_outcomes(passed=6, failed=2)
    replay.stdout.fnmatch_lines(variants)
    assert results(live.path / "replay.json") == live_results


# -- claude-vs-gpt -----------------------------------------------------------------------

ANSWERS = {
    "speak without a mouth": "An echo.",
    "boat": "Everyone on board is married, so there is not a single person.",
    "less you see": "Darkness.",
    "keys but no locks. I have space": "A keyboard.",
    "water kills me": "Fire.",
    "corner": "A stamp.",
    "Forward I am heavy": "Ton: backwards it is 'not'.",
    "makes it, sells it": "A coffin.",
    "cracked": "A joke.",
    "can't open locks": "A piano.",
    "feather": "Your breath.",
    "fly without wings": "A cloud.",
    "mine": "Pencil lead.",
    "David": "David.",
}


def riddles(request: RecordedRequest) -> ReplySpec | None:
    """Each riddle's answer; gpt-4o gets the 'ton' riddle wrong and apologizes with its
    echo. The judge is scripted: an apology fails the rubric 'Do not apologize', the rest
    pass."""
    if "response_format" in request.body or "output_config" in request.body:
        if "Do not apologize" in request.text and "Sorry" in request.text:
            scale = schema_of(request.body)["properties"]["score"]["enum"]
            return ReplySpec(json={"reasoning": "scripted: it apologizes", "score": min(scale)})
        return scripted(request)
    text = request.last_user_text
    assert text.startswith("Answer this riddle:\n"), text
    if request.model == "gpt-4o":
        if "Forward I am heavy" in text:
            return ReplySpec(text="A weight.")
        if "speak without a mouth" in text:
            return ReplySpec(text="Sorry, it is an echo.")
    return ReplySpec(text=next(a for key, a in ANSWERS.items() if key in text))


def failed_checks(report: Path) -> dict[str, list[tuple[str, str | None]]]:
    """Each failed test's failed scores, by node id: the name and the reason."""
    return {
        nodeid: [(name, reason) for name, value, reason in scores if value < 1.0]
        for nodeid, status, scores in results(report)
        if status != "passed"
    }


def test_claude_vs_gpt_records_then_replays_offline_with_its_rubrics_judged(
    live: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = live.path / "claude-vs-gpt"
    shutil.copytree(CONFIGS / "claude-vs-gpt", source)
    status, _, err = run_import(capsys, source / "promptfooconfig.yaml", live.path)
    assert status == 0
    assert err.splitlines() == [
        "not converted (check these by hand):",
        "  providers[0].config.temperature: the anthropic SDK's messages.create takes no "
        "temperature; dropped",
        "  defaultTest.assert[2]: assertion type 'javascript' is not converted; check it in "
        "the test (llm_eval.check or llm_eval.judge)",
    ]
    dataset = (live.path / "promptfoo_claude_3_5_vs_gpt_4o.yaml").read_text()
    # icontains-any [fire, flame] became one case-insensitive regex
    assert "- type: regex\n    value: (?i)fire|flame\n    name: icontains-any\n" in dataset
    # promptfoo's latency threshold is milliseconds: 3000 ms is 3 s
    assert "- type: latency\n    value: 3.0\n" in dataset
    # the rubrics stay as promptfoo wrote them
    assert "  - type: llm-rubric\n    value: Do not apologize\n" in dataset
    assert (
        "  - type: llm-rubric\n    value: explains that the people are below deck, or they are "
        "all in a relationship\n" in dataset
    )

    fake_provider.set_handler(riddles)
    result = live.runpytest("--llmeval-report=live.json")
    result.assert_outcomes(passed=28, failed=2)
    result.stdout.fnmatch_lines(["*rubric: scripted: it apologizes*"])
    app = [r for r in fake_provider.requests if "Answer this riddle" in r.last_user_text]
    claude = [r.body for r in app if r.provider == "anthropic"]
    gpt = [r.body for r in app if r.provider == "openai"]
    assert len(claude) == len(gpt) == 15
    # the prompt file's blocks, cache marks and the provider's config reach the SDK
    assert claude[0]["system"] == [
        {"type": "text", "text": "Be concise", "cache_control": {"type": "ephemeral"}}
    ]
    assert claude[0]["max_tokens"] == 1024
    assert claude[0]["cache_control"] == {"type": "ephemeral"}
    assert "temperature" not in claude[0]
    assert gpt[0]["messages"][0] == {
        "role": "system",
        "content": [{"type": "text", "text": "Be concise"}],  # OpenAI takes no cache marks
    }
    assert gpt[0]["messages"][1]["content"][0]["text"].startswith(
        "Answer this riddle:\nI speak without a mouth"
    )
    # two rubrics, each judged once per provider, with the criteria and the answer
    judged = [r for r in fake_provider.requests if r not in app]
    assert len(judged) == 4
    assert (
        sum("Do not apologize" in r.text and "Sorry, it is an echo." in r.text for r in judged) == 1
    )
    assert sum("below deck" in r.text for r in judged) == 2
    live_results = results(live.path / "live.json")
    for _, _, scores in live_results:
        names = [name for name, _, _ in scores]
        assert names[:2] == ["cost", "latency"]  # defaultTest's assertions, on every case
    node = "test_promptfoo_claude_3_5_vs_gpt_4o.py::test_promptfoo[{}-prompt-1-openai:chat:gpt-4o]"
    assert failed_checks(live.path / "live.json") == {
        node.format("1-i-speak-without-a-mouth-and-he"): [
            ("rubric", "rubric: scripted: it apologizes")
        ],
        node.format("7-forward-i-am-heavy-but-backwar"): [
            ("icontains", "icontains: no 'ton' in the output (ignoring case)")
        ],
    }
    replay = replay_offline(live, monkeypatch, fake_provider)
    replay.assert_outcomes(passed=28, failed=2)
    assert results(live.path / "replay.json") == live_results


# -- what converts beyond the two examples -------------------------------------------------

BROAD_CONFIG = """\
description: Broad
prompts:
  - file://prompts.txt
  - label: chat
    raw: '[{"role": "system", "content": "Reply as JSON"}, {"role": "user", "content": "{{ topic }}"}]'
providers:
  - id: openai:responses:gpt-4.1-mini
    config: {temperature: 0.2, max_tokens: 50, apiKey: sk-proj-DoNotWriteThisKey0123456789}
defaultTest:
  vars: {tone: calm}
tests:
  - description: two topics
    vars: {topic: [cats, dogs]}
    assert:
      - type: starts-with
        value: 'JSON'
      - type: icontains-all
        value: [calm, json]
      - type: not-contains-any
        value: [sorry, cannot]
      - type: latency
        threshold: 60000
"""


def broad_answer(request: RecordedRequest) -> ReplySpec:
    return ReplySpec(text="JSON: a CALM answer" if "cats" in request.text else "JSON sorry")


def test_text_files_list_vars_and_the_list_assertions_convert(
    live: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = live.path / "source"
    source.mkdir()
    (source / "promptfooconfig.yaml").write_text(BROAD_CONFIG)
    (source / "prompts.txt").write_text("Tell me about {{topic}}, {{tone}}.\n---\nAbout {{topic}}")
    status, out, err = run_import(capsys, source / "promptfooconfig.yaml", live.path)
    assert status == 0
    assert "3 prompt(s) x 1 provider(s) x 2 case(s)" in out
    assert "providers[0].config.apiKey: not written" in err
    for written in live.path.glob("*promptfoo_broad*"):
        assert "DoNotWriteThisKey" not in written.read_text()
    fake_provider.set_handler(broad_answer)
    result = live.runpytest("--llmeval-report=live.json")
    # cats: every assertion holds; dogs: "JSON sorry" lacks calm and says sorry
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*icontains-all     0.000  check FAILED*",
            "*not-contains-any  0.000  check FAILED*",
        ]
    )
    bodies = [r.body for r in fake_provider.requests]
    assert {(b["temperature"], b["max_output_tokens"]) for b in bodies} == {(0.2, 50)}
    inputs = sorted(json.dumps(b["input"]) for b in bodies)
    assert inputs == sorted(
        json.dumps(messages)
        for topic in ("cats", "dogs")
        for messages in (
            [{"role": "user", "content": f"Tell me about {topic}, calm."}],
            [{"role": "user", "content": f"About {topic}"}],
            [
                {"role": "system", "content": "Reply as JSON"},
                {"role": "user", "content": topic},
            ],
        )
    )


SIMILAR_CONFIG = """\
description: Similar
prompts: ['Summarize our {{topic}}']
providers: [openai:gpt-4.1-mini]
tests:
  - vars: {topic: refunds}
    assert:
      - {type: similar, value: refund policy, threshold: 0.9}
      - {type: not-similar, value: weather today}
      - {type: similar:dot, value: refund policy}
      - {type: similar, value: refund policy, provider: 'huggingface:sentence-similarity:x'}
      - {type: similar, value: refund policy, threshold: 1.5}
  - vars: {topic: returns}
    assert:
      - type: similar:cosine
        value: [weather today, refund policy]
        threshold: 0.97
        provider: openai:embedding:text-embedding-3-small
"""


def test_similar_converts_with_its_threshold_and_embedding_model_and_runs(
    live: pytest.Pytester,
    fake_provider: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = live.path / "source" / "promptfooconfig.yaml"
    config.parent.mkdir()
    config.write_text(SIMILAR_CONFIG)
    status, _, err = run_import(capsys, config, live.path)
    assert status == 0
    assert err.splitlines() == [
        "not converted (check these by hand):",
        "  tests[0].assert[2]: assertion type 'similar:dot' is not converted; check it in the "
        "test (llm_eval.check or llm_eval.judge)",
        "  tests[0].assert[3].provider: 'huggingface:sentence-similarity:x' is not converted "
        "(similar embeds through OpenAI's embeddings API: openai:<model>); the assertion is "
        "left out",
        "  tests[0].assert[4]: 'threshold' must be a number from 0 to 1 (a cosine "
        "similarity), got 1.5; not converted",
    ]
    dataset = (live.path / "promptfoo_similar.yaml").read_text()
    # no provider: promptfoo's default embedding model, so its thresholds keep their sense
    assert (
        "  - type: similar\n    value: refund policy\n    threshold: 0.9\n"
        "    provider: openai:text-embedding-3-large\n" in dataset
    )
    assert "  - type: similar\n    value:\n    - weather today\n    - refund policy\n" in dataset
    # the fake provider embeds these texts as vectors whose cosines are computed by hand:
    # money back . refund policy = (4, 3, 0) . (3, 4, 0) / (5 * 5) = 0.96; . weather = 0
    for text, vector in {
        "refund policy": (3.0, 4.0, 0.0),
        "money back": (4.0, 3.0, 0.0),
        "weather today": (0.0, 0.0, 2.0),
    }.items():
        fake_provider.embed_as(text, vector)
    fake_provider.reply_with("money back")
    result = live.runpytest("--llmeval-report=live.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*similar  0.000  check FAILED  reason: similar: similarity 0.960 to 'refund "
            "policy' (the closest of 2), below 0.97"
        ]
    )
    embedded = [r for r in fake_provider.requests if r.path.endswith("/embeddings")]
    assert sorted(r.model for r in embedded) == [
        "text-embedding-3-large",  # refunds: similar
        "text-embedding-3-large",  # refunds: not-similar
        "text-embedding-3-small",  # returns: the model its provider names
    ]
    live_results = results(live.path / "live.json")
    passed = next(scores for nodeid, status, scores in live_results if status == "passed")
    assert passed == [
        ("similar", 1.0, "similar: similarity 0.960 to 'refund policy', at least 0.9"),
        ("not-similar", 1.0, "not-similar: similarity 0.000 to 'weather today', below 0.75"),
    ]
    replay = replay_offline(live, monkeypatch, fake_provider)
    replay.assert_outcomes(passed=1, failed=1)
    assert results(live.path / "replay.json") == live_results


# -- refusals ------------------------------------------------------------------------------


def write_config(folder: Path, text: str) -> Path:
    config = folder / "promptfooconfig.yaml"
    config.write_text(text)
    return config


def test_a_missing_config_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    status, out, err = run_import(capsys, missing, tmp_path)
    assert (status, out) == (2, "")
    assert err == f"llmeval import: error: {missing}: no such promptfoo config; check the path\n"


def test_a_missing_prompt_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "prompts: [file://gone.txt]\nproviders: [openai:gpt-4.1]\n")
    status, _, err = run_import(capsys, config, tmp_path)
    assert status == 2
    assert err == (
        f"llmeval import: error: {config}, prompts[0]: prompt file {tmp_path / 'gone.txt'} "
        "not found; paths are relative to the config's folder\n"
    )


def test_a_variable_a_test_does_not_set_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        "prompts: ['Say {{greeting}} to {{name}}']\nproviders: [openai:gpt-4.1]\n"
        "tests:\n  - vars: {greeting: hi, name: Ann}\n  - vars: {greeting: hello}\n",
    )
    status, _, err = run_import(capsys, config, tmp_path)
    assert status == 2
    assert err == (
        f"llmeval import: error: {config}, tests[1]: prompt 'prompt-1' uses {{{{name}}}}, "
        "which the test's vars do not set; add it to the test's vars (or to defaultTest.vars)\n"
    )
    assert list(tmp_path.iterdir()) == [config]  # nothing written


def test_assertion_values_take_the_tests_vars_and_prompts_the_label_map_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ask.txt").write_text("Capital of {{country}}?")
    config = write_config(
        tmp_path,
        "prompts: {file://ask.txt: capital}\nproviders: [openai:gpt-4.1]\n"
        "tests:\n"
        "  - vars: {country: France, expected: Paris}\n"
        "    assert: [{type: icontains, value: '{{ expected }}'}]\n"
        "  - vars: {country: Peru}\n"
        "    assert: [{type: equals, value: '{{expected}}'}]\n",
    )
    status, _, err = run_import(capsys, config, tmp_path, "--name", "capitals")
    assert status == 2
    assert err == (
        f"llmeval import: error: {config}, tests[1]: the 'equals' assertion uses "
        "{{expected}}, which the test's vars do not set; add it to the test's vars (or to "
        "defaultTest.vars)\n"
    )
    config.write_text(
        config.read_text().replace("{country: Peru}", "{country: Peru, expected: Lima}")
    )
    status, _, err = run_import(capsys, config, tmp_path, "--name", "capitals")
    assert (status, err) == (0, "")
    dataset = (tmp_path / "promptfoo_capitals.yaml").read_text()
    assert "  - type: icontains\n    value: Paris\n" in dataset
    assert "  - type: equals\n    value: Lima\n" in dataset
    module = (tmp_path / "test_promptfoo_capitals.py").read_text()
    assert (
        "PROMPTS = {'capital': [{'role': 'user', 'content': 'Capital of {{country}}?'}]}" in module
    )


def test_nunjucks_beyond_plain_variables_is_refused_naming_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "chat.yaml").write_text(
        "- role: user\n  content: '{% if vip %}Dear{% endif %} {{name}}'\n"
    )
    config = write_config(tmp_path, "prompts: [file://chat.yaml]\nproviders: [openai:gpt-4.1]\n")
    status, _, err = run_import(capsys, config, tmp_path)
    assert status == 2
    assert err == (
        f"llmeval import: error: {tmp_path / 'chat.yaml'}, messages[0].content: "
        "'{% if vip %}' is Nunjucks beyond a plain variable (filters, tags, expressions and "
        "dotted names are not supported); use plain variables like {{name}} and compute the "
        "value into a var\n"
    )


def test_unsupported_parts_are_listed_and_the_rest_converted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        "prompts: ['Q: {{q}}']\n"
        "providers: [openai:gpt-4.1, 'exec: python my_model.py', file://provider.js]\n"
        "tests:\n"
        "  - vars: {q: hi}\n"
        "    assert:\n"
        "      - {type: contains, value: hello}\n"
        "      - {type: javascript, value: output.length < 50}\n"
        "      - {type: python, value: file://check.py}\n"
        "      - {type: icontains, value: HI, transform: output.trim()}\n"
        "      - {type: factuality, value: greets}\n",
    )
    status, _, err = run_import(capsys, config, tmp_path, "--name", "misc")
    assert status == 0
    notes = [
        "providers[1]: provider 'exec: python my_model.py' is not converted (openai: and "
        "anthropic:messages: providers are); call it in the test by hand",
        "providers[2]: provider 'file://provider.js' is not converted (openai: and "
        "anthropic:messages: providers are); call it in the test by hand",
        "tests[0].assert[1]: assertion type 'javascript' is not converted; check it in the "
        "test (llm_eval.check or llm_eval.judge)",
        "tests[0].assert[2]: assertion 'python' with a file:// value is not converted",
        "tests[0].assert[3]: assertion 'icontains' with 'transform' is not converted",
        "tests[0].assert[4]: assertion type 'factuality' is not converted; check it in the "
        "test (llm_eval.check or llm_eval.judge)",
    ]
    assert err.splitlines() == ["not converted (check these by hand):", *(f"  {n}" for n in notes)]
    dataset = (tmp_path / "promptfoo_misc.yaml").read_text()
    module = (tmp_path / "test_promptfoo_misc.py").read_text()
    assert "  - type: contains\n    value: hello\n" in dataset
    assert "javascript" not in dataset and "factuality" not in dataset
    assert "Not converted (check these by hand):\n- providers[1]: provider" in module
    assert "'openai:gpt-4.1'" in module and "exec:" not in module.split('"""')[2]


def test_nothing_convertible_is_a_failure_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "prompts: ['hi']\nproviders: ['python:my_provider.py']\n")
    status, _, err = run_import(capsys, config, tmp_path)
    assert status == 2
    assert err == (
        f"llmeval import: error: {config}: nothing to convert, no provider could be "
        "converted: providers[0]: provider 'python:my_provider.py' is not converted (openai: "
        "and anthropic:messages: providers are); call it in the test by hand\n"
    )
    assert list(tmp_path.iterdir()) == [config]


def test_existing_files_are_kept_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = CONFIGS / "getting-started" / "promptfooconfig.yaml"
    dataset = tmp_path / "promptfoo_getting_started.yaml"
    dataset.write_text("mine\n")
    status, _, err = run_import(capsys, config, tmp_path)
    assert status == 2
    assert err == (
        f"llmeval import: error: {dataset}: already exists; pass --force to overwrite it, "
        "or -o another folder\n"
    )
    assert dataset.read_text() == "mine\n"
    assert not (tmp_path / "test_promptfoo_getting_started.py").exists()
    status, _, _ = run_import(capsys, config, tmp_path, "--force")
    assert status == 0 and dataset.read_text().startswith("# Converted from promptfooconfig")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "prompts: [a\nproviders: b\n",
            ", line 2: not valid YAML (expected ',' or ']', but got ':')",
        ),
        ("- just a list\n", ": expected a mapping with prompts and providers"),
        (
            "prompts: [hi]\nproviders: [openai:gpt-4.1]\ntests: file://tests.csv\n",
            ", tests: tests from 'file://tests.csv' are not supported; list the tests in the "
            "config (vars and assert)",
        ),
        (
            "prompts: ['{{doc}}']\nproviders: [openai:gpt-4.1]\n"
            "tests: [{vars: {doc: file://doc.txt}}]\n",
            ", tests[0].vars.doc: file://doc.txt (vars from files) is not supported; write the "
            "value into the config",
        ),
    ],
    ids=["invalid-yaml", "not-a-mapping", "tests-from-a-file", "var-from-a-file"],
)
def test_a_config_that_cannot_be_read_is_named_with_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    config = write_config(tmp_path, text)
    status, _, err = run_import(capsys, config, tmp_path)
    assert status == 2
    assert err.startswith(f"llmeval import: error: {config}{problem}")
    assert list(tmp_path.iterdir()) == [config]
