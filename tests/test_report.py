"""The report from a real warehouse filled with seeded synthetic history: files, scoping, CLI."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from history_data import ENVIRONMENT, SLOWER, shared_warehouse
from typer.testing import CliRunner

from cli.main import app
from hardware.names import UnknownNameError
from skillsets.tiers import TIERS
from warehouse.records import RunRecord
from warehouse.report import FORMATS, build_report, parse_formats
from warehouse.store import Warehouse

CHARTS = [
    "trend", "hardware-comparison", "startup", "throughput-scaling", "compatibility", "coverage",
    "movers", "api-latency",
]
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<svg"}


@pytest.fixture(scope="module")
def warehouse_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_warehouse(tmp_path_factory)


def test_every_format_is_written_and_valid(warehouse_path: Path, tmp_path: Path) -> None:
    with Warehouse.open(warehouse_path, read_only=True) as wh:
        paths = build_report(wh, output_dir=tmp_path, formats=FORMATS, tiers=TIERS)
    assert list(paths.charts) == CHARTS
    for name, files in paths.charts.items():
        assert set(files) == {"png", "svg", "pdf", "json"}
        for fmt, magic in MAGIC.items():
            assert files[fmt].read_bytes().startswith(magic), (name, fmt)
        spec = json.loads(files["json"].read_text())
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    html = paths.html.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"?https?:", html)
    assert "window.vegaEmbed" in html
    assert html.count('class="vega-chart"') == len(CHARTS)
    assert 'href="charts/trend.svg"' in html
    # Alerts come before the summary table and the charts.
    assert html.index('id="alerts"') < html.index('id="summary"') < html.index('id="charts"')


def test_latest_report_summarises_the_last_run(warehouse_path: Path, tmp_path: Path) -> None:
    with Warehouse.open(warehouse_path, read_only=True) as wh:
        paths = build_report(wh, output_dir=tmp_path, formats="json", tiers=TIERS)
    assert paths.html is None
    assert paths.summary_markdown.startswith("# Run `run-19`")
    assert "- open alerts: **1**" in paths.summary_markdown
    assert "| high | open | bert / cpu / bs=1 / latency | +30.0% |" in paths.summary_markdown
    assert [(a["severity"], a["status"]) for a in paths.alert_rows] == [
        ("high", "open"), ("low", "closed"),
    ]


def test_an_earlier_run_sees_neither_later_alerts_nor_later_history(
    warehouse_path: Path, tmp_path: Path
) -> None:
    before = f"run-{SLOWER[2] - 1:02d}"
    with Warehouse.open(warehouse_path, read_only=True) as wh:
        paths = build_report(wh, before, output_dir=tmp_path, formats="html", tiers=TIERS)
    assert f"runs in history: {SLOWER[2]}" in paths.summary_markdown
    assert [a["first_bad_run_id"] for a in paths.alert_rows] == ["run-02"]
    assert "bert on cpu" not in paths.html.read_text()


def test_validate_runs_do_not_count_as_measured_history(
    warehouse_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse_path, copy)
    before = f"run-{SLOWER[2] - 1:02d}"
    with Warehouse.open(copy) as wh:
        at = wh.query("SELECT started_at FROM runs WHERE run_id = $id", {"id": before})[0, 0]
        for day in range(SLOWER[2]):
            wh.record_run(RunRecord(
                run_id=f"validate-{day:02d}", flow="validate", started_at=at - timedelta(hours=day),
                ended_at=at - timedelta(hours=day) + timedelta(minutes=5), status="completed",
                git_sha="0" * 40, environment_id=ENVIRONMENT.environment_id,
            ))
        paths = build_report(wh, before, output_dir=tmp_path, formats="json", tiers=TIERS)
    # The validate runs store compatibility only: they do not count, so they take no measured
    # run's place among the HISTORY_RUNS the charts look back over.
    assert f"- measured runs in history: {SLOWER[2]}" in paths.summary_markdown


def test_unknown_run_and_format_say_what_exists(warehouse_path: Path, tmp_path: Path) -> None:
    with (
        Warehouse.open(warehouse_path, read_only=True) as wh,
        pytest.raises(ValueError, match="no run 'nope'.*latest runs: run-19, run-18"),
    ):
        build_report(wh, "nope", output_dir=tmp_path, tiers=TIERS)
    with pytest.raises(UnknownNameError, match="Did you mean html"):
        parse_formats("htm,png")
    assert parse_formats(" PNG, svg,png ") == ("png", "svg")


def test_cli_writes_the_report_where_asked(warehouse_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        ["report", "--warehouse", str(warehouse_path), "--output-dir", str(out),
         "--format", "html,svg"],
    )
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file()
    assert sorted(p.name for p in (out / "charts").iterdir()) == sorted(f"{c}.svg" for c in CHARTS)
    bad = CliRunner().invoke(app, ["report", "--warehouse", str(warehouse_path), "--format", "gif"])
    assert bad.exit_code == 2
    assert "unknown report format 'gif'" in bad.output
