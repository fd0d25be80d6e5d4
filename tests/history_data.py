"""Seeded synthetic benchmark history for the report, chart and metrics tests.

Twenty nightly runs of five models on three backends. Two changes are planted so the charts have
something to show: bert on cpu gets 30% slower from run 12, gpt2 on cuda 25% faster from run 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hardware.fingerprint import EnvironmentFingerprint
from warehouse.records import AlertRecord, CompatibilityRecord, ResultRecord, RunRecord
from warehouse.store import Warehouse

MODELS = {"bert": 12.0, "gpt2": 30.0, "t5": 45.0, "vit": 20.0, "whisper": 80.0}
#: The catalog snapshot: the five measured models plus two never checked (coverage < 100%).
CATALOG = (
    {"model_type": "bert", "family": "encoder-only", "task": "fill-mask", "tier": "critical"},
    {"model_type": "gpt2", "family": "decoder-only", "task": "text-generation", "tier": "critical"},
    {"model_type": "t5", "family": "encoder-decoder", "task": "text2text-generation",
     "tier": "critical"},
    {"model_type": "vit", "family": "vision", "task": "image-classification", "tier": "critical"},
    {"model_type": "whisper", "family": "speech/audio", "task": "automatic-speech-recognition",
     "tier": "critical"},
    {"model_type": "albert", "family": "encoder-only", "task": "fill-mask", "tier": "high"},
    {"model_type": "mamba", "family": "state-space", "task": "text-generation", "tier": "medium"},
)
HARDWARE = {"cpu": 1.0, "openvino": 0.6, "cuda": 0.15}
BATCH_SIZES = (1, 4, 16)
#: Concurrent workers of the throughput benchmark, cycled over the runs.
WORKERS = (2, 4, 8)
RUNS = 20
ENVIRONMENT = EnvironmentFingerprint(
    hostname="synthetic", cpu_model="Synthetic CPU", cpu_cores=8, memory_bytes=16 << 30,
    os="Linux", python="3.11", packages={"torch": "2.0"}, hardware={"cpu": "Synthetic CPU"},
    git_sha="0" * 40,
)
SLOWER = ("bert", "cpu", 12, 1.30)
FASTER = ("gpt2", "cuda", 10, 0.75)
START = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)


@dataclass
class History:
    """Everything one synthetic history holds, as records."""

    runs: list[RunRecord]
    results: list[ResultRecord]
    compatibility: list[CompatibilityRecord]
    alerts: list[AlertRecord]

    @property
    def last_run_id(self) -> str:
        return self.runs[-1].run_id

    def frame(self, kind: str) -> pl.DataFrame:
        """The records of one kind (`results`, `compatibility`, `alerts`) as a polars frame."""
        return pl.DataFrame([r.model_dump() for r in getattr(self, kind)])


def _factor(model: str, hardware: str, run: int) -> float:
    for change_model, change_hw, from_run, factor in (SLOWER, FASTER):
        if (model, hardware) == (change_model, change_hw) and run >= from_run:
            return factor
    return 1.0


def make_history(seed: int = 7) -> History:
    """A reproducible history: the same seed gives the same rows."""
    rng = np.random.default_rng(seed)
    runs, results, compatibility = [], [], []
    for run in range(RUNS):
        run_id = f"run-{run:02d}"
        at = START + timedelta(days=run)
        runs.append(
            RunRecord(run_id=run_id, flow="nightly", started_at=at,
                      ended_at=at + timedelta(minutes=40), status="completed",
                      git_sha="0" * 40, environment_id=ENVIRONMENT.environment_id)
        )
        for model, base_ms in MODELS.items():
            for hardware, speed in HARDWARE.items():
                if model == "whisper" and hardware == "openvino":
                    status, error = "fail", "RuntimeError"
                elif model == "t5" and hardware == "cuda" and run % 4 == 3:
                    status, error = "fail", "OutOfMemoryError"
                else:
                    status, error = "pass", None
                compatibility.append(
                    CompatibilityRecord(run_id=run_id, environment_id=ENVIRONMENT.environment_id,
                                        model_type=model, hardware=hardware, status=status,
                                        error_type=error, seconds=1.5, checked_at=at)
                )
                if status == "fail":
                    continue
                for batch in BATCH_SIZES:
                    center = base_ms * speed * batch**0.7 * _factor(model, hardware, run)
                    samples = rng.normal(center, center * 0.03, size=20)
                    results.append(
                        ResultRecord(
                            run_id=run_id, environment_id=ENVIRONMENT.environment_id,
                            model_type=model, hardware=hardware, batch_size=batch,
                            benchmark="inference",
                            metric="latency", value=float(np.median(samples)), unit="ms",
                            n=samples.size, mean=float(samples.mean()),
                            stdev=float(samples.std(ddof=1)),
                            p50=float(np.median(samples)),
                            p90=float(np.percentile(samples, 90)),
                            p99=float(np.percentile(samples, 99)),
                            min=float(samples.min()), max=float(samples.max()),
                            measured_at=at + timedelta(minutes=batch),
                        )
                    )
                    results.append(
                        ResultRecord(
                            run_id=run_id, environment_id=ENVIRONMENT.environment_id,
                            model_type=model, hardware=hardware, batch_size=batch,
                            benchmark="inference", metric="throughput",
                            value=1000.0 * batch / float(samples.mean()), unit="items/s", n=1,
                            measured_at=at + timedelta(minutes=batch),
                        )
                    )
                workers = WORKERS[run % len(WORKERS)]
                sequential = 1000.0 / (base_ms * speed) * rng.normal(1.0, 0.02)
                concurrent = sequential * workers**0.8
                for metric, value, unit in (
                    ("sequential_throughput", sequential, "items/s"),
                    ("concurrent_throughput", concurrent, "items/s"),
                    ("speedup", concurrent / sequential, "ratio"),
                    ("concurrent_workers", workers, "count"),
                ):
                    results.append(
                        ResultRecord(
                            run_id=run_id, environment_id=ENVIRONMENT.environment_id,
                            model_type=model, hardware=hardware, benchmark="throughput",
                            metric=metric, value=float(value), unit=unit, n=1,
                            measured_at=at + timedelta(minutes=30),
                        )
                    )
    slower_run = f"run-{SLOWER[2]:02d}"
    alerts = [
        AlertRecord(
            alert_id="alert-bert-cpu-1", model_type="bert", hardware="cpu", precision="fp32",
            batch_size=1, benchmark="inference", metric="latency", first_bad_run_id=slower_run,
            severity="high", change=0.30, confidence=0.999, p_value=0.001,
            opened_at=START + timedelta(days=SLOWER[2]),
            message="bert on cpu: latency 30% higher than baseline",
        ),
        AlertRecord(
            alert_id="alert-t5-cuda-4", model_type="t5", hardware="cuda", precision="fp32",
            batch_size=4, benchmark="inference", metric="latency", first_bad_run_id="run-02",
            severity="low", change=0.06, confidence=0.96, p_value=0.04, status="closed",
            opened_at=START + timedelta(days=2), closed_at=START + timedelta(days=4),
            closed_by_run_id="run-04", message="t5 on cuda: recovered",
        ),
    ]
    return History(runs=runs, results=results, compatibility=compatibility, alerts=alerts)


_BUILT: dict[int, Path] = {}


def shared_warehouse(tmp_path_factory: pytest.TempPathFactory, seed: int = 7) -> Path:
    """The synthetic warehouse of `seed`, built once per test session and then only read."""
    if seed not in _BUILT:
        root = tmp_path_factory.mktemp(f"history-{seed}")
        _BUILT[seed] = fill_warehouse(root / "warehouse.duckdb", make_history(seed))
    return _BUILT[seed]


def fill_warehouse(path: Path, history: History) -> Path:
    """Write `history` into a new warehouse at `path` through the store's load API."""
    with Warehouse.open(path, quarantine_dir=path.parent / "quarantine") as wh:
        wh.record_environment(ENVIRONMENT)
        for run in history.runs:
            wh.record_run(run)
        wh.record_models(CATALOG)
        wh.load_results(history.results)
        wh.load_compatibility(history.compatibility)
        wh.upsert_alerts(history.alerts)
    return path
