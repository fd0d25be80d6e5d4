"""Time-series inputs: history length, channels, and the tensors forecasting models read.

Two shapes of model exist in transformers: GluonTS-style ones (time_series_transformer,
informer, autoformer) that read values plus time features, observed masks and lags; and
patch-based ones (patchtst, patchtsmixer, timesfm) that read raw values only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: History length for configs that state none.
DEFAULT_CONTEXT = 64


def history_length(config: Any) -> int:
    """How many past steps a model reads: context length plus the largest lag, if any."""
    context = getattr(config, "context_length", None) or DEFAULT_CONTEXT
    lags = getattr(config, "lags_sequence", None) or [0]
    return int(context) + int(max(lags))


def num_channels(config: Any) -> int:
    """Variables per step: `num_input_channels` (patch models) or `input_size` (GluonTS)."""
    for attr in ("num_input_channels", "input_size"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1


def series_tensors(config: Any, series: list[np.ndarray], params: frozenset[str]) -> dict[str, Any]:
    """Tensors for a forward pass over a batch of histories.

    Args:
        config: The model's config.
        series: One (time,) or (time, channels) float array per sample.
        params: Names the model's forward accepts (decides which shape of model this is).
    """
    import torch

    values = torch.as_tensor(np.stack(series))
    if "past_time_features" not in params:
        if "forecast_context_len" in params:  # TimesFM reads a list of 1-D series
            return {"past_values": list(values if values.ndim == 2 else values[..., 0])}
        if values.ndim == 2:
            values = values[..., None]
        return {"past_values": values}
    batch, length = values.shape[0], values.shape[1]
    horizon = int(getattr(config, "prediction_length", None) or 8)
    n_time = int(getattr(config, "num_time_features", 0) or 0)
    steps = torch.arange(length + horizon, dtype=torch.float32) / (length + horizon)
    time_features = steps[None, :, None].repeat(batch, 1, max(n_time, 1))[..., :n_time]
    out: dict[str, Any] = {
        "past_values": values,
        "past_time_features": time_features[:, :length],
        "past_observed_mask": torch.ones_like(values),
        "future_time_features": time_features[:, length:],
    }
    n_cat = int(getattr(config, "num_static_categorical_features", 0) or 0)
    if n_cat:
        out["static_categorical_features"] = torch.zeros(batch, n_cat, dtype=torch.long)
    n_real = int(getattr(config, "num_static_real_features", 0) or 0)
    if n_real:
        out["static_real_features"] = torch.ones(batch, n_real)
    if "future_values" in params:
        # The plain model runs its decoder teacher-forced: give it a continuation to read.
        out["future_values"] = values[:, -horizon:].clone() if length >= horizon else torch.zeros(
            (batch, horizon, *values.shape[2:]))
    return out
