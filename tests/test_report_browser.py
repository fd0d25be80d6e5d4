"""The HTML report in headless Chromium (Debian package, driven by Playwright), fully offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from history_data import shared_warehouse
from PIL import Image

from skillsets.tiers import TIERS
from warehouse.report import build_report
from warehouse.screenshot import chromium_page, load_report, screenshot_report
from warehouse.store import Warehouse

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = shared_warehouse(tmp_path_factory)
    out = tmp_path_factory.mktemp("report")
    with Warehouse.open(warehouse, read_only=True) as wh:
        paths = build_report(wh, output_dir=out, formats="html", tiers=TIERS)
    assert paths.html is not None
    return paths.html


def test_every_chart_draws_without_errors_or_network(report_html: Path) -> None:
    with chromium_page() as page:
        check = load_report(page, report_html)
        assert check.errors == []
        assert check.blocked == []
        assert check.charts == 8
        assert check.drawn == 8
        for name in ("trend", "hardware-comparison", "throughput-scaling", "compatibility",
                     "coverage", "movers"):
            assert page.locator(f"#chart-{name} svg.marks").count() == 1, name


def test_controls_pick_the_series_and_toggle_the_layers(report_html: Path) -> None:
    with chromium_page() as page:
        load_report(page, report_html)
        trend = page.locator("#chart-trend")
        assert "Trend: bert on cpu, latency (ms)" in trend.locator("svg.marks").inner_html()
        bands = trend.locator("g.mark-area.role-mark path")
        assert bands.count() == 3  # one band per batch size

        trend.locator("input[name=show_band]").uncheck()
        page.wait_for_function(
            "document.querySelectorAll('#chart-trend g.mark-area.role-mark path').length === 0"
        )
        rules = trend.locator("g.mark-rule.role-mark line")
        assert rules.count() >= 1
        trend.locator("input[name=show_annotations]").uncheck()
        page.wait_for_function(
            "document.querySelectorAll('#chart-trend g.mark-rule.role-mark line').length === 0"
        )

        trend.locator("select[name=pick_model_type]").select_option("gpt2")
        trend.locator("select[name=pick_hardware]").select_option("cuda")
        page.wait_for_function(
            "document.querySelector('#chart-trend svg.marks').innerHTML"
            ".includes('Trend: gpt2 on cuda, latency (ms)')"
        )
        check = page.evaluate("window.skillsetsReport.errors")
        assert check == []


def test_screenshot_is_a_full_page_png(report_html: Path, tmp_path: Path) -> None:
    png = screenshot_report(report_html, tmp_path / "report.png")
    with Image.open(png) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width == 1280
    assert height > 2000  # the whole page, not the first screen
