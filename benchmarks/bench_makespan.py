"""Makespan of longest-first vs plain order: the critical + high tiers, for real and simulated.

    python benchmarks/bench_makespan.py                       # high tier (includes critical), cpu
    python benchmarks/bench_makespan.py --workers 2 --min-seconds 0.5

Three real sweeps (`run_benchmark_sweep`, the code `skillsets bench` and the flow run) on one
local cluster with `--workers` pinned cpu workers, into one scratch warehouse:

1. plain order (catalog order), which also records every task's time in the warehouse;
2. longest-first by those recorded task times (`skillsets.plan.order_longest_first`, as the flow
   and `skillsets bench` order work);
3. plain order again, so the file cache and the warm interpreter favour neither order.

Then, from the task times of run 1, the simulated makespan (`skillsets.plan.makespan`: list
scheduling, one task per worker at a time) of plain order, longest-first by model-size estimate
(a warehouse with no history) and longest-first by history, for 2, 4, 8 and 16 workers, with the
lower bound max(sum / workers, longest task).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from hardware.cluster import start_local_cluster  # noqa: E402
from hardware.fingerprint import environment_fingerprint  # noqa: E402
from skillsets.bench.measure import MeasureConfig  # noqa: E402
from skillsets.bench.sweep import SweepResult, plan_sweep, run_benchmark_sweep  # noqa: E402
from skillsets.catalog import select  # noqa: E402
from skillsets.plan import config_size_estimate, makespan, order_longest_first  # noqa: E402
from warehouse.queries import task_durations  # noqa: E402
from warehouse.store import Warehouse  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--priority", default="high")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.5)
    parser.add_argument("--output", type=Path, default=Path("data/output/bench_makespan.json"))
    args = parser.parse_args()

    models = [entry.model_type for entry in select(args.priority)]
    measure = MeasureConfig(warmup_runs=2, min_iterations=args.runs, min_seconds=args.min_seconds)

    def plan(run_id: str) -> list:
        return plan_sweep(run_id, models, ["cpu"], ["fp32"], measure=measure, measure_import=False)

    cluster, client = start_local_cluster(["cpu"], threads_per_worker=1,
                                          workers_per_backend=args.workers)
    runs: dict[str, SweepResult] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            warehouse = Path(scratch) / "w.duckdb"

            def sweep(label: str, specs: list) -> None:
                print(f"{label}: {len(specs)} tasks, first {[s.model_type for s in specs[:4]]}",
                      flush=True)
                runs[label] = run_benchmark_sweep(
                    client, specs, specs[0].run_id, warehouse_path=warehouse
                )
                print(f"{label}: makespan {runs[label].wall_seconds:.1f} s", flush=True)

            sweep("plain", plan(f"plain-{int(time.time())}"))
            with Warehouse.open(warehouse, read_only=True) as wh:
                history = task_durations(wh)
            sweep("longest_first", order_longest_first(plan(f"lpt-{int(time.time())}"), history))
            sweep("plain_again", plan(f"plain2-{int(time.time())}"))
    finally:
        client.close()
        cluster.close()

    seconds = {o.spec.model_type: o.wall_seconds for o in runs["plain"].outcomes}
    plain = [seconds[m] for m in models]
    estimate = {m: config_size_estimate(m) for m in models}
    by_estimate = [seconds[m] for m in sorted(models, key=lambda m: -estimate[m])]
    by_history = sorted(plain, reverse=True)
    simulated = {
        workers: {
            "plain": makespan(plain, workers),
            "longest_first_estimate": makespan(by_estimate, workers),
            "longest_first_history": makespan(by_history, workers),
            "lower_bound": max(sum(plain) / workers, max(plain)),
        }
        for workers in (2, 4, 8, 16)
    }
    summary = {
        "models": len(models),
        "workers": args.workers,
        "measured_makespan_s": {label: r.wall_seconds for label, r in runs.items()},
        "errors": {label: len(r.errors) for label, r in runs.items()},
        "task_seconds": seconds,
        "task_seconds_total": sum(plain),
        "longest_tasks": sorted(seconds.items(), key=lambda kv: -kv[1])[:5],
        "simulated_makespan_s": simulated,
        "load_average": os.getloadavg(),
        "environment": environment_fingerprint().model_dump(mode="json"),
    }
    print(json.dumps({k: v for k, v in summary.items()
                      if k not in ("environment", "task_seconds")}, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2, default=str))
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
