"""What one benchmark task is asked to do, and what it hands back.

Both are plain picklable dataclasses: a spec travels to a Dask worker, an outcome travels back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hardware.cluster import WorkerPlacement
from hardware.fingerprint import EnvironmentFingerprint
from skillsets.bench.measure import MeasureConfig
from skillsets.runtime.weights import SIZES
from warehouse.records import ResultRecord

#: Prompt and output tokens of generators at reference size and for checkpoints (a tiny model
#: keeps its example text and the runtime's short generate, which is all validation needs).
REAL_PROMPT_TOKENS = 128
REAL_OUTPUT_TOKENS = 64

BenchmarkKind = Literal["inference", "throughput"]
KINDS: tuple[BenchmarkKind, ...] = ("inference", "throughput")
OutcomeStatus = Literal["ok", "unsupported", "error"]


@dataclass(frozen=True)
class BenchmarkSpec:
    """One unit of benchmark work: a model type on one backend at one precision.

    Attributes:
        run_id: The run the rows belong to.
        model_type: Catalog model type.
        hardware: Backend; the task is routed to a worker carrying this resource tag.
        precision: `fp32`, `bf16`, `fp16` or `int8`.
        batch_sizes: Each is measured in turn.
        kinds: `inference`, `throughput` or both.
        measure: Warm-up and stopping rules of every timed loop.
        concurrent_workers: Threads of the throughput benchmark.
        throughput_calls: Calls per concurrent thread in the throughput benchmark (the sequential
            run makes `concurrent_workers` x as many).
        model_name: The checkpoint to load (a folder or a model id in the HF cache); set with
            `size="checkpoint"` only, and it must resolve: never a random model in its place.
        size: What to measure: `tiny` (the catalog's shrunk config, random weights),
            `reference` (the type's default config, random weights) or `checkpoint`.
        memory_budget: Share of available memory a reference model's weights may take; a
            bigger one is `unsupported` with the reason.
        prompt_tokens: Prompt length of generative models (their input ids are cut or repeated
            to it); None = what the example inputs tokenise to.
        output_tokens: Tokens each generate() call produces; None = the runtime's default.
        seed: Seed of the random weights and example inputs.
        measure_import: Time a cold import of the skillset in a fresh interpreter (seconds of
            wall time; off in tests that do not look at it).
    """

    run_id: str
    model_type: str
    hardware: str
    precision: str = "fp32"
    batch_sizes: tuple[int, ...] = (1,)
    kinds: tuple[BenchmarkKind, ...] = ("inference",)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    concurrent_workers: int = 2
    throughput_calls: int = 5
    model_name: str | None = None
    size: str = "tiny"
    memory_budget: float = 0.8
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    seed: int = 0
    measure_import: bool = True

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}; sizes: {', '.join(SIZES)}")
        if (self.size == "checkpoint") != bool(self.model_name):
            raise ValueError(
                "a checkpoint is measured with size='checkpoint' and its model_name, and only "
                f"then; got size={self.size!r}, model_name={self.model_name!r}"
            )
        for name in ("prompt_tokens", "output_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"batch sizes must be >= 1, got {self.batch_sizes}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"benchmark kinds must be among {KINDS}, got {self.kinds}")
        if self.concurrent_workers < 1 or self.throughput_calls < 1:
            raise ValueError(
                "concurrent_workers and throughput_calls must be >= 1, got "
                f"{self.concurrent_workers} and {self.throughput_calls}"
            )

    @property
    def key(self) -> str:
        """Deterministic Dask key: resubmitting the same spec in the same run is one task."""
        return (f"bench-{self.run_id}-{self.model_type}-{self.hardware}-{self.precision}-"
                f"{self.size}")


def generation_lengths(
    size: str, prompt_tokens: int | None, output_tokens: int | None, *, checkpoints: bool = False
) -> tuple[int | None, int | None]:
    """The prompt and output tokens to measure generators with: what was asked, else
    `REAL_PROMPT_TOKENS` / `REAL_OUTPUT_TOKENS` at reference size or with checkpoints, else
    None (the tiny model's example text and the runtime's default)."""
    real = size == "reference" or checkpoints
    return (
        prompt_tokens if prompt_tokens is not None else REAL_PROMPT_TOKENS if real else None,
        output_tokens if output_tokens is not None else REAL_OUTPUT_TOKENS if real else None,
    )


@dataclass
class BenchmarkOutcome:
    """What a benchmark task measured, where, and how it ended.

    Attributes:
        spec: The work asked for.
        status: `ok` (rows measured), `unsupported` (a `supported` = 0 row and a reason) or
            `error` (no rows; `reason` says what failed).
        reason: Why unsupported or failed; empty when ok.
        rows: The result rows.
        placement: The worker it ran on (None when run outside Dask).
        environment: Fingerprint of the machine it ran on.
        wall_seconds: Task wall time, from start to rows built.
        measured_seconds: Time inside timed loops (the compute the rows describe); the rest of
            `wall_seconds` is overhead: import, load, warm-up, memory passes.
        notes: Facts worth keeping with the run (modules imported, skipped metrics and why).
    """

    spec: BenchmarkSpec
    status: OutcomeStatus
    reason: str = ""
    rows: list[ResultRecord] = field(default_factory=list)
    placement: WorkerPlacement | None = None
    environment: EnvironmentFingerprint | None = None
    wall_seconds: float = 0.0
    measured_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
