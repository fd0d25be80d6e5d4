"""How fast are histories judged? One long history, and a whole catalog on Dask workers.

Two measurements:

1. One history of `--length` points (default 2000) of each shape (a step, a linear trend, a
   smooth growth curve, a weekly cycle with a step, a variance change), judged by
   `warehouse.change_points.change_points`: the median of `--repeats` runs, wall and CPU seconds.
2. `--series` series (default 10,000) of `--days` nightly points (default 365), a tenth of
   them with a step, judged the way the detect flow judges a run: `review_series` on every
   series, in batches on the workers of a local Dask cluster (`flows.detect.judging_scheduler`,
   one single-threaded worker process per usable core, or `--workers`), through
   `tasks.detect.dask_reviewer`. The warehouse read and the alert write are not in it (see
   `benchmarks/bench_warehouse.py` for those).

Usage:
    .venv/bin/python benchmarks/bench_detect_scale.py
    .venv/bin/python benchmarks/bench_detect_scale.py --series 1000   # a quicker look
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
from distributed import Client

from flows.detect import judging_scheduler
from skillsets.settings import load_settings
from tasks.detect import dask_reviewer
from warehouse.analysis import DetectionConfig, SeriesReview
from warehouse.change_points import change_points
from warehouse.regressions import ReviewJob, review_batch


def _log_noise(rng: np.random.Generator, n: int, sigma: float = 0.02) -> np.ndarray:
    return rng.normal(0.0, sigma, n)


#: Shapes of the single long history, as log values (relative changes).
SHAPES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "step": lambda rng, n: _log_noise(rng, n) + np.where(np.arange(n) >= n // 2, 0.1, 0.0),
    "linear trend": lambda rng, n: _log_noise(rng, n) + 0.5 * np.arange(n) / n,
    "smooth growth": lambda rng, n: _log_noise(rng, n, 0.01)
    + 0.8 * (1 - np.exp(-3 * np.arange(n) / n)),
    "weekly cycle + step": lambda rng, n: _log_noise(rng, n)
    + np.where(np.arange(n) % 7 >= 5, 0.08, 0.0) + np.where(np.arange(n) >= n // 3, 0.1, 0.0),
    "variance change": lambda rng, n: rng.normal(0.0, np.where(np.arange(n) < n // 2, 0.01,
                                                               0.04)),
}


def time_one_history(length: int, repeats: int, seed: int) -> dict[str, tuple[float, float, int]]:
    """Median (wall s, CPU s) of `change_points` on one history of each shape, and the number
    of changes it found."""
    out = {}
    for index, (shape, make) in enumerate(SHAPES.items()):
        values = 100.0 * np.exp(make(np.random.default_rng([seed, index]), length))
        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            found = change_points(values)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        out[shape] = (statistics.median(walls), statistics.median(cpus), len(found))
    return out


def catalog(series: int, days: int, seed: int) -> list[ReviewJob]:
    """Nightly latency histories (2% noise, 3% slow outliers); every tenth has a +15% step
    in its last 30 nights."""
    rng = np.random.default_rng(seed)
    sigma = math.sqrt(math.log1p(0.02**2))
    jobs = []
    for i in range(series):
        values = 100.0 * np.exp(rng.normal(0.0, sigma, days))
        values[rng.random(days) < 0.03] *= 1.3
        if i % 10 == 0:
            values[days - int(rng.integers(5, 30)) :] *= 1.15
        jobs.append(ReviewJob(values, False, ()))
    return jobs


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=None,
                        help="local judging workers (default: one per usable core)")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)

    print(f"## One history of {args.length} points (median of {args.repeats})\n")
    print("| shape | wall s | CPU s | changes found |\n|---|---:|---:|---:|")
    for shape, (wall, cpu, found) in time_one_history(args.length, args.repeats,
                                                      args.seed).items():
        print(f"| {shape} | {wall:.3f} | {cpu:.3f} | {found} |")

    jobs = catalog(args.series, args.days, args.seed)
    config = DetectionConfig(history=args.days)
    cores = len(os.sched_getaffinity(0))
    print(f"\n## {args.series} series x {args.days} nights on Dask "
          f"({args.workers or cores} workers, {cores} usable cores, "
          f"load average {os.getloadavg()[0]:.1f})\n")
    started = time.perf_counter()
    with judging_scheduler(load_settings(), args.workers) as address, Client(address) as client:
        ready = time.perf_counter()
        reviews = dask_reviewer(client)(jobs, config)
        judged = time.perf_counter()
    alerts = sum(isinstance(r, SeriesReview) and r.new is not None for r in reviews)
    print(f"cluster start {ready - started:.1f} s, judging {judged - ready:.1f} s, "
          f"total {judged - started:.1f} s; {alerts} series raised an alert "
          f"({len(jobs[::10])} have a step)")
    sample = jobs[:200]
    cpu = time.process_time()
    review_batch(sample, config)
    per_series = (time.process_time() - cpu) / len(sample)
    print(f"one by one here: {1000 * per_series:.1f} CPU ms per series "
          f"(x {args.series} = {per_series * args.series:.0f} CPU s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
