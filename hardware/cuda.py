"""NVIDIA CUDA through torch. A ROCm build of torch also answers `torch.cuda`; that is `rocm`."""

from __future__ import annotations

from typing import Any

from hardware.base import Backend, BackendStatus


def torch_gpu_devices() -> list[dict[str, Any]]:
    """Name, memory and compute capability of each device torch.cuda sees."""
    import torch

    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            {
                "index": index,
                "name": props.name,
                "memory_bytes": props.total_memory,
                "compute_capability": f"{props.major}.{props.minor}",
                "multiprocessors": props.multi_processor_count,
            }
        )
    return devices


class CudaBackend(Backend):
    name = "cuda"
    torch_device = "cuda"
    init_method = "init_cuda"

    def probe(self) -> BackendStatus:
        import torch

        if torch.version.hip is not None:
            return BackendStatus(
                self.name, False, "torch is a ROCm (HIP) build; see the rocm backend"
            )
        if torch.version.cuda is None:
            return BackendStatus(self.name, False, "torch built without CUDA")
        if not torch.cuda.is_available():
            return BackendStatus(
                self.name,
                False,
                f"torch has CUDA {torch.version.cuda} but no CUDA device or driver is visible",
            )
        devices = torch_gpu_devices()
        details = {
            "device_name": devices[0]["name"],
            "count": len(devices),
            "devices": devices,
            "cuda_runtime": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version(),
            "driver_version": _nvidia_driver_version(),
        }
        return BackendStatus(self.name, True, "", details)


def _nvidia_driver_version() -> str | None:
    """The kernel driver's version from procfs; torch does not expose it."""
    from pathlib import Path

    version_file = Path("/proc/driver/nvidia/version")
    if not version_file.exists():
        return None
    first = version_file.read_text(errors="replace").splitlines()[0]
    parts = [p for p in first.split() if p[:1].isdigit() and "." in p]
    return parts[0] if parts else first.strip()
