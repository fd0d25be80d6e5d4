"""Writes to the warehouse. Called in the flow's own process: the one writer of the file."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task

from skillsets.bench.rows import pool_reference_rows
from skillsets.bench.spec import BenchmarkOutcome
from warehouse.records import CompatibilityRecord
from warehouse.store import Warehouse


@task(name="store-compatibility")
def store_compatibility(warehouse: str, records: Sequence[CompatibilityRecord]) -> int:
    """Load compatibility records (validated; idempotent); return rows inserted."""
    from skillsets.validation.store import split_environments

    clean, environments = split_environments(records)
    with Warehouse.open(warehouse) as wh:
        for fingerprint in environments:
            wh.record_environment(fingerprint)
        return wh.load_compatibility(clean).inserted


@task(name="store-results")
def store_results(warehouse: str, outcomes: Sequence[BenchmarkOutcome]) -> int:
    """Load every outcome's result rows (validated; idempotent); return rows inserted."""
    rows = pool_reference_rows([row for outcome in outcomes for row in outcome.rows])
    with Warehouse.open(warehouse) as wh:
        for fingerprint in {
            o.environment.environment_id: o.environment for o in outcomes if o.environment
        }.values():
            wh.record_environment(fingerprint)
        return wh.load_results(rows).inserted if rows else 0


@task(name="store-models")
def store_models(warehouse: str, entries: Sequence) -> int:
    """Snapshot catalog entries into `models` (latest snapshot wins)."""
    with Warehouse.open(warehouse) as wh:
        return wh.record_models([entry.as_dict() for entry in entries]).inserted
