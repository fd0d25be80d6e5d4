"""Series judged on real Dask workers give exactly the alerts judged here, one by one."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster
from test_regressions import HISTORY, add_nights
from warehouse_data import ENVIRONMENT

from tasks.detect import dask_reviewer
from warehouse.analysis import DEFAULT_CONFIG
from warehouse.regressions import ReviewJob, detect_regressions, review_batch
from warehouse.store import Warehouse


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """Two single-threaded worker processes on loopback, as the detect flow starts them."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as dask_client:
        yield dask_client


def test_dask_reviews_line_up_with_the_jobs(client: Client) -> None:
    rng = np.random.default_rng(3)
    jobs = []
    for i in range(40):
        values = 100 * np.exp(rng.normal(0.0, 0.02, 60))
        if i % 4 == 0:
            values[45:] *= 1.2
        jobs.append(ReviewJob(values, False, ()))
    jobs.append(ReviewJob(np.r_[np.zeros(30), np.ones(10)], False, ()))  # zero baseline
    here = review_batch(jobs, DEFAULT_CONFIG)
    there = dask_reviewer(client)(jobs, DEFAULT_CONFIG)
    assert there == here
    assert [r.new.start for r in there[:-1] if r.new is not None] == [45] * 10
    assert "baseline median is 0" in there[-1]
    assert dask_reviewer(client)([], DEFAULT_CONFIG) == []


def test_detect_on_workers_writes_the_same_alerts(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    with Warehouse.open(path, quarantine_dir=tmp_path / "quarantine") as wh:
        wh.record_environment(ENVIRONMENT)
        rng = np.random.default_rng(2025)
        add_nights(wh, range(HISTORY), rng)
        slow = add_nights(wh, range(HISTORY, HISTORY + 3), rng,
                          factors={"bert/latency": 1.25, "gpt2/latency": math.exp(0.3)})
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(path, copy)
    with Warehouse.open(path) as wh:
        here = [a for run in slow for a in detect_regressions(wh, run)]
    with Warehouse.open(copy) as wh:
        there = [a for run in slow for a in detect_regressions(wh, run,
                                                               reviewer=dask_reviewer(client))]
    assert [(a.alert_id, a.severity, a.status, a.model_type) for a in there] == [
        (a.alert_id, a.severity, a.status, a.model_type) for a in here
    ]
    assert {a.model_type for a in there} == {"bert", "gpt2"}
    assert {a.severity for a in there} == {"high", "critical"}


def test_detect_flow_judges_on_its_own_local_cluster(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.detect import detect

    path = tmp_path / "wh.duckdb"
    with Warehouse.open(path, quarantine_dir=tmp_path / "quarantine") as wh:
        wh.record_environment(ENVIRONMENT)
        rng = np.random.default_rng(2025)
        add_nights(wh, range(HISTORY), rng)
        [*_, last] = add_nights(wh, range(HISTORY, HISTORY + 3), rng,
                                factors={"bert/latency": 1.25})
    monkeypatch.setenv("SKILLSETS_WAREHOUSE", str(path))
    monkeypatch.delenv("SKILLSETS_SCHEDULER_ADDRESS", raising=False)
    alerts = detect(run_id=last, workers=2)
    assert [(a["model_type"], a["metric"], a["severity"], a["status"]) for a in alerts] == [
        ("bert", "latency", "high", "open")
    ]
    with pytest.raises(ValueError, match="workers must be >= 1"):
        detect.fn(run_id=last, workers=0)
