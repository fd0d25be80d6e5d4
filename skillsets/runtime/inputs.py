"""Example natural inputs, one builder per modality: what a user would hand the handler.

Texts are short sentences, images are HxWx3 uint8 arrays, audio is 1-D float32 waveforms at the
model's sampling rate, and so on. Everything is seeded: the same (config, batch size, seed) gives
the same inputs, so benchmarks compare like with like.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hardware.names import UnknownNameError
from skillsets.runtime.processors import fixed_image_size, vision_config

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "Models should be benchmarked on every kind of hardware.",
    "Hello world, this is a short test sentence.",
)
#: Texts weight compression calibrates on (`skillsets.runtime.quantize`): none of `SENTENCES`, so
#: the quality measured on the example inputs is out of the calibration sample.
CALIBRATION_SENTENCES = (
    "Weight compression needs a few sentences to see how activations are spread.",
    "Rain is expected over the northern hills by Thursday evening.",
    "The library lends books, music and films to anyone with a card.",
    "Compilers turn source code into instructions a processor can run.",
    "Our team meets every Monday to plan the week's releases.",
    "A warm cup of tea helps on a cold and windy afternoon.",
    "The museum reopened after two years of careful restoration.",
    "Prices of fresh vegetables rose sharply after the long drought.",
)
LABELS = ("a photo of a cat", "a photo of a dog", "a diagram", "a landscape")
VIDEO_LABELS = ("a video of a cat", "a video of a dog", "someone cooking", "a moving landscape")
DEFAULT_IMAGE_SIZE = 224
DEFAULT_SAMPLING_RATE = 16_000
AUDIO_SECONDS = 1.0
#: Frames per clip when the config does not say.
DEFAULT_FRAMES = 8


def _image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth gradient with noise: a plausible photo-like uint8 image."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    base = np.concatenate([y * np.ones_like(x), x * np.ones_like(y), (x + y) / 2], axis=2)
    noisy = base * 200 + rng.normal(0, 20, size=(height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def image_shape(config: Any) -> tuple[int, int]:
    """(height, width) of example images: the config's fixed size, else 224x224."""
    return fixed_image_size(config) or (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)


def sampling_rate(config: Any, feature_extractor: Any = None) -> int:
    """The sampling rate the model expects, from its feature extractor or config."""
    for source in (feature_extractor, config, getattr(config, "audio_config", None),
                   getattr(config, "encoder_config", None)):
        for attr in ("sampling_rate", "sample_rate", "input_sampling_rate"):
            rate = getattr(source, attr, None)
            if isinstance(rate, int) and rate > 0:
                return rate
    return DEFAULT_SAMPLING_RATE


def _waveform(rng: np.random.Generator, rate: int) -> np.ndarray:
    t = np.arange(int(rate * AUDIO_SECONDS), dtype=np.float32) / rate
    freq = rng.uniform(200, 800)
    wave = 0.5 * np.sin(2 * np.pi * freq * t) + rng.normal(0, 0.05, t.shape)
    return wave.astype(np.float32)


def text_inputs(ctx: InputContext, n: int) -> list[str]:
    return [ctx.texts[i % len(ctx.texts)] for i in range(n)]


def image_inputs(ctx: InputContext, n: int) -> list[np.ndarray]:
    h, w = image_shape(ctx.config)
    return [_image(ctx.rng, h, w) for _ in range(n)]


def image_pair_inputs(ctx: InputContext, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    h, w = image_shape(ctx.config)
    return [(_image(ctx.rng, h, w), _image(ctx.rng, h, w)) for _ in range(n)]


def video_inputs(ctx: InputContext, n: int) -> list[np.ndarray]:
    h, w = image_shape(ctx.config)
    frames = getattr(vision_config(ctx.config), "num_frames", None) or getattr(
        ctx.config, "num_frames", None) or DEFAULT_FRAMES
    return [np.stack([_image(ctx.rng, h, w) for _ in range(frames)]) for _ in range(n)]


def audio_inputs(ctx: InputContext, n: int) -> list[np.ndarray]:
    rate = sampling_rate(ctx.config, ctx.feature_extractor)
    return [_waveform(ctx.rng, rate) for _ in range(n)]


def image_text_inputs(ctx: InputContext, n: int) -> list[dict[str, Any]]:
    images = image_inputs(ctx, n)
    return [{"image": img, "text": LABELS[i % len(LABELS)]} for i, img in enumerate(images)]


def video_text_inputs(ctx: InputContext, n: int) -> list[dict[str, Any]]:
    clips = video_inputs(ctx, n)
    return [{"video": c, "text": VIDEO_LABELS[i % len(VIDEO_LABELS)]} for i, c in enumerate(clips)]


def audio_text_inputs(ctx: InputContext, n: int) -> list[dict[str, Any]]:
    waves = audio_inputs(ctx, n)
    return [{"audio": w, "text": ctx.texts[i % len(ctx.texts)]} for i, w in enumerate(waves)]


def time_series_inputs(ctx: InputContext, n: int) -> list[np.ndarray]:
    """One float32 array per sample: (time,) or (time, channels) for multivariate models."""
    from skillsets.runtime.series import history_length, num_channels

    length, channels = history_length(ctx.config), num_channels(ctx.config)
    t = np.arange(length, dtype=np.float32)
    out = []
    for _ in range(n):
        phase = ctx.rng.uniform(0, 2 * np.pi, size=(channels,))
        series = 10 + np.sin(t[:, None] / 6 + phase) + ctx.rng.normal(0, 0.1, (length, channels))
        out.append(series.astype(np.float32)[:, 0] if channels == 1 else series.astype(np.float32))
    return out


def trajectory_inputs(ctx: InputContext, n: int) -> list[dict[str, np.ndarray]]:
    """(states, actions, returns-to-go) over a few steps, for decision transformers."""
    state_dim = int(getattr(ctx.config, "state_dim", 4))
    act_dim = int(getattr(ctx.config, "act_dim", 2))
    steps = 8
    return [
        {
            "states": ctx.rng.normal(size=(steps, state_dim)).astype(np.float32),
            "actions": ctx.rng.normal(size=(steps, act_dim)).astype(np.float32),
            "returns_to_go": np.linspace(10, 1, steps, dtype=np.float32)[:, None],
        }
        for _ in range(n)
    ]


class InputContext:
    """What example-input builders read: the config, the feature extractor, a seeded RNG and
    the sentences text inputs cycle through."""

    def __init__(self, config: Any, feature_extractor: Any = None, seed: int = 0,
                 texts: tuple[str, ...] = SENTENCES) -> None:
        self.config = config
        self.feature_extractor = feature_extractor
        self.rng = np.random.default_rng(seed)
        self.texts = texts


EXAMPLE_BUILDERS: dict[str, Callable[[InputContext, int], list[Any]]] = {
    "text": text_inputs,
    "image": image_inputs,
    "image-pair": image_pair_inputs,
    "video": video_inputs,
    "audio": audio_inputs,
    "image+text": image_text_inputs,
    "video+text": video_text_inputs,
    "audio+text": audio_text_inputs,
    "time-series": time_series_inputs,
    "trajectory": trajectory_inputs,
}


def example_inputs(
    modality: str, config: Any, batch_size: int, feature_extractor: Any = None, seed: int = 0
) -> list[Any]:
    """`batch_size` natural inputs of `modality` for a model with `config`.

    Raises:
        UnknownNameError: an unknown modality.
        ValueError: `batch_size` < 1.
    """
    return _build(modality, batch_size, InputContext(config, feature_extractor, seed))


def _build(modality: str, batch_size: int, context: InputContext) -> list[Any]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    try:
        builder = EXAMPLE_BUILDERS[modality]
    except KeyError:
        raise UnknownNameError("modality", modality, EXAMPLE_BUILDERS) from None
    return builder(context, batch_size)


def calibration_inputs(
    modality: str, config: Any, batch_size: int, feature_extractor: Any = None, seed: int = 0
) -> list[Any]:
    """`batch_size` natural inputs like `example_inputs`, but none of them: other sentences
    (`CALIBRATION_SENTENCES`) and another seed, for data-aware weight compression to calibrate
    on without seeing the inputs its quality is measured on.

    Raises:
        UnknownNameError: an unknown modality.
        ValueError: `batch_size` < 1.
    """
    return _build(modality, batch_size,
                  InputContext(config, feature_extractor, seed + 1, CALIBRATION_SENTENCES))
