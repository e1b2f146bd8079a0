"""A pytest plugin for `run.py --only replay --bounds`: replay with less than the plugin.

Loaded with `-p no:llmeval -p replaybound` (benchmarks/ on PYTHONPATH) in the `ours`
replay workload, in place of the plugin; `BENCH_BOUND` says how much it does:

- `bare`: what replaying itself must cost. On the first request every cassette is read
  with `json.loads`; each request is matched by its canonical JSON body and answered
  with the recorded bytes. No records, no per-test state.
- `lean`: the plugin's data model without its plumbing. Every cassette is read with the
  plugin's `parse_cassette` (validated models) and indexed by its `Matcher`; each
  request is matched by `Matcher.live`, answered from the `Replayable` and recorded as
  the plugin's `Inference` (`build_inference`); one call wrapper makes each test's
  `EvalResult` (`trusted`), and `aggregate_session` adds them up at the end. No
  per-test run, recorder or cassette session, placeholder keys, exchange objects,
  per-test hooks beyond that wrapper, or hand-over to a controller.

Where ours sits between the two says how much of its overhead is plumbing (see
docs/performance.md, "the bound of a path with no plumbing"). Both patch httpx2's
`HTTPTransport.handle_request`, which the workload's SDK clients use.
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx2
import pytest

_MODE = os.environ.get("BENCH_BOUND", "lean")
if _MODE not in ("bare", "lean"):
    raise pytest.UsageError(f"BENCH_BOUND={_MODE!r}: expected bare or lean")

_answers: dict[Any, list[Any]] = {}
_state: dict[str, Any] = {"matcher": None, "nodeid": "", "inferences": []}
_results: list[Any] = []


def _cassette_paths() -> list[Path]:
    return sorted(Path(path) for path in glob.glob("cassettes/**/*.json", recursive=True))


def _canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _load_bare() -> None:
    for path in _cassette_paths():
        for interaction in json.loads(path.read_bytes())["interactions"]:
            response = interaction["response"]
            answer = (
                response["status"],
                list(response["headers"].items()),
                response["body_text"].encode(),
            )
            _answers.setdefault(_canonical(interaction["request"]["body"]), []).append(answer)


def _handle_bare(transport: Any, request: Any) -> Any:
    if not _answers:
        _load_bare()
    status, headers, content = _answers[_canonical(json.loads(request.read()))].pop(0)
    return httpx2.Response(status, headers=headers, content=content)


def _load_lean() -> None:
    from pytest_llmeval.capture.cassettes.match import Matcher
    from pytest_llmeval.capture.cassettes.shelf import index_interactions
    from pytest_llmeval.capture.cassettes.store import parse_cassette, read_cassette_bytes
    from pytest_llmeval.core.redact import Redactor

    matcher = _state["matcher"] = Matcher(Redactor(()))
    for path in _cassette_paths():
        _, raw = read_cassette_bytes(path)
        assert raw is not None, path
        _, queues = index_interactions(list(parse_cassette(path, raw).interactions), matcher)
        for key, queue in queues.items():
            _answers.setdefault(key, []).extend(queue)


def _handle_lean(transport: Any, request: Any) -> Any:
    from pytest_llmeval.capture.cassettes.calls import Exchange
    from pytest_llmeval.capture.inference import build_inference

    if _state["matcher"] is None:
        _load_lean()
    started = time.time()
    content = request.read()
    live = _state["matcher"].live(request.method, str(request.url), content, "application/json")
    entry = _answers[live.canonical.key].pop(0)
    response = httpx2.Response(entry.status, headers=entry.headers, content=entry.body)
    interaction = entry.interaction
    exchange = Exchange(
        interaction=interaction,
        request=interaction.request,
        role="app",
        replayed=True,
        cached=False,
        latency_s=interaction.meta.latency_s,
        ttft_s=interaction.meta.ttft_s,
        error=None,
        started_at=started,
    )
    _state["inferences"].append(build_inference(exchange, _state["nodeid"]))
    return response


httpx2.HTTPTransport.handle_request = _handle_bare if _MODE == "bare" else _handle_lean


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "llm_eval: an eval test (read by nothing here)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    if _MODE == "bare":
        return (yield)
    from pytest_llmeval.records.models import EvalResult, trusted

    _state["nodeid"], _state["inferences"] = item.nodeid, []
    started, started_at = time.perf_counter(), time.time()
    outcome = yield
    values: dict[str, Any] = {  # every field, in EvalResult's order (see `trusted`)
        "nodeid": item.nodeid,
        "case_id": item.nodeid,
        "group": item.nodeid.split("[", 1)[0],
        "repeat_index": None,
        "threshold": 0.0,
        "aggregate": "mean",
        "min_pass_rate": None,
        "case_rule": None,
        "pass_k": None,
        "min_case_pass_rate": None,
        "adaptive": False,
        "variant": None,
        "scores": [],
        "score": None,
        "status": "passed",
        "message": None,
        "duration_s": round(time.perf_counter() - started, 6),
        "metadata": {},
        "inferences": _state["inferences"],
        "started_at": started_at,
    }
    given = {name for name, value in values.items() if value is not None} | {"score"}
    _results.append(trusted(EvalResult, values, given))
    return outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _results:
        from pytest_llmeval.records.aggregate import aggregate_session

        aggregate_session(_results)
