"""The critical tier on cpu and openvino: sweep wall time, and its overhead over measured compute.

    python benchmarks/bench_critical_tier.py                  # inference, batch size 1, fp32
    python benchmarks/bench_critical_tier.py --type both --batch-sizes 1,4
    python benchmarks/bench_critical_tier.py --models bert,gpt2 --runs 3 --min-seconds 0  # smoke

Runs the real sweep (`run_benchmark_sweep`) on a local cluster with one pinned worker per
backend, writing to a scratch warehouse, and reports:

* `wall_over_measured`: `sweep_wall_s / measured_s`, the figure the goal names (critical-tier
  nightly on cpu + openvino: at most 1.3);
* `cluster_start_s`: starting the scheduler and workers;
* `sweep_wall_s`: first submit to last row written;
* `measured_s`: the measured compute, summed over tasks (`BenchmarkOutcome.measured_seconds`):
  the per-call durations of every timed call of a latency loop (model forward or generate, the
  prefill loop of text generators, and the reference workload's calls interleaved in a
  calibrated loop), plus the wall time of the throughput benchmark's sequential and concurrent
  windows. Not counted: warm-up calls, the untimed memory pass per batch size, the gaps between
  timed calls, input preparation, the load phases (import, instantiation, init), the quality
  pass of reduced precisions, the stack's cold import, worker start and scheduling;
* `task_wall_s`: task wall time summed over tasks; `task_overhead` = 1 - measured / task wall
  (import, load, warm-up, memory passes: the price of honest numbers), with `phase_s` the
  summed import, instantiation and init times and the stack's cold imports
  (`stack_import_time`, one per worker), and `other_task_s` what is left of the task wall time
  outside measured compute and those phases (warm-up, memory passes, quality, input
  preparation);
* `orchestration_s`: sweep wall time minus the busiest worker's summed task time (scheduling,
  transfers, warehouse writes, stragglers);
* `tasks_s`: each task's wall, measured and phase seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from hardware.cluster import start_local_cluster  # noqa: E402
from hardware.fingerprint import environment_fingerprint  # noqa: E402
from skillsets.bench.measure import MeasureConfig  # noqa: E402
from skillsets.bench.spec import KINDS  # noqa: E402
from skillsets.bench.sweep import plan_sweep, run_benchmark_sweep  # noqa: E402
from skillsets.catalog import select  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hardware", default="cpu,openvino")
    parser.add_argument("--priority", default="critical")
    parser.add_argument("--models", default="", help="comma list; overrides --priority")
    parser.add_argument("--type", choices=("inference", "throughput", "both"), default="inference")
    parser.add_argument("--batch-sizes", default="1")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--skip-import-time", action="store_true")
    parser.add_argument("--output", type=Path, default=Path("data/output/bench_critical_tier.json"))
    args = parser.parse_args()

    hardware = args.hardware.split(",")
    models = (
        args.models.split(",") if args.models
        else [entry.model_type for entry in select(args.priority)]
    )
    kinds = KINDS if args.type == "both" else (args.type,)
    run_id = f"critical-{int(time.time())}"
    plan = plan_sweep(
        run_id,
        models,
        hardware,
        ["fp32"],
        batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
        kinds=kinds,
        measure=MeasureConfig(
            warmup_runs=args.warmup, min_iterations=args.runs, min_seconds=args.min_seconds
        ),
        throughput_calls=args.runs,
        measure_import=not args.skip_import_time,
    )
    load_before = os.getloadavg()
    started = time.perf_counter()
    cluster, client = start_local_cluster(hardware)
    cluster_start = time.perf_counter() - started
    try:
        with tempfile.TemporaryDirectory() as scratch:
            result = run_benchmark_sweep(
                client,
                plan,
                run_id,
                warehouse_path=Path(scratch) / "w.duckdb",
                output_dir=Path(scratch),
                on_outcome=lambda o: print(
                    f"  {o.spec.model_type:10s} {o.spec.hardware:9s} {o.status:11s} "
                    f"wall {o.wall_seconds:6.1f} s  measured {o.measured_seconds:5.2f} s "
                    f"{o.reason[:80]}",
                    flush=True,
                ),
            )
    finally:
        client.close()
        cluster.close()
    load_after = os.getloadavg()

    per_worker: dict[str, float] = defaultdict(float)
    for o in result.outcomes:
        per_worker[o.placement.name if o.placement else "?"] += o.wall_seconds
    measured = sum(o.measured_seconds for o in result.outcomes)
    phase_metrics = ("import_time", "instantiation_time", "init_time", "stack_import_time")
    phases = {
        metric: sum(r.value for o in result.outcomes for r in o.rows if r.metric == metric)
        for metric in phase_metrics
    }
    task_wall = sum(o.wall_seconds for o in result.outcomes)
    summary = {
        "models": models,
        "hardware": hardware,
        "kinds": list(kinds),
        "tasks": len(plan),
        "status": {
            s: sum(o.status == s for o in result.outcomes) for s in ("ok", "unsupported", "error")
        },
        "wall_over_measured": result.wall_seconds / measured if measured else None,
        "cluster_start_s": cluster_start,
        "sweep_wall_s": result.wall_seconds,
        "measured_s": measured,
        "task_wall_s": task_wall,
        "task_overhead": 1 - measured / task_wall if task_wall else None,
        "phase_s": phases,
        "other_task_s": task_wall - measured - sum(phases.values()),
        "per_worker_task_s": dict(per_worker),
        "orchestration_s": result.wall_seconds - max(per_worker.values(), default=0.0),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "errors": {f"{o.spec.model_type}/{o.spec.hardware}": o.reason for o in result.errors},
        "tasks_s": [
            {
                "task": f"{o.spec.model_type}/{o.spec.hardware}",
                "wall": o.wall_seconds,
                "measured": o.measured_seconds,
                **{r.metric: r.value for r in o.rows if r.metric in phase_metrics},
            }
            for o in result.outcomes
        ],
        "environment": environment_fingerprint().model_dump(mode="json"),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "environment"}, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2, default=str))
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
