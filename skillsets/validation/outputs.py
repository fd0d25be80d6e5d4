"""Pure functions over model outputs: flatten nested outputs, check them, compare two of them.

Outputs come as torch `ModelOutput`s, dicts, tuples, tensors, numpy arrays, or OpenVINO result
dicts; each is flattened to `(path, array)` pairs in the order the model returned them (the
order `openvino.convert_model` numbers its outputs in), skipping `None` and non-array objects
(caches). Arrays are compared as float64 numpy arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Output fields that never carry the batch dimension first (scalars and losses).
NON_BATCH_FIELDS = frozenset({"loss", "aux_loss", "z_loss", "router_loss"})


def to_numpy(value: Any) -> np.ndarray | None:
    """A numpy view of a torch tensor or numpy array (bf16/fp16 widened to float32); else None."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        tensor = value.detach().cpu()
        if tensor.is_complex():
            tensor = tensor.abs()
        elif tensor.dtype.is_floating_point and tensor.element_size() < 4:
            tensor = tensor.float()
        return tensor.numpy()
    if hasattr(value, "data") and type(value).__module__.startswith("openvino"):
        return np.asarray(value.data)
    return None


def flatten(output: Any, prefix: str = "") -> list[tuple[str, np.ndarray]]:
    """`(path, array)` pairs of every array in a nested output, in order.

    Paths read like `logits`, `hidden_states.2`, `0.pred_boxes`.
    """
    array = to_numpy(output)
    if array is not None:
        return [(prefix or "output", array)]
    samples = _per_sample(output) if not prefix else None
    if samples is not None:
        return [("output", samples)]
    items: list[tuple[str, Any]]
    if isinstance(output, Mapping):
        items = [(str(k), v) for k, v in output.items()]
    elif isinstance(output, (tuple, list)):
        items = [(str(i), v) for i, v in enumerate(output)]
    else:
        return []
    flat: list[tuple[str, np.ndarray]] = []
    for key, value in items:
        if value is None:
            continue
        flat.extend(flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def masked_slices(array: np.ndarray) -> bool:
    """Whether the only non-finite values are infinities of one sign that mask whole slices:
    whole columns of the last axis, the same for every query of a sample (Grounding DINO's
    logits past the prompt's tokens are -inf), or whole rows of it (two-stage DETRs mark each
    proposal outside the image +inf in all four coordinates). A numerical failure leaves NaN or
    scattered infinities instead."""
    if array.ndim < 3 or array.dtype.kind != "f" or np.isnan(array).any():
        return False
    inf = np.isinf(array)
    if np.isposinf(array).any() and np.isneginf(array).any():
        return False
    masked = inf.reshape(array.shape[0], -1, array.shape[-1])
    if masked.all(axis=(1, 2)).any():
        return False  # a sample with nothing left unmasked
    columns = masked.shape[1] > 1 and bool((masked == masked[:, :1]).all())
    rows = masked.shape[2] > 1 and bool((masked == masked[..., :1]).all())
    return columns or rows


def _per_sample(output: Any) -> np.ndarray | None:
    """A whole output that is a list (not a tuple of fields) of one array per sample, as custom
    generate()s return synthesised audio, stacked along a new batch dimension when the samples
    have one shape; None for anything else."""
    if not isinstance(output, list) or not output:
        return None
    arrays = [to_numpy(v) for v in output]
    if any(a is None for a in arrays) or len({a.shape for a in arrays}) != 1:  # type: ignore[union-attr]
        return None
    return np.stack(arrays)  # type: ignore[arg-type]


def first_non_finite(flat: list[tuple[str, np.ndarray]]) -> str | None:
    """Path and counts of the first float array holding NaN or +-inf (other than a mask, see
    `masked_slices`); None when all are finite."""
    for path, array in flat:
        if (array.dtype.kind in "fc" and array.size and not np.isfinite(array).all()
                and not masked_slices(array)):
            nan = int(np.isnan(array).sum())
            inf = int(np.isinf(array).sum())
            return f"{path} (shape {tuple(array.shape)}: {nan} NaN, {inf} inf of {array.size})"
    return None


def primary(flat: list[tuple[str, np.ndarray]]) -> tuple[str, np.ndarray] | None:
    """The first non-scalar array that is not a loss: what the model returned for the batch."""
    for path, array in flat:
        if array.ndim >= 1 and path.split(".")[-1] not in NON_BATCH_FIELDS:
            return path, array
    return None


@dataclass(frozen=True)
class Comparison:
    """How two flattened outputs differ.

    Attributes:
        max_abs_diff: Largest |a - b| over every compared element (0.0 when identical).
        scale: Largest |b| over the compared elements (to judge a difference relative to size).
        compared: Arrays compared.
        worst_path: Path of the array with the largest difference.
        mismatch: Why the outputs could not be compared (structure or shape); empty otherwise.
    """

    max_abs_diff: float
    scale: float
    compared: int
    worst_path: str
    mismatch: str = ""

    def within(self, atol: float, rtol: float) -> bool:
        """Whether `max_abs_diff <= atol + rtol * scale` and the structures matched."""
        return not self.mismatch and self.max_abs_diff <= atol + rtol * self.scale


def compare(
    actual: list[tuple[str, np.ndarray]],
    expected: list[tuple[str, np.ndarray]],
    *,
    by_path: bool = False,
    limit: int | None = None,
) -> Comparison:
    """Compare two flattened outputs array by array.

    Args:
        actual: The output under test (e.g. OpenVINO's, or the reloaded model's).
        expected: The reference (torch's, or the original model's).
        by_path: Pair arrays by path (both come from the same kind of output); otherwise by
            position (a compiled model names its outputs differently but keeps their order).
        limit: Compare only the first `limit` pairs (None = all; when one side has fewer arrays,
            as when a backend drops outputs, only the common prefix is compared).
    """
    if by_path:
        have = dict(actual)
        pairs = [((p, have[p]), (p, e)) for p, e in expected if p in have]
    else:
        pairs = list(zip(actual, expected, strict=False))
    if limit is not None:
        pairs = pairs[:limit]
    if not pairs:
        return Comparison(
            float("nan"),
            0.0,
            0,
            "",
            mismatch=f"nothing to compare ({len(actual)} vs {len(expected)} arrays)",
        )
    worst, worst_path, scale = 0.0, "", 0.0
    for (_, a), (path_e, e) in pairs:
        if a.shape != e.shape:
            return Comparison(
                float("nan"),
                0.0,
                0,
                path_e,
                mismatch=f"{path_e}: shape {tuple(a.shape)} vs expected {tuple(e.shape)}",
            )
        if a.size == 0:
            continue
        a64 = a.astype(np.float64)
        e64 = e.astype(np.float64)
        both_finite = np.isfinite(a64) & np.isfinite(e64)
        same_special = (~np.isfinite(a64)) & (a64 == e64) | (np.isnan(a64) & np.isnan(e64))
        if not (both_finite | same_special).all():
            return Comparison(
                float("inf"), 0.0, 0, path_e, mismatch=f"{path_e}: non-finite values differ"
            )
        if both_finite.any():
            diff = float(np.abs(a64[both_finite] - e64[both_finite]).max())
            scale = max(scale, float(np.abs(e64[both_finite]).max()))
            if diff > worst or not worst_path:
                worst, worst_path = diff, path_e
    return Comparison(worst, scale, len(pairs), worst_path)


def rows(flat: list[tuple[str, np.ndarray]], batch: int) -> list[tuple[str, np.ndarray]]:
    """The batch-major arrays (first dimension == `batch`), excluding losses."""
    return [
        (p, a)
        for p, a in flat
        if a.ndim >= 1 and a.shape[0] == batch and p.split(".")[-1] not in NON_BATCH_FIELDS
    ]


def row(flat: list[tuple[str, np.ndarray]], index: int) -> list[tuple[str, np.ndarray]]:
    """Row `index` of each batch-major array, keeping a leading dimension of 1."""
    return [(p, a[index : index + 1]) for p, a in flat]


def describe(flat: list[tuple[str, np.ndarray]], limit: int = 6) -> dict[str, list[int]]:
    """`{path: shape}` of the first `limit` arrays, for the record's details."""
    return {p: list(a.shape) for p, a in flat[:limit]}
