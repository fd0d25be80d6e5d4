"""Dask clusters whose workers carry hardware resource tags, and proof of where a task ran.

A local cluster gets one worker process per available backend (or several: `workers_per_backend`),
each tagged `{backend: 1}` and each with a single task slot, so a worker runs one measurement at
a time and a task asking for `resources={"cpu": 1}` can only land on a cpu worker. The machine's
usable cores are split into disjoint sets, one per worker, and each worker process pins every
one of its threads to its set: two measurements never share a core (when there are fewer cores
than workers they must, and `WorkerPlacement.exclusive_cores` says so).

Nothing here imports Prefect.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster, Nanny, WorkerPlugin, get_worker
from distributed.security import Security

from hardware.registry import get_backend, resolve_hardware

log = logging.getLogger(__name__)

#: Environment variables the cluster hands each worker process.
CORES_ENV = "SKILLSETS_WORKER_CORES"
EXCLUSIVE_ENV = "SKILLSETS_WORKER_EXCLUSIVE"
LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class WorkerPlacement:
    """Where a task ran: the worker, its process, its resource tags and its cores.

    Attributes:
        name: Dask worker name (e.g. `cpu-0`).
        address: Worker address (`tcp://127.0.0.1:port`).
        host: Hostname of the worker's machine.
        pid: Worker process id.
        resources: The worker's resource tags, e.g. `{"cpu": 1.0}`.
        cores: CPU ids the process may run on.
        exclusive_cores: False when the cluster had to give this worker cores that another
            worker also uses (fewer cores than workers); None when not started by this module.
    """

    name: str
    address: str
    host: str
    pid: int
    resources: dict[str, float]
    cores: tuple[int, ...]
    exclusive_cores: bool | None

    def require(self, hardware: str) -> None:
        """Raise `RuntimeError` unless this worker carries the `hardware` tag."""
        if self.resources.get(hardware, 0) <= 0:
            raise RuntimeError(
                f"task for {hardware!r} ran on worker {self.name!r} ({self.address}) whose "
                f"resources are {self.resources}; submit it with dask.annotate(resources="
                f"{{{hardware!r}: 1}}) and start workers with that tag"
            )


def _affinity() -> tuple[int, ...]:
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


def worker_hardware() -> WorkerPlacement:
    """Called inside a task: the worker it runs on, its resources and its cores.

    Raises:
        ValueError: when called outside a Dask worker.
    """
    worker = get_worker()
    exclusive = os.environ.get(EXCLUSIVE_ENV)
    return WorkerPlacement(
        name=str(worker.name),
        address=worker.address,
        host=os.uname().nodename,
        pid=os.getpid(),
        resources=dict(worker.state.total_resources),
        cores=_affinity(),
        exclusive_cores=None if exclusive is None else exclusive == "1",
    )


def pin_process(cores: tuple[int, ...] | list[int]) -> None:
    """Pin every thread of this process (and threads it starts later) to `cores`.

    `sched_setaffinity(0, ...)` moves only the calling thread on Linux, so each existing thread
    (event loop, executor, BLAS pools) is moved by its id.
    """
    if not hasattr(os, "sched_setaffinity"):
        log.warning("cannot pin cores on this platform; measurements may share cores")
        return
    wanted = set(cores)
    task_dir = Path("/proc/self/task")
    tids = [int(p.name) for p in task_dir.iterdir()] if task_dir.exists() else [0]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, wanted)
        except ProcessLookupError:
            continue  # the thread ended between listing and pinning; nothing left to pin
        except OSError as exc:  # a sandbox that refuses affinity: measure anyway, but say so
            log.warning("cannot pin thread %d to cores %s: %s", tid, sorted(wanted), exc)
            return


class CorePinning(WorkerPlugin):
    """Pins a worker process to the cores its nanny was given in `SKILLSETS_WORKER_CORES`.

    Registered on every cluster this module starts; the scheduler replays it on a restarted
    worker, so a worker brought back after a crash is pinned again. Workers started elsewhere
    (no variable) are left as they are.
    """

    idempotent = True
    name = "skillsets-core-pinning"

    def setup(self, worker: Any) -> None:
        cores = os.environ.get(CORES_ENV)
        if cores:
            pin_process([int(c) for c in cores.split(",")])


def split_cores(
    cores: tuple[int, ...], workers: int, per_worker: int | None = None
) -> tuple[list[tuple[int, ...]], bool]:
    """Split `cores` into one set per worker: disjoint when there are enough cores.

    Args:
        cores: The usable CPU ids.
        workers: How many sets to make.
        per_worker: Cores per worker; None = an even share (at least one).

    Returns:
        (sets, exclusive): exclusive is False when sets had to overlap.
    """
    if workers < 1:
        raise ValueError(f"need at least one worker, got {workers}")
    if not cores:
        raise ValueError("no usable cores")
    share = per_worker if per_worker is not None else max(1, len(cores) // workers)
    if share < 1:
        raise ValueError(f"threads_per_worker must be >= 1, got {share}")
    exclusive = share * workers <= len(cores)
    sets = [
        tuple(cores[(i * share + j) % len(cores)] for j in range(min(share, len(cores))))
        for i in range(workers)
    ]
    return sets, exclusive


def start_local_cluster(
    hardware: list[str] | None = None,
    threads_per_worker: int | None = None,
    *,
    workers_per_backend: int = 1,
    dashboard_address: str | None = None,
    security: Security | None = None,
    timeout: float = 120.0,
) -> tuple[LocalCluster, Client]:
    """Start a local cluster with hardware-tagged workers on 127.0.0.1, and a client to it.

    Args:
        hardware: Backends to start workers for (`None` or `["auto"]` = every available one).
            Unavailable ones are skipped with a warning; unknown names raise.
        threads_per_worker: Cores (and torch threads) each worker's measurement gets; None = an
            even share of this process's usable cores. Dask's own task slots per worker are
            always 1: one measurement per worker at a time.
        workers_per_backend: Workers per backend (more than one lets a task killed with its
            worker re-run on another worker of the same kind).
        dashboard_address: e.g. `"127.0.0.1:8787"`; None = no dashboard.
        security: TLS settings (`distributed.security.Security`), passed to scheduler and workers.
        timeout: Seconds to wait for every worker to register.

    Returns:
        (cluster, client). Close both (client first) when done.

    Raises:
        ValueError: when none of the requested backends is available here.
    """
    present, absent = resolve_hardware(hardware or ["auto"])
    for name in absent:
        log.warning("no worker for %s: the backend is not available here", name)
    if not present:
        raise ValueError(
            f"none of the requested backends {hardware} is available here; "
            "see `skillsets hardware` for what this machine has"
        )
    names = [f"{hw}-{i}" for hw in present for i in range(workers_per_backend)]
    core_sets, exclusive = split_cores(_affinity(), len(names), threads_per_worker)
    if not exclusive:
        log.warning(
            "%d workers but %d usable cores: measurements will share cores",
            len(names),
            len(_affinity()),
        )
    cluster = LocalCluster(
        n_workers=0,
        threads_per_worker=1,
        processes=True,
        host=LOCALHOST,
        dashboard_address=dashboard_address,
        security=security,
        protocol="tls://" if security is not None and security.require_encryption else None,
        # With the dashboard off the scheduler still serves health/metrics over HTTP, by default
        # on port 8787 of its host; a free loopback port keeps it private and unclashing.
        scheduler_kwargs=None if dashboard_address else {"dashboard_address": f"{LOCALHOST}:0"},
    )
    client = Client(cluster, security=security)
    try:
        client.register_plugin(CorePinning())
        for name, cores in zip(names, core_sets, strict=True):
            backend = name.rsplit("-", 1)[0]
            get_backend(backend)
            cluster.worker_spec[name] = {
                "cls": Nanny,
                "options": {
                    "nthreads": 1,
                    "host": LOCALHOST,
                    "dashboard_address": None,
                    "dashboard": False,
                    "silence_logs": logging.WARNING,
                    "resources": {backend: 1},
                    "env": {
                        CORES_ENV: ",".join(map(str, cores)),
                        EXCLUSIVE_ENV: "1" if exclusive else "0",
                    },
                    "security": security,
                },
            }
        cluster.scale(len(cluster.worker_spec))
        client.wait_for_workers(len(names), timeout=timeout)
    except BaseException:
        client.close()
        cluster.close()
        raise
    return cluster, client


def connect(settings: Any, *, security: Security | None = None, timeout: float = 30.0) -> Client:
    """A client to the existing scheduler at `settings.scheduler_address`.

    Mutual TLS is used when `security` is given or the settings hold a complete TLS
    configuration; a scheduler beyond loopback without TLS is refused unless the settings allow
    it (`hardware.security.check_exposure`).

    Raises:
        ValueError: when the settings name no scheduler (use `start_local_cluster` then).
        hardware.security.InsecureClusterError: a remote scheduler without TLS, not allowed.
    """
    from hardware.security import check_exposure, tls_security

    address = settings.scheduler_address
    if not address:
        raise ValueError(
            "settings.scheduler_address is empty; set SKILLSETS_SCHEDULER_ADDRESS to use an "
            "existing cluster, or call start_local_cluster()"
        )
    if security is None and settings.tls_enabled:
        security = tls_security(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)
    check_exposure(address, security, allow_insecure=settings.allow_insecure_remote)
    return Client(address, security=security, timeout=timeout)


def worker_resources(client: Client) -> dict[str, dict[str, float]]:
    """Each connected worker's resource tags, keyed by worker address.

    Asked of the scheduler itself: `client.scheduler_info()` is a copy the client refreshes
    every few seconds, which can still be empty right after the workers registered.
    """
    return client.run_on_scheduler(_scheduler_worker_resources)


def _scheduler_worker_resources(dask_scheduler: Any) -> dict[str, dict[str, float]]:
    return {addr: dict(ws.resources) for addr, ws in dask_scheduler.workers.items()}


def require_hardware(client: Client, hardware: list[str]) -> None:
    """Raise `RuntimeError` when some backend in `hardware` has no worker tagged for it.

    A task annotated with a resource no worker has waits for ever; this says so up front.
    """
    tags = worker_resources(client)
    have = {name for res in tags.values() for name, amount in res.items() if amount > 0}
    missing = [hw for hw in hardware if hw not in have]
    if missing:
        raise RuntimeError(
            f"no worker carries the resource tag(s) {missing}; workers have "
            f"{sorted(have) or 'none'}. Start workers with e.g. "
            "`dask worker ADDRESS --resources cpu=1`, or choose other hardware"
        )
