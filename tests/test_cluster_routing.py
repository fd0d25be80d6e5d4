"""Routing on a real LocalCluster: tasks land on workers with their hardware tag, and a worker
killed mid-task leads to a re-run on another worker with exactly one set of rows stored."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from pathlib import Path

import cloudpickle
import dask
import pytest

from hardware.cluster import (
    connect,
    require_hardware,
    split_cores,
    start_local_cluster,
    worker_hardware,
    worker_resources,
)
from skillsets.bench.measure import MeasureConfig
from skillsets.bench.spec import BenchmarkOutcome, BenchmarkSpec
from skillsets.bench.sweep import plan_sweep, run_benchmark_sweep
from skillsets.bench.task import run_benchmark
from warehouse.store import Warehouse

# Task wrappers below run in worker processes; ship them by value rather than by module path.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

QUICK = MeasureConfig(warmup_runs=1, min_iterations=2, min_seconds=0.0)


@pytest.fixture(scope="module")
def tagged_cluster():
    cluster, client = start_local_cluster(["cpu", "openvino"])
    yield client
    client.close()
    cluster.close()


def test_split_cores_is_disjoint_when_it_can_be() -> None:
    assert split_cores((0, 1, 2, 3), 2) == ([(0, 1), (2, 3)], True)
    assert split_cores((0, 1), 3) == ([(0,), (1,), (0,)], False)
    assert split_cores((0, 1, 2, 3), 2, per_worker=1) == ([(0,), (1,)], True)


def test_workers_carry_one_backend_tag_each(tagged_cluster) -> None:
    tags = sorted(tuple(res) for res in worker_resources(tagged_cluster).values())
    assert tags == [("cpu",), ("openvino",)]


@pytest.mark.parametrize("hardware", ["cpu", "openvino"])
def test_tagged_tasks_run_on_workers_with_that_tag(tagged_cluster, hardware: str) -> None:
    with dask.annotate(resources={hardware: 1}):
        futures = [tagged_cluster.submit(worker_hardware, pure=False) for _ in range(4)]
    for placement in tagged_cluster.gather(futures):
        assert placement.resources == {hardware: 1}
        assert placement.name == f"{hardware}-0"
        placement.require(hardware)
        assert len(placement.cores) >= 1
        with pytest.raises(RuntimeError, match="resources"):
            placement.require("cuda")


def test_workers_are_pinned_to_disjoint_cores(tagged_cluster) -> None:
    placements = {}
    for hardware in ("cpu", "openvino"):
        with dask.annotate(resources={hardware: 1}):
            placements[hardware] = tagged_cluster.submit(worker_hardware, pure=False).result()
    cpu, ov = placements["cpu"], placements["openvino"]
    if cpu.exclusive_cores:
        assert not set(cpu.cores) & set(ov.cores)


def test_missing_tag_is_refused_before_submitting(tagged_cluster) -> None:
    with pytest.raises(RuntimeError, match="cuda"):
        require_hardware(tagged_cluster, ["cpu", "cuda"])


def test_connect_uses_the_scheduler_in_the_settings(tagged_cluster) -> None:
    from skillsets.settings import load_settings

    address = tagged_cluster.scheduler.address
    with connect(load_settings(scheduler_address=address)) as client:
        assert worker_resources(client) == worker_resources(tagged_cluster)
    with pytest.raises(ValueError, match="SKILLSETS_SCHEDULER_ADDRESS"):
        connect(load_settings(scheduler_address=""))


def test_tls_cluster_routes_by_tag(tmp_path: Path) -> None:
    from hardware.certificates import make_certificates
    from hardware.security import tls_security

    paths = make_certificates(tmp_path)
    security = tls_security(paths.ca_file, paths.cert_file, paths.key_file)
    cluster, client = start_local_cluster(["cpu"], security=security)
    try:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        with dask.annotate(resources={"cpu": 1}):
            placement = client.submit(worker_hardware, pure=False).result(timeout=60)
        assert placement.address.startswith("tls://127.0.0.1:")
        placement.require("cpu")
    finally:
        client.close()
        cluster.close()


def test_real_benchmarks_route_by_tag(tagged_cluster, tmp_path: Path) -> None:
    run_id = "route-1"
    plan = plan_sweep(
        run_id, ["bert", "gpt2"], ["cpu", "openvino"], ["fp32"], measure=QUICK, measure_import=False
    )
    result = run_benchmark_sweep(
        tagged_cluster, plan, run_id, warehouse_path=tmp_path / "w.duckdb", output_dir=tmp_path
    )
    assert not result.errors, [o.reason for o in result.errors]
    assert len(result.outcomes) == 4
    for outcome in result.outcomes:
        assert outcome.placement is not None
        assert outcome.placement.resources == {outcome.spec.hardware: 1}
        assert {row.hardware for row in outcome.rows} == {outcome.spec.hardware}
        metrics = {row.metric for row in outcome.rows}
        assert {"latency", "init_time", "instantiation_time", "peak_memory"} <= metrics
        if outcome.spec.model_type == "gpt2":  # a text generator: prefill and decode too
            assert {"prefill_latency", "decode_throughput"} <= metrics, outcome.reason
    assert (tmp_path / f"bench-{run_id}.json").exists()


def _stall_first_attempt(marker: str, spec: BenchmarkSpec) -> BenchmarkOutcome:
    """First attempt: say which process runs it, then hang until killed. Later attempts: the
    real benchmark."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        time.sleep(300)
    return run_benchmark(spec)


def test_killed_worker_reruns_elsewhere_and_rows_are_written_once(tmp_path: Path) -> None:
    cluster, client = start_local_cluster(["cpu"], workers_per_backend=2)
    marker = tmp_path / "first-attempt.pid"
    warehouse = tmp_path / "w.duckdb"
    run_id = "killed-1"
    plan = plan_sweep(
        run_id, ["bert"], ["cpu"], ["fp32"], batch_sizes=(1, 2), measure=QUICK, measure_import=False
    )
    killed: list[int] = []

    def kill_first_attempt() -> None:
        deadline = time.monotonic() + 120
        while not marker.exists() or not marker.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        pid = int(marker.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_first_attempt)
    killer.start()
    try:
        result = run_benchmark_sweep(
            client,
            plan,
            run_id,
            warehouse_path=warehouse,
            output_dir=tmp_path,
            task=functools.partial(_stall_first_attempt, str(marker)),
        )
    finally:
        killer.join()
        client.close()
        cluster.close()

    assert killed, "the first attempt never started"
    (outcome,) = result.outcomes
    assert outcome.status == "ok", outcome.reason
    assert outcome.placement is not None and outcome.placement.pid != killed[0]
    assert "cpu" in outcome.placement.resources

    with Warehouse.open(warehouse) as wh:
        stored = wh.query(
            "SELECT metric, batch_size, count(*) AS n FROM results WHERE run_id = $1 GROUP BY ALL",
            [run_id],
        )
        assert len(stored) == len(outcome.rows)
        assert set(stored["n"].to_list()) == {1}
        again = wh.load_results(outcome.rows)  # the same rows delivered twice write nothing
        assert again.inserted == 0
        runs = wh.query("SELECT status FROM runs WHERE run_id = $1", [run_id])
        assert runs["status"].to_list() == ["completed"]


def test_openvino_throughput_is_measured_with_concurrent_callers(tagged_cluster) -> None:
    """Each calling thread gets its own infer request: no "Infer Request is busy"."""
    spec = BenchmarkSpec(
        run_id="ov-throughput",
        model_type="bert",
        hardware="openvino",
        kinds=("throughput",),
        measure=QUICK,
        concurrent_workers=2,
        throughput_calls=3,
        measure_import=False,
    )
    with dask.annotate(resources={"openvino": 1}):
        outcome = tagged_cluster.submit(run_benchmark, spec, pure=False).result()
    assert outcome.status == "ok", outcome.reason
    values = {(r.benchmark, r.metric): r.value for r in outcome.rows}
    assert values[("throughput", "supported")] == 1
    assert values[("throughput", "concurrent_throughput")] > 0
    assert values[("throughput", "speedup")] > 0


def test_a_combination_the_skill_cannot_run_is_unsupported_with_its_reason(tagged_cluster) -> None:
    """pocket_tts on openvino: OpenVINO's generate loops produce token ids, and text-to-audio
    generates audio in the model's own generate(); a row says so."""
    spec = BenchmarkSpec(
        run_id="ov-tts", model_type="pocket_tts", hardware="openvino", measure=QUICK,
        measure_import=False,
    )
    with dask.annotate(resources={"openvino": 1}):
        outcome = tagged_cluster.submit(run_benchmark, spec, pure=False).result()
    assert outcome.status == "unsupported", outcome.reason
    assert "generate loop" in outcome.reason
    assert [(r.metric, r.value) for r in outcome.rows] == [("supported", 0)]
