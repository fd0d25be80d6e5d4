"""The CPU backend: always present; details from the OS and torch."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import psutil

from hardware.base import Backend, BackendStatus

# Flags that decide which kernels torch and OpenVINO pick (bf16/int8 speed in particular).
_INTERESTING_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_bf16",
    "avx512_vnni",
    "amx_bf16",
    "amx_int8",
    "asimd",
)


def cpu_model_name() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where present, else `platform.processor()`."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The subset of ISA flags that matter for inference kernels."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return []
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.lower().startswith(("flags", "features")):
            present = set(line.split(":", 1)[1].split())
            return [f for f in _INTERESTING_FLAGS if f in present]
    return []


class CpuBackend(Backend):
    name = "cpu"
    torch_device = "cpu"
    init_method = "init_cpu"

    def probe(self) -> BackendStatus:
        import torch

        details = {
            "device_name": cpu_model_name(),
            "architecture": platform.machine(),
            "logical_cores": os.cpu_count(),
            "physical_cores": psutil.cpu_count(logical=False),
            "usable_cores": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else None,
            "memory_bytes": psutil.virtual_memory().total,
            "isa_flags": cpu_flags(),
            "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__,
        }
        return BackendStatus(self.name, True, "", details)
