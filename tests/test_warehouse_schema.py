"""Schema: migrations applied once on open, versions checked, frames and records match tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from hardware.fingerprint import EnvironmentFingerprint
from warehouse.frames import FRAME_SCHEMAS
from warehouse.records import AlertRecord, CompatibilityRecord, ResultRecord, RunRecord
from warehouse.schema import MIGRATIONS, SCHEMA_VERSION, TABLES, SchemaVersionError, migrate
from warehouse.store import Warehouse


def test_a_new_file_gets_every_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    Warehouse.open(path, quarantine_dir=tmp_path / "q").close()
    Warehouse.open(path, quarantine_dir=tmp_path / "q").close()
    with Warehouse.open(path, read_only=True) as wh:
        versions = wh.query("SELECT version, description FROM schema_version ORDER BY version")
        assert versions.rows() == [(m.version, m.description) for m in MIGRATIONS]
        assert wh.schema_version == SCHEMA_VERSION
        assert wh.table_counts() == dict.fromkeys(TABLES, 0)


def test_migrate_on_an_up_to_date_file_applies_nothing(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "raw.duckdb"))
    assert migrate(con) == [m.version for m in MIGRATIONS]
    assert migrate(con) == []


def test_readers_refuse_a_file_that_needs_migrating(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(SchemaVersionError, match="open it for writing once"):
        Warehouse.open(path, read_only=True)


def test_newer_files_are_refused_with_an_upgrade_hint(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    Warehouse.open(path, quarantine_dir=tmp_path / "q").close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (99, 'from the future', now())")
    con.close()
    for read_only in (True, False):
        with pytest.raises(SchemaVersionError, match="upgrade hf-skillsets"):
            Warehouse.open(path, read_only=read_only)


@pytest.mark.parametrize("table", TABLES)
def test_frame_schemas_match_the_tables(tmp_path: Path, table: str) -> None:
    with Warehouse.open(tmp_path / "wh.duckdb", quarantine_dir=tmp_path / "q") as wh:
        columns = wh.query(f"SELECT * FROM {table} LIMIT 0").columns
    # results also refer to their series by a local id the loader assigns. Migrations append
    # columns after it, so the order is the frame's with series_id before the migrated ones.
    expected = list(FRAME_SCHEMAS[table])
    if table == "results":
        expected.insert(expected.index("measured_at") + 1, "series_id")
    assert columns == expected


@pytest.mark.parametrize(
    ("table", "record"),
    [("environments", EnvironmentFingerprint), ("runs", RunRecord), ("results", ResultRecord),
     ("compatibility", CompatibilityRecord), ("alerts", AlertRecord)],
)
def test_every_record_field_is_a_column(table: str, record: type) -> None:
    assert list(FRAME_SCHEMAS[table]) == list(record.model_fields)


def test_a_missing_warehouse_is_not_created_by_readers(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="SKILLSETS_WAREHOUSE"):
        Warehouse.open(tmp_path / "absent.duckdb", read_only=True)
    assert not (tmp_path / "absent.duckdb").exists()


def test_size_migration_keeps_old_series_as_tiny(tmp_path: Path) -> None:
    """A file written before size joined the series key: its rows and series become `tiny`,
    and a reference-size row of the same series key starts a series of its own."""
    from warehouse_data import ENV, ENVIRONMENT, result, run

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                "description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
    for migration in MIGRATIONS[:3]:
        for statement in migration.statements:
            con.execute(statement)
        con.execute("INSERT INTO schema_version VALUES ($1, $2, now())",
                    [migration.version, migration.description])
    con.execute("INSERT INTO series VALUES (1, 'bert', 'cpu', 'fp32', 1, 'inference', 'latency')")
    con.execute(
        "INSERT INTO results (run_id, environment_id, model_type, hardware, precision, batch_size,"
        " benchmark, metric, value, unit, measured_at, series_id) VALUES ('run-00', $1, 'bert',"
        " 'cpu', 'fp32', 1, 'inference', 'latency', 9.5, 'ms', now(), 1)", [ENV])
    con.close()
    with Warehouse.open(path, quarantine_dir=tmp_path / "q") as wh:
        assert wh.schema_version == SCHEMA_VERSION
        old = wh.query("SELECT size, weights, parameters FROM results")
        assert old.rows() == [("tiny", None, None)]
        wh.record_environment(ENVIRONMENT)
        wh.record_run(run(1))
        wh.load_results([result(1, "bert", 30.0, metric="latency", size="reference",
                                weights="random:BertConfig:reference", parameters=109_482_240)])
        series = wh.query("SELECT series_id, size FROM series ORDER BY series_id")
    assert series.rows() == [(1, "tiny"), (2, "reference")]
