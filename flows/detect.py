"""The `detect` flow: regressions, change points and recoveries for a run's series."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distributed import LocalCluster
from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.common import flow_settings
from hardware.security import check_exposure, tls_security
from skillsets.settings import Settings
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


@contextmanager
def judging_scheduler(settings: Settings, workers: int | None = None) -> Iterator[str]:
    """Address of the Dask scheduler whose workers judge the series.

    The configured cluster (`scheduler_address`, checked like the other flows' runner) when
    there is one; else a local cluster on 127.0.0.1 with one single-threaded worker process
    per usable core (judging is pure Python and numpy: threads would share one interpreter
    lock), closed when the block ends.

    Raises:
        ValueError: `workers` < 1.
        hardware.security.InsecureClusterError: a non-loopback scheduler without TLS that was
            not explicitly allowed.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if settings.scheduler_address:
        security = (tls_security(settings.tls_ca_file, settings.tls_cert_file,
                                 settings.tls_key_file) if settings.tls_enabled else None)
        check_exposure(settings.scheduler_address, security,
                       allow_insecure=settings.allow_insecure_remote)
        yield settings.scheduler_address
        return
    count = workers or len(os.sched_getaffinity(0))
    with LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@flow(name="detect", log_prints=True)
def detect(run_id: str | None = None, workers: int | None = None) -> list[dict[str, Any]]:
    """Judge every series of a benchmark run (default: the latest) against its history.

    The series are judged in parallel on Dask workers (`judging_scheduler`); the warehouse is
    read and written here, once.

    Args:
        run_id: The benchmark run; default the latest completed one.
        workers: Local judging workers; default one per usable core. Ignored when the settings
            name a scheduler.

    Returns:
        The alerts the run opened, refreshed or closed.
    """
    settings = flow_settings()
    run_id = run_id or latest_benchmark_run(str(settings.warehouse))
    with judging_scheduler(settings, workers) as scheduler:
        alerts = detect_run(str(settings.warehouse), run_id, scheduler=scheduler)
    create_table_artifact(
        key="skillsets-detected-alerts",
        table=alerts or [{"alert_id": "", "status": "no alerts"}],
        description=f"Alerts written for run {run_id}",
    )
    opened = [a for a in alerts if a["status"] == "open"]
    print(f"run {run_id}: {len(opened)} open alerts, {len(alerts) - len(opened)} closed")
    return alerts
