"""Stability: the same benchmark five times; coefficient of variation of the reported p50.

Figure (issue #6 goal): CV (sample stdev / mean) of p50 latency over 5 repetitions <= 3% on an
idle machine.

    python benchmarks/bench_stability.py                    # bert, cpu, fp32, batch size 1
    python benchmarks/bench_stability.py --model vit --repeats 5
    python benchmarks/bench_stability.py --in-process      # the same loop 5 times, one process

Each repetition is the whole inference benchmark (`skillsets.bench.task.run_benchmark`: load,
warm-up, timed loop) in a fresh interpreter pinned to one core with one torch thread, as a
cluster worker runs it: process-level state (allocator, caches, thread pools) is new each time,
so the spread is what two nightly runs would see. The load average is recorded with the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

GOAL = 0.03


def one(model: str, batch_size: int, core: int, min_seconds: float) -> dict:
    """Run one repetition here and return its latency statistics."""
    from hardware.cluster import pin_process
    from skillsets.bench.measure import MeasureConfig
    from skillsets.bench.spec import BenchmarkSpec
    from skillsets.bench.task import run_benchmark

    pin_process([core])
    spec = BenchmarkSpec(
        run_id="stability",
        model_type=model,
        hardware="cpu",
        batch_sizes=(batch_size,),
        measure=MeasureConfig(warmup_runs=5, min_iterations=30, min_seconds=min_seconds),
        measure_import=False,
    )
    outcome = run_benchmark(spec)
    if outcome.status != "ok":
        raise SystemExit(f"{model}: {outcome.status}: {outcome.reason}")
    (row,) = [r for r in outcome.rows if r.metric == "latency"]
    return {
        "p50_ms": row.p50,
        "mean_ms": row.mean,
        "stdev_ms": row.stdev,
        "n": row.n,
        "p99_ms": row.p99,
    }


def in_process(model: str, batch_size: int, core: int, min_seconds: float, repeats: int) -> None:
    """The same timed loop `repeats` times in one process on one loaded model: the spread left
    when nothing about the process changes, i.e. the host's own noise."""
    import torch

    from hardware.cluster import pin_process
    from skillsets.bench.measure import MeasureConfig, measure_latency
    from skillsets.runtime import load_skill

    pin_process([core])
    torch.set_num_threads(1)
    skill = load_skill(model, "cpu")
    prepared = skill.prepare(skill.example_inputs(batch_size))
    config = MeasureConfig(warmup_runs=5, min_iterations=30, min_seconds=min_seconds)
    p50s = [measure_latency(lambda: skill.run(prepared), config).p50 for _ in range(repeats)]
    cv = statistics.stdev(p50s) / statistics.mean(p50s)
    print(f"{model} batch {batch_size}, one process, {repeats} consecutive blocks: p50s "
          f"{', '.join(f'{p:.3f}' for p in p50s)} ms, CV {cv:.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="bert")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--output", type=Path, default=Path("data/output/bench_stability.json"))
    parser.add_argument(
        "--in-process", action="store_true",
        help="Repeat the timed loop in one process instead (the host's noise floor).",
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    # The last usable core: core 0 takes more interrupts and housekeeping on most machines.
    core = args.core if args.core is not None else max(os.sched_getaffinity(0))
    if args.in_process:
        in_process(args.model, args.batch_size, core, args.min_seconds, args.repeats)
        return
    if args.one:
        print(json.dumps(one(args.model, args.batch_size, core, args.min_seconds)))
        return

    load_before = os.getloadavg()
    runs = []
    for i in range(args.repeats):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                "--model",
                args.model,
                "--batch-size",
                str(args.batch_size),
                "--core",
                str(core),
                "--min-seconds",
                str(args.min_seconds),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"repetition {i + 1} failed:\n{proc.stderr[-2000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(
            f"repetition {i + 1}: p50 {runs[-1]['p50_ms']:.3f} ms (n={runs[-1]['n']})", flush=True
        )
    load_after = os.getloadavg()
    p50s = [r["p50_ms"] for r in runs]
    cv = statistics.stdev(p50s) / statistics.mean(p50s)
    verdict = "ok" if cv <= GOAL else "OVER GOAL"
    print(
        f"{args.model} batch {args.batch_size}: p50 mean {statistics.mean(p50s):.3f} ms, "
        f"CV {cv:.2%} ({verdict}); load average before {load_before[0]:.2f}, after "
        f"{load_after[0]:.2f} on {os.cpu_count()} cores (pinned to core {core})"
    )
    from hardware.fingerprint import environment_fingerprint

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "goal": GOAL,
                "model": args.model,
                "batch_size": args.batch_size,
                "cv": cv,
                "runs": runs,
                "load_average_before": load_before,
                "load_average_after": load_after,
                "core": core,
                "environment": environment_fingerprint().model_dump(mode="json"),
            },
            indent=2,
            default=str,
        )
    )
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
