"""Quantized KV cache (4 and 2 bits, optimum-quanto) against the default cache, on a decoder at
its longest context: KV memory, time per output token, top-1 agreement (issue #21).

    python benchmarks/bench_kv_cache.py                        # gpt2 reference size, 1024 tokens
    python benchmarks/bench_kv_cache.py --size tiny --context 256 --output-tokens 8   # smoke
    python benchmarks/bench_kv_cache.py --checkpoint /path/to/gpt2 --store

A script rather than a `skillsets bench --kv-cache` option: the measurement is one process on
the torch cpu path with its own prompt and decode loop (`skillsets/bench/kv_cache.py`), none of
the sweep's batch sizes, precisions or hardware routing apply, and `skillsets bench` would carry
an option that ignores most of its others. `--store` records the run and its rows
(`benchmark='kv_cache'`) in the warehouse of the project settings, like `skillsets bench-api`.
Timings on a loaded machine are not figures; memory and agreement do not depend on load.
"""

from __future__ import annotations

import argparse
import os
import uuid

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def main() -> None:
    """Measure every cache, print one line each, store the rows when asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt2", help="a decoder-only catalog model type")
    parser.add_argument("--size", default="reference", choices=("tiny", "reference"))
    parser.add_argument("--checkpoint", help="a local checkpoint folder (size 'checkpoint')")
    parser.add_argument("--context", type=int, help="tokens in the cache at the end "
                        "(default: the model's longest, up to 4096)")
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--store", action="store_true", help="store the rows in the warehouse")
    args = parser.parse_args()

    from skillsets.bench.kv_cache import WEAK_AGREEMENT_NOTE, kv_cache_rows, measure_kv_caches
    from skillsets.runtime import load_skill

    size = "checkpoint" if args.checkpoint else args.size
    skill = load_skill(args.model, "cpu", "fp32", args.checkpoint, size=size)
    results = measure_kv_caches(skill.model, context=args.context,
                                output_tokens=args.output_tokens)
    default = results[0]
    print(f"{args.model} {size} ({skill.weights}), {default.context_tokens} tokens in the cache, "
          f"{args.output_tokens} next-token predictions compared")
    for result in results:
        print(f"{result.label:10} {result.storage:22} kv {result.cache_bytes / 1e6:8.2f} MB "
              f"({result.cache_bytes / default.cache_bytes:6.1%})  "
              f"tpot {result.time_per_output_token:7.2f} ms  top1 {result.top1_agreement:.3f}")
    if skill.weights.startswith("random:"):
        print(f"note: {WEAK_AGREEMENT_NOTE}")
    if args.store:
        from hardware.fingerprint import environment_fingerprint
        from skillsets.settings import load_settings
        from warehouse.records import RunRecord
        from warehouse.store import Warehouse

        fingerprint = environment_fingerprint()
        run_id = f"kv-{uuid.uuid4().hex[:12]}"
        rows = kv_cache_rows(results, run_id=run_id, environment_id=fingerprint.environment_id,
                             model_type=skill.model_type, size=size, weights=skill.weights,
                             parameters=skill.parameters)
        settings = load_settings()
        with Warehouse.open(settings.warehouse) as wh:
            wh.record_environment(fingerprint)
            wh.record_run(RunRecord(
                run_id=run_id, flow="bench-kv-cache", git_sha=fingerprint.git_sha,
                environment_id=fingerprint.environment_id, packages=fingerprint.packages,
                parameters=vars(args)))
            inserted = wh.load_results(rows).inserted
            wh.finish_run(run_id, "completed")
        print(f"{inserted} rows stored in {settings.warehouse} (run {run_id})")


if __name__ == "__main__":
    main()
