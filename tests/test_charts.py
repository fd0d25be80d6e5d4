"""Charts: pure specs from seeded synthetic history, with exact expectations on what they show."""

from __future__ import annotations

import math

import polars as pl
import pytest
import vl_convert
from history_data import BATCH_SIZES, FASTER, SLOWER, WORKERS, History, make_history

from skillsets.tiers import TIERS
from warehouse import charts
from warehouse.report import measurements, series_fits, tier_coverage, vegalite_version


@pytest.fixture(scope="module")
def history() -> History:
    return make_history()


@pytest.fixture(scope="module")
def all_results(history: History) -> pl.DataFrame:
    return history.frame("results").drop("samples")


@pytest.fixture(scope="module")
def results(all_results: pl.DataFrame) -> pl.DataFrame:
    return measurements(all_results)


def _params(spec: dict) -> dict[str, dict]:
    return {p["name"]: p for p in spec.get("params", [])}


def test_trend_chart_has_bound_controls_opening_on_the_alert(
    history: History, results: pl.DataFrame
) -> None:
    fitted, change_points = series_fits(results)
    spec = charts.trend_chart(
        results, alerts=history.frame("alerts"), change_points=change_points, fitted=fitted
    ).to_dict()
    params = _params(spec)
    for name in ("show_band", "show_trend", "show_annotations"):
        assert params[name]["bind"]["input"] == "checkbox"
        assert params[name]["value"] is True
    picks = {name: params[f"pick_{name}"] for name in ("model_type", "hardware", "metric")}
    assert {p["bind"]["input"] for p in picks.values()} == {"select"}
    assert picks["model_type"]["bind"]["options"] == ["bert", "gpt2", "t5", "vit", "whisper"]
    # The first alert given is bert on cpu, latency: the chart opens on it.
    assert [p["value"] for p in picks.values()] == ["bert", "cpu", "latency"]
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["area", "line", "line", "rule", "point"]


def test_trend_chart_without_annotations_has_band_and_line_only(results: pl.DataFrame) -> None:
    spec = charts.trend_chart(results).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["area", "line"]
    assert _params(spec)["pick_metric"]["value"] == charts.DEFAULT_METRIC


def test_trend_frame_band_is_the_95_percent_interval_of_the_mean(results: pl.DataFrame) -> None:
    frame = charts.trend_frame(results)
    source = results.row(0, named=True)
    row = frame.filter(
        (pl.col("run_id") == source["run_id"])
        & pl.all_horizontal(pl.col(k) == source[k] for k in charts.SERIES_KEY)
    ).row(0, named=True)
    half = charts.Z95 * source["stdev"] / math.sqrt(source["n"])
    assert row["ci_low"] == pytest.approx(source["mean"] - half)
    assert row["ci_high"] == pytest.approx(source["mean"] + half)
    single = frame.filter(pl.col("n") == 1)
    assert single.height > 0 and single["ci_low"].null_count() == single.height


def test_trend_frame_puts_each_run_at_its_first_measurement(results: pl.DataFrame) -> None:
    # The history measures each batch size minutes apart within a run; the trend reads run by run.
    assert results.group_by("run_id").agg(pl.col("measured_at").n_unique())["measured_at"].max() > 1
    frame = charts.trend_frame(results)
    first = results.group_by("run_id").agg(pl.col("measured_at").min().dt.epoch("ms").alias("at"))
    placed = frame.group_by("run_id").agg(pl.col("measured_at").unique().alias("xs"))
    joined = placed.join(first, on="run_id")
    assert joined.height == results["run_id"].n_unique()
    assert all(xs == [at] for xs, at in joined.select("xs", "at").iter_rows())


def test_series_fits_find_exactly_the_planted_latency_changes(results: pl.DataFrame) -> None:
    fitted, change_points = series_fits(results)
    latency = change_points.filter(pl.col("metric") == "latency")
    found = set(latency.select("model_type", "hardware", "batch_size", "run_id").iter_rows())
    expected = {
        (model, hardware, batch, f"run-{start:02d}")
        for model, hardware, start, _ in (SLOWER, FASTER)
        for batch in BATCH_SIZES
    }
    assert found == expected
    bert = fitted.filter(
        (pl.col("model_type") == "bert") & (pl.col("hardware") == "cpu")
        & (pl.col("batch_size") == 1) & (pl.col("metric") == "latency")
    )
    assert bert["segment"].to_list() == [0] * SLOWER[2] + [1] * (bert.height - SLOWER[2])
    assert fitted.height == results.height


def test_scaling_frame_puts_sequential_at_one_worker_and_ideal_linear(
    all_results: pl.DataFrame,
) -> None:
    results = all_results
    frame = charts.scaling_frame(results)
    bert_cpu = frame.filter((pl.col("model_type") == "bert") & (pl.col("hardware") == "cpu"))
    assert bert_cpu["workers"].to_list() == [1.0, *map(float, sorted(WORKERS))]
    sequential = bert_cpu.filter(pl.col("workers") == 1.0)
    assert sequential["value"][0] == pytest.approx(sequential["ideal"][0])
    # Every point's ideal is its own run's sequential throughput times the worker count.
    throughput = results.filter(pl.col("benchmark") == "throughput")
    for row in bert_cpu.filter(pl.col("workers") > 1).iter_rows(named=True):
        seq = throughput.filter(
            (pl.col("run_id") == row["run_id"]) & (pl.col("model_type") == "bert")
            & (pl.col("hardware") == "cpu") & (pl.col("metric") == charts.SEQUENTIAL_METRIC)
        )["value"][0]
        assert row["ideal"] == pytest.approx(seq * row["workers"])
        assert row["value"] < row["ideal"]


def test_tier_coverage_nests_tiers_and_counts_untested_models() -> None:
    models = pl.DataFrame({
        "model_type": ["bert", "gpt2", "albert", "mamba"],
        "family": ["encoder-only", "decoder-only", "encoder-only", "state-space"],
        "tier": ["critical", "critical", "high", "medium"],
    })
    checks = pl.DataFrame({
        "model_type": ["bert", "bert", "gpt2", "albert"],
        "hardware": ["cpu", "cuda", "cpu", "cpu"],
        "status": ["fail", "pass", "fail", "skip"],
    })
    coverage = tier_coverage(models, checks, TIERS)
    table = {(r["tier"], r["status"]): r["models"] for r in coverage.iter_rows(named=True)}
    assert table == {
        ("critical", "pass"): 1, ("critical", "fail"): 1,
        ("high", "pass"): 1, ("high", "fail"): 1, ("high", "skip"): 1,
        ("medium", "pass"): 1, ("medium", "fail"): 1, ("medium", "skip"): 1,
        ("medium", "untested"): 1,
        ("all", "pass"): 1, ("all", "fail"): 1, ("all", "skip"): 1, ("all", "untested"): 1,
    }


def test_empty_inputs_give_a_drawable_placeholder(results: pl.DataFrame) -> None:
    empty = results.clear()
    for chart in (
        charts.trend_chart(empty),
        charts.hardware_comparison_chart(empty),
        charts.throughput_scaling_chart(empty),
        charts.compatibility_heatmap(pl.DataFrame()),
        charts.coverage_chart(pl.DataFrame(), ["critical"]),
        charts.movers_chart(pl.DataFrame()),
    ):
        spec = chart.to_dict()
        assert spec["mark"]["type"] == "text"
        (message,) = [row["message"] for row in next(iter(spec["datasets"].values()))]
        svg = vl_convert.vegalite_to_svg(spec, vl_version=vegalite_version())
        assert message.startswith("no ") and message in svg


def test_hardware_comparison_opens_on_the_model_measured_on_most_backends(
    results: pl.DataFrame,
) -> None:
    spec = charts.hardware_comparison_chart(results).to_dict()
    params = _params(spec)
    # whisper fails on openvino, so it is on 2 backends; the others on 3, bert first by name.
    assert params["cmp_model"]["value"] == "bert"
    assert params["cmp_metric"]["value"] == "latency"
    svg = vl_convert.vegalite_to_svg(spec, vl_version=vegalite_version())
    assert "latency p50 (ms)" in svg
    assert "thin rules: p50 to p90" in svg  # what the rules are, without tooltips


@pytest.mark.parametrize(("change", "message"), [
    (None, "no baseline yet: no series has an earlier run"),
    (0.04, "no series got faster"),
])
def test_movers_say_whether_nothing_got_faster_or_nothing_had_a_baseline(change, message):
    movers = pl.DataFrame({
        "model_type": ["bert"], "hardware": ["cpu"], "size": ["tiny"], "batch_size": [1],
        "precision": ["fp32"], "latest_ms": [12.5], "change": [change],
    }, schema_overrides={"change": pl.Float64})
    spec = charts.movers_chart(movers).to_dict()
    svg = vl_convert.vegalite_to_svg(spec, vl_version=vegalite_version())
    assert message in svg


def test_scaling_chart_says_which_line_is_which_without_tooltips(
    all_results: pl.DataFrame,
) -> None:
    """A PNG has no tooltips: the subtitle names the dashed and solid lines, and the shape legend
    names each precision and batch size of a hardware's lines."""
    frame = charts.scaling_frame(all_results)
    assert sorted(frame["line"].unique().to_list()) == sorted(
        f"fp32, batch {b}" for b in frame["batch_size"].unique().to_list())
    spec = charts.throughput_scaling_chart(all_results).to_dict()
    svg = vl_convert.vegalite_to_svg(spec, vl_version=vegalite_version())
    assert "dashed: ideal (the sequential throughput x workers)" in svg
    assert "precision, batch" in svg
    # The x ticks are the worker counts measured, not fractions of a worker.
    axis = next(layer["encoding"]["x"]["axis"] for layer in spec["layer"]
                if "x" in layer.get("encoding", {}))
    assert axis["values"] == sorted({int(w) for w in frame["workers"].to_list()})
    for line in frame.filter(pl.col("model_type") == "bert")["line"].unique().to_list():
        assert line in svg
