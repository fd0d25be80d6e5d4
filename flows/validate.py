"""The `validate` flow: every selected skillset run for real on every selected backend."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dask
from prefect import flow

from flows.common import flow_settings, recorded_run
from flows.runner import dask_task_runner
from hardware.fingerprint import environment_fingerprint
from hardware.registry import resolve_hardware
from skillsets.catalog import select
from skillsets.validation.static import check_file
from skillsets.validation.sweep import SweepPlan, apply_static, skip_record, summarise
from tasks.generate import generate_skillsets
from tasks.validate import validate_model
from tasks.warehouse import store_compatibility, store_models


@flow(name="validate", task_runner=dask_task_runner(), log_prints=True)
def validate(
    priority: str = "critical",
    models: list[str] | None = None,
    hardware: list[str] | None = None,
    generated_dir: str | None = None,
) -> dict[str, Any]:
    """Validate a tier (or model list) on each backend; store the compatibility matrix.

    Each model x backend is one task on a Dask worker tagged with that backend, run in its own
    process with time and memory limits. Selected backends absent here are recorded as `skip`.

    Returns:
        `counts`: pass / fail / unsupported / skip per backend; `passed`: model types that
        passed on at least one backend; `problems`: each failed or unsupported check (model
        type, hardware, status, error type, message); `run_id`; `wall_seconds`: the sweep's
        wall time (generation, every run and storing), the figure the weekly whole-catalog
        sweep is held to.
    """
    started = time.perf_counter()
    settings = flow_settings(hardware)
    entries = select(priority, models=models)
    parameters = {"priority": priority, "models": models, "hardware": settings.hardware}
    with recorded_run(settings, "validate", parameters) as run_id:
        folder = Path(generate_skillsets(priority, models, generated_dir)["output_dir"])
        static = {
            e.model_type: check_file(folder / f"{e.module_name}.py", e.module_name) for e in entries
        }
        plan = SweepPlan()  # static reports are applied here, not shipped to workers
        present, absent = resolve_hardware(settings.hardware)
        futures = []
        for entry in entries:
            context = {"family": entry.family, "tier": entry.tier, "task": entry.task}
            for hw in present:
                with dask.annotate(resources={hw: 1}):
                    futures.append(
                        validate_model.submit(entry.model_type, hw, run_id, plan, context)
                    )
        environment_id = environment_fingerprint().environment_id
        records = [apply_static(f.result(), static) for f in futures]
        records += [
            skip_record(
                e.model_type, hw, run_id, environment_id, {"family": e.family, "tier": e.tier}
            )
            for e in entries
            for hw in absent
        ]
        # The whole catalog, not the types this run covered: the report's tier coverage counts
        # a type no run has checked as untested (a critical-only run is not 100% of 'all').
        store_models(str(settings.warehouse), select("all"))
        store_compatibility(str(settings.warehouse), records)
    counts = summarise(records)
    wall = round(time.perf_counter() - started, 1)
    print(f"validated {len(entries)} model types on {', '.join(present)} in "
          f"{wall:.1f} s ({wall / 60:.1f} min)")
    for hw, c in counts.items():
        print(
            f"{hw}: {c['pass']} pass, {c['fail']} fail, {c['unsupported']} unsupported, "
            f"{c['skip']} skip"
        )
    passed = sorted({r.model_type for r in records if r.status == "pass"})
    problems = [
        {
            "model_type": r.model_type,
            "hardware": r.hardware,
            "status": r.status,
            "error_type": r.error_type,
            "message": (r.message or "")[:300],
        }
        for r in records
        if r.status in ("fail", "unsupported")
    ]
    return {"counts": counts, "passed": passed, "problems": problems, "run_id": run_id,
            "wall_seconds": wall}
