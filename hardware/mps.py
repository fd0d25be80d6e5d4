"""Apple Metal Performance Shaders through torch."""

from __future__ import annotations

import platform

from hardware.base import Backend, BackendStatus


class MpsBackend(Backend):
    name = "mps"
    torch_device = "mps"
    init_method = "init_apple"

    def probe(self) -> BackendStatus:
        if platform.system() != "Darwin":
            return BackendStatus(self.name, False, f"not macOS (this is {platform.system()})")
        import torch

        if not torch.backends.mps.is_built():
            return BackendStatus(self.name, False, "torch built without MPS")
        if not torch.backends.mps.is_available():
            return BackendStatus(
                self.name, False, "MPS built but not available (macOS < 12.3 or no Metal GPU)"
            )
        details = {"device_name": f"Apple {platform.machine()}", "macos": platform.mac_ver()[0]}
        return BackendStatus(self.name, True, "", details)
