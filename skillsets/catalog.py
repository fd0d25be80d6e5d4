"""The model catalog: one entry per model type the installed transformers has a model class for.

Entries are derived from transformers' own mapping tables and config classes
(`skillsets.facts`, `skillsets.families`), corrected by the one exceptions table
(`skillsets.exceptions_table`), and tiered by `skillsets.tiers`. Deriving imports every config
module (~10 s), so the result is cached in memory and on disk, keyed by the transformers version
and a hash of the modules that decide it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import sys
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from hardware.names import UnknownNameError
from skillsets import exceptions_table, facts, families, tasks, tiers
from skillsets.exceptions_table import EXCEPTIONS
from skillsets.facts import TypeFacts
from skillsets.families import FAMILIES, FAMILY_TASKS
from skillsets.tasks import TASKS
from skillsets.tiers import ALIASES, TIERS, tier_members, tier_of

__all__ = [
    "FAMILIES", "TIERS", "CatalogEntry", "build_catalog", "get_entry", "module_name_for", "select",
]

#: Tensor inputs each modality needs (audio picks `input_features` or `input_values` below).
MODALITY_INPUTS: dict[str, tuple[str, ...]] = {
    "text": ("input_ids", "attention_mask"),
    "image": ("pixel_values",),
    "image-pair": ("pixel_values",),
    "video": ("pixel_values",),
    "image+text": ("input_ids", "attention_mask", "pixel_values"),
    "video+text": ("input_ids", "attention_mask", "pixel_values"),
    "audio": ("input_values",),
    "audio+text": ("input_ids", "attention_mask", "input_values"),
    "time-series": ("past_values", "past_time_features", "past_observed_mask"),
    "trajectory": ("states", "actions", "returns_to_go", "timesteps"),
}
MODALITIES: tuple[str, ...] = tuple(MODALITY_INPUTS)

#: The modality a task's input has, where the task alone decides it.
_TASK_MODALITY: dict[str, str] = {
    **{t: "text" for t in ("text-generation", "text2text-generation", "fill-mask",
                           "text-classification", "token-classification", "question-answering",
                           "text-encoding", "text-to-audio", "text-to-spectrogram")},
    **{t: "audio" for t in ("automatic-speech-recognition", "ctc", "rnnt", "tdt",
                            "audio-classification", "audio-frame-classification", "audio-xvector",
                            "audio-feature-extraction")},
    **{t: "time-series" for t in ("time-series-forecasting", "time-series-classification",
                                  "time-series-regression", "time-series-feature-extraction")},
    "zero-shot-image-classification": "image+text",
    "zero-shot-object-detection": "image+text",
    "image-to-text": "image",
    "image-text-to-text": "image+text",
    "video-classification": "video",
    "keypoint-matching": "image-pair",
    "decision": "trajectory",
    "document-question-answering": "image+text",
}
#: Tasks of the image-text-to-text mapping, which also lists some text-only LMs.
_VLM_TASKS = frozenset({"image-to-text", "image-text-to-text"})
_CATALOG_VERSION = "1"
_DECIDING_MODULES = (facts, families, tasks, tiers, exceptions_table)


@dataclass(frozen=True)
class CatalogEntry:
    """One model type, and how to run it.

    Attributes:
        model_type: transformers model type (`bert`, `xlm-roberta`).
        module_name: Python module / class name of its skillset (`hf_xlm_roberta`).
        family: Architecture family, one of `FAMILIES`.
        task: Primary task, a name from `skillsets.tasks.TASKS`.
        auto_class: The Auto class that loads it for the task (`AutoModelForCausalLM`); empty when
            transformers has none for the task's mapping (then `model_class` is used directly).
        modality: Input modality, one of `MODALITIES`.
        inputs: Tensor inputs the model needs (`input_ids`, `pixel_values`...).
        tier: Smallest priority tier holding it (`critical`, `high`, `medium`, `all`).
        note: Why, for family `other`, components and exceptions; empty otherwise.
        config_class: Name of its config class.
        model_class: The concrete model class the task's mapping names (`BertModel`).
    """

    model_type: str
    module_name: str
    family: str
    task: str
    auto_class: str
    modality: str
    inputs: tuple[str, ...]
    tier: str
    note: str
    config_class: str
    model_class: str = ""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (inputs as a list), as printed by `skillsets catalog --json`."""
        data = asdict(self)
        data["inputs"] = list(self.inputs)
        return data


def module_name_for(model_type: str) -> str:
    """The skillset module name: `hf_` + the type with every non-identifier character as `_`."""
    name = "hf_" + re.sub(r"\W", "_", model_type)
    if not name.isidentifier():
        raise ValueError(f"model type {model_type!r} gives no valid module name ({name!r})")
    return name


def _pick_task(f: TypeFacts, family: str) -> str:
    for name in FAMILY_TASKS[family]:
        if TASKS[name].mapping in f.mappings:
            return name
    # A family whose usual tasks all miss: take the first task the type has at all.
    for spec in TASKS.values():
        if spec.mapping in f.mappings:
            return spec.name
    raise ValueError(f"model type {f.model_type!r} is in no mapping the task registry knows")


def _modality(f: TypeFacts, family: str, task: str) -> str:
    modality = _base_modality(f, family, task)
    # Dual encoders whose vision side reads clips (X-CLIP, VideoPrism) pair videos with texts.
    return "video+text" if modality == "image+text" and f.reads_clips else modality


def _base_modality(f: TypeFacts, family: str, task: str) -> str:
    if task in ("multimodal-lm",) or (family == "multimodal" and task == "feature-extraction"):
        return "image+text" if families.has_vision(f) else "audio+text"
    if task in _VLM_TASKS and not (f.declared_sub_configs or families.has_vision(f)
                                   or families.has_audio(f)):
        # A text-only LM (no towers at all) that transformers lists as image-text-to-text too.
        return "text"
    if task in _TASK_MODALITY:
        return _TASK_MODALITY[task]
    if TASKS[task].mapping in families.IMAGE_MAPPINGS or task == "image-feature-extraction":
        return "image"
    if families.has_audio(f):
        return "audio"
    if families.has_vision(f):
        return "image+text" if families.has_text(f) else "image"
    return "text"


def _inputs(f: TypeFacts, modality: str) -> tuple[str, ...]:
    inputs = MODALITY_INPUTS[modality]
    mel = "num_mel_bins" in f.config_keys or bool(f.sub_configs.keys() & families.AUDIO_SUBCONFIGS)
    if modality.startswith("audio") and mel:
        inputs = tuple("input_features" if i == "input_values" else i for i in inputs)
    return inputs


def derive_entry(
    f: TypeFacts, parent: TypeFacts | None = None, roles: frozenset[str] = frozenset()
) -> CatalogEntry:
    """The catalog entry the rules and the exceptions table give for one type's facts.

    Args:
        f: The type's facts.
        parent: Facts of the type it is a component of, if any.
        roles: Attribute names under which other configs nest this type (`vision_config`...).
    """
    family, note = families.classify(f, parent, roles)
    exc = EXCEPTIONS.get(f.model_type)
    if exc is not None:
        family = exc.family or family
        note = exc.reason
    task = exc.task if exc is not None and exc.task else _pick_task(f, family)
    modality = exc.modality if exc is not None and exc.modality else _modality(f, family, task)
    spec = TASKS[task]
    model_class = f.mappings.get(spec.mapping, "")
    return CatalogEntry(
        model_type=f.model_type,
        module_name=module_name_for(f.model_type),
        family=family,
        task=task,
        auto_class=spec.auto_class if model_class else "",
        modality=modality,
        inputs=_inputs(f, modality),
        tier=tier_of(f.model_type),
        note=note,
        config_class=f.config_class,
        model_class=model_class,
    )


def _transformers_version() -> str:
    """The installed transformers version, read from its `__init__.py` without importing it
    (importing transformers or importlib.metadata costs seconds on a loaded machine)."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("transformers is not installed")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""",
                      Path(spec.origin).read_text(), re.MULTILINE)
    if match is None:
        raise ValueError(f"no __version__ in {spec.origin}")
    return match.group(1)


def _cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(_CATALOG_VERSION.encode())
    for module in (*_DECIDING_MODULES, sys.modules[__name__]):
        digest.update(Path(module.__file__ or "").read_bytes())
    version = _transformers_version()
    return base / "hf-skillsets" / f"catalog-transformers-{version}-{digest.hexdigest()[:16]}.json"


def _load_cached(path: Path) -> dict[str, CatalogEntry] | None:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    names = {f.name for f in fields(CatalogEntry)}
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and r.keys() == names for r in rows
    ):
        return None  # written by another layout of CatalogEntry: rebuild
    return {r["model_type"]: CatalogEntry(**{**r, "inputs": tuple(r["inputs"])}) for r in rows}


def _store(path: Path, catalog: dict[str, CatalogEntry]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps([e.as_dict() for e in catalog.values()], indent=1)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def derive_catalog() -> dict[str, CatalogEntry]:
    """Derive the catalog from the installed transformers (slow; `build_catalog` caches it)."""
    all_facts = facts.gather_facts()
    roles: dict[str, set[str]] = {}
    for f in all_facts.values():
        for attr, sub_type in f.declared_sub_configs.items():
            roles.setdefault(sub_type, set()).add(attr)
    catalog = {
        t: derive_entry(f, all_facts.get(f.parent or ""), frozenset(roles.get(t, ())))
        for t, f in all_facts.items()
    }
    modules = [e.module_name for e in catalog.values()]
    if len(set(modules)) != len(modules):
        raise ValueError("two model types map to the same skillset module name")
    return catalog


@functools.cache
def build_catalog(use_disk_cache: bool = True) -> dict[str, CatalogEntry]:
    """The catalog, keyed by model type, sorted by type.

    Args:
        use_disk_cache: Read and write the on-disk copy under `$XDG_CACHE_HOME/hf-skillsets`
            (keyed by transformers version and the deciding modules' source).
    """
    path = _cache_path() if use_disk_cache else None
    cached = _load_cached(path) if path is not None else None
    if cached is not None:
        return cached
    catalog = derive_catalog()
    if path is not None:
        _store(path, catalog)
    return catalog


def _normalise(name: str) -> str:
    return re.sub(r"[\W_]", "_", name.strip().lower()).removeprefix("hf_")


@functools.cache
def _name_index() -> dict[str, str]:
    index = {_normalise(t): t for t in build_catalog()}
    index.update({_normalise(alias): target for alias, target in ALIASES.items()})
    return index


def get_entry(model_type: str) -> CatalogEntry:
    """The entry for a model type, module name or original-framework name (`xlm_roberta`, `blip2`).

    Raises:
        UnknownNameError: no such type; the message suggests close matches.
    """
    catalog = build_catalog()
    if model_type in catalog:
        return catalog[model_type]
    target = _name_index().get(_normalise(model_type))
    if target is None or target not in catalog:
        raise UnknownNameError("model type", model_type, catalog)
    return catalog[target]


def select(
    priority: str = "all", family: str | None = None, models: list[str] | None = None
) -> list[CatalogEntry]:
    """Entries chosen by tier, family and/or explicit names, sorted by model type.

    Args:
        priority: A tier from `TIERS`; ignored when `models` is given.
        family: Keep only this family (one of `FAMILIES`).
        models: Explicit model types (aliases accepted); each must exist.

    Raises:
        UnknownNameError: an unknown tier, family or model type.
    """
    if family is not None and family not in FAMILIES:
        raise UnknownNameError("family", family, FAMILIES)
    catalog = build_catalog()
    if models:
        chosen = {get_entry(m).model_type: get_entry(m) for m in models}
        entries = list(chosen.values())
    else:
        members = tier_members(priority)
        entries = list(catalog.values()) if members is None else [get_entry(m) for m in members]
    if family is not None:
        entries = [e for e in entries if e.family == family]
    return sorted(entries, key=lambda e: e.model_type)
