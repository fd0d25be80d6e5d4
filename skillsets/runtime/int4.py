"""4-bit weight-only linears for torch cpu, with GPTQ choosing the 4-bit values (`int4-wo`).

Why by hand: no library installed beside the pinned torch runs 4-bit weights on an fp32 CPU
at MiniLM's bar (cosine 0.98 to fp32 at 16% of the linear bytes; what each reached is in
`skillsets.runtime.quantize`'s docstring). torchao's GPTQ (`torchao.prototype.gptq`) targets
`Int4Tensor`, whose kernels need mslk (CUDA); NNCF's GPTQ runs on OpenVINO models only;
optimum-quanto and NNCF's torch backend are data-free. GPTQ itself is a short, published
algorithm (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
Pre-trained Transformers", Algorithm 1), written here as the paper states it, with its reference
implementation's choices: lazy batch updates in blocks of 128 columns and activation order
(the input channels with the largest Hessian diagonal are quantized first). The damping is 10% of
the Hessian's mean diagonal, NNCF's default: with the few calibration tokens used here (8
sentences, ~115 tokens for 384 to 1536 inputs) the Hessian is far from full rank. Measured on
MiniLM (pooled-output cosine to fp32 on the example inputs at batch 1, 2, 4, 8; lowest of the
four): damping 1% 0.978, 10% 0.982; with activation order 10% 0.986 (5% 0.983, 20% 0.985).

Storage, per linear of `out x in` weights at group size `g` (`GROUP_SIZE`): the 4-bit codes
packed two to a byte, an f16 scale and a uint8 zero point per `g` input channels (4 + 24/g bits
a weight), and the activation order as one int32 per input: 15.0% of fp32's bytes on MiniLM's
linears at g = 32. Groups are contiguous in activation order, so a call gathers its input
channels into that order, dequantizes the weight to fp32 and runs `F.linear`: the memory held is
the 4-bit form, the compute is fp32's plus the unpacking, so int4-wo is slower than fp32 here;
the benchmark records by how much.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from skillsets.runtime.errors import UnsupportedPrecisionError

#: Input channels per scale and zero point; the same as OpenVINO's NNCF group
#: (`quantize.INT4_GROUP_SIZE`), so the two backends' int4-wo rows compare like for like.
GROUP_SIZE = 32
#: What a model with these layers is reported as executing.
LABEL = f"int4-wo:g{GROUP_SIZE}+gptq"

#: GPTQ's damping: this share of the Hessian's mean diagonal is added to its diagonal.
DAMPING = 0.1
#: Columns GPTQ updates at a time before it propagates their error to the rest (the paper's B).
BLOCK = 128
_LEVELS = 15  # 4 bits: codes 0..15
_F16_STEP = 2.0**-24  # the smallest positive f16 (subnormal)


class Int4Linear(nn.Module):
    """A linear layer whose weight is held as 4-bit codes, f16 group scales and uint8 zero points,
    its input channels in GPTQ's activation order (`order`).

    `weight()` is the dequantized fp32 weight over the reordered inputs (`out x in`); the forward
    is `F.linear` of the reordered input on it.
    """

    def __init__(self, codes: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor,
                 order: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        out_features, in_features = codes.shape
        self.in_features, self.out_features = in_features, out_features
        self.group_size = in_features // scales.shape[1]
        self.register_buffer("packed", (codes[:, 0::2] | (codes[:, 1::2] << 4)).contiguous())
        self.register_buffer("scales", scales.to(torch.float16).contiguous())
        self.register_buffer("zeros", zeros.to(torch.uint8).contiguous())
        self.register_buffer("order", order.to(torch.int32).contiguous())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(),
                                                           requires_grad=False)

    def weight(self) -> torch.Tensor:
        """The fp32 weight the codes stand for: `scale * (code - zero)` per group.

        The arithmetic runs in place on the fp32 result. On MiniLM's 36 linears (a batch-1
        call, 7 interleaved rounds) that was 37-40 ms against 43 ms out of place, at 1 and 2
        threads, with the same values. Unpacking by a broadcast shift (`packed[..., None] >>
        [0, 4]`) was slower at 2 threads (57 ms)."""
        codes = torch.stack((self.packed & 15, self.packed >> 4), dim=-1)  # low, high
        weight = codes.reshape(self.out_features, -1, self.group_size).to(torch.float32)
        weight.sub_(self.zeros.unsqueeze(-1)).mul_(self.scales.unsqueeze(-1).float())
        return weight.reshape(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x.index_select(-1, self.order), self.weight(), self.bias)

    def nbytes(self) -> int:
        """The bytes of the weight as held (codes, scales, zero points, order), bias excluded."""
        return sum(t.numel() * t.element_size()
                   for t in (self.packed, self.scales, self.zeros, self.order))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"group_size={self.group_size}, bias={self.bias is not None}")


def _grid(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, zero) per row of `weights` (`rows x g`): the asymmetric 4-bit grid over the
    row's range widened to hold 0, as GPTQ's reference quantizer does; the scale is rounded to
    f16 first, so the grid is the one that is stored, and kept at f16's smallest step or more,
    so a range too narrow for f16 cannot round it to 0 (codes would divide by it)."""
    low = weights.min(dim=1).values.clamp(max=0)
    high = weights.max(dim=1).values.clamp(min=0)
    flat = high == low
    low[flat], high[flat] = -1.0, 1.0
    scale = ((high - low) / _LEVELS).clamp(min=_F16_STEP).to(torch.float16).float()
    zero = torch.round(-low / scale).clamp(0, _LEVELS)
    return scale, zero


def gptq(weight: torch.Tensor, hessian: torch.Tensor, group_size: int = GROUP_SIZE
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """GPTQ's 4-bit codes for `weight` (`out x in`) given the Hessian of its layer's inputs
    (`in x in`, the sum of `x xᵀ` over calibration tokens).

    Returns:
        (codes uint8 `out x in`, scales `out x in/g`, zero points `out x in/g`, order `in`):
        column `j` of the codes is input channel `order[j]`; groups are runs of `g` columns.
    """
    # fp32 for the solve, as the reference implementation: on MiniLM float64 gave the same
    # cosines (0.98703 against 0.98706 at batch 1) in 7.2 s against 5.5 s. The Hessian is
    # summed in float64 (`quantize_int4`), over many tokens.
    w = weight.detach().to(torch.float32).clone()
    h = hessian.to(torch.float32).clone()
    rows, columns = w.shape
    dead = torch.diag(h) == 0  # an input that was always 0: its weights cannot matter
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    order = torch.argsort(torch.diag(h), descending=True)
    w, h = w[:, order], h[order][:, order]
    h += DAMPING * torch.mean(torch.diag(h)) * torch.eye(columns, dtype=h.dtype)
    h_inv = torch.linalg.cholesky(
        torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)

    codes = torch.zeros(rows, columns, dtype=torch.uint8)
    scales = torch.zeros(rows, columns // group_size, dtype=torch.float32)
    zeros = torch.zeros_like(scales)
    block = max(group_size, BLOCK // group_size * group_size)
    for start in range(0, columns, block):
        end = min(start + block, columns)
        w1 = w[:, start:end].clone()
        err1 = torch.zeros_like(w1)
        h1 = h_inv[start:end, start:end]
        for i in range(end - start):
            column = start + i
            if column % group_size == 0:
                scale, zero = _grid(w1[:, i:i + group_size])
                scales[:, column // group_size], zeros[:, column // group_size] = scale, zero
            scale, zero = scales[:, column // group_size], zeros[:, column // group_size]
            code = torch.clamp(torch.round(w1[:, i] / scale) + zero, 0, _LEVELS)
            codes[:, column] = code.to(torch.uint8)
            err = (w1[:, i] - scale * (code - zero)) / h1[i, i]
            w1[:, i:] -= err.unsqueeze(1) * h1[i, i:].unsqueeze(0)
            err1[:, i] = err
        w[:, end:] -= err1 @ h_inv[start:end, end:]
    return codes, scales, zeros, order


def _matmul_layers(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, layer) of every `nn.Linear` and GPT-2 `Conv1D` whose input width is a
    multiple of `GROUP_SIZE` (a narrower or odd one stays fp32), except a head tied to an
    embedding: the embedding keeps the fp32 weight, so a 4-bit copy would add bytes, not save
    them."""
    from transformers.pytorch_utils import Conv1D

    embedded = {m.weight.data_ptr() for m in model.modules() if isinstance(m, nn.Embedding)}
    found = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if not isinstance(child, nn.Linear | Conv1D) or child.weight.data_ptr() in embedded:
                continue
            width = child.in_features if isinstance(child, nn.Linear) else child.weight.shape[0]
            if width % GROUP_SIZE == 0:
                found.append((parent, name, child))
    return found


def _out_by_in(layer: nn.Module) -> torch.Tensor:
    """The layer's weight as `out x in` (Conv1D stores it transposed)."""
    return layer.weight if isinstance(layer, nn.Linear) else layer.weight.t()


def quantize_int4(model: nn.Module, calibrate: Callable[[], Iterable[Any]]) -> nn.Module:
    """Replace the model's matmul layers by `Int4Linear`s whose codes GPTQ picked on the
    inputs those layers see while `calibrate()` runs the model on calibration samples.

    Every layer's Hessian is taken from the fp32 model in one pass (not layer by layer on the
    already quantized ones), as torchao's and NNCF's GPTQ do by default.

    Raises:
        UnsupportedPrecisionError: no layer qualifies (`_matmul_layers`), or calibration never
            reached one, so int4-wo would not be what ran.
    """
    layers = _matmul_layers(model)
    if not layers:
        raise UnsupportedPrecisionError(
            f"int4-wo is not supported on torch cpu for {type(model).__name__}: no linear "
            f"layer has an input width divisible by the group size {GROUP_SIZE}")
    hessians: dict[int, torch.Tensor] = {}

    def observe(layer: nn.Module, args: tuple[Any, ...]) -> None:
        x = args[0].detach().reshape(-1, args[0].shape[-1]).to(torch.float64)
        with torch.inference_mode(False):
            x = x.clone()
            total = hessians.get(id(layer))
            hessians[id(layer)] = x.t() @ x if total is None else total + x.t() @ x

    handles = [layer.register_forward_pre_hook(observe) for _, _, layer in layers]
    try:
        for _ in calibrate():
            pass
    finally:
        for handle in handles:
            handle.remove()
    replaced = 0
    for parent, name, layer in layers:
        hessian = hessians.get(id(layer))
        if hessian is None:
            continue  # a layer calibration never ran (another task's head): left at fp32
        codes, scales, zeros, order = gptq(_out_by_in(layer), hessian)
        setattr(parent, name, Int4Linear(codes, scales, zeros, order, layer.bias))
        replaced += 1
    if not replaced:
        raise UnsupportedPrecisionError(
            f"int4-wo is not supported on torch cpu for {type(model).__name__}: the calibration "
            "samples reached none of its linear layers")
    return model
