"""Parquet exchange: export, import twice into an empty warehouse; query a folder in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from warehouse_data import fill

from warehouse import queries
from warehouse.parquet import export_parquet, import_parquet, open_parquet_history
from warehouse.schema import TABLES
from warehouse.store import Warehouse

EXPECTED_COUNTS = {"environments": 1, "runs": 6, "models": 2, "results": 18, "compatibility": 4,
                   "alerts": 1}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The small history in a warehouse and exported next to it: (warehouse, folder)."""
    root = tmp_path_factory.mktemp("parquet")
    source = fill(root / "source.duckdb")
    with Warehouse.open(source, read_only=True) as wh:
        assert export_parquet(wh, root / "export") == EXPECTED_COUNTS
    return source, root / "export"


def _table(path: Path, table: str) -> object:
    with Warehouse.open(path, read_only=True) as wh:
        if table == "results":  # series ids are local to a file
            return wh.query("SELECT * EXCLUDE (series_id) FROM results ORDER BY ALL")
        return wh.query(f"SELECT * FROM {table} ORDER BY ALL")


def test_export_is_hive_partitioned_by_table_date_and_hardware(exported: tuple[Path, Path]) -> None:
    _, folder = exported
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"table={t}" for t in TABLES)
    nights = sorted(p.name for p in (folder / "table=results").iterdir())
    assert nights == [f"date=2025-01-0{day}" for day in range(1, 7)]
    assert list((folder / "table=results" / "date=2025-01-01").iterdir())[0].name == "hardware=cpu"
    assert {p.name for p in (folder / "table=compatibility" / "date=2025-01-06").iterdir()} == {
        "hardware=cpu", "hardware=openvino"
    }
    assert (folder / "table=models" / "data.parquet").is_file()


def test_round_trip_import_twice_into_an_empty_warehouse(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    source, folder = exported
    target = tmp_path / "target.duckdb"
    with Warehouse.open(target, quarantine_dir=tmp_path / "quarantine") as wh:
        first = import_parquet(wh, folder)
        second = import_parquet(wh, folder)
        assert wh.table_counts() == EXPECTED_COUNTS
    assert {t: sum(r.inserted for r in reports) for t, reports in first.items()} == EXPECTED_COUNTS
    assert all(r.inserted == 0 for reports in second.values() for r in reports)
    for table in TABLES:
        assert _table(target, table).equals(_table(source, table)), table


def test_export_refuses_a_folder_that_is_not_empty(exported: tuple[Path, Path]) -> None:
    source, folder = exported
    with Warehouse.open(source, read_only=True) as wh:
        with pytest.raises(FileExistsError, match="--overwrite"):
            export_parquet(wh, folder)


def test_import_of_a_folder_without_tables_says_how_to_make_one(tmp_path: Path) -> None:
    with Warehouse.open(tmp_path / "wh.duckdb", quarantine_dir=tmp_path / "q") as wh:
        with pytest.raises(FileNotFoundError, match="skillsets warehouse export"):
            import_parquet(wh, tmp_path)


def test_the_folder_answers_the_same_questions_as_the_file(exported: tuple[Path, Path]) -> None:
    source, folder = exported
    with Warehouse.open(source, read_only=True) as wh, open_parquet_history(folder) as history:
        for question in (
            lambda h: queries.series_history(h, "bert", "cpu", "latency_ms"),
            lambda h: queries.latest_vs_baseline(h, window=3),
            lambda h: queries.compatibility_matrix(h),
            lambda h: queries.coverage_by_family(h),
            lambda h: h.query("SELECT * FROM compatibility_pivot ORDER BY model_type"),
        ):
            assert question(history).equals(question(wh))


def test_a_folder_missing_a_table_still_has_every_view(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    (folder / "table=runs").mkdir(parents=True)
    with open_parquet_history(folder) as history:
        assert history.query("SELECT count(*) AS n FROM latest_results")["n"][0] == 0
        assert queries.compatibility_matrix(history).columns == ["model_type"]
