"""Raw model outputs -> the task's output dict, one post-processor per output kind.

Kinds come from `skillsets.tasks.TaskSpec.output`: `embedding` (pooled vectors), `generated`
(token ids and decoded text), `logits` (scores and argmax labels) and, for everything else, every
tensor the model returned under its own name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillsets.catalog import CatalogEntry


@dataclass
class OutputContext:
    """What post-processors read: the entry, the config, the tokenizer, the prepared inputs."""

    entry: CatalogEntry
    config: Any
    tokenizer: Any
    prepared: dict[str, Any]
    source: Path | None = None


def tensors_of(raw: Any) -> dict[str, Any]:
    """Every top-level tensor of a model output (ModelOutput, dict, tuple or tensor)."""
    import torch

    if isinstance(raw, torch.Tensor):
        return {"output": raw}
    if isinstance(raw, dict) or hasattr(raw, "items"):
        items = raw.items()
    elif isinstance(raw, list | tuple):
        items = ((f"output_{i}", v) for i, v in enumerate(raw))
    else:
        return {}
    out: dict[str, Any] = {}
    for key, value in items:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            out[str(key)] = value.float() if value.is_floating_point() else value
        elif isinstance(value, list | tuple) and value and all(
                isinstance(v, torch.Tensor) for v in value) and key != "past_key_values":
            out[str(key)] = [v.detach().cpu() for v in value]
    return out


def _sentence_pooling(source: Path | None) -> tuple[str, bool] | None:
    """(mode, normalize) from a sentence-transformers checkpoint's modules.json, if any."""
    if source is None or not (source / "modules.json").is_file():
        return None
    modules = json.loads((source / "modules.json").read_text())
    mode, normalize = "mean", False
    for module in modules:
        kind = str(module.get("type", ""))
        if kind.endswith("Pooling"):
            cfg_path = source / str(module.get("path", "")) / "config.json"
            cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
            for candidate in ("cls_token", "max_tokens", "mean_tokens", "lasttoken"):
                if cfg.get(f"pooling_mode_{candidate}"):
                    mode = candidate
                    break
        elif kind.endswith("Normalize"):
            normalize = True
    return mode, normalize


def _masked_mean(hidden: Any, mask: Any) -> Any:
    weights = mask[..., None].to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def pool_embedding(ctx: OutputContext, raw: Any) -> dict[str, Any]:
    """One vector per sample: sentence-transformers pooling when the checkpoint says so,
    else the model's own embeddings/pooled output, else a masked mean of its last hidden state."""
    import torch

    t = tensors_of(raw)
    mask = ctx.prepared.get("attention_mask")
    hidden = t.get("last_hidden_state")
    pooling = _sentence_pooling(ctx.source)
    if pooling is not None and hidden is not None:
        mode, normalize = pooling
        if mode == "cls_token":
            emb = hidden[:, 0]
        elif mode == "max_tokens":
            emb = hidden.masked_fill(mask[..., None] == 0, float("-inf")).max(dim=1).values
        elif mode == "lasttoken":
            emb = hidden[:, -1]
        else:
            emb = _masked_mean(hidden, mask)
        if normalize:
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return {"embedding": emb}
    out: dict[str, Any] = {}
    for key in ("image_embeds", "text_embeds", "audio_embeds", "embeddings", "logits_per_image"):
        if isinstance(t.get(key), torch.Tensor):
            out[key] = t[key]
    token_mask = mask is not None and hidden is not None and mask.shape == hidden.shape[:2]
    if hidden is not None and hidden.ndim == 3 and token_mask:
        out["embedding"] = _masked_mean(hidden, mask.float())
    elif hidden is not None and hidden.ndim >= 3:
        # (batch, tokens, dim) or (batch, channels, h, w): average over the spatial/token axes.
        out["embedding"] = hidden.mean(dim=1) if hidden.ndim == 3 else hidden.flatten(2).mean(-1)
    elif isinstance(t.get("pooler_output"), torch.Tensor):
        out["embedding"] = t["pooler_output"].flatten(1)
    else:
        first = next((v for k, v in out.items()), None)
        if first is None:
            first = next((v for v in t.values() if isinstance(v, torch.Tensor)), None)
        if first is not None:
            out["embedding"] = first.flatten(1) if first.ndim > 1 else first[None]
    return out or {"outputs": t}


def decode_text(tokenizer: Any, ids: Any) -> list[str]:
    """Text of each row of ids; ids the tokenizer does not know (a random model's picks beyond
    the byte-level vocabulary) are left out rather than failing the decode."""
    size = len(tokenizer)
    return [tokenizer.decode([i for i in row if 0 <= i < size], skip_special_tokens=True)
            for row in ids.tolist()]


def decode_generated(ctx: OutputContext, raw: Any) -> dict[str, Any]:
    """New token ids and their text (the prompt is cut off for decoder-only models)."""
    import torch

    sequences = raw.sequences if hasattr(raw, "sequences") else raw
    if not isinstance(sequences, torch.Tensor):
        return {"outputs": tensors_of(raw)}
    prompt = ctx.prepared.get("input_ids")
    new = sequences
    if (isinstance(prompt, torch.Tensor) and sequences.ndim == 2
            and not getattr(ctx.config, "is_encoder_decoder", False)
            and sequences.shape[1] > prompt.shape[1]
            and torch.equal(sequences[:, : prompt.shape[1]], prompt)):
        new = sequences[:, prompt.shape[1]:]
    out: dict[str, Any] = {"generated_ids": new.cpu()}
    if ctx.tokenizer is not None and new.dtype == torch.long and new.ndim == 2:
        out["generated_text"] = decode_text(ctx.tokenizer, new)
    if new.is_floating_point():
        out = {"audio": new.float().cpu()}
    return out


def classify(ctx: OutputContext, raw: Any) -> dict[str, Any]:
    """Logits, and for one score vector per sample, the argmax label names."""
    t = tensors_of(raw)
    logits = t.get("logits", t.get("logits_per_image"))
    out: dict[str, Any] = dict(t)
    if logits is not None and logits.ndim == 2:
        id2label = getattr(ctx.config, "id2label", None) or {}
        ids = logits.argmax(dim=-1).tolist()
        out["labels"] = [id2label.get(i, str(i)) for i in ids]
    return out


def ctc_decode(ctx: OutputContext, raw: Any) -> dict[str, Any]:
    """Greedy CTC: argmax per frame, then the tokenizer's text."""
    out = classify(ctx, raw)
    logits = out.get("logits")
    if logits is not None and logits.ndim == 3:
        ids = logits.argmax(dim=-1)
        out["predicted_ids"] = ids
        if ctx.tokenizer is not None:
            out["text"] = decode_text(ctx.tokenizer, ids)
    out.pop("labels", None)
    return out


def zero_shot(ctx: OutputContext, raw: Any) -> dict[str, Any]:
    """Image-text scores: each image's probabilities over the batch's texts (its candidate
    labels) and the index of the best text."""
    out = tensors_of(raw)
    logits = out.get("logits_per_image")
    if logits is not None and logits.ndim == 2:
        out["scores"] = logits.softmax(dim=-1)
        out["best_text_index"] = logits.argmax(dim=-1).tolist()
    return out


def waveform(ctx: OutputContext, raw: Any) -> dict[str, Any]:
    """Synthesised audio (or spectrogram): the first floating tensor the model returned, with
    the sampling rate the config states."""
    import torch

    sequences = raw.sequences if hasattr(raw, "sequences") else None
    tensors = tensors_of(raw if sequences is None else sequences)
    audio = next((v for v in tensors.values()
                  if isinstance(v, torch.Tensor) and v.is_floating_point()), None)
    if audio is None:
        return {"outputs": tensors}
    rate = None
    for cfg in (ctx.config, getattr(ctx.config, "codec_config", None),
                getattr(ctx.config, "audio_encoder", None)):
        for attr in ("sampling_rate", "sample_rate"):
            rate = rate or getattr(cfg, attr, None)
    return {"audio": audio, "sampling_rate": rate}


def all_tensors(ctx: OutputContext, raw: Any) -> dict[str, Any]:
    """Every tensor the model returned, under its own name (detections, masks, depth...)."""
    out = tensors_of(raw)
    return out if out else {"outputs": raw}


POSTPROCESSORS: dict[str, Callable[[OutputContext, Any], dict[str, Any]]] = {
    "embedding": pool_embedding,
    "generated": decode_generated,
    "logits": classify,
    "audio": waveform,
}
#: Tasks whose post-processing differs from their output kind's.
TASK_POSTPROCESSORS: dict[str, Callable[[OutputContext, Any], dict[str, Any]]] = {
    "ctc": ctc_decode,
    "zero-shot-image-classification": zero_shot,
}


def postprocess(ctx: OutputContext, output_kind: str, raw: Any) -> dict[str, Any]:
    """The task output dict for `raw` (unknown kinds keep every tensor, never guess)."""
    handler = TASK_POSTPROCESSORS.get(ctx.entry.task) or POSTPROCESSORS.get(
        output_kind, all_tensors)
    return handler(ctx, raw)
