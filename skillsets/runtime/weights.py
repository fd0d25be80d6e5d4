"""Where a skill's weights come from: a checkpoint on disk, or seeded random weights for the
type's tiny config or its reference (default) config.

Three sizes: `tiny` (the catalog's shrunk config; validation and the demo), `reference` (the
type's default config, `BertConfig()` is bert-base, as optimum-benchmark's `no_weights` builds
it) and `checkpoint` (real weights). Nothing is ever downloaded: a model id is looked up in the
local HuggingFace cache only (`local_files_only=True`, with `HF_HUB_OFFLINE=1` set by
`skillsets.runtime`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillsets.catalog import CatalogEntry
from skillsets.runtime.errors import SkillUnavailableError

#: What a skill can be loaded as (see the module docstring).
SIZES: tuple[str, ...] = ("tiny", "reference", "checkpoint")
#: Bytes per parameter at each precision, for the memory check before allocating.
_PARAMETER_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 4}

_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run, and where its weights came from.

    Attributes:
        model: The torch module, in eval mode, on CPU.
        config: Its config.
        weights: `pretrained:<path>@<digest of the weight files>` or
            `random:<ConfigClass>:<size>`.
        source: Directory of the pretrained files (processor files live there too), or None.
        size: `tiny`, `reference` or `checkpoint`.
        parameters: Parameters of the model.
    """

    model: Any
    config: Any
    weights: str
    source: Path | None
    size: str = "tiny"
    parameters: int = 0


class CheckpointNotFoundError(SkillUnavailableError):
    """A named checkpoint is neither a directory with a config.json nor in the local HF cache."""


class ModelTooLargeError(SkillUnavailableError):
    """The model's weights would not fit the memory budget; nothing was allocated."""


def resolve_checkpoint(name: str) -> Path:
    """The directory of checkpoint `name`: a folder with a `config.json`, or a model id already
    in the local HuggingFace cache. Never a random model, never a download.

    Raises:
        CheckpointNotFoundError: neither, naming both places looked in.
    """
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path.resolve()
    if _REPO_ID_RE.match(name) and not path.exists():
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            cached = Path(snapshot_download(name, local_files_only=True))
        except (LocalEntryNotFoundError, OSError, ValueError):
            cached = None
        if cached is not None and (cached / "config.json").is_file():
            return cached
    from huggingface_hub.constants import HF_HUB_CACHE

    raise CheckpointNotFoundError(
        f"checkpoint {name!r} not found: no directory with a config.json at {path.resolve()}, "
        f"and no model {name!r} in the HuggingFace cache at {HF_HUB_CACHE} (nothing is "
        "downloaded: put the files in a folder, or in the cache with `hf download`)"
    )


def parse_checkpoint(text: str) -> tuple[str, str]:
    """`PATH_OR_ID` or `MODEL_TYPE=PATH_OR_ID` -> (catalog model type, checkpoint directory).

    The model type is read from the checkpoint's config.json when not given.

    Raises:
        CheckpointNotFoundError: the checkpoint resolves to nothing (`resolve_checkpoint`).
        UnknownNameError: the model type is not in the catalog (with a close match).
    """
    from skillsets.catalog import get_entry

    model_type, sep, name = text.partition("=")
    if not sep:
        model_type, name = "", text
    path = resolve_checkpoint(name.strip())
    entry = get_entry(model_type.strip() or checkpoint_model_type(path))
    return entry.model_type, str(path)


def checkpoint_model_type(path: Path) -> str:
    """The `model_type` a checkpoint's config.json declares.

    Raises:
        SkillUnavailableError: the config.json has no model_type.
    """
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    model_type = config.get("model_type")
    if not model_type:
        raise SkillUnavailableError(f"{path / 'config.json'} declares no model_type")
    return str(model_type)


def weights_digest(path: Path) -> str:
    """First 12 hex digits of the sha256 over the checkpoint's `*.safetensors` files (names and
    bytes, in name order): two runs share it only if they loaded the same weights.

    A benchmark task loads one checkpoint up to three times (instantiation, the skill, the fp32
    quality reference), so each file's digest is kept per (file, size, mtime) in the process.
    """
    digest = hashlib.sha256()
    for file in sorted(path.glob("*.safetensors")):
        stat = file.stat()
        digest.update(file.name.encode())
        digest.update(_file_digest(str(file), stat.st_size, stat.st_mtime_ns))
    return digest.hexdigest()[:12]


@functools.cache
def _file_digest(file: str, size: int, mtime_ns: int) -> bytes:
    """sha256 of one file; `size` and `mtime_ns` are part of the cache key, so a rewritten
    file is hashed again."""
    with open(file, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").digest()


def count_parameters(cls: type, config: Any) -> int:
    """Parameters of `cls` built from `config`, counted on the meta device (nothing allocated)."""
    import torch

    with torch.device("meta"):
        model = cls._from_config(config)
    return sum(p.numel() for p in model.parameters())


def check_memory_budget(
    label: str, parameters: int, precision: str, budget_fraction: float
) -> None:
    """Refuse a model whose weights would take more than `budget_fraction` of available memory.

    Raises:
        ModelTooLargeError: with the parameter count, the bytes and the budget.
    """
    import psutil

    need = parameters * _PARAMETER_BYTES.get(precision, 4)
    budget = psutil.virtual_memory().available * budget_fraction
    if need > budget:
        raise ModelTooLargeError(
            f"{label}: {parameters / 1e9:.1f} B parameters, {need / 1e9:.0f} GB at {precision}, "
            f"over the {budget / 1e9:.0f} GB budget ({budget_fraction:.0%} of available memory; "
            "SKILLSETS_MEMORY_BUDGET)"
        )


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
    weights = f"pretrained:{path}@{weights_digest(path)}"
    parameters = sum(p.numel() for p in model.parameters())
    return LoadedModel(model.eval(), model.config, weights, path, "checkpoint", parameters)


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
    parameters = sum(p.numel() for p in model.parameters())
    weights = f"random:{type(config).__name__}:tiny"
    return LoadedModel(model.eval(), model.config, weights, None, "tiny", parameters)


def build_reference(
    entry: CatalogEntry, seed: int, *, precision: str = "fp32", budget_fraction: float = 0.8
) -> LoadedModel:
    """A seeded random-weight model of the type's default config (its reference architecture).

    The parameters are counted on the meta device first, so a model that would not fit the
    memory budget is refused before anything is allocated.

    Raises:
        ModelTooLargeError: it would not fit (`check_memory_budget`).
        SkillUnavailableError: the default config does not build, or a library is missing.
    """
    import torch
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        config = CONFIG_MAPPING[entry.model_type]()
    except (TypeError, ValueError) as exc:
        raise SkillUnavailableError(
            f"{entry.model_type}: its default config does not build ({exc}); use a checkpoint"
        ) from exc
    cls = model_class(entry)
    try:
        parameters = count_parameters(cls, config)
        check_memory_budget(f"{entry.model_type} reference", parameters, precision,
                            budget_fraction)
        torch.manual_seed(seed)
        model = cls._from_config(config)
    except ImportError as exc:
        raise _check_dependencies(exc, entry.model_type) from exc
    _set_default_language(model)
    _complete_generation_config(model)
    weights = f"random:{type(config).__name__}:reference"
    return LoadedModel(model.eval(), model.config, weights, None, "reference", parameters)


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
    from skillsets.runtime.config_keys import find_config_value

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


def load_model(
    entry: CatalogEntry,
    model_name: str | None,
    seed: int = 0,
    *,
    size: str = "tiny",
    precision: str = "fp32",
    budget_fraction: float = 0.8,
) -> LoadedModel:
    """The model of `size`: a checkpoint, the reference config or the tiny config.

    Args:
        entry: The catalog entry.
        model_name: With `size="checkpoint"`, the checkpoint (must resolve, see
            `resolve_checkpoint`); otherwise, as the original skillset interface takes it, files
            used when on disk and a random model of `size` when not.
        seed: Seed of random weights.
        size: `tiny`, `reference` or `checkpoint`.
        precision: The precision the model will run at (sizes the memory check).
        budget_fraction: Share of available memory a reference model may take.

    Raises:
        ValueError: an unknown size, or `checkpoint` without a name.
        CheckpointNotFoundError: `size="checkpoint"` and the name resolves to nothing.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; sizes: {', '.join(SIZES)}")
    if size == "checkpoint":
        if not model_name:
            raise ValueError("size 'checkpoint' needs a checkpoint name (a folder or a model id)")
        return load_pretrained(entry, resolve_checkpoint(model_name))
    path = find_weights(model_name)
    if path is not None:
        return load_pretrained(entry, path)
    if size == "reference":
        return build_reference(entry, seed, precision=precision, budget_fraction=budget_fraction)
    return build_random(entry, seed)
