"""Numeric precisions, which hardware runs which, how a model is converted to one, and what ran.

A precision is always set, never inherited from a backend's default: torch fp32 matmuls are
pinned to IEEE fp32 (no TF32 or bf16 shortcuts), and OpenVINO gets an explicit
`INFERENCE_PRECISION_HINT` (its CPU plugin otherwise runs bf16 on CPUs with AVX512-BF16 or AMX).
What actually executed is read back from the backend and stored as `execution_precision`
(`f32`, `bf16`, `f16`, `int8`), so a number never carries a label it did not earn.
"""

from __future__ import annotations

from typing import Any

from hardware.names import UnknownNameError
from skillsets.runtime.errors import UnsupportedPrecisionError

#: `int8-wo`/`int4-wo`: weight-only quantization, fp32 activations (`skillsets.runtime.quantize`).
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "int8", "int8-wo", "int4-wo")

#: Precisions each backend can run, and why the others are refused.
SUPPORTED: dict[str, tuple[str, ...]] = {
    "cpu": ("fp32", "bf16", "int8", "int8-wo", "int4-wo"),
    "cuda": ("fp32", "bf16", "fp16"),
    "rocm": ("fp32", "bf16", "fp16"),
    "mps": ("fp32", "fp16"),
    # bf16/fp16 only where the device lists the capability: see `openvino_precision_problem`.
    "openvino": ("fp32", "bf16", "fp16", "int8-wo", "int4-wo"),
    "qnn": ("fp32",),
}
_WHY_NOT = {
    ("cpu", "fp16"): "CPU kernels for fp16 matmuls are missing or slower than fp32; use bf16",
    ("cuda", "int8"): "dynamic int8 quantization runs on CPU only",
    ("rocm", "int8"): "dynamic int8 quantization runs on CPU only",
    ("mps", "bf16"): "MPS has no bf16 support in this torch",
    ("mps", "int8"): "dynamic int8 quantization runs on CPU only",
    **{
        (hw, p): "weight-only quantization runs on cpu (torchao int8, GPTQ int4) and openvino "
                 "(NNCF) only"
        for hw in ("cuda", "rocm", "mps", "qnn") for p in ("int8-wo", "int4-wo")
    },
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


#: OpenVINO's `INFERENCE_PRECISION_HINT` for each precision, and the entry the device's
#: `OPTIMIZATION_CAPABILITIES` must list for it to be honoured.
OPENVINO_HINTS: dict[str, tuple[str, str]] = {
    "fp32": ("f32", "FP32"),
    "bf16": ("bf16", "BF16"),
    "fp16": ("f16", "FP16"),
    # Weight-only: NNCF compresses the weights, activations stay f32.
    "int8-wo": ("f32", "FP32"),
    "int4-wo": ("f32", "FP32"),
}


def openvino_precision_problem(precision: str, capabilities: list[str] | tuple[str, ...]) -> str:
    """Why an OpenVINO device with `capabilities` cannot run `precision`; empty when it can.

    OpenVINO does not refuse a hint it cannot honour: the CPU plugin of a bf16-capable CPU
    compiles an `f16` request as bf16. So the capability is checked first, and the compiled
    model's hint is read back after (`OpenVinoExecutor`).
    """
    if precision not in OPENVINO_HINTS:
        return f"openvino has no {precision} execution mode; it runs {', '.join(OPENVINO_HINTS)}"
    hint, capability = OPENVINO_HINTS[precision]
    if capability in capabilities:
        return ""
    return (
        f"{precision} is not supported on openvino here: the CPU device lists "
        f"{', '.join(capabilities) or 'no capabilities'}, not {capability}, so a {hint} request "
        "would run at another precision"
    )


def torch_execution_precision(model: Any) -> str:
    """What a torch model's matmuls execute in, read back from the model and torch's settings.

    Returns:
        `int8` for dynamically quantized linears, `int8-wo` for torchao weight-only ones,
        `int4-wo:g32+gptq` for `skillsets.runtime.int4` ones, else
        the floating parameters' precision (`f32`, `bf16`, `f16`), where fp32 matmuls allowed
        to run as TF32 or bf16 (torch's `float32_matmul_precision` `high`/`medium`) or an active
        autocast say so.
    """
    import torch

    from skillsets.runtime.quantize import torch_weight_label

    if any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules()):
        return "int8"
    label = torch_weight_label(model)
    if label is not None:
        return label
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    if torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
    names = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}
    name = names.get(dtype, str(dtype).removeprefix("torch."))
    if name == "f32":
        name = {"high": "tf32", "medium": "bf16"}.get(torch.get_float32_matmul_precision(), "f32")
    return name


def pin_fp32_matmuls() -> None:
    """Make torch run fp32 matmuls in IEEE fp32 in this process.

    torch may otherwise be set (by a library, a user, or a default of a future release) to run
    them as TF32 or bf16 under an fp32 label; `torch_execution_precision` reads the setting back.
    """
    import torch

    torch.set_float32_matmul_precision("highest")


def torch_dtype(precision: str) -> Any:
    """The torch dtype of floating tensors at `precision` (int8 keeps fp32 activations)."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def apply_precision(model: Any, precision: str) -> Any:
    """The model converted to `precision` (int8: dynamic quantization of every nn.Linear;
    int8-wo: torchao weight-only, see `skillsets.runtime.quantize.quantize_torch`).

    Raises:
        ValueError: `int4-wo`, whose GPTQ needs calibration inputs run through the skill:
            `load_skill` quantizes it (`skillsets.runtime.int4.quantize_int4`).
    """
    import torch

    from skillsets.runtime.quantize import quantize_torch

    if precision == "int4-wo":
        raise ValueError("int4-wo calibrates on inputs the skill prepares: load_skill "
                         "quantizes it with skillsets.runtime.int4.quantize_int4")
    if precision == "int8-wo":
        return quantize_torch(model, precision)

    if precision in ("bf16", "fp16"):
        return model.to(torch_dtype(precision))
    if precision == "int8":
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model
