"""The HTML report's Variants section: the quality-vs-cost scatter, in the page and in Chromium."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.records.variant_models import VariantComparison, VariantRow
from pytest_llmeval.records.variants import compare_variants
from pytest_llmeval.reporting.html import render_html, report_variants, write_html
from pytest_llmeval.reporting.json import Report
from tests.test_report_html import make_report, split_html
from tests.test_report_html_browser import (
    ARTIFACTS,
    CHROMIUM,
    WATCH_VIOLATIONS,
    DevTools,
    load,
    requests_made,
    run_chromium,
)

ORDER = ["gpt-4.1", "gpt-4.1-mini", "claude-haiku-4-5"]


def three_variants(group: str = "tests/test_support.py::test_answer") -> VariantComparison:
    """Three models on the same 12 cases: the mini is within the margin of the best and
    cheapest, the haiku misses the bar (pass rate 8 of 12 < 90%) and is worse."""
    rows = []
    for i in range(12):
        case = f"case-{i:02d}"
        rows.append(VariantRow("gpt-4.1", case, 1.0, True, 0.0042, 900, 1.8 + i * 0.05))
        rows.append(
            VariantRow(
                "gpt-4.1-mini", case, 0.92 if i == 5 else 1.0, True, 0.00085, 880, 1.1 + i * 0.03
            )
        )
        rows.append(
            VariantRow(
                "claude-haiku-4-5",
                case,
                0.6 if i % 3 == 0 else 0.9,
                i % 3 != 0,
                0.0021,
                950,
                0.9 + i * 0.02,
            )
        )
    return compare_variants(group, "model", rows, threshold=0.8, min_pass_rate=0.9, order=ORDER)


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text of each element id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def find(self, tag: str | None = None, **wanted: str) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.tags
            if (tag is None or name == tag)
            and all(attrs.get(k.replace("_", "-")) == v for k, v in wanted.items())
        ]


def parse(html: str) -> Elements:
    elements = Elements()
    elements.feed(html)
    return elements


def circles_in_points(html: str) -> dict[str, tuple[str, str]]:
    """Variant -> (cx, cy) of the circle inside its point group."""
    found = re.findall(
        r'<g class="[^"]*" data-role="point" data-variant="([^"]+)".*?<circle cx="([^"]+)" '
        r'cy="([^"]+)"',
        html,
    )
    return {name: (cx, cy) for name, cx, cy in found}


@pytest.fixture(scope="module")
def comparison() -> VariantComparison:
    return three_variants()


@pytest.fixture(scope="module")
def page(comparison: VariantComparison) -> str:
    return render_html(make_report(3), variants=[comparison])


def test_the_comparison_behind_the_chart(comparison: VariantComparison) -> None:
    assert comparison.recommended == "gpt-4.1-mini"
    assert comparison.pareto == ["gpt-4.1-mini", "gpt-4.1"]
    assert [v.meets_bar for v in comparison.variants] == [True, True, False]


def test_one_point_per_variant_placed_by_hand(page: str) -> None:
    elements = parse(page)
    points = elements.find("g", data_role="point")
    assert [p["data-variant"] for p in points] == ORDER
    assert [p["data-recommended"] for p in points] == ["false", "true", "false"]
    assert [p["data-pareto"] for p in points] == ["true", "true", "false"]
    assert [float(p["data-cost"]) for p in points] == [0.0042, 0.00085, 0.0021]
    # x: costs up to 0.0042 * 1.08 in steps of 0.002 end at 0.006, over 540 px from 60;
    # y: means and intervals span 0.706 to 1.0, so the axis runs 0.7 to 1.0 over
    # 278 px from 294 up. gpt-4.1: (60 + 540 * 0.0042 / 0.006, 16);
    # mini, mean 11.92 / 12: (60 + 76.5, 294 - 278 * (0.99333 - 0.7) / 0.3);
    # haiku, mean 0.8: (60 + 189, 294 - 278 / 3).
    assert circles_in_points(page) == {
        "gpt-4.1": ("438", "16"),
        "gpt-4.1-mini": ("136.5", "22.18"),
        "claude-haiku-4-5": ("249", "201.33"),
    }
    ticks = re.findall(r'<text class="tick" x="[^"]+" y="310" [^>]*>([^<]+)<', page)
    assert ticks == ["$0", "$0.002", "$0.004", "$0.006"]


def test_the_front_and_the_recommendation_are_marked(page: str) -> None:
    elements = parse(page)
    (front,) = elements.find("polyline", data_role="front")
    assert front["id"] == "variants-0-front"
    assert front["data-variants"] == "gpt-4.1-mini gpt-4.1"
    assert front["points"] == "136.5,22.18 438,16"  # cheapest first, through both points
    (ring,) = elements.find("circle", data_role="recommended")
    assert ring["id"] == "variants-0-recommended"
    assert (ring["data-variant"], ring["cx"], ring["cy"]) == ("gpt-4.1-mini", "136.5", "22.18")
    (group,) = elements.find("div", id="variants-0")
    assert group["data-group"] == "tests/test_support.py::test_answer"
    assert group["data-recommended"] == "gpt-4.1-mini"
    assert "Recommended: <strong>gpt-4.1-mini</strong> \u2013 the cheapest ($0.00085/case" in page


def test_the_table_has_a_row_per_variant_with_its_test(page: str) -> None:
    elements = parse(page)
    rows = elements.find("tr")
    assert [r["data-variant"] for r in rows if "data-variant" in r] == ORDER
    assert elements.find("tr", data_variant="gpt-4.1-mini", **{"class": "vc-picked"})
    table = page[page.index('id="variants-0-table"') :]
    table = table[: table.index("</table>")]
    # haiku vs gpt-4.1: 4 cases fall by 0.4 and 8 by 0.1, all 12 changed: the two
    # extreme sign patterns of 4096, p = 2 / 4096 = 0.000488, Holm over 1 testable.
    assert '<span class="badge bad">worse</span><span class="sub">p=0.000488</span>' in table
    assert "flips \u22124 / +0" in table
    assert "misses" in table and "pass rate 67% &lt; min_pass_rate 90%" in table
    assert "\u00d70.20 / \u00d70.61" in table  # mini: cost 0.00085 / 0.0042, latency


def test_labels_are_escaped_and_nothing_is_fetched() -> None:
    hostile = '<img src=x onerror="alert(1)">'
    rows = [
        VariantRow(name, f"c{i}", score, True, cost, 10, 1.0)
        for name, score, cost in ((hostile, 1.0, 0.002), ("plain", 0.9, 0.001))
        for i in range(3)
    ]
    comparison = compare_variants("g<script>", "model", rows, order=[hostile, "plain"])
    page, _ = split_html(render_html(make_report(3), variants=[comparison]))
    assert hostile not in page and "<script>" not in page.replace("<script>\n(function", "")
    assert parse(page).find("g", data_role="point", data_variant=hostile)
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert re.search(r"<(?:img|iframe|object|embed)\b", page) is None
    assert re.findall(r"<link\b[^>]*>", page) == ['<link rel="icon" href="data:,">']


def test_unpriced_variants_are_listed_not_plotted_and_none_qualifies_shows_no_ring() -> None:
    rows = [
        VariantRow(name, f"c{i}", score, score >= 0.5, cost, 10, 1.0)
        for name, score, cost in (("a", 0.5, 0.002), ("b", 0.4, 0.001), ("local", 0.45, None))
        for i in range(3)
    ]
    comparison = compare_variants("g", "model", rows, threshold=0.8, order=["a", "b", "local"])
    page = render_html(make_report(3), variants=[comparison])
    elements = parse(page)
    assert [p["data-variant"] for p in elements.find("g", data_role="point")] == ["a", "b"]
    assert "Unpriced, not plotted: local (mean 0.450)." in page
    assert elements.find(data_role="recommended") == []
    assert "<strong>No recommendation</strong> \u2013 none qualifies: a: mean 0.500" in page
    assert elements.find("polyline", data_role="front")[0]["data-variants"] == "b a"


def test_no_variants_no_section(page: str) -> None:
    plain = render_html(make_report(3))
    assert 'id="variants"' not in plain and "__LLMEVAL_SECTIONS__" not in plain
    assert 'id="judges"' not in plain  # and no judge diagnostics, no Judges section
    assert page.count('<section id="variants"') == 1
    # The section sits between the groups table and the charts.
    assert page.index('id="groups-title"') < page.index('id="variants"')
    assert page.index('id="variants"') < page.index('id="charts-title"')


class ReportWithVariants(Report):
    """The JSON report as the pytest side writes it, with its `variants` field."""

    variants: list[dict[str, Any]] = []


def test_the_section_is_read_from_the_reports_variants(comparison: VariantComparison) -> None:
    base = make_report(3)
    data = base.model_dump(mode="json") | {"variants": [comparison.model_dump(mode="json")]}
    report = ReportWithVariants.model_validate(data)
    assert report_variants(report) == [comparison]
    # the same page as with the comparison given explicitly; the data element differs
    # only in carrying the report's own variants field
    page, blob = split_html(render_html(report))
    assert page == split_html(render_html(base, variants=[comparison]))[0]
    assert '"variants":[{"alpha":0.05,' in blob
    assert report_variants(base) == []


# --- in a real browser ---------------------------------------------------------------

chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="headless Chromium not found at /usr/bin/chromium "
    "(install it with `apt-get install -y chromium`)",
)


@chromium
def test_chromium_draws_points_front_and_recommendation(
    comparison: VariantComparison, tmp_path: Path
) -> None:
    second = three_variants("tone")
    report_file = tmp_path / "report.html"
    write_html(report_file, make_report(3), variants=[comparison, second])
    finished = run_chromium(tmp_path / "profile", "--dump-dom", report_file.as_uri())
    assert finished.returncode == 0, finished.stderr[-2000:]
    dom = finished.stdout
    # the page's own script still ran to the end beside the static section
    assert '<html lang="en" data-state="ready">' in dom, finished.stderr[-2000:]
    elements = parse(dom)
    for index, group in enumerate(("tests/test_support.py::test_answer", "tone")):
        (section,) = elements.find("div", id=f"variants-{index}")
        assert section["data-group"] == group
        assert elements.find("svg", id=f"variants-{index}-scatter")
        (front,) = elements.find("polyline", id=f"variants-{index}-front")
        assert front["data-variants"] == "gpt-4.1-mini gpt-4.1"
        (ring,) = elements.find("circle", id=f"variants-{index}-recommended")
        assert ring["data-variant"] == "gpt-4.1-mini"
    points = elements.find("g", data_role="point")
    assert [p["data-variant"] for p in points] == ORDER * 2


@chromium
def test_chromium_screenshot_of_the_scatter(comparison: VariantComparison, tmp_path: Path) -> None:
    report_file = tmp_path / "report.html"
    write_html(report_file, make_report(3), variants=[comparison])
    shot = tmp_path / "report-variants.png"
    finished = run_chromium(
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,1700",
        report_file.as_uri(),
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1280, 1700)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report-variants-1280.png")


GEOMETRY = """
(() => {
  const centre = (node) => {
    const box = node.getBoundingClientRect();
    return [box.x + box.width / 2, box.y + box.height / 2, box.width, box.height];
  };
  const chart = document.getElementById("variants-0-scatter").getBoundingClientRect();
  const points = {};
  document.querySelectorAll('#variants-0 [data-role="point"]').forEach((g) => {
    points[g.getAttribute("data-variant")] = centre(g.querySelector("circle"));
  });
  const front = document.getElementById("variants-0-front").getBBox();
  return {
    chart: [chart.x, chart.y, chart.width, chart.height],
    points: points,
    ring: centre(document.getElementById("variants-0-recommended")),
    front: [front.width, front.height],
    state: document.documentElement.getAttribute("data-state"),
  };
})()
"""


@pytest.fixture
def devtools(tmp_path: Path) -> Iterator[DevTools]:
    """A headless Chromium tab over the DevTools pipe (as the report's browser tests)."""
    browser = DevTools(tmp_path / "devtools-profile", tmp_path / "chromium.log")
    try:
        browser.open_tab()
        for domain in ("Page", "Network", "Runtime"):
            browser.call(f"{domain}.enable")
        browser.call("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_VIOLATIONS})
        yield browser
    finally:
        browser.close()


@chromium
def test_chromium_lays_out_the_points_inside_the_chart(
    devtools: DevTools, comparison: VariantComparison, tmp_path: Path
) -> None:
    report_file = tmp_path / "report.html"
    write_html(report_file, make_report(3), variants=[comparison])
    devtools.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 1400, "deviceScaleFactor": 1, "mobile": False},
    )
    load(devtools, report_file.as_uri())
    seen = devtools.evaluate(GEOMETRY)
    assert seen["state"] == "ready"
    left, top, width, height = seen["chart"]
    assert width > 0 and height > 0
    for x, y, w, h in seen["points"].values():
        assert w > 0 and h > 0  # drawn
        assert left < x < left + width and top < y < top + height
    points = seen["points"]
    # cheaper is further left, better is higher up (screen y grows downwards)
    assert points["gpt-4.1-mini"][0] < points["claude-haiku-4-5"][0] < points["gpt-4.1"][0]
    assert points["gpt-4.1"][1] < points["gpt-4.1-mini"][1] < points["claude-haiku-4-5"][1]
    # the ring is centred on the recommended point, and larger than it
    ring = seen["ring"]
    assert ring[:2] == pytest.approx(points["gpt-4.1-mini"][:2], abs=0.5)
    assert ring[2] > points["gpt-4.1-mini"][2]
    assert seen["front"][0] > 0  # the front spans from the mini to gpt-4.1
    assert requests_made(devtools) == [report_file.as_uri()]
    assert devtools.tab_events("Runtime.exceptionThrown") == []
    assert devtools.evaluate("window.__violations") == []
