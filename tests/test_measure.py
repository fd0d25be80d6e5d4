"""The timing core, throughput and precision table, on plain callables and a tiny torch module."""

from __future__ import annotations

import gc
import mmap
import time

import numpy as np
import pytest
import torch

from hardware.names import UnknownNameError
from skillsets.bench.measure import (
    LatencyStats,
    MeasureConfig,
    measure_latency,
    measure_memory,
    pinned_threads,
    usable_cores,
)
from skillsets.bench.precision import PRECISIONS, parse_precisions, precision_support
from skillsets.bench.rows import METRIC_UNITS, RowMaker
from skillsets.bench.throughput import measure_throughput


def test_stats_match_numpy_on_seeded_samples() -> None:
    rng = np.random.default_rng(7)
    samples_ns = rng.integers(1_000_000, 5_000_000, size=101)
    stats = LatencyStats.from_samples_ns(samples_ns)
    ms = samples_ns / 1e6
    assert stats.n == 101
    assert stats.p50 == pytest.approx(np.median(ms))
    assert stats.p90 == pytest.approx(np.percentile(ms, 90))
    assert stats.p99 == pytest.approx(np.percentile(ms, 99))
    assert stats.mean == pytest.approx(ms.mean())
    assert stats.stdev == pytest.approx(ms.std(ddof=1))
    assert (stats.min, stats.max) == (pytest.approx(ms.min()), pytest.approx(ms.max()))
    assert stats.total_seconds == pytest.approx(ms.sum() / 1000)
    assert list(stats.samples_ms) == pytest.approx(list(ms))


def test_single_sample_has_zero_stdev_and_empty_is_refused() -> None:
    assert LatencyStats.from_samples_ns([2_000_000]).stdev == 0.0
    with pytest.raises(ValueError, match="zero iterations"):
        LatencyStats.from_samples_ns([])


def test_loop_runs_warmup_then_at_least_min_iterations() -> None:
    calls = []
    stats = measure_latency(
        lambda: calls.append(1), MeasureConfig(warmup_runs=4, min_iterations=7, min_seconds=0)
    )
    assert stats.n == 7
    assert len(calls) == 4 + 7


def test_loop_keeps_going_until_min_seconds() -> None:
    config = MeasureConfig(warmup_runs=0, min_iterations=2, min_seconds=0.05)
    stats = measure_latency(lambda: time.sleep(0.005), config)
    assert stats.n > 2
    assert stats.total_seconds >= 0.05
    assert stats.p50 == pytest.approx(5.0, rel=0.5)


def test_loop_stops_at_max_seconds() -> None:
    config = MeasureConfig(warmup_runs=0, min_iterations=1000, min_seconds=0.0, max_seconds=0.03)
    stats = measure_latency(lambda: time.sleep(0.01), config)
    assert 2 <= stats.n < 10


def test_gc_is_off_inside_the_timed_loop_and_restored() -> None:
    seen = []
    measure_latency(
        lambda: seen.append(gc.isenabled()),
        MeasureConfig(warmup_runs=1, min_iterations=3, min_seconds=0),
    )
    assert seen == [True, False, False, False]
    assert gc.isenabled()


def test_synchronize_runs_inside_each_timed_call() -> None:
    syncs = []
    measure_latency(
        lambda: None,
        MeasureConfig(warmup_runs=2, min_iterations=3, min_seconds=0),
        synchronize=lambda: syncs.append(1),
    )
    assert len(syncs) == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"warmup_runs": -1},
        {"min_iterations": 0},
        {"min_seconds": -1},
        {"min_seconds": 5, "max_seconds": 1},
    ],
)
def test_config_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        MeasureConfig(**kwargs)


def test_threads_pinned_to_usable_cores_and_restored() -> None:
    before = torch.get_num_threads()
    with pinned_threads() as n:
        assert n == usable_cores()
        assert torch.get_num_threads() == n
    with pinned_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_tiny_torch_forward_and_memory() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 8)
    ).eval()
    x = torch.randn(4, 64)

    def forward() -> torch.Tensor:
        with torch.inference_mode():
            return model(x)

    stats = measure_latency(
        forward, MeasureConfig(warmup_runs=2, min_iterations=20, min_seconds=0.01)
    )
    assert stats.n >= 20 and 0 < stats.min <= stats.p50 <= stats.p90 <= stats.p99 <= stats.max

    def allocate() -> None:
        block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB, touched
        time.sleep(0.02)
        del block

    peak = measure_memory(allocate)
    assert peak.rss_delta_bytes > 32 * 1024 * 1024
    assert peak.cuda_max_allocated_bytes is None


def test_throughput_counts_items_and_speedup() -> None:
    # sleep releases the GIL, like torch kernels: 4 threads overlap, so ~4x the items/s.
    result = measure_throughput(
        lambda: time.sleep(0.01), batch_size=2, workers=4, calls_per_worker=3, warmup_runs=0
    )
    assert result.calls == 12
    assert result.sequential_items_per_s == pytest.approx(24 / result.sequential_seconds)
    assert result.concurrent_items_per_s == pytest.approx(24 / result.concurrent_seconds)
    assert result.speedup == pytest.approx(
        result.concurrent_items_per_s / result.sequential_items_per_s
    )
    assert result.speedup > 2


def test_throughput_reraises_a_worker_error() -> None:
    def boom() -> None:
        raise ZeroDivisionError("worker failed")

    with pytest.raises(ZeroDivisionError, match="worker failed"):
        measure_throughput(boom, batch_size=1, workers=2, calls_per_worker=1, warmup_runs=0)


def test_precision_table() -> None:
    assert precision_support("cpu", "fp32").supported
    assert precision_support("cpu", "bf16").supported
    assert precision_support("cpu", "int8").supported
    assert precision_support("cuda", "fp16").supported
    fp16_cpu = precision_support("cpu", "fp16")
    assert not fp16_cpu.supported and "bf16" in fp16_cpu.reason
    assert not precision_support("openvino", "int8").supported
    with pytest.raises(UnknownNameError, match="fp16"):
        precision_support("cpu", "fp61")
    assert parse_precisions("all") == list(PRECISIONS)
    assert parse_precisions("fp32, bf16") == ["fp32", "bf16"]


def test_rows_carry_statistics_and_units() -> None:
    maker = RowMaker("run-1", "env-1", "bert", "cpu", "fp32")
    stats = LatencyStats.from_samples_ns([1_000_000, 2_000_000, 3_000_000])
    row = maker.distribution("inference", "latency", stats, 4)
    assert (row.value, row.p50, row.n, row.unit, row.batch_size) == (2.0, 2.0, 3, "ms", 4)
    assert row.samples == [1.0, 2.0, 3.0]
    assert maker.scalar("throughput", "speedup", 1.5, 2).unit == "ratio"
    assert set(METRIC_UNITS) >= {"latency", "import_time", "instantiation_time", "init_time"}


def test_sampled_peak_is_the_fallback_where_the_kernel_mark_cannot_be_reset() -> None:
    from skillsets.bench.measure import _sampled_peak

    def allocate() -> None:
        # A fresh anonymous mapping with every page touched: heap memory freed by earlier tests
        # (or an allocator that caches it) would not raise RSS, a new mapping always does.
        size = 64 * 1024 * 1024
        block = mmap.mmap(-1, size)
        for offset in range(0, size, mmap.PAGESIZE):
            block[offset] = 1
        time.sleep(0.05)
        block.close()

    baseline, peak = _sampled_peak(allocate, False, 0.001)
    assert peak - baseline > 32 * 1024 * 1024


def test_generated_tokens_counts_new_tokens_only() -> None:
    from skillsets.bench.inference import generated_tokens

    prompt = {"input_ids": torch.zeros(2, 5, dtype=torch.long)}
    assert generated_tokens(torch.zeros(2, 13, dtype=torch.long), prompt, False) == 8
    assert generated_tokens(torch.zeros(2, 9, dtype=torch.long), {}, True) == 8
    assert generated_tokens(torch.zeros(2, 13), {}, False) is None
    assert generated_tokens({"logits": 1}, prompt, False) is None
