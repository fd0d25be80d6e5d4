"""The model class inventory: every task head class transformers maps a model type to, and
whether each loads and runs a forward pass on the skillset's inputs.

A head loads with `from_pretrained` from the folder the round trip saved the skillset's model to,
as a user loads a head from a checkpoint of the type: the shared weights come from disk and only
the head's own layers are initialised (also 2-50x faster than building every layer at random).
A head that checkpoint cannot give (its layout differs from the saved class's) is built from the
type's small config instead, and `via` says which way it was built.

A head failing here does not fail the skillset (its primary task is validated by the smoke run);
the inventory tells what else a user could load for the type, and what would break.
"""

from __future__ import annotations

import functools
import inspect
import time
from dataclasses import asdict, dataclass
from typing import Any

from skillsets.validation.outputs import first_non_finite, flatten

#: Mapping (short name) whose heads take a `(batch, choices, sequence)` layout.
_MULTIPLE_CHOICE = "MULTIPLE_CHOICE"
_CHOICE_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


@dataclass(frozen=True)
class HeadResult:
    """One head class of a model type.

    Attributes:
        class_name: transformers class (`BertForMaskedLM`).
        mappings: Short mapping names that map the type to it (`MASKED_LM`, `PRETRAINING`).
        loaded: Loaded from the saved checkpoint, or built from the type's small config.
        ran: A forward pass on the skillset's inputs returned finite outputs.
        error: Why it did not load or run (`ErrorType: message`), empty when it did; `not tried`
            when the time budget ran out first.
        seconds: Time spent on it.
        via: `from_pretrained`, or `from_config` (with why from_pretrained could not load it).
    """

    class_name: str
    mappings: tuple[str, ...]
    loaded: bool
    ran: bool
    error: str = ""
    seconds: float = 0.0
    via: str = ""


@functools.cache
def _mappings() -> dict[str, dict[str, str]]:
    from skillsets.facts import model_mappings

    return model_mappings()


def head_classes(model_type: str) -> dict[str, tuple[str, ...]]:
    """Class name -> the mappings (short names) that map `model_type` to it, in mapping order."""
    heads: dict[str, list[str]] = {}
    for mapping, table in _mappings().items():
        names = table.get(model_type) or ()
        # A mapping may name several classes for one type (a tuple): each is a head.
        for class_name in (names,) if isinstance(names, str) else names:
            heads.setdefault(class_name, []).append(mapping)
    return {name: tuple(maps) for name, maps in heads.items()}


def take_inventory(
    model_type: str,
    config: Any,
    inputs: dict[str, Any],
    *,
    known: dict[str, tuple[bool, bool, str]] | None = None,
    budget_s: float | None = None,
    checkpoint: str | None = None,
) -> list[HeadResult]:
    """Load and run every head class of `model_type`.

    Args:
        model_type: The transformers model type.
        config: The small config the skillset's model was built from (a copy is used per head
            built from the config).
        inputs: The skillset's prepared inputs for batch size 1 (only the arguments a head's
            `forward` accepts are passed).
        known: Results already established elsewhere (the skillset's own class), by class name:
            `(loaded, ran, error)`; those classes are not built again.
        budget_s: Stop building heads after this many seconds; the rest are `not tried`.
        checkpoint: Folder holding the skillset's model saved with `save_pretrained`; heads
            load from it first. None = build every head from the config.
    """
    import transformers

    known = known or {}
    started = time.perf_counter()
    results = []
    for class_name, mappings in head_classes(model_type).items():
        if class_name in known:
            loaded, ran, error = known[class_name]
            results.append(HeadResult(class_name, mappings, loaded, ran, error))
            continue
        if budget_s is not None and time.perf_counter() - started > budget_s:
            results.append(
                HeadResult(class_name, mappings, False, False, "not tried (inventory time budget)")
            )
            continue
        t0 = time.perf_counter()
        loaded, ran, error, via = _try_head(
            transformers, class_name, mappings, config, inputs, checkpoint
        )
        results.append(
            HeadResult(class_name, mappings, loaded, ran, error, time.perf_counter() - t0, via)
        )
    return results


def _try_head(
    transformers: Any,
    class_name: str,
    mappings: tuple[str, ...],
    config: Any,
    inputs: dict[str, Any],
    checkpoint: str | None,
) -> tuple[bool, bool, str, str]:
    """(loaded, ran, error, via) for one head class."""
    import torch

    cls = getattr(transformers, class_name, None)
    if cls is None:
        return False, False, f"AttributeError: transformers has no {class_name}", ""
    try:
        model, via = _build_head(cls, config, checkpoint)
        model.eval()
    except Exception as exc:  # each head's failure is a fact of the inventory, not a crash of it
        return False, False, _describe(exc), "from_config"
    try:
        kwargs = _head_inputs(model, mappings, config, inputs)
        with torch.inference_mode():
            output = model(**kwargs)
    except Exception as exc:  # as above: recorded per head
        return True, False, _describe(exc), via
    bad = first_non_finite(flatten(output))
    if bad:
        return True, False, f"NonFiniteOutput: {bad}", via
    return True, True, "", via


def _build_head(cls: Any, config: Any, checkpoint: str | None) -> tuple[Any, str]:
    """The head loaded from `checkpoint`, else built from a copy of `config`; and how."""
    import copy

    from transformers.utils import logging as hf_logging

    why = ""
    if checkpoint is not None and hasattr(cls, "from_pretrained"):
        # Every head's load report lists the head layers it initialised: expected here, noise in
        # a sweep's log.
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            # The small config itself, not the folder's config.json re-read as this head's
            # config class: a head of another class (JevForDecision for qwen2) would fill
            # its own full-size defaults.
            model = cls.from_pretrained(checkpoint, config=copy.deepcopy(config))
            return model, "from_pretrained"
        except Exception as exc:  # the checkpoint's layout may not fit this head: build it
            why = f" (from_pretrained: {_describe(exc)[:200]})"
        finally:
            hf_logging.set_verbosity(verbosity)
    copied = copy.deepcopy(config)
    model = cls._from_config(copied) if hasattr(cls, "_from_config") else cls(copied)
    return model, "from_config" + why


def _head_inputs(
    model: Any, mappings: tuple[str, ...], config: Any, inputs: dict[str, Any]
) -> dict[str, Any]:
    import torch

    params = inspect.signature(model.forward).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in inputs.items() if takes_any or k in params}
    if _MULTIPLE_CHOICE in mappings:
        kwargs = {
            k: v.unsqueeze(1).expand(-1, 2, *v.shape[1:])
            if k in _CHOICE_INPUTS and torch.is_tensor(v)
            else v
            for k, v in kwargs.items()
        }
    wants_decoder = "decoder_input_ids" in params and "decoder_input_ids" not in kwargs
    if (
        getattr(config, "is_encoder_decoder", False)
        and wants_decoder
        and "decoder_inputs_embeds" not in kwargs
    ):
        start = getattr(config, "decoder_start_token_id", None)
        if start is None:
            start = getattr(config, "pad_token_id", None) or 0
        batch = next((v.shape[0] for v in kwargs.values() if torch.is_tensor(v) and v.ndim), 1)
        kwargs["decoder_input_ids"] = torch.full((batch, 1), int(start), dtype=torch.long)
    return kwargs


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def as_details(results: list[HeadResult]) -> dict[str, Any]:
    """JSON-ready summary for a record's details: counts and one row per head."""
    return {
        "heads": len(results),
        "loaded": sum(r.loaded for r in results),
        "ran": sum(r.ran for r in results),
        "classes": [
            {**asdict(r), "mappings": list(r.mappings), "seconds": round(r.seconds, 3)}
            for r in results
        ],
    }
