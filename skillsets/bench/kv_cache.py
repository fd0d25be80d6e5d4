"""Quantized KV cache: the memory a decoder's key/value cache takes at its longest context, the
time per output token, and how often the next-token choice stays the default cache's.

transformers' `QuantizedCache` (the KIVI scheme: keys and values quantized in groups of
`Q_GROUP_SIZE`, the newest `RESIDUAL_LENGTH` tokens kept at full precision until they are
flushed) with the optimum-quanto backend, at 4 and 2 bits, against the default `DynamicCache`.
quanto rather than HQQ: both install beside the pinned torch, quanto is the backend transformers
documents first and needs no extra dependency beyond itself (HQQ brings einops and termcolor).

One measurement per cache (`measure_kv_cache`):

1. the prompt (`context - output_tokens + 1` seeded random token ids) is run once to fill the
   cache; then `output_tokens - 1` decode steps bring it to exactly `context` tokens, the
   model's longest (gpt2: 1024);
2. the default cache decodes greedily; the quantized ones are fed the default cache's tokens
   (teacher forcing), so each step's logits are compared on the same context. `generate()` has
   no teacher forcing, hence the hand-written loop (a forward per token with the cache passed
   through, as `generate` does);
3. `kv_cache_memory`: the bytes the cache holds at the end (quantized states by their packed
   storage, the full-precision residual by its own); `time_per_output_token`: median decode step;
   `top1_agreement`: share of the `output_tokens` next-token arg-maxes (the prefill's and each
   step's) equal to the default cache's. The prefill's always agrees: a quantized cache
   returns the states it was just given on its first update.

With random weights (`size='reference'`, `'tiny'`) the logits are nearly flat, so a small error
flips the arg-max and agreement is a weak signal; a checkpoint (`--checkpoint`) makes it mean
something. Rows say which weights they measured (`weights`).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from warehouse.records import ResultRecord

#: Cache labels (stored as `precision`, with `benchmark='kv_cache'`) and their bits (None: the
#: default full-precision cache).
KV_CACHES: dict[str, int | None] = {"kv-default": None, "kv-int4": 4, "kv-int2": 2}
#: transformers' QuantizedCache backend used.
BACKEND = "quanto"
#: Tokens per scale and zero point, and full-precision tokens kept: transformers' defaults.
Q_GROUP_SIZE = 64
RESIDUAL_LENGTH = 128
#: Metrics of the KV cache benchmark and their units.
KV_METRIC_UNITS: dict[str, str] = {
    "kv_cache_memory": "bytes",  # the cache's bytes at `prompt_tokens + output_tokens - 1`
    "time_per_output_token": "ms",  # median decode step with this cache
    "top1_agreement": "ratio",  # next-token arg-maxes equal to the default cache's
    "prompt_tokens": "count",
    "output_tokens": "count",
}
WEAK_AGREEMENT_NOTE = (
    "random weights: the logits are nearly flat, so top1_agreement is a weak signal; "
    "measure a checkpoint for a meaningful one"
)


@dataclass(frozen=True)
class KvCacheResult:
    """One cache's measurement.

    Attributes:
        label: A `KV_CACHES` key.
        storage: What the cache stores (`f32`, `int4:quanto:g64:r128`).
        cache_bytes: Bytes the cache holds at the end (`kv_cache_memory`).
        context_tokens: Tokens in the cache at the end.
        step_ms: Each decode step's wall time, in ms.
        top1_agreement: Share of next-token arg-maxes equal to the default cache's (1.0 for it).
        tokens: The tokens fed after the prompt (the default cache's greedy choices).
    """

    label: str
    storage: str
    cache_bytes: int
    context_tokens: int
    step_ms: list[float]
    top1_agreement: float
    tokens: list[int]

    @property
    def time_per_output_token(self) -> float:
        """Median decode step, in ms."""
        return statistics.median(self.step_ms)


def cache_bytes(cache: Any) -> int:
    """Bytes held by a transformers cache's layers: full-precision keys/values and, for a
    quantized cache, its quantized states by their inner tensors (shared storage once)."""
    import torch

    seen: dict[int, Any] = {}

    def size(value: Any) -> int:
        if isinstance(value, tuple | list):
            return sum(size(v) for v in value)
        if isinstance(value, dict):
            return sum(size(v) for v in value.values())
        if not isinstance(value, torch.Tensor):
            return 0
        if type(value) is not torch.Tensor and hasattr(value, "__tensor_flatten__"):
            names, _ = value.__tensor_flatten__()  # quanto: packed data, scale, shift
            return sum(size(getattr(value, name)) for name in names)
        storage = value.untyped_storage()
        if storage.data_ptr() in seen or storage.nbytes() == 0:
            return 0
        seen[storage.data_ptr()] = storage
        return storage.nbytes()

    return sum(
        size(getattr(layer, name, None))
        for layer in cache.layers
        for name in ("keys", "values", "_quantized_keys", "_quantized_values")
    )


def make_cache(label: str, config: Any) -> tuple[Any, str]:
    """(a new cache for `label`, what it stores).

    Raises:
        UnknownNameError: `label` is not a `KV_CACHES` key.
        ImportError: optimum-quanto is missing (the message says how to install it).
    """
    from transformers import DynamicCache, QuantizedCache

    from hardware.names import UnknownNameError

    if label not in KV_CACHES:
        raise UnknownNameError("kv cache", label, KV_CACHES)
    bits = KV_CACHES[label]
    if bits is None:
        return DynamicCache(config=config), "f32"
    cache = QuantizedCache(backend=BACKEND, config=config, nbits=bits, q_group_size=Q_GROUP_SIZE,
                           residual_length=RESIDUAL_LENGTH)
    return cache, f"int{bits}:{BACKEND}:g{Q_GROUP_SIZE}:r{RESIDUAL_LENGTH}"


def longest_context(config: Any, limit: int = 4096) -> int:
    """The longest context the model allows, at most `limit` (`n_positions`,
    `max_position_embeddings`).

    Raises:
        ValueError: the config names no maximum.
    """
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return min(value, limit)
    raise ValueError(
        f"{type(config).__name__} has no n_positions or max_position_embeddings; pass context="
    )


def measure_kv_cache(
    model: Any,
    label: str,
    prompt: Any,
    output_tokens: int,
    reference: KvCacheResult | None = None,
    reference_logits: list[Any] | None = None,
) -> tuple[KvCacheResult, list[Any]]:
    """Fill a `label` cache with `prompt`, decode `output_tokens - 1` steps, measure it.

    Args:
        model: A decoder-only causal LM in eval mode on cpu.
        label: A `KV_CACHES` key.
        prompt: Token ids, shape (1, prompt length).
        output_tokens: Next-token predictions compared (>= 2).
        reference: The default cache's result, whose tokens are fed (teacher forcing); None:
            decode greedily (the default cache's own run).
        reference_logits: The default cache's logits per prediction, for agreement.

    Returns:
        (the result, the logits of each of the `output_tokens` predictions).

    Raises:
        ValueError: `output_tokens` < 2, or a reference without its logits.
    """
    import torch

    if output_tokens < 2:
        raise ValueError(f"output_tokens must be at least 2, got {output_tokens}")
    if (reference is None) != (reference_logits is None):
        raise ValueError("give the reference result and its logits together, or neither")
    cache, storage = make_cache(label, model.config)
    logits: list[torch.Tensor] = []
    tokens: list[int] = []
    steps: list[float] = []
    with torch.inference_mode():
        out = model(input_ids=prompt, cache=cache, use_cache=True)
        logits.append(out.logits[0, -1].float())
        for step in range(output_tokens - 1):
            token = reference.tokens[step] if reference else int(logits[-1].argmax())
            tokens.append(token)
            started = time.perf_counter_ns()
            out = model(input_ids=torch.tensor([[token]]), cache=cache, use_cache=True)
            steps.append((time.perf_counter_ns() - started) / 1e6)
            logits.append(out.logits[0, -1].float())
    if reference_logits is None:
        agreement = 1.0
    else:
        agreement = sum(
            int(a.argmax() == b.argmax()) for a, b in zip(logits, reference_logits, strict=True)
        ) / len(logits)
    result = KvCacheResult(label, storage, cache_bytes(cache), cache.get_seq_length(), steps,
                           agreement, tokens)
    return result, logits


def measure_kv_caches(
    model: Any,
    labels: tuple[str, ...] = tuple(KV_CACHES),
    context: int | None = None,
    output_tokens: int = 64,
    seed: int = 0,
) -> list[KvCacheResult]:
    """Every cache in `labels` at `context` tokens (default: the model's longest, up to 4k),
    the default cache first (the others are compared to it).

    Raises:
        ValueError: `context` leaves no prompt token, or `labels` lacks `kv-default`.
    """
    import torch

    if "kv-default" not in labels:
        raise ValueError(f"labels must include kv-default, the reference; got {labels}")
    context = context or longest_context(model.config)
    prompt_length = context - output_tokens + 1
    if prompt_length < 1:
        raise ValueError(f"context {context} leaves no prompt for {output_tokens} output tokens")
    generator = torch.Generator().manual_seed(seed)
    prompt = torch.randint(0, model.config.vocab_size, (1, prompt_length), generator=generator)
    reference, reference_logits = measure_kv_cache(model, "kv-default", prompt, output_tokens)
    results = [reference]
    for label in labels:
        if label != "kv-default":
            results.append(measure_kv_cache(model, label, prompt, output_tokens, reference,
                                            reference_logits)[0])
    return results


def kv_cache_rows(
    results: list[KvCacheResult],
    *,
    run_id: str,
    environment_id: str,
    model_type: str,
    size: str,
    weights: str | None = None,
    parameters: int | None = None,
) -> list[ResultRecord]:
    """Result rows (`benchmark='kv_cache'`, `hardware='cpu'`, precision = the cache label,
    batch size 1), one per metric of `KV_METRIC_UNITS` per cache."""
    rows = []
    for result in results:
        values = {
            "kv_cache_memory": result.cache_bytes,
            "time_per_output_token": result.time_per_output_token,
            "top1_agreement": result.top1_agreement,
            "prompt_tokens": result.context_tokens - len(result.tokens),
            "output_tokens": len(result.tokens) + 1,
        }
        for metric, value in values.items():
            rows.append(ResultRecord(
                run_id=run_id, environment_id=environment_id, model_type=model_type,
                hardware="cpu", precision=result.label, batch_size=1, benchmark="kv_cache",
                metric=metric, value=float(value), unit=KV_METRIC_UNITS[metric],
                n=len(result.step_ms) if metric == "time_per_output_token" else 1,
                execution_precision=result.storage, size=size, weights=weights,
                parameters=parameters,
            ))
    return rows
