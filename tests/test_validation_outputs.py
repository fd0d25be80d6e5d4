"""The output checker's rules for non-finite values and per-sample lists, on real arrays."""

from __future__ import annotations

import numpy as np
import torch

from skillsets.validation.outputs import first_non_finite, flatten, masked_slices


def _logits(batch: int = 2, queries: int = 5, tokens: int = 8) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(batch, queries, tokens)).astype(np.float32)


def test_minus_inf_columns_past_the_prompt_are_a_mask_not_a_failure():
    logits = _logits()
    logits[:, :, 6:] = -np.inf  # Grounding DINO: no text token there, for every query
    assert masked_slices(logits)
    assert first_non_finite([("logits", logits)]) is None


def test_rows_of_plus_inf_boxes_are_a_mask():
    boxes = _logits(tokens=4)
    boxes[:, 3, :] = np.inf  # a two-stage proposal outside the image, all four coordinates
    assert masked_slices(boxes)


def test_nan_scattered_or_mixed_infinities_still_fail():
    nan = _logits()
    nan[0, 1, 2] = np.nan
    scattered = _logits()
    scattered[0, 1, 2] = -np.inf
    mixed = _logits()
    mixed[:, :, 6] = -np.inf
    mixed[:, :, 7] = np.inf
    everything = np.full((2, 5, 8), -np.inf, dtype=np.float32)
    for bad in (nan, scattered, mixed, everything):
        assert not masked_slices(bad)
        assert first_non_finite([("logits", bad)]) is not None


def test_a_list_of_one_waveform_per_sample_is_checked_as_a_batch():
    waves = [torch.randn(1, 320), torch.randn(1, 320)]
    ((path, array),) = flatten(waves)
    assert path == "output" and array.shape == (2, 1, 320)
    # A tuple is a model's fields, not samples: each field stays its own output.
    assert [p for p, _ in flatten((torch.randn(2, 3), torch.randn(2, 4)))] == ["0", "1"]
