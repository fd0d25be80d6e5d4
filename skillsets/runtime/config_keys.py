"""Values read off a model's config wherever its family keeps them: on the config itself or on
its text sub-config. Below `prepare` and `processors`, which both read them."""

from __future__ import annotations

from typing import Any

#: Config keys holding the placeholder token a modality's features replace, in lookup order.
PLACEHOLDER_KEYS: dict[str, tuple[str, ...]] = {
    "image": ("image_token_id", "image_token_index", "image_patch_id"),
    "audio": ("audio_token_id", "audio_token_index"),
    "video": ("video_token_id", "video_token_index"),
}
TEXT_CONFIG_ATTRS = ("text_config", "decoder", "text_encoder", "decoder_config", "thinker_config",
                     "vlm_config", "model_config")  # model_config: a TTS model before its vocoder


def find_config_value(config: Any, keys: tuple[str, ...]) -> Any:
    """The first of `keys` set on the config or on its text sub-config."""
    for cfg in (config, *(getattr(config, a, None) for a in TEXT_CONFIG_ATTRS)):
        if cfg is None or isinstance(cfg, dict):
            continue
        for key in keys:
            value = getattr(cfg, key, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None
