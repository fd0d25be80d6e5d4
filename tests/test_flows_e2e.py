"""The pipeline as users run it: a real Prefect server, a process work pool, `prefect deploy`,
a worker, `prefect deployment run --watch`, and the Prefect UI in headless Chromium."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.prefect_server import BIN, prefect_server
from warehouse.store import Warehouse

REPO = Path(__file__).resolve().parents[1]
MODELS = ["bert", "vit"]

pytestmark = pytest.mark.server


def _prefect(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "prefect"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def deployed_run(tmp_path_factory: pytest.TempPathFactory):
    """Deploy prefect.yaml to a fresh server and run nightly on two critical models."""
    home = tmp_path_factory.mktemp("prefect-home")
    data = tmp_path_factory.mktemp("data")
    with prefect_server(home) as env:
        env = {
            # No SKILLSETS_HOME: the worker finds the flows through the installed project.
            **{k: v for k, v in env.items() if k != "SKILLSETS_HOME"},
            "SKILLSETS_WAREHOUSE": str(data / "warehouse.duckdb"),
            "SKILLSETS_OUTPUT_DIR": str(data / "output"),
            "SKILLSETS_HARDWARE": "cpu",
        }
        created = _prefect(
            ["work-pool", "create", "skillsets", "--type", "process", "--overwrite"], env
        )
        assert created.returncode == 0, created.stdout + created.stderr
        deployed = _prefect(["deploy", "--all", "--no-prompt"], env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        inspected = _prefect(["deployment", "inspect", "nightly/nightly"], env)
        assert inspected.returncode == 0, inspected.stdout + inspected.stderr
        # Deployments must run wherever the project is installed: no path of this checkout.
        assert str(REPO) not in inspected.stdout, inspected.stdout
        assert "flows.nightly:nightly" in inspected.stdout
        worker_log = (home / "worker.log").open("wb")
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "skillsets"],
            cwd=data,  # the pull step, not the worker's folder, must put the flow in the checkout
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            run = _prefect(
                [
                    "deployment",
                    "run",
                    "nightly/nightly",
                    "--param",
                    f"models={MODELS!r}".replace("'", '"'),
                    "--param",
                    "runs=3",
                    "--param",
                    "batch_sizes=[1]",
                    "--watch",
                    "--watch-timeout",
                    "1500",
                ],
                env,
                timeout=1600,
            )
            yield env, run, data
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
            worker_log.close()


def test_nightly_deployment_run_completes(deployed_run) -> None:
    _env, run, _data = deployed_run
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "COMPLETED" in run.stdout.upper()


def test_nightly_rows_are_in_the_warehouse(deployed_run) -> None:
    _env, run, data = deployed_run
    assert run.returncode == 0
    with Warehouse.open(data / "warehouse.duckdb", read_only=True) as wh:
        compat = wh.query("SELECT model_type, hardware, status FROM compatibility ORDER BY ALL")
        results = wh.query("SELECT DISTINCT model_type, metric FROM results")
        flows = wh.query("SELECT flow, status FROM runs ORDER BY started_at")
    cpu = compat.filter(compat["hardware"] == "cpu")
    assert sorted(cpu["model_type"].to_list()) == MODELS
    assert set(cpu["status"].to_list()) == {"pass"}
    # Besides the models, rows of the run itself: the stack's cold import per backend
    # (`_stack`) and the calibration reference's own time (`_reference`).
    assert set(results["model_type"].to_list()) == {*MODELS, "_stack", "_reference"}
    assert {"latency", "throughput"} <= set(results["metric"].to_list())
    assert {"validate", "benchmark"} <= set(flows["flow"].to_list())
    assert set(flows["status"].to_list()) == {"completed"}
    assert (data / "output" / "report" / "report.html").exists()


def test_prefect_ui_shows_the_flow_run(deployed_run) -> None:
    from warehouse.screenshot import chromium_page

    env, run, _data = deployed_run
    match = re.search(r"Created flow run '([^']+)'", run.stdout)
    assert match, run.stdout[-2000:]
    run_name = match.group(1)
    ui = env["PREFECT_API_URL"].removesuffix("/api")
    with chromium_page() as page:
        page.goto(f"{ui}/runs", wait_until="networkidle")
        page.get_by_text(run_name).first.wait_for(timeout=60_000)
        assert page.get_by_text(run_name).count() >= 1
