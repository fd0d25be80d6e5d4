"""Typed records: what the pipeline stages hand to the warehouse.

Every row carries the run that made it and the environment fingerprint it was measured on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

#: Units a result may carry; anything else is rejected on the way in.
#: `nats`: an information measure (a KL divergence of output distributions).
#: `x_ref`: a time in units of the reference workload's time measured in the same loop
#: (`skillsets.bench.calibration`): a latency with much of the host's drift cancelled.
UNITS = frozenset({"ms", "s", "items/s", "tokens/s", "bytes", "ratio", "count", "nats", "x_ref"})
Benchmark = Literal["inference", "throughput", "api", "calibration", "kv_cache"]
#: `api`: an OpenAI-compatible endpoint measured by `skillsets bench-api` (hardware = endpoint).
#: `calibration`: the reference workload's own time (model_type `_reference`), per worker backend.
#: `kv_cache`: a decoder's KV cache at its longest context (`skillsets/bench/kv_cache.py`;
#: precision = the cache: `kv-default`, `kv-int4`, `kv-int2`).
BENCHMARKS: tuple[str, ...] = ("inference", "throughput", "api", "calibration", "kv_cache")
#: `unsupported`: the skillset knowingly has no path for this combination (a task the backend
#: has no generate loop for, a precision the device cannot honour); the reason is the message.
#: Counted apart from failures, which are bugs to fix. `skip`: the backend is absent here.
CompatibilityStatus = Literal["pass", "fail", "unsupported", "skip"]
COMPATIBILITY_STATUSES: tuple[str, ...] = ("pass", "fail", "unsupported", "skip")
Severity = Literal["low", "medium", "high", "critical"]

#: What was measured: a tiny random-weight model (each type's config shrunk), the type's default
#: ("reference") architecture with seeded random weights, a real checkpoint, or an API endpoint.
Size = Literal["tiny", "reference", "checkpoint", "endpoint"]
SIZES: tuple[str, ...] = ("tiny", "reference", "checkpoint", "endpoint")

#: Raw metric -> its calibrated twin (the same distribution over the interleaved reference's p50,
#: unit `x_ref`; `skillsets.bench.calibration`).
CALIBRATED_METRICS: dict[str, str] = {"latency": "latency_calibrated"}
#: The reference workload's own rows: model_type, benchmark and metric (one series per backend
#: and model size per reference version, which is the row's precision, `v1`).
REFERENCE_MODEL = "_reference"
REFERENCE_BENCHMARK = "calibration"
REFERENCE_METRIC = "reference_time"
#: Model types of run-level rows, which describe the run's host and stack, not a model
#: (`_reference`, and `_stack`: the stack's cold import) start with this.
RUN_LEVEL_PREFIX = "_"

#: What identifies one time series of measurements across runs.
SERIES_KEY: tuple[str, ...] = (
    "model_type", "hardware", "precision", "size", "batch_size", "benchmark", "metric"
)
#: One result row per series per run: loading the same key twice adds nothing.
RESULT_KEY: tuple[str, ...] = ("run_id", *SERIES_KEY)
#: One compatibility row per model type per hardware per run.
COMPATIBILITY_KEY: tuple[str, ...] = ("run_id", "model_type", "hardware")


def utcnow() -> datetime:
    """Timezone-aware now, the one clock every record uses."""
    return datetime.now(UTC)


class RunRecord(BaseModel):
    """One flow run (or CLI run) that produced rows."""

    run_id: str
    flow: str
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    status: Literal["running", "completed", "failed"] = "running"
    git_sha: str
    environment_id: str
    packages: dict[str, str | None] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)


class ResultRecord(BaseModel):
    """One benchmark metric, long format.

    The series key is (model_type, hardware, precision, size, batch_size, benchmark, metric).
    Statistics columns are filled where the metric has samples (latencies); `samples` may hold the
    raw sample values so distributions can be compared later.
    """

    run_id: str
    environment_id: str
    model_type: str
    hardware: str
    precision: str = "fp32"
    batch_size: int = 1
    benchmark: Benchmark
    metric: str
    value: float
    unit: str
    n: int | None = None
    mean: float | None = None
    stdev: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    min: float | None = None
    max: float | None = None
    samples: list[float] | None = None
    measured_at: datetime = Field(default_factory=utcnow)
    execution_precision: str | None = Field(
        default=None,
        description="what the backend reported it executed (`f32`, `bf16`...); None: unknown",
    )
    size: Size = "tiny"
    weights: str | None = Field(
        default=None,
        description="`pretrained:<dir or id>@<hash of the weight files>` or "
        "`random:<ConfigClass>:<size>`; None: not recorded",
    )
    parameters: int | None = Field(default=None, description="parameters of the model measured")


class CompatibilityRecord(BaseModel):
    """Whether one model type's skillset works on one hardware backend, and if not why."""

    run_id: str
    environment_id: str
    model_type: str
    hardware: str
    status: CompatibilityStatus
    error_type: str | None = None
    message: str | None = None
    seconds: float | None = None
    max_abs_diff: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    checked_at: datetime = Field(default_factory=utcnow)
    execution_precision: str | None = Field(
        default=None,
        description="what the backend reported it executed (`f32`, `bf16`...); None: unknown",
    )


class AlertRecord(BaseModel):
    """A detected regression on one series. One change is one alert; recovery closes it."""

    alert_id: str
    model_type: str
    hardware: str
    precision: str
    batch_size: int
    benchmark: Benchmark
    metric: str
    first_bad_run_id: str
    severity: Severity
    change: float = Field(description="relative change, signed; +0.15 = 15% higher than baseline")
    confidence: float = Field(description="1 - p-value of the rank test")
    p_value: float
    status: Literal["open", "closed"] = "open"
    opened_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    closed_by_run_id: str | None = None
    message: str = ""
    size: Size = "tiny"
