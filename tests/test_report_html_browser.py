"""The HTML report in a real browser: headless Chromium draws it, and nothing leaves the page.

How "no request left the page" is checked, in three layers:

1. Observed, authoritatively: `DevTools` drives Chromium over `--remote-debugging-pipe`
   (the DevTools protocol on file descriptors 3 and 4; no port, no websocket library)
   and records, for the report's own tab only, every `Network.requestWillBeSent` and
   `Network.loadingFailed` event (so background browser traffic cannot blur the
   result) plus every CSP violation (`securitypolicyviolation` events, listened for by
   a script installed before the page's own). The test asserts the page requested
   nothing but its own file:// URL and violated nothing, after exercising the app
   (search, filters, paging, expanding a case whose transcript holds markup).
   A control test loads a page that does fetch, to prove the observer sees requests.
2. Structural: the report's Content-Security-Policy (`default-src 'none'`) makes the
   browser refuse any fetch the page might attempt.
3. Containment: every launch maps all host names to NOTFOUND
   (`--host-resolver-rules`) and disables background networking, so even a
   regression cannot reach the network during the tests.

Screenshots (1280x2000, 390x844 and an expanded case) go to `test-artifacts/` at the
repository root. Skipped with a reason when `/usr/bin/chromium` is not installed
(CI: `apt-get install -y chromium`).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.reporting.html import write_html
from pytest_llmeval.reporting.json import build_report
from tests.test_report_html import make_report, make_result, split_html

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CASES = 5000

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="headless Chromium not found at /usr/bin/chromium "
    "(install it with `apt-get install -y chromium`)",
)


def chromium_args(profile: Path) -> list[str]:
    """Flags for a quiet, offline, throwaway headless Chromium."""
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
    ]


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*chromium_args(profile), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class DevTools:
    """A minimal DevTools protocol client over --remote-debugging-pipe, for one tab."""

    def __init__(self, profile: Path, log: Path) -> None:
        to_browser_read, self._write = self._pipe_end_pair()
        self._read, from_browser_write = self._pipe_end_pair()

        # Chromium reads commands on fd 3 and writes replies and events on fd 4. Both
        # ends are numbered >= 10, so the first dup2 cannot clobber the second source.
        def remap() -> None:
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        with open(log, "wb") as stderr:
            self.process = subprocess.Popen(
                [*chromium_args(profile), "--remote-debugging-pipe", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                close_fds=False,  # our fds are close-on-exec; 3 and 4 must survive
                preexec_fn=remap,
            )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    @staticmethod
    def _pipe_end_pair() -> tuple[int, int]:
        read, write = os.pipe()
        high = (
            fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 10),
            fcntl.fcntl(write, fcntl.F_DUPFD_CLOEXEC, 10),
        )
        os.close(read)
        os.close(write)
        return high

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium over the DevTools pipe")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        tab: bool = True,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command (to the tab unless tab=False) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if tab and self.session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method: str, since: int = 0, timeout: float = 30.0) -> dict[str, Any]:
        """The first event of this kind from the tab at or after events[since]."""
        deadline = time.monotonic() + timeout
        for event in self.events[since:]:
            if event["method"] == method and event.get("sessionId") == self.session:
                return event
        while True:
            event = self._message(deadline)
            if "method" in event:
                self.events.append(event)
                if event["method"] == method and event.get("sessionId") == self.session:
                    return event

    def open_tab(self) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, tab=False)
        attached = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, tab=False
        )
        self.session = attached["sessionId"]

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the tab (awaiting a promise) and return its JSON value."""
        answer = self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in answer:
            raise AssertionError(f"page script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def tab_events(self, *methods: str) -> list[dict[str, Any]]:
        return [
            e for e in self.events if e["method"] in methods and e.get("sessionId") == self.session
        ]

    def close(self) -> None:
        try:
            self.call("Browser.close", tab=False, timeout=5)
        except (OSError, RuntimeError, TimeoutError, ConnectionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._read)
        os.close(self._write)


# Installed before any page script: records CSP violations, the browser's own report
# of a fetch the policy refused.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture
def devtools(tmp_path: Path) -> Iterator[DevTools]:
    browser = DevTools(tmp_path / "devtools-profile", tmp_path / "chromium.log")
    try:
        browser.open_tab()
        for domain in ("Page", "Network", "Runtime"):
            browser.call(f"{domain}.enable")
        browser.call("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_VIOLATIONS})
        yield browser
    finally:
        browser.close()


def load(browser: DevTools, url: str) -> None:
    since = len(browser.events)
    browser.call("Page.navigate", {"url": url})
    browser.wait_for("Page.loadEventFired", since)


def requests_made(browser: DevTools) -> list[str]:
    """Every URL the tab asked the network stack for, and every failed load."""
    urls = [e["params"]["request"]["url"] for e in browser.tab_events("Network.requestWillBeSent")]
    failed = [
        f"failed:{e['params'].get('errorText')}:{e['params'].get('blockedReason')}"
        for e in browser.tab_events("Network.loadingFailed")
    ]
    return urls + failed


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    write_html(path, make_report(CASES))
    return path


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def test_the_script_draws_the_report(report_file: Path, tmp_path: Path) -> None:
    finished = run_chromium(tmp_path / "profile", "--dump-dom", report_file.as_uri())
    dom = finished.stdout
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert '<html lang="en" data-state="ready">' in dom, finished.stderr[-2000:]
    assert '<div id="error" role="alert"></div>' in dom
    blob = re.search(r'id="llmeval-data">(.*?)</script>', dom, re.DOTALL)
    assert blob is not None
    data = json.loads(blob.group(1))
    cards = re.search(r'<section id="cards"[^>]*data-cases="(\d+)"', dom)
    assert cards is not None and int(cards.group(1)) == data["aggregate"]["cases"]
    cases_card = re.search(
        r'data-card="cases"><div class="label">cases</div><div class="value">([\d,]+)<', dom
    )
    assert cases_card is not None and cases_card.group(1) == f"{data['aggregate']['cases']:,}"
    assert re.findall(r'<tr data-group="([^"]+)"', dom) == [
        g["group"] for g in data["aggregate"]["groups"]
    ]
    assert len(re.findall(r'<li data-case="', dom)) == 100  # first page only
    assert f"Showing 1\u2013100 of {CASES:,} cases" in dom
    assert dom.count("<svg") >= 3  # three charts
    assert re.search(
        r'data-card="regression"><div class="label">regression</div><div class="value">Regression<',
        dom,
    )


def test_screenshots_at_desktop_and_phone_width(
    report_file: Path, tmp_path: Path, artifacts: Path
) -> None:
    for name, size in (("report-1280.png", "1280,2000"), ("report-390.png", "390,844")):
        target = artifacts / name
        target.unlink(missing_ok=True)
        finished = run_chromium(
            tmp_path / f"profile-{name}",
            f"--screenshot={target}",
            f"--window-size={size}",
            report_file.as_uri(),
        )
        assert finished.returncode == 0, finished.stderr[-2000:]
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = (int(v) for v in size.split(","))
        header = target.read_bytes()[16:24]
        assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (
            width,
            height,
        )


APP_SESSION = """
(async () => {
  const pause = (ms) => new Promise((done) => setTimeout(done, ms));
  const out = {state: document.documentElement.getAttribute("data-state")};
  out.error = document.getElementById("error").textContent;
  out.rows = document.querySelectorAll("#cases > li").length;
  out.pager = document.querySelector("#pager-top .info").textContent;
  const status = document.getElementById("filter-status");
  status.value = "below"; status.dispatchEvent(new Event("change"));
  out.below = document.querySelector("#pager-top .info").getAttribute("data-total");
  out.belowRows = [...document.querySelectorAll("#cases > li")].every(
    (li) => li.getAttribute("data-status") === "below");
  status.value = "all"; status.dispatchEvent(new Event("change"));
  const group = document.getElementById("filter-group");
  group.value = "tone"; group.dispatchEvent(new Event("change"));
  out.tone = document.querySelector("#pager-top .info").getAttribute("data-total");
  group.value = ""; group.dispatchEvent(new Event("change"));
  document.querySelector('#pager-top button[data-go="next"]').click();
  out.page2 = document.querySelector("#pager-top .info").textContent;
  const search = document.getElementById("filter-text");
  search.value = "case-00003]"; search.dispatchEvent(new Event("input"));
  await pause(400);
  out.found = [...document.querySelectorAll("#cases > li")].map((li) => li.getAttribute("data-case"));
  const details = document.querySelector("#cases details");
  details.open = true;
  await pause(200);
  const body = details.querySelector(".case-body");
  out.bodyText = body ? body.textContent : null;
  out.injected = document.querySelectorAll("#cases img, #cases link, #cases script").length;
  out.bodyId = document.body.id;
  out.alerted = typeof window.__alerted !== "undefined";
  details.scrollIntoView();
  out.violations = window.__violations;
  return out;
})()
"""


def test_nothing_leaves_the_page(devtools: DevTools, report_file: Path, artifacts: Path) -> None:
    devtools.call(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": "window.alert = () => { window.__alerted = true; };"},
    )
    devtools.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 1400, "deviceScaleFactor": 1, "mobile": False},
    )
    load(devtools, report_file.as_uri())
    seen = devtools.evaluate(APP_SESSION)
    data = json.loads(split_html(report_file.read_text("utf-8"))[1])
    cases = [c for g in data["aggregate"]["groups"] for c in g["cases"]]
    assert seen["state"] == "ready", seen["error"]
    assert seen["rows"] == 100
    assert seen["pager"] == f"Showing 1\u2013100 of {CASES:,} cases"
    assert int(seen["below"]) == sum(1 for c in cases if c["status"] == "below")
    assert seen["belowRows"]
    assert int(seen["tone"]) == sum(1 for c in cases if c["group"] == "tone")
    assert seen["page2"].startswith("Showing 101\u2013200 of")
    assert seen["found"] == ["tests/test_bot.py::test_refunds[case-00003]"]
    # The transcript's markup is shown as text, and none of it became an element.
    assert "</script><script>alert(1)</script>" in seen["bodyText"]
    assert "Transcript (2 calls)" in seen["bodyText"]
    # the case view shows the run's usage rollup, as the JSON report holds it
    assert "Usage" in seen["bodyText"] and "calls2 calls (" in seen["bodyText"]
    assert "latencymax " in seen["bodyText"]
    assert seen["injected"] == 0 and seen["bodyId"] != "pwned" and not seen["alerted"]
    shot = devtools.call("Page.captureScreenshot", {"format": "png"})
    (artifacts / "report-case-1280.png").write_bytes(base64.b64decode(shot["data"]))

    assert seen["violations"] == []
    assert requests_made(devtools) == [report_file.as_uri()]
    exceptions = devtools.tab_events("Runtime.exceptionThrown")
    assert exceptions == []


def test_the_observer_sees_a_page_that_fetches(devtools: DevTools, tmp_path: Path) -> None:
    """Control: without our CSP, a remote image is a request the observer reports."""
    page = tmp_path / "leaky.html"
    page.write_text('<img src="http://leak.invalid/pixel.png"><p>hi</p>', encoding="utf-8")
    load(devtools, page.as_uri())
    made = requests_made(devtools)
    assert "http://leak.invalid/pixel.png" in made
    assert any(m.startswith("failed:net::ERR_NAME_NOT_RESOLVED") for m in made)


def test_the_observer_sees_fetches_the_policy_refuses(
    devtools: DevTools, report_file: Path, tmp_path: Path
) -> None:
    """Control: under the report's CSP the same image is refused, and still observed."""
    csp = re.search(
        r'<meta http-equiv="Content-Security-Policy"[^>]*>', report_file.read_text("utf-8")
    )
    assert csp is not None
    page = tmp_path / "guarded.html"
    page.write_text(
        f'<head>{csp.group(0)}</head><img src="http://leak.invalid/pixel.png"><p>hi</p>',
        encoding="utf-8",
    )
    load(devtools, page.as_uri())
    assert devtools.evaluate("window.__violations") == ["img-src http://leak.invalid/pixel.png"]
    assert requests_made(devtools) == [
        page.as_uri(),
        "http://leak.invalid/pixel.png",
        "failed::csp",
    ]


def test_small_and_empty_reports_draw(devtools: DevTools, tmp_path: Path) -> None:
    """No results, no baseline, a case without calls: drawn, with nothing thrown."""
    silent = make_result(1).model_copy(update={"inferences": []})
    reports = {
        "empty": build_report([]),
        "no-baseline": build_report([make_result(i) for i in range(7)]),
        "no-calls": build_report([silent]),
    }
    for name, report in reports.items():
        page = tmp_path / f"{name}.html"
        write_html(page, report)
        load(devtools, page.as_uri())
        seen = devtools.evaluate(
            "({state: document.documentElement.dataset.state,"
            " error: document.getElementById('error').textContent,"
            " regression: document.querySelector('[data-card=regression] .value').textContent,"
            " charts: document.querySelectorAll('.charts svg').length})"
        )
        assert seen == {"state": "ready", "error": "", "regression": "No baseline", "charts": 3}
    assert devtools.tab_events("Runtime.exceptionThrown") == []


def test_case_view_shows_unstable_repeats_and_their_rule(
    devtools: DevTools, tmp_path: Path
) -> None:
    """A case whose runs straddle the threshold is badged unstable, and its view shows the
    runs' pass rate, pass^k / pass@k and the per-case rule (issue 18)."""
    from pytest_llmeval.records.models import EvalResult

    results = [
        EvalResult(
            nodeid=f"tests/test_bot.py::test_sampled[{case}-r{i}]",
            case_id=f"tests/test_bot.py::test_sampled[{case}]",
            group="tests/test_bot.py::test_sampled",
            repeat_index=i,
            threshold=0.5,
            aggregate="mean",
            score=value,
            status="passed" if value >= 0.5 else "below",
            case_rule="pass^k",
            pass_k=2,
        )
        for case, values in {"p": [0.9, 0.8, 0.1, 0.7, 0.2], "q": [1.0] * 5}.items()
        for i, value in enumerate(values, start=1)
    ]
    page = tmp_path / "repeats.html"
    write_html(page, build_report(results))
    load(devtools, page.as_uri())
    seen = devtools.evaluate(
        """(async () => {
  const rows = [...document.querySelectorAll("#cases > li")];
  const row = rows.find((li) => li.getAttribute("data-case").endsWith("[p]"));
  const other = rows.find((li) => li.getAttribute("data-case").endsWith("[q]"));
  const details = row.querySelector("details");
  details.open = true;
  await new Promise((done) => setTimeout(done, 200));
  return {
    badges: [...row.querySelectorAll("summary .badge")].map((b) => b.textContent),
    other: [...other.querySelectorAll("summary .badge")].map((b) => b.textContent),
    stats: details.querySelector(".run-stats").textContent,
  };
})()"""
    )
    assert seen["badges"] == ["below", "unstable", "misses case rule"]
    assert seen["other"] == ["passed"]
    assert "runs passed3 of 5 (23.1%\u201388.2% Wilson 95%) \u00b7 unstable" in seen["stats"]
    assert "pass^2 / pass@20.30 / 0.90" in seen["stats"]
    assert "case rulepass^k: missed" in seen["stats"]
    assert devtools.tab_events("Runtime.exceptionThrown") == []
