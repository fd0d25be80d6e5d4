"""The DuckDB warehouse: one writer per file, any number of readers, every write validated.

DuckDB lets one process write a database file, and readers only while no process writes. All
writes go through `Warehouse` opened with `read_only=False`; everything else opens it read-only.
A second writer (or a reader while a writer holds the file) gets `WarehouseLockedError`, and the
file is never touched.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import polars as pl

from hardware.fingerprint import EnvironmentFingerprint
from warehouse.frames import models_frame, records_frame
from warehouse.loading import LoadReport, load_frame
from warehouse.maintenance import (
    COMPACT_AFTER_ROWS,
    CompactReport,
    compact_results,
    unclustered_rows,
)
from warehouse.records import AlertRecord, CompatibilityRecord, ResultRecord, RunRecord
from warehouse.schema import TABLES, check_readable, migrate, schema_version

__all__ = [
    "CompactReport", "LoadReport", "Warehouse", "WarehouseLockedError", "WarehouseReadOnlyError"
]

Params = Sequence[object] | Mapping[str, object] | None
_READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
_FINAL_STATUSES = ("completed", "failed")
_LOCKS: dict[Path, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


class WarehouseLockedError(RuntimeError):
    """Another process (or this one, in the other mode) holds the warehouse file."""

    def __init__(self, path: Path, read_only: bool, holder: str) -> None:
        self.path = path
        self.holder = holder
        wanted = "read" if read_only else "write"
        super().__init__(
            f"cannot open {path} to {wanted}: it is held by {holder}. DuckDB allows one writing "
            "process per file, and readers only while nobody writes. Route writes through the "
            "one writer (the flow's warehouse task, or a single `Warehouse.open(path)` shared in "
            "your process); read after it closes, or query an exported copy "
            "(`skillsets warehouse export DIR`, `warehouse.parquet.open_parquet_history`)."
        )


class WarehouseReadOnlyError(RuntimeError):
    """A write was attempted through a read-only `Warehouse`."""


def _lock_for(path: Path) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.RLock())


class Warehouse:
    """The metrics warehouse in one DuckDB file. Open it with `Warehouse.open`.

    All methods are safe to call from several threads of one process: they take the file's lock.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        read_only: bool,
        quarantine_dir: Path | None,
        compact_after_rows: int | None = COMPACT_AFTER_ROWS,
    ) -> None:
        self._con = con
        self.path = path
        self.read_only = read_only
        self._quarantine_dir = quarantine_dir
        self._compact_after_rows = compact_after_rows
        self._lock = _lock_for(path)

    @classmethod
    def open(
        cls,
        path: str | Path,
        read_only: bool = False,
        *,
        quarantine_dir: str | Path | None = None,
        compact_after_rows: int | None = COMPACT_AFTER_ROWS,
    ) -> Warehouse:
        """Open (and, for a writer, create and migrate) the warehouse at `path`.

        Args:
            path: the DuckDB file; `Settings.warehouse` by convention.
            read_only: open for reading; any number of readers may share the file.
            quarantine_dir: where rejected batches go; default `Settings.output_dir / "quarantine"`.
            compact_after_rows: the writer compacts `results` after a load once this many rows
                have arrived in small (unclustered) loads; None = only when `compact` is called.

        Raises:
            FileNotFoundError: read-only open of a file that does not exist.
            WarehouseLockedError: another process holds the file.
            schema.SchemaVersionError: read-only open of a file at another schema version.
        """
        path = Path(path).resolve()
        if read_only and not path.exists():
            raise FileNotFoundError(
                f"no warehouse at {path}; it is created by the first run that writes to it "
                "(or `skillsets warehouse import DIR`); check --warehouse / SKILLSETS_WAREHOUSE"
            )
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        with _lock_for(path):
            con = _connect(path, read_only)
            try:
                con.execute("SET TimeZone = 'UTC'")
                con.execute("SET enable_progress_bar = false")
                if read_only:
                    check_readable(con, str(path))
                else:
                    migrate(con)
            except BaseException:
                con.close()
                raise
        quarantine = Path(quarantine_dir) if quarantine_dir is not None else None
        return cls(con, path, read_only, quarantine, compact_after_rows)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; the file's lock is released when no connection remains."""
        with self._lock:
            self._con.close()

    @property
    def quarantine_dir(self) -> Path:
        """Where rejected batches are written."""
        if self._quarantine_dir is None:
            from skillsets.settings import load_settings

            self._quarantine_dir = load_settings().output_dir / "quarantine"
        return self._quarantine_dir

    # Reading

    def sql(self, sql: str, params: Params = None) -> duckdb.DuckDBPyRelation:
        """A lazy relation for one read-only statement (SELECT, EXPLAIN, DESCRIBE, SHOW...).

        Values go in `params` (`$1` positional or `$name` named), never into the SQL text.

        Raises:
            WarehouseReadOnlyError: the statement would write; writes go through the load methods.
            ValueError: more or fewer than one statement.
        """
        with self._lock:
            statements = self._con.extract_statements(sql)
            if len(statements) != 1:
                raise ValueError(f"expected one SQL statement, got {len(statements)}: {sql!r}")
            if statements[0].type not in _READ_STATEMENTS:
                raise WarehouseReadOnlyError(
                    f"{statements[0].type.name} statements are not run through query(): writes "
                    "go through the validated load methods (load_results, record_run, ...)"
                )
            return self._con.sql(sql, params=params)

    def query(self, sql: str, params: Params = None) -> pl.DataFrame:
        """Run one read-only statement and return its rows as a Polars frame."""
        with self._lock:
            return self.sql(sql, params).pl()

    def table_counts(self) -> dict[str, int]:
        """Rows per table, in load order."""
        with self._lock:
            return {
                table: int(self._con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0])
                for table in TABLES
            }

    def info(self) -> dict[str, Any]:
        """Path, size, schema version, rows per table and the time span of the results."""
        with self._lock:
            first, last, series = self._con.sql(
                "SELECT min(measured_at), max(measured_at), (SELECT count(*) FROM series) "
                "FROM results"
            ).fetchall()[0]
            latest_run = self._con.sql(
                "SELECT run_id, flow, status, started_at FROM runs ORDER BY started_at DESC LIMIT 1"
            ).fetchall()
            unclustered = unclustered_rows(self._con)
        return {
            "path": str(self.path),
            "bytes": self.path.stat().st_size,
            "schema_version": self.schema_version,
            "rows": self.table_counts(),
            "series": int(series),
            "unclustered_rows": unclustered,
            "first_measured_at": first,
            "last_measured_at": last,
            "latest_run": (
                dict(zip(("run_id", "flow", "status", "started_at"), latest_run[0], strict=True))
                if latest_run
                else None
            ),
        }

    @property
    def schema_version(self) -> int:
        """The schema version of the open file (equal to `schema.SCHEMA_VERSION`)."""
        with self._lock:
            return schema_version(self._con)

    # Writing

    def load_frame(self, table: str, frame: pl.DataFrame) -> LoadReport:
        """Validate and load a batch for any table (see `warehouse.loading.load_frame`)."""
        self._require_writer()
        with self._lock:
            report = load_frame(self._con, table, frame, self.quarantine_dir)
            limit = self._compact_after_rows
            if table == "results" and limit is not None and unclustered_rows(self._con) >= limit:
                self.compact()
            return report

    def record_environment(self, fingerprint: EnvironmentFingerprint) -> LoadReport:
        """Store an environment fingerprint (once per id)."""
        return self.load_frame("environments", records_frame("environments", [fingerprint]))

    def record_run(self, run: RunRecord) -> LoadReport:
        """Store a run (once per run id). Its environment must be recorded first."""
        return self.load_frame("runs", records_frame("runs", [run]))

    def finish_run(self, run_id: str, status: str) -> None:
        """Mark a run `completed` or `failed`, with `ended_at` now.

        Raises:
            ValueError: an unknown status or run id.
        """
        if status not in _FINAL_STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(_FINAL_STATUSES)}")
        self._require_writer()
        with self._lock:
            updated = self._con.execute(
                "UPDATE runs SET status = $1, ended_at = now() WHERE run_id = $2", [status, run_id]
            ).fetchall()[0][0]
        if not updated:
            raise ValueError(f"no run {run_id!r} in {self.path}; record it first with record_run")

    def record_models(self, rows: Sequence[Mapping[str, Any]]) -> LoadReport:
        """Store a catalog snapshot: one row per model type, the latest snapshot wins."""
        return self.load_frame("models", models_frame(rows))

    def load_results(self, records: Sequence[ResultRecord]) -> LoadReport:
        """Validate and load benchmark results; a result already stored (same key) is skipped."""
        return self.load_frame("results", records_frame("results", records))

    def load_compatibility(self, records: Sequence[CompatibilityRecord]) -> LoadReport:
        """Validate and load compatibility checks; one already stored (same key) is skipped."""
        return self.load_frame("compatibility", records_frame("compatibility", records))

    def upsert_alerts(self, records: Sequence[AlertRecord]) -> LoadReport:
        """Insert new alerts and replace stored ones with the same `alert_id` (e.g. closing)."""
        return self.load_frame("alerts", records_frame("alerts", records))

    def compact(self) -> CompactReport:
        """Rewrite `results` sorted by series (see `warehouse.maintenance`); one transaction."""
        self._require_writer()
        with self._lock:
            return compact_results(self._con)

    def _require_writer(self) -> None:
        if self.read_only:
            raise WarehouseReadOnlyError(
                f"{self.path} was opened read-only; writes go through the one writer "
                "(`Warehouse.open(path)` without read_only)"
            )


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Connect, turning DuckDB's lock conflicts into `WarehouseLockedError`."""
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        match = re.search(r"Conflicting lock is held in (.*) \(PID (\d+)\)", str(exc))
        if match is None:
            raise
        holder = f"process {match.group(2)} ({match.group(1)})"
        raise WarehouseLockedError(path, read_only, holder) from None
    except duckdb.ConnectionException as exc:
        if "different configuration" not in str(exc):
            raise
        other = "read-write" if read_only else "read-only"
        holder = f"this process (PID {os.getpid()}), which has it open {other}"
        raise WarehouseLockedError(path, read_only, holder) from None

