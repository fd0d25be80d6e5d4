"""Charts of stored metrics as Altair (Vega-Lite) specs: pure functions from polars frames.

Every function takes frames with the record columns (`warehouse/records.py`) or a query's output
(`warehouse/queries.py`) and returns an Altair chart; nothing here reads the warehouse or writes a
file. Charts carry their own controls (Altair parameters bound to inputs) so the same spec is
interactive in the HTML report and renders at its defaults when exported to PNG/SVG/PDF.

Times are sent to Vega-Lite as epoch milliseconds (an unambiguous number every JavaScript engine
reads the same), latencies in milliseconds whatever unit they were stored in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import altair as alt
import polars as pl

from warehouse.records import SERIES_KEY

#: Factor from a stored time unit to milliseconds.
TIME_UNITS = {"ms": 1.0, "s": 1000.0}
#: Metrics that time one call of the model (`skillsets/bench/rows.py`). Other times (import,
#: instantiation, init, the whole task) are startup or bookkeeping costs, never latencies.
LATENCY_METRICS = ("latency", "prefill_latency")
#: What a person waits before the first call, in seconds, charted apart from latencies.
STARTUP_METRICS = ("import_time", "instantiation_time", "init_time")
#: The throughput benchmark's metrics (`skillsets/bench/rows.py`).
SEQUENTIAL_METRIC = "sequential_throughput"
CONCURRENT_METRIC = "concurrent_throughput"
WORKERS_METRIC = "concurrent_workers"
#: The metric controls open on when the data has it.
DEFAULT_METRIC = "latency"
SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_COLORS = ("#9ecae1", "#fdae6b", "#e6550d", "#a50f15")
STATUS_COLORS = {
    "pass": "#31a354", "fail": "#de2d26", "unsupported": "#fdae6b", "skip": "#bdbdbd",
    "untested": "#f0f0f0",
}
#: Two-sided 95% normal quantile, for confidence intervals of a mean.
Z95 = 1.959963984540054
WIDTH = 640
HEIGHT = 300


def placeholder(title: str, message: str) -> alt.Chart:
    """A chart that only says why there is nothing to draw (so a report never has a hole)."""
    frame = pl.DataFrame({"message": [message]})
    return (
        alt.Chart(frame, title=title, width=WIDTH, height=60)
        .mark_text(fontSize=14, color="#666")
        .encode(text="message:N")
    )


def _select(name: str, label: str, options: Sequence[object], value: object) -> alt.Parameter:
    return alt.param(
        name=name, value=value, bind=alt.binding_select(options=list(options), name=label)
    )


def _checkbox(name: str, label: str, value: bool = True) -> alt.Parameter:
    return alt.param(name=name, value=value, bind=alt.binding_checkbox(name=label))


def _default_metric(metrics: Sequence[str]) -> str:
    return DEFAULT_METRIC if DEFAULT_METRIC in metrics else sorted(metrics)[0]


def _epoch_ms(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("ms").alias(column)


def _series_label() -> pl.Expr:
    return pl.format(
        "{} bs={} {} {}", pl.col("benchmark"), pl.col("batch_size"), pl.col("precision"),
        pl.col("size"),
    ).alias("series")


def latest_per_series(results: pl.DataFrame) -> pl.DataFrame:
    """The most recent row of each series (by `measured_at`)."""
    return results.sort("measured_at").group_by(list(SERIES_KEY), maintain_order=True).last()


def trend_frame(results: pl.DataFrame) -> pl.DataFrame:
    """Result rows prepared for `trend_chart`.

    Adds `series` (a label for the series within one model/hardware/metric), `ci_low`/`ci_high`
    (the 95% confidence interval of the mean, `mean +- 1.96 * stdev / sqrt(n)`, null where the row
    has no stdev or fewer than two samples) and puts every row at its run's first measurement
    (`measured_at`, epoch milliseconds): a trend is read run by run, and one run's batch sizes,
    measured seconds apart, belong at one x.
    """
    has_spread = pl.col("stdev").is_not_null() & (pl.col("n").fill_null(0) > 1)
    center = pl.coalesce("mean", "value")
    half = Z95 * pl.col("stdev") / pl.col("n").cast(pl.Float64).sqrt()
    return results.select(
        *SERIES_KEY,
        "run_id",
        "value",
        "unit",
        "n",
        _epoch_ms("measured_at").min().over("run_id"),
        _series_label(),
        pl.when(has_spread).then(center - half).alias("ci_low"),
        pl.when(has_spread).then(center + half).alias("ci_high"),
    ).sort("measured_at")


def _annotation_rows(points: pl.DataFrame, marks: pl.DataFrame, run_column: str) -> pl.DataFrame:
    """Place each annotation (change point or alert) on the point of its series and run."""
    keyed = marks.rename({run_column: "run_id"}) if run_column != "run_id" else marks
    extra = [c for c in keyed.columns if c not in (*SERIES_KEY, "run_id")]
    return points.join(keyed.select(*SERIES_KEY, "run_id", *extra), on=[*SERIES_KEY, "run_id"])


def trend_chart(
    results: pl.DataFrame,
    *,
    alerts: pl.DataFrame | None = None,
    change_points: pl.DataFrame | None = None,
    fitted: pl.DataFrame | None = None,
    focus: dict[str, str] | None = None,
) -> alt.LayerChart | alt.Chart:
    """Per-series history with a confidence band, a trend line and annotation markers.

    Controls in the page pick the model, hardware and metric, and toggle the band, the trend
    lines and the annotations (change points as dashed rules, alerts as triangles coloured by
    severity).

    Args:
        results: Result rows (`ResultRecord` columns), any number of series and runs.
        alerts: Alert rows (`AlertRecord` columns); each is drawn on its first bad run.
        change_points: Rows with the series key and `run_id` (first run after the change).
        fitted: Rows with the series key, `run_id`, `fitted` (the trend's value at that run) and
            `segment` (the trend restarts at each change point).
        focus: Initial `model_type`/`hardware`/`metric` for the controls; defaults to the series
            of the first alert given, else the first row's model and hardware with `latency`.
    """
    title = "Trend per series"
    if results.is_empty():
        return placeholder(title, "no results stored yet")
    points = trend_frame(results)
    start = dict(focus or {})
    if not start and alerts is not None and not alerts.is_empty():
        start = {k: alerts[k][0] for k in ("model_type", "hardware", "metric")}
    first = points.row(0, named=True)
    first["metric"] = _default_metric(points["metric"].unique().to_list())
    controls = {}
    for column in ("model_type", "hardware", "metric"):
        options = sorted(points[column].unique().to_list())
        value = start.get(column, first[column])
        label = "model " if column == "model_type" else f"{column} "
        controls[column] = _select(f"pick_{column}", label, options, value)
    units = json.dumps(dict(points.select("metric", "unit").unique("metric").iter_rows()))
    show_band = _checkbox("show_band", "confidence band ")
    show_trend = _checkbox("show_trend", "trend line ")
    show_notes = _checkbox("show_annotations", "annotations ")
    picked = " && ".join(f"datum.{c} === {p.name}" for c, p in controls.items())

    # The page embeds every point, so the chart data keeps only the columns the marks use.
    compact = ["model_type", "hardware", "metric", "series", "run_id", "measured_at", "value"]
    trend_columns: list[str] = []
    if fitted is not None and not fitted.is_empty():
        trend_columns = ["fitted", "segment"]
        points = points.join(
            fitted.select(*SERIES_KEY, "run_id", *trend_columns),
            on=[*SERIES_KEY, "run_id"], how="left",
        )
    # Date and time: runs of one day differ by their time, and Vega's own per-span format labels
    # a single run by its milliseconds.
    x = alt.X(
        "measured_at:T", title="run (first measurement)",
        axis=alt.Axis(format="%b %d %H:%M", labelOverlap=True),
    )
    color = alt.Color("series:N", title="series")
    base = alt.Chart(points.select(*compact, "ci_low", "ci_high", *trend_columns))
    base = base.transform_filter(picked)
    band = (
        base.transform_filter(f"{show_band.name} && isValid(datum.ci_low)")
        .mark_area(opacity=0.2)
        .encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=color)
    )
    line = base.mark_line(point=True).encode(
        x=x,
        y=alt.Y("value:Q", title="value", scale=alt.Scale(zero=False)),
        color=color,
        tooltip=[
            "series:N",
            "run_id:N",
            alt.Tooltip("measured_at:T", format="%Y-%m-%d %H:%M", title="run"),
            alt.Tooltip("value:Q", format=".4g"),
        ],
    )
    layers = [band, line]
    if trend_columns:
        layers.append(
            base.transform_filter(f"{show_trend.name} && isValid(datum.fitted)")
            .mark_line(strokeDash=[6, 3], strokeWidth=2)
            .encode(
                x=x,
                y="fitted:Q",
                color=color,
                detail="segment:N",
                tooltip=["series:N", alt.Tooltip("fitted:Q", format=".4g", title="trend")],
            )
        )
    shown = f"{show_notes.name} && {picked}"
    if change_points is not None and not change_points.is_empty():
        rules = _annotation_rows(points, change_points, "run_id").select(compact)
        layers.append(
            alt.Chart(rules)
            .transform_filter(shown)
            .mark_rule(strokeDash=[2, 2], color="#555")
            .encode(x=x, tooltip=["series:N", "run_id:N", alt.Tooltip("measured_at:T")])
        )
    if alerts is not None and not alerts.is_empty():
        notes = ["severity", "change", "status", "message"]
        marks = _annotation_rows(
            points, alerts.select(*SERIES_KEY, "first_bad_run_id", *notes), "first_bad_run_id"
        ).select(*compact, *notes)
        layers.append(
            alt.Chart(marks)
            .transform_filter(shown)
            .mark_point(shape="triangle-up", size=160, filled=True, opacity=1)
            .encode(
                x=x,
                y="value:Q",
                fill=alt.Fill(
                    "severity:N",
                    title="alert",
                    scale=alt.Scale(domain=list(SEVERITIES), range=list(SEVERITY_COLORS)),
                ),
                tooltip=[
                    "series:N",
                    "severity:N",
                    "status:N",
                    alt.Tooltip("change:Q", format="+.1%"),
                    "message:N",
                ],
            )
        )
    model, hardware, metric = (p.name for p in controls.values())
    heading = alt.TitleParams(
        text=alt.ExprRef(
            f"'Trend: ' + {model} + ' on ' + {hardware} + ', ' + {metric}"
            f" + ' (' + {units}[{metric}] + ')'"
        ),
        subtitle="band: 95% CI of the mean; dashed: trend per segment; triangles: alerts",
    )
    return alt.layer(*layers, title=heading, width=WIDTH, height=HEIGHT).add_params(
        *controls.values(), show_band, show_trend, show_notes
    )


def is_latency(metrics: Sequence[str] = LATENCY_METRICS) -> pl.Expr:
    """Rows of a per-call latency metric (`LATENCY_METRICS`, or the ones given) in a time unit."""
    return pl.col("metric").is_in(list(metrics)) & pl.col("unit").is_in(list(TIME_UNITS))


def in_ms(column: str) -> pl.Expr:
    """`column` of a time row in milliseconds (null for other units)."""
    return pl.col(column) * pl.col("unit").replace_strict(TIME_UNITS, default=None)


def p50_ms() -> pl.Expr:
    """A latency row's p50 (its value where it has no p50) in milliseconds."""
    return in_ms("p50").fill_null(in_ms("value"))


def _latency_ms(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(is_latency()).with_columns(
        p50_ms().alias("latency_ms"), in_ms("p90").alias("p90_ms")
    )


def hardware_comparison_chart(
    results: pl.DataFrame, *, model_type: str | None = None
) -> alt.LayerChart | alt.Chart:
    """Latency (p50, ms) by batch size for one model, one line per hardware backend.

    Uses the latest row of each latency series (`LATENCY_METRICS`). Controls pick the model and
    the latency metric; the default model is `model_type`, else the one measured on most backends.
    """
    title = "Hardware comparison: latency by batch size"
    latest = _latency_ms(latest_per_series(results)) if not results.is_empty() else results
    if latest.is_empty():
        return placeholder(title, "no latency results stored yet")
    if model_type is None:
        counts = latest.group_by("model_type").agg(pl.col("hardware").n_unique().alias("k"))
        model_type = counts.sort(["k", "model_type"], descending=[True, False])["model_type"][0]
    metrics = sorted(latest["metric"].unique().to_list())
    model = _select("cmp_model", "model ", sorted(latest["model_type"].unique()), model_type)
    metric = _select("cmp_metric", "metric ", metrics, _default_metric(metrics))
    data = latest.select(
        "model_type", "hardware", "precision", "batch_size", "metric", "latency_ms", "p90_ms",
        "run_id",
    )
    base = alt.Chart(data).transform_filter(
        f"datum.model_type === {model.name} && datum.metric === {metric.name}"
    )
    encoding = {
        "x": alt.X("batch_size:O", title="batch size", axis=alt.Axis(labelAngle=0)),
        "color": alt.Color("hardware:N", title="hardware"),
        "strokeDash": alt.StrokeDash("precision:N", title="precision"),
    }
    lines = base.mark_line(point=True).encode(
        y=alt.Y("latency_ms:Q", title="latency p50 (ms)"),
        tooltip=[
            "hardware:N", "precision:N", "batch_size:O",
            alt.Tooltip("latency_ms:Q", format=".3f", title="p50 ms"),
            alt.Tooltip("p90_ms:Q", format=".3f", title="p90 ms"),
            "run_id:N",
        ],
        **encoding,
    )
    spread = base.mark_rule(opacity=0.5).encode(y="latency_ms:Q", y2="p90_ms:Q", **encoding)
    # The subtitle says what the thin rules are: a PNG has no tooltips to tell.
    heading = alt.Title(title, subtitle="points: p50 of the latest run; thin rules: p50 to p90")
    return alt.layer(spread, lines, title=heading, width=WIDTH, height=HEIGHT).add_params(
        model, metric
    )


def scaling_frame(results: pl.DataFrame) -> pl.DataFrame:
    """Throughput against concurrent workers, from the throughput benchmark's rows.

    Each run of the throughput benchmark stores, per (model, hardware, precision, batch size),
    `sequential_throughput` (1 worker), `concurrent_throughput` and `concurrent_workers` (N).
    Across runs made with different N this gives a scaling curve; the latest run of each N wins.

    Returns:
        Columns model_type, hardware, precision, batch_size, workers, value (items/s), ideal
        (sequential throughput x workers: perfect scaling), run_id and line (`fp32, batch 1`:
        what tells a hardware's lines apart).
    """
    group = ["run_id", "model_type", "hardware", "precision", "batch_size"]
    rows = results.filter(pl.col("benchmark") == "throughput")
    per_run = rows.group_by(group).agg(
        *(
            pl.col("value").filter(pl.col("metric") == metric).first().alias(name)
            for name, metric in (
                ("sequential", SEQUENTIAL_METRIC),
                ("concurrent", CONCURRENT_METRIC),
                ("workers", WORKERS_METRIC),
            )
        ),
        pl.col("measured_at").max(),
    ).drop_nulls(["sequential", "concurrent", "workers"])
    points = pl.concat([
        per_run.select(*group, "measured_at", "sequential", pl.lit(1.0).alias("workers"),
                       pl.col("sequential").alias("value")),
        per_run.select(*group, "measured_at", "sequential", "workers",
                       pl.col("concurrent").alias("value")),
    ])
    series = ["model_type", "hardware", "precision", "batch_size", "workers"]
    return (
        points.sort("measured_at")
        .group_by(series, maintain_order=True)
        .last()
        .with_columns((pl.col("sequential") * pl.col("workers")).alias("ideal"),
                      pl.format("{}, batch {}", "precision", "batch_size").alias("line"))
        .select(*series, "value", "ideal", "run_id", "line")
        .sort(series)
    )


def throughput_scaling_chart(results: pl.DataFrame) -> alt.LayerChart | alt.Chart:
    """Throughput against concurrent workers, per hardware, with the ideal linear scaling.

    See `scaling_frame` for where the points come from. The dashed lines are perfect scaling
    from the sequential throughput. A hardware has a line per precision and batch size, told
    apart by the points' shape (its legend), and the subtitle says which line is which, so a
    picture without tooltips (the PNG) reads too. A control picks the model.
    """
    title = "Throughput scaling with concurrent workers"
    data = scaling_frame(results)
    if data.is_empty():
        return placeholder(title, "no throughput benchmark results stored yet")
    models = sorted(data["model_type"].unique().to_list())
    model = _select("tp_model", "model ", models, models[0])
    base = alt.Chart(data).transform_filter(f"datum.model_type === {model.name}")
    # Ticks at the worker counts measured (vega put a 1.5 between 1 and 2 despite tickMinStep).
    workers = sorted({int(w) for w in data["workers"].to_list()})
    x = alt.X("workers:Q", title="concurrent workers", axis=alt.Axis(values=workers, format="d"))
    color = alt.Color("hardware:N", title="hardware")
    detail = alt.Detail(["precision:N", "batch_size:O"])
    measured_line = base.mark_line().encode(
        x=x, y=alt.Y("value:Q", title="throughput (items/s)"), color=color, detail=detail)
    measured = base.mark_point(filled=True, size=60).encode(
        x=x,
        y="value:Q",
        color=color,
        shape=alt.Shape("line:N", title="precision, batch"),
        tooltip=[
            "hardware:N", "precision:N", "batch_size:O", "workers:Q",
            alt.Tooltip("value:Q", format=".4g", title="items/s"),
            alt.Tooltip("ideal:Q", format=".4g", title="ideal items/s"), "run_id:N",
        ],
    )
    ideal = base.mark_line(strokeDash=[4, 4], opacity=0.5).encode(
        x=x, y="ideal:Q", color=color, detail=detail
    )
    heading = alt.Title(title, subtitle="solid: measured; dashed: ideal (the sequential "
                        "throughput x workers); point shape: precision and batch size")
    return alt.layer(ideal, measured_line, measured, title=heading, width=WIDTH,
                     height=HEIGHT).add_params(model)


def compatibility_heatmap(matrix: pl.DataFrame) -> alt.LayerChart | alt.Chart:
    """Pass rate of each architecture family on each hardware backend.

    Args:
        matrix: One row per (family, hardware) with `passed`, `failed` and `skipped` counts of
            model types (by their latest check). The pass rate is passed / (passed + failed);
            a cell with only skips is grey.
    """
    title = "Compatibility: pass rate by family and hardware"
    if matrix.is_empty():
        return placeholder(title, "no compatibility checks stored yet")
    data = matrix.with_columns(
        pl.when(pl.col("passed") + pl.col("failed") > 0)
        .then(pl.col("passed") / (pl.col("passed") + pl.col("failed")))
        .alias("pass_rate"),
        pl.format("{}/{}", "passed", pl.col("passed") + pl.col("failed")).alias("label"),
    )
    base = alt.Chart(data, title=title, width=alt.Step(70), height=alt.Step(26)).encode(
        x=alt.X("hardware:N", title="hardware", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("family:N", title=None, sort="ascending"),
    )
    cells = base.mark_rect(stroke="#fff").encode(
        color=alt.Color(
            "pass_rate:Q",
            title="pass rate",
            scale=alt.Scale(domain=[0, 1], scheme="redyellowgreen"),
            legend=alt.Legend(format="%"),
        ),
        tooltip=[
            "family:N", "hardware:N", alt.Tooltip("pass_rate:Q", format=".0%"),
            "passed:Q", "failed:Q", "skipped:Q",
        ],
    )
    # White on the dark ends of the scale, black in the light middle.
    dark = "datum.pass_rate > 0.75 || datum.pass_rate < 0.25"
    text = base.mark_text(fontSize=11).encode(
        text="label:N", color=alt.condition(dark, alt.value("white"), alt.value("black"))
    )
    return alt.layer(cells, text)


def coverage_chart(coverage: pl.DataFrame, tiers: Sequence[str]) -> alt.Chart:
    """Model types of each priority tier by compatibility outcome (tiers nest: critical in high...).

    Args:
        coverage: One row per (tier, status) with `models`, status one of pass (passes on at
            least one backend), fail (checked, passes nowhere), skip (only skipped), untested.
        tiers: Tier names in display order.
    """
    title = "Coverage by priority tier"
    if coverage.is_empty():
        return placeholder(title, "no model catalog stored yet")
    statuses = list(STATUS_COLORS)
    return (
        alt.Chart(coverage, title=title, width=WIDTH, height=alt.Step(28))
        .mark_bar()
        .encode(
            y=alt.Y("tier:N", sort=list(tiers), title="tier"),
            x=alt.X("models:Q", stack="normalize", title="share of model types",
                    axis=alt.Axis(format="%")),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=statuses, range=list(STATUS_COLORS.values())),
                sort=statuses,
                title="latest outcome",
            ),
            order=alt.Order("order:Q"),
            tooltip=["tier:N", "status:N", "models:Q"],
        )
        .transform_calculate(order=f"indexof({json.dumps(statuses)}, datum.status)")
    )


def movers_chart(movers: pl.DataFrame, *, top: int = 10) -> alt.HConcatChart | alt.Chart:
    """The slowest models (per hardware, at their smallest batch) and the most improved series.

    Args:
        movers: One row per latency series with `model_type`, `hardware`, `batch_size`,
            `precision`, `latest_ms` (latest p50) and `change` (relative to the baseline,
            signed; negative = faster; null without a baseline).
        top: Bars per side.
    """
    title = "Slowest and most improved"
    if movers.is_empty():
        return placeholder(title, "no latency results stored yet")
    data = movers.with_columns(
        pl.format("{} / {} / {} / bs={}", "model_type", "hardware", "size", "batch_size")
        .alias("label")
    )
    smallest = pl.col("batch_size") == pl.col("batch_size").min().over("model_type", "hardware")
    slowest = data.filter(smallest).sort("latest_ms", descending=True).head(top)
    improved = data.filter(pl.col("change") < 0).sort("change").head(top)
    tooltip = [
        "model_type:N", "hardware:N", "batch_size:O", "precision:N",
        alt.Tooltip("latest_ms:Q", format=".3f", title="latest p50 ms"),
        alt.Tooltip("change:Q", format="+.1%", title="vs baseline"),
    ]
    left = (
        alt.Chart(
            slowest, title="Slowest (latest p50, smallest batch)", width=300, height=alt.Step(18)
        )
        .mark_bar(color="#e6550d")
        .encode(
            y=alt.Y("label:N", sort="-x", title=None),
            x=alt.X("latest_ms:Q", title="latency p50 (ms)"),
            tooltip=tooltip,
        )
    )
    if improved.is_empty():
        # `change` is null for a series without an earlier run to compare with.
        why = ("no baseline yet: no series has an earlier run" if data["change"].is_null().all()
               else "no series got faster")
        right = placeholder("Most improved vs baseline", why).properties(width=300)
    else:
        right = (
            alt.Chart(improved, title="Most improved vs baseline", width=300, height=alt.Step(18))
            .mark_bar(color="#31a354")
            .encode(
                y=alt.Y("label:N", sort="x", title=None),
                x=alt.X("change:Q", title="change of p50", axis=alt.Axis(format="%")),
                tooltip=tooltip,
            )
        )
    return alt.hconcat(left, right, title=title).resolve_scale(y="independent")


def startup_chart(results: pl.DataFrame, run_id: str) -> alt.Chart:
    """Seconds before the first call, per model and hardware, in one run: cold import,
    instantiation and the rest of the init (`STARTUP_METRICS`), stacked.

    Args:
        results: Result rows; only `STARTUP_METRICS` rows of `run_id` are drawn.
        run_id: The run to show.
    """
    title = "Startup cost before the first call (s)"
    rows = results.filter(
        (pl.col("run_id") == run_id)
        & pl.col("metric").is_in(list(STARTUP_METRICS))
        & pl.col("unit").is_in(list(TIME_UNITS))
    )
    if rows.is_empty():
        return placeholder(title, "no startup times stored for this run")
    data = rows.select(
        pl.format("{} / {} / {} / {}", "model_type", "hardware", "precision", "size")
        .alias("label"),
        "metric",
        (in_ms("value") / 1000).alias("seconds"),
    ).with_columns(
        pl.col("metric").replace_strict(
            {m: i for i, m in enumerate(STARTUP_METRICS)}, return_dtype=pl.Int32
        ).alias("order")
    )
    return (
        alt.Chart(data, title=title, width=WIDTH, height=alt.Step(16))
        .mark_bar()
        .encode(
            y=alt.Y("label:N", sort="-x", title=None),
            x=alt.X("sum(seconds):Q", title="seconds"),
            color=alt.Color("metric:N", sort=list(STARTUP_METRICS), title="phase"),
            order=alt.Order("order:Q"),
            tooltip=["label:N", "metric:N", alt.Tooltip("seconds:Q", format=".3f")],
        )
    )
