"""Dask mutual TLS for real: a client without the cluster's certificate is refused."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

import pytest
from distributed import Client, LocalCluster
from distributed.security import Security

from hardware.certificates import make_certificates
from hardware.security import InsecureClusterError, check_exposure, tls_security


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory):
    paths = make_certificates(tmp_path_factory.mktemp("certs"))
    security = tls_security(paths.ca_file, paths.cert_file, paths.key_file)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tls://",
        host="127.0.0.1",
        security=security,
        dashboard_address=None,
    ) as cluster:
        yield cluster, security


def test_client_with_certificate_runs_a_task(tls_cluster) -> None:
    cluster, security = tls_cluster
    assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
    with Client(cluster.scheduler_address, security=security, timeout=10) as client:
        assert client.submit(sum, [1, 2, 3]).result(timeout=10) == 6


def test_client_without_tls_cannot_connect(tls_cluster) -> None:
    cluster, _ = tls_cluster
    with pytest.raises((OSError, TimeoutError, TypeError)):
        Client(cluster.scheduler_address, security=Security(), timeout=3)


def test_scheduler_refuses_a_peer_without_certificate(tls_cluster) -> None:
    """A TLS peer that trusts the CA but presents no certificate is cut off by the scheduler.

    Dask's own client cannot even be built without a certificate, so this speaks TLS directly.
    """
    cluster, security = tls_cluster
    host, port = (
        urlsplit(cluster.scheduler_address).hostname,
        urlsplit(cluster.scheduler_address).port,
    )
    context = ssl.create_default_context(cafile=security.tls_ca_file)
    with socket.create_connection((host, port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with context.wrap_socket(raw, server_hostname=host) as tls:
                # TLS 1.3 reports the missing client certificate on the first read.
                tls.sendall(b"\0" * 8)
                if not tls.recv(1):
                    raise ConnectionError("closed by the scheduler")


def test_client_with_another_ca_is_refused(tls_cluster, tmp_path) -> None:
    cluster, _ = tls_cluster
    other = make_certificates(tmp_path / "other")
    stranger = tls_security(other.ca_file, other.cert_file, other.key_file)
    with pytest.raises((OSError, TimeoutError)):
        Client(cluster.scheduler_address, security=stranger, timeout=3)


def test_plain_tcp_beyond_loopback_is_refused() -> None:
    with pytest.raises(InsecureClusterError, match="SKILLSETS_TLS_CA_FILE"):
        check_exposure("tcp://10.1.2.3:8786", None, allow_insecure=False)
    check_exposure("tcp://10.1.2.3:8786", None, allow_insecure=True)
    check_exposure("tcp://127.0.0.1:8786", None, allow_insecure=False)


def test_tls_address_beyond_loopback_is_allowed(tmp_path) -> None:
    paths = make_certificates(tmp_path)
    security = tls_security(paths.ca_file, paths.cert_file, paths.key_file)
    check_exposure("tls://10.1.2.3:8786", security, allow_insecure=False)
