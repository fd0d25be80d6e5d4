"""Throughput: N concurrent workers on one loaded skill against the same calls made one by one.

The concurrent workers are **threads in the measuring process, sharing one loaded model**, not
processes. That is how a model is served (one copy of the weights, requests arriving together),
and torch and OpenVINO release the GIL inside their kernels, so threads do overlap. Processes
would each hold a copy of the weights and pay pickling for every input, which measures the IPC,
not the model; and on a worker pinned to its own cores, extra processes could only share those
cores anyway. Both modes run on the same pinned cores with the same intra-op thread count, so the
speedup answers one question: does issuing N requests at once get more items/s out of this
worker's cores than issuing them one after another?
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from skillsets.bench.measure import gc_paused


@dataclass(frozen=True)
class ThroughputResult:
    """Items/s of the same calls made sequentially and by `workers` concurrent threads.

    Attributes:
        workers: Concurrent threads.
        batch_size: Items per call.
        calls: Calls made in each mode (`workers` x calls per worker).
        sequential_seconds: Wall time of the calls one after another.
        concurrent_seconds: Wall time from releasing all threads to the last one finishing.
        sequential_items_per_s: batch_size x calls / sequential_seconds.
        concurrent_items_per_s: batch_size x calls / concurrent_seconds.
        speedup: concurrent / sequential items/s (> 1 = concurrency helps).
    """

    workers: int
    batch_size: int
    calls: int
    sequential_seconds: float
    concurrent_seconds: float
    sequential_items_per_s: float
    concurrent_items_per_s: float
    speedup: float


def measure_throughput(
    fn: Callable[[], object],
    *,
    batch_size: int,
    workers: int,
    calls_per_worker: int,
    warmup_runs: int = 1,
) -> ThroughputResult:
    """Run `fn()` `workers * calls_per_worker` times sequentially, then from `workers` threads.

    Args:
        fn: One call on the shared skill with prepared inputs bound (must be safe to call from
            several threads at once, as a served model is).
        batch_size: Items each call processes.
        workers: Concurrent threads (>= 1).
        calls_per_worker: Calls each thread makes (>= 1).
        warmup_runs: Untimed calls before each mode.

    Raises:
        ValueError: for workers or calls_per_worker < 1.
        Exception: the first exception a worker thread raised, re-raised here.
    """
    if workers < 1 or calls_per_worker < 1:
        raise ValueError(
            f"workers and calls_per_worker must be >= 1, got {workers} and {calls_per_worker}"
        )
    calls = workers * calls_per_worker
    for _ in range(warmup_runs):
        fn()
    with gc_paused():
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        sequential_ns = time.perf_counter_ns() - start

    errors: list[Exception] = []
    barrier = threading.Barrier(workers + 1)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(calls_per_worker):
                fn()
        except Exception as exc:  # re-raised in the calling thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, name=f"throughput-{i}", daemon=True) for i in range(workers)
    ]
    for _ in range(warmup_runs):
        fn()
    with gc_paused():
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter_ns()
        for thread in threads:
            thread.join()
        concurrent_ns = time.perf_counter_ns() - start
    if errors:
        raise errors[0]

    items = batch_size * calls
    sequential_rate = items / (sequential_ns / 1e9)
    concurrent_rate = items / (concurrent_ns / 1e9)
    return ThroughputResult(
        workers=workers,
        batch_size=batch_size,
        calls=calls,
        sequential_seconds=sequential_ns / 1e9,
        concurrent_seconds=concurrent_ns / 1e9,
        sequential_items_per_s=sequential_rate,
        concurrent_items_per_s=concurrent_rate,
        speedup=concurrent_rate / sequential_rate,
    )
