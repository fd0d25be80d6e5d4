"""Parquet exchange: export the warehouse as hive-partitioned Parquet, import it, query it in place.

Layout: `DIR/table=<table>/date=<YYYY-MM-DD>/hardware=<backend>/*.parquet` for the tables that
have a date and a backend (results, compatibility, alerts), `table=runs/date=.../` for runs, and
`table=<table>/data.parquet` for environments and models. A team that outgrows one DuckDB file
shares such a folder (locally or on object storage) and queries it with `open_parquet_history`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import TracebackType

import duckdb
import polars as pl

from warehouse.frames import FRAME_SCHEMAS
from warehouse.loading import LoadReport
from warehouse.schema import TABLES, VIEWS
from warehouse.store import Params, Warehouse

#: table -> (timestamp column the `date=` partition comes from, whether `hardware=` partitions it).
PARTITIONS: dict[str, tuple[str | None, bool]] = {
    "environments": (None, False),
    "runs": ("started_at", False),
    "models": (None, False),
    "results": ("measured_at", True),
    "compatibility": ("checked_at", True),
    "alerts": ("opened_at", True),
}
_REMOTE_SCHEMES = ("s3://", "s3a://", "gs://", "gcs://", "r2://", "az://", "abfss://", "http://", "https://")


def export_parquet(
    wh: Warehouse, directory: str | Path, *, overwrite: bool = False
) -> dict[str, int]:
    """Write every table as hive-partitioned Parquet under `directory`; return rows per table.

    Raises:
        FileExistsError: `directory` is not empty and `overwrite` is False.
    """
    root = Path(directory)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{root} is not empty; export into a new folder or pass overwrite=True "
                "(`--overwrite`) to replace it"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in TABLES:
        date_column, by_hardware = PARTITIONS[table]
        counts[table] = int(wh.query(f"SELECT count(*) AS n FROM {table}")["n"][0])
        if counts[table] == 0:
            continue
        target = root / f"table={table}"
        # The record columns only: `series_id` is local to one DuckDB file.
        columns = ", ".join(f'"{name}"' for name in FRAME_SCHEMAS[table])
        if date_column is None:
            target.mkdir()
            wh.sql(f"SELECT {columns} FROM {table}").write_parquet(str(target / "data.parquet"))
            continue
        partition_by = ["date", "hardware"] if by_hardware else ["date"]
        relation = wh.sql(f"SELECT {columns}, CAST({date_column} AS DATE) AS date FROM {table}")
        relation.write_parquet(str(target), partition_by=partition_by)
    return counts


def import_parquet(wh: Warehouse, directory: str | Path) -> dict[str, list[LoadReport]]:
    """Load an exported folder into `wh`, table by table and one `date=` partition at a time.

    Every batch is validated and loaded idempotently, so importing the same folder twice (or
    again after an interrupted import) adds nothing twice.

    Raises:
        FileNotFoundError: `directory` has no `table=` folders.
    """
    root = Path(directory)
    found = [table for table in TABLES if (root / f"table={table}").is_dir()]
    if not found:
        raise FileNotFoundError(
            f"{root} has no table=<name> folders; export one with `skillsets warehouse export DIR`"
        )
    reports: dict[str, list[LoadReport]] = {}
    for table in found:
        reports[table] = [wh.load_frame(table, batch) for batch in _batches(wh, root, table)]
    return reports


def _batches(wh: Warehouse, root: Path, table: str) -> list[pl.DataFrame]:
    """One frame per `date=` partition of a table (the whole table when it has none)."""
    folder = root / f"table={table}"
    parts = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("date="))
    frames = []
    for source in parts or [folder]:
        relation = wh.sql(
            "SELECT * FROM read_parquet($1, hive_partitioning = true, hive_types_autocast = false)",
            [f"{source}/**/*.parquet"],
        )
        present = set(relation.columns)
        # `table=` and `date=` only name folders; `hardware=` restores a real column; columns
        # added by later migrations get the value the migration gave old rows.
        columns = [
            f'"{n}"' if n in present else f'{_MIGRATED_DEFAULTS[n]} AS "{n}"'
            for n in FRAME_SCHEMAS[table]
            if n in present or n in _MIGRATED_DEFAULTS
        ]
        frames.append(relation.project(", ".join(columns)).pl())
    return frames


#: Columns later schema migrations added, with the value a folder exported before them means
#: (as the migrations backfilled the DuckDB file: see schema.py).
_MIGRATED_DEFAULTS: dict[str, str] = {
    "execution_precision": "CAST(NULL AS VARCHAR)",
    "size": "'tiny'",
    "weights": "CAST(NULL AS VARCHAR)",
    "parameters": "CAST(NULL AS BIGINT)",
}


def _relation(con: duckdb.DuckDBPyConnection, pattern: str, table: str) -> duckdb.DuckDBPyRelation:
    """The table's columns from the Parquet files matching `pattern` (older exports get the
    columns added since, at the value the migration gave old rows)."""
    relation = con.read_parquet(pattern, hive_partitioning=True)
    columns = []
    for name in FRAME_SCHEMAS[table]:
        if name == "hardware":  # partition values are typed by guess; a backend name is text
            columns.append('CAST("hardware" AS VARCHAR) AS "hardware"')
        elif name in relation.columns:
            columns.append(f'"{name}"')
        elif name in _MIGRATED_DEFAULTS:
            columns.append(f'{_MIGRATED_DEFAULTS[name]} AS "{name}"')
    return relation.project(", ".join(columns))


#: A folder has no `series` table: ids are hashes of the series key, stable within a process.
_SERIES_VIEWS = (
    """
    CREATE VIEW results AS
    SELECT *, hash(model_type, hardware, precision, size, batch_size, benchmark, metric)
        AS series_id
    FROM results_files
    """,
    """
    CREATE VIEW series AS
    SELECT DISTINCT series_id, model_type, hardware, precision, batch_size, benchmark, metric, size
    FROM results
    """,
)


class ParquetHistory:
    """Read-only view of an exported folder: the warehouse's tables and views, no DuckDB file.

    Works on a local folder or an object-store prefix (`s3://bucket/history`, `gs://...`,
    `https://...`), through DuckDB's httpfs extension. It has `query` and `sql` like `Warehouse`,
    so the functions in `warehouse.queries` accept it.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = str(root).rstrip("/")
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        if self.root.startswith(_REMOTE_SCHEMES):
            _load_httpfs(self._con, self.root)
        for table in TABLES:
            name = "results_files" if table == "results" else table
            pattern = f"{self.root}/table={table}/**/*.parquet"
            try:
                relation = _relation(self._con, pattern, table)
            except duckdb.IOException as exc:
                if "No files found" not in str(exc):
                    raise
                # Export skips empty tables; an empty typed one keeps the views and queries valid.
                empty = pl.DataFrame(schema=FRAME_SCHEMAS[table]).to_arrow()
                self._con.from_arrow(empty).to_table(name)
                continue
            relation.create_view(name)
        for view in (*_SERIES_VIEWS, *VIEWS):
            self._con.execute(view)

    def sql(self, sql: str, params: Params = None) -> duckdb.DuckDBPyRelation:
        """A lazy relation for one statement over the folder's tables and views."""
        return self._con.sql(sql, params=params)

    def query(self, sql: str, params: Params = None) -> pl.DataFrame:
        """Run one statement and return its rows as a Polars frame."""
        return self.sql(sql, params).pl()

    def close(self) -> None:
        """Close the in-memory connection."""
        self._con.close()

    def __enter__(self) -> ParquetHistory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_parquet_history(root: str | Path) -> ParquetHistory:
    """Query an exported folder (local path or object-store URL) in place, read-only."""
    return ParquetHistory(root)


def _load_httpfs(con: duckdb.DuckDBPyConnection, root: str) -> None:
    try:
        con.load_extension("httpfs")
    except duckdb.Error:
        try:
            con.install_extension("httpfs")
            con.load_extension("httpfs")
        except duckdb.Error as exc:
            raise RuntimeError(
                f"reading {root} needs DuckDB's httpfs extension, which is not installed and "
                f"could not be downloaded ({exc}); run `INSTALL httpfs` once on a machine with "
                "network access (it is cached in ~/.duckdb/extensions), and configure credentials "
                "with a DuckDB secret (CREATE SECRET ... TYPE s3)"
            ) from exc

