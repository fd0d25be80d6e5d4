"""OpenVINO conversion failures and their fixes, on real `openvino.convert_model` calls.

The frontend's error is reduced to the op it could not convert (its first line is the same C++
check for every model); ops the project replaces while tracing (`TRACEABLE_REPLACEMENTS`)
convert, and the compiled model gives torch's output. Nothing is mocked.
"""

from __future__ import annotations

import pytest
import torch
from marks import needs_openvino

from skillsets.runtime.errors import SkillUnavailableError
from skillsets.runtime.openvino_exec import (
    MAX_CONVERSIONS,
    OpenVinoExecutor,
    _avg_pool2d,
    _cat,
    _histc,
    _nan_to_num,
    _round,
    _unfold,
    kept_sizes,
)
from skillsets.validation.causes import classify
from skillsets.validation.coverage import normalise_message


class Diff(torch.nn.Module):
    """Runs `aten::diff`, which OpenVINO's PyTorch frontend has no rule for."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": torch.diff(x, dim=-1)}


class Router(torch.nn.Module):
    """MoE-style routing: tokens per expert with `torch.histc`, scores cleaned with
    `nan_to_num`, as Granite-MoE, HunYuan and GLM-5 do."""

    def __init__(self, experts: int = 4) -> None:
        super().__init__()
        self.experts = experts
        self.gate = torch.nn.Linear(8, experts)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        scores = torch.nan_to_num(self.gate(x).log())  # log of negatives: NaN, made 0
        chosen = scores.argmax(-1).float()
        counts = torch.histc(chosen, bins=self.experts, min=0, max=self.experts - 1)
        return {"scores": scores, "counts": counts}


@needs_openvino
def test_unconverted_op_is_named_in_the_error():
    with pytest.raises(SkillUnavailableError) as caught:
        OpenVinoExecutor(Diff(), {"x": torch.randn(2, 5)}, frozenset())
    message = str(caught.value)
    assert "no conversion rule for aten::diff" in message
    assert "failed at" not in message  # not the C++ check line every failure shares


@needs_openvino
def test_histc_and_nan_to_num_convert_and_match_torch():
    torch.manual_seed(0)
    model = Router().eval()
    x = torch.randn(1, 16, 8)
    executor = OpenVinoExecutor(model, {"x": x}, frozenset())
    compiled = executor({"x": x})
    with torch.no_grad():
        reference = model(x)
    assert torch.equal(compiled["counts"], reference["counts"])
    assert torch.allclose(compiled["scores"], reference["scores"], atol=1e-6)
    assert torch.histc is not _histc and torch.nan_to_num is not _nan_to_num  # restored


class Unpad(torch.nn.Module):
    """LLaVA-NeXT's `unpad_image` arithmetic: `round()` of a ratio of the traced shape."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        height, width = x.shape[-2:]
        new_height = int(round(height * (width / 40), 7))
        padding = (height - new_height) // 2
        return {"kept": x[..., padding:height - padding, :]}


@needs_openvino
def test_round_of_a_traced_size_converts():
    x = torch.randn(1, 3, 30, 20)
    executor = OpenVinoExecutor(Unpad().eval(), {"x": x}, frozenset())
    compiled = executor({"x": x})["kept"]
    # round(30 * 20 / 40) = 15, so (30 - 15) // 2 = 7 rows cut each side: 16 kept
    assert compiled.shape == (1, 3, 16, 20)
    assert torch.equal(compiled, Unpad()(x)["kept"])
    assert not hasattr(torch.Tensor, "__round__")  # added while tracing only


@pytest.mark.parametrize("value", [2.5, 3.5, -0.5, 1.23456789, 7.0])
def test_traceable_round_is_pythons(value):
    assert float(_round(torch.tensor(value, dtype=torch.float64))) == round(value)
    assert float(_round(torch.tensor(value, dtype=torch.float64), 3)) == round(value, 3)


@pytest.mark.parametrize(
    ("values", "bins", "lo", "hi"),
    [
        (torch.tensor([0.0, 1, 1, 3, 3, 3]), 4, 0, 3),  # expert ids, max in the last bin
        (torch.tensor([0.0, 1, 1, 3, 3, 4]), 4, 0, 4),  # bins narrower than one id
        (torch.tensor([-2.0, 0.5, 0.7, 9.0]), 5, -1, 1),  # values outside ignored
        (torch.tensor([0.3, -1.2, 2.5, 0.0]), 3, 0, 0),  # the data's own range
        (torch.tensor([2.0, 2.0]), 3, 0, 0),  # an empty range widened by 1
    ],
)
def test_traceable_histc_counts_as_torch(values, bins, lo, hi):
    assert torch.equal(_histc(values, bins, lo, hi), torch.histc(values, bins, lo, hi))


def test_traceable_nan_to_num_as_torch():
    x = torch.tensor([1.0, float("nan"), float("inf"), -float("inf")])
    assert torch.equal(_nan_to_num(x), torch.nan_to_num(x))
    assert torch.equal(_nan_to_num(x, 1.0, 2.0, 3.0), torch.nan_to_num(x, 1.0, 2.0, 3.0))


@pytest.mark.parametrize(
    ("shape", "dimension", "size", "step"),
    [
        ((2, 12, 3), -2, 4, 2),  # PatchTST's patchifier: patches along time
        ((2, 3, 9), -1, 4, 1),  # Inkling2's short convolution: every window
        ((5, 7), 0, 2, 3),  # a step that leaves the tail out
        ((2, 3), 1, 3, 5),  # one window
        ((4,), 0, 1, 1),
        ((), 0, 1, 1),  # a 0-dim tensor
    ],
)
def test_traceable_unfold_is_torchs(shape, dimension, size, step):
    x = torch.arange(torch.Size(shape).numel()).reshape(shape)
    assert torch.equal(_unfold(x, dimension, size, step), x.unfold(dimension, size, step))


def test_traceable_unfold_rejects_what_torch_rejects():
    with pytest.raises(RuntimeError, match="maximum size for tensor at dimension 1 is 3"):
        _unfold(torch.zeros(2, 3), 1, 4, 1)
    with pytest.raises(RuntimeError, match="step"):
        _unfold(torch.zeros(2, 3), 1, 2, 0)


class WidePool(torch.nn.Module):
    """EfficientNet's pooler: a window far wider than its feature map, with `ceil_mode`."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = torch.nn.AvgPool2d(1280, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pooled": self.pool(x)}


@needs_openvino
def test_a_pool_window_wider_than_its_input_converts_as_torchs_mean():
    x = torch.randn(2, 6, 7, 7)
    executor = OpenVinoExecutor(WidePool().eval(), {"x": x}, frozenset())
    assert torch.nn.functional.avg_pool2d is not _avg_pool2d  # restored
    with torch.inference_mode():
        out = executor({"x": x})["pooled"]
    assert out.shape == (2, 6, 1, 1)
    assert torch.allclose(out, torch.nn.AvgPool2d(1280, ceil_mode=True)(x), atol=1e-6)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "ceil_mode"),
    [(1280, None, 0, True), (7, None, 0, False), ((7, 9), None, 0, True),  # the whole map
     (3, 2, 1, True), (2, None, 0, False), (7, 1, 0, True)],  # torch's own kernel
)
def test_traceable_avg_pool2d_is_torchs(kernel, stride, padding, ceil_mode):
    x = torch.randn(2, 3, 7, 7)
    expected = torch.nn.functional.avg_pool2d(x, kernel, stride, padding, ceil_mode)
    got = _avg_pool2d(x, kernel, stride, padding, ceil_mode)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6)


class Patches(torch.nn.Module):
    """Cuts a series into overlapping patches with `Tensor.unfold`, as PatchTST does."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"patches": x.unfold(dimension=-2, size=4, step=2) * 2}


@needs_openvino
def test_unfold_converts_and_follows_the_input_length():
    executor = OpenVinoExecutor(Patches(), {"x": torch.randn(2, 12, 3)}, frozenset())
    assert torch.Tensor.unfold is not _unfold  # restored
    for length in (12, 17):
        x = torch.randn(2, length, 3)
        with torch.inference_mode():
            out = executor({"x": x})["patches"]
        assert torch.equal(out, x.unfold(-2, 4, 2) * 2)
    # The window count came from the traced length, not a constant: no re-conversion.
    assert executor._by_shapes == {}


class Cached(torch.nn.Module):
    """One forward pass through a transformers `DynamicCache`, as XLM and Granite-MoE run even
    without generating: the layer's first keys are concatenated onto an empty 1-D tensor."""

    def forward(self, keys: torch.Tensor) -> dict[str, torch.Tensor]:
        from transformers import DynamicCache

        k, v = DynamicCache().update(keys, keys * 2, 0)
        return {"out": k + v}


@needs_openvino
def test_a_cache_started_empty_converts_and_matches_torch():
    x = torch.randn(1, 2, 5, 4)
    executor = OpenVinoExecutor(Cached(), {"keys": x}, frozenset())
    assert torch.cat is not _cat  # restored
    y = torch.randn(2, 2, 7, 4)
    with torch.inference_mode():
        assert torch.equal(executor({"keys": y})["out"], Cached()(y)["out"])


@pytest.mark.parametrize(
    ("tensors", "dim"),
    [
        ((torch.tensor([]), torch.randn(1, 2, 3, 4)), -2),  # the cache's first update
        ((torch.randn(2, 3), torch.tensor([]), torch.randn(1, 3)), 0),
        ((torch.tensor([]), torch.randn(2, 3).bfloat16()), 1),  # the empty one promotes
        ((torch.tensor([]), torch.tensor([])), 0),  # nothing but empties
        ((torch.randn(2, 3), torch.randn(2, 1)), 1),  # no empty: torch.cat itself
    ],
)
def test_traceable_cat_is_torchs(tensors, dim):
    expected = torch.cat(tensors, dim)
    out = _cat(tensors, dim)
    assert out.dtype == expected.dtype
    assert torch.equal(out, expected)
    assert torch.equal(_cat(tensors, axis=dim), expected)


class Packed(torch.nn.Module):
    """Reshapes to a size read as a Python int, which tracing bakes in (as the vision towers
    that pack every image's patches into one sequence do)."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": x.reshape(1, int(x.shape[0]) * int(x.shape[1])) * 2}


@needs_openvino
def test_inputs_of_other_shapes_run_on_a_conversion_at_those_shapes():
    executor = OpenVinoExecutor(Packed(), {"x": torch.randn(2, 3)}, frozenset())
    x = torch.randn(4, 3)
    with torch.inference_mode():  # as the skill's callers run it
        out = executor({"x": x})["out"]
    assert torch.equal(out, x.reshape(1, 12) * 2)
    assert list(executor._by_shapes) == [((4, 3),)]


@needs_openvino
def test_the_traced_shapes_still_run_after_other_shapes_were_rejected():
    # OpenVINO's CPU plugin leaves a compiled model that rejected inputs unable to run even the
    # shapes it was traced at (llava and dbrx failed their batch of 1 after a batch of 2 so);
    # the executor compiles anew after a rejection. It takes a run before the rejection.
    executor = OpenVinoExecutor(Packed(), {"x": torch.randn(2, 3)}, frozenset())
    with torch.inference_mode():
        executor({"x": torch.randn(2, 3)})
        executor({"x": torch.randn(4, 3)})
        x = torch.randn(2, 3)
        out = executor({"x": x})["out"]
    assert torch.equal(out, x.reshape(1, 6) * 2)
    assert list(executor._by_shapes) == [((4, 3),)]  # the traced conversion ran it


class Backbone(torch.nn.Module):
    """Returns its feature maps as a tuple, as transformers' backbones do."""

    def forward(self, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
        return {"feature_maps": (x * 2, x.mean(-1))}


@needs_openvino
def test_a_list_of_tensors_comes_back_as_that_list():
    x = torch.randn(2, 3)
    out = OpenVinoExecutor(Backbone(), {"x": x}, frozenset())({"x": x})
    assert list(out) == ["feature_maps"]
    assert [t.shape for t in out["feature_maps"]] == [(2, 3), (2,)]
    assert torch.allclose(out["feature_maps"][0], x * 2)
    assert torch.allclose(out["feature_maps"][1], x.mean(-1))


class Unrolled(torch.nn.Module):
    """A Python loop over the sequence, which tracing unrolls to the traced length (as Mamba's
    reference scan): the compiled model runs longer inputs and returns the traced length."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": torch.stack([x[:, i] * 2 for i in range(x.shape[1])], dim=1)}


@needs_openvino
def test_outputs_that_kept_the_traced_length_run_again_on_a_conversion_at_the_new_shapes():
    executor = OpenVinoExecutor(Unrolled(), {"x": torch.randn(1, 4, 3)}, frozenset())
    x = torch.randn(1, 6, 3)
    with torch.inference_mode():
        kept = executor.compiled.create_infer_request().infer([x.numpy()])[0]
        out = executor({"x": x})["out"]
    assert kept.shape == (1, 4, 3)  # what the trace runs without rejecting the input
    assert torch.equal(out, x * 2)
    assert list(executor._by_shapes) == [((1, 6, 3),)]


class JoinedBatch(torch.nn.Module):
    """Reshapes to a batch read as a Python int, then sums along the sequence: traced at a
    batch of 1, a batch of 2 still runs, as one sequence of both rows (Longformer's chunks)."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        joined = x.reshape(int(x.shape[0]), -1, x.shape[-1])
        return {"out": joined.cumsum(dim=1).reshape(x.shape)}


@needs_openvino
def test_a_trace_that_joins_the_rows_of_a_batch_gets_a_conversion_per_batch_size():
    model = JoinedBatch().eval()
    executor = OpenVinoExecutor(model, {"x": torch.randn(1, 4, 3)}, frozenset())
    assert executor.batch_baked
    x = torch.randn(2, 4, 3)
    with torch.inference_mode():
        mixed = executor.compiled.create_infer_request().infer([x.numpy()])[0]
        assert not torch.allclose(torch.from_numpy(mixed), model(x)["out"], atol=1e-3)
        for length in (4, 6):  # the batch's conversion serves every length of that batch
            x = torch.randn(2, length, 3)
            assert torch.allclose(executor({"x": x})["out"], model(x)["out"], atol=1e-5)
        x = torch.randn(1, 6, 3)
        assert torch.allclose(executor({"x": x})["out"], model(x)["out"], atol=1e-5)
    assert list(executor._by_batch) == [2]


@needs_openvino
def test_a_trace_that_keeps_the_rows_of_a_batch_apart_converts_once():
    executor = OpenVinoExecutor(Patches(), {"x": torch.randn(1, 12, 3)}, frozenset())
    assert not executor.batch_baked
    x = torch.randn(3, 12, 3)
    with torch.inference_mode():
        assert torch.equal(executor({"x": x})["patches"], x.unfold(-2, 4, 2) * 2)
    assert executor._by_batch == {} and executor._by_shapes == {}


def test_kept_sizes_are_told_from_outputs_that_follow_the_inputs():
    # the traced length 4 stayed in the sequence dimension while the input grew to 6
    assert kept_sizes(((1, 4),), ((1, 4, 8),), ((1, 6),), ((1, 4, 8),))
    # the traced batch of 1 stayed while the input's batch became 2
    assert kept_sizes(((1, 4),), ((1, 4, 8),), ((2, 4),), ((1, 4, 8),))
    assert not kept_sizes(((1, 4),), ((1, 4, 8),), ((2, 6),), ((2, 6, 8),))
    # a pooled output (batch, hidden) whose hidden size equals the traced length is no sign
    assert not kept_sizes(((2, 8),), ((2, 8), (2, 5, 8)), ((2, 5),), ((2, 8), (2, 5, 8)))
    # GIT-like: the text follows behind image positions; no output size was an input size
    assert not kept_sizes(((1, 4),), ((1, 20, 8),), ((1, 5),), ((1, 21, 8),))
    # GIT from its start token: a length of 1 grew, the batch of 1 did not change
    assert not kept_sizes(((1, 1), (1, 3, 4, 4)), ((1, 17, 8),), ((1, 2), (1, 3, 4, 4)),
                          ((1, 18, 8),))


@needs_openvino
def test_a_trace_that_needs_a_conversion_per_shape_stops_with_its_cause():
    executor = OpenVinoExecutor(Unrolled(), {"x": torch.randn(1, 2, 3)}, frozenset())
    with torch.inference_mode():
        for length in range(3, 3 + MAX_CONVERSIONS):
            executor({"x": torch.randn(1, length, 3)})
        with pytest.raises(SkillUnavailableError, match="keeps sizes of its example") as info:
            executor({"x": torch.randn(1, 3 + MAX_CONVERSIONS, 3)})
    assert len(executor._by_shapes) == MAX_CONVERSIONS
    cause = classify("SkillUnavailableError", "openvino", normalise_message(str(info.value), "x"))
    assert cause.name == "openvino-trace-kept-sizes"
