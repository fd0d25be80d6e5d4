"""The precision axis of the benchmarks: which (hardware, precision) pairs run, and why (not).

Which backend can run which precision is the runtime's table (`skillsets.runtime.precision`);
this module asks it rather than keeping a copy, and adds what a reader of the numbers needs to
know: on a CPU without AVX512-BF16/AMX, bf16 is emulated and slower than fp32, which is a fact of
the machine, not a regression of the model. A pair the table allows can still fail for one model
(no bf16 kernel for one of its ops); the runtime raises `UnsupportedPrecisionError` then, and the
benchmark records that reason the same way: a `supported` = 0 row, never a silent gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.names import UnknownNameError
from skillsets.runtime.errors import UnsupportedPrecisionError
from skillsets.runtime.precision import PRECISIONS, check_precision, openvino_precision_problem
from skillsets.runtime.quantize import INT4_GROUP_SIZE

__all__ = ["PRECISIONS", "PrecisionSupport", "parse_precisions", "precision_support"]

_NOTES: dict[str, str] = {
    "fp32": "reference precision",
    "bf16": "bfloat16 weights and activations",
    "fp16": "float16 weights and activations",
    "openvino-fp32": "OpenVINO INFERENCE_PRECISION_HINT f32",
    "openvino-bf16": "OpenVINO INFERENCE_PRECISION_HINT bf16 (fp32 weights converted on compile)",
    "openvino-fp16": "OpenVINO INFERENCE_PRECISION_HINT f16 (fp32 weights converted on compile)",
    "int8": "torch dynamic quantization of nn.Linear (int8 weights, activations per call)",
    "int8-wo": "torchao Int8WeightOnlyConfig: per-channel int8 nn.Linear weights, fp32 activations",
    "int4-wo": (
        f"GPTQ (skillsets.runtime.int4) into 4-bit codes, group_size {INT4_GROUP_SIZE}, f16 scales "
        "and uint8 zero points, activation order, calibrated on samples other than the measured "
        "inputs; embeddings and tied heads fp32; weights dequantized to fp32 per call"
    ),
    "openvino-int8-wo": "NNCF compress_weights INT8_ASYM (per channel), f32 activations",
    "openvino-int4-wo": (
        f"NNCF compress_weights INT4_ASYM, group_size {INT4_GROUP_SIZE}, ratio 1.0 (embeddings "
        "int8), GPTQ calibrated on samples other than the measured inputs (data-free for "
        "encoder-decoders), f32 activations"
    ),
}


@dataclass(frozen=True)
class PrecisionSupport:
    """Whether a precision is benchmarked on a backend, and why (not)."""

    hardware: str
    precision: str
    supported: bool
    reason: str


def _cpu_bf16_note() -> str:
    from hardware.registry import probe

    flags = set(probe("cpu").details.get("isa_flags", []))
    if flags & {"avx512_bf16", "amx_bf16"}:
        return "native bf16 instructions on this CPU"
    return "this CPU has no AVX512-BF16/AMX: bf16 is emulated and expected to be slower than fp32"


def precision_support(hardware: str, precision: str) -> PrecisionSupport:
    """Whether `precision` runs on `hardware`, with the reason either way.

    Raises:
        UnknownNameError: for a precision outside `PRECISIONS`.
    """
    try:
        check_precision(precision, hardware)
    except UnsupportedPrecisionError as exc:
        return PrecisionSupport(hardware, precision, False, str(exc))
    if hardware == "openvino":
        from hardware.registry import probe

        status = probe("openvino")
        if status.available:
            problem = openvino_precision_problem(precision, status.details.get("capabilities", []))
            if problem:
                return PrecisionSupport(hardware, precision, False, problem)
        return PrecisionSupport(hardware, precision, True, _NOTES[f"openvino-{precision}"])
    note = _NOTES[precision]
    if (hardware, precision) == ("cpu", "bf16"):
        note = f"{note}; {_cpu_bf16_note()}"
    return PrecisionSupport(hardware, precision, True, note)


def parse_precisions(text: str) -> list[str]:
    """`"fp32,bf16"` -> `["fp32", "bf16"]`; `"all"` -> every precision. Unknown names raise."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    if names == ["all"]:
        return list(PRECISIONS)
    if not names:
        raise ValueError(f"no precision given; choose from {', '.join(PRECISIONS)} or 'all'")
    for name in names:
        if name not in PRECISIONS:
            raise UnknownNameError("precision", name, PRECISIONS)
    return names
