"""Dask transport security: mutual TLS from settings, and no open scheduler by accident."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from urllib.parse import urlsplit

from distributed.security import Security


class InsecureClusterError(RuntimeError):
    """A scheduler beyond loopback was asked for without TLS, and that was not allowed."""


def tls_security(ca_file: Path, cert_file: Path, key_file: Path) -> Security:
    """Mutual-TLS `Security` for every role (scheduler, worker, client) from one CA and key pair.

    `require_encryption=True` makes Dask refuse plain `tcp://` connections, and a peer must
    present a certificate signed by the CA: a client without it is refused at the handshake.
    """
    ca, cert, key = str(ca_file), str(cert_file), str(key_file)
    return Security(
        require_encryption=True,
        tls_ca_file=ca,
        tls_client_cert=cert,
        tls_client_key=key,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
    )


def is_loopback(host_or_address: str) -> bool:
    """Whether a host name or address (`tcp://h:p`, `h:p`, `h`) resolves only to loopback."""
    address = host_or_address if "://" in host_or_address else f"tcp://{host_or_address}"
    try:
        host = urlsplit(address).hostname or ""
    except ValueError:
        host = host_or_address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except socket.gaierror:
            return False
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_exposure(address: str, security: Security | None, *, allow_insecure: bool) -> None:
    """Refuse a non-loopback scheduler address without TLS unless explicitly allowed.

    Raises:
        InsecureClusterError: with what to set to fix it.
    """
    if is_loopback(address) or allow_insecure:
        return
    if security is not None and security.require_encryption and address.startswith("tls://"):
        return
    raise InsecureClusterError(
        f"Dask scheduler {address!r} is reachable beyond this machine without TLS. Set "
        "SKILLSETS_TLS_CA_FILE, SKILLSETS_TLS_CERT_FILE and SKILLSETS_TLS_KEY_FILE and use a "
        "tls:// address, or set SKILLSETS_ALLOW_INSECURE_REMOTE=true if the network is trusted."
    )
