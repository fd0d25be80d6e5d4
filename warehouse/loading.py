"""Validated, idempotent, transactional writes of one batch into one table.

The steps, for every table: conform the frame to the table's types, look up the run and
environment ids it refers to, validate it with Great Expectations (a failure is quarantined and
raised, nothing written), then write it in one transaction: a crash at any point leaves the table
as it was. Rows whose key is already stored are skipped (append tables) or replaced (upsert
tables), so loading the same batch twice adds nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from warehouse.frames import conform
from warehouse.records import COMPATIBILITY_KEY, RESULT_KEY, SERIES_KEY
from warehouse.validation import RejectedBatchError, quarantine, validate_batch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TablePolicy:
    """How a table is written: its key, and whether a stored key is skipped or replaced."""

    key: tuple[str, ...]
    upsert: bool = False
    #: Rows refer to the `series` table by `series_id` (results), assigned on the way in.
    series: bool = False
    #: column -> (table, column) it must refer to, and what to do when it does not.
    references: tuple[tuple[str, str, str, str], ...] = ()


_RUN = ("runs", "run_id", "record the run first with Warehouse.record_run")
_ENVIRONMENT = (
    "environments",
    "environment_id",
    "record the environment first with Warehouse.record_environment",
)
_ANALYSIS = (
    "analysis_id",
    "testsuite_analyses",
    "analysis_id",
    "store the analysis first (warehouse.testsuite.store_analysis does it in order)",
)

POLICIES: dict[str, TablePolicy] = {
    "environments": TablePolicy(key=("environment_id",)),
    "runs": TablePolicy(key=("run_id",), references=(("environment_id", *_ENVIRONMENT),)),
    "models": TablePolicy(key=("model_type",), upsert=True),
    "results": TablePolicy(
        key=RESULT_KEY,
        series=True,
        references=(("run_id", *_RUN), ("environment_id", *_ENVIRONMENT)),
    ),
    "compatibility": TablePolicy(
        key=COMPATIBILITY_KEY, references=(("run_id", *_RUN), ("environment_id", *_ENVIRONMENT))
    ),
    "alerts": TablePolicy(
        key=("alert_id",),
        upsert=True,
        references=(("first_bad_run_id", *_RUN), ("closed_by_run_id", *_RUN)),
    ),
    # Test-suite analysis (warehouse/testsuite.py): every row belongs to one analysis.
    "testsuite_analyses": TablePolicy(key=("analysis_id",)),
    "testsuite_modules": TablePolicy(key=("analysis_id", "path"), references=(_ANALYSIS,)),
    "testsuite_classes": TablePolicy(
        key=("analysis_id", "path", "qualname", "lineno"), references=(_ANALYSIS,)
    ),
    "testsuite_tests": TablePolicy(
        key=("analysis_id", "path", "qualname", "lineno"), references=(_ANALYSIS,)
    ),
    "testsuite_fixtures": TablePolicy(
        key=("analysis_id", "path", "name", "lineno"), references=(_ANALYSIS,)
    ),
    "testsuite_clusters": TablePolicy(key=("analysis_id", "cluster_id"), references=(_ANALYSIS,)),
    "testsuite_smells": TablePolicy(
        key=("analysis_id", "rule_id", "path", "qualname", "lineno", "reason"),
        references=(_ANALYSIS,),
    ),
}


@dataclass(frozen=True)
class LoadReport:
    """What one load did.

    `already_present` rows had a key the table already held: skipped for append tables
    (results, compatibility, runs, environments), replaced for upsert tables (models, alerts).
    """

    table: str
    received: int
    inserted: int
    already_present: int
    validation_seconds: float
    seconds: float


def load_frame(
    con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, quarantine_dir: Path
) -> LoadReport:
    """Validate `frame` and write it into `table` in one transaction.

    The caller holds the only write connection (see `store.Warehouse`).

    Raises:
        KeyError: an unknown table.
        ValueError: a column the table does not have or cannot store.
        RejectedBatchError: the batch failed validation; it was quarantined, nothing was written.
    """
    started = time.perf_counter()
    if table not in POLICIES:
        raise KeyError(f"unknown table {table!r}; tables: {', '.join(POLICIES)}")
    policy = POLICIES[table]
    frame = conform(table, frame)
    if frame.is_empty():
        return LoadReport(table, 0, 0, 0, 0.0, time.perf_counter() - started)
    references = {
        column: _known(con, frame, column, target, target_column)
        for column, target, target_column, _ in policy.references
    }
    outcome = validate_batch(table, frame, references=references)
    if not outcome.success:
        hints = [
            hint
            for column, _, _, hint in policy.references
            if f"expect_column_values_to_be_in_set({column})" in outcome.failed_names
        ]
        raise RejectedBatchError(outcome, quarantine(outcome, frame, quarantine_dir), hints=hints)
    staged = f"staged_{table}"
    con.register(staged, frame.to_arrow())
    try:
        logger.info("inserting %d row(s) into %s", frame.height, table)
        con.begin()
        try:
            if policy.series:
                writer = _insert_new_series_rows
            else:
                writer = _upsert if policy.upsert else _insert_new
            inserted, present = writer(con, table, staged, policy.key, frame)
            con.execute(
                "INSERT INTO loads VALUES ($1, $2, $3, now())", [table, frame.height, inserted]
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        con.unregister(staged)
    logger.info("loaded %s: %d new, %d already present", table, inserted, present)
    return LoadReport(
        table, frame.height, inserted, present, outcome.seconds, time.perf_counter() - started
    )


def _known(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, column: str, table: str, key: str
) -> list[str]:
    """The values of `frame[column]` that exist as `table.key`."""
    wanted = frame.get_column(column).drop_nulls().unique().to_list()
    if not wanted:
        return []
    # Identifiers come from POLICIES (code), values are a parameter.
    rows = con.execute(
        f"SELECT {key} FROM {table} WHERE {key} IN (SELECT unnest($1::VARCHAR[]))", [wanted]
    ).fetchall()
    return [row[0] for row in rows]


def _insert_new(
    con: duckdb.DuckDBPyConnection,
    table: str,
    staged: str,
    key: tuple[str, ...],
    frame: pl.DataFrame,
) -> tuple[int, int]:
    columns = ", ".join(key)
    inserted = con.execute(
        f"INSERT INTO {table} BY NAME SELECT * FROM {staged} ANTI JOIN {table} USING ({columns})"
    ).fetchall()[0][0]
    return int(inserted), frame.height - int(inserted)


def _insert_new_series_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    staged: str,
    key: tuple[str, ...],
    frame: pl.DataFrame,
) -> tuple[int, int]:
    """Register series not seen before, then insert rows whose (run, series) is not stored.

    The key is `records.RESULT_KEY`: the run id plus the series key.
    """
    series = ", ".join(SERIES_KEY)
    con.execute(
        f"INSERT INTO series (series_id, {series}) "
        f"SELECT (SELECT coalesce(max(series_id), 0) FROM series) "
        f"       + row_number() OVER (ORDER BY {series}), * "
        f"FROM (SELECT DISTINCT {series} FROM {staged} ANTI JOIN series USING ({series}))"
    )
    keyed = f"WITH keyed AS (SELECT * FROM {staged} JOIN series USING ({series})) "
    runs = frame.get_column("run_id").unique().to_list()
    # Only rows of the batch's runs can clash; a batch of new runs (the usual case) skips the
    # anti-join, whose cost would otherwise grow with the whole table.
    of_runs = "WHERE run_id IN (SELECT unnest($1::VARCHAR[]))"
    stored = con.execute(f"SELECT count(*) FROM {table} {of_runs}", [runs]).fetchall()[0][0]
    # Sorted by series, a batch fills row groups that each hold a narrow range of series ids.
    order = " ORDER BY series_id, measured_at"
    if not stored:
        inserted = con.execute(f"INSERT INTO {table} BY NAME {keyed}SELECT * FROM keyed{order}")
    else:
        inserted = con.execute(
            f"INSERT INTO {table} BY NAME {keyed}SELECT * FROM keyed "
            f"ANTI JOIN (SELECT run_id, series_id FROM {table} {of_runs}) "
            f"USING (run_id, series_id){order}",
            [runs],
        )
    count = int(inserted.fetchall()[0][0])
    return count, frame.height - count


def _upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    staged: str,
    key: tuple[str, ...],
    frame: pl.DataFrame,
) -> tuple[int, int]:
    columns = ", ".join(key)
    present = con.execute(
        f"SELECT count(*) FROM {staged} SEMI JOIN {table} USING ({columns})"
    ).fetchall()[0][0]
    updates = ", ".join(
        f'"{name}" = excluded."{name}"' for name in frame.columns if name not in key
    )
    con.execute(
        f"INSERT INTO {table} BY NAME SELECT * FROM {staged} "
        f"ON CONFLICT ({columns}) DO UPDATE SET {updates}"
    )
    return frame.height - int(present), int(present)
