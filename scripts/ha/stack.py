"""`make ha-up` / `make ha-down`: Prefect in high availability on one machine, behind one door.

    python -m scripts.ha.stack up        # start what is not running; idempotent
    python -m scripts.ha.stack status    # each process, and the proxy's view of the replicas
    python -m scripts.ha.stack rotate    # new passwords (or SKILLSETS_HA_*_PASSWORD), proxy reload
    python -m scripts.ha.stack down      # stop what `up` started (by PID file), nothing else

What runs (Prefect's self-hosted scaling guide, docs/v3/advanced/self-hosted): PostgreSQL and
Redis under <dir>, migrations once, two API replicas (`prefect server start --no-services`) on
PostgreSQL with prefect-redis messaging, the background services once
(`prefect server services start`), HAProxy in front with health checks, basic auth and two roles,
the warehouse's Prometheus exporter and a report file server behind it, the zombie-run
automation, a process worker, and the deployments of prefect.yaml. Settings: config.HASettings.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import jinja2
import typer

from scripts.ha import processes
from scripts.ha.config import (
    REPO_ROOT,
    HASettings,
    auth_string,
    role_password,
    secret,
    write_secret,
)

BIN = Path(sys.executable).parent
POSTGRES_USER = "prefect"
ZOMBIE_AUTOMATION = "Crash zombie flow runs"
#: Client settings of the caller that would point a component at another server or identity.
_FOREIGN_PREFECT = ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING",
                    "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_HOME", "PREFECT_PROFILE",
                    "PREFECT_UI_API_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL",
                    "PREFECT_API_DATABASE_CONNECTION_URL")

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n\n")[0])


# --- environments -------------------------------------------------------------------------------

def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_PREFECT}
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    return env


def server_env(settings: HASettings) -> dict[str, str]:
    """What an API replica and the services process share: PostgreSQL, Redis, no migrations."""
    pg = secret(settings, "postgres-password")
    redis = secret(settings, "redis-password")
    host = settings.host
    return {
        **_base_env(),
        "PREFECT_HOME": str(settings.dir / "prefect"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL":
            f"postgresql+asyncpg://{POSTGRES_USER}:{pg}@{host}:{settings.postgres_port}/prefect",
        # Several servers on one database: migrations run once, before they start (`migrate`).
        "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_HOST": host,
        "PREFECT_REDIS_MESSAGING_PORT": str(settings.redis_port),
        "PREFECT_REDIS_MESSAGING_DB": "0",
        "PREFECT_REDIS_MESSAGING_PASSWORD": redis,
        "PREFECT_SERVER_DOCKET_URL": f"redis://:{redis}@{host}:{settings.redis_port}/1",
        # The UI in a browser must call the API through the door, not the replica it came from.
        "PREFECT_UI_API_URL": settings.api_url,
    }


def client_env(settings: HASettings, role: str = "operator") -> dict[str, str]:
    """A Prefect client's environment: the API through the proxy, as `role`."""
    return {
        **_base_env(),
        "PREFECT_HOME": str(settings.dir / "prefect"),
        "PREFECT_API_URL": settings.api_url,
        "PREFECT_API_AUTH_STRING": auth_string(settings, role),
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(settings.heartbeat_seconds),
    }


def _run(argv: list[str], env: dict[str, str], what: str, *, log: Path, timeout: float = 600,
         **popen: object) -> None:
    """Run a setup command to completion, appending its output to `log`.

    Raises:
        RuntimeError: it failed; the message names the log.
    """
    with log.open("ab") as handle:
        handle.write(f"\n$ {' '.join(argv)}\n".encode())
        handle.flush()
        done = subprocess.run(argv, env=env, stdout=handle, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False, **popen)
    if done.returncode:
        raise RuntimeError(f"{what} failed (exit {done.returncode}); see {log}")


# --- PostgreSQL ---------------------------------------------------------------------------------

def postgres_bin(tool: str) -> str:
    """Path of a PostgreSQL server tool: on PATH, else Debian's newest /usr/lib/postgresql/N/bin.

    Raises:
        FileNotFoundError: PostgreSQL is not installed (`make system-deps` installs it).
    """
    found = shutil.which(tool)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"),
                        key=lambda p: int(Path(p).parts[-3]))
    if not candidates:
        raise FileNotFoundError(f"PostgreSQL's {tool} is not installed; run `make system-deps` "
                                "(Debian package postgresql)")
    return candidates[-1]


def _postgres_user() -> str | None:
    """PostgreSQL will not run as root: as root, run it as the Debian package's `postgres` user."""
    return "postgres" if os.geteuid() == 0 else None


def start_postgres(settings: HASettings) -> None:
    """initdb a cluster under <dir>/pg on first use (scram-sha-256 over TCP only), start it."""
    user = _postgres_user()
    root = settings.dir / "pg"
    data = root / "data"
    log = settings.log_dir / "setup.log"
    password = secret(settings, "postgres-password")
    if not (data / "PG_VERSION").is_file():
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        pwfile = root / "pwfile"
        write_secret(pwfile, password)
        if user:
            shutil.chown(root, user, user)
            shutil.chown(pwfile, user, user)
        try:
            _run([postgres_bin("initdb"), "-D", str(data), "-U", POSTGRES_USER,
                  f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--no-locale"],
                 _base_env(), "initdb", user=user, log=log, cwd=root)
        finally:
            pwfile.unlink(missing_ok=True)
    processes.start(
        "postgres",
        [postgres_bin("postgres"), "-D", str(data), "-p", str(settings.postgres_port),
         "-h", settings.host, "-k", ""],  # no Unix socket: TCP on loopback only
        pid_dir=settings.pid_dir, log_dir=settings.log_dir, env=_base_env(), user=user, cwd=root,
    )
    wait_postgres(settings, timeout=60)
    env = {**_base_env(), "PGPASSWORD": password}
    exists = subprocess.run(
        [postgres_bin("psql"), "-h", settings.host, "-p", str(settings.postgres_port), "-U",
         POSTGRES_USER, "-d", "postgres", "-tAc",
         "SELECT 1 FROM pg_database WHERE datname = 'prefect'"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    if exists != "1":
        _run([postgres_bin("createdb"), "-h", settings.host, "-p", str(settings.postgres_port),
              "-U", POSTGRES_USER, "prefect"], env, "createdb prefect", log=log)


def wait_postgres(settings: HASettings, timeout: float) -> None:
    """Wait until PostgreSQL accepts connections.

    Raises:
        TimeoutError: it did not; names its log.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = subprocess.run([postgres_bin("pg_isready"), "-q", "-h", settings.host, "-p",
                                str(settings.postgres_port)], check=False)
        if ready.returncode == 0:
            return
        time.sleep(0.3)
    raise TimeoutError(f"PostgreSQL did not accept connections on {settings.postgres_port} "
                       f"within {timeout:.0f}s; see {settings.log_dir / 'postgres.log'}")


def stop_postgres(settings: HASettings) -> bool:
    """Fast shutdown (SIGINT): open transactions roll back, the cluster is consistent."""
    return processes.stop(settings.pid_dir, "postgres", sig=signal.SIGINT, group=False)


# --- Redis --------------------------------------------------------------------------------------

def start_redis(settings: HASettings) -> None:
    """Redis with a password and an append-only file under <dir>/redis (config file mode 600)."""
    root = settings.dir / "redis"
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "redis.conf"
    write_secret(conf, "\n".join([
        f"bind {settings.host}", f"port {settings.redis_port}", f"dir {root}",
        "daemonize no", "appendonly yes", "save 60 1000", "protected-mode yes",
        f"requirepass {secret(settings, 'redis-password')}", "",
    ]))
    processes.start("redis", ["redis-server", str(conf)], pid_dir=settings.pid_dir,
                    log_dir=settings.log_dir, env=_base_env())
    _wait_port(settings.host, settings.redis_port, "redis", 30, settings.log_dir / "redis.log")


def _wait_port(host: str, port: int, name: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{name} did not listen on {host}:{port} within {timeout:.0f}s; see {log}")


# --- Prefect server -----------------------------------------------------------------------------

def migrate(settings: HASettings) -> None:
    """Bring the PostgreSQL schema to this Prefect version, once, before any replica starts."""
    _run([str(BIN / "prefect"), "server", "database", "upgrade", "-y"], server_env(settings),
         "prefect server database upgrade", log=settings.log_dir / "setup.log")


def api_name(index: int) -> str:
    return f"api-{index + 1}"


def start_api(settings: HASettings, index: int, wait: bool = True) -> None:
    """API replica `index` (0-based): webserver and UI only; services run once elsewhere."""
    port = settings.api_ports[index]
    name = api_name(index)
    processes.start(
        name,
        [str(BIN / "prefect"), "server", "start", "--host", settings.host, "--port", str(port),
         "--no-services", "--analytics-off"],
        pid_dir=settings.pid_dir, log_dir=settings.log_dir, env=server_env(settings),
        cwd=settings.dir,
    )
    if wait:
        wait_api(settings, index)


def wait_api(settings: HASettings, index: int, timeout: float = 120) -> None:
    name = api_name(index)
    processes.wait_http(f"http://{settings.host}:{settings.api_ports[index]}/api/health",
                        timeout=timeout, name=name, log=settings.log_dir / f"{name}.log")


def start_services(settings: HASettings, timeout: float = 180, attempts: int = 2) -> None:
    """Scheduler, triggers, event persister and the other loop services: one process.

    Returns once its ReactiveTriggers service consumes the Redis `events` stream. Prefect's
    service runner starts each service as a bare asyncio task, so one that fails while
    starting (a database call that times out on a busy host, say) dies unseen while the
    process lives on; without that consumer no automation, the zombie-run one included, ever
    fires. A process whose consumer does not show within `timeout` is restarted, up to
    `attempts` times.

    Raises:
        TimeoutError: no attempt brought the consumer up; names the log.
    """
    for attempt in range(1, attempts + 1):
        before = triggers_consumers(settings)
        processes.start("services", [str(BIN / "prefect"), "server", "services", "start"],
                        pid_dir=settings.pid_dir, log_dir=settings.log_dir,
                        env=server_env(settings), cwd=settings.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if triggers_consumers(settings) - before:
                return
            if not _running(settings, "services"):
                break
            time.sleep(0.5)
        processes.stop(settings.pid_dir, "services")
        print(f"services: no reactive-triggers consumer on Redis after attempt {attempt}",
              file=sys.stderr)
    raise TimeoutError(f"the services process never started its ReactiveTriggers consumer "
                       f"(Redis stream 'events', group 'reactive-triggers') in {attempts} "
                       f"attempts of {timeout:.0f}s; see {settings.log_dir / 'services.log'}")


def triggers_consumers(settings: HASettings) -> set[str]:
    """Names of the consumers Redis has seen in the `reactive-triggers` group of `events`.

    Redis keeps a consumer's name after its process dies, so a new process shows as a name
    that was not there before it started.
    """
    import redis

    client = redis.Redis(host=settings.host, port=settings.redis_port,
                         password=secret(settings, "redis-password"), socket_timeout=5)
    try:
        return {c["name"].decode() for c in client.xinfo_consumers("events", "reactive-triggers")}
    except redis.ResponseError:  # no stream or no group yet: no consumer
        return set()
    finally:
        client.close()


# --- behind the door ----------------------------------------------------------------------------

def start_reports(settings: HASettings) -> None:
    """Python's file server over the reports folder (read-only GETs; the door adds auth)."""
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    processes.start(
        "reports",
        [sys.executable, "-m", "http.server", str(settings.report_port), "--bind", settings.host,
         "--directory", str(settings.reports_dir)],
        pid_dir=settings.pid_dir, log_dir=settings.log_dir, env=_base_env(),
    )
    _wait_port(settings.host, settings.report_port, "reports", 30, settings.log_dir / "reports.log")


def start_metrics(settings: HASettings) -> None:
    """`skillsets metrics serve`: the warehouse's latest values for Prometheus."""
    processes.start(
        "metrics",
        [str(BIN / "skillsets"), "metrics", "serve", "--host", settings.host, "--port",
         str(settings.metrics_port)],
        pid_dir=settings.pid_dir, log_dir=settings.log_dir, env=_base_env(), cwd=REPO_ROOT,
    )
    _wait_port(settings.host, settings.metrics_port, "metrics", 60,
               settings.log_dir / "metrics.log")


def crypt_hash(password: str) -> str:
    """SHA-512 crypt of `password` (HAProxy's userlist format), the password passed on stdin."""
    done = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def render_haproxy(settings: HASettings) -> Path:
    """Write <dir>/haproxy/haproxy.cfg (mode 600: it holds the password hashes) and check it."""
    import prefect

    template = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    ).get_template("haproxy.cfg.j2")
    root = settings.dir / "haproxy"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = root / "haproxy.cfg"
    write_secret(path, template.render(
        host=settings.host, proxy_port=settings.proxy_port, api_ports=settings.api_ports,
        metrics_port=settings.metrics_port, report_port=settings.report_port,
        socket=root / "haproxy.sock", prefect_version=prefect.__version__,
        viewer_hash=crypt_hash(role_password(settings, "viewer")),
        operator_hash=crypt_hash(role_password(settings, "operator")),
    ))
    _run(["haproxy", "-c", "-q", "-f", str(path)], _base_env(), f"haproxy -c -f {path}",
         log=settings.log_dir / "setup.log")
    return path


def start_haproxy(settings: HASettings) -> None:
    """HAProxy in the foreground (-db), so its PID is the one recorded and its log is ours."""
    path = render_haproxy(settings)
    processes.start("haproxy", ["haproxy", "-db", "-f", str(path)], pid_dir=settings.pid_dir,
                    log_dir=settings.log_dir, env=_base_env())
    processes.wait_http(f"{settings.api_url}/health", timeout=60, name="haproxy -> api",
                        headers=basic_auth_header(settings, "viewer"),
                        log=settings.log_dir / "haproxy.log")


def basic_auth_header(settings: HASettings, role: str) -> dict[str, str]:
    """The Authorization header of `role`."""
    import base64

    token = base64.b64encode(auth_string(settings, role).encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --- the work side ------------------------------------------------------------------------------

def ensure_zombie_automation(settings: HASettings) -> None:
    """Prefect's zombie-run automation (docs/v3/advanced/detect-zombie-flows): a running flow
    run whose heartbeats stop for `zombie_after_seconds` is marked Crashed, so a dead worker
    machine leaves no run Running forever. Kept as it is when it already has this definition.

    Created before the services process starts: ReactiveTriggers loads every automation from
    the database when it starts, and learns of later ones only from PostgreSQL NOTIFY, on a
    listener that connects after that load, so one created in between would be missed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    automation = AutomationCore(
        name=ZOMBIE_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                    "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                    "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=settings.zombie_after_seconds),
        ),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"No heartbeat for {settings.zombie_after_seconds}s: the process running "
                    "this flow run died (worker or machine lost).",
        )],
    )
    with temporary_settings({PREFECT_API_URL: settings.api_url,
                             PREFECT_API_AUTH_STRING: auth_string(settings, "operator")}):
        with get_client(sync_client=True) as client:
            existing = client.read_automations_by_name(ZOMBIE_AUTOMATION)
            same = [a for a in existing if a.trigger == automation.trigger
                    and a.actions == automation.actions and a.enabled]
            if len(existing) == 1 and same:
                return
            for stale in existing:
                client.delete_automation(stale.id)
            client.create_automation(automation)


def deploy(settings: HASettings, names: list[str] | None = None) -> None:
    """Create the process work pool and deploy prefect.yaml's deployments (all, or `names`)."""
    env = client_env(settings)
    log = settings.log_dir / "setup.log"
    _run([str(BIN / "prefect"), "work-pool", "create", settings.work_pool, "--type", "process",
          "--overwrite"], env, "prefect work-pool create", log=log, cwd=REPO_ROOT)
    which = ["--all"] if not names else [arg for n in names for arg in ("--name", n)]
    _run([str(BIN / "prefect"), "deploy", *which, "--no-prompt"], env, "prefect deploy", log=log,
         cwd=REPO_ROOT)


def start_worker(settings: HASettings) -> None:
    """A process worker on the pool, talking through the door as operator; flow runs inherit
    its environment (credentials, heartbeat frequency, SKILLSETS_* settings)."""
    processes.start(
        "worker",
        [str(BIN / "prefect"), "worker", "start", "--pool", settings.work_pool, "--type",
         "process", "--name", f"ha-worker-{socket.gethostname()}"],
        pid_dir=settings.pid_dir, log_dir=settings.log_dir, env=client_env(settings),
        cwd=REPO_ROOT,
    )


# --- commands -----------------------------------------------------------------------------------

def _running(settings: HASettings, name: str) -> bool:
    return processes.read(settings.pid_dir, name) is not None


def bring_up(settings: HASettings, deploy_names: list[str] | None = None) -> None:
    """Start every component that is not running, in dependency order."""
    settings.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.dir, 0o755)  # the postgres user must reach <dir>/pg
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    for role in ("viewer", "operator"):
        role_password(settings, role)
    if not _running(settings, "postgres"):
        start_postgres(settings)
    if not _running(settings, "redis"):
        start_redis(settings)
    migrate(settings)
    # One after the other: each replica registers the block types at startup, and two doing it
    # at once collide on a unique key (the second exits).
    for index in range(len(settings.api_ports)):
        if not _running(settings, api_name(index)):
            start_api(settings, index)
    if not _running(settings, "reports"):
        start_reports(settings)
    if not _running(settings, "metrics"):
        start_metrics(settings)
    if not _running(settings, "haproxy"):
        start_haproxy(settings)
    ensure_zombie_automation(settings)  # before the services: see its docstring
    if not _running(settings, "services"):
        start_services(settings)
    if settings.deploy or deploy_names:
        deploy(settings, deploy_names)
    if not _running(settings, "worker"):
        start_worker(settings)


def component_names(settings: HASettings) -> list[str]:
    """Every process `up` starts, in start order."""
    return ["postgres", "redis", *(api_name(i) for i in range(len(settings.api_ports))),
            "reports", "metrics", "haproxy", "services", "worker"]


def bring_down(settings: HASettings) -> list[str]:
    """Stop, in reverse start order, every process whose PID file `up` wrote; return their names."""
    stopped = []
    for name in reversed(component_names(settings)):
        if name == "postgres":
            done = stop_postgres(settings)
        else:
            done = processes.stop(settings.pid_dir, name)
        if done:
            stopped.append(name)
    return stopped


def proxy_view(settings: HASettings) -> list[dict[str, str]]:
    """HAProxy's own table of backends and servers (`show stat` on its admin socket)."""
    import csv

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(settings.dir / "haproxy" / "haproxy.sock"))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    lines = data.decode().lstrip("# ").splitlines()
    return [row for row in csv.DictReader(lines) if row.get("svname")]


@app.command()
def up(
    only: Annotated[list[str] | None, typer.Option(
        "--deploy", help="Deploy only these deployments (repeatable); default: every one in "
        "prefect.yaml.")] = None,
) -> None:
    """Start PostgreSQL, Redis, the API replicas, services, proxy, worker; deploy."""
    settings = HASettings()
    bring_up(settings, only or None)
    typer.echo(f"Prefect UI and API: {settings.proxy_url} (users viewer, operator; passwords in "
               f"{settings.secrets_dir}/<role>-password)")
    typer.echo(f"Clients: PREFECT_API_URL={settings.api_url} "
               "PREFECT_API_AUTH_STRING=operator:$(cat "
               f"{settings.secrets_dir}/operator-password)")


@app.command()
def down() -> None:
    """Stop what `up` started (by PID file); data stays under the HA folder."""
    settings = HASettings()
    stopped = bring_down(settings)
    typer.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def status() -> None:
    """Each process `up` starts, and the proxy's view of its backends."""
    settings = HASettings()
    for name in component_names(settings):
        recorded = processes.read(settings.pid_dir, name)
        typer.echo(f"{name:10} {'running pid ' + str(recorded.pid) if recorded else 'stopped'}")
    if _running(settings, "haproxy"):
        for row in proxy_view(settings):
            typer.echo(f"proxy {row['pxname']}/{row['svname']}: {row['status']}")
    if _running(settings, "redis"):
        seen = triggers_consumers(settings)
        typer.echo(f"automations: {len(seen)} reactive-triggers consumer(s) seen on Redis "
                   "(one per services process started)")


@app.command()
def rotate() -> None:
    """New viewer and operator passwords (SKILLSETS_HA_*_PASSWORD if set, else random), then
    restart the proxy and the worker so both use them. Other clients need the new ones."""
    settings = HASettings()
    for role in ("viewer", "operator"):
        (settings.secrets_dir / f"{role}-password").unlink(missing_ok=True)
        role_password(settings, role)
    for name in ("worker", "haproxy"):
        processes.stop(settings.pid_dir, name)
    start_haproxy(settings)
    start_worker(settings)
    typer.echo(f"new passwords in {settings.secrets_dir}; proxy and worker restarted")


if __name__ == "__main__":
    app()
