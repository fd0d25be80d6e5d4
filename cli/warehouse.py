"""`skillsets warehouse`: look into the metrics warehouse, query it, move it as Parquet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import duckdb
import polars as pl
import typer
from rich.table import Table

from cli.output import console, fail, print_json
from skillsets.settings import SettingsError, load_settings
from warehouse.schema import SchemaVersionError
from warehouse.store import Warehouse, WarehouseLockedError, WarehouseReadOnlyError

warehouse_app = typer.Typer(
    help="The DuckDB metrics warehouse: info, SQL queries, Parquet export and import.",
    no_args_is_help=True,
)

WarehouseOption = Annotated[
    Path | None,
    typer.Option(
        "--warehouse", help="DuckDB file (default: SKILLSETS_WAREHOUSE, data/warehouse.duckdb)."
    ),
]


@contextmanager
def _open(warehouse: Path | None, *, read_only: bool) -> Iterator[Warehouse]:
    """The warehouse named by the flag or the settings, with every failure as a clean exit."""
    try:
        settings = load_settings(warehouse=warehouse)
    except SettingsError as exc:
        fail(str(exc))
    try:
        wh = Warehouse.open(
            settings.warehouse,
            read_only=read_only,
            quarantine_dir=settings.output_dir / "quarantine",
        )
    except (FileNotFoundError, WarehouseLockedError, SchemaVersionError) as exc:
        fail(str(exc))
    with wh:
        yield wh


def _frame_table(frame: pl.DataFrame, max_rows: int) -> Table:
    table = Table(show_lines=False)
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in frame.head(max_rows).iter_rows():
        table.add_row(*("" if value is None else str(value) for value in row))
    if frame.height > max_rows:
        table.caption = f"{max_rows} of {frame.height} rows shown; use --max-rows or --json"
    return table


@warehouse_app.command("info")
def info(
    warehouse: WarehouseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Where the warehouse is, its schema version, rows per table and the span of its history."""
    with _open(warehouse, read_only=True) as wh:
        data = wh.info()
    if as_json:
        print_json(data)
        return
    size = data["bytes"] / 1e6
    console.print(f"[bold]{data['path']}[/]  {size:.1f} MB  schema v{data['schema_version']}")
    table = Table("table", "rows")
    table.columns[1].justify = "right"
    for name, rows in data["rows"].items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    console.print(
        f"{data['series']:,} series, measured {data['first_measured_at']} .. "
        f"{data['last_measured_at']}"
    )
    if data["latest_run"]:
        run = data["latest_run"]
        console.print(
            f"latest run [bold]{run['run_id']}[/] ({run['flow']}, {run['status']}, "
            f"{run['started_at']})"
        )


@warehouse_app.command("query")
def query(
    sql: Annotated[
        str, typer.Argument(help="One read-only statement; values as $1, $2 ... with --param.")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A value for $1, $2 ... in order (repeatable)."),
    ] = None,
    warehouse: WarehouseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as a JSON list.")] = False,
    max_rows: Annotated[int, typer.Option(help="Rows to show in the table view.")] = 50,
) -> None:
    """Run one read-only SQL statement (SELECT, DESCRIBE, SHOW, EXPLAIN) and print the rows."""
    with _open(warehouse, read_only=True) as wh:
        try:
            frame = wh.query(sql, list(param) if param else None)
        except (WarehouseReadOnlyError, ValueError, duckdb.Error) as exc:
            fail(f"{exc}".strip())
    if as_json:
        typer.echo(json.dumps(frame.to_dicts(), indent=2, default=str))
        return
    console.print(_frame_table(frame, max_rows))


@warehouse_app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(help="Folder to write (hive-partitioned Parquet).")],
    warehouse: WarehouseOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a folder that is not empty.")] = False,
) -> None:
    """Write every table as Parquet partitioned by table, date and hardware."""
    from warehouse.parquet import export_parquet

    with _open(warehouse, read_only=True) as wh:
        try:
            counts = export_parquet(wh, directory, overwrite=overwrite)
        except FileExistsError as exc:
            fail(str(exc))
    for table, rows in counts.items():
        console.print(f"{table:<14} {rows:>12,} rows")
    console.print(f"exported to [bold]{directory}[/]")


@warehouse_app.command("import")
def import_(
    directory: Annotated[
        Path, typer.Argument(help="A folder written by `skillsets warehouse export`.")
    ],
    warehouse: WarehouseOption = None,
) -> None:
    """Load an exported folder; every batch is validated, and rows already stored are skipped."""
    from warehouse.parquet import import_parquet
    from warehouse.validation import RejectedBatchError

    with _open(warehouse, read_only=False) as wh:
        try:
            reports = import_parquet(wh, directory)
        except (FileNotFoundError, RejectedBatchError, ValueError) as exc:
            fail(str(exc))
    for table, batches in reports.items():
        inserted = sum(report.inserted for report in batches)
        present = sum(report.already_present for report in batches)
        console.print(f"{table:<14} {inserted:>12,} new  {present:>12,} already present")


@warehouse_app.command("compact")
def compact(warehouse: WarehouseOption = None) -> None:
    """Re-sort the results by series so one series' history reads one row group, not all.

    The writer does this by itself after enough small loads; run it after a large import.
    """
    with _open(warehouse, read_only=False) as wh:
        report = wh.compact()
    console.print(
        f"compacted {report.rows:,} rows in {report.seconds:.1f} s "
        f"({report.row_groups_before} -> {report.row_groups_after} row groups)"
    )
