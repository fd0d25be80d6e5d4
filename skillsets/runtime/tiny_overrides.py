"""Explicit tiny-config values for the model types the generic shrinking rules get wrong.

Each entry is merged (recursively, into sub-config dicts) over the shrunk default config, and
says why it is needed. Keep this table small: a rule that fixes several types belongs in
`skillsets.runtime.tiny_config` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Same:
    """The shrunk value at a dotted path of the same config (`text_config.hidden_size`)."""

    path: str

    def resolve(self, root: dict[str, Any]) -> Any:
        value: Any = root
        for part in self.path.split("."):
            value = value[part]
        return value


@dataclass(frozen=True)
class TinyOverride:
    """Values to force on a shrunk config, and why.

    Attributes:
        reason: What relation between config values the generic rules break.
        values: Config keys to set; a dict value is merged into the sub-config of that name, a
            `Same` takes the shrunk value found at its path.
        base: Keyword arguments for building the default config when its defaults do not validate.
        generation: (dotted class path, keyword arguments) of the generation config a checkpoint
            would ship, for models whose generate() reads more than transformers' defaults.
    """

    reason: str
    values: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    generation: tuple[str, dict[str, Any]] | None = None


_QWEN2_VL_MERGER = TinyOverride(
    "the default config pairs a vision merger sized for a 7B text model (vision hidden_size 3584) "
    "with a 72B text model (hidden_size 8192); checkpoints make them equal",
    values={"vision_config": {"hidden_size": Same("text_config.hidden_size")}},
)

#: Bark's three stages share one id layout: text ids shifted past the semantic codes, then the
#: semantic codes, then codec codes per codebook. Scaled down together: 100 semantic codes,
#: codebooks of 16, text shifted by 128 (the byte-level tokenizer stays below 512).
_BARK_SEMANTIC, _BARK_CODEBOOK = 100, 16
_BARK = TinyOverride(
    "Bark's generate() reads token layouts (text offset, semantic vocabulary, codebook size, pad "
    "and infer tokens) from the checkpoint's generation_config.json; they must sit inside the "
    "shrunk vocabularies",
    values={
        "semantic_config": {"input_vocab_size": 1024, "output_vocab_size": 128},
        "coarse_acoustics_config": {"input_vocab_size": 256, "output_vocab_size": 256},
        "fine_acoustics_config": {"input_vocab_size": 48, "output_vocab_size": 48},
    },
    generation=("transformers.models.bark.generation_configuration_bark.BarkGenerationConfig", {
        "semantic_config": {
            "eos_token_id": _BARK_SEMANTIC, "semantic_pad_token": _BARK_SEMANTIC,
            "semantic_vocab_size": _BARK_SEMANTIC, "text_encoding_offset": 128,
            "text_pad_token": 1000, "semantic_infer_token": 1003,
            "max_input_semantic_length": 64, "max_new_tokens": 16,
        },
        "coarse_acoustics_config": {
            "coarse_semantic_pad_token": _BARK_SEMANTIC + 2 * _BARK_CODEBOOK,
            "coarse_infer_token": _BARK_SEMANTIC + 2 * _BARK_CODEBOOK + 2,
            "max_coarse_input_length": 64, "max_coarse_history": 64, "sliding_window_len": 16,
        },
        "fine_acoustics_config": {"max_fine_history_length": 64, "max_fine_input_length": 128},
        "codebook_size": _BARK_CODEBOOK,
    }),
)

TINY_OVERRIDES: dict[str, TinyOverride] = {
    "bark": _BARK,
    "cvt": TinyOverride(
        "CvT indexes each stage's drop-path rates by the stage number, so stage i needs more "
        "than i blocks", values={"depth": [1, 2, 3]}),
    "granitemoehybrid": TinyOverride(
        "the default stack is Mamba layers only, whose cache transformers cannot generate with; "
        "released checkpoints interleave attention layers",
        values={"layer_types": ["linear_attention", "full_attention"]}),
    "dory": TinyOverride(
        "input, recurrent and output blocks must add up to the layer count, and the serialized "
        "config counts attention and MLP blocks separately (two per layer)",
        values={"num_hidden_layers": 6, "n_input_layers": 2, "n_recurrent_layers": 2,
                "n_output_layers": 2, "layer_types": ["sliding_attention", "mlp",
                                                      "sliding_attention", "mlp",
                                                      "full_attention", "mlp"]}),
    "qwen2_vl": _QWEN2_VL_MERGER,
    "colqwen2": TinyOverride(_QWEN2_VL_MERGER.reason, values={
        "vlm_config": {"vision_config": {
            "hidden_size": Same("vlm_config.text_config.hidden_size")}}}),
}
