"""Warehouse performance: validated ingest, one-series history, latest vs baseline.

Figures (issue #5 goals): ingest 1M result rows <= 5 s (Great Expectations validation included),
history of one series over 10M rows p50 <= 50 ms, latest-vs-baseline over 10k series <= 2 s.

    python benchmarks/bench_warehouse.py              # the issue's sizes (10M rows; minutes)
    python benchmarks/bench_warehouse.py --scale 0.02 # a quick run

Data: 10k series (1000 model types x cpu/openvino x 5 metrics), one row per series per nightly
run; 100 runs (1M rows) per load. Latency rows carry n/mean/stdev/p50/p90/p99/min/max.
On a shared machine the wall times depend on the load; the CPU seconds of a load do not much.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

from hardware.fingerprint import EnvironmentFingerprint  # noqa: E402
from warehouse import queries  # noqa: E402
from warehouse.frames import records_frame  # noqa: E402
from warehouse.records import RunRecord  # noqa: E402
from warehouse.store import Warehouse  # noqa: E402

SERIES = 10_000
MODELS = SERIES // 10
METRICS = (
    ("latency_ms", "ms", 12.0),
    ("first_token_ms", "ms", 30.0),
    ("throughput", "items/s", 80.0),
    ("peak_memory", "bytes", 4e8),
    ("load_s", "s", 1.5),
)
START = datetime(2023, 1, 1, 2, 0, tzinfo=UTC)
ENVIRONMENT = EnvironmentFingerprint(
    hostname="bench", cpu_model=platform.processor() or "cpu", cpu_cores=os.cpu_count() or 0,
    memory_bytes=0, os=platform.system(), python=platform.python_version(), packages={},
    hardware={"cpu": None}, git_sha="bench",
)


def series_frame() -> pl.DataFrame:
    """The 10k series: model type, hardware, metric, unit and the series' base value."""
    rows = [
        (f"model_{m:04d}", hardware, metric, unit, base * (1 + (m % 17) / 10))
        for m in range(MODELS)
        for hardware in ("cpu", "openvino")
        for metric, unit, base in METRICS
    ]
    columns = ["model_type", "hardware", "metric", "unit", "base"]
    return pl.DataFrame(rows, schema=columns, orient="row")


def run_ids(first: int, count: int) -> list[str]:
    """Ids of nightly runs first .. first + count - 1."""
    return [f"run-{night:05d}" for night in range(first, first + count)]


def results_batch(series: pl.DataFrame, first_night: int, nights: int, seed: int) -> pl.DataFrame:
    """One row per series per night, values with 3% noise around each series' base."""
    rng = np.random.default_rng(seed)
    runs = pl.DataFrame({
        "run_id": run_ids(first_night, nights),
        "measured_at": [START + timedelta(days=first_night + i) for i in range(nights)],
    })
    frame = runs.join(series, how="cross")
    value = frame["base"].to_numpy() * rng.normal(1.0, 0.03, frame.height).clip(0.5, None)
    latency = frame["unit"] == "ms"
    frame = frame.with_columns(value=pl.Series(value)).with_columns(
        environment_id=pl.lit(ENVIRONMENT.environment_id), precision=pl.lit("fp32"),
        batch_size=pl.lit(1, pl.Int32), benchmark=pl.lit("inference"),
        n=pl.when(latency).then(pl.lit(50, pl.Int32)),
        mean=pl.when(latency).then(pl.col("value") * 1.01),
        stdev=pl.when(latency).then(pl.col("value") * 0.02),
        p50=pl.when(latency).then(pl.col("value")),
        p90=pl.when(latency).then(pl.col("value") * 1.05),
        p99=pl.when(latency).then(pl.col("value") * 1.10),
        min=pl.when(latency).then(pl.col("value") * 0.95),
        max=pl.when(latency).then(pl.col("value") * 1.20),
    )
    return frame.drop("base")


def bench(scale: float, path: Path, history_queries: int, window: int) -> dict[str, object]:
    """Build the warehouse at `path` through the validated load path, then time the questions."""
    series = series_frame()
    total_nights = max(2, round(1000 * scale))
    nights_per_load = max(1, round(100 * scale))
    path.unlink(missing_ok=True)
    figures: dict[str, object] = {"scale": scale, "series": SERIES}

    started = time.perf_counter()
    with Warehouse.open(path, quarantine_dir=path.parent / "quarantine") as wh:
        wh.record_environment(ENVIRONMENT)  # also imports GX and builds its context once
        figures["gx_first_use_s"] = round(time.perf_counter() - started, 2)
        runs = [
            RunRecord(run_id=rid, flow="bench", git_sha="bench",
                      environment_id=ENVIRONMENT.environment_id,
                      started_at=START + timedelta(days=i))
            for i, rid in enumerate(run_ids(0, total_nights))
        ]
        wh.load_frame("runs", records_frame("runs", runs))
        loads = []
        for first in range(0, total_nights, nights_per_load):
            count = min(nights_per_load, total_nights - first)
            batch = results_batch(series, first, count, seed=first)
            began, cpu = time.perf_counter(), time.process_time()
            report = wh.load_frame("results", batch)
            loads.append({"rows": batch.height, "stored_before": first * SERIES,
                          "seconds": time.perf_counter() - began,
                          "cpu_seconds": time.process_time() - cpu,
                          "validation_seconds": report.validation_seconds})
            assert report.inserted == batch.height
            print(f"  loaded {batch.height:>9,} rows into {first * SERIES:>11,}: "
                  f"{loads[-1]['seconds']:.2f} s, {loads[-1]['cpu_seconds']:.2f} s CPU "
                  f"(validation {report.validation_seconds:.2f} s)")
    figures["file_mb"] = round(path.stat().st_size / 1e6, 1)
    figures["ingest_first_s"] = round(loads[0]["seconds"], 2)
    figures["ingest_first_cpu_s"] = round(loads[0]["cpu_seconds"], 2)
    figures["ingest_first_rows"] = loads[0]["rows"]
    figures["ingest_validation_s"] = round(loads[0]["validation_seconds"], 2)
    figures["ingest_median_s"] = round(statistics.median(load["seconds"] for load in loads), 2)
    figures["ingest_last_s"] = round(loads[-1]["seconds"], 2)
    figures.update(time_queries(path, history_queries, window))
    figures.update(compact_and_time(path, history_queries))
    return figures


def compact_and_time(path: Path, history_queries: int) -> dict[str, object]:
    """Compact `results`, then time the one-series histories again."""
    with Warehouse.open(path, quarantine_dir=path.parent / "quarantine") as wh:
        report = wh.compact()
    after = time_queries(path, history_queries, window=0)
    return {
        "compact_s": round(report.seconds, 1),
        "row_groups": f"{report.row_groups_before} -> {report.row_groups_after}",
        "history_p50_ms_compacted": after["history_p50_ms"],
        "history_p95_ms_compacted": after["history_p95_ms"],
    }


def time_queries(path: Path, history_queries: int, window: int) -> dict[str, object]:
    """Time one-series histories and latest-vs-baseline (skipped for window 0)."""
    figures: dict[str, object] = {}
    series = series_frame()
    rng = np.random.default_rng(1)
    with Warehouse.open(path, read_only=True) as wh:
        figures["rows"] = wh.table_counts()["results"]
        total_nights = wh.table_counts()["runs"]
        timings = []
        for index in rng.choice(series.height, size=history_queries, replace=False):
            model_type, hardware, metric = series.row(int(index))[:3]
            began = time.perf_counter()
            history = queries.series_history(wh, model_type, hardware, metric)
            timings.append(time.perf_counter() - began)
            assert history.height == total_nights
        figures["history_p50_ms"] = round(statistics.median(timings) * 1000, 1)
        figures["history_p95_ms"] = round(float(np.percentile(timings, 95)) * 1000, 1)
        if window == 0:
            return figures

        baseline = []
        for _ in range(3):
            began = time.perf_counter()
            frame = queries.latest_vs_baseline(wh, window=window)
            baseline.append(time.perf_counter() - began)
            assert frame.height == SERIES
        figures["latest_vs_baseline_s"] = round(statistics.median(baseline), 2)
    return figures


def main() -> None:
    """Parse arguments, run, print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the issue's sizes (1.0 = 1M-row loads up to 10M rows)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the DuckDB file goes")
    parser.add_argument("--history-queries", type=int, default=50, help="series histories to time")
    parser.add_argument("--window", type=int, default=10, help="baseline window (earlier runs)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the warehouse at this path and keep it (default: a temp dir)")
    parser.add_argument("--queries-only", type=Path, default=None, metavar="PATH",
                        help="only time the queries (then compact and time histories again) "
                             "on a warehouse kept with --keep")
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    if args.queries_only:
        figures = time_queries(args.queries_only, args.history_queries, args.window)
        figures.update(compact_and_time(args.queries_only, args.history_queries))
        print(json.dumps(figures, indent=2))
        return
    if args.keep:
        figures = bench(args.scale, args.keep, args.history_queries, args.window)
    else:
        with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
            figures = bench(args.scale, Path(workdir) / "bench.duckdb", args.history_queries,
                            args.window)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"ingest {figures['ingest_first_rows']:,} rows into an empty warehouse: "
          f"{figures['ingest_first_s']} s, {figures['ingest_first_cpu_s']} s CPU "
          f"(GX validation {figures['ingest_validation_s']} s; "
          f"goal <= 5 s at 1M); median per load {figures['ingest_median_s']} s, "
          f"last load {figures['ingest_last_s']} s")
    print(f"series history over {figures['rows']:,} rows: p50 {figures['history_p50_ms']} ms, "
          f"p95 {figures['history_p95_ms']} ms (goal p50 <= 50 ms at 10M)")
    print(f"latest vs baseline (window {args.window}) over {SERIES:,} series: "
          f"{figures['latest_vs_baseline_s']} s (goal <= 2 s)")
    print(f"compaction {figures['compact_s']} s (row groups {figures['row_groups']}); then "
          f"series history p50 {figures['history_p50_ms_compacted']} ms, "
          f"p95 {figures['history_p95_ms_compacted']} ms")
    print(f"file {figures['file_mb']} MB; "
          f"first GX use (import + context) {figures['gx_first_use_s']} s")


if __name__ == "__main__":
    main()
