"""The run report: one self-contained HTML page (alerts, summary, charts) and chart exports.

The page inlines Vega, Vega-Lite and Vega-Embed from vl-convert's bundle, so it opens offline with
no CDN; every chart is also exported through vl-convert (PNG, SVG, PDF) and as its Vega-Lite JSON.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import altair as alt
import jinja2
import numpy as np
import polars as pl
import vl_convert

from hardware.names import UnknownNameError
from warehouse import charts, charts_api, charts_quality
from warehouse.analysis import NOT_JUDGED, higher_is_better, trend
from warehouse.change_points import detect_change_points
from warehouse.noise import MIN_NOISE_RUNS, RESOLVE_STEP, series_noise
from warehouse.queries import compatibility_matrix, coverage_by_family
from warehouse.records import RUN_LEVEL_PREFIX, SERIES_KEY
from warehouse.store import Warehouse

TEMPLATES = Path(__file__).parent / "templates"
SEVERITY_ORDER = ("critical", "high", "medium", "low")
#: Runs of history the charts look back over: runs that stored results (a validate run stores
#: compatibility only), the report run's and those before it.
HISTORY_RUNS = 60
#: Models offered in the trend chart (alerted ones first, then the biggest movers): the page
#: embeds every point of every offered series, so this bounds its size.
TREND_MODELS = 10
#: Runs before the report run whose median is the baseline of "most improved" (the default
#: window of `queries.latest_vs_baseline`, which cannot be scoped to an earlier run).
BASELINE_RUNS = 10
#: The metric of the slowest/most-improved chart and the summary's latency column: one call of
#: the model's task. Other times (prefill, startup, task) have their own places.
HEADLINE_LATENCY = ("latency",)
ALERT_COLUMNS = (
    "severity", "status", "model_type", "hardware", "precision", "batch_size", "benchmark",
    "metric", "change", "confidence", "first_bad_run_id", "opened_at", "message",
)


def vegalite_version() -> str:
    """The Vega-Lite version Altair writes (`6.4`), checked against what vl-convert bundles.

    Raises:
        RuntimeError: vl-convert does not bundle it; install versions pinned together.
    """
    version = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    bundled = vl_convert.get_vegalite_versions()
    if version not in bundled:
        raise RuntimeError(
            f"Altair writes Vega-Lite {version} but vl-convert-python {vl_convert.__version__} "
            f"bundles {', '.join(bundled)}; install the versions pinned in constraints.txt"
        )
    return version


@functools.cache
def javascript_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script that defines `window.vegaEmbed` (~900 KB)."""
    bundle = vl_convert.javascript_bundle(vl_version=vegalite_version())
    if "</script" in bundle.lower():
        raise RuntimeError("the vl-convert bundle contains '</script' and cannot be inlined")
    return bundle


def _export_png(spec: dict[str, Any]) -> bytes:
    return vl_convert.vegalite_to_png(spec, vl_version=vegalite_version(), scale=2)


def _export_svg(spec: dict[str, Any]) -> bytes:
    return vl_convert.vegalite_to_svg(spec, vl_version=vegalite_version()).encode()


def _export_pdf(spec: dict[str, Any]) -> bytes:
    return vl_convert.vegalite_to_pdf(spec, vl_version=vegalite_version())


def _export_json(spec: dict[str, Any]) -> bytes:
    return json.dumps(spec, indent=2).encode()


#: Chart export format -> spec-to-bytes converter.
EXPORTERS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "png": _export_png,
    "svg": _export_svg,
    "pdf": _export_pdf,
    "json": _export_json,
}
FORMATS: tuple[str, ...] = ("html", *EXPORTERS)


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """`"html,png"` or `["html", "png"]` -> `("html", "png")`, each checked.

    Raises:
        UnknownNameError: a format that is not one of `FORMATS`, with a close match.
    """
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    picked = tuple(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    for name in picked:
        if name not in FORMATS:
            raise UnknownNameError("report format", name, FORMATS)
    if not picked:
        raise ValueError(f"no report format given; choose from {', '.join(FORMATS)}")
    return picked


@dataclass(frozen=True)
class ReportData:
    """What one report shows, read from the warehouse."""

    run: dict[str, Any] | None
    runs: int
    history: pl.DataFrame
    compatibility: pl.DataFrame
    families: pl.DataFrame
    models: pl.DataFrame
    alerts: pl.DataFrame
    tiers: tuple[str, ...] = ()

    @property
    def run_id(self) -> str:
        """The report run's id; empty when the warehouse has no run yet."""
        return self.run["run_id"] if self.run else ""


@dataclass(frozen=True)
class ReportPaths:
    """What `build_report` wrote, and the summary it published in the page.

    Attributes:
        output_dir: The report folder.
        html: The HTML page, None when `html` was not among the formats.
        charts: Chart name -> format -> exported file.
        summary_markdown: The summary as Markdown (for a Prefect artifact).
        alert_rows: The alerts table, one dict per alert, open first.
    """

    output_dir: Path
    html: Path | None
    charts: dict[str, dict[str, Path]]
    summary_markdown: str
    alert_rows: list[dict[str, Any]]


def read_report_data(
    wh: Warehouse, run_id: str | None = None, *, tiers: Sequence[str] = ()
) -> ReportData:
    """The report run (default the latest), the history up to it and the alerts.

    `tiers` (innermost first) order the coverage chart; the warehouse stores each model's tier
    but not their nesting, which is the catalog's knowledge.

    Compatibility is the latest check of each (model type, hardware) as of the report run's end
    (its start plus nothing later while it is still running): a nightly's benchmark run is
    reported with the checks its validate run made just before it, and an old run with the
    checks that stood then.

    Raises:
        ValueError: `run_id` is not in the warehouse (the message lists the latest runs).
    """
    if run_id is None:
        found = wh.query("SELECT * EXCLUDE (packages, parameters) FROM runs "
                         "ORDER BY started_at DESC, run_id DESC LIMIT 1")
    else:
        found = wh.query("SELECT * EXCLUDE (packages, parameters) FROM runs WHERE run_id = $id",
                         {"id": run_id})
        if found.is_empty():
            recent = wh.query("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 5")
            raise ValueError(
                f"no run {run_id!r} in {wh.path}; latest runs: "
                f"{', '.join(recent['run_id']) or 'none'}"
            )
    run = found.row(0, named=True) if found.height else None
    at = run["started_at"] if run else datetime.now(UTC)
    checked_by = (run["ended_at"] or datetime.now(UTC)) if run else datetime.now(UTC)
    scope = wh.query(
        "SELECT run_id FROM runs WHERE started_at <= $at "
        "AND run_id IN (SELECT DISTINCT run_id FROM results) "
        "ORDER BY started_at DESC LIMIT $n",
        {"at": at, "n": HISTORY_RUNS},
    )["run_id"].to_list()
    params = {"runs": scope}
    return ReportData(
        run=run,
        runs=len(scope),
        history=wh.query(
            "SELECT * EXCLUDE (samples) FROM results WHERE run_id IN (SELECT unnest($runs)) "
            "ORDER BY measured_at, run_id",
            params,
        ),
        compatibility=_long_checks(compatibility_matrix(wh, as_of=checked_by)),
        families=coverage_by_family(wh, as_of=checked_by),
        models=wh.query("SELECT model_type, family, tier FROM models ORDER BY model_type"),
        alerts=wh.query(
            "SELECT a.* FROM alerts a JOIN runs r ON r.run_id = a.first_bad_run_id "
            "WHERE r.started_at <= $at AND (a.status = 'open' OR a.closed_by_run_id IN "
            "(SELECT unnest($runs))) ORDER BY a.status = 'open' DESC, "
            "list_position($severities, a.severity), abs(a.change) DESC, a.alert_id",
            {**params, "at": at, "severities": list(SEVERITY_ORDER)},
        ),
        tiers=tuple(tiers),
    )


def measurements(history: pl.DataFrame) -> pl.DataFrame:
    """`history` without the rows that record a parameter, not a measurement (the worker count,
    the supported flag: `analysis.NOT_JUDGED`), which have no trend to show."""
    return history.filter(~pl.col("metric").is_in(list(NOT_JUDGED)))


def series_fits(history: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Change points and a piecewise trend of every series in `history`.

    Each series (values in time order, one per run) is cut at the change points
    `change_points.detect_change_points` finds; each segment of 3 or more runs gets its
    Theil-Sen line (`analysis.trend`), a shorter one its median.

    Returns:
        `(fitted, change_points)`: fitted has the series key, `run_id`, `fitted` and `segment`;
        change_points the series key and the `run_id` of the first run of each new segment.

    Raises:
        ValueError: a metric the analysis does not judge; pass `measurements(history)`.
    """
    fitted: list[pl.DataFrame] = []
    changes: list[dict[str, Any]] = []
    for key, group in history.sort("measured_at").group_by(list(SERIES_KEY), maintain_order=True):
        values = group["value"].to_numpy()
        starts = detect_change_points(values)
        edges = [0, *starts, len(values)]
        line = np.empty(len(values))
        segment = np.empty(len(values), dtype=np.int32)
        better_up = higher_is_better(group["metric"][0], group["unit"][0])
        for index, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
            part = values[lo:hi]
            if hi - lo >= 3:
                fit = trend(part, higher_is_better=better_up)
                line[lo:hi] = fit.intercept + fit.slope * np.arange(hi - lo)
            else:
                line[lo:hi] = np.median(part)
            segment[lo:hi] = index
        keys = dict(zip(SERIES_KEY, key, strict=True))
        fitted.append(
            group.select(*SERIES_KEY, "run_id").with_columns(
                pl.Series("fitted", line), pl.Series("segment", segment)
            )
        )
        changes.extend({**keys, "run_id": group["run_id"][i]} for i in starts)
    key_schema = {name: history.schema[name] for name in SERIES_KEY}
    empty_fit = pl.DataFrame(
        schema={**key_schema, "run_id": pl.String, "fitted": pl.Float64, "segment": pl.Int32}
    )
    return (
        pl.concat(fitted) if fitted else empty_fit,
        pl.DataFrame(changes, schema={**key_schema, "run_id": pl.String}),
    )


def latency_movers(history: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """Each latency series' p50 in the report run against the median of the runs before it.

    Returns:
        One row per series measured in the run: the series key, `latest_ms`, `baseline_ms`
        (median of up to `BASELINE_RUNS` earlier runs; null without any) and `change`
        (latest / baseline - 1; negative = faster).
    """
    rows = history.filter(charts.is_latency(HEADLINE_LATENCY)).with_columns(
        charts.p50_ms().alias("ms")
    )
    if rows.is_empty():
        return pl.DataFrame(schema={**{k: rows.schema[k] for k in SERIES_KEY},
                                    "latest_ms": pl.Float64, "baseline_ms": pl.Float64,
                                    "change": pl.Float64})
    ranked = rows.sort("measured_at").with_columns(
        pl.int_range(pl.len()).reverse().over(list(SERIES_KEY)).alias("age")
    )
    latest = ranked.filter((pl.col("run_id") == run_id) & (pl.col("age") == 0))
    baseline = (
        ranked.filter(pl.col("age").is_between(1, BASELINE_RUNS))
        .group_by(list(SERIES_KEY))
        .agg(pl.col("ms").median().alias("baseline_ms"))
    )
    return (
        latest.select(*SERIES_KEY, pl.col("ms").alias("latest_ms"))
        .join(baseline, on=list(SERIES_KEY), how="left")
        .with_columns((pl.col("latest_ms") / pl.col("baseline_ms") - 1).alias("change"))
    )


def tier_coverage(
    models: pl.DataFrame, compatibility: pl.DataFrame, tiers: Sequence[str]
) -> pl.DataFrame:
    """Model types of each tier (tiers nest) by best outcome across backends.

    A model type counts as `pass` if it passes on any backend, `fail` if checked and passing
    nowhere, `unsupported` if every check found the combination unsupported (or skipped),
    `skip` if only skipped, `untested` if never checked.

    Args:
        models: The stored catalog (`model_type`, `tier`: the innermost tier of each type).
        compatibility: One row per check (`model_type`, `hardware`, `status`).
        tiers: Tier names, innermost first (the catalog's order, `skillsets.tiers.TIERS`).
    """
    if models.is_empty() or not tiers:
        return pl.DataFrame(schema={"tier": pl.String, "status": pl.String, "models": pl.UInt32})
    best = compatibility.group_by("model_type").agg(
        pl.when((pl.col("status") == "pass").any()).then(pl.lit("pass"))
        .when((pl.col("status") == "fail").any()).then(pl.lit("fail"))
        .when((pl.col("status") == "unsupported").any()).then(pl.lit("unsupported"))
        .otherwise(pl.lit("skip")).alias("status")
    )
    outcome = models.join(best, on="model_type", how="left").with_columns(
        pl.col("status").fill_null("untested"),
        pl.col("tier").fill_null(tiers[-1]).replace_strict(
            {t: i for i, t in enumerate(tiers)}, default=len(tiers) - 1
        ).alias("rank"),
    )
    frames = [
        outcome.filter(pl.col("rank") <= rank)
        .group_by("status").agg(pl.len().alias("models"))
        .with_columns(pl.lit(tier).alias("tier"))
        for rank, tier in enumerate(tiers)
    ]
    return pl.concat(frames).select("tier", "status", "models")


def _long_checks(matrix: pl.DataFrame) -> pl.DataFrame:
    """`compatibility_matrix`'s model x hardware table back to one row per check."""
    long = matrix.unpivot(index="model_type", variable_name="hardware", value_name="status")
    return long.cast({"hardware": pl.String, "status": pl.String}).drop_nulls("status")


def _trend_models(data: ReportData, movers: pl.DataFrame) -> list[str]:
    ranked = [
        *data.alerts.filter(pl.col("status") == "open")["model_type"].to_list(),
        *movers.sort(pl.col("change").abs(), descending=True, nulls_last=True)["model_type"],
        *data.history["model_type"].unique().sort().to_list(),
    ]
    return list(dict.fromkeys(ranked))[:TREND_MODELS]


def build_charts(data: ReportData) -> dict[str, alt.TopLevelMixin]:
    """Every chart of the report, by file-safe name, in page order."""
    movers = latency_movers(data.history, data.run_id)
    shown = measurements(data.history).filter(
        pl.col("model_type").is_in(_trend_models(data, movers))
    )
    fitted, change_points = series_fits(shown)
    built = {
        "trend": charts.trend_chart(
            shown, alerts=data.alerts.filter(pl.col("status") == "open"),
            change_points=change_points, fitted=fitted,
        ),
        "hardware-comparison": charts.hardware_comparison_chart(data.history),
        "startup": charts.startup_chart(data.history, data.run_id),
        "throughput-scaling": charts.throughput_scaling_chart(data.history),
        "compatibility": charts.compatibility_heatmap(data.families),
        "coverage": charts.coverage_chart(
            tier_coverage(data.models, data.compatibility, data.tiers), data.tiers
        ),
        "movers": charts.movers_chart(movers),
        "api-latency": charts_api.api_latency_chart(data.history),
    }
    # Shown once a reduced precision's quality is stored: most histories have none.
    if not charts_quality.quality_memory_frame(data.history).is_empty():
        built["precision-quality"] = charts_quality.quality_memory_chart(data.history)
    return built


def hardware_rows(data: ReportData) -> list[dict[str, Any]]:
    """The summary table: per hardware, compatibility counts and what the run measured."""
    compat = data.compatibility.group_by("hardware").agg(
        pl.len().alias("checked"),
        (pl.col("status") == "pass").sum().alias("passed"),
        (pl.col("status") == "fail").sum().alias("failed"),
        (pl.col("status") == "unsupported").sum().alias("unsupported"),
        (pl.col("status") == "skip").sum().alias("skipped"),
    )
    measured = (
        data.history.filter(pl.col("run_id") == data.run_id)
        .group_by("hardware")
        .agg(
            pl.struct(SERIES_KEY).n_unique().alias("series"),
            charts.p50_ms()
            .filter(charts.is_latency(HEADLINE_LATENCY) & (pl.col("batch_size") == 1))
            .median()
            .alias("median_latency_ms"),
        )
    )
    table = compat.join(measured, on="hardware", how="full", coalesce=True).sort("hardware")
    rows = []
    for row in table.iter_rows(named=True):
        decided = (row["passed"] or 0) + (row["failed"] or 0)
        rows.append({
            "hardware": row["hardware"],
            "checked": row["checked"] or 0,
            "passed": row["passed"] or 0,
            "failed": row["failed"] or 0,
            "unsupported": row["unsupported"] or 0,
            "skipped": row["skipped"] or 0,
            "pass_rate": f"{row['passed'] / decided:.0%}" if decided else "-",
            "series": row["series"] or 0,
            "median_latency_ms": (
                f"{row['median_latency_ms']:.2f}" if row["median_latency_ms"] is not None else "-"
            ),
        })
    return rows


def alert_rows(alerts: pl.DataFrame) -> list[dict[str, Any]]:
    """The alerts table rows (open first, most severe first), times as ISO text."""
    return [
        {k: (v.isoformat(timespec="minutes") if isinstance(v, datetime) else v)
         for k, v in row.items()}
        for row in alerts.select(ALERT_COLUMNS).iter_rows(named=True)
    ]


@dataclass(frozen=True)
class NoiseTable:
    """The report's noise section: `rows` (see `noise_rows`) and the series left out of them:
    `without_cv` (series key, metric), whose values reach 0 or below and so have no relative
    spread (a memory increase of 0), and `not_judged`, the series of metrics that record a
    setting, not a measurement (`analysis.NOT_JUDGED`: the worker count, the supported flag).
    Together the three count every series of the history."""

    rows: list[dict[str, Any]]
    without_cv: list[tuple[str, str]]
    not_judged: list[tuple[str, str]]

    @property
    def left_out_metrics(self) -> list[str]:
        """The metrics of the series without a CV, each once, sorted."""
        return sorted({metric for _, metric in self.without_cv})

    @property
    def not_judged_metrics(self) -> list[str]:
        """The metrics of the not-judged series, each once, sorted."""
        return sorted({metric for _, metric in self.not_judged})


def noise_rows(history: pl.DataFrame) -> NoiseTable:
    """Each judged series' noise over the report's history (`warehouse.noise`), noisiest first:
    `series`, `runs`, `cv`, `detectable_step` (None: too little history), `known` (enough runs
    to say) and `resolves` (a 10% step). Series with a value <= 0 have no CV: they are counted
    in `NoiseTable.without_cv`, and the series of settings in `NoiseTable.not_judged`, so the
    section can say how many it does not list."""
    rows = []
    without_cv = []
    not_judged = []
    for key, group in history.sort("measured_at").group_by(list(SERIES_KEY),
                                                           maintain_order=True):
        name = "/".join(str(k) for k in key)
        metric = str(group["metric"][0])
        if metric in NOT_JUDGED:
            not_judged.append((name, metric))
            continue
        try:
            noise = series_noise(group["value"].to_numpy())
        except ValueError:
            without_cv.append((name, metric))
            continue
        rows.append({"series": name, "runs": noise.runs,
                     "cv": noise.cv, "detectable_step": noise.detectable_step,
                     "known": noise.known, "resolves": noise.resolves(RESOLVE_STEP)})
    rows.sort(key=lambda r: (not r["known"], -r["detectable_step"], -r["cv"], r["series"]))
    return NoiseTable(
        rows=[{**r, "detectable_step": None if math.isinf(r["detectable_step"]) else
               r["detectable_step"]} for r in rows],
        without_cv=without_cv, not_judged=not_judged)


def summary(data: ReportData) -> dict[str, Any]:
    """Headline numbers of the report run."""
    in_run = data.history.filter(pl.col("run_id") == data.run_id)
    decided = data.compatibility.filter(pl.col("status").is_in(["pass", "fail"]))
    passed = int((decided["status"] == "pass").sum())
    return {
        "run_id": data.run_id or None,
        "run_started": data.run["started_at"].isoformat(timespec="minutes") if data.run else None,
        "runs": data.runs,
        # run-level rows (`_reference`, `_stack`) are no model
        "models": in_run.filter(
            ~pl.col("model_type").str.starts_with(RUN_LEVEL_PREFIX))["model_type"].n_unique(),
        "series": in_run.select(SERIES_KEY).n_unique() if in_run.height else 0,
        "open_alerts": int((data.alerts["status"] == "open").sum()),
        "pass_rate": f"{passed / decided.height:.0%}" if decided.height else "-",
    }


def summary_markdown(
    head: dict[str, Any], alerts: Sequence[dict[str, Any]], hardware: Sequence[dict[str, Any]]
) -> str:
    """The report's summary as Markdown: headline, alerts (open first), hardware table."""
    lines = [
        f"# Run `{head['run_id']}`" if head["run_id"] else "# No runs yet",
        "",
        f"- open alerts: **{head['open_alerts']}**",
        f"- model types measured: {head['models']}, series: {head['series']}",
        f"- compatibility pass rate: {head['pass_rate']}",
        f"- measured runs in history: {head['runs']}",
        "",
        "## Alerts",
        "",
    ]
    if alerts:
        lines += [
            "| severity | status | series | change | message |",
            "| --- | --- | --- | --: | --- |",
        ]
        lines += [
            f"| {a['severity']} | {a['status']} | {a['model_type']} / {a['hardware']} / "
            f"bs={a['batch_size']} / {a['metric']} | {a['change']:+.1%} | {a['message']} |"
            for a in alerts
        ]
    else:
        lines.append("No alerts.")
    lines += ["", "## Hardware", "",
              "| hardware | pass | fail | unsupported | skip | pass rate | series |",
              "| --- | --: | --: | --: | --: | --: | --: |"]
    lines += [
        f"| {h['hardware']} | {h['passed']} | {h['failed']} | {h['unsupported']} | "
        f"{h['skipped']} | {h['pass_rate']} | {h['series']} |"
        for h in hardware
    ]
    return "\n".join(lines) + "\n"


def render_html(
    head: dict[str, Any],
    alerts: Sequence[dict[str, Any]],
    hardware: Sequence[dict[str, Any]],
    specs: dict[str, dict[str, Any]],
    exports: dict[str, dict[str, str]],
    noise: NoiseTable | None = None,
) -> str:
    """The self-contained page: Vega libraries inlined, one embedded spec per chart; `noise`:
    `noise_rows` (none: an empty section)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html.j2").render(
        title=f"hf-skillsets report: {head['run_id'] or 'no runs yet'}",
        summary=head,
        alerts=alerts,
        hardware_rows=hardware,
        noise_rows=noise.rows if noise else [],
        noise_left_out=noise.without_cv if noise else [],
        noise_left_out_metrics=noise.left_out_metrics if noise else [],
        noise_not_judged=noise.not_judged if noise else [],
        noise_not_judged_metrics=noise.not_judged_metrics if noise else [],
        resolve_step=RESOLVE_STEP,
        min_noise_runs=MIN_NOISE_RUNS,
        charts=[{"name": n, "spec": s, "exports": exports.get(n, {})} for n, s in specs.items()],
        vega_js=javascript_bundle(),
        versions={"vega_lite": vegalite_version(), "vega": vl_convert.get_vega_version()},
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def build_report(
    wh: Warehouse,
    run_id: str | None = None,
    *,
    output_dir: str | Path,
    formats: str | Iterable[str] = ("html", "png"),
    tiers: Sequence[str],
) -> ReportPaths:
    """Write the report of a run: the HTML page and each chart in the chart formats asked for.

    Args:
        wh: The warehouse (read-only is enough).
        run_id: The run to report on; default the latest.
        output_dir: Folder for `report.html` and `charts/<name>.<format>`; created if missing.
        formats: Any of `FORMATS` (`html`, `png`, `svg`, `json`, `pdf`), as a list or
            comma-separated.
        tiers: The catalog's tier names, innermost first (`skillsets.tiers.TIERS`).

    Raises:
        UnknownNameError: an unknown format.
        ValueError: an unknown run id.
    """
    picked = parse_formats(formats)
    out = Path(output_dir)
    data = read_report_data(wh, run_id, tiers=tiers)
    specs = {name: chart.to_dict() for name, chart in build_charts(data).items()}
    written: dict[str, dict[str, Path]] = {}
    chart_formats = [f for f in picked if f in EXPORTERS]
    if chart_formats:
        (out / "charts").mkdir(parents=True, exist_ok=True)
    for name, spec in specs.items():
        for fmt in chart_formats:
            path = out / "charts" / f"{name}.{fmt}"
            path.write_bytes(EXPORTERS[fmt](spec))
            written.setdefault(name, {})[fmt] = path
    head = summary(data)
    alerts = alert_rows(data.alerts)
    hardware = hardware_rows(data)
    html = None
    if "html" in picked:
        out.mkdir(parents=True, exist_ok=True)
        links = {
            name: {fmt: path.relative_to(out).as_posix() for fmt, path in files.items()}
            for name, files in written.items()
        }
        html = out / "report.html"
        noise = noise_rows(data.history)
        html.write_text(render_html(head, alerts, hardware, specs, links, noise),
                        encoding="utf-8")
    return ReportPaths(
        output_dir=out,
        html=html,
        charts=written,
        summary_markdown=summary_markdown(head, alerts, hardware),
        alert_rows=alerts,
    )
