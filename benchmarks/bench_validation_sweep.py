"""How long does the validation sweep take, and where does the time go?

Runs the real sweep (`skillsets.validation.sweep.run_validation_sweep`) on hardware-tagged Dask
workers of a local cluster (one per core, each pinned to its core), and reports:

- wall time of the sweep, and of starting the cluster;
- the breakdown summed over runs: process start (fork from the zygote to the smoke test
  running), load (import of the model's module + building it), forward (batch sizes 1 and 2),
  batch consistency, round trip, OpenVINO comparison, inventory, and what is left (isolation
  and Dask overhead);
- what process start would cost without the zygote: a fresh interpreter importing torch and
  transformers, timed here once.

Usage:
    .venv/bin/python benchmarks/bench_validation_sweep.py                   # the whole catalog, cpu
    .venv/bin/python benchmarks/bench_validation_sweep.py --sample 40       # every 16th type or so
    .venv/bin/python benchmarks/bench_validation_sweep.py --priority high --hardware openvino

Writes `bench-validation-<run>.json` and `.md` under SKILLSETS_OUTPUT_DIR/validation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from skillsets.catalog import select  # noqa: E402
from skillsets.settings import load_settings  # noqa: E402
from skillsets.validation.coverage import TIMING_KEYS, build_report, render_markdown  # noqa: E402
from skillsets.validation.isolate import IsolationLimits  # noqa: E402
from skillsets.validation.smoke import SmokeOptions  # noqa: E402
from skillsets.validation.store import split_environments  # noqa: E402
from skillsets.validation.sweep import (  # noqa: E402
    SweepPlan,
    generate_and_check,
    run_validation_sweep,
    usable_cores,
)

_GIB = 1024**3


def cold_start_seconds() -> float:
    """Seconds for a fresh interpreter to import torch and transformers (what the zygote saves)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import torch, transformers, transformers.modeling_utils"],
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--priority", default="all", help="tier to sweep (default: the whole catalog)"
    )
    parser.add_argument("--sample", type=int, default=0, help="sweep only N evenly spaced types")
    parser.add_argument("--hardware", default="cpu", help="comma-separated backends")
    parser.add_argument(
        "--workers", type=int, default=0, help="workers per backend (default: one per core)"
    )
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--memory-gb", type=float, default=4.0)
    parser.add_argument("--no-inventory", action="store_true")
    parser.add_argument("--no-roundtrip", action="store_true")
    args = parser.parse_args()

    entries = select(args.priority)
    if args.sample:
        step = max(1, len(entries) // args.sample)
        entries = entries[::step][: args.sample]
    hardware = [h for h in args.hardware.split(",") if h]
    workers = args.workers or usable_cores()
    generated = tempfile.mkdtemp(prefix="skillsets-bench-validate-")
    t0 = time.perf_counter()
    static = generate_and_check(entries, generated)
    static_s = time.perf_counter() - t0
    plan = SweepPlan(
        options=SmokeOptions(
            inventory=False if args.no_inventory else None,
            roundtrip=False if args.no_roundtrip else None,
            skillset_dir=generated,
        ),
        limits=IsolationLimits(timeout_s=args.timeout, memory_bytes=int(args.memory_gb * _GIB)),
        static=static,
    )
    cold = cold_start_seconds()

    from hardware.cluster import start_local_cluster

    t0 = time.perf_counter()
    cluster, client = start_local_cluster(
        hardware, threads_per_worker=1, workers_per_backend=workers
    )
    cluster_s = time.perf_counter() - t0
    run_id = f"bench-validate-{uuid.uuid4().hex[:8]}"
    try:
        t1 = time.perf_counter()
        records = run_validation_sweep(client, entries, hardware, run_id, plan=plan)
        sweep_s = time.perf_counter() - t1
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(generated, ignore_errors=True)
    records, _ = split_environments(records)
    report = build_report(records, {e.model_type: e for e in entries})
    breakdown = {
        hw: {k: round(sums.get(k, 0.0), 1) for k in (*TIMING_KEYS, "records")}
        for hw, sums in report.timings.items()
    }
    result = {
        "run_id": run_id,
        "types": len(entries),
        "hardware": hardware,
        "workers_per_backend": workers,
        "cores": usable_cores(),
        "generate_and_static_check_s": round(static_s, 1),
        "cluster_start_s": round(cluster_s, 1),
        "sweep_wall_s": round(sweep_s, 1),
        "cold_interpreter_start_s": round(cold, 2),
        "breakdown_summed_s": breakdown,
        "pass_rate": {hw: r.rate for hw, r in report.overall.items()},
        "diff_stats": report.diff_stats,
    }
    out = load_settings().output_dir / "validation"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench-validation-{run_id}.json").write_text(json.dumps(result, indent=1))
    (out / f"bench-validation-{run_id}.md").write_text(render_markdown(report))
    (out / f"records-{run_id}.json").write_text(
        json.dumps([r.model_dump(mode="json") for r in records], indent=1)
    )
    print(json.dumps(result, indent=1))
    print(
        f"sweep wall {sweep_s:.1f} s for {len(entries)} types x {len(hardware)} backends "
        f"on {workers} workers/backend; cluster start {cluster_s:.1f} s; a cold interpreter "
        f"(torch + transformers) would cost {cold:.1f} s per model, the zygote fork costs "
        f"{sum(b.get('process_start', 0) for b in breakdown.values()):.1f} s in all"
    )


if __name__ == "__main__":
    main()
