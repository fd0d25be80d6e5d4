"""The `benchmark` flow: latency, throughput and memory on hardware-tagged Dask workers."""

from __future__ import annotations

import dask
from prefect import flow

from flows.common import flow_settings, recorded_run
from flows.runner import dask_task_runner
from hardware.registry import resolve_hardware
from skillsets.bench.measure import MeasureConfig
from skillsets.bench.spec import BenchmarkOutcome, generation_lengths
from skillsets.bench.sweep import plan_sweep
from skillsets.catalog import select
from skillsets.plan import order_longest_first
from skillsets.runtime.weights import parse_checkpoint
from tasks.benchmark import benchmark_model
from tasks.warehouse import store_results
from warehouse.queries import stored_task_durations


@flow(name="benchmark", task_runner=dask_task_runner(), log_prints=True)
def benchmark(
    priority: str = "critical",
    models: list[str] | None = None,
    hardware: list[str] | None = None,
    precisions: list[str] | None = None,
    batch_sizes: list[int] | None = None,
    kinds: list[str] | None = None,
    runs: int = 10,
    concurrent_workers: int = 2,
    size: str = "reference",
    checkpoints: list[str] | None = None,
    prompt_tokens: int | None = None,
    output_tokens: int | None = None,
) -> str:
    """Benchmark a tier (or model list) on each backend and precision; store every metric.

    One task per (model, backend, precision), routed to a worker with that backend's tag and
    submitted longest-first (durations from the warehouse history, else model size), so one
    long model does not start last and hold up the sweep.

    `size` is `reference` (each type's default config, random weights; one that would not fit
    the memory budget is `unsupported` with the reason) or `tiny`. `checkpoints` (`PATH` or
    `MODEL_TYPE=PATH`, folders or model ids in the HF cache) are measured too, and must exist:
    the run fails before measuring anything if one does not.

    Returns:
        The run id (its rows are in `results`).
    """
    settings = flow_settings(hardware)
    resolved = [parse_checkpoint(text) for text in checkpoints or []]
    entries = [] if resolved and not models else select(priority, models=models)
    prompt_tokens, output_tokens = generation_lengths(
        size, prompt_tokens, output_tokens, checkpoints=bool(resolved)
    )
    present, _absent = resolve_hardware(settings.hardware)
    precisions = precisions or ["fp32"]
    parameters = {
        "priority": priority,
        "models": models,
        "hardware": present,
        "precisions": precisions,
        "batch_sizes": batch_sizes or [1, 2],
        "kinds": kinds or ["inference", "throughput"],
        "runs": runs,
        "size": size,
        "checkpoints": [f"{t}={p}" for t, p in resolved],
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
    }
    with recorded_run(settings, "benchmark", parameters) as run_id:
        history = stored_task_durations(settings.warehouse)
        plan = order_longest_first(
            plan_sweep(
                run_id,
                [e.model_type for e in entries],
                present,
                precisions,
                batch_sizes=parameters["batch_sizes"],
                kinds=parameters["kinds"],
                measure=MeasureConfig(min_iterations=runs),
                concurrent_workers=concurrent_workers,
                size=size,
                checkpoints=resolved,
                memory_budget=settings.memory_budget,
                prompt_tokens=prompt_tokens,
                output_tokens=output_tokens,
            ),
            history,
        )
        futures = []
        for spec in plan:
            with dask.annotate(resources={spec.hardware: 1}):
                futures.append(benchmark_model.submit(spec))
        outcomes: list[BenchmarkOutcome] = [f.result() for f in futures]
        stored = store_results(str(settings.warehouse), outcomes)
        errors = [o for o in outcomes if o.status == "error"]
        print(f"run {run_id}: {stored} rows stored, {len(errors)} errors")
        for o in errors:
            print(f"  {o.spec.key}: {o.reason}")
    return run_id
