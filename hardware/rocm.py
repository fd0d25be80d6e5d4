"""AMD ROCm through a HIP build of torch (`torch.version.hip`); devices appear under torch.cuda."""

from __future__ import annotations

from hardware.base import Backend, BackendStatus
from hardware.cuda import torch_gpu_devices


class RocmBackend(Backend):
    name = "rocm"
    # A HIP build of torch addresses AMD GPUs as "cuda" devices.
    torch_device = "cuda"
    init_method = "init_rocm"

    def probe(self) -> BackendStatus:
        import torch

        if torch.version.hip is None:
            return BackendStatus(
                self.name, False, "torch built without ROCm (torch.version.hip is None)"
            )
        if not torch.cuda.is_available():
            return BackendStatus(
                self.name, False, f"torch has HIP {torch.version.hip} but no AMD GPU is visible"
            )
        devices = torch_gpu_devices()
        details = {
            "device_name": devices[0]["name"],
            "count": len(devices),
            "devices": devices,
            "hip_runtime": torch.version.hip,
        }
        return BackendStatus(self.name, True, "", details)
