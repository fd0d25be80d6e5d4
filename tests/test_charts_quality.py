"""The precision trade-off chart: weight memory against quality from stored rows (exact)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warehouse.charts_quality import quality_memory_chart, quality_memory_frame
from warehouse.frames import records_frame
from warehouse.records import ResultRecord, utcnow

NOW = utcnow()


def _row(run: str, model: str, hardware: str, precision: str, metric: str, value: float,
         batch_size: int = 1, age: int = 0) -> ResultRecord:
    unit = "bytes" if metric == "weight_memory" else "ratio"
    return ResultRecord(run_id=run, environment_id="e", model_type=model, hardware=hardware,
                        precision=precision, batch_size=batch_size, benchmark="inference",
                        metric=metric, value=value, unit=unit, execution_precision=precision,
                        measured_at=NOW - timedelta(minutes=age))


def _history() -> list[ResultRecord]:
    return [
        _row("r2", "bert", "cpu", "fp32", "weight_memory", 90e6),
        _row("r2", "bert", "openvino", "int8-wo", "weight_memory", 23e6),
        _row("r2", "bert", "openvino", "int8-wo", "quality_cosine", 0.9995),
        _row("r2", "bert", "openvino", "int4-wo", "weight_memory", 18e6),
        _row("r2", "bert", "openvino", "int4-wo", "quality_cosine", 0.985),
        # Superseded by r2's row; and a batch-4 quality row the chart does not read.
        _row("r1", "bert", "openvino", "int4-wo", "quality_cosine", 0.943, age=60),
        _row("r2", "bert", "openvino", "int4-wo", "quality_cosine", 0.5, batch_size=4),
        _row("r2", "gpt2", "cpu", "fp32", "weight_memory", 500e6),
        _row("r2", "gpt2", "cpu", "bf16", "weight_memory", 250e6),
        _row("r2", "gpt2", "cpu", "bf16", "top1_agreement", 0.75),
        _row("r2", "gpt2", "cpu", "bf16", "kl_divergence", 0.01),
        # A model with no quality row at all is not charted.
        _row("r2", "vit", "cpu", "fp32", "weight_memory", 300e6),
    ]


def test_frame_pairs_the_latest_memory_and_quality_with_fp32_as_the_reference() -> None:
    frame = quality_memory_frame(records_frame("results", _history()))
    got = {(r["model_type"], r["hardware"], r["precision"]): (r["weight_mb"], r["quality"],
                                                              r["quality_metric"])
           for r in frame.iter_rows(named=True)}
    assert got == {
        ("bert", "cpu", "fp32"): (pytest.approx(90.0), 1.0, "reference"),
        ("bert", "openvino", "int8-wo"): (pytest.approx(23.0), 0.9995, "quality_cosine"),
        ("bert", "openvino", "int4-wo"): (pytest.approx(18.0), 0.985, "quality_cosine"),
        ("gpt2", "cpu", "fp32"): (pytest.approx(500.0), 1.0, "reference"),
        ("gpt2", "cpu", "bf16"): (pytest.approx(250.0), 0.75, "top1_agreement"),
    }


def test_chart_offers_each_model_with_quality_rows() -> None:
    spec = quality_memory_chart(records_frame("results", _history())).to_dict()
    (param,) = spec["params"]
    assert param["bind"]["options"] == ["bert (tiny)", "gpt2 (tiny)"]
    assert spec["encoding"]["x"]["field"] == "weight_mb"
    assert spec["encoding"]["y"]["field"] == "quality"


def test_without_quality_rows_the_frame_is_empty_and_the_chart_says_so() -> None:
    fp32_only = [r for r in _history() if r.precision == "fp32"]
    assert quality_memory_frame(records_frame("results", fp32_only)).is_empty()
    assert "no quality rows" in str(quality_memory_chart(records_frame("results", fp32_only))
                                    .to_dict())


def test_the_report_shows_the_chart_once_quality_rows_are_stored(tmp_path) -> None:
    from history_data import ENVIRONMENT, fill_warehouse, make_history

    from skillsets.tiers import TIERS
    from warehouse.report import build_report
    from warehouse.store import Warehouse

    history = make_history()
    run = history.last_run_id
    history.results += [
        row.model_copy(update={"run_id": run, "environment_id": ENVIRONMENT.environment_id})
        for row in _history() if row.run_id == "r2"  # r1's row would repeat r2's series
    ]
    path = fill_warehouse(tmp_path / "warehouse.duckdb", history)
    with Warehouse.open(path, read_only=True) as wh:
        paths = build_report(wh, output_dir=tmp_path / "report", formats="json", tiers=TIERS)
    assert list(paths.charts)[-1] == "precision-quality"
