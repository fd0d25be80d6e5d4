"""`skillsets warehouse info|query|export|import`, run as people run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warehouse_data import fill

from cli.warehouse import warehouse_app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse holding the small history."""
    return fill(tmp_path_factory.mktemp("cli") / "wh.duckdb")


def test_info_reads_the_warehouse_from_the_environment(filled: Path) -> None:
    env = {**os.environ, "SKILLSETS_WAREHOUSE": str(filled)}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "warehouse", "info", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["rows"]["results"] == 18
    assert info["series"] == 3
    assert info["latest_run"]["run_id"] == "run-05"


def test_the_flag_overrides_the_environment(filled: Path, tmp_path: Path) -> None:
    env = {"SKILLSETS_WAREHOUSE": str(tmp_path / "elsewhere.duckdb")}
    done = runner.invoke(warehouse_app, ["info", "--warehouse", str(filled)], env=env)
    assert done.exit_code == 0, done.output
    assert "results" in done.output and "18" in done.output
    missing = runner.invoke(warehouse_app, ["info"], env=env)
    assert missing.exit_code == 2
    assert "no warehouse at" in missing.output


def test_query_takes_parameters_and_prints_json(filled: Path) -> None:
    done = runner.invoke(warehouse_app, [
        "query", "SELECT run_id, value FROM results WHERE model_type = $1 AND metric = $2 "
        "ORDER BY run_id DESC LIMIT 2", "-p", "bert", "-p", "latency_ms",
        "--warehouse", str(filled), "--json",
    ])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == [
        {"run_id": "run-05", "value": 12.0}, {"run_id": "run-04", "value": 10.0}
    ]
    table = runner.invoke(warehouse_app, ["query", "SELECT * FROM compatibility_pivot",
                                          "--warehouse", str(filled)])
    assert table.exit_code == 0 and "gpt2" in table.output


def test_query_refuses_writes_and_reports_sql_errors(filled: Path) -> None:
    at = ["--warehouse", str(filled)]
    refused = runner.invoke(warehouse_app, ["query", "DELETE FROM results", *at])
    assert refused.exit_code == 2
    assert "validated load methods" in refused.output
    broken = runner.invoke(warehouse_app, ["query", "SELECT nope FROM results", *at])
    assert broken.exit_code == 2
    assert "nope" in broken.output


def test_export_then_import_twice(filled: Path, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    exported = runner.invoke(warehouse_app, ["export", str(folder), "--warehouse", str(filled)])
    assert exported.exit_code == 0, exported.output
    assert (folder / "table=results").is_dir()
    again = runner.invoke(warehouse_app, ["export", str(folder), "--warehouse", str(filled)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    target = tmp_path / "copy.duckdb"
    env = {"SKILLSETS_OUTPUT_DIR": str(tmp_path / "output")}
    command = ["import", str(folder), "--warehouse", str(target)]
    first = runner.invoke(warehouse_app, command, env=env)
    second = runner.invoke(warehouse_app, command, env=env)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "18 new" in " ".join(first.output.split())
    assert "0 new 18 already present" in " ".join(second.output.split())
    compacted = runner.invoke(warehouse_app, ["compact", "--warehouse", str(target)], env=env)
    assert compacted.exit_code == 0 and "compacted 18 rows" in compacted.output
