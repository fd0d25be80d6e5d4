"""Architecture families, and the rules that assign one to a model type from its facts.

The rules read transformers' own mapping membership and config attributes (`TypeFacts`), in a
fixed order; the first that matches wins. Model types the rules get wrong are corrected in
`skillsets.exceptions_table`, each with a reason, never by matching substrings of names.
"""

from __future__ import annotations

from skillsets.facts import TypeFacts

FAMILIES: tuple[str, ...] = (
    "encoder-only",
    "decoder-only",
    "encoder-decoder",
    "vision",
    "vision-text",
    "vision-encoder-text-decoder",
    "speech/audio",
    "multimodal",
    "mixture-of-experts",
    "state-space",
    "time-series",
    "diffusion",
    "other",
)

AUDIO_MAPPINGS = frozenset({
    "AUDIO_CLASSIFICATION", "AUDIO_FRAME_CLASSIFICATION", "AUDIO_XVECTOR", "CTC", "RNNT", "TDT",
    "SPEECH_SEQ_2_SEQ", "TEXT_TO_WAVEFORM", "TEXT_TO_SPECTROGRAM",
})
IMAGE_MAPPINGS = frozenset({
    "IMAGE", "IMAGE_CLASSIFICATION", "BACKBONE", "OBJECT_DETECTION", "SEMANTIC_SEGMENTATION",
    "INSTANCE_SEGMENTATION", "UNIVERSAL_SEGMENTATION", "IMAGE_SEGMENTATION", "DEPTH_ESTIMATION",
    "MASKED_IMAGE_MODELING", "VIDEO_CLASSIFICATION", "MASK_GENERATION", "KEYPOINT_DETECTION",
    "KEYPOINT_MATCHING", "IMAGE_TO_IMAGE", "IMAGE_MATTING", "NORMAL_ESTIMATION",
    "POINTMAP_ESTIMATION", "POSE_ESTIMATION", "TEXT_RECOGNITION", "TABLE_RECOGNITION",
    "CAUSAL_IMAGE_MODELING",
})
TIME_SERIES_MAPPINGS = frozenset({
    "TIME_SERIES_PREDICTION", "TIME_SERIES_CLASSIFICATION", "TIME_SERIES_REGRESSION",
})
VLM_MAPPINGS = frozenset({"IMAGE_TEXT_TO_TEXT", "MULTIMODAL_LM"})
ZERO_SHOT_MAPPINGS = frozenset({"ZERO_SHOT_IMAGE_CLASSIFICATION", "ZERO_SHOT_OBJECT_DETECTION"})
TEXT_HEAD_MAPPINGS = frozenset({
    "MASKED_LM", "SEQUENCE_CLASSIFICATION", "TOKEN_CLASSIFICATION", "TEXT_ENCODING",
    "QUESTION_ANSWERING", "MULTIPLE_CHOICE", "NEXT_SENTENCE_PREDICTION",
})

#: Config attributes that only state-space (Mamba-style) layers have.
SSM_KEYS = frozenset({
    "state_size", "ssm_state_size", "mamba_d_state", "mamba_d_ssm", "mamba_n_heads",
    "mamba_num_heads", "n_mamba_heads", "time_step_rank",
})
#: Config attributes that mean the model reads audio.
AUDIO_KEYS = frozenset({
    "num_mel_bins", "sampling_rate", "sample_rate", "input_sampling_rate", "input_feat_size",
})
AUDIO_SUBCONFIGS = frozenset({"audio_config", "speech_config", "audio_encoder", "codec_config"})
#: Config attributes that mean the model reads images.
VISION_KEYS = frozenset({"image_size", "patch_size"})
VISION_SUBCONFIGS = frozenset({
    "vision_config", "image_config", "backbone_config", "vision_tower_config", "vq_config",
    "vlm_config",
})
#: `vlm_config` holds a whole vision-language model, so it counts as text and vision.
TEXT_SUBCONFIGS = frozenset({"text_config", "text_encoder", "vlm_config"})
#: Sub-configs of a denoising (diffusion / flow-matching) head.
DIFFUSION_SUBCONFIGS = frozenset({"diffusion_head_config", "flow_head_config"})
#: Config attributes holding the id of the placeholder token an image's features replace.
IMAGE_TOKEN_KEYS = frozenset({"image_token_id", "image_token_index"})
TIME_SERIES_KEYS = frozenset({"prediction_length"})


def has_audio(f: TypeFacts) -> bool:
    """Whether the type reads audio, by mapping, config attribute or sub-config."""
    return bool(f.mappings.keys() & AUDIO_MAPPINGS or f.config_keys & AUDIO_KEYS
                or f.sub_configs.keys() & AUDIO_SUBCONFIGS)


def has_vision(f: TypeFacts) -> bool:
    """Whether the type reads images, by mapping, config attribute or sub-config."""
    return bool(f.mappings.keys() & IMAGE_MAPPINGS or f.config_keys & VISION_KEYS
                or f.sub_configs.keys() & VISION_SUBCONFIGS)


def has_text(f: TypeFacts) -> bool:
    """Whether the type reads token ids."""
    return "vocab_size" in f.config_keys or bool(f.sub_configs.keys() & TEXT_SUBCONFIGS)


def classify(
    f: TypeFacts, parent_facts: TypeFacts | None = None, roles: frozenset[str] = frozenset()
) -> tuple[str, str]:
    """The family of a model type and, for `other`, the reason none of the rules matched.

    Args:
        f: The type's facts.
        parent_facts: Facts of the type it is a component of (see `TypeFacts.parent`), if any.
        roles: Attribute names under which other types' configs nest this one
            (`{"audio_config"}` for an audio tower): a component reads what its role says.

    Returns:
        (family, note): `note` is empty unless the family is `other` or the type is a component.
    """
    maps = f.mappings.keys()
    component = f"component of {f.parent}" if f.parent and f.parent != f.model_type else ""
    if f.sub_configs.keys() & DIFFUSION_SUBCONFIGS:
        return "diffusion", component
    if maps & TIME_SERIES_MAPPINGS or f.config_keys & TIME_SERIES_KEYS:
        return "time-series", component
    if maps & VLM_MAPPINGS:
        if has_audio(f) and not has_vision(f):
            return "speech/audio", component
        if f.is_encoder_decoder or not (f.config_keys & IMAGE_TOKEN_KEYS or has_audio(f)):
            return "vision-encoder-text-decoder", component
        return "multimodal", component
    if has_audio(f) or roles & AUDIO_SUBCONFIGS:
        return "speech/audio", component
    if maps & ZERO_SHOT_MAPPINGS or (
        f.sub_configs.keys() & VISION_SUBCONFIGS and f.sub_configs.keys() & TEXT_SUBCONFIGS
    ):
        return "vision-text", component
    if has_vision(f) and (maps & IMAGE_MAPPINGS or not has_text(f)) or (
        roles & VISION_SUBCONFIGS and not has_text(f)
    ):
        return "vision", component
    if f.config_keys & SSM_KEYS:
        return "state-space", component
    generative = bool(maps & {"CAUSAL_LM", "SEQ_TO_SEQ_CAUSAL_LM"})
    if f.moe_experts > 1 and (generative or has_text(f)):
        return "mixture-of-experts", component
    if f.is_encoder_decoder and "SEQ_TO_SEQ_CAUSAL_LM" in maps:
        return "encoder-decoder", component
    if "CAUSAL_LM" in maps and "MASKED_LM" not in maps:
        return "decoder-only", component
    if maps & TEXT_HEAD_MAPPINGS:
        return "encoder-only", component
    if has_text(f):
        if roles & TEXT_SUBCONFIGS and parent_facts is not None and (
            parent_facts.mappings.keys() & (VLM_MAPPINGS | {"CAUSAL_LM"})
        ):
            return "decoder-only", f"text model of {f.parent}"
        return "encoder-only", component
    reason = f.config_error or "no rule matched: " + ", ".join(sorted(maps))
    return "other", reason


#: For each family, the tasks to try in order; the first whose mapping holds the type is primary.
FAMILY_TASKS: dict[str, tuple[str, ...]] = {
    "encoder-only": ("feature-extraction", "text-encoding", "fill-mask", "text-classification",
                     "token-classification", "question-answering"),
    "decoder-only": ("text-generation", "feature-extraction", "text-classification"),
    "mixture-of-experts": ("text-generation", "text2text-generation", "feature-extraction"),
    "state-space": ("text-generation", "feature-extraction"),
    "encoder-decoder": ("text2text-generation", "feature-extraction"),
    "vision": ("image-classification", "object-detection", "semantic-segmentation",
               "universal-segmentation", "instance-segmentation", "image-segmentation",
               "depth-estimation", "keypoint-detection", "keypoint-matching", "mask-generation",
               "video-classification", "pose-estimation", "image-matting", "normal-estimation",
               "pointmap-estimation", "image-to-image", "text-recognition", "table-recognition",
               "masked-image-modeling", "image-feature-extraction", "backbone",
               "causal-image-modeling"),
    "vision-text": ("zero-shot-image-classification", "zero-shot-object-detection",
                    "feature-extraction", "retrieval"),
    "vision-encoder-text-decoder": ("image-to-text", "multimodal-lm"),
    "multimodal": ("image-text-to-text", "multimodal-lm", "retrieval", "feature-extraction"),
    "speech/audio": ("automatic-speech-recognition", "ctc", "audio-classification", "rnnt", "tdt",
                     "audio-frame-classification", "text-to-audio", "text-to-spectrogram",
                     "multimodal-lm", "audio-feature-extraction"),
    "time-series": ("time-series-forecasting", "time-series-classification",
                    "time-series-regression", "time-series-feature-extraction"),
    "diffusion": ("text-to-audio", "automatic-speech-recognition", "feature-extraction"),
    "other": ("decision", "retrieval", "pretraining", "feature-extraction"),
}
