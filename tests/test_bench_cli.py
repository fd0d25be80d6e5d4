"""`skillsets bench` end to end: local tagged cluster, tiny random bert, real DuckDB warehouse."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from warehouse.store import Warehouse

runner = CliRunner()


def test_show_command_stores_every_kind_of_row(tmp_path: Path, monkeypatch) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("SKILLSETS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("SKILLSETS_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.delenv("SKILLSETS_SCHEDULER_ADDRESS", raising=False)
    result = runner.invoke(
        app,
        [
            "bench",
            "--size",
            "tiny",
            "--model",
            "bert",
            "--hardware",
            "cpu",
            "--type",
            "both",
            "--batch-sizes",
            "1,2",
            "--runs",
            "5",
            "--min-seconds",
            "0",
            "--warmup",
            "1",
            "--run-id",
            "cli-show",
            "--report",
        ],
    )
    assert result.exit_code == 0, result.output

    with Warehouse.open(warehouse, read_only=True) as wh:
        rows = wh.query(
            "SELECT benchmark, metric, batch_size, n, p50, unit FROM results "
            "WHERE run_id = 'cli-show'"
        )
        runs = wh.query("SELECT status, parameters FROM runs WHERE run_id = 'cli-show'")
        phases = wh.query(
            "SELECT model_type, hardware, precision, metric, unit, value FROM results "
            "WHERE run_id = 'cli-show' AND metric IN "
            "('import_time', 'stack_import_time', 'instantiation_time', 'init_time')"
        )
    assert runs["status"].to_list() == ["completed"]
    phase = {row["metric"]: row for row in phases.iter_rows(named=True)}
    # The skillset's own import, and the stack's cold import as a row of the run's one worker.
    own, stack = phase["import_time"], phase["stack_import_time"]
    assert (own["model_type"], own["unit"]) == ("bert", "s")
    assert {k: stack[k] for k in ("model_type", "hardware", "precision", "unit")} == {
        "model_type": "_stack", "hardware": "cpu", "precision": "none", "unit": "s"
    }
    assert 0 < own["value"] < stack["value"]
    # Instantiation is timed inside the one load that init_time covers.
    assert 0 < phase["instantiation_time"]["value"] < phase["init_time"]["value"]
    found = {(r["benchmark"], r["metric"], r["batch_size"]) for r in rows.iter_rows(named=True)}
    for metric in ("supported", "import_time", "instantiation_time", "init_time", "load_memory"):
        assert ("inference", metric, 1) in found, metric
    for batch in (1, 2):
        for metric in ("latency", "throughput", "peak_memory"):
            assert ("inference", metric, batch) in found, (metric, batch)
        for metric in (
            "sequential_throughput",
            "concurrent_throughput",
            "speedup",
            "concurrent_workers",
        ):
            assert ("throughput", metric, batch) in found, (metric, batch)
    latency = rows.filter(rows["metric"] == "latency")
    assert latency["n"].min() >= 5 and latency["unit"].unique().to_list() == ["ms"]

    document = json.loads((tmp_path / "out" / "bench-cli-show.json").read_text())
    (outcome,) = document["outcomes"]
    assert outcome["status"] == "ok"
    assert outcome["placement"]["resources"] == {"cpu": 1}
    assert len(outcome["rows"]) == len(rows)
    assert (tmp_path / "out" / "bench-cli-show.md").exists()


def test_unsupported_precision_is_a_row_not_a_gap(tmp_path: Path, monkeypatch) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("SKILLSETS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("SKILLSETS_OUTPUT_DIR", str(tmp_path / "out"))
    result = runner.invoke(
        app,
        [
            "bench",
            "--size",
            "tiny",
            "--model",
            "bert",
            "--hardware",
            "cpu",
            "--precision",
            "fp16",
            "--batch-sizes",
            "1",
            "--runs",
            "2",
            "--min-seconds",
            "0",
            "--run-id",
            "cli-fp16",
            "--skip-import-time",
        ],
    )
    assert result.exit_code == 0, result.output
    with Warehouse.open(warehouse, read_only=True) as wh:
        rows = wh.query("SELECT metric, value, precision FROM results WHERE run_id = 'cli-fp16'")
    assert rows.to_dicts() == [{"metric": "supported", "value": 0.0, "precision": "fp16"}]
    document = json.loads((tmp_path / "out" / "bench-cli-fp16.json").read_text())
    assert "bf16" in document["outcomes"][0]["reason"]


def test_bad_options_fail_with_a_message() -> None:
    result = runner.invoke(app, ["bench", "--model", "bert", "--batch-sizes", "1,x"])
    assert result.exit_code != 0
    assert "integers" in result.output
    result = runner.invoke(app, ["bench", "--model", "bert", "--precision", "fp61"])
    assert result.exit_code != 0
