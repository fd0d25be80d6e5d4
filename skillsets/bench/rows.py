"""Benchmark metrics as warehouse rows: the metric names, their units, and one row builder.

Rows are long format, one metric per row (`warehouse.records.ResultRecord`). Metrics that do not
depend on batch size (support, import, instantiation, init, load memory) carry `batch_size` 1,
the smallest the warehouse accepts; their names never coincide with a per-batch metric.

Calibration (`skillsets.bench.calibration`): beside each `latency` row a `latency_calibrated`
row (the same distribution in units of the reference workload's p50 from the same loop), and
per run per worker backend (and model size) one `calibration` / `reference_time` row of the
reference's own time, keyed `model_type='_reference'`, `precision='v<REFERENCE_VERSION>'`
(`pool_reference_rows` merges the tasks' reference samples into it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skillsets.bench.calibration import (
    CALIBRATION_BENCHMARK,
    REFERENCE_MODEL,
    REFERENCE_VERSION,
)
from skillsets.bench.imports import STACK_MODEL
from skillsets.bench.measure import CalibratedStats, LatencyStats
from warehouse.records import RESULT_KEY, UNITS, Benchmark, ResultRecord

#: batch_size of metrics that are per model, not per batch (the warehouse requires >= 1).
PER_MODEL = 1

#: Every metric the benchmarks emit, with its unit (validated against `UNITS` on import).
METRIC_UNITS: dict[str, str] = {
    "supported": "count",  # 1 = measured, 0 = unsupported combination (reason in the run's JSON)
    "import_time": "s",  # the skillset's own modules, in a fresh fork of a stack-imported process
    "stack_import_time": "s",  # model_type `_stack`: cold import of torch/transformers(/openvino)
    "instantiation_time": "s",  # building the model object from its config (random weights)
    "init_time": "s",  # the rest of loading: weights, device placement, precision, compile
    "task_time": "s",  # the whole task, wall clock: what longest-first scheduling orders by
    "load_memory": "bytes",  # peak RSS over instantiation + init, above the RSS before
    "latency": "ms",  # one forward / generate call
    "latency_calibrated": "x_ref",  # latency p50 / the interleaved reference's p50
    "reference_time": "ms",  # one call of the reference workload (model_type `_reference`)
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

    def calibrated(
        self, benchmark: Benchmark, stats: CalibratedStats, batch_size: int
    ) -> ResultRecord:
        """The `latency_calibrated` row: the model's distribution divided by the reference's p50
        (value = `stats.ratio`, unit `x_ref`)."""
        scale = 1.0 / stats.reference.p50
        m = stats.model
        return self.distribution(
            benchmark,
            "latency_calibrated",
            LatencyStats(
                samples_ms=tuple(x * scale for x in m.samples_ms), n=m.n, mean=m.mean * scale,
                stdev=m.stdev * scale, p50=stats.ratio, p90=m.p90 * scale, p99=m.p99 * scale,
                min=m.min * scale, max=m.max * scale, total_seconds=m.total_seconds,
            ),
            batch_size,
        )

    def reference(self, stats: LatencyStats) -> ResultRecord:
        """The reference workload's own time in this task: a `reference_time` row of this run's
        worker backend and model size (`pool_reference_rows` merges those of one run)."""
        row = RowMaker(self.run_id, self.environment_id, REFERENCE_MODEL, self.hardware,
                       f"v{REFERENCE_VERSION}", self.size)
        return row.distribution(CALIBRATION_BENCHMARK, "reference_time", stats, PER_MODEL)


def is_reference_row(row: ResultRecord) -> bool:
    """Whether `row` is a reference workload's own time (one per run per backend once pooled)."""
    return row.benchmark == CALIBRATION_BENCHMARK and row.metric == "reference_time"


def pool_reference_rows(rows: Sequence[ResultRecord]) -> list[ResultRecord]:
    """`rows` with the `reference_time` rows of one run, backend and size merged into one.

    Every task times the reference beside its model; the warehouse keeps one row per series per
    run, so the samples of a run's tasks on one backend are pooled (in the order given) and
    their statistics recomputed. The pooled row carries no model's weights or parameters
    (a task stamps those on all its rows). Of several `stack_import_time` rows (model type
    `_stack`) with one key, the first is kept. Other rows are returned unchanged, in order, with
    the pooled rows after them.

    Raises:
        ValueError: a reference row without samples (it cannot be pooled).
    """
    kept: list[ResultRecord] = []
    groups: dict[tuple[object, ...], list[ResultRecord]] = {}
    stacks: set[tuple[object, ...]] = set()
    for row in rows:
        if row.model_type == STACK_MODEL:
            # A task retried on a fresh worker process times the stack again; the run's first
            # cold import is the one kept (a duplicate key would reject the whole batch).
            key = tuple(getattr(row, name) for name in RESULT_KEY)
            if key not in stacks:
                stacks.add(key)
                kept.append(row)
        elif is_reference_row(row):
            groups.setdefault(tuple(getattr(row, name) for name in RESULT_KEY), []).append(row)
        else:
            kept.append(row)
    for group in groups.values():
        samples = [x for row in group for x in (row.samples or [])]
        if any(not row.samples for row in group):
            raise ValueError(
                f"a reference_time row of run {group[0].run_id} on {group[0].hardware} has no "
                "samples; build it with RowMaker.reference"
            )
        first = group[0]
        stats = LatencyStats.from_samples_ns(np.asarray(samples) * 1e6)
        pooled = RowMaker(first.run_id, first.environment_id, first.model_type, first.hardware,
                          first.precision, first.size).distribution(
            CALIBRATION_BENCHMARK, "reference_time", stats, first.batch_size)
        kept.append(pooled.model_copy(update={"measured_at": min(r.measured_at for r in group)}))
    return kept
