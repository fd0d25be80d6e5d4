"""Storing a validation run in the warehouse: run record, environments, compatibility rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from hardware.fingerprint import EnvironmentFingerprint, environment_fingerprint
from warehouse.records import CompatibilityRecord, RunRecord

#: Key under which a worker that computed its own fingerprint hands it back in a record.
ENVIRONMENT_DETAIL = "environment"


def split_environments(
    records: Sequence[CompatibilityRecord],
) -> tuple[list[CompatibilityRecord], list[EnvironmentFingerprint]]:
    """Records without the fingerprints workers attached, and those fingerprints (deduplicated)."""
    envs: dict[str, EnvironmentFingerprint] = {}
    clean = []
    for record in records:
        details = dict(record.details)
        raw = details.pop(ENVIRONMENT_DETAIL, None)
        if raw is not None:
            fp = EnvironmentFingerprint(**raw)
            envs.setdefault(fp.environment_id, fp)
        clean.append(record.model_copy(update={"details": details}))
    return clean, list(envs.values())


def store_validation_run(
    warehouse_path: str | Path,
    run_id: str,
    records: Sequence[CompatibilityRecord],
    *,
    started_at: datetime,
    parameters: dict[str, Any],
    catalog_rows: Sequence[dict[str, Any]] = (),
    status: str = "completed",
) -> dict[str, int]:
    """Write one validation run: environments, the run, the catalog snapshot, the records.

    Args:
        warehouse_path: The DuckDB file (`Settings.warehouse`).
        run_id: The run's id (every record carries it).
        records: The sweep's records.
        started_at: When the sweep started.
        parameters: What the run was asked to do (models, hardware, limits), stored on the run.
        catalog_rows: Catalog entries as dicts (`CatalogEntry.as_dict()`), for the models table.
        status: Final run status, `completed` or `failed`.

    Returns:
        Rows inserted per table.
    """
    from warehouse.store import Warehouse

    here = environment_fingerprint()
    clean, envs = split_environments(records)
    run = RunRecord(
        run_id=run_id,
        flow="validate",
        started_at=started_at,
        git_sha=here.git_sha,
        environment_id=here.environment_id,
        packages=here.packages,
        parameters=parameters,
    )
    inserted: dict[str, int] = {}
    with Warehouse.open(warehouse_path) as wh:
        for fp in {here.environment_id: here, **{e.environment_id: e for e in envs}}.values():
            wh.record_environment(fp)
        inserted["runs"] = wh.record_run(run).inserted
        if catalog_rows:
            inserted["models"] = wh.record_models(list(catalog_rows)).inserted
        inserted["compatibility"] = wh.load_compatibility(clean).inserted
        wh.finish_run(run_id, status)
    return inserted
