"""Compaction: results re-sorted by series, by hand or by the writer itself, nothing changed."""

from __future__ import annotations

from pathlib import Path

from warehouse_data import ENVIRONMENT, results_frame

from warehouse import queries
from warehouse.frames import records_frame
from warehouse.maintenance import unclustered_rows
from warehouse.records import RunRecord
from warehouse.store import Warehouse

RUNS = [f"run-{night:02d}" for night in range(6)]


def _open(tmp_path: Path, compact_after_rows: int | None) -> Warehouse:
    wh = Warehouse.open(tmp_path / "wh.duckdb", quarantine_dir=tmp_path / "q",
                        compact_after_rows=compact_after_rows)
    wh.record_environment(ENVIRONMENT)
    runs = [RunRecord(run_id=r, flow="nightly", git_sha="abc",
                      environment_id=ENVIRONMENT.environment_id) for r in RUNS]
    wh.load_frame("runs", records_frame("runs", runs))
    return wh


def test_compaction_sorts_results_by_series_and_changes_no_row(tmp_path: Path) -> None:
    with _open(tmp_path, compact_after_rows=None) as wh:
        for night, run_id in enumerate(RUNS):
            wh.load_frame("results", results_frame([run_id], 300, seed=night))
        assert unclustered_rows(wh._con) == 1800
        before = wh.query("SELECT * FROM results ORDER BY series_id, measured_at")
        history = queries.series_history(wh, "model_00007", "cpu", "latency_ms")
        report = wh.compact()
        assert report.rows == 1800
        stored = wh.query("SELECT * FROM results")
        assert stored.equals(before)  # same rows, now physically in series order
        assert queries.series_history(wh, "model_00007", "cpu", "latency_ms").equals(history)
        assert wh.info()["unclustered_rows"] == 0
        assert wh.query("SELECT count(*) AS n FROM compactions")["n"][0] == 1


def test_the_writer_compacts_by_itself_past_the_threshold(tmp_path: Path) -> None:
    with _open(tmp_path, compact_after_rows=1000) as wh:
        wh.load_frame("results", results_frame(RUNS[:2], 300))
        assert wh.query("SELECT count(*) AS n FROM compactions")["n"][0] == 0
        wh.load_frame("results", results_frame(RUNS[2:4], 300))
        assert wh.query("SELECT rows FROM compactions")["rows"].to_list() == [1200]
        assert unclustered_rows(wh._con) == 0
        logged = wh.query("SELECT table_name, inserted FROM loads WHERE table_name = 'results'")
        assert logged.rows() == [("results", 600), ("results", 600)]
