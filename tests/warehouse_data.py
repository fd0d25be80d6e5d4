"""Seeded data for the warehouse tests: a small known history and large synthetic batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from hardware.fingerprint import EnvironmentFingerprint
from warehouse.frames import records_frame
from warehouse.records import AlertRecord, CompatibilityRecord, ResultRecord, RunRecord
from warehouse.store import Warehouse

ENVIRONMENT = EnvironmentFingerprint(
    hostname="test-host",
    cpu_model="Test CPU",
    cpu_cores=2,
    memory_bytes=24 * 2**30,
    os="Linux 6",
    python="3.11.7",
    packages={"torch": "2.9.0", "transformers": "5.24.0", "openvino": None},
    hardware={"cpu": "Test CPU"},
    git_sha="0123456789abcdef",
)
ENV = ENVIRONMENT.environment_id
START = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
#: bert latency per night: flat at 10 ms, then 12 ms on the last night.
BERT_LATENCY = [10.0, 10.0, 11.0, 9.0, 10.0, 12.0]
CATALOG = [
    {"model_type": "bert", "family": "encoder-only", "task": "feature-extraction",
     "tier": "critical"},
    {"model_type": "gpt2", "family": "decoder-only", "task": "text-generation", "tier": "critical"},
]


def run_id(night: int) -> str:
    """The id of the run of night `night` (0-based)."""
    return f"run-{night:02d}"


def run(night: int) -> RunRecord:
    """The run of night `night`."""
    return RunRecord(
        run_id=run_id(night), flow="nightly", started_at=START + timedelta(days=night),
        git_sha=f"sha{night}", environment_id=ENV, parameters={"night": night},
    )


def result(
    night: int, model_type: str = "bert", value: float = 10.0, **fields: object
) -> ResultRecord:
    """A latency result of night `night`, fields overridable."""
    base: dict[str, object] = {
        "run_id": run_id(night), "environment_id": ENV, "model_type": model_type,
        "hardware": "cpu", "benchmark": "inference", "metric": "latency_ms", "value": value,
        "unit": "ms", "measured_at": START + timedelta(days=night, minutes=5),
    }
    base.update(fields)
    return ResultRecord(**base)


def small_history() -> dict[str, list]:
    """Six nights: bert and gpt2 latency on cpu with samples, compatibility, one alert."""
    nights = range(len(BERT_LATENCY))
    results = []
    for night in nights:
        bert = BERT_LATENCY[night]
        results.append(result(night, "bert", bert, n=3, p50=bert, p90=bert + 0.5, p99=bert + 1,
                              samples=[bert - 0.1, bert, bert + 1]))
        results.append(result(night, "gpt2", 20.0 + night))
        results.append(result(night, "bert", 100.0, benchmark="throughput", metric="throughput",
                              unit="items/s", batch_size=4))
    last = START + timedelta(days=5)
    compatibility = [
        CompatibilityRecord(run_id=run_id(5), environment_id=ENV, model_type="bert", hardware="cpu",
                            status="pass", seconds=1.5, details={"outputs": ["embedding"]},
                            checked_at=last),
        CompatibilityRecord(run_id=run_id(5), environment_id=ENV, model_type="gpt2", hardware="cpu",
                            status="fail", error_type="RuntimeError", message="boom", seconds=2.0,
                            checked_at=last),
        CompatibilityRecord(run_id=run_id(5), environment_id=ENV, model_type="gpt2",
                            hardware="openvino", status="skip", message="openvino absent",
                            checked_at=last),
        CompatibilityRecord(run_id=run_id(4), environment_id=ENV, model_type="gpt2", hardware="cpu",
                            status="pass", seconds=2.0, checked_at=START + timedelta(days=4)),
    ]
    alerts = [
        AlertRecord(alert_id="bert-cpu-latency", model_type="bert", hardware="cpu",
                    precision="fp32", batch_size=1, benchmark="inference", metric="latency_ms",
                    first_bad_run_id=run_id(5), severity="high", change=0.2, confidence=0.99,
                    p_value=0.01, opened_at=START + timedelta(days=5), message="bert 20% slower"),
    ]
    return {"runs": [run(night) for night in nights], "results": results,
            "compatibility": compatibility, "alerts": alerts}


def fill(path: Path) -> Path:
    """A warehouse at `path` holding `small_history()`, written through the public API."""
    history = small_history()
    with Warehouse.open(path, quarantine_dir=path.parent / "quarantine") as wh:
        wh.record_environment(ENVIRONMENT)
        wh.load_frame("runs", records_frame("runs", history["runs"]))
        wh.record_models(CATALOG)
        wh.load_results(history["results"])
        wh.load_compatibility(history["compatibility"])
        wh.upsert_alerts(history["alerts"])
    return path


def results_frame(runs: list[str], series: int, seed: int = 0) -> pl.DataFrame:
    """`len(runs) * series` valid latency rows, one per (run, series), with seeded values."""
    rng = np.random.default_rng(seed)
    keys = pl.DataFrame({"model_type": [f"model_{i:05d}" for i in range(series)]})
    times = pl.DataFrame({
        "run_id": runs,
        "measured_at": [START + timedelta(days=i) for i in range(len(runs))],
    })
    return times.join(keys, how="cross").with_columns(
        environment_id=pl.lit(ENV), hardware=pl.lit("cpu"), precision=pl.lit("fp32"),
        batch_size=pl.lit(1, pl.Int32), benchmark=pl.lit("inference"),
        metric=pl.lit("latency_ms"), unit=pl.lit("ms"),
        value=pl.Series(rng.gamma(9.0, 1.0, len(runs) * series)),
    )
