"""Numeric precisions, which hardware runs which, and how a model is converted to one."""

from __future__ import annotations

from typing import Any

from hardware.names import UnknownNameError
from skillsets.runtime.errors import UnsupportedPrecisionError

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "int8")

#: Precisions each backend can run, and why the others are refused.
SUPPORTED: dict[str, tuple[str, ...]] = {
    "cpu": ("fp32", "bf16", "int8"),
    "cuda": ("fp32", "bf16", "fp16"),
    "rocm": ("fp32", "bf16", "fp16"),
    "mps": ("fp32", "fp16"),
    "openvino": ("fp32",),
    "qnn": ("fp32",),
}
_WHY_NOT = {
    ("cpu", "fp16"): "CPU kernels for fp16 matmuls are missing or slower than fp32; use bf16",
    ("cuda", "int8"): "dynamic int8 quantization runs on CPU only",
    ("rocm", "int8"): "dynamic int8 quantization runs on CPU only",
    ("mps", "bf16"): "MPS has no bf16 support in this torch",
    ("mps", "int8"): "dynamic int8 quantization runs on CPU only",
}


def check_precision(precision: str, hardware: str) -> None:
    """Raise unless `hardware` can run `precision`.

    Raises:
        UnknownNameError: an unknown precision.
        UnsupportedPrecisionError: the combination cannot run; the message says why.
    """
    if precision not in PRECISIONS:
        raise UnknownNameError("precision", precision, PRECISIONS)
    if precision not in SUPPORTED.get(hardware, ("fp32",)):
        why = _WHY_NOT.get((hardware, precision),
                           f"{hardware} runs {', '.join(SUPPORTED.get(hardware, ('fp32',)))} here")
        raise UnsupportedPrecisionError(f"{precision} is not supported on {hardware}: {why}")


def torch_dtype(precision: str) -> Any:
    """The torch dtype of floating tensors at `precision` (int8 keeps fp32 activations)."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def apply_precision(model: Any, precision: str) -> Any:
    """The model converted to `precision` (int8: dynamic quantization of every nn.Linear)."""
    import torch

    if precision in ("bf16", "fp16"):
        return model.to(torch_dtype(precision))
    if precision == "int8":
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model
