"""Qualcomm AI Engine (QNN): the SDK (`QNN_SDK_ROOT`) or ONNX Runtime's QNN execution provider."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from hardware.base import Backend, BackendStatus


class QnnBackend(Backend):
    name = "qnn"
    torch_device = "cpu"
    init_method = "init_qualcomm"

    def probe(self) -> BackendStatus:
        details: dict[str, object] = {}
        sdk_root = os.environ.get("QNN_SDK_ROOT")
        if sdk_root and Path(sdk_root).is_dir():
            details["sdk_root"] = sdk_root
            details["backend_libs"] = sorted(
                p.name for p in Path(sdk_root).glob("lib/*/libQnn*.so")
            )
        if importlib.util.find_spec("onnxruntime") is not None:
            import onnxruntime

            if "QNNExecutionProvider" in onnxruntime.get_available_providers():
                details["onnxruntime_qnn"] = onnxruntime.__version__
        if not details:
            return BackendStatus(
                self.name, False, "no QNN SDK (QNN_SDK_ROOT unset and no onnxruntime-qnn provider)"
            )
        details["device_name"] = "Qualcomm AI Engine"
        return BackendStatus(self.name, True, "", details)
