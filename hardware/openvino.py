"""Intel OpenVINO: `openvino.Core().available_devices`, when the openvino package is installed."""

from __future__ import annotations

import importlib.util

from hardware.base import Backend, BackendStatus


class OpenVinoBackend(Backend):
    name = "openvino"
    # Models are converted from a CPU-resident torch model with `openvino.convert_model`.
    torch_device = "cpu"
    init_method = "init_openvino"

    def probe(self) -> BackendStatus:
        if importlib.util.find_spec("openvino") is None:
            return BackendStatus(self.name, False, "no openvino package (pip install openvino)")
        import openvino

        core = openvino.Core()
        devices = list(core.available_devices)
        if not devices:
            return BackendStatus(self.name, False, "openvino is installed but reports no device")
        names = {dev: str(core.get_property(dev, "FULL_DEVICE_NAME")) for dev in devices}
        details = {
            "device_name": names[devices[0]],
            # What the CPU device can execute (FP32, BF16, FP16, INT8...), and the inference
            # precision it would pick when none is set: skillsets always set one explicitly.
            "capabilities": [str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")],
            "default_inference_precision": core.get_property(
                "CPU", "INFERENCE_PRECISION_HINT"
            ).get_type_name(),
            "count": len(devices),
            "devices": [{"id": dev, "name": names[dev]} for dev in devices],
            "openvino_version": openvino.get_version(),
        }
        return BackendStatus(self.name, True, "", details)
