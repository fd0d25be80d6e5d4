"""Batches as Polars frames: the column types of every loadable table and record -> frame helpers.

Loading works on frames, not on lists of records, so a million rows cost one columnar copy rather
than a million Python objects. Dict fields become JSON text; everything else keeps its type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from pydantic import BaseModel

from warehouse.records import utcnow

_TEXT = pl.String()
_TIME = pl.Datetime("us", "UTC")

#: Column -> Polars type of each table, in the table's column order (see schema.py).
FRAME_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "environments": {
        "environment_id": _TEXT, "hostname": _TEXT, "cpu_model": _TEXT, "cpu_cores": pl.Int32(),
        "memory_bytes": pl.Int64(), "os": _TEXT, "python": _TEXT, "packages": _TEXT,
        "hardware": _TEXT, "git_sha": _TEXT,
    },
    "runs": {
        "run_id": _TEXT, "flow": _TEXT, "started_at": _TIME, "ended_at": _TIME, "status": _TEXT,
        "git_sha": _TEXT, "environment_id": _TEXT, "packages": _TEXT, "parameters": _TEXT,
    },
    "models": {
        "model_type": _TEXT, "family": _TEXT, "task": _TEXT, "tier": _TEXT, "details": _TEXT,
        "recorded_at": _TIME,
    },
    "results": {
        "run_id": _TEXT, "environment_id": _TEXT, "model_type": _TEXT, "hardware": _TEXT,
        "precision": _TEXT, "batch_size": pl.Int32(), "benchmark": _TEXT, "metric": _TEXT,
        "value": pl.Float64(), "unit": _TEXT, "n": pl.Int32(), "mean": pl.Float64(),
        "stdev": pl.Float64(), "p50": pl.Float64(), "p90": pl.Float64(), "p99": pl.Float64(),
        "min": pl.Float64(), "max": pl.Float64(), "samples": pl.List(pl.Float64()),
        "measured_at": _TIME, "execution_precision": _TEXT, "size": _TEXT, "weights": _TEXT,
        "parameters": pl.Int64(),
    },
    "compatibility": {
        "run_id": _TEXT, "environment_id": _TEXT, "model_type": _TEXT, "hardware": _TEXT,
        "status": _TEXT, "error_type": _TEXT, "message": _TEXT, "seconds": pl.Float64(),
        "max_abs_diff": pl.Float64(), "details": _TEXT, "checked_at": _TIME,
        "execution_precision": _TEXT,
    },
    "alerts": {
        "alert_id": _TEXT, "model_type": _TEXT, "hardware": _TEXT, "precision": _TEXT,
        "batch_size": pl.Int32(), "benchmark": _TEXT, "metric": _TEXT, "first_bad_run_id": _TEXT,
        "severity": _TEXT, "change": pl.Float64(), "confidence": pl.Float64(),
        "p_value": pl.Float64(), "status": _TEXT, "opened_at": _TIME, "closed_at": _TIME,
        "closed_by_run_id": _TEXT, "message": _TEXT, "size": _TEXT,
    },
    # Test-suite analysis (warehouse/testsuite.py); lists and mappings are JSON text.
    "testsuite_analyses": {
        "analysis_id": _TEXT, "analyzed_at": _TIME, "paths": _TEXT, "threshold": pl.Float64(),
        "modules": pl.Int32(), "unparsable": pl.Int32(), "tests": pl.Int32(),
        "clusters": pl.Int32(), "smells": pl.Int32(), "seconds": pl.Float64(),
        "packages": _TEXT, "git_sha": _TEXT, "plan": _TEXT,
    },
    "testsuite_modules": {
        "analysis_id": _TEXT, "path": _TEXT, "lines": pl.Int32(), "tests": pl.Int32(),
        "classes": pl.Int32(), "fixtures": pl.Int32(), "imports_pytest": pl.Boolean(),
        "error": _TEXT,
    },
    "testsuite_classes": {
        "analysis_id": _TEXT, "path": _TEXT, "qualname": _TEXT, "bases": _TEXT,
        "lineno": pl.Int32(), "end_lineno": pl.Int32(), "is_unittest": pl.Boolean(),
    },
    "testsuite_tests": {
        "analysis_id": _TEXT, "path": _TEXT, "qualname": _TEXT, "class_name": _TEXT,
        "lineno": pl.Int32(), "end_lineno": pl.Int32(), "lines": pl.Int32(), "fixtures": _TEXT,
        "parametrizations": _TEXT, "markers": _TEXT, "assertions": pl.Int32(),
        "assertion_kinds": _TEXT, "calls": _TEXT, "fingerprint": _TEXT, "exact_cluster": _TEXT,
        "near_cluster": _TEXT,
    },
    "testsuite_fixtures": {
        "analysis_id": _TEXT, "path": _TEXT, "name": _TEXT, "scope": _TEXT,
        "autouse": pl.Boolean(), "lineno": pl.Int32(), "uses": pl.Int32(),
    },
    "testsuite_clusters": {
        "analysis_id": _TEXT, "cluster_id": _TEXT, "kind": _TEXT, "size": pl.Int32(),
        "members": _TEXT, "similarity": pl.Float64(), "literal_only": pl.Boolean(),
        "differences": _TEXT, "lines": pl.Int32(), "lines_removed": pl.Int32(),
        "proposal": _TEXT,
    },
    "testsuite_smells": {
        "analysis_id": _TEXT, "rule_id": _TEXT, "rule": _TEXT, "path": _TEXT, "qualname": _TEXT,
        "lineno": pl.Int32(), "reason": _TEXT,
    },
}

#: Catalog entry keys `models_frame` keeps as columns; the whole entry also goes to `details`.
_MODEL_COLUMNS = ("family", "task", "tier")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def records_frame(table: str, records: Sequence[BaseModel]) -> pl.DataFrame:
    """The frame of `records` for `table`, dict fields as JSON text.

    Raises:
        KeyError: `table` has no frame schema (the message lists the ones that do).
    """
    schema = _schema(table)
    columns: dict[str, list[Any]] = {name: [] for name in schema}
    for record in records:
        for name in schema:
            value = getattr(record, name)
            columns[name].append(_json(value) if isinstance(value, dict) else value)
    return pl.DataFrame(columns, schema=schema)


def models_frame(entries: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Catalog entries (dicts with at least `model_type`) as a `models` frame.

    `family`, `task` and `tier` (or `priority`) become columns; the whole entry is kept as JSON in
    `details`, so catalog fields added later are not lost.
    """
    now = utcnow()
    rows = []
    for entry in entries:
        row: dict[str, Any] = {"model_type": entry.get("model_type")}
        for name in _MODEL_COLUMNS:
            row[name] = entry.get(name)
        if row["tier"] is None:
            row["tier"] = entry.get("priority")
        row["details"] = _json(dict(entry))
        row["recorded_at"] = now
        rows.append(row)
    return pl.DataFrame(rows, schema=FRAME_SCHEMAS["models"])


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with exactly `table`'s columns, in order and of the stored types.

    Missing columns are added as nulls (validation then rejects missing required ones), except
    `size`, which is `tiny` as in the records and the schema default: a frame written before
    size joined the series key measured tiny random models.

    Raises:
        ValueError: a column the table does not have, or one that cannot be cast, named.
    """
    schema = _schema(table)
    unknown = [name for name in frame.columns if name not in schema]
    if unknown:
        raise ValueError(
            f"{table}: unknown column(s) {', '.join(unknown)}; the table has {', '.join(schema)}"
        )
    columns = []
    for name, dtype in schema.items():
        if name not in frame.columns:
            value = "tiny" if name == "size" else None
            columns.append(pl.repeat(value, frame.height, dtype=dtype, eager=True).alias(name))
            continue
        column = frame.get_column(name)
        try:
            columns.append(column if column.dtype == dtype else column.cast(dtype, strict=True))
        except pl.exceptions.PolarsError as exc:
            raise ValueError(
                f"{table}.{name}: cannot store {column.dtype} as {dtype}: {exc}"
            ) from None
    return pl.DataFrame(columns)


def _schema(table: str) -> dict[str, pl.DataType]:
    try:
        return FRAME_SCHEMAS[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; tables: {', '.join(FRAME_SCHEMAS)}") from None
