"""The preprocessing objects a skill uses: from the checkpoint's files, or built without files.

With pretrained files on disk, the checkpoint's own tokenizer / image processor / feature
extractor / processor are loaded from them. With random weights there are no files, so:

* text uses a byte-level tokenizer (`ByT5Tokenizer`, which needs no vocabulary file); ids land in
  the tiny vocabulary and never on a special token such as the image placeholder;
* images use the model type's own image processor class (its PIL implementation: torchvision is
  not usable here), with defaults, resized to the config's fixed image size where it has one;
* audio uses the model type's own feature extractor class, with the config's mel bins.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillsets.catalog import CatalogEntry
from skillsets.runtime.config_keys import PLACEHOLDER_KEYS, find_config_value

log = logging.getLogger(__name__)


#: Tasks whose output is token ids that a tokenizer turns back into text.
TEXT_OUTPUT_TASKS = frozenset({
    "text-generation", "text2text-generation", "image-to-text", "image-text-to-text",
    "multimodal-lm", "automatic-speech-recognition", "ctc",
})


@dataclass
class Preprocessors:
    """Everything that turns natural inputs into tensors for one skill.

    Attributes:
        tokenizer: Text tokenizer, or None when the model reads no text.
        image_processor: The model type's image processor, or None (generic resizing is used).
        feature_extractor: The model type's audio feature extractor, or None.
        processor: A checkpoint's combined processor (AutoProcessor), when one is on disk.
        synthetic: True when the tokenizer was built without files (random weights).
        notes: What had to be built without files although weights were on disk.
    """

    tokenizer: Any = None
    image_processor: Any = None
    feature_extractor: Any = None
    processor: Any = None
    synthetic: bool = True
    notes: list[str] = field(default_factory=list)

    def main(self) -> Any:
        """The object returned as `processor` by the original interface."""
        for candidate in (self.processor, self.tokenizer, self.image_processor,
                          self.feature_extractor):
            if candidate is not None:
                return candidate
        return None


def _related_types(model_type: str) -> list[str]:
    """The type itself, then the type whose module defines it (clip_vision_model -> clip), then
    the type whose module defines its processor (glm4v_moe -> Glm4vProcessor -> glm4v)."""
    from transformers.models.auto.configuration_auto import SPECIAL_MODEL_TYPE_TO_MODULE_NAME
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    parent = SPECIAL_MODEL_TYPE_TO_MODULE_NAME.get(model_type)
    types = [model_type] + ([parent] if parent and parent != model_type else [])
    processor = next((PROCESSOR_MAPPING_NAMES[t] for t in types if PROCESSOR_MAPPING_NAMES.get(t)),
                     None)
    if isinstance(processor, str) and processor[:1].isupper():
        owner = _processor_module(processor)
        if owner and owner not in types:
            types.append(owner)
    wrapped = _wrapped_vlm_type(model_type)
    if wrapped and wrapped not in types:
        types += [t for t in _related_types(wrapped) if t not in types]
    base = next((BORROWED_PREPROCESSING[t] for t in types if t in BORROWED_PREPROCESSING), None)
    if base and base not in types:
        types += [t for t in _related_types(base) if t not in types]
    return types


#: Types that transformers maps no preprocessing to, and the type whose model they are built
#: from (their modular file subclasses it), whose preprocessing they read.
BORROWED_PREPROCESSING: dict[str, str] = {
    "glm_ocr": "glm4v",  # GlmOcrModel / GlmOcrVisionModel subclass Glm4v's, same patch grid
    # The audio towers of NeMo's speech LM (its `audio_config`) read its spectrograms.
    "nemotron3_5_transcribe": "nemo_speechlm",
}


def _wrapped_vlm_type(model_type: str) -> str | None:
    """The model type a retriever wraps whole (`vlm_config`: colmodernvbert -> modernvbert),
    whose preprocessing it reuses."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        config_class = CONFIG_MAPPING[model_type]
    except KeyError:
        return None
    if "vlm_config" not in getattr(config_class, "sub_configs", {}):
        return None
    try:
        wrapped = getattr(config_class().vlm_config, "model_type", None)
    except (TypeError, ValueError):  # a default config that does not build
        return None
    return wrapped if isinstance(wrapped, str) and wrapped else None


def _processor_module(class_name: str) -> str | None:
    """The model module (`glm4v`) that defines a processor class, None when none does."""
    from transformers.models.auto.processing_auto import processor_class_from_name

    try:
        cls = processor_class_from_name(class_name)
    except (ImportError, AttributeError, ValueError):
        return None
    parts = getattr(cls, "__module__", "").split(".") if cls is not None else []
    return parts[-2] if len(parts) >= 3 and parts[-3] == "models" else None


#: Image processors implemented only with torchvision -> the PIL processor of the family they
#: subclass, which cuts the same patches (they change only defaults such as the size).
PIL_STAND_INS: dict[str, str] = {
    "MiniMaxM3VLImageProcessor": "Qwen2VLImageProcessorPil",  # Qwen2-VL's, another default size
    # Idefics3's; only its tile cap when splitting pages differs.
    "UltraVBertImageProcessor": "Idefics3ImageProcessorPil",
    # MiniCPM-V 4.6's; only how it sizes slices differs (same pixel and target-size layout).
    "MiniCPMOcrImageProcessor": "MiniCPMV4_6ImageProcessorPil",
}


def image_processor_class(model_type: str) -> type | None:
    """The PIL image processor class of a model type (or its parent), None when it has none."""
    from transformers.models.auto.image_processing_auto import (
        IMAGE_PROCESSOR_MAPPING_NAMES,
        get_image_processor_class_from_name,
    )

    for candidate in _related_types(model_type):
        names = IMAGE_PROCESSOR_MAPPING_NAMES.get(candidate)
        if not names:
            continue
        name = names.get("pil") if isinstance(names, dict) else None
        if not name and isinstance(names, dict):
            name = PIL_STAND_INS.get(names.get("torchvision") or "")
        if name:
            return get_image_processor_class_from_name(name)
        return None  # only a torchvision implementation exists: use generic resizing
    return None


def missing_image_processor(model_type: str) -> str:
    """Why a model type has no usable image processor here, for error messages."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    for candidate in _related_types(model_type):
        names = IMAGE_PROCESSOR_MAPPING_NAMES.get(candidate)
        if isinstance(names, dict) and names.get("torchvision") and not names.get("pil"):
            return (f"its only image processor, {names['torchvision']}, needs torchvision, which "
                    "is not usable with this torch build")
    return ("transformers maps no image processor to it: load a checkpoint folder that ships "
            "its preprocessor files")


#: Feature extractors the checkpoints ship where transformers' auto mapping names another.
SHIPPED_FEATURE_EXTRACTORS: dict[str, str] = {
    # Mapped to the waveform extractor; the model reads stacked filterbanks (input_features).
    "wav2vec2-bert": "SeamlessM4TFeatureExtractor",
}


def feature_extractor_class(model_type: str) -> type | None:
    """The audio feature extractor class of a model type (or its parent), or None."""
    from transformers.models.auto.feature_extraction_auto import (
        FEATURE_EXTRACTOR_MAPPING_NAMES,
        feature_extractor_class_from_name,
    )

    for candidate in _related_types(model_type):
        name = SHIPPED_FEATURE_EXTRACTORS.get(candidate) or FEATURE_EXTRACTOR_MAPPING_NAMES.get(
            candidate)
        if name:
            return feature_extractor_class_from_name(name)
    return None


def vision_config(config: Any) -> Any:
    """The sub-config that describes images (`vision_config`...), or the config itself."""
    for attr in ("vision_config", "image_config", "vision_tower_config", "backbone_config"):
        sub = getattr(config, attr, None)
        if sub is not None and not isinstance(sub, dict):
            return sub
    wrapped = getattr(config, "vlm_config", None)  # retrievers over a whole VLM (ColPali)
    if wrapped is not None and not isinstance(wrapped, dict):
        return vision_config(wrapped)
    return config


def fixed_image_size(config: Any) -> tuple[int, int] | None:
    """(height, width) the model's position embeddings are built for, or None when dynamic."""
    vcfg = vision_config(config)
    # A vision config may wrap a backbone that holds the size (SAM 2's Hiera).
    for cfg in (vcfg, getattr(vcfg, "backbone_config", None), config):
        size = getattr(cfg, "image_size", None)
        if isinstance(size, int) and size > 0:
            return size, size
        pair = isinstance(size, list | tuple) and len(size) == 2
        if pair and all(isinstance(s, int) for s in size):
            return int(size[0]), int(size[1])
    # Multi-scale patch encoders (DepthPro) cut patch_size crops from the image scaled by each
    # ratio: the image is the size at which the smallest ratio leaves one whole patch.
    ratios, patch = getattr(config, "scaled_images_ratios", None), getattr(config, "patch_size",
                                                                          None)
    if isinstance(patch, int) and isinstance(ratios, list | tuple) and ratios and min(ratios) > 0:
        side = round(patch / min(ratios))
        return side, side
    return None


#: Most tiles per side an image-splitting processor cuts a synthetic image into.
MAX_TILES_PER_SIDE = 2


def fitted_image_processor(cls: type, size: tuple[int, int] | None) -> Any:
    """A default image processor of `cls`, emitting the config's fixed image size if it has one.

    Processors whose size is dynamic (`longest_edge`, pixel budgets) keep it, except that a
    longest edge beyond the fixed size (SAM, Pixtral) comes down to it, and a pad size (SAM's
    square canvas) becomes it.
    """
    proc = cls()
    if size is None:
        return _capped(cls, proc)
    height, width = size
    current = _setting(proc, "size")
    tiles = getattr(proc, "max_image_size", None)
    tile = tiles.get("longest_edge") if isinstance(tiles, dict) else None
    kwargs: dict[str, Any] = {}
    if "height" in current and "width" in current:
        kwargs["size"] = {"height": height, "width": width}
    elif "shortest_edge" in current and "longest_edge" not in current:
        kwargs["size"] = {"shortest_edge": min(height, width)}
    elif "shortest_edge" not in current and tile is None and isinstance(
            current.get("longest_edge"), int) and current["longest_edge"] > max(height, width):
        kwargs["size"] = {"longest_edge": max(height, width)}
    elif isinstance(current.get("shortest_edge"), int) and isinstance(
            current.get("longest_edge"), int) and current["shortest_edge"] > min(height, width) \
            and getattr(proc, "merge_size", None) is None:
        # Detection-style edges (800 / 1333) are a budget for photographs, not the tower's
        # size (Mask2Former's Swin: 224): they come down to the fixed size, ratio kept. (Patch
        # grid processors, with a merge size, count pixels under these keys: left alone.)
        shortest = min(height, width)
        kwargs["size"] = {"shortest_edge": shortest, "longest_edge": _multiple(
            shortest * current["longest_edge"] / current["shortest_edge"])}
    for attr in ("pad_size", "crop_size"):
        if {"height", "width"} <= _setting(proc, attr).keys():
            kwargs[attr] = {"height": height, "width": width}
    if isinstance(tile, int):
        # Image-splitting processors (Idefics3) cut tiles of the vision tower's image size; the
        # resized image keeps its default number of tiles per side, at most `MAX_TILES_PER_SIDE`
        # (splitting still runs; ModernVBERT's 4 x 4 + 1 tiles were most of its run).
        side = max(height, width)
        if tile != side:
            kwargs["max_image_size"] = {"longest_edge": side}
        longest = current.get("longest_edge")
        per_side = min(MAX_TILES_PER_SIDE, max(1, longest // tile)) if isinstance(
            longest, int) else None
        if per_side is not None and "size" not in kwargs and side * per_side != longest:
            kwargs["size"] = {"longest_edge": side * per_side}
    return cls(**kwargs) if kwargs else proc


#: Longest image side for a random-weight model whose config fixes no image size. Processor
#: defaults of 640-1333 px are there for real photographs; a tiny random network of a
#: convolutional or detection architecture runs any size, and at those sizes a handful of such
#: models took half of the whole-catalog sweep's time.
SYNTHETIC_MAX_SIDE = 320


def _capped(cls: type, proc: Any) -> Any:
    """`proc` resizing to at most `SYNTHETIC_MAX_SIDE` on the longer side, same size keys; a
    center crop larger than that (Chameleon: 512 px) shrinks with it."""
    current = {k: v for k, v in _setting(proc, "size").items() if v is not None}
    cap = SYNTHETIC_MAX_SIDE
    kwargs: dict[str, Any] = {}
    if "height" in current and "width" in current:
        if shrunk := _within(current, cap):
            kwargs["size"] = shrunk
    elif "shortest_edge" in current and current["shortest_edge"] > cap:
        longest = current.get("longest_edge")
        kwargs["size"] = {"shortest_edge": cap}
        if longest is not None:
            kwargs["size"]["longest_edge"] = _multiple(cap * longest / current["shortest_edge"])
    elif isinstance(getattr(proc, "min_pixels", None), int) and proc.min_pixels > cap * cap:
        # A pixel budget (Emu3: 512^2 to 1024^2) that upscales every image: example images
        # keep their size within it, up to the same cap.
        kwargs["min_pixels"] = (cap // 2) ** 2
        kwargs["max_pixels"] = min(cap * cap, getattr(proc, "max_pixels", None) or cap * cap)
    patch_size = getattr(proc, "patch_size", None)
    patch = dict(patch_size) if patch_size is not None and hasattr(patch_size, "get") else {}
    if isinstance(getattr(proc, "max_patches", None), int) and all(
            isinstance(patch.get(k), int) and patch[k] > 0 for k in ("height", "width")):
        # A patch budget (Pix2Struct: 2048 patches) up to what a cap-sized image holds.
        budget = (cap // patch["height"]) * (cap // patch["width"])
        if 0 < budget < proc.max_patches:
            kwargs["max_patches"] = budget
    if getattr(proc, "do_center_crop", False) and (
            shrunk := _within(_setting(proc, "crop_size"), cap)):
        kwargs["crop_size"] = shrunk
    return cls(**kwargs) if kwargs else proc


def _setting(proc: Any, attr: str) -> dict[str, Any]:
    """A processor's size-like setting (`size`, `crop_size`, `pad_size`) as a dict; {} if unset."""
    return dict(getattr(proc, attr, None) or {})


def _within(hw: dict[str, Any], cap: int) -> dict[str, int] | None:
    """`{"height", "width"}` scaled down so the longer side is at most `cap`, ratio kept; None
    when it already fits (or is not a pair of ints)."""
    height, width = hw.get("height"), hw.get("width")
    if not (isinstance(height, int) and isinstance(width, int)) or max(height, width) <= cap:
        return None
    scale = cap / max(height, width)
    return {"height": _multiple(height * scale), "width": _multiple(width * scale)}


def _multiple(value: float, of: int = 32) -> int:
    """`value` rounded down to a multiple of `of` (strides and patch sizes divide it)."""
    return max(of, int(value) // of * of)


#: Patch-grid settings of image processors that cut patches themselves (Qwen2-VL style) -> the
#: vision config's names for them, in lookup order.
_PATCH_SETTINGS: dict[str, tuple[str, ...]] = {
    "patch_size": ("patch_size",),
    "temporal_patch_size": ("temporal_patch_size",),
    "merge_size": ("spatial_merge_size", "merge_size"),
}


def fit_color_palette(proc: Any, config: Any) -> Any:
    """A colour-quantizing processor (ImageGPT) with the palette and grid a checkpoint ships.

    Such models read each pixel as the index of its nearest palette colour: the vocabulary is
    the palette plus a start token, the position table one token per pixel of a square image.
    Checkpoints ship a k-means palette; without one, a grid of the same number of colours,
    evenly spaced over the processor's [-1, 1] range, quantizes as well.
    """
    import numpy as np

    vocab, positions = getattr(config, "vocab_size", None), getattr(config, "n_positions", None)
    if not hasattr(proc, "clusters") or proc.clusters is not None or not isinstance(
            vocab, int) or vocab < 2:
        return proc
    colors = vocab - 1
    steps = math.ceil(colors ** (1 / 3) - 1e-9)
    axis = np.linspace(-1.0, 1.0, steps, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    proc.clusters = grid[:colors]
    side = math.isqrt(positions) if isinstance(positions, int) and positions > 0 else 0
    if side * side == positions and "height" in _setting(proc, "size"):
        proc.size = {"height": side, "width": side}
    return proc


def fit_patch_grid(proc: Any, config: Any) -> Any:
    """`proc` cutting patches of the config's patch grid: its flattened patches must have the
    width the patch embedding reads (checkpoints ship processors set so)."""
    vcfg = vision_config(config)
    for attr, names in _PATCH_SETTINGS.items():
        current = getattr(proc, attr, None)
        wanted = next((getattr(vcfg, n) for n in names
                       if isinstance(getattr(vcfg, n, None), int)), None)
        if wanted is None and attr == "temporal_patch_size" and isinstance(
                getattr(vcfg, "patch_size", None), int):
            wanted = 1  # a tower with no temporal patch embeds single frames
        if isinstance(current, int) and not isinstance(current, bool) and wanted is not None:
            setattr(proc, attr, wanted)
    return proc


def fit_tower_sizes(proc: Any, config: Any) -> Any:
    """`proc` resizing for each further image tower at that tower's fixed size: a processor's
    `<name>_size` (DeepSeek-VL hybrid's `high_res_size`) feeds the `<name>_vision_config`."""
    for key in getattr(config, "sub_configs", None) or {}:
        name = key.removesuffix("_vision_config")
        size = getattr(getattr(config, key, None), "image_size", None)
        current = _setting(proc, f"{name}_size")
        if name != key and isinstance(size, int) and "height" in current and "width" in current:
            setattr(proc, f"{name}_size", {"height": size, "width": size})
    return proc


#: Written into the stand-in tokenizer's saved config, so that a checkpoint saved with it is
#: recognised when loaded back (its ids must still be kept inside the model's vocabulary).
STAND_IN_MARK = "skillsets_stand_in"


def _synthetic_tokenizer() -> Any:
    from transformers import ByT5Tokenizer

    tokenizer = ByT5Tokenizer()
    tokenizer.init_kwargs[STAND_IN_MARK] = True
    return tokenizer


def is_stand_in(tokenizer: Any) -> bool:
    """True for the byte-level stand-in tokenizer, built here or loaded from a saved folder."""
    return bool(getattr(tokenizer, "init_kwargs", {}).get(STAND_IN_MARK))


def _saved_stand_in(path: Path) -> Any:
    """The stand-in tokenizer saved in `path`, or None when the folder holds another one.

    Loaded by its own class: AutoTokenizer overrides the saved class for model types whose Hub
    files name a wrong one (hyperclovax, fuyu...), which would lose the stand-in's bytes.
    """
    import json

    from transformers import ByT5Tokenizer

    config_file = path / "tokenizer_config.json"
    try:
        saved = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(saved, dict) and saved.get(STAND_IN_MARK)):
        return None
    return ByT5Tokenizer.from_pretrained(path, local_files_only=True)


def _pretrained(loader: Any, path: Path) -> Any:
    try:
        return loader.from_pretrained(path, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the checkpoint ships no such component; the caller checks what it needs


def _reads_prompt(entry: CatalogEntry, config: Any) -> bool:
    """Audio language models read their features inside a text prompt of placeholder tokens,
    whatever their task (an audio LM's hidden states as features)."""
    return entry.modality == "audio" and find_config_value(
        config, PLACEHOLDER_KEYS["audio"]) is not None


def build_preprocessors(entry: CatalogEntry, config: Any, source: Path | None) -> Preprocessors:
    """The preprocessing objects for a skill (see the module docstring)."""
    reads_text = ("text" in entry.modality or entry.task in TEXT_OUTPUT_TASKS
                  or _reads_prompt(entry, config))
    reads_image = any(m in entry.modality for m in ("image", "video"))
    reads_audio = "audio" in entry.modality
    if source is not None:
        return _from_files(entry, config, source, reads_text, reads_image, reads_audio)
    pre = Preprocessors(synthetic=True)
    if reads_text:
        pre.tokenizer = _synthetic_tokenizer()
    if reads_image:
        cls = image_processor_class(entry.model_type)
        if cls is not None:
            pre.image_processor = fit_color_palette(fit_patch_grid(
                fitted_image_processor(cls, fixed_image_size(config)), config), config)
            pre.image_processor = fit_tower_sizes(pre.image_processor, config)
    if reads_audio:
        cls = feature_extractor_class(entry.model_type)
        if cls is not None:
            pre.feature_extractor = _fit_feature_extractor(cls(), config)
    return pre


def _fit_feature_extractor(extractor: Any, config: Any) -> Any:
    """Match a default feature extractor to the config's mel bins and fusion setting."""
    if getattr(extractor, "truncation", None) == "fusion" and _find_attr(
            config, "enable_fusion") is False:
        # Fused extractors stack 4 mel views per clip; an unfused encoder reads one (CLAP).
        extractor.truncation = "rand_trunc"
    mel = _find_attr(config, "num_mel_bins")
    if isinstance(mel, int) and getattr(extractor, "feature_size", mel) != mel:
        try:
            return type(extractor)(feature_size=mel)
        except TypeError:  # an extractor with a fixed mel count
            return extractor
    return extractor


def _find_attr(config: Any, name: str) -> Any:
    """`name` on the config or on its first sub-config that has it: the audio ones first, then
    any nested one, level by level (a speech LM's recogniser sits at `audio_config.asr_config`)."""
    value = getattr(config, name, None)
    if value is not None:
        return value
    for attr in ("audio_config", "encoder_config", "speech_config", "encoder"):
        sub = getattr(config, attr, None)
        if sub is not None and getattr(sub, name, None) is not None:
            return getattr(sub, name)
    level = [config]
    for _ in range(3):
        level = [v for c in level for v in vars(c).values() if hasattr(v, "to_dict")
                 and hasattr(v, "model_type")]
        found = next((getattr(c, name) for c in level if getattr(c, name, None) is not None),
                     None)
        if found is not None:
            return found
    return None


def _from_files(
    entry: CatalogEntry, config: Any, path: Path, reads_text: bool, reads_image: bool,
    reads_audio: bool,
) -> Preprocessors:
    from transformers import AutoFeatureExtractor, AutoImageProcessor, AutoProcessor, AutoTokenizer

    pre = Preprocessors(synthetic=False)
    if reads_text:
        pre.tokenizer = _saved_stand_in(path) or _pretrained(AutoTokenizer, path)
        pre.synthetic = is_stand_in(pre.tokenizer)
    if reads_image:
        pre.image_processor = _pretrained(AutoImageProcessor, path)
    if reads_audio:
        pre.feature_extractor = _pretrained(AutoFeatureExtractor, path)
    # A folder saved with the stand-in tokenizer holds no real processor (the skill that saved
    # it had none); a combined processor cannot be built over it (it lacks the image tokens).
    if sum((reads_text, reads_image, reads_audio)) > 1 and not (reads_text and pre.synthetic):
        pre.processor = _pretrained(AutoProcessor, path)
    # A checkpoint saved without some preprocessing files (weights only) still runs: the
    # missing parts are built as for random weights, and the skill says so in its notes.
    fallback = build_preprocessors(entry, config, None)
    for attr in ("tokenizer", "image_processor", "feature_extractor"):
        if getattr(pre, attr) is None and getattr(fallback, attr) is not None:
            setattr(pre, attr, getattr(fallback, attr))
            what = attr.replace("_", " ")
            pre.notes.append(f"no {what} files in {path}; built one without files")
            if attr == "tokenizer":
                pre.synthetic = True  # byte-level ids must be kept inside the vocabulary
    for note in pre.notes:
        log.warning("%s: %s", entry.model_type, note)
    return pre
