"""`llmeval import promptfoo CONFIG`: a promptfoo config as a pytest module and a dataset.

Reads a promptfooconfig.yaml (through the one safe YAML reader) and writes, beside
each other, a test module that runs every prompt with every provider on every test
through the real `openai` / `anthropic` SDKs, and a YAML dataset (read by
`load_cases`) holding each test's vars as the case's input and its `assert` list.

What converts: prompts inline, as `file://` text files (split on `---` lines), JSON
or YAML chat messages; providers `openai:<model>`, `openai:chat:<model>`,
`openai:responses:<model>`, `anthropic:messages:<model>` with their sampling config;
`tests` (list-valued vars expand as promptfoo expands them) and `defaultTest`
(vars and asserts); assertions contains, icontains, regex, equals, starts-with,
contains-any/-all, icontains-any/-all (each also `not-`), is-json, cost, latency,
llm-rubric, similar and not-similar (see promptfoo_asserts.py). Templates may use
plain variables (`{{name}}`); any other Nunjucks (filters, tags, expressions) is an
error naming the file and key. A test's prompt variable missing from its vars is an
error naming the test. Everything else (custom providers, javascript/python asserts,
transforms, ...) is listed as not converted, and the rest is still written; when
nothing can run, the import fails.
API keys are never written: the SDKs read them from the environment.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmeval.cli.promptfoo_config import (
    ConversionError,
    Prompt,
    PromptfooReader,
    Provider,
    read_yaml,
    slug,
)

_TOP_LEVEL = ("description", "prompts", "providers", "tests", "defaultTest")


@dataclass
class Conversion:
    """What an import produced: the files to write and what was left out, with why."""

    module: str
    dataset: str
    cases: int
    prompts: int
    providers: int
    not_converted: list[str] = field(default_factory=list)


def convert(config_file: Path, *, name: str | None = None) -> Conversion:
    """Convert a promptfoo config: the module and dataset texts and what was left out."""
    converter = PromptfooReader(config_file)
    config = read_yaml(config_file, "promptfoo config")
    if not isinstance(config, Mapping):
        raise ConversionError(f"{config_file}: expected a mapping with prompts and providers")
    for key in sorted(set(map(str, config)) - set(_TOP_LEVEL)):
        converter.note(f"{key}: not converted")
    prompts = converter.prompts(config.get("prompts"))
    providers = converter.providers(config.get("providers"))
    default = config.get("defaultTest") or {}
    if not isinstance(default, Mapping):
        converter.note("defaultTest: not a mapping, not converted")
        default = {}
    cases = converter.cases(config.get("tests"), default, prompts)
    missing = [what for what, found in (("prompt", prompts), ("provider", providers)) if not found]
    if missing or not cases:
        what = " or ".join(missing) or "test"
        raise ConversionError(
            f"{config_file}: nothing to convert, no {what} could be converted: "
            + "; ".join(converter.notes or ["the config lists none"])
        )
    description = config.get("description")
    stem = name or (description if isinstance(description, str) else None)
    stem = slug(stem or config_file.parent.name or "promptfoo").replace("-", "_") or "promptfoo"
    dataset_name = f"promptfoo_{stem}.yaml"
    return Conversion(
        module=_module_text(config_file, description, prompts, providers, dataset_name, converter),
        dataset=_dataset_text(config_file, cases),
        cases=len(cases),
        prompts=len(prompts),
        providers=len(providers),
        not_converted=converter.notes,
    )


def _dataset_text(config_file: Path, cases: list[dict[str, Any]]) -> str:
    import yaml

    body = yaml.safe_dump(
        {"cases": cases}, sort_keys=False, allow_unicode=True, width=88, default_flow_style=False
    )
    return f"# Converted from {config_file.name} by `llmeval import promptfoo`.\n{body}"


_MODULE = '''\
"""{title}

{about}{not_converted}
"""

from __future__ import annotations

import json
import re

import pytest

from pytest_llmeval import load_cases

PROMPTS = {prompts}

PROVIDERS = {providers}

VARIABLE = re.compile(r"\\{{\\{{\\s*([A-Za-z_][A-Za-z0-9_]*)\\s*\\}}\\}}")


def render(template, variables):
    """The template with each {{{{name}}}} replaced by the case's value (JSON if not text)."""
    if isinstance(template, list):
        return [render(item, variables) for item in template]
    if isinstance(template, dict):
        return {{key: render(value, variables) for key, value in template.items()}}
    if not isinstance(template, str):
        return template

    def value(match):
        name = match.group(1)
        if name not in variables:
            raise KeyError(f"{{{{{{{{{{name}}}}}}}}}} has no value in the case's input")
        found = variables[name]
        return found if isinstance(found, str) else json.dumps(found)

    return VARIABLE.sub(value, template)


def without_cache_control(messages):
    """The messages without Anthropic's cache_control marks (OpenAI refuses them)."""
    plain = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            content = [{{k: v for k, v in b.items() if k != "cache_control"}} for b in content]
        plain.append({{**message, "content": content}})
    return plain


def complete(provider, messages):
    """Send the rendered messages to the provider through its SDK; the answer's text."""
    params = dict(provider["params"])
    if provider["api"] == "anthropic":
        import anthropic

        system = [m["content"] for m in messages if m["role"] == "system"]
        if system and all(isinstance(part, str) for part in system):
            params["system"] = "\\n\\n".join(system)
        elif system:
            params["system"] = [
                block
                for part in system
                for block in ([{{"type": "text", "text": part}}] if isinstance(part, str) else part)
            ]
        turns = [m for m in messages if m["role"] != "system"]
        with anthropic.Anthropic() as client:
            reply = client.messages.create(model=provider["model"], messages=turns, **params)
        return "".join(block.text for block in reply.content if block.type == "text")
    import openai

    with openai.OpenAI() as client:
        if provider["api"] == "openai-responses":
            flat = [
                {{**m, "content": m["content"] if isinstance(m["content"], str) else "".join(
                    block.get("text", "") for block in m["content"])}}
                for m in messages
            ]
            reply = client.responses.create(model=provider["model"], input=flat, **params)
            return reply.output_text
        reply = client.chat.completions.create(
            model=provider["model"], messages=without_cache_control(messages), **params
        )
    return reply.choices[0].message.content or ""


@pytest.mark.llm_eval(variants="provider")
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("case", load_cases("{dataset}"))
def test_promptfoo(case, prompt, provider, llm_eval):
    output = complete(PROVIDERS[provider], render(PROMPTS[prompt], case.input))
    llm_eval.case(case, output=output)
    llm_eval.run_checks()
'''


def _module_text(
    config_file: Path,
    description: Any,
    prompts: list[Prompt],
    providers: list[Provider],
    dataset: str,
    converter: PromptfooReader,
) -> str:
    title = description if isinstance(description, str) and description else config_file.name
    about = textwrap.fill(
        f"Converted from {config_file.name} by `llmeval import promptfoo`: each prompt runs "
        f"with each provider on each case of {dataset} (a promptfoo test: its vars are the "
        "case's input), through the real SDK, and the case's assertions are applied with "
        "llm_eval.run_checks.",
        width=88,
    )
    left_out = ""
    if converter.notes:
        listed = "\n".join(
            textwrap.fill(note, width=88, initial_indent="- ", subsequent_indent="  ")
            for note in converter.notes
        )
        left_out = f"\n\nNot converted (check these by hand):\n{listed}"
    prompt_table = {p.label: p.messages for p in prompts}
    provider_table = {
        p.label: {"api": p.api, "model": p.model, "params": p.params} for p in providers
    }
    return _MODULE.format(
        title=title.replace('"""', "'''").replace("\\", "\\\\"),
        about=about,
        dataset=dataset,
        not_converted=left_out.replace('"""', "'''").replace("\\", "\\\\"),
        prompts=_literal(prompt_table, 0),
        providers=_literal(provider_table, 0),
    )


def _literal(value: Any, indent: int) -> str:
    """A Python literal of JSON-like data, one item a line where it does not fit."""
    flat = repr(value)
    if len(flat) + indent <= 80 or not isinstance(value, (dict, list)) or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = [f"{pad}{k!r}: {_literal(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{_literal(v, indent + 4)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


def write_conversion(
    conversion: Conversion, folder: Path, module_name: str, *, force: bool
) -> tuple[Path, Path]:
    """Write the module and dataset into folder through the atomic writer; an existing
    file is refused unless `force`."""
    from pytest_llmeval.core.files import write_text_atomic

    module = folder / module_name
    dataset = folder / _dataset_name(conversion)
    if not force:
        for target in (module, dataset):
            if target.exists():
                raise ConversionError(
                    f"{target}: already exists; pass --force to overwrite it, or -o another folder"
                )
    write_text_atomic(dataset, conversion.dataset)
    write_text_atomic(module, conversion.module)
    return module, dataset


def _dataset_name(conversion: Conversion) -> str:
    found = re.search(r'load_cases\("([^"]+)"\)', conversion.module)
    if found is None:  # the template always has it
        raise ConversionError("internal error: the module does not name its dataset")
    return found.group(1)


def run_import(args: Any) -> int:
    """The handler of `llmeval import promptfoo`."""
    import sys

    config = Path(args.config)
    conversion = convert(config, name=args.name)
    stem = _dataset_name(conversion).removeprefix("promptfoo_").removesuffix(".yaml")
    folder = Path(args.output) if args.output else Path.cwd()
    if folder.exists() and not folder.is_dir():
        raise ConversionError(f"{folder}: is a file; -o takes the folder to write into")
    module, dataset = write_conversion(
        conversion, folder, f"test_promptfoo_{stem}.py", force=args.force
    )
    print(
        f"wrote {module} and {dataset}: {conversion.prompts} prompt(s) x "
        f"{conversion.providers} provider(s) x {conversion.cases} case(s)"
    )
    if conversion.not_converted:
        print("not converted (check these by hand):", file=sys.stderr)
        for note in conversion.not_converted:
            print(f"  {note}", file=sys.stderr)
    return 0


def add_import_command(commands: Any) -> None:
    """Register `llmeval import promptfoo CONFIG [-o DIR] [--force]`."""
    parser = commands.add_parser(
        "import",
        help="Convert another eval tool's suite into a pytest module and a dataset.",
        description="Convert another eval tool's suite into a pytest module and a dataset.",
    )
    tools = parser.add_subparsers(dest="tool", required=True, metavar="TOOL")
    promptfoo = tools.add_parser(
        "promptfoo",
        help="Convert a promptfooconfig.yaml.",
        description="Write a test module and a YAML dataset that run the config's prompts "
        "x providers x tests under pytest, with the tests' assertions.",
    )
    promptfoo.add_argument("config", help="The promptfoo config (promptfooconfig.yaml).")
    promptfoo.add_argument(
        "-o", "--output", help="The folder to write into (default: the current folder)."
    )
    promptfoo.add_argument(
        "--name", help="Name of the written files (default: the config's description)."
    )
    promptfoo.add_argument(
        "--force", action="store_true", help="Overwrite files that already exist."
    )
    promptfoo.set_defaults(handler=run_import)
