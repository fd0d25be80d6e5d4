"""The `api` flow end to end on a real Prefect server: endpoints measured, rows stored, a dead
endpoint counted as errors (the test-only fixed-stream server stands in for a model server)."""

from __future__ import annotations

import pytest
from api_fixed_server import serve_in_thread
from prefect_server import free_port

from flows.api import api
from tasks.api import ApiTarget
from warehouse.store import Warehouse


@pytest.fixture()
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "wh.duckdb"
    monkeypatch.setenv("SKILLSETS_WAREHOUSE", str(path))
    return path


def test_api_flow_stores_each_endpoint_and_its_errors(prefect_api, warehouse) -> None:
    port, dead = free_port(), free_port()
    with serve_in_thread(port):
        run_id = api(
            endpoints=[ApiTarget(base_url=f"http://127.0.0.1:{port}/v1", model="fixed"),
                       ApiTarget(base_url=f"http://127.0.0.1:{dead}/v1", model="gone")],
            concurrency=[1, 2], num_requests=6, output_tokens=4, timeout_s=5,
            detect_regressions=False)
    with Warehouse.open(warehouse, read_only=True) as wh:
        rows = wh.query("SELECT hardware, model_type, batch_size, metric, value FROM results "
                        "WHERE run_id = ?", [run_id])
        run = wh.query("SELECT flow, status FROM runs WHERE run_id = ?", [run_id])
    assert run.row(0) == ("api", "completed")
    live = rows.filter(rows["hardware"] == f"api:127.0.0.1:{port}/v1/chat/completions")
    assert set(live["model_type"]) == {"fixed"} and set(live["batch_size"]) == {1, 2}
    assert {"ttft", "tpot", "itl", "e2e_latency", "request_throughput"} <= set(live["metric"])
    gone = rows.filter(rows["model_type"] == "gone")
    refused = gone.filter(gone["metric"] == "errors_connection_refused")
    assert sorted(refused["value"]) == [6.0, 6.0]


def test_api_flow_fails_when_nothing_answers(prefect_api, warehouse) -> None:
    target = ApiTarget(base_url=f"http://127.0.0.1:{free_port()}/v1", model="gone")
    with pytest.raises(RuntimeError, match="every request to every endpoint failed"):
        api(endpoints=[target], concurrency=[1], num_requests=3, timeout_s=5,
            detect_regressions=False)
    with Warehouse.open(warehouse, read_only=True) as wh:
        runs = wh.query("SELECT status FROM runs WHERE flow = 'api'")
        errors = wh.query("SELECT value FROM results WHERE metric = 'errors'")
    assert runs["status"].to_list() == ["failed"] and errors["value"].to_list() == [3.0]


def test_api_target_refuses_bad_input(monkeypatch) -> None:
    with pytest.raises(ValueError, match="not an http"):
        ApiTarget(base_url="127.0.0.1:8000/v1", model="m")
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    target = ApiTarget(base_url="http://h/v1", model="m", api_key_env="NO_SUCH_TOKEN_VAR")
    with pytest.raises(ValueError, match="NO_SUCH_TOKEN_VAR is not set"):
        target.api_key()
