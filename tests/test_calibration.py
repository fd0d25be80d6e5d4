"""Calibrated timing: the reference workload, the interleaved loop, its rows in a real warehouse,
and alerts that tell a host change from a model change."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info
from warehouse_data import ENV, ENVIRONMENT

from skillsets.bench.calibration import REFERENCE_VERSION, REFERENCE_WORK, Reference, reference
from skillsets.bench.measure import (
    MeasureConfig,
    measure_calibrated,
    measure_latency,
    measure_paired,
)
from skillsets.bench.rows import METRIC_UNITS, RowMaker, is_reference_row, pool_reference_rows
from skillsets.bench.spec import BenchmarkSpec
from skillsets.bench.task import run_benchmark
from warehouse.frames import records_frame
from warehouse.records import ResultRecord, RunRecord
from warehouse.regressions import detect_regressions
from warehouse.store import Warehouse
from warehouse.validation import RejectedBatchError

QUICK = MeasureConfig(warmup_runs=1, min_iterations=4, min_seconds=0.0)


def _numpy_blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info()
            if i["user_api"] == "blas" and "numpy" in i["filepath"]]


def test_the_reference_does_fixed_work_in_every_call_and_process() -> None:
    assert REFERENCE_VERSION == 1
    assert REFERENCE_WORK.gemm_flops == 2 * 256**3
    assert REFERENCE_WORK.stream_bytes == 3 * 4 * 2**21
    assert REFERENCE_WORK.python_iterations == 3000
    ref = Reference()
    with ref.pinned():
        ref()
        first = ref.checksum()
        ref()
        assert ref.checksum() == first
        other = Reference()
        other()
        assert other.checksum() == first
    child = subprocess.run(
        [sys.executable, "-c", "from skillsets.bench.calibration import Reference\n"
         "r = Reference()\nwith r.pinned():\n    r()\nprint(repr(r.checksum()))"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    assert child.stdout.strip() == repr(first)


def test_pinned_holds_numpy_blas_to_one_thread_and_leaves_torch_alone() -> None:
    before, torch_threads = _numpy_blas_threads(), torch.get_num_threads()
    assert before, "numpy's bundled BLAS not found by threadpoolctl"
    with reference().pinned():
        assert _numpy_blas_threads() == [1] * len(before)
        assert torch.get_num_threads() == torch_threads
    assert _numpy_blas_threads() == before


def test_the_interleaved_loop_returns_both_sample_sets() -> None:
    model_calls, reference_calls = [], []
    stats = measure_calibrated(
        lambda: (model_calls.append(1), time.sleep(0.003)),
        lambda: reference_calls.append(1),
        MeasureConfig(warmup_runs=2, min_iterations=12, min_seconds=0.0, reference_share=1.0),
    )
    # a reference cheaper than the model: one after every model call
    assert stats.model.n == 12 and len(model_calls) == 2 + 12
    assert stats.reference.n == 12 and len(reference_calls) == 2 + 12
    assert stats.paired_with == tuple(range(12))
    assert stats.model.p50 >= 3.0 and stats.reference.p50 < 1.0
    assert stats.ratio == pytest.approx(stats.model.p50 / stats.reference.p50)


def test_paired_timing_alternates_and_takes_the_difference_pair_by_pair() -> None:
    calls: list[str] = []
    stats = measure_paired(lambda: calls.append("prefill"),
                           lambda: (calls.append("generate"), time.sleep(0.002)),
                           MeasureConfig(warmup_runs=1, min_iterations=8, min_seconds=0.0))
    assert calls == ["prefill", "generate"] * 9
    assert stats.first.n == stats.second.n == 8
    differences = [b - a for a, b in zip(stats.first.samples_ms, stats.second.samples_ms,
                                         strict=True)]
    assert stats.difference_p50 == pytest.approx(float(np.median(differences)))
    assert stats.difference_p50 >= 2.0


def test_a_host_that_speeds_up_cancels_in_the_paired_difference() -> None:
    """The host gets 2 ms faster after each second call, and the second call costs 1 ms more
    than the first: timed in separate blocks the second comes out cheaper than the first
    (as whisper's generate came out below its own prefill); pair by pair it costs 1 ms more."""
    level = [12.0]

    def first() -> None:
        time.sleep(level[0] / 1000)

    def second() -> None:
        time.sleep((level[0] + 1.0) / 1000)
        level[0] -= 2.0

    config = MeasureConfig(warmup_runs=0, min_iterations=5, min_seconds=0.0)
    separate_first = measure_latency(first, config)
    separate_second = measure_latency(second, config)
    assert separate_second.p50 < separate_first.p50

    level[0] = 12.0
    stats = measure_paired(first, second, config)
    assert 0.7 <= stats.difference_p50 <= 1.6


def test_a_dear_reference_is_spaced_out_to_its_share() -> None:
    config = MeasureConfig(warmup_runs=0, min_iterations=20, min_seconds=0.0,
                           reference_share=0.25)
    stats = measure_calibrated(lambda: time.sleep(0.002), lambda: time.sleep(0.004), config)
    assert stats.model.n == 20
    assert 1 <= stats.reference.n < stats.model.n
    assert stats.paired_with[0] == 0
    assert list(stats.paired_with) == sorted(stats.paired_with)
    assert max(stats.paired_with) == stats.reference.n - 1
    # spent: at most the share of the model's time, plus the one call that crossed it
    assert (stats.reference.total_seconds
            <= 0.25 * stats.model.total_seconds + stats.reference.max / 1000)
    with pytest.raises(ValueError, match="reference_share"):
        MeasureConfig(reference_share=0.0)


def _calibrated_rows(run_id: str = "run-a") -> tuple[list[ResultRecord], object]:
    stats = measure_calibrated(lambda: time.sleep(0.001), reference(), QUICK)
    maker = RowMaker(run_id, ENV, "bert", "cpu", "fp32")
    rows = [maker.distribution("inference", "latency", stats.model, 1),
            maker.calibrated("inference", stats, 1),
            maker.reference(stats.reference)]
    return rows, stats


def test_rows_carry_the_calibrated_latency_and_the_reference_time() -> None:
    (latency, calibrated, ref), stats = _calibrated_rows()
    assert METRIC_UNITS["latency_calibrated"] == "x_ref"
    assert (calibrated.metric, calibrated.unit) == ("latency_calibrated", "x_ref")
    assert calibrated.value == pytest.approx(latency.p50 / stats.reference.p50)
    assert calibrated.n == latency.n
    assert calibrated.samples == pytest.approx([x / stats.reference.p50 for x in latency.samples])
    assert calibrated.p90 == pytest.approx(latency.p90 / stats.reference.p50)
    assert (ref.model_type, ref.benchmark, ref.metric, ref.unit) == (
        "_reference", "calibration", "reference_time", "ms")
    assert (ref.precision, ref.size, ref.batch_size) == ("v1", "tiny", 1)
    assert ref.value == pytest.approx(stats.reference.p50)
    assert is_reference_row(ref) and not is_reference_row(latency)


def test_reference_rows_of_a_run_pool_into_one_per_backend() -> None:
    (latency, calibrated, ref_a), _ = _calibrated_rows()
    (_, _, ref_b), _ = _calibrated_rows()
    stamped = ref_b.model_copy(update={"weights": "random:BertConfig:tiny", "parameters": 9})
    pooled = pool_reference_rows([ref_a, latency, stamped, calibrated])
    assert pooled[:2] == [latency, calibrated]
    (ref,) = pooled[2:]
    assert ref.n == ref_a.n + ref_b.n
    assert ref.samples == [*ref_a.samples, *ref_b.samples]
    assert ref.value == pytest.approx(float(np.median(ref.samples)))
    assert ref.weights is None and ref.parameters is None
    with pytest.raises(ValueError, match="no samples"):
        pool_reference_rows([ref_a, ref_b.model_copy(update={"samples": None})])


def test_a_retried_task_keeps_the_runs_first_stack_import() -> None:
    stack = RowMaker("run-a", ENV, "_stack", "cpu", "none")
    first = stack.scalar("inference", "stack_import_time", 12.0)
    again = stack.scalar("inference", "stack_import_time", 14.0)
    other = RowMaker("run-a", ENV, "_stack", "openvino", "none").scalar(
        "inference", "stack_import_time", 15.0)
    (latency, _, _), _ = _calibrated_rows()
    assert pool_reference_rows([first, latency, again, other]) == [first, latency, other]


def _warehouse(tmp_path: Path, nights: int) -> Warehouse:
    wh = Warehouse.open(tmp_path / "wh.duckdb", quarantine_dir=tmp_path / "quarantine")
    wh.record_environment(ENVIRONMENT)
    start = datetime(2025, 5, 1, 2, 0, tzinfo=UTC)
    wh.load_frame("runs", records_frame("runs", [
        RunRecord(run_id=f"n{night:02d}", flow="nightly", git_sha="sha",
                  environment_id=ENV, started_at=start + timedelta(days=night))
        for night in range(nights)]))
    return wh


def test_the_warehouse_accepts_the_rows_once_pooled(tmp_path: Path) -> None:
    (latency, calibrated, ref_a), _ = _calibrated_rows("n00")
    (_, _, ref_b), _ = _calibrated_rows("n00")
    with _warehouse(tmp_path, 1) as wh:
        with pytest.raises(RejectedBatchError, match="expect_compound_columns_to_be_unique"):
            wh.load_results([latency, calibrated, ref_a, ref_b])
        assert wh.load_results(pool_reference_rows([latency, calibrated, ref_a, ref_b])
                               ).inserted == 3
        stored = wh.query("SELECT model_type, benchmark, metric, unit, n FROM results "
                          "ORDER BY metric").rows()
    assert stored == [("bert", "inference", "latency", "ms", latency.n),
                      ("bert", "inference", "latency_calibrated", "x_ref", latency.n),
                      ("_reference", "calibration", "reference_time", "ms",
                       ref_a.n + ref_b.n)]


def test_a_benchmark_task_emits_calibrated_rows() -> None:
    spec = BenchmarkSpec(run_id="cal", model_type="bert", hardware="cpu", measure=QUICK,
                         measure_import=False)
    outcome = run_benchmark(spec)
    assert outcome.status == "ok", outcome.reason
    rows = {(row.model_type, row.metric): row for row in outcome.rows}
    latency = rows[("bert", "latency")]
    calibrated = rows[("bert", "latency_calibrated")]
    ref = rows[("_reference", "reference_time")]
    assert calibrated.value == pytest.approx(latency.p50 / ref.p50)
    assert ref.n >= 1 and calibrated.unit == "x_ref"
    assert any("reference v1" in note for note in outcome.notes)


def _night(night: int, raw: float, calibrated: float, ref: float,
           rng: np.random.Generator) -> list[ResultRecord]:
    at = datetime(2025, 5, 1, 2, 5, tzinfo=UTC) + timedelta(days=night)

    def row(model: str, benchmark: str, metric: str, unit: str, value: float,
            precision: str = "fp32") -> ResultRecord:
        return ResultRecord(run_id=f"n{night:02d}", environment_id=ENV, model_type=model,
                            hardware="cpu", precision=precision, benchmark=benchmark,
                            metric=metric, unit=unit, measured_at=at,
                            value=value * math.exp(rng.normal(0.0, 0.01)))

    return [row("bert", "inference", "latency", "ms", raw),
            row("bert", "inference", "latency_calibrated", "x_ref", calibrated),
            row("_reference", "calibration", "reference_time", "ms", ref, "v1")]


@pytest.mark.parametrize(("host", "model", "says"), [
    (1.2, 1.0, "The host changed, not the model"),
    (1.0, 1.2, "The model changed: the calibrated series moved too"),
])
def test_a_raw_alert_says_whether_host_or_model_moved(tmp_path: Path, host: float, model: float,
                                                     says: str) -> None:
    rng = np.random.default_rng(5)
    with _warehouse(tmp_path, 24) as wh:
        for night in range(24):
            h, m = (host, model) if night >= 20 else (1.0, 1.0)
            wh.load_results(_night(night, 10.0 * h * m, 2.0 * m, 5.0 * h, rng))
        alerts = detect_regressions(wh, "n23")
    by_metric = {a.metric: a for a in alerts}
    raw = by_metric["latency"]
    assert raw.first_bad_run_id == "n20"
    assert says in raw.message
    assert "robust CV" in raw.message and "smallest detectable step" in raw.message
    # both other series are judged too: the one that moved has its own alert
    moved = "reference_time" if host > 1 else "latency_calibrated"
    assert set(by_metric) == {"latency", moved}
