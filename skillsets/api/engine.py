"""What the server runs: a loaded skill as an embedder or a token-by-token text generator."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skillsets.runtime import load_skill
from skillsets.runtime.errors import SkillUnavailableError
from skillsets.runtime.skill import Skill
from skillsets.tasks import TASKS

Kind = Literal["embedding", "generative"]


class BadRequestError(ValueError):
    """A request the model cannot serve as asked (too long a prompt...): an HTTP 400."""


@dataclass
class ServedModel:
    """One skill behind the API, under the name clients ask for.

    Attributes:
        name: The `model` clients send and `/v1/models` lists.
        skill: The loaded skill.
        kind: `embedding` (serves /v1/embeddings) or `generative` (the completion endpoints).
    """

    name: str
    skill: Skill
    kind: Kind
    # One forward pass at a time per model: torch already uses every core for one call, and
    # interleaving two streams' steps keeps both streaming instead of one stalling the other.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def context_length(self) -> int | None:
        """The most positions the model attends to, when its config says."""
        for key in ("n_positions", "max_position_embeddings", "n_ctx"):
            value = getattr(self.skill.config, key, None)
            if isinstance(value, int):
                return value
        return None

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the skill's tokenizer (what `usage.prompt_tokens` reports)."""
        prepared = self.skill.prepare([text])
        return int(prepared["input_ids"].shape[-1])

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Embeddings of `texts` (one vector each) and the prompt tokens they took."""
        with self.lock:
            prepared = self.skill.prepare(texts)
            out = self.skill.postprocess(self.skill.run(prepared), prepared)
        tokens = int(prepared["attention_mask"].sum()) if "attention_mask" in prepared else 0
        return out["embedding"].float().cpu().tolist(), tokens

    def stream(self, prompt: str, max_tokens: int, ignore_eos: bool) -> Iterator[str]:
        """Greedy decoding with the KV cache, yielding each new token's text as it is made.

        Written as a loop rather than with transformers' `TextIteratorStreamer`, which holds
        text back until a word is complete: a client measuring inter-token latency must get
        one event per generated token.

        Raises:
            BadRequestError: the prompt and `max_tokens` do not fit the model's context.
        """
        import torch

        prepared = self.skill.prepare([prompt])
        ids, mask = prepared["input_ids"], prepared.get("attention_mask")
        limit = self.context_length
        if limit is not None and ids.shape[-1] + max_tokens > limit:
            raise BadRequestError(
                f"prompt ({ids.shape[-1]} tokens) + max_tokens ({max_tokens}) exceeds "
                f"{self.name}'s context of {limit} tokens; shorten the prompt or max_tokens")
        tokenizer = self.skill.preprocessors.tokenizer
        eos = getattr(getattr(self.skill.model, "generation_config", None), "eos_token_id", None)
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        vocab = len(tokenizer)
        past = None
        step = {"input_ids": ids, "attention_mask": mask}
        for _ in range(max_tokens):
            with self.lock, torch.inference_mode():
                out = self.skill.model(**step, past_key_values=past, use_cache=True)
            past = out.past_key_values
            # Tiny random models can have a wider output head than their stand-in tokenizer
            # (gpt2: 512 logits, 384 ids): a token the tokenizer cannot spell is never chosen.
            token = out.logits[:, -1, :vocab].argmax(-1, keepdim=True)
            token_id = int(token[0, 0])
            if token_id in eos_ids and not ignore_eos:
                return
            # A token can decode to nothing on its own (part of a multi-byte character): its
            # id stands in so that every generated token is one visible event.
            yield tokenizer.decode([token_id]) or f"<{token_id}>"
            if mask is not None:
                mask = torch.cat([mask, torch.ones_like(token)], dim=1)
            step = {"input_ids": token, "attention_mask": mask}


def checkpoint_model_type(path: Path) -> str:
    """The model type a checkpoint directory's `config.json` declares.

    Raises:
        SkillUnavailableError: no readable config.json, or one without `model_type`.
    """
    config = path / "config.json"
    if not config.is_file():
        raise SkillUnavailableError(
            f"no config.json in {path}: pass a directory saved with save_pretrained()")
    model_type = json.loads(config.read_text()).get("model_type")
    if not model_type:
        raise SkillUnavailableError(f"{config} has no model_type; it is not a transformers config")
    return str(model_type)


def load_served(
    model_type: str | None = None,
    checkpoint: Path | None = None,
    name: str | None = None,
    hardware: str = "cpu",
) -> ServedModel:
    """Load a model type (tiny random weights) or a checkpoint directory for serving.

    Args:
        model_type: A catalog model type (`gpt2`); ignored when `checkpoint` is given.
        checkpoint: A directory with config.json and safetensors weights.
        name: The name clients use; default the model type, or the checkpoint's folder name.
        hardware: Backend to run on (absent backends fall back to cpu).

    Raises:
        ValueError: neither or both of `model_type` and `checkpoint` given.
        SkillUnavailableError: the model is neither an embedder nor a decoder-only generator.
        UnknownNameError: an unknown model type (with close matches).
    """
    if (model_type is None) == (checkpoint is None):
        raise ValueError("give a model type or a checkpoint directory, exactly one of them")
    if checkpoint is not None:
        model_type = checkpoint_model_type(checkpoint)
    assert model_type is not None
    skill = load_skill(model_type, hardware, model_name=str(checkpoint) if checkpoint else None)
    task = skill.entry.task
    if TASKS[task].output == "embedding" and skill.preprocessors.tokenizer is not None:
        kind: Kind = "embedding"
    elif task == "text-generation" and skill._openvino is None:
        kind = "generative"
    else:
        raise SkillUnavailableError(
            f"{skill.model_type} ({task}) cannot be served: the API serves text embedders "
            "(feature-extraction) on /v1/embeddings and decoder-only text generators "
            "(text-generation) on the completion endpoints")
    default = checkpoint.resolve().name if checkpoint is not None else skill.model_type
    return ServedModel(name=name or default, skill=skill, kind=kind)


def describe(model: ServedModel) -> dict[str, Any]:
    """The `/v1/models` entry of a served model."""
    return {"id": model.name, "object": "model", "created": 0, "owned_by": "skillsets",
            "kind": model.kind, "weights": model.skill.weights}
