"""Serving metrics of one load level, as vLLM's serving benchmark defines them.

From `vllm/benchmarks/serve.py::calculate_metrics`: over the successful requests, TTFT and
end-to-end latency per request; TPOT = (latency - TTFT) / (output tokens - 1) per request with
more than one output token; ITL = every gap between successive text events of every request;
request throughput = completed requests / duration; output throughput = output tokens of the
completed requests / duration; goodput = completed requests meeting every SLO given / duration,
where a one-token request's TPOT counts as 0. Percentiles are numpy's linear interpolation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from skillsets.api.client import RequestResult
from skillsets.bench.measure import LatencyStats

_NS_PER_S = 1e9


@dataclass(frozen=True)
class Slo:
    """Service-level objectives of goodput, in milliseconds; None = not part of it."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "tpot_ms", "e2e_ms"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"SLO {name} must be a positive number of ms, got {value}")

    @property
    def given(self) -> bool:
        """Whether any objective is set (goodput is reported only then)."""
        return any(v is not None for v in (self.ttft_ms, self.tpot_ms, self.e2e_ms))


@dataclass(frozen=True)
class LevelMetrics:
    """Everything measured at one load level.

    Attributes:
        duration_s: From the first request sent to the last answer.
        completed: Successful requests.
        errors: Failed requests by kind (`ERROR_KINDS`).
        causes: The first cause seen of each error kind, in words.
        ttft, tpot, itl, e2e_latency: Distributions in ms (None when no sample).
        request_throughput: Completed requests per second.
        output_throughput: Output tokens of completed requests per second.
        input_throughput: Prompt tokens of completed requests per second (0 when the server
            reports no usage).
        goodput: Completed requests meeting every SLO per second; None without SLOs.
    """

    duration_s: float
    completed: int
    errors: dict[str, int]
    causes: dict[str, str]
    ttft: LatencyStats | None
    tpot: LatencyStats | None
    itl: LatencyStats | None
    e2e_latency: LatencyStats | None
    request_throughput: float
    output_throughput: float
    input_throughput: float
    goodput: float | None
    output_tokens: int = 0
    models: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> int:
        """Failed requests, all kinds together."""
        return sum(self.errors.values())


def _stats(seconds: Sequence[float]) -> LatencyStats | None:
    if not seconds:
        return None
    return LatencyStats.from_samples_ns(np.asarray(seconds, dtype=np.float64) * _NS_PER_S)


def tpot_of(result: RequestResult) -> float:
    """A request's time per output token after the first, in seconds (0 for one token)."""
    if result.output_tokens <= 1:
        return 0.0
    return (result.latency - result.ttft) / (result.output_tokens - 1)


def summarize(results: Sequence[RequestResult], duration_s: float, slo: Slo | None = None,
              streamed: bool = True) -> LevelMetrics:
    """The level's metrics from its request results.

    Args:
        results: Every request of the level, failed ones included.
        duration_s: Wall time of the level (> 0).
        slo: Objectives for goodput; None or empty = no goodput.
        streamed: False for embeddings, which have no tokens to time: TTFT, TPOT and ITL are
            left out.

    Raises:
        ValueError: a non-positive duration.
    """
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s} s")
    good = [r for r in results if r.ok]
    errors = Counter(r.error_kind or "protocol" for r in results if not r.ok)
    causes: dict[str, str] = {}
    for r in results:
        if not r.ok and r.error_kind not in causes:
            causes[r.error_kind or "protocol"] = r.error
    multi = [r for r in good if r.output_tokens > 1]
    output_tokens = sum(r.output_tokens for r in good)
    goodput = None
    if slo is not None and slo.given:
        def meets(r: RequestResult) -> bool:
            checks = [(slo.ttft_ms, r.ttft), (slo.tpot_ms, tpot_of(r)), (slo.e2e_ms, r.latency)]
            return all(limit is None or value * 1000 <= limit for limit, value in checks)
        goodput = sum(meets(r) for r in good) / duration_s
    return LevelMetrics(
        duration_s=duration_s,
        completed=len(good),
        errors=dict(errors),
        causes=causes,
        ttft=_stats([r.ttft for r in good]) if streamed else None,
        tpot=_stats([tpot_of(r) for r in multi]) if streamed else None,
        itl=_stats([gap for r in good for gap in r.itl]) if streamed else None,
        e2e_latency=_stats([r.latency for r in good]),
        request_throughput=len(good) / duration_s,
        output_throughput=output_tokens / duration_s,
        input_throughput=sum(r.prompt_tokens or 0 for r in good) / duration_s,
        goodput=goodput,
        output_tokens=output_tokens,
        models=tuple(sorted({r.model for r in good if r.model})),
    )
