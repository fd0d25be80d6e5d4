"""`skillsets analyze-tests` on a real DuckDB file, and the `analyze-tests` flow on real Prefect."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from warehouse.store import Warehouse

runner = CliRunner()

SUITE = {
    "test_models.py": '''
        import time

        import pytest


        def test_bert():
            assert size("bert") == 2


        def test_gpt2():
            assert size("gpt2") == 3


        @pytest.mark.xfail
        def test_waits():
            time.sleep(1)
    ''',
    "conftest.py": '''
        import pytest


        @pytest.fixture(scope="session")
        def engine():
            return 1
    ''',
    "test_broken.py": "def test_x(:\n",
}


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir()
    for name, source in SUITE.items():
        (folder / name).write_text(textwrap.dedent(source).lstrip())
    return folder


def test_cli_stores_the_analysis_and_writes_plan_and_report(suite: Path, tmp_path: Path) -> None:
    database = tmp_path / "wh.duckdb"
    out = tmp_path / "out"
    args = ["analyze-tests", str(suite), "--warehouse", str(database), "--output-dir", str(out),
            "--packages", "", "--json"]
    done = runner.invoke(app, args, env={"SKILLSETS_OUTPUT_DIR": str(tmp_path / "data")})
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["unparsable"] == {"suite/test_broken.py": "SyntaxError: invalid syntax (line 1)"}
    assert summary["shape"]["tests"] == 3
    assert summary["largest_clusters"] == [
        {"cluster_id": "exact-1", "kind": "exact", "tests": 2, "lines_removed": 0,
         "parametrize": True}
    ]
    with Warehouse.open(database, read_only=True) as wh:
        head = wh.query("SELECT analysis_id, modules, unparsable, tests, clusters, smells "
                        "FROM testsuite_analyses")
        assert head.rows() == [(summary["analysis_id"], 3, 1, 3, 1, 2)]
        modules = wh.query("SELECT path, tests, error FROM testsuite_modules ORDER BY path")
        tests = wh.query("SELECT qualname, exact_cluster, markers FROM testsuite_tests "
                         "ORDER BY lineno")
        fixtures = wh.query("SELECT name, scope, uses FROM testsuite_fixtures")
        cluster = wh.query("SELECT members, literal_only, proposal FROM testsuite_clusters")
        smells = wh.query("SELECT rule, qualname FROM testsuite_smells ORDER BY rule")
    assert modules.rows() == [
        ("suite/conftest.py", 0, None),
        ("suite/test_broken.py", 0, "SyntaxError: invalid syntax (line 1)"),
        ("suite/test_models.py", 3, None),
    ]
    assert tests["qualname"].to_list() == ["test_bert", "test_gpt2", "test_waits"]
    assert tests["exact_cluster"].to_list() == ["exact-1", "exact-1", None]
    assert json.loads(tests["markers"][2]) == [{"name": "xfail", "has_reason": False, "lineno": 14}]
    assert fixtures.rows() == [("engine", "session", 0)]
    assert json.loads(cluster["members"][0]) == [
        "suite/test_models.py::test_bert", "suite/test_models.py::test_gpt2"
    ]
    assert cluster["literal_only"][0] is True
    assert "('bert', 2)," in cluster["proposal"][0]
    assert smells.rows() == [("skip-without-reason", "test_waits"), ("sleep", "test_waits")]
    plan = (out / "testsuite-plan.md").read_text()
    assert "- `suite/test_broken.py`: SyntaxError" in plan
    html = (out / "testsuite-report.html").read_text()
    assert "vegaEmbed" in html and 'id="spec-clusters"' in html
    assert "<h3>exact-1: 2 tests, 4 lines, -0 if merged</h3>" in html


def test_cli_explains_a_missing_path_and_an_unknown_rule(suite: Path, tmp_path: Path) -> None:
    base = ["--warehouse", str(tmp_path / "wh.duckdb"), "--packages", ""]
    wide = {"COLUMNS": "400"}  # rich wraps long paths at the terminal's width
    missing = runner.invoke(app, ["analyze-tests", str(suite / "test_model.py"), *base], env=wide)
    assert missing.exit_code == 2
    assert "Did you mean" in missing.output and "test_models.py" in missing.output
    rule = runner.invoke(
        app, ["analyze-tests", str(suite), "--rules", "no-asertion", *base], env=wide
    )
    assert rule.exit_code == 2
    assert "Did you mean no-assertion" in rule.output
    assert not (tmp_path / "wh.duckdb").exists()


@pytest.mark.server
def test_the_flow_stores_an_analysis_under_its_run_id(
    prefect_api: None, suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.analyze_tests import analyze_tests

    database = tmp_path / "flow.duckdb"
    monkeypatch.setenv("SKILLSETS_WAREHOUSE", str(database))
    monkeypatch.setenv("SKILLSETS_OUTPUT_DIR", str(tmp_path / "out"))
    state = analyze_tests(paths=[str(suite)], threshold=0.9, return_state=True)
    assert state.is_completed()
    report = Path(state.result())
    assert report.name == "testsuite-report.html" and report.exists()
    with Warehouse.open(database, read_only=True) as wh:
        runs = wh.query("SELECT run_id, flow, status FROM runs")
        analyses = wh.query("SELECT analysis_id, tests, threshold, packages "
                            "FROM testsuite_analyses")
    assert runs.rows() == [(str(state.state_details.flow_run_id), "analyze-tests", "completed")]
    assert analyses["analysis_id"].to_list() == runs["run_id"].to_list()
    assert analyses["tests"].to_list() == [3]
    assert analyses["threshold"].to_list() == [0.9]
    assert set(json.loads(analyses["packages"][0])) == {"transformers", "torch"}
    assert report.parent == tmp_path / "out" / "testsuite" / runs["run_id"][0]


def test_frame_schemas_match_the_testsuite_tables(tmp_path: Path) -> None:
    from warehouse.frames import FRAME_SCHEMAS
    from warehouse.testsuite import TESTSUITE_TABLES

    with Warehouse.open(tmp_path / "wh.duckdb", quarantine_dir=tmp_path / "q") as wh:
        for table in TESTSUITE_TABLES:
            assert wh.query(f"SELECT * FROM {table} LIMIT 0").columns == list(FRAME_SCHEMAS[table])
