"""The task runner every Dask-backed flow uses: prefect-dask on a hardware-tagged cluster."""

from __future__ import annotations

from distributed import LocalCluster
from prefect_dask import DaskTaskRunner

from hardware.cluster import start_local_cluster
from hardware.security import check_exposure, tls_security
from skillsets.settings import Settings, load_settings


def tagged_local_cluster(hardware: list[str] | None = None, security=None) -> LocalCluster:
    """A local cluster with one worker per available backend, tagged `{backend: 1}`.

    prefect-dask creates and closes the cluster itself; this only hands it the cluster.
    """
    cluster, client = start_local_cluster(hardware, security=security)
    client.close()
    return cluster


def dask_task_runner(settings: Settings | None = None) -> DaskTaskRunner:
    """A `DaskTaskRunner` for the settings: the existing scheduler at `scheduler_address`
    (with mutual TLS when configured), else a hardware-tagged local cluster on 127.0.0.1.

    Raises:
        hardware.security.InsecureClusterError: a non-loopback scheduler without TLS that was
            not explicitly allowed.
    """
    settings = settings or load_settings()
    security = (
        tls_security(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)
        if settings.tls_enabled
        else None
    )
    if settings.scheduler_address:
        check_exposure(
            settings.scheduler_address, security, allow_insecure=settings.allow_insecure_remote
        )
        client_kwargs = {"security": security} if security is not None else {}
        return DaskTaskRunner(address=settings.scheduler_address, client_kwargs=client_kwargs)
    return DaskTaskRunner(
        cluster_class=tagged_local_cluster,
        cluster_kwargs={"hardware": settings.hardware, "security": security},
        client_kwargs={"security": security} if security is not None else {},
    )
