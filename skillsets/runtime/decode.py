"""Greedy decoding over a decoder-only model's full forward, without a KV cache.

This is how a compiled forward (OpenVINO's, which has no cache) generates: every step runs the
whole sequence, prompt and generated tokens, through `forward` and appends the argmax of the
last position. What the model is conditioned on besides the text (pixel_values, image_grid_thw,
input_features...) is fed unchanged at every step; the inputs that run along the text (integer
or boolean tensors shaped (batch, prompt length, ...): masks, token types) grow by one per step,
with the value transformers' own generate() gives a generated token. Those values
are not restated here: each step calls the model's `_update_model_kwargs_for_generation`, the
method generate() grows its inputs with (attention_mask with ones, token_type_ids with the last
value or PaliGemma's 1, mm_token_type_ids with zeros, Mllama's cross_attention_mask and IDEFICS'
image_attention_mask with their last row), and `GENERATED_TOKEN_VALUES` covers the few inputs a
model grows in its own `prepare_inputs_for_generation` instead. An input that runs along the
text and grows by neither is refused, never fed stale.

The reference this must equal is torch's greedy generate() without cache on the same inputs
(validation compares the tokens); the loop mirrors the part of generate() that decides tokens
here: `min_new_tokens` keeps the end token from winning, and past it a finished row is padded
until every row has finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skillsets.runtime.errors import UnsupportedCombinationError

#: Inputs that run along the text and that transformers grows in a model's own
#: `prepare_inputs_for_generation` (not in `_update_model_kwargs_for_generation`), with the
#: value a generated token gets there.
GENERATED_TOKEN_VALUES: dict[str, int] = {
    # Kosmos2TextForCausalLM.prepare_inputs_for_generation appends False: a generated token
    # is not where an image embedding goes.
    "image_embeds_position_mask": 0,
}


def with_start_ids(model: Any, prepared: dict[str, Any]) -> dict[str, Any]:
    """`prepared` with the `input_ids` generate() starts from when it has none.

    A decoder conditioned on an image alone (GIT) is prepared without text; generate() then
    starts from the bos token (`_maybe_initialize_input_ids_for_generation`), and its forward
    needs those ids, so the prompt forward (a generator's prefill) and the compiled model's
    trace take them too.

    Raises:
        ValueError: the inputs have no `input_ids` and the model no bos token to start from.
    """
    import torch

    if "input_ids" in prepared:
        return prepared
    bos = getattr(getattr(model, "generation_config", None), "bos_token_id", None)
    start = model._maybe_initialize_input_ids_for_generation(
        None, None if bos is None else torch.tensor(bos), dict(prepared))
    return {"input_ids": start, **prepared}


def _token_ids(value: Any) -> list[int]:
    """A generation config's token id entry (None, an int or a list) as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, int) else [int(v) for v in value]


def along_text(inputs: dict[str, Any], ids: Any) -> list[str]:
    """The inputs that run along the prompt `ids`: integer or boolean tensors shaped (batch,
    prompt length, ...), the masks and token types generate() grows. Floating inputs are what
    the text is conditioned on (pixels, audio features), whatever their sizes."""
    import torch

    return [k for k, v in inputs.items()
            if isinstance(v, torch.Tensor) and v.ndim >= 2 and not v.is_floating_point()
            and tuple(v.shape[:2]) == tuple(ids.shape[:2])]


def _grow(model: Any, inputs: dict[str, Any], logits: Any, along: list[str],
          length: int) -> dict[str, Any]:
    """The inputs of the next step: those `along` the text (now `length` long) one token
    longer, the rest as they were, by transformers' own rules
    (`_update_model_kwargs_for_generation`) and `GENERATED_TOKEN_VALUES`."""
    import torch
    from transformers.modeling_outputs import CausalLMOutputWithPast

    try:
        # use_cache=False: IDEFICS grows its image_attention_mask only without a cache.
        grown = model._update_model_kwargs_for_generation(
            CausalLMOutputWithPast(logits=logits), {**inputs, "use_cache": False},
            is_encoder_decoder=False, num_new_tokens=1)
    except AttributeError as exc:
        raise UnsupportedCombinationError(
            f"{type(model).__name__}: generate() grows its inputs from more of the forward's "
            f"outputs than the logits ({exc}); a compiled forward returns only its tensors "
            "(run it on cpu)") from exc
    step = {k: grown[k] for k in inputs}
    for name, value in GENERATED_TOKEN_VALUES.items():
        if name in along and step[name].shape[1] == length:
            tail = torch.full_like(step[name][:, -1:], value)
            step[name] = torch.cat([step[name], tail], dim=1)
    stale = [k for k in along if step[k].shape[1] != length + 1]
    if stale:
        raise UnsupportedCombinationError(
            f"{type(model).__name__}: {stale} run along the text, and neither the model's "
            "_update_model_kwargs_for_generation nor GENERATED_TOKEN_VALUES "
            "(skillsets/runtime/decode.py) says what a generated token gets there (run it on "
            "cpu, or add the value transformers' prepare_inputs_for_generation gives it)")
    return step


def greedy_decode(
    forward: Callable[[dict[str, Any]], dict[str, Any]],
    model: Any,
    prepared: dict[str, Any],
    max_new_tokens: int,
    min_new_tokens: int = 0,
) -> Any:
    """Generate greedily with `forward` run on the whole sequence at every step.

    Args:
        forward: Prepared-style inputs (`input_ids` and the rest, by name) -> outputs with
            `logits` (batch, sequence, vocabulary); it may ignore names it does not take.
        model: The torch model: its generation config (bos, end and pad tokens) and its
            `_update_model_kwargs_for_generation` are read, its weights never run.
        prepared: The prompt's inputs (what `Skill.prepare` returns).
        max_new_tokens: Tokens to append at most.
        min_new_tokens: Steps during which the end token cannot win (generate()'s
            `min_new_tokens`); past them a row that produced it is padded, and decoding stops
            once every row has.

    Returns:
        The token ids, prompt included: (batch, prompt + generated), as generate() returns them.

    Raises:
        UnsupportedCombinationError: an input runs along the text and nothing says how it
            grows, or generate() grows inputs from outputs other than the logits.
        RuntimeError: `forward` returned logits that do not follow the inputs (another batch
            size, or a length that does not grow with the sequence).
    """
    import torch

    inputs = dict(with_start_ids(model, prepared))
    ids = inputs.pop("input_ids")
    generation = getattr(model, "generation_config", None)
    eos = _token_ids(getattr(generation, "eos_token_id", None))
    pad_id = getattr(generation, "pad_token_id", None)
    pad = pad_id if isinstance(pad_id, int) else (eos[0] if eos else 0)
    along = along_text(inputs, ids)
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    previous: int | None = None
    for step in range(max_new_tokens):
        logits = forward({**inputs, "input_ids": ids})["logits"]
        width = logits.shape[1]
        if logits.shape[0] != ids.shape[0] or (
            previous is not None and width != previous + 1 and not width == previous == 1
        ):
            raise RuntimeError(
                f"{type(model).__name__}: the forward returned logits {list(logits.shape)} for "
                f"input_ids {list(ids.shape)} (step {step}; the step before: length "
                f"{previous}): a compiled model that kept a size of the example it was traced "
                "on, and ran other shapes without rejecting them")
        previous = width
        scores = logits[:, -1].float()
        if step < min_new_tokens and eos:
            scores = scores.clone()
            scores[:, eos] = float("-inf")
        token = scores.argmax(-1)
        if eos:
            token = torch.where(done, torch.full_like(token, pad), token)
            done = done | torch.isin(token, torch.tensor(eos, device=token.device))
        inputs = _grow(model, inputs, logits, along, ids.shape[1])
        ids = torch.cat([ids, token[:, None].to(ids.dtype)], dim=1)
        if eos and step + 1 >= min_new_tokens and bool(done.all()):
            break
    return ids
