"""The warehouse schema: DDL as an ordered list of migrations, applied on open by the writer.

A migration is history: once released its statements never change. A changed table or view is a
new migration appended to `MIGRATIONS`. `schema_version` records which migrations a file has.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

#: Latest result per series (`series_id` stands for the key `records.SERIES_KEY`).
LATEST_RESULTS_VIEW = """
CREATE OR REPLACE VIEW latest_results AS
SELECT * FROM results
QUALIFY row_number() OVER (PARTITION BY series_id ORDER BY measured_at DESC) = 1
"""

#: Latest compatibility check per (model type, hardware), whichever run made it.
LATEST_COMPATIBILITY_VIEW = """
CREATE OR REPLACE VIEW latest_compatibility AS
SELECT * FROM compatibility
QUALIFY row_number() OVER (
    PARTITION BY model_type, hardware ORDER BY checked_at DESC, run_id DESC
) = 1
"""

#: Model type x backend status, one column per backend the registry knew at this migration.
#: A view cannot pivot on values found in the data, so `queries.compatibility_matrix` is the
#: dynamic form; this view is for people typing SQL.
COMPATIBILITY_PIVOT_VIEW = """
CREATE OR REPLACE VIEW compatibility_pivot AS
SELECT
    model_type,
    any_value(status) FILTER (WHERE hardware = 'cpu') AS cpu,
    any_value(status) FILTER (WHERE hardware = 'cuda') AS cuda,
    any_value(status) FILTER (WHERE hardware = 'rocm') AS rocm,
    any_value(status) FILTER (WHERE hardware = 'openvino') AS openvino,
    any_value(status) FILTER (WHERE hardware = 'mps') AS mps,
    any_value(status) FILTER (WHERE hardware = 'qnn') AS qnn
FROM latest_compatibility
GROUP BY model_type
"""

#: Views every reader of the history gets, the DuckDB file and a Parquet folder alike.
VIEWS: tuple[str, ...] = (LATEST_RESULTS_VIEW, LATEST_COMPATIBILITY_VIEW, COMPATIBILITY_PIVOT_VIEW)

_INITIAL = (
    """
    CREATE TABLE environments (
        environment_id VARCHAR PRIMARY KEY,
        hostname VARCHAR NOT NULL,
        cpu_model VARCHAR NOT NULL,
        cpu_cores INTEGER NOT NULL,
        memory_bytes BIGINT NOT NULL,
        os VARCHAR NOT NULL,
        python VARCHAR NOT NULL,
        packages JSON,
        hardware JSON,
        git_sha VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        flow VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        ended_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,
        git_sha VARCHAR NOT NULL,
        environment_id VARCHAR NOT NULL,
        packages JSON,
        parameters JSON
    )
    """,
    """
    CREATE TABLE models (
        model_type VARCHAR PRIMARY KEY,
        family VARCHAR,
        task VARCHAR,
        tier VARCHAR,
        details JSON,
        recorded_at TIMESTAMPTZ NOT NULL
    )
    """,
    # One row per series; results refer to it by `series_id`, so history lookups and per-series
    # windows work on one integer instead of six columns (see loading.py).
    """
    CREATE TABLE series (
        series_id INTEGER PRIMARY KEY,
        model_type VARCHAR NOT NULL,
        hardware VARCHAR NOT NULL,
        precision VARCHAR NOT NULL,
        batch_size INTEGER NOT NULL,
        benchmark VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        UNIQUE (model_type, hardware, precision, batch_size, benchmark, metric)
    )
    """,
    # No primary key or index on the two big tables: an index over the 7 key columns costs more
    # memory and ingest time than the anti-join the loader does instead (loading.py). Loads are
    # written sorted by series and `Warehouse.compact` re-sorts the whole table, so the min/max
    # of series_id kept per row group lets one series' history skip all other row groups.
    # ALP keeps doubles cheap to fetch row by row (DuckDB would pick RLE for sparse statistics,
    # which a point fetch must decode from the start of each segment).
    """
    CREATE TABLE results (
        run_id VARCHAR NOT NULL,
        environment_id VARCHAR NOT NULL,
        model_type VARCHAR NOT NULL,
        hardware VARCHAR NOT NULL,
        precision VARCHAR NOT NULL,
        batch_size INTEGER NOT NULL,
        benchmark VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        value DOUBLE NOT NULL USING COMPRESSION alp,
        unit VARCHAR NOT NULL,
        n INTEGER,
        mean DOUBLE USING COMPRESSION alp,
        stdev DOUBLE USING COMPRESSION alp,
        p50 DOUBLE USING COMPRESSION alp,
        p90 DOUBLE USING COMPRESSION alp,
        p99 DOUBLE USING COMPRESSION alp,
        "min" DOUBLE USING COMPRESSION alp,
        "max" DOUBLE USING COMPRESSION alp,
        samples DOUBLE[],
        measured_at TIMESTAMPTZ NOT NULL,
        series_id INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE compatibility (
        run_id VARCHAR NOT NULL,
        environment_id VARCHAR NOT NULL,
        model_type VARCHAR NOT NULL,
        hardware VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        error_type VARCHAR,
        message VARCHAR,
        seconds DOUBLE,
        max_abs_diff DOUBLE,
        details JSON,
        checked_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE alerts (
        alert_id VARCHAR PRIMARY KEY,
        model_type VARCHAR NOT NULL,
        hardware VARCHAR NOT NULL,
        precision VARCHAR NOT NULL,
        batch_size INTEGER NOT NULL,
        benchmark VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        first_bad_run_id VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        change DOUBLE NOT NULL,
        confidence DOUBLE NOT NULL,
        p_value DOUBLE NOT NULL,
        status VARCHAR NOT NULL,
        opened_at TIMESTAMPTZ NOT NULL,
        closed_at TIMESTAMPTZ,
        closed_by_run_id VARCHAR,
        message VARCHAR
    )
    """,
    # Bookkeeping: every load, and every compaction of results (see maintenance.py).
    """
    CREATE TABLE loads (
        table_name VARCHAR NOT NULL,
        received BIGINT NOT NULL,
        inserted BIGINT NOT NULL,
        loaded_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE compactions (
        compacted_at TIMESTAMPTZ NOT NULL,
        rows BIGINT NOT NULL,
        seconds DOUBLE NOT NULL
    )
    """,
    *VIEWS,
)


_TESTSUITE = (
    """
    CREATE TABLE testsuite_analyses (
        analysis_id VARCHAR PRIMARY KEY,
        analyzed_at TIMESTAMPTZ NOT NULL,
        paths JSON NOT NULL,
        threshold DOUBLE NOT NULL,
        modules INTEGER NOT NULL,
        unparsable INTEGER NOT NULL,
        tests INTEGER NOT NULL,
        clusters INTEGER NOT NULL,
        smells INTEGER NOT NULL,
        seconds DOUBLE NOT NULL,
        packages JSON,
        git_sha VARCHAR NOT NULL,
        plan VARCHAR
    )
    """,
    """
    CREATE TABLE testsuite_modules (
        analysis_id VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        lines INTEGER NOT NULL,
        tests INTEGER NOT NULL,
        classes INTEGER NOT NULL,
        fixtures INTEGER NOT NULL,
        imports_pytest BOOLEAN NOT NULL,
        error VARCHAR
    )
    """,
    """
    CREATE TABLE testsuite_classes (
        analysis_id VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        qualname VARCHAR NOT NULL,
        bases JSON,
        lineno INTEGER NOT NULL,
        end_lineno INTEGER NOT NULL,
        is_unittest BOOLEAN NOT NULL
    )
    """,
    """
    CREATE TABLE testsuite_tests (
        analysis_id VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        qualname VARCHAR NOT NULL,
        class_name VARCHAR,
        lineno INTEGER NOT NULL,
        end_lineno INTEGER NOT NULL,
        lines INTEGER NOT NULL,
        fixtures JSON,
        parametrizations JSON,
        markers JSON,
        assertions INTEGER NOT NULL,
        assertion_kinds JSON,
        calls JSON,
        fingerprint VARCHAR NOT NULL,
        exact_cluster VARCHAR,
        near_cluster VARCHAR
    )
    """,
    """
    CREATE TABLE testsuite_fixtures (
        analysis_id VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        scope VARCHAR NOT NULL,
        autouse BOOLEAN NOT NULL,
        lineno INTEGER NOT NULL,
        uses INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE testsuite_clusters (
        analysis_id VARCHAR NOT NULL,
        cluster_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        size INTEGER NOT NULL,
        members JSON NOT NULL,
        similarity DOUBLE NOT NULL,
        literal_only BOOLEAN NOT NULL,
        differences JSON,
        lines INTEGER NOT NULL,
        lines_removed INTEGER NOT NULL,
        proposal VARCHAR
    )
    """,
    """
    CREATE TABLE testsuite_smells (
        analysis_id VARCHAR NOT NULL,
        rule_id VARCHAR NOT NULL,
        rule VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        qualname VARCHAR NOT NULL,
        lineno INTEGER NOT NULL,
        reason VARCHAR NOT NULL
    )
    """,
)


@dataclass(frozen=True)
class Migration:
    """One step of the schema's history."""

    version: int
    description: str
    statements: tuple[str, ...]


#: Every migration, in order. Append only.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "runs, environments, models, series, results, compatibility, alerts, views", _INITIAL
    ),
    # The precision a backend actually executed (`f32`, `bf16`...), read back from the backend,
    # beside the precision that was asked for. Rows stored before it are null: unknown, since
    # OpenVINO's CPU plugin ran bf16 under an fp32 request on CPUs with AVX512-BF16 or AMX.
    Migration(
        2,
        "execution_precision on results and compatibility",
        (
            "ALTER TABLE results ADD COLUMN execution_precision VARCHAR",
            "ALTER TABLE compatibility ADD COLUMN execution_precision VARCHAR",
            *VIEWS,
        ),
    ),
    # `skillsets analyze-tests`: the inventory of a test suite read with `ast`, its duplicate
    # clusters and smells (skillsets/testsuite/, warehouse/testsuite.py). One analysis per row of
    # testsuite_analyses; every other row carries its analysis_id.
    Migration(3, "test-suite analysis: inventory, clusters, smells", _TESTSUITE),
    # What was measured: `size` (tiny, reference, checkpoint, endpoint) joins the series key, so a
    # tiny random model's history never mixes with a real checkpoint's; `weights` names them and
    # `parameters` counts them. Every row before this was a tiny random-weight model (the only
    # size the benchmarks could run), so old rows and series become `tiny`; their weights and
    # parameter counts were not recorded and stay null.
    Migration(4, "size, weights and parameters of what was measured; size in the series key", (
        "ALTER TABLE results ADD COLUMN size VARCHAR DEFAULT 'tiny'",
        "ALTER TABLE results ADD COLUMN weights VARCHAR",
        "ALTER TABLE results ADD COLUMN parameters BIGINT",
        "ALTER TABLE alerts ADD COLUMN size VARCHAR DEFAULT 'tiny'",
        """
        CREATE TABLE series_sized (
            series_id INTEGER PRIMARY KEY,
            model_type VARCHAR NOT NULL,
            hardware VARCHAR NOT NULL,
            precision VARCHAR NOT NULL,
            batch_size INTEGER NOT NULL,
            benchmark VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            size VARCHAR NOT NULL,
            UNIQUE (model_type, hardware, precision, size, batch_size, benchmark, metric)
        )
        """,
        "INSERT INTO series_sized SELECT *, 'tiny' FROM series",
        "DROP TABLE series",
        "ALTER TABLE series_sized RENAME TO series",
        *VIEWS,
    )),
)
#: The schema version this code reads and writes.
SCHEMA_VERSION = MIGRATIONS[-1].version
#: Tables in the order a full load must follow (a row's references are loaded before it).
#: `series` is not among them: the results loader maintains it.
TABLES: tuple[str, ...] = ("environments", "runs", "models", "results", "compatibility", "alerts")


class SchemaVersionError(RuntimeError):
    """The file's schema version does not match what this code expects."""


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied to this database; 0 for an empty file."""
    exists = con.sql(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    return int(con.sql("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0])


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every pending migration, each in its own transaction; return the versions applied.

    Raises:
        SchemaVersionError: the file was written by newer code than this.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL)"
    )
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the warehouse is at schema version {current} but this code knows up to "
            f"{SCHEMA_VERSION}; upgrade hf-skillsets before writing to it"
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        con.begin()
        try:
            for statement in migration.statements:
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_version VALUES ($1, $2, now())",
                [migration.version, migration.description],
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
        applied.append(migration.version)
    return applied


def check_readable(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Refuse a read-only open of a file whose schema is not the one this code reads.

    Raises:
        SchemaVersionError: saying whether to migrate (open for writing once) or upgrade the code.
    """
    current = schema_version(con)
    if current < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} is at schema version {current}, this code reads {SCHEMA_VERSION}; open it "
            "for writing once (e.g. `skillsets warehouse import` or any flow run) to migrate it"
        )
    if current > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} is at schema version {current} but this code knows up to {SCHEMA_VERSION}; "
            "upgrade hf-skillsets to read it"
        )
