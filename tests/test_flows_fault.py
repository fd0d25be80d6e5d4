"""Fault tolerance of the benchmark flow: a Dask worker killed mid-measurement.

The flow runs on a real Prefect API (test harness) and a real hardware-tagged Dask cluster with
two cpu workers; a watcher SIGKILLs the worker process that is running the benchmark. Dask
re-runs the task on the other worker; the flow completes and every series has one row.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from prefect_dask import DaskTaskRunner

from flows.benchmark import benchmark
from hardware.cluster import start_local_cluster
from warehouse.store import Warehouse

pytestmark = pytest.mark.server


def _kill_busy_worker(
    client, pids: dict[str, int], killed: list[str], stop: threading.Event
) -> None:
    """SIGKILL the first worker seen processing a task, once it has run for a moment."""
    while not stop.is_set():
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy:
            time.sleep(2.0)  # into the model load / measurement, not the task's first line
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(busy[0])
            return
        time.sleep(0.1)


def test_benchmark_flow_survives_a_killed_worker(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv("SKILLSETS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("SKILLSETS_OUTPUT_DIR", str(tmp_path / "out"))
    cluster, client = start_local_cluster(["cpu"], workers_per_backend=2)
    killed: list[str] = []
    stop = threading.Event()
    try:
        pids = client.run(os.getpid)
        watcher = threading.Thread(target=_kill_busy_worker, args=(client, pids, killed, stop))
        watcher.start()
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        run_id = benchmark.with_options(task_runner=runner)(
            models=["bert"],
            hardware=["cpu"],
            runs=3,
            batch_sizes=[1, 2],
            kinds=["inference"],
            size="tiny",
        )
    finally:
        stop.set()
        watcher.join()
        client.close()
        cluster.close()

    assert killed, "no worker was seen running the benchmark"
    with Warehouse.open(warehouse, read_only=True) as wh:
        per_series = wh.query(
            "SELECT model_type, hardware, precision, batch_size, benchmark, metric, count(*) AS n "
            "FROM results WHERE run_id = $1 GROUP BY ALL",
            [run_id],
        )
        status = wh.query("SELECT status FROM runs WHERE run_id = $1", [run_id])
    assert status["status"].to_list() == ["completed"]
    assert set(per_series["n"].to_list()) == {1}
    latency = per_series.filter(per_series["metric"] == "latency")
    assert sorted(latency["batch_size"].to_list()) == [1, 2]
