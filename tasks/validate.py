"""Validating one model type on one backend: a unit of real work, run on a tagged Dask worker."""

from __future__ import annotations

from prefect import task

from skillsets.validation.sweep import SweepPlan, validate_one
from warehouse.records import CompatibilityRecord


@task(name="validate-model", task_run_name="validate {model_type} on {hardware}")
def validate_model(
    model_type: str, hardware: str, run_id: str, plan: SweepPlan, context: dict | None = None
) -> CompatibilityRecord:
    """Smoke-test one skillset in an isolated process; a crash or hang becomes a `fail` record."""
    return validate_one(model_type, hardware, run_id, plan, context=context)
