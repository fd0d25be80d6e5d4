"""The `nightly` flow: generate, validate, benchmark, detect and report, in that order."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.benchmark import benchmark
from flows.detect import detect
from flows.generate import generate
from flows.report import report
from flows.validate import validate


@flow(name="nightly", log_prints=True)
def nightly(
    priority: str = "critical",
    models: list[str] | None = None,
    hardware: list[str] | None = None,
    precisions: list[str] | None = None,
    batch_sizes: list[int] | None = None,
    runs: int = 10,
    screenshot: bool = False,
    size: str = "reference",
    checkpoints: list[str] | None = None,
) -> dict[str, Any]:
    """The whole pipeline for a tier (or model list) on the selected hardware.

    Each stage is a subflow, so the Prefect UI shows each with its own tasks and artifacts.
    Benchmarks run only for model types that passed validation (on tiny random models) on at
    least one backend, at `size` (`reference`: each type's default config; `tiny`), plus the
    `checkpoints` (`PATH` or `MODEL_TYPE=PATH`).

    Returns:
        The validation counts, the benchmark run id, its alerts and the report's path.
    """
    generate(priority=priority, models=models)
    validation = validate(priority=priority, models=models, hardware=hardware)
    if not validation["passed"]:
        raise RuntimeError(f"no model type passed validation: {validation['counts']}")
    run_id = benchmark(
        models=validation["passed"],
        hardware=hardware,
        precisions=precisions,
        batch_sizes=batch_sizes,
        runs=runs,
        size=size,
        checkpoints=checkpoints,
    )
    alerts = detect(run_id=run_id)
    html = report(run_id=run_id, screenshot=screenshot)
    return {"validation": validation, "benchmark_run_id": run_id, "alerts": alerts,
            "report": html, "size": size, "checkpoints": checkpoints or []}
