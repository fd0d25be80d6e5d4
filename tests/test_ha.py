"""The high-availability stack, for real: `python -m scripts.ha.stack up` on loopback ports.

PostgreSQL, Redis, two Prefect API replicas, the services, HAProxy with basic auth and roles, a
process worker and the `benchmark` deployment, all real processes under a temporary folder. A
small real flow (the benchmark of tiny BERT, three runs) is driven through the proxy while one
component at a time fails: an API replica (SIGKILL), PostgreSQL (restart), the worker (SIGKILL of
it and its flow-run processes, as when its machine dies). Deselect with `-m "not ha"`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from distributed import Client, LocalCluster
from prefect_server import free_port, wait_for_http
from test_metrics_prometheus import eventually, process, query

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.ha import processes, stack  # noqa: E402
from scripts.ha.config import HASettings, role_password  # noqa: E402
from warehouse.store import Warehouse  # noqa: E402

pytestmark = [
    pytest.mark.ha,
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("redis-server", "haproxy", "openssl")),
        reason="redis-server/haproxy missing: `make system-deps` installs them",
    ),
]

#: The run every failover drill starts: tiny BERT, one series per metric, a few seconds of work.
BENCH = {"models": ["bert"], "hardware": ["cpu"], "size": "tiny", "runs": 3,
         "batch_sizes": [1], "kinds": ["inference"], "concurrent_workers": 1}
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HASettings]:
    """The stack, up for the module; down (by its PID files) and removed afterwards."""
    # Not under pytest's 0700 temp root: the postgres user must reach <dir>/pg.
    root = Path(tempfile.mkdtemp(prefix="skillsets-ha-"))
    root.chmod(0o755)
    work = tmp_path_factory.mktemp("ha-work")
    ports = [free_port() for _ in range(7)]
    env = {
        "SKILLSETS_HA_DIR": str(root / "ha"),
        "SKILLSETS_HA_PROXY_PORT": str(ports[0]),
        "SKILLSETS_HA_API_PORTS": f"[{ports[1]},{ports[2]}]",
        "SKILLSETS_HA_POSTGRES_PORT": str(ports[3]),
        "SKILLSETS_HA_REDIS_PORT": str(ports[4]),
        "SKILLSETS_HA_METRICS_PORT": str(ports[5]),
        "SKILLSETS_HA_REPORT_PORT": str(ports[6]),
        "SKILLSETS_HA_REPORTS_DIR": str(work / "out" / "reports"),
        "SKILLSETS_HA_DEPLOY": "false",
        # Three missed 30 s heartbeats is the production default; 75 s keeps the drill short.
        "SKILLSETS_HA_ZOMBIE_AFTER_SECONDS": "75",
        "SKILLSETS_WAREHOUSE": str(work / "warehouse.duckdb"),
        "SKILLSETS_OUTPUT_DIR": str(work / "out"),
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    }
    with pytest.MonkeyPatch.context() as patch:
        # Components restarted by a test inherit the same environment as those `up` started.
        for key, value in env.items():
            patch.setenv(key, value)
        settings = HASettings()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "scripts.ha.stack", "up", "--deploy", "benchmark"],
                cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=600,
            )
            assert done.returncode == 0, f"stack up failed:\n{done.stdout}\n{done.stderr}"
            yield settings
        finally:
            subprocess.run([sys.executable, "-m", "scripts.ha.stack", "down"], cwd=REPO,
                           env=os.environ.copy(), timeout=180, check=False)
            shutil.rmtree(root, ignore_errors=True)


def client(settings: HASettings, role: str | None) -> httpx.Client:
    """An HTTP client at the proxy, as `role` (None: no credentials)."""
    auth = (role, role_password(settings, role)) if role else None
    return httpx.Client(base_url=settings.proxy_url, auth=auth, timeout=30)


def deployment_id(settings: HASettings) -> str:
    with client(settings, "viewer") as http:
        found = http.post("/api/deployments/filter", json={"deployments": {
            "name": {"any_": ["benchmark"]}}})
        found.raise_for_status()
        return found.json()[0]["id"]


def start_run(settings: HASettings) -> str:
    """Start the benchmark deployment as operator; return the flow run id."""
    with client(settings, "operator") as http:
        created = http.post(f"/api/deployments/{deployment_id(settings)}/create_flow_run",
                            json={"parameters": BENCH})
        assert created.status_code == 201, created.text
        return created.json()["id"]


def flow_run(settings: HASettings, run_id: str) -> dict[str, Any]:
    with client(settings, "viewer") as http:
        found = http.get(f"/api/flow_runs/{run_id}")
        found.raise_for_status()
        return found.json()


def wait_run(settings: HASettings, run_id: str, done: Callable[[dict[str, Any]], bool],
             timeout: float, what: str) -> dict[str, Any]:
    """Poll the flow run through the proxy until `done(run)`; tolerate a proxy/API blip."""
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            run = flow_run(settings, run_id)
        except httpx.HTTPError:
            run = run or {}
        else:
            if done(run):
                return run
        time.sleep(1)
    state = run.get("state") or {}
    raise AssertionError(f"flow run {run_id} not {what} within {timeout:.0f}s: last state "
                         f"{state.get('type')} {state.get('message')!r}; logs under "
                         f"{HASettings().log_dir}")


def state_type(run: dict[str, Any]) -> str:
    return (run.get("state") or {}).get("type", "")


def task_states(settings: HASettings, run_id: str) -> dict[str, str]:
    with client(settings, "viewer") as http:
        found = http.post("/api/task_runs/filter",
                          json={"flow_runs": {"id": {"any_": [run_id]}}})
        found.raise_for_status()
        return {t["name"]: t["state_type"] for t in found.json()}


def wait_task_done(settings: HASettings, run_id: str, prefix: str, timeout: float) -> None:
    """Wait until a task run of the flow run whose name starts with `prefix` completed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = task_states(settings, run_id)
        if any(name.startswith(prefix) and s == "COMPLETED" for name, s in states.items()):
            return
        time.sleep(0.5)
    raise AssertionError(f"no {prefix} task of {run_id} completed within {timeout:.0f}s")


def result_counts(settings: HASettings, run_id: str) -> tuple[int, list[int], str | None]:
    """(result rows, rows per series, the run's status) of `run_id` in the warehouse."""
    path = Path(os.environ["SKILLSETS_WAREHOUSE"])
    if not path.exists():
        return 0, [], None
    with Warehouse.open(path, read_only=True) as wh:
        per_series = wh.query(
            "SELECT model_type, hardware, precision, batch_size, benchmark, metric, "
            "count(*) AS n FROM results WHERE run_id = $1 GROUP BY ALL", [run_id])
        status = wh.query("SELECT status FROM runs WHERE run_id = $1", [run_id])
    counts = per_series["n"].to_list()
    return sum(counts), counts, (status["status"].to_list() or [None])[0]


def proxy_status(settings: HASettings) -> dict[str, str]:
    return {row["svname"]: row["status"] for row in stack.proxy_view(settings)
            if row["pxname"] == "prefect_api"}


def wait_proxy(settings: HASettings, server: str, status: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy_status(settings).get(server, "").startswith(status):
            return
        time.sleep(0.5)
    raise AssertionError(f"HAProxy never saw {server} {status}: {proxy_status(settings)}")


@pytest.mark.timeout(120, func_only=True)
def test_the_door_requires_credentials_and_a_viewer_only_reads(ha: HASettings) -> None:
    with client(ha, None) as anonymous:
        for path in ("/api/health", "/", "/api/flow_runs/filter", "/metrics", "/reports/",
                     "/haproxy/metrics"):
            assert anonymous.get(path).status_code == 401, path
    with client(ha, "viewer") as viewer:
        bad = httpx.get(f"{ha.proxy_url}/api/health", auth=("viewer", "wrong"))
        assert bad.status_code == 401
        assert viewer.post("/api/flow_runs/filter", json={}).status_code == 200
        assert viewer.post("/api/deployments/count", json={}).status_code == 200
        assert viewer.post("/api/ui/flow_runs/history", json={
            "history_start": "2026-01-01T00:00:00Z", "history_end": "2026-01-02T00:00:00Z",
            "history_interval_seconds": 3600}).status_code == 200
        assert viewer.get("/api/work_pools/skillsets").status_code == 200
        dep = deployment_id(ha)
        refused = {
            "create run": viewer.post(f"/api/deployments/{dep}/create_flow_run", json={}),
            "pause": viewer.post(f"/api/deployments/{dep}/pause_deployment"),
            "delete": viewer.delete(f"/api/deployments/{dep}"),
            "pool": viewer.patch("/api/work_pools/skillsets", json={"is_paused": True}),
            "deploy": viewer.post("/api/deployments/", json={}),
            "events in": viewer.get("/api/events/in"),
        }
        assert {what: r.status_code for what, r in refused.items()} == dict.fromkeys(refused, 403)
        # Behind the same door: the warehouse exporter, the reports, the proxy's own metrics.
        assert "skillsets_warehouse_up" in viewer.get("/metrics").text
        assert viewer.get("/reports/").status_code == 200
        assert "haproxy_server_status" in viewer.get("/haproxy/metrics").text
    with client(ha, "operator") as operator:
        assert operator.post("/api/flow_runs/filter", json={}).status_code == 200
        assert operator.post(f"/api/deployments/{dep}/pause_deployment").status_code == 200
        assert operator.post(f"/api/deployments/{dep}/resume_deployment").status_code == 200


@pytest.mark.browser
@pytest.mark.timeout(180, func_only=True)
def test_the_ui_loads_for_a_viewer_with_no_refused_read(ha: HASettings) -> None:
    """Every request the UI makes to show runs, deployments and pools is allowed to a viewer:
    the read-only POST list of the proxy covers what the UI needs."""
    from playwright.sync_api import sync_playwright

    from warehouse.screenshot import CHROMIUM_ARGS, chromium_path

    refused: list[str] = []
    answered: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path()),
                                             args=list(CHROMIUM_ARGS), headless=True)
        try:
            page = browser.new_context(http_credentials={
                "username": "viewer", "password": role_password(ha, "viewer")}).new_page()

            def seen(response: Any) -> None:
                if "/api/" in response.url:
                    answered.append(response.url)
                    if response.status in (401, 403):
                        refused.append(f"{response.request.method} {response.url} "
                                       f"{response.status}")

            page.on("response", seen)
            for path in ("/dashboard", "/runs", "/deployments", "/work-pools", "/flows"):
                page.goto(f"{ha.proxy_url}{path}", wait_until="networkidle", timeout=60_000)
        finally:
            browser.close()
    assert answered, "the UI made no API call through the proxy"
    assert refused == []


def ha_dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel of monitoring/grafana-ha.json."""
    dashboard = json.loads((REPO / "monitoring" / "grafana-ha.json").read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "30s")
            assert "$" not in expr, f"unknown variable in {target['expr']}"
            found.append((panel["title"], expr))
    return found


@pytest.mark.timeout(300, func_only=True)
def test_prometheus_scrapes_the_replicas_health_through_the_door_and_dask(
    ha: HASettings, tmp_path: Path
) -> None:
    """monitoring/prometheus-ha.yml, pointed at this stack and a Dask cluster, run by the real
    Prometheus: the proxy's view of each replica and Dask's metrics arrive, and every panel of
    monitoring/grafana-ha.json has data."""
    config = yaml.safe_load((REPO / "monitoring" / "prometheus-ha.yml").read_text())
    config["global"]["scrape_interval"] = config["global"]["scrape_timeout"] = "3s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"haproxy", "skillsets", "dask-scheduler", "dask-workers"}
    for name in ("haproxy", "skillsets"):
        jobs[name]["static_configs"] = [{"targets": [f"{ha.host}:{ha.proxy_port}"]}]
        jobs[name]["basic_auth"]["password_file"] = str(ha.secrets_dir / "viewer-password")
    prometheus = free_port()
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                     host="127.0.0.1", dashboard_address="127.0.0.1:0",
                     worker_dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as dask,
    ):
        assert dask.submit(sum, [1, 2]).result(timeout=30) == 3
        jobs["dask-scheduler"]["static_configs"] = [
            {"targets": [f"127.0.0.1:{cluster.scheduler.http_server.port}"]}]
        (worker_file,) = jobs["dask-workers"]["file_sd_configs"][0]["files"]
        (tmp_path / worker_file).write_text(yaml.safe_dump([{"targets": [
            f"127.0.0.1:{w.http_server.port}" for w in cluster.workers.values()]}]))
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        args = ["prometheus", f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus}", "--log.level=warn"]
        with process(args, tmp_path / "prometheus.log"):
            wait_for_http(f"http://127.0.0.1:{prometheus}/-/ready", timeout=120)
            up = eventually(lambda: (r := query(prometheus, "up == 1")) and len(r) == 4 and r,
                            timeout=120, what="not all four jobs up")
            assert {r["metric"]["job"] for r in up} == set(jobs)
            replicas = query(prometheus, 'haproxy_server_status{proxy="prefect_api",state="UP"}')
            assert {r["metric"]["server"]: r["value"][1] for r in replicas} == {
                "api1": "1", "api2": "1"}
            for title, expr in ha_dashboard_queries():
                eventually(lambda e=expr: query(prometheus, e), timeout=60,
                           what=f"panel {title!r} of grafana-ha.json got no data from {expr}")


@pytest.mark.timeout(600, func_only=True)
def test_a_run_survives_a_killed_api_replica(ha: HASettings) -> None:
    run_id = start_run(ha)
    wait_run(ha, run_id, lambda r: state_type(r) == "RUNNING", 240, "running")
    killed = processes.kill(ha.pid_dir, stack.api_name(0))
    print(f"\n[replica] run {run_id} running; SIGKILLed api-1 (pid {killed.pid})")
    wait_proxy(ha, "api1", "DOWN", 30)
    final = wait_run(ha, run_id, lambda r: state_type(r) in TERMINAL, 360, "finished")
    rows, per_series, status = result_counts(ha, run_id)
    print(f"[replica] final state {state_type(final)}; proxy {proxy_status(ha)}; "
          f"{rows} result rows, per series {sorted(set(per_series))}, run status {status}")
    assert state_type(final) == "COMPLETED", final["state"]
    # The history, as the UI reads it through the surviving replica.
    with client(ha, "viewer") as viewer:
        states = viewer.get("/api/flow_run_states/", params={"flow_run_id": run_id}).json()
        logs = viewer.post("/api/logs/filter", json={
            "logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200}).json()
    kinds = [s["type"] for s in states]
    assert kinds[0] == "SCHEDULED" and kinds[-1] == "COMPLETED", kinds
    assert {"PENDING", "RUNNING"} <= set(kinds), kinds
    # Task-run states arrive as events (worker -> API -> Redis -> task-run recorder), a few
    # seconds behind the flow run's own state.
    deadline = time.monotonic() + 60
    while set((tasks := task_states(ha, run_id)).values()) != {"COMPLETED"}:
        assert time.monotonic() < deadline, f"task runs of {run_id} not all COMPLETED: {tasks}"
        time.sleep(1)
    print(f"[replica] {len(tasks)} task runs, all COMPLETED; {len(logs)} log lines; states "
          f"{' > '.join(kinds)}")
    assert logs, "no log of the run reached the API"
    assert rows > 0 and set(per_series) == {1} and status == "completed"
    stack.start_api(ha, 0)
    wait_proxy(ha, "api1", "UP", 30)


@pytest.mark.timeout(600, func_only=True)
def test_a_postgres_restart_mid_run_ends_in_a_clear_state_and_the_next_run_works(
    ha: HASettings,
) -> None:
    run_id = start_run(ha)
    wait_run(ha, run_id, lambda r: state_type(r) == "RUNNING", 240, "running")
    assert stack.stop_postgres(ha)
    print(f"\n[postgres] run {run_id} running; PostgreSQL stopped (fast shutdown)")
    time.sleep(3)
    stack.start_postgres(ha)
    print("[postgres] PostgreSQL started again")
    # Finished, or Crashed by the zombie automation if its process lost its last report.
    final = wait_run(ha, run_id, lambda r: state_type(r) in TERMINAL, 360, "finished")
    state = final["state"]
    print(f"[postgres] the interrupted run: {state['type']} {state.get('message')!r}")
    if state["type"] != "COMPLETED":
        assert state.get("message"), "a run that did not complete must say why"
    following = start_run(ha)
    last = wait_run(ha, following, lambda r: state_type(r) in TERMINAL, 360, "finished")
    rows, per_series, _ = result_counts(ha, following)
    print(f"[postgres] the next run: {state_type(last)}, {rows} result rows")
    assert state_type(last) == "COMPLETED", last["state"]
    assert rows > 0 and set(per_series) == {1}


@pytest.mark.timeout(600, func_only=True)
def test_a_killed_worker_crashes_the_run_and_its_retry_stores_each_row_once(
    ha: HASettings,
) -> None:
    run_id = start_run(ha)
    wait_run(ha, run_id, lambda r: state_type(r) == "RUNNING", 240, "running")
    wait_task_done(ha, run_id, "begin-run", 120)
    time.sleep(3)  # into the benchmark itself
    # What crashes the run: the services' ReactiveTriggers consuming events (`up` waits for it).
    assert stack.triggers_consumers(ha), "no reactive-triggers consumer on Redis's events stream"
    killed = processes.kill(ha.pid_dir, "worker", tree=True)
    before = result_counts(ha, run_id)
    print(f"\n[worker] run {run_id} running; SIGKILLed the worker and its flow run "
          f"(pid {killed.pid}); rows stored: {before[0]}, run status {before[2]}")
    crashed = wait_run(ha, run_id, lambda r: state_type(r) in TERMINAL,
                       ha.zombie_after_seconds + 2 * ha.heartbeat_seconds + 60, "crashed")
    print(f"[worker] {state_type(crashed)}: {crashed['state'].get('message')!r}")
    assert state_type(crashed) == "CRASHED"
    stack.start_worker(ha)
    retry = subprocess.run([str(stack.BIN / "prefect"), "flow-run", "retry", run_id],
                           env=stack.client_env(ha), capture_output=True, text=True, timeout=120)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    final = wait_run(ha, run_id, lambda r: state_type(r) in TERMINAL and
                     r.get("run_count", 0) >= 2, 360, "retried")
    after = result_counts(ha, run_id)
    print(f"[worker] retry: {state_type(final)}; rows before {before[0]}, after {after[0]}, "
          f"per series {sorted(set(after[1]))}, run status {after[2]}")
    assert state_type(final) == "COMPLETED", final["state"]
    assert after[0] > 0 and set(after[1]) == {1} and after[2] == "completed"
