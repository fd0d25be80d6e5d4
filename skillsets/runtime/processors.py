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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillsets.catalog import CatalogEntry

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
    """The type itself, then the type whose module defines it (clip_vision_model -> clip)."""
    from transformers.models.auto.configuration_auto import SPECIAL_MODEL_TYPE_TO_MODULE_NAME

    parent = SPECIAL_MODEL_TYPE_TO_MODULE_NAME.get(model_type)
    return [model_type] + ([parent] if parent and parent != model_type else [])


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
        if name:
            return get_image_processor_class_from_name(name)
        return None  # only a torchvision implementation exists: use generic resizing
    return None


def feature_extractor_class(model_type: str) -> type | None:
    """The audio feature extractor class of a model type (or its parent), or None."""
    from transformers.models.auto.feature_extraction_auto import (
        FEATURE_EXTRACTOR_MAPPING_NAMES,
        feature_extractor_class_from_name,
    )

    for candidate in _related_types(model_type):
        name = FEATURE_EXTRACTOR_MAPPING_NAMES.get(candidate)
        if name:
            return feature_extractor_class_from_name(name)
    return None


def vision_config(config: Any) -> Any:
    """The sub-config that describes images (`vision_config`...), or the config itself."""
    for attr in ("vision_config", "image_config", "vision_tower_config", "backbone_config"):
        sub = getattr(config, attr, None)
        if sub is not None and not isinstance(sub, dict):
            return sub
    return config


def fixed_image_size(config: Any) -> tuple[int, int] | None:
    """(height, width) the model's position embeddings are built for, or None when dynamic."""
    for cfg in (vision_config(config), config):
        size = getattr(cfg, "image_size", None)
        if isinstance(size, int) and size > 0:
            return size, size
        pair = isinstance(size, list | tuple) and len(size) == 2
        if pair and all(isinstance(s, int) for s in size):
            return int(size[0]), int(size[1])
    return None


def fitted_image_processor(cls: type, size: tuple[int, int] | None) -> Any:
    """A default image processor of `cls`, emitting the config's fixed image size if it has one.

    Processors whose size is dynamic (`longest_edge`, pixel budgets) are left as they are.
    """
    proc = cls()
    if size is None:
        return proc
    height, width = size
    current = dict(getattr(proc, "size", None) or {})
    kwargs: dict[str, Any] = {}
    if "height" in current and "width" in current:
        kwargs["size"] = {"height": height, "width": width}
    elif "shortest_edge" in current and "longest_edge" not in current:
        kwargs["size"] = {"shortest_edge": min(height, width)}
    crop = dict(getattr(proc, "crop_size", None) or {})
    if "height" in crop and "width" in crop:
        kwargs["crop_size"] = {"height": height, "width": width}
    return cls(**kwargs) if kwargs else proc


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


def _pretrained(loader: Any, path: Path) -> Any:
    try:
        return loader.from_pretrained(path, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the checkpoint ships no such component; the caller checks what it needs


def build_preprocessors(entry: CatalogEntry, config: Any, source: Path | None) -> Preprocessors:
    """The preprocessing objects for a skill (see the module docstring)."""
    reads_text = "text" in entry.modality or entry.task in TEXT_OUTPUT_TASKS
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
            pre.image_processor = fitted_image_processor(cls, fixed_image_size(config))
    if reads_audio:
        cls = feature_extractor_class(entry.model_type)
        if cls is not None:
            pre.feature_extractor = _fit_feature_extractor(cls(), config)
    return pre


def _fit_feature_extractor(extractor: Any, config: Any) -> Any:
    """Match a default feature extractor to the config's mel bins."""
    mel = _find_attr(config, "num_mel_bins")
    if isinstance(mel, int) and getattr(extractor, "feature_size", mel) != mel:
        try:
            return type(extractor)(feature_size=mel)
        except TypeError:  # an extractor with a fixed mel count
            return extractor
    return extractor


def _find_attr(config: Any, name: str) -> Any:
    """`name` on the config or on its first sub-config that has it."""
    value = getattr(config, name, None)
    if value is not None:
        return value
    for attr in ("audio_config", "encoder_config", "speech_config", "encoder"):
        sub = getattr(config, attr, None)
        if sub is not None and getattr(sub, name, None) is not None:
            return getattr(sub, name)
    return None


def _from_files(
    entry: CatalogEntry, config: Any, path: Path, reads_text: bool, reads_image: bool,
    reads_audio: bool,
) -> Preprocessors:
    from transformers import AutoFeatureExtractor, AutoImageProcessor, AutoProcessor, AutoTokenizer

    pre = Preprocessors(synthetic=False)
    if reads_text:
        pre.tokenizer = _pretrained(AutoTokenizer, path)
        pre.synthetic = is_stand_in(pre.tokenizer)
    if reads_image:
        pre.image_processor = _pretrained(AutoImageProcessor, path)
    if reads_audio:
        pre.feature_extractor = _pretrained(AutoFeatureExtractor, path)
    if sum((reads_text, reads_image, reads_audio)) > 1:
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
