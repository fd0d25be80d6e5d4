"""The `detect` flow: regressions, change points and recoveries for a run's series."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.common import flow_settings
from tasks.detect import detect_run
from warehouse.store import Warehouse


def latest_benchmark_run(warehouse: str) -> str:
    """The id of the newest completed benchmark run."""
    with Warehouse.open(warehouse, read_only=True) as wh:
        rows = wh.query(
            "SELECT run_id FROM runs WHERE flow = 'benchmark' AND status = 'completed' "
            "ORDER BY started_at DESC LIMIT 1"
        )
    if rows.is_empty():
        raise ValueError(f"no completed benchmark run in {warehouse}; run the benchmark flow first")
    return rows["run_id"][0]


@flow(name="detect", log_prints=True)
def detect(run_id: str | None = None) -> list[dict[str, Any]]:
    """Judge every series of a benchmark run (default: the latest) against its history.

    Returns:
        The alerts the run opened, refreshed or closed.
    """
    settings = flow_settings()
    run_id = run_id or latest_benchmark_run(str(settings.warehouse))
    alerts = detect_run(str(settings.warehouse), run_id)
    create_table_artifact(
        key="skillsets-detected-alerts",
        table=alerts or [{"alert_id": "", "status": "no alerts"}],
        description=f"Alerts written for run {run_id}",
    )
    opened = [a for a in alerts if a["status"] == "open"]
    print(f"run {run_id}: {len(opened)} open alerts, {len(alerts) - len(opened)} closed")
    return alerts
