"""Benchmarking one model type on one backend at one precision, on a worker tagged for it."""

from __future__ import annotations

from prefect import task

from skillsets.bench.spec import BenchmarkOutcome, BenchmarkSpec
from skillsets.bench.task import run_benchmark


@task(
    name="benchmark-model",
    task_run_name="benchmark {spec.model_type} on {spec.hardware} {spec.precision} {spec.size}",
    retries=1,
    retry_delay_seconds=5,
)
def benchmark_model(spec: BenchmarkSpec) -> BenchmarkOutcome:
    """Measure import, load, latency per batch size, throughput and memory for one spec.

    Retried once: a worker lost mid-measurement is an infrastructure failure worth a second
    try, and rows are keyed by (run, series), so a retry never stores a series twice.
    """
    return run_benchmark(spec)
