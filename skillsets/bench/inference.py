"""The inference benchmark: per batch size the real forward (or generate) latency
distribution, items/s, peak memory, and for text generators prefill latency and decode
tokens/s (import, instantiation and init times: `skillsets.bench.task.load_phases`).

Only `skill.run(prepared)` is inside a timed loop: building example inputs and `prepare` (tokenise,
move to device) happen once per batch size, before the loop. Memory is measured in a separate
untimed call so the RSS sampler never competes with a timed one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from skillsets.bench.calibration import REFERENCE_VERSION, reference
from skillsets.bench.measure import (
    LatencyStats,
    MeasureConfig,
    measure_calibrated,
    measure_memory,
    measure_paired,
    pinned_threads,
)
from skillsets.bench.rows import RowMaker, pool_reference_rows
from warehouse.records import ResultRecord


class BenchmarkableSkill(Protocol):
    """What the benchmark needs of a loaded skill (`skillsets.runtime.Skill` provides it)."""

    hardware: str

    def example_inputs(self, batch_size: int) -> Any: ...

    def prepare(self, natural_inputs: Any) -> Any: ...

    def run(self, prepared: Any) -> Any: ...


@dataclass
class Measured:
    """Rows from one benchmark step, the seconds spent inside its timed loops, and what to know.

    Attributes:
        rows: Result rows.
        measured_seconds: Time inside timed loops.
        notes: Facts about how it was measured.
        problems: Metrics that could not be measured, and why (they become the outcome's reason).
    """

    rows: list[ResultRecord] = field(default_factory=list)
    measured_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def extend(self, other: Measured) -> None:
        """Append another step's rows, time, notes and problems."""
        self.rows.extend(other.rows)
        self.measured_seconds += other.measured_seconds
        self.notes.extend(other.notes)
        self.problems.extend(other.problems)


def synchronizer(hardware: str) -> Callable[[], None] | None:
    """What to call after each timed call so the timer sees finished work (GPUs run async)."""
    if hardware in ("cuda", "rocm"):
        import torch

        return torch.cuda.synchronize
    return None


def generated_tokens(raw: Any, prepared: Any, encoder_decoder: bool) -> int | None:
    """New tokens per sequence in a generate output, or None when it cannot be told.

    Decoder-only outputs repeat the prompt; encoder-decoder outputs start with one decoder start
    token.
    """
    sequences = getattr(raw, "sequences", raw)
    shape = getattr(sequences, "shape", None)
    if shape is None or len(shape) < 2:
        return None
    if encoder_decoder:
        return int(shape[-1]) - 1
    prompt = prepared.get("input_ids") if isinstance(prepared, dict) else None
    if prompt is None or getattr(prompt, "ndim", 0) < 2:
        return None
    return int(shape[-1]) - int(prompt.shape[-1])


def measure_batches(
    skill: BenchmarkableSkill,
    batch_sizes: tuple[int, ...],
    config: MeasureConfig,
    rows: RowMaker,
    *,
    generative: bool = False,
    encoder_decoder: bool = False,
    threads: int | None = None,
    prompt_tokens: int | None = None,
) -> Measured:
    """Latency, items/s and peak memory per batch size; prefill and decode for generators.

    The latency loop interleaves the reference workload (`measure_calibrated`): each batch size
    also gives a `latency_calibrated` row; the reference's own time over all batch sizes is one
    `reference_time` row (`rows.pool_reference_rows` makes it one per run per backend later).

    Args:
        skill: A loaded skill.
        batch_sizes: Measured in this order, each with its own prepared inputs.
        config: Warm-up and stopping rules of each timed loop.
        rows: Row builder for this (model, hardware, precision).
        generative: Also measure `skill.prefill` and decode tokens/s.
        encoder_decoder: How to count generated tokens (see `generated_tokens`).
        threads: torch intra-op threads; None = the process's usable cores.
        prompt_tokens: For generators, the prompt length to measure (`fit_prompt`).
    """
    out = Measured()
    sync = synchronizer(skill.hardware)
    cuda = sync is not None
    with pinned_threads(threads):
        for batch_size in batch_sizes:
            prepared = skill.prepare(skill.example_inputs(batch_size))
            if generative and prompt_tokens is not None and not encoder_decoder:
                prepared = fit_prompt(prepared, prompt_tokens)

            def call(prepared: Any = prepared) -> Any:
                return skill.run(prepared)

            calibrated = measure_calibrated(call, reference(), config, synchronize=sync)
            stats = calibrated.model
            out.measured_seconds += stats.total_seconds + calibrated.reference.total_seconds
            out.rows.append(rows.distribution("inference", "latency", stats, batch_size))
            out.rows.append(rows.calibrated("inference", calibrated, batch_size))
            out.rows.append(rows.reference(calibrated.reference))
            out.notes.append(
                f"batch {batch_size}: latency_calibrated in units of reference "
                f"v{REFERENCE_VERSION} ({calibrated.reference.n} reference calls, p50 "
                f"{calibrated.reference.p50:.3f} ms)"
            )
            out.rows.append(
                rows.scalar("inference", "throughput", batch_size * 1000.0 / stats.mean, batch_size)
            )
            memory = measure_memory(call, cuda=cuda)
            out.rows.append(
                rows.scalar("inference", "peak_memory", memory.rss_delta_bytes, batch_size)
            )
            if memory.cuda_max_allocated_bytes is not None:
                out.rows.append(
                    rows.scalar(
                        "inference",
                        "cuda_max_allocated",
                        memory.cuda_max_allocated_bytes,
                        batch_size,
                    )
                )
            if generative:
                out.extend(
                    _generation(
                        skill, prepared, stats, config, rows, batch_size, encoder_decoder, sync
                    )
                )
    out.rows = pool_reference_rows(out.rows)
    return out


def _generation(
    skill: Any,
    prepared: Any,
    generate_stats: LatencyStats,
    config: MeasureConfig,
    rows: RowMaker,
    batch_size: int,
    encoder_decoder: bool,
    sync: Callable[[], None] | None,
) -> Measured:
    """Prefill latency, and decode tokens/s = tokens after the first / decode time.

    The decode time is the median over interleaved pairs of (generate - prefill): both calls
    of a pair see the same host state. Two p50s from separate blocks can differ by more than
    the decode itself where the prompt's pass dominates (whisper's encoder: prefill measured
    above the whole generation on a host that slowed between the blocks).
    """
    out = Measured()
    try:
        paired = measure_paired(lambda: skill.prefill(prepared), lambda: skill.run(prepared),
                                config, synchronize=sync)
    except Exception as exc:  # the skill's prefill is broken for this model; say so, keep latency
        out.problems.append(
            f"batch {batch_size}: prefill_latency and decode_throughput not measured: "
            f"{type(exc).__name__}: {exc}"
        )
        return out
    prefill = paired.first
    out.measured_seconds += prefill.total_seconds + paired.second.total_seconds
    out.rows.append(rows.distribution("inference", "prefill_latency", prefill, batch_size))
    new_tokens = generated_tokens(skill.run(prepared), prepared, encoder_decoder)
    ids = prepared.get("input_ids") if isinstance(prepared, dict) else None
    if ids is not None and not encoder_decoder:
        out.rows.append(rows.scalar("inference", "prompt_tokens", ids.shape[-1], batch_size))
    if new_tokens is not None:
        out.rows.append(rows.scalar("inference", "output_tokens", new_tokens, batch_size))
    decode_ms = paired.difference_p50
    if new_tokens is None or new_tokens < 2 or decode_ms <= 0:
        out.problems.append(
            f"batch {batch_size}: no decode_throughput (new tokens {new_tokens}, median of "
            f"generate - prefill over {prefill.n} interleaved pairs {decode_ms:.3f} ms)"
        )
        return out
    tokens_per_s = batch_size * (new_tokens - 1) / (decode_ms / 1000.0)
    out.rows += [
        rows.scalar("inference", "decode_throughput", tokens_per_s, batch_size),
        rows.scalar("inference", "time_per_output_token", decode_ms / (new_tokens - 1),
                    batch_size),
        rows.scalar("inference", "output_throughput",
                    batch_size * new_tokens / (generate_stats.p50 / 1000.0), batch_size),
    ]
    cached, why = skill.kv_cache
    out.notes.append(
        f"batch {batch_size}: {new_tokens} new tokens per sequence; decode {decode_ms:.3f} ms, "
        f"the median of generate - prefill over {prefill.n} interleaved pairs (their generate "
        f"p50 {paired.second.p50:.3f} ms, prefill p50 {prefill.p50:.3f} ms); "
        + ("each step after the first reuses past keys and values" if cached else
           f"no KV cache: {why or 'the model decodes without one'}")
    )
    return out


def fit_prompt(prepared: dict[str, Any], tokens: int) -> dict[str, Any]:
    """`prepared` with its `input_ids` (and masks of the same length) cut or repeated to exactly
    `tokens` per sequence, so a prompt length can be asked for whatever the example text is.

    Inputs without `input_ids` (images, audio) are returned as they are.
    """
    import torch

    ids = prepared.get("input_ids")
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
        return prepared
    length = ids.shape[1]

    def fit(value: Any) -> Any:
        if not isinstance(value, torch.Tensor) or value.dim() != 2 or value.shape[1] != length:
            return value
        repeats = -(-tokens // length)
        return value.repeat(1, repeats)[:, :tokens]

    return {key: fit(value) for key, value in prepared.items()}
