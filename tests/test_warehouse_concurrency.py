"""One writer per file, and a load killed half way leaves the warehouse as it was.

Real processes: a child holds or writes the file, the test process competes with it or kills it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from warehouse_data import ENVIRONMENT, results_frame

from warehouse.frames import records_frame
from warehouse.records import RunRecord
from warehouse.store import Warehouse, WarehouseLockedError

REPO = Path(__file__).resolve().parents[1]

HOLD_WRITER = """
import sys
from warehouse.store import Warehouse
wh = Warehouse.open(sys.argv[1], quarantine_dir=sys.argv[2])
print("holding", flush=True)
sys.stdin.read()
wh.close()
"""

LOAD_RUNS = """
import logging, sys
from warehouse.store import Warehouse
from warehouse_data import results_frame
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
path, quarantine, first, last, series = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
runs = [f"run-{night:02d}" for night in range(first, last)]
with Warehouse.open(path, quarantine_dir=quarantine) as wh:
    report = wh.load_frame("results", results_frame(runs, series, seed=first))
print("finished", report, flush=True)
"""


def _child(code: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=REPO, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _wait_for(stream: object, marker: str, child: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            break
        seen.append(line)
        if marker in line:
            return
    child.kill()
    raise AssertionError(f"child never printed {marker!r}; it printed:\n{''.join(seen[-30:])}")


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    """A warehouse with the environment and runs run-00..run-20."""
    path = tmp_path / "wh.duckdb"
    runs = [
        RunRecord(run_id=f"run-{night:02d}", flow="nightly", git_sha="abc",
                  environment_id=ENVIRONMENT.environment_id)
        for night in range(21)
    ]
    with Warehouse.open(path, quarantine_dir=tmp_path / "quarantine") as wh:
        wh.record_environment(ENVIRONMENT)
        wh.load_frame("runs", records_frame("runs", runs))
    return path


@pytest.fixture
def held_by_child(warehouse_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the warehouse open for writing until its stdin closes."""
    child = _child(HOLD_WRITER, warehouse_path, warehouse_path.parent / "quarantine")
    _wait_for(child.stdout, "holding", child, timeout=120)
    yield child
    if child.poll() is None:
        child.communicate(timeout=60)


def test_a_second_writer_gets_a_clear_error_naming_the_holder(
    warehouse_path: Path, held_by_child: subprocess.Popen[str]
) -> None:
    with pytest.raises(WarehouseLockedError) as caught:
        Warehouse.open(warehouse_path)
    message = str(caught.value)
    assert f"process {held_by_child.pid}" in message
    assert str(warehouse_path) in message
    assert "Route writes through the one writer" in message
    pattern = f"cannot open .* to read: .*{held_by_child.pid}"
    with pytest.raises(WarehouseLockedError, match=pattern):
        Warehouse.open(warehouse_path, read_only=True)


def test_the_file_is_usable_again_once_the_writer_leaves(
    warehouse_path: Path, held_by_child: subprocess.Popen[str]
) -> None:
    held_by_child.communicate(timeout=60)
    assert held_by_child.returncode == 0
    with Warehouse.open(warehouse_path, read_only=True) as reader:
        assert reader.table_counts()["runs"] == 21


def test_readers_share_the_file(warehouse_path: Path) -> None:
    with Warehouse.open(warehouse_path, read_only=True) as first:
        reader = _child(
            "import sys\nfrom warehouse.store import Warehouse\n"
            "print(Warehouse.open(sys.argv[1], read_only=True).table_counts()['runs'])",
            warehouse_path,
        )
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        assert out.strip() == "21"
        assert first.table_counts()["runs"] == 21


def test_threads_of_one_process_load_through_one_writer_without_duplicates(
    warehouse_path: Path,
) -> None:
    batch = results_frame(["run-01", "run-02"], 500)
    with Warehouse.open(warehouse_path) as wh:
        with ThreadPoolExecutor(max_workers=2) as pool:
            reports = list(pool.map(lambda _: wh.load_frame("results", batch), range(2)))
        assert sorted(r.inserted for r in reports) == [0, 1000]
        assert wh.table_counts()["results"] == 1000


def test_a_load_killed_mid_write_leaves_the_warehouse_as_it_was(warehouse_path: Path) -> None:
    before = results_frame(["run-00"], 100)
    with Warehouse.open(warehouse_path) as wh:
        wh.load_frame("results", before)
        stored = wh.query("SELECT * FROM results ORDER BY model_type")
    size = warehouse_path.stat().st_size
    # 2,000,000 rows: the child validates them, logs "inserting", then writes for seconds.
    child = _child(LOAD_RUNS, warehouse_path, warehouse_path.parent / "quarantine", 1, 21, 100_000)
    _wait_for(child.stderr, "inserting 2000000 row(s) into results", child, timeout=400)
    # Kill once the uncommitted rows have started to reach the database file itself.
    deadline = time.monotonic() + 120
    while warehouse_path.stat().st_size == size and child.poll() is None:
        assert time.monotonic() < deadline, "the child never wrote to the file"
        time.sleep(0.01)
    grown = warehouse_path.stat().st_size
    child.send_signal(signal.SIGKILL)
    out, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert "finished" not in out and "loaded results" not in err, "the load ended before the kill"
    assert grown > size

    with Warehouse.open(warehouse_path) as wh:
        assert wh.table_counts() == {
            "environments": 1, "runs": 21, "models": 0, "results": 100, "compatibility": 0,
            "alerts": 0,
        }
        assert wh.query("SELECT * FROM results ORDER BY model_type").equals(stored)
        # The file is healthy: the same load goes through now and counts exactly.
        again = wh.load_frame("results", results_frame(["run-01", "run-02"], 1000))
        assert again.inserted == 2000
        assert wh.query("SELECT count(*) AS n FROM results")["n"][0] == 2100


def test_one_process_cannot_mix_a_reader_and_a_writer_on_one_file(warehouse_path: Path) -> None:
    with Warehouse.open(warehouse_path, read_only=True):
        with pytest.raises(WarehouseLockedError, match=f"this process \\(PID {os.getpid()}\\)"):
            Warehouse.open(warehouse_path)
    with Warehouse.open(warehouse_path) as writer, Warehouse.open(warehouse_path) as second:
        # Two writers in one process share one DuckDB instance (and the loader's lock).
        assert writer.table_counts() == second.table_counts()
