"""The API benchmark's chart: endpoint latency against load, from `benchmark='api'` rows.

A pure function from the results frame to an Altair chart, like `warehouse/charts.py`. Rows
are the ones `skillsets bench-api` stores (`skillsets/api/rows.py`): hardware = the endpoint,
precision = the load pattern, batch_size = requests in flight.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from warehouse.charts import HEIGHT, WIDTH, in_ms, latest_per_series, placeholder

#: Latency metrics of the API rows, in the order the metric control lists them.
API_LATENCY_METRICS = ("ttft", "tpot", "itl", "e2e_latency")
TITLE = "API endpoints: latency against load"


def api_latency_frame(results: pl.DataFrame) -> pl.DataFrame:
    """The latest row of each API latency series, with p50/p90/p99 in ms and an endpoint label.

    Returns:
        Columns endpoint (`model @ host/path`), load (`closed-loop`, `poisson-2/s`...),
        concurrency, metric, p50_ms, p90_ms, p99_ms, n, run_id; empty without API rows.
    """
    rows = results.filter(
        (pl.col("benchmark") == "api") & pl.col("metric").is_in(list(API_LATENCY_METRICS))
    )
    if rows.is_empty():
        return pl.DataFrame(schema={"endpoint": pl.String, "load": pl.String,
                                    "concurrency": pl.Int64, "metric": pl.String,
                                    "p50_ms": pl.Float64, "p90_ms": pl.Float64,
                                    "p99_ms": pl.Float64, "n": pl.Int64, "run_id": pl.String})
    latest = latest_per_series(rows)
    return latest.select(
        pl.format("{} @ {}", pl.col("model_type"),
                  pl.col("hardware").str.strip_prefix("api:")).alias("endpoint"),
        pl.col("precision").alias("load"),
        pl.col("batch_size").cast(pl.Int64).alias("concurrency"),
        "metric",
        in_ms("p50").fill_null(in_ms("value")).alias("p50_ms"),
        in_ms("p90").alias("p90_ms"),
        in_ms("p99").alias("p99_ms"),
        pl.col("n").cast(pl.Int64),
        "run_id",
    ).sort("endpoint", "metric", "load", "concurrency")


def api_latency_chart(results: pl.DataFrame) -> alt.LayerChart | alt.Chart:
    """p50 latency (line) with its p50-p90 spread (rule) against requests in flight, one
    colour per endpoint; a control picks TTFT, TPOT, ITL or end-to-end latency.

    Lower is better; a line rising steeply with concurrency is an endpoint saturating.
    """
    frame = api_latency_frame(results)
    if frame.is_empty():
        return placeholder(TITLE, "no API benchmark results stored yet (skillsets bench-api)")
    present = [m for m in API_LATENCY_METRICS if m in set(frame["metric"])]
    metric = alt.param(name="api_metric", value=present[0],
                       bind=alt.binding_select(options=present, name="metric "))
    base = alt.Chart(frame).transform_filter(f"datum.metric === {metric.name}")
    encoding = {
        "x": alt.X("concurrency:O", title="requests in flight", axis=alt.Axis(labelAngle=0)),
        "color": alt.Color("endpoint:N", title="endpoint"),
        "strokeDash": alt.StrokeDash("load:N", title="load"),
    }
    lines = base.mark_line(point=True).encode(
        y=alt.Y("p50_ms:Q", title="p50 (ms)"),
        tooltip=[
            "endpoint:N", "load:N", "concurrency:O", "metric:N",
            alt.Tooltip("p50_ms:Q", format=".2f", title="p50 ms"),
            alt.Tooltip("p90_ms:Q", format=".2f", title="p90 ms"),
            alt.Tooltip("p99_ms:Q", format=".2f", title="p99 ms"),
            "n:Q", "run_id:N",
        ],
        **encoding,
    )
    spread = base.mark_rule(opacity=0.5).encode(y="p50_ms:Q", y2="p90_ms:Q", **encoding)
    return alt.layer(spread, lines, title=TITLE, width=WIDTH, height=HEIGHT).add_params(metric)
