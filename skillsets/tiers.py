"""Priority tiers, and the original framework's model names mapped to real model types.

Tiers nest: critical is inside high, high inside medium, medium inside all (the whole catalog).
"""

from __future__ import annotations

TIERS: tuple[str, ...] = ("critical", "high", "medium", "all")

#: The models every night must cover.
CRITICAL: tuple[str, ...] = (
    "bert", "roberta", "gpt2", "t5", "llama", "mistral", "vit", "clip", "whisper",
)

#: The original framework's 38 hand-written skillsets, under their transformers model types.
HIGH_EXTRA: tuple[str, ...] = (
    "albert", "deberta", "distilbert", "electra", "ernie", "mpnet", "xlm-roberta",
    "bloom", "falcon", "gemma", "gptj", "gpt_neo", "gpt_neox", "opt", "phi",
    "bart", "mbart", "pegasus", "longt5", "mt5",
    "beit", "convnext", "deit", "mobilenet_v2", "swin",
    "blip", "blip-2", "chinese_clip", "git", "llava",
    "hubert", "wav2vec2", "bark",
)

#: Widely used successors and siblings of the high tier, one or two per family, so a nightly
#: "medium" run touches every family and the most downloaded checkpoints on the Hub.
MEDIUM_EXTRA: tuple[str, ...] = (
    # encoder-only
    "camembert", "deberta-v2", "modernbert", "xlnet", "longformer", "big_bird", "layoutlmv3",
    # decoder-only
    "qwen2", "qwen3", "phi3", "gemma2", "gemma3_text", "starcoder2", "codegen", "olmo2",
    "mixtral", "qwen2_moe", "deepseek_v3", "mamba", "mamba2", "jamba", "falcon_mamba",
    # encoder-decoder
    "marian", "m2m_100", "led", "prophetnet",
    # vision
    "dinov2", "resnet", "efficientnet", "regnet", "levit", "segformer", "mobilevit", "detr",
    "yolos", "dpt", "mask2former", "videomae", "timesformer",
    # vision-text and vision-language
    "siglip", "owlvit", "align", "instructblip", "kosmos-2", "pix2struct",
    "vision-encoder-decoder", "paligemma", "qwen2_vl", "llava_next", "idefics2",
    # speech / audio
    "wavlm", "data2vec-audio", "speecht5", "speech_to_text", "seamless_m4t", "musicgen",
    "encodec", "clap", "audio-spectrogram-transformer",
    # time series and others
    "time_series_transformer", "informer", "autoformer", "patchtst", "patchtsmixer",
    "decision_transformer",
)

#: Names the original framework (or users) write that are not transformers model types.
#: Case, `-`/`_` differences and an `hf_` prefix are forgiven without an entry here.
ALIASES: dict[str, str] = {
    "gpt-j": "gptj",
    "gpt_j": "gptj",
    "mobilenetv2": "mobilenet_v2",
    "blip2": "blip-2",
    "wav2vec": "wav2vec2",
    "xlmroberta": "xlm-roberta",
    "chineseclip": "chinese_clip",
    "gpt-neo-x": "gpt_neox",
}


def tier_members(tier: str) -> tuple[str, ...] | None:
    """The model types in `tier`, or None for `all` (the whole catalog).

    Raises:
        UnknownNameError: `tier` is not one of `TIERS`.
    """
    from hardware.names import UnknownNameError

    if tier == "critical":
        return CRITICAL
    if tier == "high":
        return CRITICAL + HIGH_EXTRA
    if tier == "medium":
        seen = dict.fromkeys(CRITICAL + HIGH_EXTRA + MEDIUM_EXTRA)
        return tuple(seen)
    if tier == "all":
        return None
    raise UnknownNameError("priority tier", tier, TIERS)


def tier_of(model_type: str) -> str:
    """The smallest tier that holds `model_type`."""
    for tier in ("critical", "high", "medium"):
        members = tier_members(tier)
        if members is not None and model_type in members:
            return tier
    return "all"
