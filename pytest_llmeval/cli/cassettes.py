"""`llmeval cassettes stats|prune|import-vcr|adopt`: look after the cassettes of a test suite."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval.core.errors import FileFormatError, LLMEvalError

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
    from pytest_llmeval.capture.cassettes.store import load_cassette
    from pytest_llmeval.capture.providers import provider_of

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
            # imported (vcrpy) and older cassettes carry no provider: read it off the URL
            provider = getattr(meta, "provider", None) or provider_of(
                interaction.request.method, interaction.request.url
            )
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
    """A pytest plugin noting what a collection covered: its tests (deselected ones too),
    the modules it looked into (empty ones too), its arguments and the cassette folder."""

    def __init__(self) -> None:
        self.items: list[tuple[Path, str]] = []
        self.deselected: list[tuple[Path, str]] = []
        self.modules: set[Path] = set()
        self.args: list[tuple[Path, str | None]] = []
        self.cassette_dir: Path | None = None

    def pytest_collectstart(self, collector: Any) -> None:
        import pytest

        if isinstance(collector, pytest.Module):
            self.modules.add(Path(collector.path).resolve())

    def pytest_deselected(self, items: Sequence[Any]) -> None:
        self.deselected.extend((Path(item.path), item.nodeid) for item in items)

    def pytest_collection_finish(self, session: Any) -> None:
        from pytest_llmeval.items.settings import settings_key

        config = session.config
        self.cassette_dir = config.stash[settings_key].cassette_dir
        self.items = [(Path(item.path), item.nodeid) for item in session.items]
        base = Path(config.invocation_params.dir)
        for arg in config.args:
            path, separator, test = str(arg).partition("::")
            self.args.append(((base / path).resolve(), test if separator else None))


def expected_cassettes(items: Sequence[tuple[Path, str]], cassette_dir: Path | None) -> set[Path]:
    """The cassette path of every collected test item."""
    from pytest_llmeval.capture.cassettes.store import cassette_path

    return {cassette_path(path, nodeid, cassette_dir).resolve() for path, nodeid in items}


def _owns(test: str, cassette: Path) -> bool:
    """Whether the cassette belongs to the test (or class) part `test` of a node id:
    its own cassette, or one of its parametrisations' or methods' (`test.<...>`)."""
    from pytest_llmeval.capture.cassettes.store import safe_name

    name = safe_name(test)
    return cassette.stem == name or ("[" not in test and cassette.stem.startswith(name + "."))


def _module_folder(module: Path, cassette_dir: Path | None) -> Path:
    from pytest_llmeval.capture.cassettes.store import safe_name

    root = cassette_dir if cassette_dir is not None else module.parent / "cassettes"
    return root / safe_name(module.stem)


def _json_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _in_folder(folder: Path, scope: Path) -> bool:
    return folder == scope or scope in folder.parents


def scoped_cassettes(collector: _Collector) -> set[Path]:
    """The cassettes a prune may consider: only those the collected scope owns.

    A folder argument owns the cassettes of the modules collected under it and, with
    cassettes beside the tests, those of modules deleted from it; a module argument owns
    its module's cassettes; a node id owns its test's. A selection (`-k`, `-m`) narrows
    that to the selected tests. A module that exists but was not collected (`--ignore`,
    `collect_ignore`) owns nothing here, and nothing outside the arguments is ever
    considered (STYLE lesson 17).
    """
    from pytest_llmeval.capture.cassettes.store import safe_name

    cassette_dir = None if collector.cassette_dir is None else collector.cassette_dir.resolve()
    found: set[Path] = set()
    for target, test in collector.args:
        if target.is_file():
            if target not in collector.modules:
                continue
            folder = _module_folder(target, cassette_dir)
            found.update(p for p in _json_files(folder) if test is None or _owns(test, p))
            continue
        if not target.is_dir() or test is not None:
            continue
        for module in collector.modules:
            if _in_folder(module.parent, target):
                found.update(_json_files(_module_folder(module, cassette_dir)))
        if cassette_dir is not None:
            continue  # a shared folder: a deleted module's tests cannot be placed
        for path in _cassette_files([target]):
            folder = path.parent
            if folder.parent.name != "cassettes":
                continue
            beside = folder.parent.parent
            owners = [m for m in beside.glob("*.py") if safe_name(m.stem) == folder.name]
            if not owners:  # the module was deleted from the folder in scope
                found.add(path)
    if collector.deselected:
        # -k, -m and the like narrow the scope to the selected tests (and their old
        # parametrisations): a deleted module or a deselected sibling is outside it
        selected = {
            (_module_folder(path.resolve(), cassette_dir), nodeid.partition("::")[2])
            for path, nodeid in collector.items
        }
        found = {
            p
            for p in found
            if any(folder == p.parent and _owns(test.partition("[")[0], p)
                   for folder, test in selected)
        }  # fmt: skip
    return {path.resolve() for path in found}


def orphan_cassettes(collector: _Collector) -> list[Path]:
    """Cassettes in the collected scope that belong to no collected (or deselected) test."""
    expected = expected_cassettes([*collector.items, *collector.deselected], collector.cassette_dir)
    return sorted(p for p in scoped_cassettes(collector) if p not in expected)


def _collect(
    pytest_args: Sequence[str], plugin: Any, *extra: str, tests_may_fail: bool = False
) -> int | None:
    """Run pytest with `plugin`; its usual output is shown only when it cannot run."""
    import contextlib
    import io

    import pytest

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = pytest.main([*extra, *pytest_args], plugins=[plugin])
    if status in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return None
    if tests_may_fail and status == pytest.ExitCode.TESTS_FAILED:
        return None
    sys.stderr.write(output.getvalue())
    return int(status)


def _pytest_args(args: argparse.Namespace) -> list[str]:
    given = list(args.pytest_args)
    return given[1:] if given[:1] == ["--"] else given


def _prune(args: argparse.Namespace) -> int:
    from pytest_llmeval.core.printable import printable

    if args.unplayed:
        return _prune_unplayed(args)
    collector = _Collector()
    status = _collect(_pytest_args(args), collector, "--collect-only", "-q")
    if status is not None:
        print(
            f"llmeval cassettes prune: collection failed (pytest exit status {status}); "
            "fix it first, nothing was removed",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    orphans = orphan_cassettes(collector)
    print(
        f"scope: {len(collector.items) + len(collector.deselected)} test(s) in "
        f"{len(collector.modules)} module(s)"
    )
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


class _Replay:
    """A pytest plugin keeping each test's cassette session and whether the test passed."""

    def __init__(self) -> None:
        self.sessions: dict[str, Any] = {}
        self.failed: set[str] = set()
        self.passed: set[str] = set()

    def pytest_runtest_call(self, item: Any) -> None:
        from pytest_llmeval.capture.cassettes.intercept import current_cassette

        session = current_cassette.get()
        if session is not None:
            self.sessions[item.nodeid] = session

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed or report.skipped:
            self.failed.add(report.nodeid)
        elif report.when == "call":
            self.passed.add(report.nodeid)


def _describe_interactions(interactions: Sequence[Any], positions: Sequence[int]) -> str:
    from pytest_llmeval.capture.cassettes.match import canonical_path

    shown = [
        f"#{n + 1} {interactions[n].request.method} {canonical_path(interactions[n].request.url)}"
        for n in positions[:5]
    ]
    return ", ".join(shown) + (f", ... ({len(positions)} in all)" if len(positions) > 5 else "")


def _prune_unplayed(args: argparse.Namespace) -> int:
    """Replay the scope offline; drop the interactions its passing tests did not request."""
    from pytest_llmeval.capture.cassettes.models import Cassette
    from pytest_llmeval.capture.cassettes.store import load_cassette, write_cassette
    from pytest_llmeval.items.options import OPTIONS_BY_DEST

    replay = _Replay()
    # after the user's arguments, so they win: offline, and in this process (the plugin
    # reads each test's session here, which xdist workers would keep to themselves)
    forced = [f"{OPTIONS_BY_DEST['record_mode'].flag}=none"]
    if importlib.util.find_spec("xdist") is not None:
        forced += ["-n", "0"]
    quiet = ("-q", "-W", "ignore::pytest_llmeval.core.errors.UnplayedInteractionsWarning")
    # tests that fail their replay keep their cassettes whole (below)
    status = _collect([*_pytest_args(args), *forced], replay, *quiet, tests_may_fail=True)
    if status is not None:
        print(
            f"llmeval cassettes prune: the replay could not run (pytest exit status {status}); "
            "fix it first, nothing was changed",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    verb = "dropped" if args.apply else "would drop"
    dropped = changed = 0
    for nodeid, session in sorted(replay.sessions.items()):
        positions = session.unplayed_positions()
        if not positions:
            continue
        path = session.path
        if nodeid not in replay.passed or nodeid in replay.failed or session.refused_calls():
            print(f"kept {path}: {nodeid} did not pass its replay, so its unplayed "
                  "interactions may still be needed; fix the test first")  # fmt: skip
            continue
        cassette = load_cassette(path)
        loaded = session.interactions
        if cassette.interactions != loaded:
            print(f"kept {path}: it changed during the replay")
            continue
        described = _describe_interactions(loaded, positions)
        print(f"{verb} {len(positions)} of {len(loaded)} interaction(s) from {path}: {described}")
        if args.apply:
            kept = [item for n, item in enumerate(loaded) if n not in set(positions)]
            write_cassette(path, Cassette(interactions=kept))
        dropped += len(positions)
        changed += 1
    print(
        f"{dropped} unplayed interaction(s) in {changed} cassette(s)"
        + ("" if args.apply or not dropped else "; rerun with --apply to drop them")
    )
    return EXIT_OK


def _import_vcr(args: argparse.Namespace) -> int:
    from pytest_llmeval.capture.cassettes.store import write_cassette
    from pytest_llmeval.capture.cassettes.vcr import import_vcr, import_vcr_tree, vcr_destination

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


def _adopt(args: argparse.Namespace) -> int:
    from pytest_llmeval.capture.cassettes.match import Matcher
    from pytest_llmeval.capture.cassettes.pending import (
        adopt_pending,
        all_pending,
        load_pending,
        pending_folders,
    )
    from pytest_llmeval.core.redact import Redactor

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
        "--unplayed",
        action="store_true",
        help="Instead, replay the tests offline and drop the recorded interactions that "
        "passing tests no longer request, without re-recording.",
    )
    prune.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="Arguments for pytest's collection."
    )
    prune.set_defaults(handler=_prune, raw_output=True)  # pytest's collection output

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
