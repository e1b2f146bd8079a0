"""`llmeval cassettes stats|prune|import-vcr`: look after the cassettes of a test suite."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval.errors import FileFormatError, LLMEvalError

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class PathError(LLMEvalError):
    """A path given on the command line does not exist or is the wrong kind."""


def _existing(path: str, what: str) -> Path:
    """A path that must exist (exit 2 naming it otherwise, never "0 cassettes")."""
    where = Path(path)
    if not where.exists():
        raise PathError(f"{path}: no such file or folder; give {what}")
    return where


def _folder_to_write(path: str) -> Path:
    """A destination folder: an existing folder, or one that can be created."""
    where = Path(path)
    for folder in (where, *where.parents):
        if folder.exists():
            if not folder.is_dir():
                what = "is a file" if folder == where else f"is under {folder}, a file"
                raise PathError(f"{path}: {what}, not a folder; give the folder to write to")
            break
    return where


def _cassette_files(roots: Iterable[Path]) -> list[Path]:
    files: set[Path] = set()
    for root in roots:
        if root.is_file():
            files.add(root)
        elif root.is_dir():
            files.update(p for p in root.rglob("*.json") if "cassettes" in p.parts)
    return sorted(files)


def _stats(args: argparse.Namespace) -> int:
    from pytest_llmeval.cassettes.store import load_cassette

    files = _cassette_files(
        [_existing(p, "a cassette file or a folder holding cassettes") for p in args.paths]
    )
    models: Counter[str] = Counter()
    interactions = streamed = size = 0
    cost = 0.0
    broken: list[str] = []
    for path in files:
        try:
            cassette = load_cassette(path)
        except FileFormatError as error:
            broken.append(str(error))
            continue
        size += path.stat().st_size
        for interaction in cassette.interactions:
            interactions += 1
            streamed += interaction.is_stream
            meta = interaction.meta
            provider = getattr(meta, "provider", None) or "unknown"
            models[f"{provider}:{meta.model or 'unknown'}"] += 1
            recorded = getattr(meta, "cost_usd", None)
            if isinstance(recorded, (int, float)):
                cost += recorded
    print(
        f"{len(files) - len(broken)} cassettes, {interactions} interactions "
        f"({streamed} streamed), {size / 1024:.1f} KiB, ${cost:.4f} recorded"
    )
    for model, count in sorted(models.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {count:6d}  {model}")
    for message in broken:
        print(f"unreadable: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT if broken else EXIT_OK


class _Collector:
    """A pytest plugin that notes every collected item and the session's cassette folder."""

    def __init__(self) -> None:
        self.items: list[tuple[Path, str]] = []
        self.cassette_dir: Path | None = None

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        from pytest_llmeval.settings import settings_key

        self.cassette_dir = config.stash[settings_key].cassette_dir
        self.items = [(Path(item.path), item.nodeid) for item in items]


def expected_cassettes(items: Sequence[tuple[Path, str]], cassette_dir: Path | None) -> set[Path]:
    """The cassette path of every collected test item."""
    from pytest_llmeval.cassettes.store import cassette_path

    return {cassette_path(path, nodeid, cassette_dir).resolve() for path, nodeid in items}


def orphan_cassettes(items: Sequence[tuple[Path, str]], cassette_dir: Path | None) -> list[Path]:
    """Cassettes in the folders of the collected tests that belong to no collected test."""
    expected = expected_cassettes(items, cassette_dir)
    roots = {path.parent / "cassettes" for path, _ in items}
    if cassette_dir is not None:
        roots.add(cassette_dir)
    return [p for p in _cassette_files(roots) if p.resolve() not in expected]


def _prune(args: argparse.Namespace) -> int:
    import pytest

    from pytest_llmeval.printable import printable

    collector = _Collector()
    status = pytest.main(["--collect-only", "-q", *args.pytest_args], plugins=[collector])
    if status not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        print(
            f"llmeval cassettes prune: collection failed (pytest exit status {int(status)}); "
            "fix it first, nothing was removed",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    orphans = orphan_cassettes(collector.items, collector.cassette_dir)
    verb = "removed" if args.apply else "would remove"
    for path in orphans:
        print(printable(f"{verb} {path}"))
        if args.apply:
            path.unlink()
    print(
        f"{len(orphans)} cassette(s) of tests that no longer exist"
        + ("" if args.apply or not orphans else "; rerun with --apply to remove them")
    )
    return EXIT_OK


def _import_vcr(args: argparse.Namespace) -> int:
    from pytest_llmeval.cassettes.store import write_cassette
    from pytest_llmeval.cassettes.vcr import import_vcr, import_vcr_tree, vcr_destination

    source = _existing(args.source, "a vcrpy YAML cassette or a folder holding them")
    destination = _folder_to_write(args.destination)
    if source.is_file():
        target = vcr_destination(Path(source.name), destination)
        if target.exists() and not args.force:
            raise FileFormatError(f"{target}: already exists; delete it or pass --force")
        write_cassette(target, import_vcr(source))
        converted = [(source, target)]
    else:
        converted = import_vcr_tree(source, destination, overwrite=args.force)
        if not converted:
            raise PathError(f"{source}: no .yaml or .yml file in this folder; nothing to import")
    for source, destination in converted:
        print(f"{source} -> {destination}")
    print(f"{len(converted)} cassette(s) imported")
    return EXIT_OK


def add_cassettes_command(commands: Any) -> None:
    """Add `llmeval cassettes ...` to the llmeval command parser."""
    parser = commands.add_parser("cassettes", help="Cassette statistics, pruning and import.")
    sub = parser.add_subparsers(dest="cassettes_command", required=True, metavar="ACTION")

    stats = sub.add_parser("stats", help="Count cassettes, interactions, models and cost.")
    stats.add_argument("paths", nargs="*", default=["."], help="Files or folders (default: .).")
    stats.set_defaults(handler=_stats)

    prune = sub.add_parser(
        "prune",
        help="List (or, with --apply, remove) cassettes of tests that no longer exist.",
    )
    prune.add_argument("--apply", action="store_true", help="Remove them (default: dry run).")
    prune.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="Arguments for pytest's collection."
    )
    prune.set_defaults(handler=_prune, raw_output=True)  # pytest's collection output

    vcr = sub.add_parser("import-vcr", help="Convert vcrpy / pytest-recording YAML cassettes.")
    vcr.add_argument("source", help="A YAML cassette or a folder of them.")
    vcr.add_argument("destination", help="Folder to write the JSON cassettes to.")
    vcr.add_argument("--force", action="store_true", help="Overwrite existing cassettes.")
    vcr.set_defaults(handler=_import_vcr)
