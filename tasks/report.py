"""Building the HTML report, publishing it as Prefect artifacts, and pushing metrics."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from skillsets.tiers import TIERS
from tasks.artifacts import publish_run_artifacts
from warehouse.metrics import push
from warehouse.report import ReportPaths, build_report
from warehouse.screenshot import screenshot_report
from warehouse.store import Warehouse


@task(name="build-report")
def write_report(
    warehouse: str,
    run_id: str | None,
    output_dir: str,
    formats: list[str],
    screenshot: bool = False,
) -> ReportPaths:
    """Write the report of a run (HTML plus chart exports) and publish its artifacts."""
    with Warehouse.open(warehouse, read_only=True) as wh:
        paths = build_report(wh, run_id, output_dir=output_dir, formats=formats, tiers=TIERS)
    if screenshot and paths.html is not None:
        screenshot_report(paths.html, Path(output_dir) / "report.png")
    publish_run_artifacts(paths.summary_markdown, paths.alert_rows, paths.html or Path(output_dir))
    return paths


@task(name="push-metrics", retries=2, retry_delay_seconds=5)
def push_metrics(warehouse: str, gateway_url: str, flow_name: str) -> None:
    """Push the latest values to the configured Pushgateway (retried: the gateway may blink)."""
    with Warehouse.open(warehouse, read_only=True) as wh:
        push(gateway_url, wh, grouping_key={"flow": flow_name})
    get_run_logger().info("pushed metrics to %s", gateway_url)
