"""Where a skill's weights come from: files on disk, or a seeded random model from a tiny config.

Nothing is ever downloaded: a model id is looked up in the local HuggingFace cache only
(`local_files_only=True`, with `HF_HUB_OFFLINE=1` set by `skillsets.runtime`).
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillsets.catalog import CatalogEntry
from skillsets.runtime.errors import SkillUnavailableError

_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run, and where its weights came from.

    Attributes:
        model: The torch module, in eval mode, on CPU.
        config: Its config.
        weights: `pretrained:<path>` or `random:<ConfigClass>`.
        source: Directory of the pretrained files (processor files live there too), or None.
    """

    model: Any
    config: Any
    weights: str
    source: Path | None


def find_weights(model_name: str | None) -> Path | None:
    """The local directory holding `model_name`'s files, or None when nothing is on disk.

    Args:
        model_name: A directory with a `config.json`, a model id already in the HF cache, or a
            model type name (`bert`), which has no files and gives None.

    Raises:
        SkillUnavailableError: `model_name` is written as a path (has a `/` and exists
            partially, or starts with `.`, `~` or `/`) but holds no `config.json`.
    """
    if not model_name:
        return None
    path = Path(model_name).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path.resolve()
    if model_name.startswith((".", "~", "/")) or path.exists():
        raise SkillUnavailableError(
            f"no config.json in {model_name!r}: pass a directory saved with save_pretrained(), "
            "a model id already in the HuggingFace cache, or a model type for random weights"
        )
    if not _REPO_ID_RE.match(model_name):
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        cached = Path(snapshot_download(model_name, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    return cached if (cached / "config.json").is_file() else None


def model_class(entry: CatalogEntry) -> type:
    """The concrete model class of an entry's task (`BertModel`), from wherever transformers
    defines it (a few are not exported at the top level)."""
    import transformers
    from transformers.models.auto.configuration_auto import model_type_to_module_name

    if not entry.model_class:
        raise SkillUnavailableError(
            f"{entry.model_type}: transformers maps no model class to task {entry.task!r}"
        )
    cls = getattr(transformers, entry.model_class, None)
    if cls is not None:
        return cls
    module = importlib.import_module(
        f"transformers.models.{model_type_to_module_name(entry.model_type)}"
    )
    cls = getattr(module, entry.model_class, None)
    if cls is None:
        raise SkillUnavailableError(
            f"{entry.model_type}: class {entry.model_class} is not defined by transformers "
            f"{transformers.__version__}"
        )
    return cls


def _check_dependencies(exc: ImportError, model_type: str) -> SkillUnavailableError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SkillUnavailableError(
        f"{model_type} needs a library that is not installed: {first} (torchvision, timm and "
        "torchaudio wheels on PyPI are CUDA builds that do not load beside a CPU-only torch; "
        "natten, detectron2 and essentia publish no wheel for this platform)"
    )


@contextlib.contextmanager
def missing_library(model_type: str) -> Iterator[None]:
    """Turn an ImportError raised inside (a model or processor needing an optional library)
    into a `SkillUnavailableError` that names the model type and the library."""
    try:
        yield
    except ImportError as exc:
        raise _check_dependencies(exc, model_type) from exc


def load_pretrained(entry: CatalogEntry, path: Path) -> LoadedModel:
    """Load the entry's task class from local files, safetensors only, no remote code."""
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config = AutoConfig.from_pretrained(path, trust_remote_code=False, local_files_only=True)
    # Some types reuse another type's config class and save under its name (gpt-sw3's
    # checkpoints say "gpt2"): the config class, not the saved name, says whose model it is.
    if config.model_type != entry.model_type and type(config) is not CONFIG_MAPPING[
            entry.model_type] and not _is_own_part(entry.model_type, type(config)):
        raise SkillUnavailableError(
            f"{path} holds a {config.model_type!r} model, not {entry.model_type!r}: use the "
            f"hf_{config.model_type.replace('-', '_')} skillset for it"
        )
    if not any(path.glob("*.safetensors")):
        raise SkillUnavailableError(
            f"{path} has no *.safetensors file; only safetensors weights are loaded "
            "(convert the checkpoint with safetensors first)"
        )
    cls = model_class(entry)
    try:
        model = cls.from_pretrained(path, config=config, use_safetensors=True,
                                    local_files_only=True)
    except ImportError as exc:
        raise _check_dependencies(exc, entry.model_type) from exc
    return LoadedModel(model.eval(), model.config, f"pretrained:{path}", path)


def _is_own_part(model_type: str, config_class: type) -> bool:
    """True when `config_class` is the class of one of the type's own sub-configs: a task class
    that runs one part of a composite (Sam3TrackerModel runs sam3_video's tracker_config)
    saves that part's config, which this type's skillset loads back."""
    from transformers import PreTrainedConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        default = CONFIG_MAPPING[model_type]()
    except (TypeError, ValueError):  # a default config that does not build
        return False
    return any(type(value) is config_class for value in vars(default).values()
               if isinstance(value, PreTrainedConfig))


def build_random(entry: CatalogEntry, seed: int) -> LoadedModel:
    """A random-weight model of the entry's task class, from the type's tiny config, seeded."""
    import torch

    from skillsets.runtime.tiny_config import tiny_config

    config = tiny_config(entry.model_type)
    cls = model_class(entry)
    torch.manual_seed(seed)
    try:
        model = cls._from_config(config)
    except ImportError as exc:
        raise _check_dependencies(exc, entry.model_type) from exc
    _set_default_language(model)
    _complete_generation_config(model)
    _override_generation_config(model, entry.model_type)
    return LoadedModel(model.eval(), model.config, f"random:{type(config).__name__}", None)


def _override_generation_config(model: Any, model_type: str) -> None:
    """Install the generation config a checkpoint would ship, where the tiny-config overrides
    give one (Bark's stage layouts)."""
    from skillsets.runtime.tiny_overrides import TINY_OVERRIDES

    override = TINY_OVERRIDES.get(model_type)
    if override is None or override.generation is None:
        return
    from transformers import GenerationConfig

    path, values = override.generation
    module, _, class_name = path.rpartition(".")
    specific = getattr(importlib.import_module(module), class_name)(**values)
    # What from_pretrained gives: a plain GenerationConfig read from the class's JSON form.
    model.generation_config = GenerationConfig.from_dict(specific.to_dict())


def _complete_generation_config(model: Any) -> None:
    """Fill what a checkpoint's generation_config.json would say: the token decoding starts
    from (encoder-decoders, transducers) and the padding token of batched generation."""
    from skillsets.runtime.prepare import find_config_value

    gen = getattr(model, "generation_config", None)
    if gen is None:
        return
    # Generation configs of non-autoregressive decoders (block diffusion) have no start token.
    if getattr(gen, "decoder_start_token_id", 0) is None and gen.bos_token_id is None:
        gen.decoder_start_token_id = find_config_value(
            model.config, ("decoder_start_token_id", "bos_token_id", "pad_token_id",
                           "blank_token_id")) or 0
    if gen.pad_token_id is None:
        gen.pad_token_id = find_config_value(model.config, ("pad_token_id", "eos_token_id"))


def _set_default_language(model: Any) -> None:
    """X-MOD routes every input through a language adapter: pick the config's first language
    (a checkpoint says which; a random model has no preference)."""
    languages = getattr(model.config, "languages", None)
    if hasattr(model, "set_default_language") and languages:
        model.set_default_language(languages[0])


def load_model(entry: CatalogEntry, model_name: str | None, seed: int = 0) -> LoadedModel:
    """Pretrained weights when `model_name` is on disk, a seeded random model otherwise."""
    path = find_weights(model_name)
    if path is not None:
        return load_pretrained(entry, path)
    return build_random(entry, seed)
