"""Typed questions over the history, answered as Polars frames.

Every function takes anything with `query(sql, params) -> polars.DataFrame`: a `Warehouse`
(DuckDB file) or a `ParquetHistory` (an exported folder, local or on object storage).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

import polars as pl

from warehouse.records import SERIES_KEY
from warehouse.store import Params, Warehouse

_SERIES = ", ".join(SERIES_KEY)


class History(Protocol):
    """What the query functions need: one read-only SQL statement in, a Polars frame out."""

    def query(self, sql: str, params: Params = None) -> pl.DataFrame:
        """Run one statement with its parameters."""
        ...


def series_history(
    wh: History,
    model_type: str,
    hardware: str,
    metric: str,
    precision: str = "fp32",
    batch_size: int = 1,
    benchmark: str = "inference",
    *,
    since: datetime | None = None,
) -> pl.DataFrame:
    """Every measurement of one series, oldest first, with the run's git sha.

    Returns:
        Columns measured_at, run_id, environment_id, git_sha, value, unit, n, mean, stdev, p50,
        p90, p99, min, max, samples. Empty when the series has no rows.
    """
    found = wh.query(
        """
        SELECT series_id FROM series
        WHERE model_type = $model_type AND hardware = $hardware AND metric = $metric
          AND precision = $precision AND batch_size = $batch_size AND benchmark = $benchmark
        """,
        {
            "model_type": model_type,
            "hardware": hardware,
            "metric": metric,
            "precision": precision,
            "batch_size": batch_size,
            "benchmark": benchmark,
        },
    )
    # A constant series id lets DuckDB skip every row group whose series_id range excludes it.
    params: dict[str, object] = {"series_id": found["series_id"][0] if found.height else None}
    if since is not None:
        params["since"] = since
    return wh.query(
        f"""
        SELECT r.measured_at, r.run_id, r.environment_id, runs.git_sha, r.value, r.unit, r.n,
               r.mean, r.stdev, r.p50, r.p90, r.p99, r."min", r."max", r.samples
        FROM results AS r LEFT JOIN runs USING (run_id)
        WHERE r.series_id = $series_id {"" if since is None else "AND r.measured_at >= $since"}
        ORDER BY r.measured_at, r.run_id
        """,
        params,
    )


def latest_vs_baseline(
    wh: History,
    window: int = 10,
    *,
    hardware: str | None = None,
    metric: str | None = None,
    model_type: str | None = None,
) -> pl.DataFrame:
    """Each series' latest value against the median of its `window` measurements before it.

    Args:
        window: how many earlier measurements form the baseline (at least 1).
        hardware, metric, model_type: optional filters.

    Returns:
        One row per series: the series key, unit, latest_run_id, latest_measured_at, latest,
        baseline_median, baseline_n (earlier points used, <= window) and change, the signed
        relative change `latest / baseline_median - 1` (+0.15 = 15% higher). Whether higher is
        worse depends on the unit (ms, s, bytes: higher is worse; items/s, tokens/s: lower is).
        change is null when the series has no earlier point or a zero baseline.

    Raises:
        ValueError: `window` < 1.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 earlier measurement, got {window}")
    return wh.query(
        f"""
        WITH recent AS (
            SELECT series_id, unit, run_id, measured_at, value,
                   row_number() OVER (PARTITION BY series_id ORDER BY measured_at DESC) AS position
            FROM results
            WHERE ($hardware::VARCHAR IS NULL OR hardware = $hardware::VARCHAR)
              AND ($metric::VARCHAR IS NULL OR metric = $metric::VARCHAR)
              AND ($model_type::VARCHAR IS NULL OR model_type = $model_type::VARCHAR)
            QUALIFY position <= $window + 1
        ), summary AS (
            SELECT series_id,
                   any_value(unit) FILTER (WHERE position = 1) AS unit,
                   any_value(run_id) FILTER (WHERE position = 1) AS latest_run_id,
                   any_value(measured_at) FILTER (WHERE position = 1) AS latest_measured_at,
                   any_value(value) FILTER (WHERE position = 1) AS latest,
                   median(value) FILTER (WHERE position > 1) AS baseline_median,
                   count(*) FILTER (WHERE position > 1) AS baseline_n
            FROM recent
            GROUP BY series_id
        )
        SELECT {_SERIES}, summary.* EXCLUDE (series_id),
               latest / nullif(baseline_median, 0) - 1 AS change
        FROM summary JOIN series USING (series_id)
        ORDER BY {_SERIES}
        """,
        {"window": window, "hardware": hardware, "metric": metric, "model_type": model_type},
    )


def _checks(run_id: str | None, as_of: datetime | None = None) -> tuple[str, dict[str, object]]:
    """The compatibility rows to use: one run's, or the latest per (model type, hardware), at
    `as_of` when given (checks made after it are not seen)."""
    if run_id is not None and as_of is not None:
        raise ValueError(
            "give run_id (one run's checks) or as_of (the latest checks then), not both"
        )
    if run_id is not None:
        return "SELECT * FROM compatibility WHERE run_id = $run_id", {"run_id": run_id}
    if as_of is None:
        return "SELECT * FROM latest_compatibility", {}
    return (
        "SELECT * FROM compatibility WHERE checked_at <= $as_of QUALIFY row_number() OVER ("
        "PARTITION BY model_type, hardware ORDER BY checked_at DESC, run_id DESC) = 1",
        {"as_of": as_of},
    )


def compatibility_matrix(
    wh: History, run_id: str | None = None, *, as_of: datetime | None = None
) -> pl.DataFrame:
    """Model type x hardware status (`pass`, `fail`, `unsupported`, `skip`, null = not checked).

    Args:
        run_id: one run's checks; None = the latest check of each (model type, hardware).
        as_of: with `run_id` None, the latest checks made at or before this time.

    Returns:
        A `model_type` column and one column per hardware seen, sorted by model type.
    """
    checks, params = _checks(run_id, as_of)
    long = wh.query(
        f"SELECT model_type, hardware, status FROM ({checks}) ORDER BY model_type, hardware", params
    )
    if long.is_empty():
        return pl.DataFrame(schema={"model_type": pl.String()})
    wide = long.pivot(
        on="hardware", index="model_type", values="status", aggregate_function="first"
    )
    hardware = sorted(column for column in wide.columns if column != "model_type")
    return wide.select("model_type", *hardware).sort("model_type")


def coverage_by_family(
    wh: History, run_id: str | None = None, *, as_of: datetime | None = None
) -> pl.DataFrame:
    """Pass rates per architecture family and hardware, from the `models` catalog snapshot.

    Args:
        run_id: one run's checks; None = the latest check of each (model type, hardware).
        as_of: with `run_id` None, the latest checks made at or before this time.

    Returns:
        family (`unknown` for model types missing from `models`), hardware, models, passed,
        failed, unsupported, skipped and pass_rate = passed / (passed + failed), null when
        none passed or failed (an unsupported combination is neither).
    """
    checks, params = _checks(run_id, as_of)
    return wh.query(
        f"""
        SELECT coalesce(m.family, 'unknown') AS family, c.hardware,
               count(*) AS models,
               count(*) FILTER (WHERE c.status = 'pass') AS passed,
               count(*) FILTER (WHERE c.status = 'fail') AS failed,
               count(*) FILTER (WHERE c.status = 'unsupported') AS unsupported,
               count(*) FILTER (WHERE c.status = 'skip') AS skipped,
               passed / nullif(passed + failed, 0) AS pass_rate
        FROM ({checks}) AS c LEFT JOIN models AS m USING (model_type)
        GROUP BY ALL
        ORDER BY family, c.hardware
        """,
        params,
    )


def series_touched_by_run(wh: History, run_id: str) -> pl.DataFrame:
    """The series a run measured (what regression detection must look at after it).

    Returns:
        The series key columns and unit, one row per series, sorted.
    """
    return wh.query(
        f"SELECT DISTINCT {_SERIES}, unit FROM results WHERE run_id = $1 ORDER BY {_SERIES}",
        [run_id],
    )


def task_durations(wh: History) -> dict[tuple[str, str, str], float]:
    """Seconds the latest benchmark task of each (model type, hardware, precision) took.

    From the `task_time` rows benchmark tasks store; the sweep orders work longest-first by it.
    """
    frame = wh.query(
        """
        SELECT model_type, hardware, precision, arg_max(value, measured_at) AS seconds
        FROM results
        WHERE metric = 'task_time'
        GROUP BY ALL
        """
    )
    return {
        (row["model_type"], row["hardware"], row["precision"]): float(row["seconds"])
        for row in frame.iter_rows(named=True)
    }


def stored_task_durations(path: str | Path) -> dict[tuple[str, str, str], float]:
    """`task_durations` of the warehouse file at `path`, read-only; empty when there is none yet."""
    if not Path(path).exists():
        return {}
    with Warehouse.open(path, read_only=True) as wh:
        return task_durations(wh)
