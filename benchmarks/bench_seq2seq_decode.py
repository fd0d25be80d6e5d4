"""OpenVINO encoder-decoder decoding with and without past key values: time per output token.

    python benchmarks/bench_seq2seq_decode.py                  # whisper, t5, bart; batch 1 and 2
    python benchmarks/bench_seq2seq_decode.py -m marian --batch-sizes 1 --json

For each model (tiny, random weights, fp32) loaded on openvino, and each batch size, two
interleaved pair loops (`skillsets.bench.measure.measure_paired`, the benchmark's own decode
timing): (prefill, generate with the decoder with past) and (prefill, generate recomputing the
whole prefix each step). The time per output token is the median per-pair difference divided
by the new tokens after the first. The tokens of both modes are checked equal first; a model
that decodes without past (`skill.kv_cache`) is reported with its reason.
"""

from __future__ import annotations

import argparse
import functools
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", action="append", help="model type (repeatable)")
    parser.add_argument("--batch-sizes", default="1,2")
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from skillsets.bench.inference import generated_tokens
    from skillsets.bench.measure import MeasureConfig, measure_paired
    from skillsets.runtime import load_skill

    config = MeasureConfig(warmup_runs=2, min_iterations=10, min_seconds=args.min_seconds)
    rows = []
    for model_type in args.model or ["whisper", "t5", "bart"]:
        skill = load_skill(model_type, "openvino")
        ov = skill._openvino
        cached, reason = skill.kv_cache
        kwargs = skill._generate_kwargs()
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            prepared = skill.prepare(skill.example_inputs(batch))
            row = {"model": model_type, "batch": batch, "kv_cache": cached, "reason": reason}
            modes = {"with_past": True, "whole_prefix": False} if cached else {
                "whole_prefix": False}
            outputs = {}
            for mode, use_cache in modes.items():
                out = ov.generate(prepared, kwargs, use_cache=use_cache)
                outputs[mode] = getattr(out, "sequences", out)
                new = generated_tokens(out, prepared, True)
                paired = measure_paired(
                    functools.partial(skill.prefill, prepared),
                    functools.partial(ov.generate, prepared, kwargs, use_cache), config)
                row[f"{mode}_ms_per_token"] = round(paired.difference_p50 / (new - 1), 2)
                row[f"{mode}_pairs"] = paired.first.n
            if cached:
                row["tokens_equal"] = torch.equal(outputs["with_past"], outputs["whole_prefix"])
            rows.append(row)
            if not args.json:
                print(row, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
