"""Storing and reading test-suite analyses (`skillsets analyze-tests`) in the warehouse.

Rows arrive as plain dicts per table (see `skillsets.testsuite.records`) and go through the
writer's validated load path (`Warehouse.load_frame`), the analysis row first so that every
other row's `analysis_id` refers to a stored analysis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from warehouse.frames import FRAME_SCHEMAS
from warehouse.loading import LoadReport
from warehouse.store import Warehouse

#: The tables of an analysis, in load order.
TESTSUITE_TABLES: tuple[str, ...] = (
    "testsuite_analyses",
    "testsuite_modules",
    "testsuite_classes",
    "testsuite_tests",
    "testsuite_fixtures",
    "testsuite_clusters",
    "testsuite_smells",
)


def store_analysis(
    wh: Warehouse, rows: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, LoadReport]:
    """Load one analysis's rows, table by table in `TESTSUITE_TABLES` order.

    Args:
        wh: the warehouse, opened for writing.
        rows: table -> rows (`skillsets.testsuite.records.analysis_rows`).

    Returns:
        The load report of each table.

    Raises:
        ValueError: a table name that is not one of `TESTSUITE_TABLES`.
        warehouse.validation.RejectedBatchError: a batch failed validation (quarantined).
    """
    unknown = sorted(set(rows) - set(TESTSUITE_TABLES))
    if unknown:
        raise ValueError(
            f"not test-suite tables: {', '.join(unknown)}; expected {', '.join(TESTSUITE_TABLES)}"
        )
    reports = {}
    for table in TESTSUITE_TABLES:
        frame = pl.DataFrame(list(rows.get(table, ())), schema=FRAME_SCHEMAS[table], orient="row")
        reports[table] = wh.load_frame(table, frame)
    return reports


def latest_analysis_id(wh: Warehouse) -> str:
    """The id of the newest stored analysis.

    Raises:
        ValueError: no analysis is stored; run `skillsets analyze-tests` first.
    """
    rows = wh.query(
        "SELECT analysis_id FROM testsuite_analyses ORDER BY analyzed_at DESC LIMIT 1"
    )
    if rows.is_empty():
        raise ValueError(
            f"no test-suite analysis in {wh.path}; run `skillsets analyze-tests` first"
        )
    return str(rows["analysis_id"][0])


def read_analysis(wh: Warehouse, analysis_id: str) -> dict[str, pl.DataFrame]:
    """Every stored row of one analysis, as one frame per table.

    Raises:
        ValueError: no analysis with that id (the newest ids are suggested).
    """
    frames = {
        # Table names come from TESTSUITE_TABLES (code); the id is a parameter.
        table: wh.query(f"SELECT * FROM {table} WHERE analysis_id = $1", [analysis_id])
        for table in TESTSUITE_TABLES
    }
    if frames["testsuite_analyses"].is_empty():
        recent = wh.query(
            "SELECT analysis_id FROM testsuite_analyses ORDER BY analyzed_at DESC LIMIT 5"
        )["analysis_id"].to_list()
        raise ValueError(
            f"no test-suite analysis {analysis_id!r} in {wh.path}; "
            f"recent: {', '.join(recent) or 'none'}"
        )
    return frames
