"""Output quality of a reduced precision: how far its outputs are from fp32's on the same inputs.

A lower precision is a trade: memory and time saved against output quality lost. The saving is
measured by the inference benchmark; this module measures the loss, against a reference that is
the same weights (same seed, or the same checkpoint files) loaded at fp32 on the torch cpu path
and fed the same seeded inputs:

* encoders (a forward pass): `quality_cosine`, the cosine similarity of the pooled main output
  (`last_hidden_state`, else `logits`, else the first tensor; mean over the token axis when it
  has one, flattened per sample), averaged over the batch: 1.0 = the same direction;
* generators: the prefill logits at every prompt position, as `top1_agreement` (share of
  positions whose arg-max token is fp32's) and `kl_divergence` (KL(fp32 || reduced) in nats,
  averaged over positions): how often and by how much the next-token choice moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skillsets.bench.inference import Measured
from skillsets.bench.rows import RowMaker
from skillsets.runtime.outputs import tensors_of

if TYPE_CHECKING:
    import torch

    from skillsets.runtime import Skill

#: Output names tried in order for an encoder's main output.
_MAIN_OUTPUTS = ("last_hidden_state", "logits", "pooler_output")


def main_output(raw: Any, names: tuple[str, ...] = _MAIN_OUTPUTS) -> torch.Tensor:
    """The task's main output tensor of a forward pass (see the module docstring), as fp32.

    Args:
        raw: A model output (ModelOutput, dict of tensors, tuple or tensor).
        names: Output names tried in order before falling back to the first tensor.

    Raises:
        ValueError: the output has no tensor to compare.
    """
    tensors = {k: v for k, v in tensors_of(raw).items() if not isinstance(v, list)}
    for name in names:
        if name in tensors:
            return tensors[name].float()
    if not tensors:
        raise ValueError(
            f"no output tensor to compare in a {type(raw).__name__}; quality needs a tensor output"
        )
    return next(iter(tensors.values())).float()


def _require_same_shape(reference: torch.Tensor, measured: torch.Tensor) -> None:
    if reference.shape != measured.shape:
        raise ValueError(
            f"fp32 output has shape {tuple(reference.shape)} but the reduced precision's has "
            f"{tuple(measured.shape)}; quality compares the same inputs only"
        )


def pooled_cosine(reference: torch.Tensor, measured: torch.Tensor) -> float:
    """Mean over samples of the cosine similarity of the pooled outputs.

    Args:
        reference: fp32 output, shape (batch, ...) ; a (batch, tokens, ...) tensor is averaged
            over its token axis first.
        measured: The same output at the reduced precision, same shape.

    Raises:
        ValueError: the shapes differ.
    """
    import torch

    _require_same_shape(reference, measured)

    def pool(t: torch.Tensor) -> torch.Tensor:
        t = t.float()
        if t.dim() >= 3:
            t = t.mean(dim=1)
        return t.reshape(t.shape[0], -1) if t.dim() >= 1 else t.reshape(1, 1)

    cos = torch.nn.functional.cosine_similarity(pool(reference), pool(measured), dim=-1)
    return float(cos.mean())


def logits_agreement(reference: torch.Tensor, measured: torch.Tensor) -> tuple[float, float]:
    """(top-1 agreement, mean KL(fp32 || reduced) in nats) of next-token logits.

    Args:
        reference: fp32 logits, (batch, positions, vocab) or (batch, vocab).
        measured: The reduced precision's logits, same shape.

    Raises:
        ValueError: the shapes differ.
    """
    import torch

    _require_same_shape(reference, measured)
    ref = reference.float().reshape(-1, reference.shape[-1])
    got = measured.float().reshape(-1, measured.shape[-1])
    agreement = float((ref.argmax(-1) == got.argmax(-1)).float().mean())
    kl = torch.nn.functional.kl_div(
        torch.log_softmax(got, -1), torch.log_softmax(ref, -1), log_target=True,
        reduction="batchmean",
    )
    return agreement, float(kl)


def load_reference(spec_model_type: str, model_name: str | None, seed: int, size: str) -> Skill:
    """The fp32 torch-cpu skill with the same weights as the measured one (same seed or files)."""
    from skillsets.runtime import load_skill

    return load_skill(spec_model_type, "cpu", "fp32", model_name, seed=seed, size=size)


def measure_quality(
    skill: Skill,
    reference: Skill,
    batch_sizes: tuple[int, ...],
    rows: RowMaker,
    *,
    adjust: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Measured:
    """Quality rows of `skill` against the fp32 `reference`, per batch size.

    Args:
        skill: The skill at the measured precision.
        reference: The same weights at fp32 on torch cpu (`load_reference`).
        batch_sizes: One comparison per batch size, on that batch size's seeded inputs.
        rows: Row builder for the measured (model, hardware, precision).
        adjust: Applied to both prepared inputs (e.g. the prompt length the benchmark used).
    """
    out = Measured()
    for batch_size in batch_sizes:
        prepared = skill.prepare(skill.example_inputs(batch_size))
        ref_prepared = reference.prepare(reference.example_inputs(batch_size))
        if adjust is not None:
            prepared, ref_prepared = adjust(prepared), adjust(ref_prepared)
        if skill.generative:
            got = main_output(skill.prefill(prepared), ("logits",))
            ref = main_output(reference.torch_prefill(ref_prepared), ("logits",))
            agreement, kl = logits_agreement(ref, got)
            out.rows += [
                rows.scalar("inference", "top1_agreement", agreement, batch_size),
                rows.scalar("inference", "kl_divergence", kl, batch_size),
            ]
        else:
            got = main_output(skill.run(prepared))
            ref = main_output(reference.torch_run(ref_prepared))
            out.rows.append(
                rows.scalar("inference", "quality_cosine", pooled_cosine(ref, got), batch_size)
            )
    out.notes.append(
        "quality: against the same weights at fp32 on torch cpu, on the same seeded inputs"
    )
    return out
