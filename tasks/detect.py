"""Judging a run's series against their history and writing alerts."""

from __future__ import annotations

from typing import Any

from prefect import task

from warehouse.regressions import detect_regressions
from warehouse.store import Warehouse


@task(name="detect-regressions", task_run_name="detect regressions in {run_id}")
def detect_run(warehouse: str, run_id: str) -> list[dict[str, Any]]:
    """Open, refresh and close alerts for every series `run_id` measured; return them as rows."""
    with Warehouse.open(warehouse) as wh:
        alerts = detect_regressions(wh, run_id)
    return [alert.model_dump(mode="json") for alert in alerts]
