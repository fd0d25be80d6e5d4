"""The registry of hardware backends, and cached probes over it."""

from __future__ import annotations

import functools

from hardware.base import Backend, BackendStatus
from hardware.cpu import CpuBackend
from hardware.cuda import CudaBackend
from hardware.mps import MpsBackend
from hardware.names import UnknownNameError
from hardware.openvino import OpenVinoBackend
from hardware.qnn import QnnBackend
from hardware.rocm import RocmBackend

_BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        CpuBackend(),
        CudaBackend(),
        RocmBackend(),
        OpenVinoBackend(),
        MpsBackend(),
        QnnBackend(),
    )
}
BACKEND_NAMES: tuple[str, ...] = tuple(_BACKENDS)


def get_backend(name: str) -> Backend:
    """The backend called `name`; raises `UnknownNameError` with close matches otherwise."""
    try:
        return _BACKENDS[name]
    except KeyError:
        raise UnknownNameError("hardware backend", name, BACKEND_NAMES) from None


@functools.cache
def probe(name: str) -> BackendStatus:
    """Probe one backend once per process. A probe that raises is reported, not hidden."""
    backend = get_backend(name)
    try:
        return backend.probe()
    except Exception as exc:  # an SDK that is installed but broken is a fact worth reporting
        return BackendStatus(name, False, f"probe failed: {type(exc).__name__}: {exc}")


def detect_all() -> dict[str, BackendStatus]:
    """Every backend's status, keyed by name, in registry order."""
    return {name: probe(name) for name in BACKEND_NAMES}


def available_backends() -> list[str]:
    """Names of the backends that can run models here."""
    return [name for name, status in detect_all().items() if status.available]


def resolve_hardware(selection: list[str] | tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Split a hardware selection into (present, absent) backend names.

    `auto` (or an empty selection) means every available backend. Unknown names raise.
    """
    if not selection or list(selection) == ["auto"]:
        return available_backends(), []
    for name in selection:
        get_backend(name)
    statuses = detect_all()
    present = [n for n in selection if statuses[n].available]
    absent = [n for n in selection if not statuses[n].available]
    return present, absent
