"""Run bookkeeping: each flow run is a row in `runs`, carrying the environment fingerprint."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.runtime import flow_run

from hardware.fingerprint import environment_fingerprint
from warehouse.records import RunRecord
from warehouse.store import Warehouse


def current_run_id() -> str:
    """The Prefect flow run id (so a row links to its run page in the UI)."""
    run_id = flow_run.get_id()
    if not run_id:
        raise RuntimeError("current_run_id() must be called inside a flow run")
    return str(run_id)


@task(name="begin-run")
def begin_run(warehouse: str, flow_name: str, parameters: dict[str, Any]) -> str:
    """Record this flow run and this machine's fingerprint; return the run id."""
    fingerprint = environment_fingerprint()
    run_id = current_run_id()
    with Warehouse.open(warehouse) as wh:
        wh.record_environment(fingerprint)
        wh.record_run(
            RunRecord(
                run_id=run_id,
                flow=flow_name,
                git_sha=fingerprint.git_sha,
                environment_id=fingerprint.environment_id,
                packages=fingerprint.packages,
                parameters=parameters,
            )
        )
    return run_id


@task(name="end-run")
def end_run(warehouse: str, run_id: str, status: str) -> None:
    """Mark the run completed or failed."""
    with Warehouse.open(warehouse) as wh:
        wh.finish_run(run_id, status)
