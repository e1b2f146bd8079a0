"""Reading a promptfoo config for `llmeval import promptfoo` (see import_promptfoo.py).

`PromptfooReader` turns the config's prompts, providers, tests and assertions (these
through promptfoo_asserts.py) into the data the written module and dataset hold, and
collects what it cannot convert as notes; what must not be converted silently
(Nunjucks beyond plain variables, a var a prompt needs and a test lacks, unreadable
files) raises `ConversionError` naming the file and key.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmeval.cli.promptfoo_asserts import convert_assertions, named
from pytest_llmeval.core.errors import LLMEvalError

_PLAIN_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_TEXT_SUFFIXES = (".txt", ".md", ".j2", ".njk", ".prompt")
_SECRET_CONFIG = ("apiKey", "apiKeyEnvar", "apiBaseUrl", "apiHost", "organization", "headers")
_SAMPLING = {
    "openai-chat": {
        "temperature": "temperature",
        "max_tokens": "max_tokens",
        "max_completion_tokens": "max_completion_tokens",
        "top_p": "top_p",
        "stop": "stop",
        "seed": "seed",
        "presence_penalty": "presence_penalty",
        "frequency_penalty": "frequency_penalty",
        "response_format": "response_format",
        "reasoning_effort": "reasoning_effort",
    },
    "openai-responses": {
        "temperature": "temperature",
        "max_tokens": "max_output_tokens",
        "max_output_tokens": "max_output_tokens",
        "top_p": "top_p",
    },
    "anthropic": {
        "max_tokens": "max_tokens",
        "stop": "stop_sequences",
        "stop_sequences": "stop_sequences",
        "cache_control": "cache_control",
    },
}
_ANTHROPIC_DEFAULT_MAX_TOKENS = 1024  # promptfoo's default for the Messages API


class ConversionError(LLMEvalError):
    """A promptfoo config cannot be converted (the message names the file and key)."""


@dataclass(frozen=True)
class Prompt:
    """One prompt: its parametrize id and its chat messages (templates unrendered)."""

    label: str
    messages: list[dict[str, Any]]
    variables: frozenset[str]


@dataclass(frozen=True)
class Provider:
    """One provider: its parametrize id, the SDK API to call, the model, the call's params."""

    label: str
    api: str
    model: str
    params: dict[str, Any]


def slug(text: str, length: int = 40) -> str:
    return _NOT_SLUG.sub("-", text.lower()).strip("-")[:length].rstrip("-")


def _where(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def read_yaml(file: Path, what: str) -> Any:
    import yaml

    from pytest_llmeval.core.safe_yaml import load_yaml

    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConversionError(f"{file}: no such {what}; check the path") from None
    except IsADirectoryError:
        raise ConversionError(f"{file}: is a folder, not a {what}") from None
    except UnicodeDecodeError as error:
        raise ConversionError(f"{file}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise ConversionError(f"{file}: cannot read the {what} ({error.strerror})") from None
    if file.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConversionError(
                f"{file}, line {error.lineno}: not valid JSON ({error.msg})"
            ) from None
    try:
        return load_yaml(text, fast=False)[0]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConversionError(f"{file}{line}: not valid YAML ({problem})") from None


class PromptfooReader:
    """Reads one promptfoo config, noting what it cannot convert."""

    def __init__(self, config_file: Path) -> None:
        self.file = config_file
        self.folder = config_file.parent
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # -- templates ----------------------------------------------------------------------

    def variables(self, value: Any, source: str, path: list[str | int]) -> set[str]:
        """The plain variables a prompt's strings use; other Nunjucks is an error."""
        if isinstance(value, str):
            found: set[str] = set()
            for match in _TEMPLATE.finditer(value):
                plain = _PLAIN_VARIABLE.fullmatch(match.group())
                if plain is None:
                    raise ConversionError(
                        f"{source}, {_where(path)}: {match.group()!r} is Nunjucks beyond a "
                        "plain variable (filters, tags, expressions and dotted names are not "
                        "supported); use plain variables like {{name}} and compute the "
                        "value into a var"
                    )
                found.add(plain.group(1))
            return found
        if isinstance(value, Mapping):
            return set().union(
                *(self.variables(v, source, [*path, str(k)]) for k, v in value.items())
            )
        if isinstance(value, list):
            return set().union(
                *(self.variables(v, source, [*path, i]) for i, v in enumerate(value))
            )
        return set()

    # -- prompts ------------------------------------------------------------------------

    def prompts(self, raw: Any) -> list[Prompt]:
        if raw is None:
            raise ConversionError(f"{self.file}: no 'prompts'; add the prompts to convert")
        entries = [raw] if isinstance(raw, (str, Mapping)) else raw
        if isinstance(raw, Mapping) and not {"raw", "id"} & set(raw):  # {path: label} form
            entries = [{"id": key, "label": label} for key, label in raw.items()]
        if not isinstance(entries, list):
            raise ConversionError(f"{self.file}, prompts: expected a list of prompts")
        prompts: list[Prompt] = []
        for index, entry in enumerate(entries):
            where = f"prompts[{index}]"
            label = None
            if isinstance(entry, Mapping):
                label = entry.get("label")
                entry = entry.get("raw", entry.get("id"))
            if not isinstance(entry, str):
                self.note(f"{where}: a prompt that is not text or file:// is not converted")
                continue
            for number, (messages, source, path) in enumerate(self.prompt_messages(entry, where)):
                variables = self.variables(messages, source, path)
                name = label if isinstance(label, str) and label else f"prompt-{len(prompts) + 1}"
                if number:
                    name = f"{name}-{number + 1}"
                prompts.append(Prompt(name, messages, frozenset(variables)))
        return prompts

    def prompt_messages(
        self, text: str, where: str
    ) -> list[tuple[list[dict[str, Any]], str, list[str | int]]]:
        """A prompt entry's chat message lists, each with its source and key (for errors)."""
        config = str(self.file)
        if not text.startswith("file://"):
            parsed = _json_messages(text)
            if parsed is not None:
                return [(parsed, config, [where])]
            return [([{"role": "user", "content": text}], config, [where])]
        name = text.removeprefix("file://")
        if any(ch in name for ch in "*?[") or ":" in name:
            self.note(f"{where}: {text} (globs and functions in prompt files) is not converted")
            return []
        file = self.folder / name
        suffix = file.suffix.lower()
        if suffix in (".py", ".js", ".ts", ".mjs", ".cjs"):
            self.note(f"{where}: {text} (a prompt function) is not converted")
            return []
        if suffix in (".json", ".yaml", ".yml"):
            data = read_yaml(file, "prompt file")
            if isinstance(data, Mapping) and "messages" in data:
                extra = sorted(str(k) for k in data if k != "messages")
                if extra:
                    self.note(f"{file}: keys {', '.join(extra)} beside 'messages' are ignored")
                data = data["messages"]
            messages = _messages(data)
            if messages is None:
                raise ConversionError(
                    f"{file}: expected a list of chat messages ({{role, content}}), or a "
                    "mapping with a 'messages' list"
                )
            return [(messages, str(file), ["messages"])]
        if suffix and suffix not in _TEXT_SUFFIXES:
            self.note(f"{where}: {text} (a {suffix} prompt file) is not converted")
            return []
        try:
            content = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ConversionError(
                f"{self.file}, {where}: prompt file {file} not found; paths are relative "
                "to the config's folder"
            ) from None
        parts = [p.strip("\n") for p in re.split(r"^---$", content, flags=re.MULTILINE)]
        return [
            ([{"role": "user", "content": part}], str(file), [f"part {n + 1}"])
            for n, part in enumerate(parts)
            if part.strip()
        ]

    # -- providers ----------------------------------------------------------------------

    def providers(self, raw: Any) -> list[Provider]:
        if raw is None:
            raise ConversionError(f"{self.file}: no 'providers'; add the providers to convert")
        entries = [raw] if isinstance(raw, (str, Mapping)) else raw
        if isinstance(raw, Mapping) and "id" not in raw:  # the {id: options} map form
            entries = [{"id": key, **(value or {})} for key, value in raw.items()]
        if not isinstance(entries, list):
            raise ConversionError(f"{self.file}, providers: expected a list of providers")
        providers: list[Provider] = []
        for index, entry in enumerate(entries):
            where = f"providers[{index}]"
            options: Mapping[str, Any] = {}
            if isinstance(entry, Mapping):
                options = entry
                entry = entry.get("id")
            if not isinstance(entry, str):
                self.note(f"{where}: a provider without an 'id' string is not converted")
                continue
            parsed = _provider_api(entry)
            if parsed is None:
                self.note(
                    f"{where}: provider {entry!r} is not converted (openai: and "
                    "anthropic:messages: providers are); call it in the test by hand"
                )
                continue
            api, model = parsed
            label = options.get("label") or entry
            for key in sorted(set(options) - {"id", "label", "config"}):
                self.note(f"{where}: provider option {key!r} is not converted")
            params = self.provider_params(options.get("config") or {}, api, where)
            taken = {p.label for p in providers}
            name, number = str(label), 1
            while name in taken:
                number += 1
                name = f"{label}-{number}"
            providers.append(Provider(name, api, model, params))
        return providers

    def provider_params(self, config: Any, api: str, where: str) -> dict[str, Any]:
        if not isinstance(config, Mapping):
            self.note(f"{where}.config: not a mapping, not converted")
            return {}
        names = _SAMPLING[api]
        params: dict[str, Any] = {}
        for key, value in config.items():
            if key in _SECRET_CONFIG:
                self.note(
                    f"{where}.config.{key}: not written (set the SDK's environment "
                    "variables, e.g. OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY)"
                )
            elif key in names:
                params[names[key]] = value
            elif api == "anthropic" and key in ("temperature", "top_p", "top_k"):
                self.note(
                    f"{where}.config.{key}: the anthropic SDK's messages.create takes no "
                    f"{key}; dropped"
                )
            else:
                self.note(f"{where}.config.{key}: not converted")
        if api == "anthropic":
            params.setdefault("max_tokens", _ANTHROPIC_DEFAULT_MAX_TOKENS)
        return params

    # -- tests ----------------------------------------------------------------------

    def cases(
        self, raw: Any, default: Mapping[str, Any], prompts: list[Prompt]
    ) -> list[dict[str, Any]]:
        default_vars = default.get("vars") or {}
        if not isinstance(default_vars, Mapping):
            raise ConversionError(f"{self.file}, defaultTest.vars: expected a mapping")
        default_asserts = convert_assertions(default.get("assert"), "defaultTest.assert", self.note)
        for key in sorted(set(default) - {"vars", "assert", "description"}):
            self.note(f"defaultTest.{key}: not converted")
        if raw is None:
            raw = [{}]  # promptfoo runs each prompt once without vars
        if isinstance(raw, str):
            raise ConversionError(
                f"{self.file}, tests: tests from {raw!r} are not supported; list the tests "
                "in the config (vars and assert)"
            )
        if not isinstance(raw, list):
            raise ConversionError(f"{self.file}, tests: expected a list of tests")
        rows: list[dict[str, Any]] = []
        ids: set[str] = set()
        for index, test in enumerate(raw):
            where = f"tests[{index}]"
            if not isinstance(test, Mapping):
                self.note(f"{where}: {test!r} (tests from files) is not converted")
                continue
            own = test.get("vars") or {}
            if not isinstance(own, Mapping):
                self.note(f"{where}.vars: not a mapping, the test is not converted")
                continue
            for key in sorted(set(test) - {"vars", "assert", "description"}):
                self.note(f"{where}.{key}: not converted")
            merged = {**default_vars, **own}
            for name, value in merged.items():
                if isinstance(value, str) and value.startswith("file://"):
                    raise ConversionError(
                        f"{self.file}, {where}.vars.{name}: {value} (vars from files) is not "
                        "supported; write the value into the config"
                    )
            asserts = default_asserts + convert_assertions(
                test.get("assert"), f"{where}.assert", self.note
            )
            description = test.get("description")
            for combination in _expand(merged):
                self.check_variables(combination, prompts, where)
                rendered = [self.render_value(a, combination, where) for a in asserts]
                rows.append(self.row(len(rows) + 1, combination, rendered, description, ids))
        return rows

    def check_variables(
        self, variables: Mapping[str, Any], prompts: list[Prompt], where: str
    ) -> None:
        for prompt in prompts:
            missing = sorted(prompt.variables - set(variables))
            if missing:
                names = ", ".join("{{" + name + "}}" for name in missing)
                raise ConversionError(
                    f"{self.file}, {where}: prompt {prompt.label!r} uses {names}, which the "
                    f"test's vars do not set; add {'them' if len(missing) > 1 else 'it'} to "
                    "the test's vars (or to defaultTest.vars)"
                )

    def render_value(
        self, assertion: dict[str, Any], variables: Mapping[str, Any], where: str
    ) -> dict[str, Any]:
        """An assertion whose text value uses the test's vars (`{{expected}}`), filled in."""
        value = assertion.get("value")
        if not isinstance(value, str) or not _TEMPLATE.search(value):
            return assertion
        used = self.variables(value, str(self.file), [where, "assert", assertion["type"]])
        missing = sorted(used - set(variables))
        if missing:
            raise ConversionError(
                f"{self.file}, {where}: the {assertion['type']!r} assertion uses "
                f"{{{{{missing[0]}}}}}, which the test's vars do not set; add it to the "
                "test's vars (or to defaultTest.vars)"
            )

        def fill(match: re.Match[str]) -> str:
            found = variables[match.group(1)]
            return found if isinstance(found, str) else json.dumps(found)

        return {**assertion, "value": _PLAIN_VARIABLE.sub(fill, value)}

    def row(
        self,
        number: int,
        variables: dict[str, Any],
        asserts: list[dict[str, Any]],
        description: Any,
        ids: set[str],
    ) -> dict[str, Any]:
        text = description if isinstance(description, str) and description else None
        shown = text or " ".join(str(v) for v in variables.values())
        base = f"{number}-{slug(shown, 30)}".rstrip("-")
        case_id, suffix = base, 1
        while case_id in ids:
            suffix += 1
            case_id = f"{base}-{suffix}"
        ids.add(case_id)
        row: dict[str, Any] = {"id": case_id, "input": variables}
        if text:
            row["description"] = text
        if asserts:
            row["assert"] = named(asserts)
        return row


def _expand(variables: dict[str, Any]) -> list[dict[str, Any]]:
    """promptfoo runs a test once per combination of its list-valued vars."""
    keys = [k for k, v in variables.items() if isinstance(v, list)]
    if not keys:
        return [variables]
    return [
        {**variables, **dict(zip(keys, values, strict=True))}
        for values in itertools.product(*(variables[k] for k in keys))
    ]


def _messages(data: Any) -> list[dict[str, Any]] | None:
    if not isinstance(data, list) or not data:
        return None
    if not all(isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in data):
        return None
    return [dict(m) for m in data]


def _json_messages(text: str) -> list[dict[str, Any]] | None:
    if not text.lstrip().startswith("["):
        return None
    try:
        return _messages(json.loads(text))
    except json.JSONDecodeError:
        return None


def _provider_api(provider: str) -> tuple[str, str] | None:
    parts = provider.split(":")
    if parts[0] == "openai" and len(parts) == 2 and parts[1]:
        return "openai-chat", parts[1]
    if parts[0] == "openai" and len(parts) >= 3 and parts[1] in ("chat", "responses"):
        model = ":".join(parts[2:])
        return ("openai-chat" if parts[1] == "chat" else "openai-responses"), model
    if parts[0] == "anthropic" and len(parts) >= 3 and parts[1] == "messages":
        return "anthropic", ":".join(parts[2:])
    return None
