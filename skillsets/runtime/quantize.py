"""Weight-only quantization and the bytes a model's weights take in memory as it runs.

Weight-only precisions keep activations in fp32 and store the matmul weights in fewer bits:

* OpenVINO: NNCF's `compress_weights` on the converted `ov.Model`, before compile: `int8-wo` is
  `INT8_ASYM` per output channel; `int4-wo` is `INT4_ASYM` in groups of `INT4_GROUP_SIZE` input
  channels with `ratio=1.0` (every layer NNCF may put in 4 bits; it keeps the embeddings in int8,
  its default backup), and with calibration inputs NNCF's GPTQ picks the 4-bit values that keep
  each layer's outputs on them. Measured on all-MiniLM-L6-v2 (`benchmarks/bench_low_precision.py`):
  data-free INT4_SYM g128 reaches a cosine of 0.947 to fp32, g32 0.974, g32 with scale estimation
  0.979 on unseen text; GPTQ at g32 0.98-0.99 with the matmul weights at 15% of their fp32 bytes.
  The calibration inputs are never the example inputs quality is measured on
  (`skillsets.runtime.inputs.calibration_inputs`): on its own inputs GPTQ scores 0.999 and on
  others 0.98, so an in-sample figure would flatter it.
* torch cpu: `int8-wo` is torchao's `quantize_(model, Int8WeightOnlyConfig())` (per-channel int8
  weights of every `nn.Linear`). `int4-wo` is `skillsets.runtime.int4`: GPTQ, written here, on
  the same 8 calibration sentences as OpenVINO's, into 4-bit codes with f16 scales and uint8
  zero points per group of 32 (MiniLM: 15.0% of the linear bytes, cosine 0.986). What the
  libraries reached first, and why none is used for int4: torchao 0.18's `Int4WeightOnlyConfig`
  has no fp32 CPU format and its GPTQ (`torchao.prototype.gptq`) targets that format (mslk,
  CUDA); `IntxWeightOnlyConfig(int4)` stores one int8 per value (29% of the fp32 bytes on a
  384x1536 linear); the prototype `PrototypeInt4WeightOnlyConfig` (`Int4OpaqueTensor`, aten's
  `_weight_int4pack_mm_for_cpu`) packs 4 bits for fp32 CPU but keeps fp32 scales and zeros:
  18.8% of the bytes at group 32, 15.6% at group 64, where data-free it keeps MiniLM at a cosine
  of 0.972 (g32) and 0.964 (g64, HQQ parameters; 0.960 tinygemm's). NNCF 3.4's
  `compress_weights` on the torch module stores packed 4-bit weights (14.6% of the linear bytes
  at INT4_ASYM g32) but refuses GPTQ (OpenVINO-only); with scale estimation it reaches 0.977,
  and its model runs under NNCF's function-hook mode, which sees every op: a batch-1 call took
  102 ms against fp32's 8.7 ms. optimum-quanto runs int4 on CPU but fails under
  `torch.inference_mode` ("Cannot set version_counter for inference tensor"), which every
  runtime call uses, and misses the bar even without it: its qint4 keeps fp32 scales and
  shifts, HQQ at group 64 reaches 0.966 (15.6%), at group 32 0.973 (18.8%).

Weight memory is counted from what the model holds, not from its parameter count: torch sums the
storage bytes of every parameter and buffer (shared storage once; torchao's quantized weights and
torch's packed int8 linears by their inner tensors), OpenVINO sums the bytes of the model's
constants after compression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from skillsets.runtime.errors import UnsupportedPrecisionError

#: Input channels per int4 scale and zero point (NNCF `group_size`). 128, the common choice for
#: 4-bit LLM weights, costs a 384-wide encoder (MiniLM) too much quality; 32 keeps the matmul
#: weights at 15% of their fp32 bytes (4 bits + an f16 scale and a 4-bit zero point per 32).
INT4_GROUP_SIZE = 32
#: Calibration samples for GPTQ: one model call each.
CALIBRATION_SAMPLES = 8
#: What each weight-only precision is reported as executing.
WEIGHT_ONLY_LABELS: dict[str, str] = {
    "int8-wo": "int8-wo",
    "int4-wo": f"int4-wo:g{INT4_GROUP_SIZE}",
}
#: OpenVINO element types NNCF stores compressed weights in.
_COMPRESSED_TYPES = frozenset({"u8", "i8", "u4", "i4"})
#: Ops between a MatMul and its weight constant after NNCF (decompression: convert, subtract the
#: zero point, multiply by the scale, reshape groups back) or after conversion (transpose).
_DECOMPRESSION_OPS = frozenset({"Convert", "Subtract", "Multiply", "Reshape", "Transpose"})


def openvino_weight_label(precision: str, calibrated: bool) -> str:
    """What a weight-only `precision` on OpenVINO is reported as executing: `int4-wo:g32+gptq`
    when GPTQ calibrated the int4 weights, else `WEIGHT_ONLY_LABELS`."""
    label = WEIGHT_ONLY_LABELS[precision]
    return f"{label}+gptq" if calibrated and precision == "int4-wo" else label


def compress_openvino(
    ov_model: Any, precision: str, calibration: Sequence[tuple[Any, ...]] = ()
) -> Any:
    """`ov_model` with its weights compressed by NNCF for a weight-only `precision`.

    Args:
        ov_model: The converted model.
        precision: `int8-wo` or `int4-wo`.
        calibration: Model calls (the inputs in the model's input order, numpy arrays) that
            int4-wo's GPTQ calibrates on; none: data-free int4 (lower quality, see the module
            docstring). Ignored at int8-wo, whose per-channel rounding needs no data.

    Raises:
        UnsupportedPrecisionError: NNCF cannot compress this model at `precision` (its reason),
            or compressed no weight at all (the precision would not be what ran).
    """
    import nncf

    if precision == "int8-wo":
        options: dict[str, Any] = {"mode": nncf.CompressWeightsMode.INT8_ASYM}
    elif precision == "int4-wo":
        options = {"mode": nncf.CompressWeightsMode.INT4_ASYM, "group_size": INT4_GROUP_SIZE,
                   "ratio": 1.0}
        if calibration:
            options |= {"dataset": nncf.Dataset(list(calibration)), "gptq": True,
                        "subset_size": len(calibration)}
    else:
        raise ValueError(
            f"{precision} is not a weight-only precision: {', '.join(WEIGHT_ONLY_LABELS)}")
    try:
        compressed = nncf.compress_weights(ov_model, **options)
    except (nncf.ValidationError, nncf.UnsupportedModelError, ValueError, RuntimeError) as exc:
        raise UnsupportedPrecisionError(
            f"{precision} is not supported on openvino for this model: NNCF compress_weights "
            f"failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not any(_is_compressed(op) for op in compressed.get_ordered_ops()):
        raise UnsupportedPrecisionError(
            f"{precision} is not supported on openvino for this model: NNCF compressed no weight "
            "(no layer fits its rules), so it would run at fp32"
        )
    return compressed


def _is_compressed(op: Any) -> bool:
    return op.get_type_name() == "Constant" and (
        op.get_output_element_type(0).get_type_name() in _COMPRESSED_TYPES)


def openvino_weight_bytes(ov_model: Any) -> tuple[int, int]:
    """(all constants' bytes, the bytes of the constants feeding MatMul weights) of `ov_model`.

    The second is what weight-only quantization targets: each MatMul's weight input followed up
    through its decompression ops (`_DECOMPRESSION_OPS`) to the constants (the weight, and after
    NNCF its scale and zero point).
    """
    total = sum(op.get_byte_size() for op in ov_model.get_ordered_ops()
                if op.get_type_name() == "Constant")
    seen: set[str] = set()
    matmul = 0
    for op in ov_model.get_ordered_ops():
        if op.get_type_name() != "MatMul":
            continue
        stack = [op.input_value(1).get_node()]
        while stack:
            node = stack.pop()
            if node.get_friendly_name() in seen:
                continue
            seen.add(node.get_friendly_name())
            kind = node.get_type_name()
            if kind == "Constant":
                matmul += node.get_byte_size()
            elif kind in _DECOMPRESSION_OPS:
                stack.extend(value.get_node() for value in node.input_values())
    return total, matmul


def quantize_torch(model: Any, precision: str) -> Any:
    """`model` with every `nn.Linear` weight quantized by torchao for a weight-only precision.

    Raises:
        UnsupportedPrecisionError: the model keeps matmul weights in layers torchao does not
            quantize (GPT-2's `Conv1D`), which would run at fp32 under an int8 label.
        ValueError: `precision` is not `int8-wo`, the one torchao runs here.
    """
    if precision != "int8-wo":
        # `precision.apply_precision` refuses the others first, with their reasons.
        raise ValueError(f"{precision} is not a weight-only precision torchao runs here")
    from torchao.quantization import Int8WeightOnlyConfig, quantize_
    from transformers.pytorch_utils import Conv1D

    conv1d = sum(isinstance(module, Conv1D) for module in model.modules())
    if conv1d:
        raise UnsupportedPrecisionError(
            f"{precision} is not supported on torch cpu for {type(model).__name__}: torchao "
            f"quantizes nn.Linear only, and its {conv1d} Conv1D matmul layers would stay fp32 "
            "(run int8-wo on openvino, where NNCF compresses them)"
        )

    quantize_(model, Int8WeightOnlyConfig())
    return model


def torch_weight_label(model: Any) -> str | None:
    """`int8-wo` when torchao quantized the model's linear weights, `int4-wo:g32+gptq` when
    `skillsets.runtime.int4` did, else None."""
    import sys

    if "skillsets.runtime.int4" in sys.modules:
        from skillsets.runtime.int4 import LABEL, Int4Linear

        if any(isinstance(module, Int4Linear) for module in model.modules()):
            return LABEL
    # A model can only hold torchao tensors once torchao is imported; importing it just to look
    # would cost every fp32 load seconds of import.
    if "torchao" not in sys.modules:
        return None
    from torchao.quantization import Int8Tensor

    for module in model.modules():
        if isinstance(getattr(module, "weight", None), Int8Tensor):
            return WEIGHT_ONLY_LABELS["int8-wo"]
    return None


def torch_weight_bytes(model: Any) -> tuple[int, int]:
    """(every parameter's and buffer's storage bytes, the bytes of linear weights) of a
    torch model as it is held, shared storage counted once.

    Quantized weights are counted by the tensors that hold them: a torchao weight by its inner
    tensors (`__tensor_flatten__`: int8 data, scales, zero points), a torch dynamic-int8 linear by
    its int8 weight and fp32 bias as unpacked (fbgemm's packed copy is opaque to Python; it holds
    the same int8 values plus small per-column offsets).
    """
    import torch

    # Storage by address; the storages are kept alive while counting because a dynamic-int8
    # weight is unpacked into a temporary, whose address the next temporary could reuse.
    seen: dict[int, Any] = {}

    def size(value: Any) -> int:
        if isinstance(value, tuple | list):
            return sum(size(v) for v in value)
        if not isinstance(value, torch.Tensor):
            return 0
        if type(value) not in (torch.Tensor, torch.nn.Parameter) and hasattr(
                value, "__tensor_flatten__"):
            names, _ = value.__tensor_flatten__()
            return sum(size(getattr(value, name)) for name in names)
        storage = value.untyped_storage()
        if storage.data_ptr() in seen:
            return 0
        seen[storage.data_ptr()] = storage
        return storage.nbytes()

    from transformers.pytorch_utils import Conv1D

    from skillsets.runtime.int4 import Int4Linear

    linear = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear | Conv1D):  # Conv1D: GPT-2's transposed linear
            linear += size(module.weight)
        elif isinstance(module, Int4Linear):  # codes, scales, zero points and input order
            linear += module.nbytes()
        elif isinstance(module, torch.ao.nn.quantized.Linear):  # dynamic int8 subclasses it
            linear += size(module.weight())
    seen.clear()
    total = sum(size(value) for value in model.state_dict(keep_vars=True).values())
    return total, linear
