"""Explicit tiny-config values for the model types the generic shrinking rules get wrong.

Each entry is merged (recursively, into sub-config dicts) over the shrunk default config, and
says why it is needed. Keep this table small: a rule that fixes several types belongs in
`skillsets.runtime.tiny_config` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


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

_WITH_VISION = TinyOverride(
    "the default config has no vision tower (vision_config None); checkpoints of the image-text "
    "model ship one, so build the default vision config",
    base={"vision_config": {}},
)

#: Half of the shrunk 32-dim head, split over (position, width, height, image index).
_HUNYUAN_XDROPE_SECTIONS = [4, 4, 4, 4]
_HUNYUAN_XDROPE = TinyOverride(
    "the multimodal RoPE needs its axes' sections (checkpoints' xdrope_section), which the "
    "default config leaves unset; four axes splitting half of the 32-dim head",
    values={"rope_parameters": {"mrope_section": _HUNYUAN_XDROPE_SECTIONS}},
)

_OMNI_THINKER = TinyOverride(
    "the thinker's M-RoPE index finds images by the vision-start token, which its config class "
    "has no default for (checkpoints' thinker_config sets it); one id below the fresh tokens",
    values={"vision_start_token_id": 480},
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

_SAM_POS_FEATS = TinyOverride(
    "SAM's image positional encoding is 2 * num_pos_feats wide and is added to the prompt "
    "encoder's features: num_pos_feats is half the shrunk prompt hidden size (128), not a count",
    values={"vision_config": {"num_pos_feats": 64}},
)

_STACKED_FBANK_INPUT = TinyOverride(
    "the feature projection reads the extractor's stacked filterbanks (80 mel bins x stride 2): "
    "feature_projection_input_dim is an input size, not a width",
    values={"feature_projection_input_dim": 160},
)

_EOMT_BLOCKS = TinyOverride(
    "EoMT inserts its queries num_blocks layers before the end of the stack: num_blocks must "
    "stay below the shrunk layer count",
    values={"num_blocks": 1},
)

def _vq_vocabulary(name: Callable[[int], str], codes: int, first_id: int,
                   special: dict[str, int]) -> dict[str, int]:
    """A `vocabulary_map` as VQ-token models (Chameleon, Emu3) ship it: the tokenizer's vocabulary,
    whose image part is one BPE token per VQ code (from `first_id` on) plus named special tokens."""
    return {**{name(code): first_id + code for code in range(codes)}, **special}


def _chameleon_code(code: int) -> str:
    """Chameleon's BPE name of a VQ code: its digits as the letters A-J, framed by IMGIMG...Z."""
    return "IMGIMG" + "".join(chr(ord("A") + int(digit)) for digit in str(code)) + "Z"


#: VQ codebooks scaled down to 256 codes, their BPE tokens at ids 4-259 of the 512-id vocabulary
#: (where the checkpoints put them), `<image>` (and Emu3's end-of-line token) right after.
_VQ_CODES, _VQ_FIRST_ID, _VQ_IMAGE_ID = 256, 4, 260

#: PP-OCR's intra-class blocks as PaddleOCR's checkpoints build them: per conv, (kernel, stride,
#: padding) for a 1x1 reduce/return around 7/5/3-long vertical, horizontal and square kernels.
_PP_OCR_INTRACLASS = {
    "reduce_channel": [1, 1, 0], "return_channel": [1, 1, 0],
    "vertical_long_to_small_conv_longratio": [[7, 1], [1, 1], [3, 0]],
    "vertical_long_to_small_conv_midratio": [[5, 1], [1, 1], [2, 0]],
    "vertical_long_to_small_conv_shortratio": [[3, 1], [1, 1], [1, 0]],
    "horizontal_small_to_long_conv_longratio": [[1, 7], [1, 1], [0, 3]],
    "horizontal_small_to_long_conv_midratio": [[1, 5], [1, 1], [0, 2]],
    "horizontal_small_to_long_conv_shortratio": [[1, 3], [1, 1], [0, 1]],
    "symmetric_conv_long_longratio": [7, 1, 3], "symmetric_conv_long_midratio": [5, 1, 2],
    "symmetric_conv_long_shortratio": [3, 1, 1],
}
_PP_OCR_DET = TinyOverride(
    "the default config leaves the neck's intra-class block kernels, its per-stage upsampling "
    "factors and the head's kernels unset (the default model cannot be built); checkpoints set "
    "them (kernel sizes, not widths, so they are given unshrunk)",
    values={"intraclass_block_config": _PP_OCR_INTRACLASS, "scale_factor_list": [1, 2, 4, 8],
            "kernel_list": [3, 2, 2]},
)
#: PP-OCRv6 detectors' __post_init__ replaces the backbone their config class declares
#: (`sub_configs_defaults`, what checkpoints carry) with the recognizers' PP-LCNetV4, which
#: outputs only its last stage and keeps the width (text-line strides); the neck reads one map
#: per stage at strides 4-32. Build the declared backbones.
_PP_OCR_V6_DET_REASON = ("the config class's __post_init__ replaces the backbone it declares "
                         "with the text-line recognizer's (one output stage, width kept), which "
                         "the detection neck cannot read; build the declared backbone")
_PP_OCR_V6_MEDIUM_BACKBONE = {
    "model_type": "hgnet_v2", "arch": "L", "return_idx": [0, 1, 2, 3], "freeze_stem_only": True,
    "freeze_at": 0, "freeze_norm": True, "lr_mult_list": [0, 0.05, 0.05, 0.05, 0.05],
    "out_features": ["stage1", "stage2", "stage3", "stage4"]}
_PP_OCR_V6_SMALL_BACKBONE = {
    "model_type": "pp_lcnet_v3", "scale": 0.75, "divisor": 16, "out_indices": [2, 3, 4, 5],
    "out_features": ["stage2", "stage3", "stage4", "stage5"]}

_COHERE_COMPASS_ROPE = {"full_attention": {"rope_type": "default", "rope_theta": 50000.0,
                                           "mrope_section": [24, 20, 20]}}

_QWEN4_EXP_QSA = {"indexer_n_heads": 16, "indexer_kv_heads": 1, "indexer_head_dim": 256,
                  "indexer_budget": 2048, "indexer_compress_ratio": 64}
#: A budget of 2 blocks of 4 tokens, so that short validation prompts do select blocks.
_QWEN4_EXP_QSA_TINY = {"indexer_budget": 8, "indexer_compress_ratio": 4}

#: EfficientNet's block widths (before width_coefficient) and head width, as the model's
#: hard-coded stem and head need them.
_EFFICIENTNET_WIDTHS = {"in_channels": [32, 16, 24, 40, 80, 112, 192],
                        "out_channels": [16, 24, 40, 80, 112, 192, 320], "hidden_dim": 2560}

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
    "apertus1p5": TinyOverride(
        "the vocabulary is text ids, then one id per visual code, then one per audio code "
        "(offsets and codebook sizes must line up); laid out again after the 512 text ids",
        values={"text_config": {"vocab_size": 1024}, "image_token_offset": 512,
                "audio_token_offset": 768, "vision_config": {"codebook_size": 256},
                "audio_config": {"codebook_size": 256}}),
    "gemma4_assistant": TinyOverride(
        "the default text config is the full Gemma 4 one, which the assistant's own validator "
        "rejects (no per-layer inputs, no MoE block, no double-wide MLP)",
        base={"text_config": {"hidden_size_per_layer_input": 0, "vocab_size_per_layer_input": 0,
                              "enable_moe_block": False, "use_double_wide_mlp": False}}),
    "seggpt": TinyOverride(
        "the prompt and image streams merge at `merge_index`, before every layer whose output "
        "the decoder reads; the shrunk stack keeps that order",
        values={"num_hidden_layers": 3, "merge_index": 0,
                "intermediate_hidden_state_indices": [1, 2]}),
    "zamba": TinyOverride(
        "the shared attention block is tied across hybrid layers: one hybrid layer leaves "
        "nothing to tie it to, so keep two",
        values={"num_hidden_layers": 3,
                "layers_block_type": ["linear_attention", "hybrid", "hybrid"]}),
    "zamba2": TinyOverride(
        "the serialized config carries values derived from the others (Mamba head size, hybrid "
        "layer ids) that the generic rules shrink out of step; give them their derived values",
        values={"mamba_headdim": 160, "hybrid_layer_ids": [1]}),
    "clap": TinyOverride(
        "the audio Swin doubles its patch-embedding width at each of 4 stages up to hidden_size; "
        "patch_embeds_hidden_size is a width the generic rules read as a patch setting",
        values={"audio_config": {"patch_embeds_hidden_size": 48}}),
    "efficientnet": TinyOverride(
        "the stem (32 channels) and head (1280) widths are hard-coded in the model and scaled by "
        "width_coefficient, so the block widths keep their default values; the default config is "
        "B7 (width 2.0, depth 3.1: 35M parameters, 600 px), so take B0's coefficients, head "
        "width (round_filters(1280) at width 1.0) and image size",
        values={**_EFFICIENTNET_WIDTHS, "width_coefficient": 1.0, "depth_coefficient": 1.0,
                "hidden_dim": 1280, "image_size": 224}),
    "efficientloftr": TinyOverride(
        "the coarse attention stack's depth is num_attention_layers, which sits beside per-stage "
        "lists of the same length (4 backbone stages) that the generic layer rules would cut as "
        "per-layer lists; two layers, each a self- and a cross-attention block",
        values={"num_attention_layers": 2}),
    "superglue": TinyOverride(
        "the attention stack is gnn_layers_types itself (no layer count beside it): 18 layers "
        "by default; one self- and one cross-attention layer keep both kinds",
        values={"gnn_layers_types": ["self", "cross"]}),
    "vits": TinyOverride(
        "the HiFi-GAN decoder runs at the waveform's sample rate (256 samples per frame) with "
        "upsample_initial_channel halving per stage, a width the generic rules leave (hidden "
        "size 192 is under the target): at 512 its resblocks are ~19 GMAC per second of audio; "
        "the posterior encoder's 16 WaveNet layers (a third of the parameters) are a layer "
        "count under a name the generic rules do not know",
        values={"upsample_initial_channel": 64, "posterior_encoder_num_wavenet_layers": 2}),
    "vibevoice_acoustic_tokenizer": TinyOverride(
        "the convolution stages are num_filters * 2**stage wide, a width the generic rules leave "
        "(hidden_size 64 is the latent size): 32 filters make a 2048-wide bottom stage and 172M "
        "parameters; 4 filters keep every stage, 256 wide at the bottom",
        values={"num_filters": 4}),
    "vibevoice_asr": TinyOverride(
        "its acoustic and semantic tokenizer encoders are VibeVoice's (see "
        "vibevoice_acoustic_tokenizer): 32 filters make 2048-wide bottom stages, 173M parameters",
        values={"acoustic_tokenizer_encoder_config": {"num_filters": 4},
                "semantic_tokenizer_encoder_config": {"num_filters": 4}}),
    "align": TinyOverride(
        "the EfficientNet vision tower's stem width (32) is hard-coded and scaled by "
        "width_coefficient, so the block widths keep their default values; the text projection "
        "writes into the tower's pooled width (round_filters(320) = 640 at width 2.0)",
        values={"vision_config": _EFFICIENTNET_WIDTHS, "projection_dim": 640}),
    "uvdoc": TinyOverride(
        "the head concatenates one feature map per bridge stage (6 x 128 channels), but the "
        "default backbone config outputs only stage6 (the default model cannot run)",
        values={"backbone_config": {
            "out_indices": [1, 2, 3, 4, 5, 6],
            "out_features": ["stage1", "stage2", "stage3", "stage4", "stage5", "stage6"]}}),
    "eomt": _EOMT_BLOCKS,
    "eomt_dinov3": _EOMT_BLOCKS,
    "vitmatte": TinyOverride(
        "the backbone reads the image and its trimap stacked (4 channels), as checkpoints set; "
        "the default backbone config says 3, and pairs a 768-wide backbone with a decoder sized "
        "for 384 (the fusion reads backbone features: checkpoints make the widths equal)",
        values={"backbone_config": {"num_channels": 4},
                "hidden_size": Same("backbone_config.hidden_size")}),
    "autoformer": TinyOverride(
        "the decoder starts from the last label_length context steps: label_length (default 10) "
        "must fit in the context, which defaults to the shrunk prediction length (8)",
        values={"label_length": 4}),
    "pp_doclayout_v2": TinyOverride(
        "the forward reads one score threshold and one reading-order class per label, which "
        "checkpoints set and the default config leaves unset (2 labels by default)",
        values={"class_thresholds": [0.5, 0.5], "class_order": [0, 1]}),
    "clvp": TinyOverride(
        "the speech encoder reads the speech ids the decoder generates; the default speech_config "
        "keeps the text vocabulary (256) where checkpoints use the decoder's speech codes; the "
        "encoders' rotary embedding spans at least 32 dims of a head, so heads keep 32 dims",
        values={"speech_config": {"vocab_size": Same("decoder_config.vocab_size"),
                                  "num_attention_heads": 6},
                "text_config": {"num_attention_heads": 6}}),
    "sam": _SAM_POS_FEATS,
    "seamless_m4t": _STACKED_FBANK_INPUT,
    "seamless_m4t_v2": _STACKED_FBANK_INPUT,
    "wav2vec2-bert": _STACKED_FBANK_INPUT,
    "sam_hq": _SAM_POS_FEATS,
    "qwen2_vl": _QWEN2_VL_MERGER,
    "qwen3_asr": TinyOverride(
        "the default config's audio projector writes 3584-wide features into a 2048-wide text "
        "model; checkpoints make the projector's output_dim the text hidden size",
        values={"audio_config": {"output_dim": Same("text_config.hidden_size")}}),
    "gemma4": _WITH_VISION,
    "gemma4_unified": _WITH_VISION,
    "hunyuan_vl": TinyOverride(_HUNYUAN_XDROPE.reason, values={
        "text_config": {"rope_parameters": {"mrope_section": _HUNYUAN_XDROPE_SECTIONS}}}),
    "hunyuan_vl_text": _HUNYUAN_XDROPE,
    "janus": TinyOverride(
        "the default config's aligners project to 2048 wide, its text model is 4096 wide; "
        "checkpoints make both aligners' projection_dim the text hidden size",
        values={"vision_config": {"projection_dim": Same("text_config.hidden_size")},
                "vq_config": {"projection_dim": Same("text_config.hidden_size")}}),
    "aria": TinyOverride(
        "the projector maps each image's patch count to its query count for the processor's two "
        "image sizes (490 and 980 px: 35^2 and 70^2 patches of 14 px); the same sizes in the "
        "shrunk 32 px patches",
        values={"projector_patch_to_query_dict": {(490 // 32) ** 2: 128, (980 // 32) ** 2: 256}}),
    "ovis2": TinyOverride(
        "the default config's visual embedding table is 1536 wide, its text model 4096; "
        "checkpoints make hidden_size the text hidden size",
        values={"hidden_size": Same("text_config.hidden_size")}),
    "qwen2_5_omni_thinker": _OMNI_THINKER,
    "qwen3_omni_moe_thinker": _OMNI_THINKER,
    "colqwen2": TinyOverride(_QWEN2_VL_MERGER.reason, values={
        "vlm_config": {"vision_config": {
            "hidden_size": Same("vlm_config.text_config.hidden_size")}}}),
    # Types whose default config cannot build a model: `base` gives what checkpoints set.
    "chameleon": TinyOverride(
        "the model maps VQ codes to BPE ids through the tokenizer vocabulary a checkpoint ships "
        "as vocabulary_map (None by default); one laid out for the shrunk vocabulary",
        values={"vocabulary_map": _vq_vocabulary(_chameleon_code, _VQ_CODES, _VQ_FIRST_ID,
                                                 {"<image>": _VQ_IMAGE_ID}),
                "image_token_id": _VQ_IMAGE_ID, "vq_config": {"num_embeddings": _VQ_CODES}}),
    "emu3": TinyOverride(
        "the model maps VQ codes to BPE ids through the tokenizer vocabulary a checkpoint ships "
        "as vocabulary_map (None by default); one laid out for the shrunk vocabulary",
        values={"vocabulary_map": _vq_vocabulary(
                    lambda code: f"<|visual token{code:06d}|>", _VQ_CODES, _VQ_FIRST_ID,
                    {"<image>": _VQ_IMAGE_ID, "<|extra_200|>": _VQ_IMAGE_ID + 1}),
                "image_token_id": _VQ_IMAGE_ID, "vq_config": {"codebook_size": _VQ_CODES}}),
    "cohere_compass": TinyOverride(
        "rotary parameters are per layer type and the default config has none",
        base={"text_config": {"rope_parameters": _COHERE_COMPASS_ROPE}}),
    "cohere_compass_text": TinyOverride(
        "rotary parameters are per layer type and the default config has none",
        base={"rope_parameters": _COHERE_COMPASS_ROPE}),
    "dbrx": TinyOverride(
        "the attention reads rope_theta and clip_qkv from attn_config, which only checkpoints "
        "set (DBRX: 500000 and 8)",
        base={"attn_config": {"rope_theta": 500000.0, "clip_qkv": 8.0}}),
    "deepseek_ocr2": TinyOverride(
        "the decoder reads each layer's MLP kind from mlp_layer_types and the router's top-k "
        "from num_experts_per_tok, both unset by default (checkpoints: first layer dense); "
        "the default vision encoder (4096) is not as wide as the SAM neck output it reads",
        base={"text_config": {"mlp_layer_types": ["dense"] + ["sparse"] * 31,
                              "num_experts_per_tok": 6},
              # The queries the vision encoder appends to the SAM neck's output must be as wide
              # as that output (downsample_channels[-1]: 896); the default encoder is 4096 wide,
              # checkpoints use a Qwen2-0.5B-sized one.
              "vision_config": {"encoder_config": {"hidden_size": 896, "intermediate_size": 4864,
                                                   "num_attention_heads": 14,
                                                   "num_key_value_heads": 2}}}),
    "instructblipvideo": TinyOverride(
        "the video placeholder id (video_token_index) is unset by default; checkpoints add a "
        "<video> token to the text vocabulary (here the top id of the shrunk 512-token one)",
        values={"video_token_index": 511}),
    "mllama": TinyOverride(
        "the projector reads hidden_size x (intermediate layers + 1) features per patch "
        "(checkpoints: 1280 x 6 = 7680); the shrunk tower keeps 2 intermediate layers: 80 x 3",
        values={"vision_config": {"vision_output_dim": 240}}),
    "sapiens2": TinyOverride(
        "the segmentation decode head is built from head_config, empty by default; the Sapiens "
        "segmentation head: 4 stride-2 upsampling blocks back to full resolution, two 1x1 convs",
        base={"head_config": {"upsample_out_channels": [512, 256, 128, 64],
                              "conv_out_channels": [64, 64]}}),
    "pp_ocrv5_server_det": _PP_OCR_DET,
    "pp_ocrv6_medium_det": TinyOverride(
        f"{_PP_OCR_DET.reason}; {_PP_OCR_V6_DET_REASON}", values=_PP_OCR_DET.values,
        base={"backbone_config": _PP_OCR_V6_MEDIUM_BACKBONE}),
    "pp_ocrv6_small_det": TinyOverride(
        f"{_PP_OCR_V6_DET_REASON}; its neck reads the backbone's maps directly (no 1x1 "
        "adapters, unlike PP-OCRv5 mobile's), so layer_list_out_channels are that backbone's "
        "stage widths at scale 0.75",
        base={"backbone_config": _PP_OCR_V6_SMALL_BACKBONE},
        values={"layer_list_out_channels": [48, 96, 192, 384]}),
    "lw_detr": TinyOverride(
        "projector_scale_factors (the feature levels the projector builds) is empty by default, "
        "leaving the decoder nothing to read; LW-DETR tiny/small/medium checkpoints project the "
        "one P4 level (scale 1.0). Its two-stage selection takes num_queries of the encoder's "
        "proposals, one per P4 cell: the shrunk 256 px image has 256 cells, fewer than 300",
        base={"projector_scale_factors": [1.0]}, values={"num_queries": 100}),
    "rf_detr": TinyOverride(
        "the backbone splits the patch grid into num_windows (4) windows per side, which the "
        "default 518 px (37 patches of 14) does not divide; RF-DETR base checkpoints read 560 px "
        "(40 patches), here halved like other large images (20 patches, 5 per window)",
        values={"backbone_config": {"image_size": 280}}),
    "depth_pro": TinyOverride(
        "intermediate_hook_ids index the patch encoder's layers (12 by default), which live in "
        "a sibling sub-config the generic rules do not rescale: layers 11 and 5 of 12 are "
        "layers 1 and 0 of the shrunk 2. The input is patch_size / the smallest scale ratio "
        "(384 / 0.25 = 1536 px) with 1024-wide features per scale, ~10 GB for a random network: "
        "128 px patches (a 512 px input; each encoder's image_size must equal patch_size) and "
        "the per-scale widths shrunk like the others",
        values={"intermediate_hook_ids": [1, 0], "patch_size": 128,
                "image_model_config": {"image_size": 128},
                "patch_model_config": {"image_size": 128},
                "fov_model_config": {"image_size": 128},
                "scaled_images_feature_dims": [256, 256, 128]}),
    "imagegpt": TinyOverride(
        "the vocabulary is the colour palette pixels are quantized to (512 colours, an 8 x 8 x 8 "
        "grid without a checkpoint's palette) plus the start token: it keeps its 513 ids",
        values={"vocab_size": 513}),
    "diffusion_gemma": TinyOverride(
        "every layer has an MoE block whose expert count, top-k and expert width are unset by "
        "default (the 26B-A4B checkpoint: 128 experts, top 8, 704 wide)",
        base={"text_config": {"num_experts": 128, "top_k_experts": 8,
                              "moe_intermediate_size": 704}}),
    "dots1": TinyOverride(
        "routed and shared expert counts and top-k are unset by default (dots.llm1: 128 routed, "
        "2 shared, top 6, first layer dense)",
        base={"n_routed_experts": 128, "n_shared_experts": 2, "num_experts_per_tok": 6,
              "first_k_dense_replace": 1}),
    "granite4_vision": TinyOverride(
        "the projectors are built per deepstack_layer_map entry with a window Q-Former sized by "
        "downsample_rate, both unset by default, and need a square grid of patches that the "
        "window divides and a vision width of whole 64-wide Q-Former heads: the checkpoints' "
        "SigLIP tower (24 x 24 patches, no CLS token). They inject deepstack features and four "
        "spatial groups at distinct decoder layers, so the tiny decoder keeps five layers",
        base={"vision_config": {"model_type": "siglip_vision_model", "image_size": 384,
                                "patch_size": 16, "hidden_size": 1152, "intermediate_size": 4304,
                                "num_attention_heads": 16, "num_hidden_layers": 27},
              "vision_feature_select_strategy": "full",
              "image_grid_pinpoints": [[384, 384], [384, 768], [768, 384], [768, 768]]},
        values={"downsample_rate": "4/8", "deepstack_layer_map": [[-2, 0]],
                "spatial_target_layers": [1, 2, 3, 4], "text_config": {"num_hidden_layers": 5}}),
    "lfm2_moe": TinyOverride(
        "layer_types (conv or attention per layer) is unset by default; LFM2-8B-A1B's 24 layers "
        "put attention at layers 2, 6, 10, 14, 18 and 21",
        base={"num_hidden_layers": 24, "layer_types": [
            "full_attention" if i in (2, 6, 10, 14, 18, 21) else "conv" for i in range(24)]}),
    "moonshine_streaming": TinyOverride(
        "the decoder reads num_key_value_heads, which the config class does not define; "
        "checkpoints set it to the head count",
        base={"num_key_value_heads": 8}),
    "qwen3_omni_moe": TinyOverride(
        "the talker reads shared_expert_intermediate_size and spatial_merge_size, which its config "
        "classes do not define (Qwen3-Omni: 768 and 2); speech output needs the speakers' codec "
        "ids, None by default (Qwen3-Omni: 2301-2303 of 3072), scaled to the shrunk codec vocab; "
        "the thinker's M-RoPE reads vision_start_token_id, which its config class does not "
        "define (Qwen3-Omni: 151652); the talker reads the thinker's hidden states at "
        "accept_hidden_layer (Qwen3-Omni: 24 of 48), past the shrunk stack: its last",
        base={"talker_config": {"text_config": {"shared_expert_intermediate_size": 768},
                                "spatial_merge_size": 2},
              "thinker_config": {"vision_start_token_id": 151652}},
        values={"talker_config": {
            "speaker_id": {"chelsie": 383, "ethan": 384, "aiden": 385},
            "accept_hidden_layer": Same("thinker_config.text_config.num_hidden_layers")}}),
    "qwen4_exp": TinyOverride(
        "the indexed-attention layers need the QSA indexer settings, unset by default; a small "
        "token budget so that short prompts exercise block selection",
        base={"text_config": _QWEN4_EXP_QSA}, values={"text_config": _QWEN4_EXP_QSA_TINY}),
    "qwen4_exp_text": TinyOverride(
        "the indexed-attention layers need the QSA indexer settings, unset by default; a small "
        "token budget so that short prompts exercise block selection",
        base=_QWEN4_EXP_QSA, values=_QWEN4_EXP_QSA_TINY),
    "t5gemma2_encoder": TinyOverride(
        "the encoder reads text_config.dropout_rate, which the parent T5Gemma2Config sets on "
        "its sub-configs (checkpoints carry it)",
        base={"text_config": {"dropout_rate": 0.0}}),
    "esm": TinyOverride(
        "position ids count from the padding token, which the default config leaves unset; "
        "ESM checkpoints use 1 (and 32 as the mask token)",
        values={"pad_token_id": 1, "mask_token_id": 32}),
    "hrm_text": TinyOverride(
        "num_layers_per_stack is derived from num_hidden_layers on construction (which then "
        "becomes the cache slot count); unset, it is derived again from the shrunk depth",
        values={"num_layers_per_stack": None}),
    "xlstm": TinyOverride(
        "num_blocks (the stack's depth) is an alias of num_hidden_layers; unset, it follows "
        "the shrunk depth",
        values={"num_blocks": None}),
    "bros": TinyOverride(
        "dim_bbox is the coordinate count of a token's box (4 corners x 2), not a width",
        values={"dim_bbox": 8}),
    "lxmert": TinyOverride(
        "visual_pos_dim is the coordinate count of a region's box (x0, y0, x1, y1), not a width",
        values={"visual_pos_dim": 4}),
}
