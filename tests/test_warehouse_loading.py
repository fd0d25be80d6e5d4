"""Loading: every batch validated by Great Expectations, rejects quarantined, loads idempotent."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from warehouse_data import ENV, ENVIRONMENT, fill, result, run, run_id

from warehouse.records import AlertRecord, CompatibilityRecord
from warehouse.store import Warehouse, WarehouseReadOnlyError
from warehouse.validation import RejectedBatchError

KEY_NAME = (
    "expect_compound_columns_to_be_unique"
    "(run_id, model_type, hardware, precision, size, batch_size, benchmark, metric)"
)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    """A warehouse holding the environment and the runs of nights 0..2, nothing else."""
    with Warehouse.open(tmp_path / "wh.duckdb", quarantine_dir=tmp_path / "quarantine") as wh:
        wh.record_environment(ENVIRONMENT)
        for night in range(3):
            wh.record_run(run(night))
        yield wh


def test_loading_the_same_results_twice_adds_nothing(wh: Warehouse) -> None:
    batch = [result(0, "bert", 10.0), result(0, "gpt2", 20.0), result(1, "bert", 11.0)]
    first = wh.load_results(batch)
    second = wh.load_results(batch)
    assert (first.received, first.inserted, first.already_present) == (3, 3, 0)
    assert (second.inserted, second.already_present) == (0, 3)
    assert wh.table_counts()["results"] == 3
    # A batch mixing stored and new rows adds only the new ones.
    third = wh.load_results([*batch, result(2, "bert", 12.0)])
    assert (third.inserted, third.already_present) == (1, 3)


def test_the_bad_batch_is_rejected_with_its_three_expectations_and_quarantined(
    wh: Warehouse, tmp_path: Path
) -> None:
    good = result(0, "bert", 10.0, metric="latency_ms")
    batch = [
        good,
        result(0, "gpt2", math.nan, metric="latency_ms"),  # NaN latency
        result(0, "bert", -5.0, metric="peak_memory", unit="bytes"),  # negative memory
        good.model_copy(),  # duplicate key
    ]
    with pytest.raises(RejectedBatchError) as caught:
        wh.load_results(batch)
    error = caught.value
    assert sorted(error.failed_names) == sorted([
        "expect_column_values_to_not_be_null(value)",
        "expect_column_values_to_be_between(value)",
        KEY_NAME,
    ])
    for name in error.failed_names:
        assert name in str(error)
    assert "Nothing of it was loaded" in str(error)
    assert wh.table_counts()["results"] == 0
    folder = error.quarantined_at
    assert folder is not None and folder.parent == tmp_path / "quarantine"
    quarantined = pl.read_parquet(folder / "batch.parquet")
    assert quarantined.height == 4
    report = json.loads((folder / "validation.json").read_text())
    assert sorted(f["name"] for f in report["failed_expectations"]) == sorted(error.failed_names)
    assert report["great_expectations"]["success"] is False


def test_bad_values_hidden_in_statistics_and_samples_are_rejected(wh: Warehouse) -> None:
    with pytest.raises(RejectedBatchError) as caught:
        wh.load_results([
            result(0, "bert", 10.0, p50=math.nan),
            result(0, "gpt2", 10.0, samples=[1.0, -2.0]),
            result(0, "t5", 10.0, p50=12.0, p90=11.0),
            result(0, "vit", 10.0, unit="furlongs"),
        ])
    assert sorted(caught.value.failed_names) == sorted([
        "expect_column_values_to_be_between(non_finite_count)",
        "expect_column_values_to_be_between(samples_min)",
        "expect_column_pair_values_a_to_be_greater_than_b(p90, p50)",
        "expect_column_values_to_be_in_set(unit)",
    ])


def test_results_must_belong_to_a_recorded_run(wh: Warehouse) -> None:
    with pytest.raises(RejectedBatchError, match="record the run first") as caught:
        wh.load_results([result(7, "bert", 10.0)])
    assert caught.value.failed_names == ["expect_column_values_to_be_in_set(run_id)"]


def test_a_run_needs_its_environment_first(tmp_path: Path) -> None:
    with Warehouse.open(tmp_path / "wh.duckdb", quarantine_dir=tmp_path / "q") as wh:
        with pytest.raises(RejectedBatchError, match="record the environment first"):
            wh.record_run(run(0))


def test_compatibility_failures_need_a_cause_and_load_idempotently(wh: Warehouse) -> None:
    ok = CompatibilityRecord(run_id=run_id(0), environment_id=ENV, model_type="bert",
                             hardware="cpu", status="pass", seconds=1.0)
    causeless = CompatibilityRecord(run_id=run_id(0), environment_id=ENV, model_type="gpt2",
                                    hardware="cpu", status="fail")
    with pytest.raises(RejectedBatchError) as caught:
        wh.load_compatibility([ok, causeless])
    assert caught.value.failed_names == [
        "expect_column_values_to_not_be_null(error_type) where status == 'fail'"
    ]
    assert wh.load_compatibility([ok]).inserted == 1
    assert wh.load_compatibility([ok]).inserted == 0


def test_alerts_are_upserted_by_id(wh: Warehouse) -> None:
    alert = AlertRecord(
        alert_id="a1", model_type="bert", hardware="cpu", precision="fp32", batch_size=1,
        benchmark="inference", metric="latency_ms", first_bad_run_id=run_id(1),
        severity="high", change=0.2, confidence=0.99, p_value=0.01,
    )
    assert wh.upsert_alerts([alert]).inserted == 1
    closed = alert.model_copy(
        update={"status": "closed", "closed_at": alert.opened_at, "closed_by_run_id": run_id(2)}
    )
    report = wh.upsert_alerts([closed])
    assert (report.inserted, report.already_present) == (0, 1)
    stored = wh.query("SELECT status, closed_by_run_id FROM alerts")
    assert stored.rows() == [("closed", run_id(2))]


def test_runs_are_recorded_once_and_finished(wh: Warehouse) -> None:
    assert wh.record_run(run(0)).inserted == 0
    wh.finish_run(run_id(0), "completed")
    row = wh.query(
        "SELECT status, ended_at IS NOT NULL AS ended FROM runs WHERE run_id = $1", [run_id(0)]
    )
    assert row.rows() == [("completed", True)]
    with pytest.raises(ValueError, match="record it first"):
        wh.finish_run("run-99", "failed")
    with pytest.raises(ValueError, match="not one of completed, failed"):
        wh.finish_run(run_id(0), "done")


def test_models_snapshot_keeps_the_latest_entry_and_the_whole_entry(wh: Warehouse) -> None:
    wh.record_models([{"model_type": "bert", "family": "encoder-only", "priority": "critical"}])
    wh.record_models([{"model_type": "bert", "family": "encoder-only", "tier": "high", "x": 1}])
    rows = wh.query("SELECT model_type, tier, details->>'x' AS x FROM models")
    assert rows.rows() == [("bert", "high", "1")]


def test_frames_with_unknown_or_uncastable_columns_are_refused(wh: Warehouse) -> None:
    with pytest.raises(ValueError, match="unknown column"):
        wh.load_frame("results", pl.DataFrame({"run_id": ["x"], "speed": [1.0]}))
    with pytest.raises(ValueError, match="results.value: cannot store"):
        wh.load_frame("results", pl.DataFrame({"value": ["fast"]}))
    with pytest.raises(KeyError, match="unknown table 'metrics'"):
        wh.load_frame("metrics", pl.DataFrame({"a": [1]}))


def test_readers_cannot_write(tmp_path: Path) -> None:
    path = fill(tmp_path / "wh.duckdb")
    with Warehouse.open(path, read_only=True) as reader:
        with pytest.raises(WarehouseReadOnlyError, match="opened read-only"):
            reader.load_results([result(0)])
        with pytest.raises(WarehouseReadOnlyError, match="DELETE statements"):
            reader.query("DELETE FROM results")
        with pytest.raises(ValueError, match="expected one SQL statement"):
            reader.query("SELECT 1; SELECT 2")
        assert reader.table_counts()["results"] == 18
