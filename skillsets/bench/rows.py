"""Benchmark metrics as warehouse rows: the metric names, their units, and one row builder.

Rows are long format, one metric per row (`warehouse.records.ResultRecord`). Metrics that do not
depend on batch size (support, import, instantiation, init, load memory) carry `batch_size` 1,
the smallest the warehouse accepts; their names never coincide with a per-batch metric.
"""

from __future__ import annotations

from dataclasses import dataclass

from skillsets.bench.measure import LatencyStats
from warehouse.records import UNITS, Benchmark, ResultRecord

#: batch_size of metrics that are per model, not per batch (the warehouse requires >= 1).
PER_MODEL = 1

#: Every metric the benchmarks emit, with its unit (validated against `UNITS` on import).
METRIC_UNITS: dict[str, str] = {
    "supported": "count",  # 1 = measured, 0 = unsupported combination (reason in the run's JSON)
    "import_time": "s",  # cold import of the skillset's modules in a fresh interpreter
    "instantiation_time": "s",  # building the model object from its config (random weights)
    "init_time": "s",  # the rest of loading: weights, device placement, precision, compile
    "task_time": "s",  # the whole task, wall clock: what longest-first scheduling orders by
    "load_memory": "bytes",  # peak RSS over instantiation + init, above the RSS before
    "latency": "ms",  # one forward / generate call
    "throughput": "items/s",  # batch_size / mean latency
    "peak_memory": "bytes",  # peak RSS during one call, above the RSS before it
    "weight_memory": "bytes",  # the weights as held when run (torch storage / OpenVINO constants)
    "matmul_weight_memory": "bytes",  # of those, linear/MatMul weights: what quantization shrinks
    "cuda_max_allocated": "bytes",  # torch.cuda.max_memory_allocated during one call
    "prefill_latency": "ms",  # text generators: the forward over the prompt (time to 1st token)
    "decode_throughput": "tokens/s",  # text generators: tokens after the first, per second
    "time_per_output_token": "ms",  # text generators: (generate - prefill) / (tokens - 1)
    "output_throughput": "tokens/s",  # text generators: every generated token / generate time
    "prompt_tokens": "count",  # text generators: prompt length measured
    "output_tokens": "count",  # text generators: tokens each generate() produced
    "sequential_throughput": "items/s",  # throughput benchmark, calls one after another
    "concurrent_throughput": "items/s",  # the same calls from N threads
    "speedup": "ratio",  # concurrent / sequential
    "concurrent_workers": "count",  # N
    "quality_cosine": "ratio",  # encoders: cosine of pooled outputs vs fp32 (bench/quality.py)
    "top1_agreement": "ratio",  # generators: share of next-token arg-maxes equal to fp32's
    "kl_divergence": "nats",  # generators: KL(fp32 || this precision) of next-token logits
}
_bad_units = {m: u for m, u in METRIC_UNITS.items() if u not in UNITS}
if _bad_units:
    raise RuntimeError(f"benchmark metrics with units the warehouse refuses: {_bad_units}")


@dataclass(frozen=True)
class RowMaker:
    """Builds rows for one (model type, hardware, precision, size) in one run on one
    environment."""

    run_id: str
    environment_id: str
    model_type: str
    hardware: str
    precision: str
    size: str = "tiny"

    def scalar(
        self, benchmark: Benchmark, metric: str, value: float, batch_size: int = PER_MODEL
    ) -> ResultRecord:
        """A one-value row (`n` = 1)."""
        return ResultRecord(
            run_id=self.run_id,
            environment_id=self.environment_id,
            model_type=self.model_type,
            hardware=self.hardware,
            precision=self.precision,
            size=self.size,
            batch_size=batch_size,
            benchmark=benchmark,
            metric=metric,
            value=float(value),
            unit=METRIC_UNITS[metric],
            n=1,
        )

    def distribution(
        self, benchmark: Benchmark, metric: str, stats: LatencyStats, batch_size: int
    ) -> ResultRecord:
        """A latency row: value = p50, with every statistic and the raw samples."""
        return ResultRecord(
            run_id=self.run_id,
            environment_id=self.environment_id,
            model_type=self.model_type,
            hardware=self.hardware,
            precision=self.precision,
            size=self.size,
            batch_size=batch_size,
            benchmark=benchmark,
            metric=metric,
            value=stats.p50,
            unit=METRIC_UNITS[metric],
            n=stats.n,
            mean=stats.mean,
            stdev=stats.stdev,
            p50=stats.p50,
            p90=stats.p90,
            p99=stats.p99,
            min=stats.min,
            max=stats.max,
            samples=list(stats.samples_ms),
        )
