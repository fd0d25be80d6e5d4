"""The `report` flow: HTML report, chart exports, Prefect artifacts, Pushgateway metrics."""

from __future__ import annotations

from prefect import flow

from flows.common import flow_settings
from tasks.report import push_metrics, write_report


@flow(name="report", log_prints=True)
def report(
    run_id: str | None = None,
    output_dir: str | None = None,
    formats: list[str] | None = None,
    screenshot: bool = False,
) -> str:
    """Write the report of a run (default: the latest) and publish it on the flow run's page.

    Returns:
        The path of the HTML report.
    """
    settings = flow_settings()
    folder = output_dir or str(settings.output_dir / "report")
    paths = write_report(
        str(settings.warehouse), run_id, folder, formats or ["html", "png"], screenshot
    )
    if settings.pushgateway_url:
        push_metrics(str(settings.warehouse), settings.pushgateway_url, "report")
    print(f"report: {paths.html}")
    return str(paths.html)
