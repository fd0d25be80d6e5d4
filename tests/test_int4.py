"""GPTQ int4 weight-only linears on torch cpu (`skillsets.runtime.int4`): the stored form
decodes to the values GPTQ chose, GPTQ beats rounding to nearest on the calibration inputs, and
a head tied to the embedding is left alone."""

from __future__ import annotations

import torch

from skillsets.runtime.int4 import GROUP_SIZE, Int4Linear, _grid, gptq, quantize_int4


def _correlated_inputs(n: int, width: int, seed: int) -> torch.Tensor:
    """Inputs whose channels are correlated and unequally scaled, as a layer's activations are:
    where GPTQ's error feedback has something to use."""
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(width, width, generator=g) * torch.logspace(0, 1, width)
    return torch.randn(n, width, generator=g) @ mixing / width


def test_the_packed_codes_decode_to_scale_times_code_minus_zero() -> None:
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 16, (5, 2 * GROUP_SIZE), generator=g, dtype=torch.uint8)
    scales = torch.rand(5, 2, generator=g).to(torch.float16)
    zeros = torch.randint(0, 16, (5, 2), generator=g, dtype=torch.uint8)
    order = torch.randperm(2 * GROUP_SIZE, generator=g)
    layer = Int4Linear(codes, scales, zeros, order, bias=None)
    expected = ((codes.float() - zeros.repeat_interleave(GROUP_SIZE, 1).float())
                * scales.float().repeat_interleave(GROUP_SIZE, 1))
    assert torch.equal(layer.weight(), expected)
    # The forward reads input channel order[j] against column j.
    x = torch.randn(3, 2 * GROUP_SIZE, generator=g)
    assert torch.allclose(layer(x), x[:, order] @ expected.t())
    # 4 bits a weight, an f16 scale and a uint8 zero per group, an int32 per input channel.
    assert layer.nbytes() == 5 * GROUP_SIZE + 5 * 2 * 3 + 2 * GROUP_SIZE * 4


def test_gptq_keeps_the_layer_outputs_closer_than_rounding_to_nearest() -> None:
    width, out = 4 * GROUP_SIZE, 48
    x = _correlated_inputs(512, width, seed=1)
    weight = torch.randn(out, width, generator=torch.Generator().manual_seed(2))
    codes, scales, zeros, order = gptq(weight, x.t().double() @ x.double())
    gptq_out = Int4Linear(codes, scales, zeros, order, None)(x)

    # Round to nearest on the same grid (scale and zero per group of the original weights).
    groups = weight.reshape(out, -1, GROUP_SIZE)
    nearest = torch.empty_like(groups)
    for k in range(groups.shape[1]):
        scale, zero = _grid(groups[:, k].clone())
        q = torch.clamp(torch.round(groups[:, k] / scale[:, None]) + zero[:, None], 0, 15)
        nearest[:, k] = scale[:, None] * (q - zero[:, None])
    rtn_out = x @ nearest.reshape(out, width).t()

    reference = x @ weight.t()
    gptq_error = (gptq_out - reference).pow(2).mean()
    rtn_error = (rtn_out - reference).pow(2).mean()
    assert gptq_error < 0.6 * rtn_error, (float(gptq_error), float(rtn_error))


def test_quantize_replaces_every_layer_calibration_reaches_but_a_tied_head() -> None:
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.embed = torch.nn.Embedding(100, GROUP_SIZE)
    model.inner = torch.nn.Linear(GROUP_SIZE, GROUP_SIZE)
    model.head = torch.nn.Linear(GROUP_SIZE, 100, bias=False)
    model.head.weight = model.embed.weight  # tied, as gpt2's lm_head is
    model.unused = torch.nn.Linear(GROUP_SIZE, GROUP_SIZE)

    def forward(ids: torch.Tensor) -> torch.Tensor:
        return model.head(model.inner(model.embed(ids)))

    ids = torch.randint(0, 100, (4, 16))
    quantize_int4(model, lambda: (forward(ids[i:i + 1]) for i in range(4)))
    assert isinstance(model.inner, Int4Linear)
    assert type(model.head) is torch.nn.Linear and model.head.weight is model.embed.weight
    assert type(model.unused) is torch.nn.Linear  # calibration never ran it


def test_torch_and_openvino_int4_share_a_group_size() -> None:
    """The two backends' int4-wo rows compare like for like (and the cpu note names it)."""
    from skillsets.bench.precision import precision_support
    from skillsets.runtime.quantize import INT4_GROUP_SIZE

    assert GROUP_SIZE == INT4_GROUP_SIZE
    assert f"group_size {GROUP_SIZE}" in precision_support("cpu", "int4-wo").reason


def test_a_group_too_narrow_for_f16_scales_still_gets_finite_codes() -> None:
    """A group of weights around 1e-9 (its range / 15 rounds to 0 in f16) quantizes to finite
    values near its own, not to NaN codes from a division by a zero scale."""
    weight = torch.full((4, GROUP_SIZE), 1e-9)
    weight[:, ::2] = -1e-9
    x = _correlated_inputs(64, GROUP_SIZE, seed=3)
    codes, scales, zeros, order = gptq(weight, x.t().double() @ x.double())
    layer = Int4Linear(codes, scales, zeros, order, None)
    assert torch.all(scales > 0)
    assert torch.isfinite(layer.weight()).all()
    assert layer.weight().abs().max() < 1e-6
