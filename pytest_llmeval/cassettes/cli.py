"""`llmeval cassettes stats|prune|import-vcr|adopt`: look after the cassettes of a test suite."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval.errors import FileFormatError

EXIT_OK = 0
EXIT_BAD_INPUT = 2


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

    files = _cassette_files(Path(p) for p in args.paths)
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
        print(f"{verb} {path}")
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

    source, destination = Path(args.source), Path(args.destination)
    if source.is_file():
        target = vcr_destination(Path(source.name), destination)
        if target.exists() and not args.force:
            raise FileFormatError(f"{target}: already exists; delete it or pass --force")
        write_cassette(target, import_vcr(source))
        converted = [(source, target)]
    else:
        converted = import_vcr_tree(source, destination, overwrite=args.force)
    for source, destination in converted:
        print(f"{source} -> {destination}")
    print(f"{len(converted)} cassette(s) imported")
    return EXIT_OK


def _adopt(args: argparse.Namespace) -> int:
    from pytest_llmeval.cassettes.match import Matcher
    from pytest_llmeval.cassettes.pending import (
        adopt_pending,
        all_pending,
        load_pending,
        pending_folders,
    )
    from pytest_llmeval.cassettes.redact import Redactor

    root = Path(args.rootdir).resolve()
    mine = []  # only recordings of cassettes inside this project (the temp folder is shared)
    for pending_file in all_pending(pending_folders(root)):
        cassette = Path(load_pending(pending_file).cassette)
        if cassette.is_relative_to(root):
            mine.append(pending_file)
    matcher = Matcher(Redactor())
    adopted = adopt_pending(
        mine, lambda item: matcher.recorded(item.request).key, dry_run=not args.apply
    )
    verb = "adopted" if args.apply else "would adopt"
    for pending_file, cassette, added in adopted:
        print(f"{verb} {pending_file} -> {cassette} ({added} interaction(s) added)")
    print(
        f"{len(adopted)} pending recording(s)"
        + ("" if args.apply or not adopted else "; rerun with --apply to adopt them")
    )
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
    prune.set_defaults(handler=_prune)

    vcr = sub.add_parser("import-vcr", help="Convert vcrpy / pytest-recording YAML cassettes.")
    vcr.add_argument("source", help="A YAML cassette or a folder of them.")
    vcr.add_argument("destination", help="Folder to write the JSON cassettes to.")
    vcr.add_argument("--force", action="store_true", help="Overwrite existing cassettes.")
    vcr.set_defaults(handler=_import_vcr)

    adopt = sub.add_parser(
        "adopt",
        help="Merge recordings a run could not write (pending) into their cassettes.",
    )
    adopt.add_argument(
        "rootdir", nargs="?", default=".", help="The project's rootdir (default: .)."
    )
    adopt.add_argument("--apply", action="store_true", help="Adopt them (default: dry run).")
    adopt.set_defaults(handler=_adopt)
