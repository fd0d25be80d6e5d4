"""What the installed transformers says about each model type: mappings, config attributes.

Everything the catalog decides is derived from these facts, gathered once from transformers'
own tables (`modeling_auto.*_MAPPING_NAMES`) and from a default instance of each config class.
Gathering imports every config module (seconds), so the catalog caches the result on disk.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

#: Keys whose value counts the experts of a mixture-of-experts layer.
MOE_COUNT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")


@dataclass(frozen=True)
class TypeFacts:
    """Facts about one model type, as the installed transformers states them.

    Attributes:
        model_type: The transformers model type (`bert`, `xlm-roberta`...).
        config_class: Name of its config class.
        mappings: Short mapping name (`CAUSAL_LM`, `MODEL`...) to the model class it maps to.
        config_keys: Names of the default config's top-level non-config attributes.
        sub_configs: Attribute name to model type of each nested config (`vision_config`...).
        is_encoder_decoder: The default config's `is_encoder_decoder`.
        parent: The model type whose module defines this one, when it is a component
            (`clip_vision_model` -> `clip`); None otherwise.
        moe_experts: Largest expert count found in the config and its sub-configs (0 = not MoE).
        config_error: Why the default config could not be built, empty when it could.
        declared_sub_configs: Like `sub_configs`, plus optional ones the config class declares
            but leaves unset by default (gemma4's `audio_config`): they say what the nested
            type is for, not what the default model reads.
        reads_clips: The config or its vision config sets `num_frames`: the vision side reads
            video clips (X-CLIP, VideoPrism), not single images.
    """

    model_type: str
    config_class: str
    mappings: dict[str, str]
    config_keys: frozenset[str]
    sub_configs: dict[str, str] = field(default_factory=dict)
    is_encoder_decoder: bool = False
    parent: str | None = None
    moe_experts: int = 0
    config_error: str = ""
    declared_sub_configs: dict[str, str] = field(default_factory=dict)
    reads_clips: bool = False


def short_mapping_name(name: str) -> str:
    """`MODEL_FOR_CAUSAL_LM_MAPPING_NAMES` -> `CAUSAL_LM`; `MODEL_MAPPING_NAMES` -> `MODEL`."""
    core = name.removesuffix("_MAPPING_NAMES")
    return "MODEL" if core == "MODEL" else core.removeprefix("MODEL_FOR_")


def model_mappings() -> dict[str, dict[str, str]]:
    """Every modeling mapping of the installed transformers, keyed by short name."""
    from transformers.models.auto import modeling_auto

    return {
        short_mapping_name(name): dict(getattr(modeling_auto, name))
        for name in sorted(dir(modeling_auto))
        if name.endswith("_MAPPING_NAMES") and name != "CONFIG_MAPPING_NAMES"
    }


def _first_class(classes: str | list[str] | tuple[str, ...]) -> str:
    """A mapping value may list several classes (DeiT with and without teacher); the first is
    the canonical one."""
    return classes if isinstance(classes, str) else classes[0]


def _expert_count(values: dict[str, Any]) -> int:
    counts = [values[k] for k in MOE_COUNT_KEYS if isinstance(values.get(k), int)]
    return max(counts, default=0)


def gather_facts() -> dict[str, TypeFacts]:
    """Facts for every model type that has a model class in some modeling mapping."""
    import transformers
    from transformers.models.auto.configuration_auto import (
        CONFIG_MAPPING,
        CONFIG_MAPPING_NAMES,
        SPECIAL_MODEL_TYPE_TO_MODULE_NAME,
    )

    mappings = {
        short: {t: _first_class(classes) for t, classes in m.items()}
        for short, m in model_mappings().items()
    }
    types = sorted(set().union(*(set(m) for m in mappings.values())))
    facts: dict[str, TypeFacts] = {}
    previous = transformers.logging.get_verbosity()
    # Default configs of big models warn about token ids outside the vocabulary and such;
    # those warnings say nothing about the catalog and would flood the terminal.
    transformers.logging.set_verbosity_error()
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for model_type in types:
                facts[model_type] = _facts_for(
                    model_type,
                    {short: m[model_type] for short, m in mappings.items() if model_type in m},
                    CONFIG_MAPPING,
                    CONFIG_MAPPING_NAMES,
                    SPECIAL_MODEL_TYPE_TO_MODULE_NAME,
                )
    finally:
        logging.disable(logging.NOTSET)
        transformers.logging.set_verbosity(previous)
    return facts


def _declared_sub_configs(config_class: type) -> dict[str, str]:
    """The sub-configs a config class declares (`sub_configs`), optional ones included.

    An optional tower (gemma4's `audio_config`) is None in the default config but still says
    what the model can read.
    """
    declared: dict[str, str] = {}
    for attr, spec in getattr(config_class, "sub_configs", {}).items():
        model_type = getattr(spec, "model_type", None)
        if not model_type:
            model_type = getattr(getattr(spec, "config_class", None), "model_type", "")
        declared[attr] = str(model_type or "")
    return declared


def _facts_for(
    model_type: str,
    maps: dict[str, str],
    config_mapping: Any,
    config_names: dict[str, str],
    special_modules: dict[str, str],
) -> TypeFacts:
    parent_module = special_modules.get(model_type)
    parent = None
    if parent_module is not None:
        # The parent is the type whose module is the one this component lives in.
        parent = parent_module if parent_module in config_names else None
    config_class = config_names.get(model_type, "")
    try:
        config = config_mapping[model_type]()
    except Exception as exc:  # a default config that fails validation is recorded, not hidden
        return TypeFacts(model_type, config_class, maps, frozenset(), parent=parent,
                         config_error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    values = config.to_dict()
    subs = {k: str(v.get("model_type", "")) for k, v in values.items()
            if isinstance(v, dict) and "model_type" in v}
    experts = max([_expert_count(values)]
                  + [_expert_count(values[k]) for k in subs if isinstance(values.get(k), dict)])
    keys = frozenset(k for k, v in values.items() if k not in subs)
    return TypeFacts(
        model_type=model_type,
        config_class=type(config).__name__,
        mappings=maps,
        config_keys=keys,
        sub_configs=subs,
        is_encoder_decoder=bool(getattr(config, "is_encoder_decoder", False)),
        parent=parent,
        moe_experts=experts,
        declared_sub_configs={**_declared_sub_configs(type(config)), **subs},
        reads_clips="num_frames" in values or "num_frames" in (values.get("vision_config") or {}),
    )
