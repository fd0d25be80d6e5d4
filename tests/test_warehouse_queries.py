"""Typed queries over a small known history, with exact answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from warehouse_data import BERT_LATENCY, START, fill, run_id

from warehouse import queries
from warehouse.store import Warehouse


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The small history, opened read-only."""
    path = fill(tmp_path_factory.mktemp("queries") / "wh.duckdb")
    with Warehouse.open(path, read_only=True) as wh:
        yield wh


def test_series_history_is_ordered_and_traced_to_runs(wh: Warehouse) -> None:
    history = queries.series_history(wh, "bert", "cpu", "latency_ms")
    assert history["value"].to_list() == BERT_LATENCY
    assert history["run_id"].to_list() == [run_id(n) for n in range(6)]
    assert history["git_sha"].to_list() == [f"sha{n}" for n in range(6)]
    assert history["samples"][0].to_list() == [9.9, 10.0, 11.0]
    since = START + timedelta(days=4)
    recent = queries.series_history(wh, "bert", "cpu", "latency_ms", since=since)
    assert recent["value"].to_list() == BERT_LATENCY[4:]
    assert queries.series_history(wh, "bert", "cpu", "latency_ms", batch_size=8).is_empty()


def test_latest_vs_baseline_uses_the_window_before_the_latest(wh: Warehouse) -> None:
    frame = queries.latest_vs_baseline(wh, window=3).sort("model_type", "benchmark")
    rows = {(r["model_type"], r["benchmark"]): r for r in frame.to_dicts()}
    bert = rows[("bert", "inference")]
    assert (bert["latest"], bert["baseline_median"], bert["baseline_n"]) == (12.0, 10.0, 3)
    assert bert["change"] == pytest.approx(0.2)
    assert bert["latest_run_id"] == run_id(5)
    gpt2 = rows[("gpt2", "inference")]
    assert (gpt2["latest"], gpt2["baseline_median"]) == (25.0, 23.0)
    assert gpt2["change"] == pytest.approx(25 / 23 - 1)
    throughput = rows[("bert", "throughput")]
    assert throughput["change"] == 0.0
    assert (throughput["unit"], throughput["batch_size"]) == ("items/s", 4)
    whole = queries.latest_vs_baseline(wh, window=10, model_type="bert", metric="latency_ms")
    assert whole.select("baseline_median", "baseline_n").rows() == [(10.0, 5)]
    assert queries.latest_vs_baseline(wh, hardware="openvino").is_empty()
    with pytest.raises(ValueError, match="at least 1"):
        queries.latest_vs_baseline(wh, window=0)


def test_compatibility_matrix_latest_and_per_run(wh: Warehouse) -> None:
    latest = queries.compatibility_matrix(wh)
    assert latest.columns == ["model_type", "cpu", "openvino"]
    assert latest.rows() == [("bert", "pass", None), ("gpt2", "fail", "skip")]
    earlier = queries.compatibility_matrix(wh, run_id=run_id(4))
    assert earlier.rows() == [("gpt2", "pass")]
    assert queries.compatibility_matrix(wh, run_id="run-77").is_empty()


def test_coverage_by_family_joins_the_catalog(wh: Warehouse) -> None:
    coverage = queries.coverage_by_family(wh)
    assert coverage.rows() == [
        ("decoder-only", "cpu", 1, 0, 1, 0, 0, 0.0),
        ("decoder-only", "openvino", 1, 0, 0, 0, 1, None),
        ("encoder-only", "cpu", 1, 1, 0, 0, 0, 1.0),
    ]


def test_series_touched_by_run(wh: Warehouse) -> None:
    touched = queries.series_touched_by_run(wh, run_id(5))
    assert touched.select("model_type", "benchmark", "metric", "batch_size").rows() == [
        ("bert", "inference", "latency_ms", 1),
        ("bert", "throughput", "throughput", 4),
        ("gpt2", "inference", "latency_ms", 1),
    ]
    assert queries.series_touched_by_run(wh, "run-77").is_empty()


def test_views_latest_results_and_compatibility_pivot(wh: Warehouse) -> None:
    latest = wh.query("SELECT model_type, metric, value FROM latest_results ORDER BY ALL")
    assert latest.rows() == [("bert", "latency_ms", 12.0), ("bert", "throughput", 100.0),
                             ("gpt2", "latency_ms", 25.0)]
    pivot = wh.query("SELECT model_type, cpu, openvino, cuda FROM compatibility_pivot ORDER BY 1")
    assert pivot.rows() == [("bert", "pass", None, None), ("gpt2", "fail", "skip", None)]


def test_queries_take_values_as_parameters(wh: Warehouse) -> None:
    hostile = "bert' OR '1'='1"
    assert queries.series_history(wh, hostile, "cpu", "latency_ms").is_empty()
