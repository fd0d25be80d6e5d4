"""Keeping the results table fast to read as it grows: compaction.

Each load is written sorted by series, but a load of one nightly run (thousands of rows) is
smaller than a DuckDB row group (122,880 rows), so after many nights every row group holds every
series and a one-series history has to read them all. Compaction rewrites `results` sorted by
(series_id, measured_at): each row group then covers a narrow range of series ids, and DuckDB
skips the others from their min/max statistics. The writer compacts by itself once
`COMPACT_AFTER_ROWS` rows have arrived in such small loads since the last compaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import duckdb

logger = logging.getLogger(__name__)

#: Rows per DuckDB row group; a load at least this big is already clustered by series.
ROW_GROUP_ROWS = 122_880
#: Unclustered rows (from smaller loads) after which the writer compacts `results` by itself.
COMPACT_AFTER_ROWS = 1_000_000


@dataclass(frozen=True)
class CompactReport:
    """What one compaction did."""

    rows: int
    row_groups_before: int
    row_groups_after: int
    seconds: float


def row_groups(con: duckdb.DuckDBPyConnection) -> int:
    """How many row groups `results` has on disk."""
    return int(
        con.sql(
            "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('results')"
        ).fetchall()[0][0]
    )


def unclustered_rows(con: duckdb.DuckDBPyConnection) -> int:
    """Result rows loaded in batches smaller than a row group since the last compaction."""
    return int(
        con.execute(
            "SELECT coalesce(sum(inserted), 0) FROM loads "
            "WHERE table_name = 'results' AND inserted < $1 AND loaded_at > "
            "(SELECT coalesce(max(compacted_at), '-infinity'::TIMESTAMPTZ) FROM compactions)",
            [ROW_GROUP_ROWS],
        ).fetchall()[0][0]
    )


def compact_results(con: duckdb.DuckDBPyConnection) -> CompactReport:
    """Rewrite `results` sorted by series and time, in one transaction, then checkpoint.

    A crash part way leaves the table as it was. Costs a few seconds per million rows and
    memory for one sorted copy; run it after a large import or every few weeks of nightly runs.
    """
    started = time.perf_counter()
    before = row_groups(con)
    con.begin()
    try:
        con.execute(
            "CREATE TEMP TABLE results_sorted AS "
            "SELECT * FROM results ORDER BY series_id, measured_at"
        )
        con.execute("DELETE FROM results")
        rows = int(con.execute("INSERT INTO results SELECT * FROM results_sorted").fetchall()[0][0])
        con.execute("DROP TABLE results_sorted")
        con.execute(
            "INSERT INTO compactions VALUES (now(), $1, $2)", [rows, time.perf_counter() - started]
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    con.execute("CHECKPOINT")
    report = CompactReport(rows, before, row_groups(con), time.perf_counter() - started)
    logger.info("compacted results: %s", report)
    return report
