"""One `bench-api` run: every load level against one endpoint, its rows, and storing them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hardware.fingerprint import EnvironmentFingerprint
from skillsets.api.client import Endpoint, RequestSpec
from skillsets.api.load import Load, make_prompts, run_level_sync
from skillsets.api.metrics import LevelMetrics, Slo, summarize
from skillsets.api.rows import ApiRowMaker, endpoint_hardware
from warehouse.records import ResultRecord, RunRecord, utcnow


@dataclass(frozen=True)
class ApiBenchConfig:
    """What to measure, and how hard to push.

    Attributes:
        base_url: `http(s)://host:port/v1`.
        model: The `model` requests name.
        endpoint: `chat`, `completions` or `embeddings`.
        loads: The load levels, run in order.
        num_requests: Requests per level.
        input_tokens: Words per prompt (about a token each; the server's usage says exactly).
        output_tokens: `max_tokens` of each request (with `ignore_eos`).
        timeout_s: Limit of each request, streaming included.
        slo: Goodput objectives.
        seed: Seeds prompts and Poisson arrivals.
        api_key: Bearer token; never stored, logged or shown (excluded from repr).
    """

    base_url: str
    model: str
    endpoint: Endpoint
    loads: tuple[Load, ...]
    num_requests: int = 40
    input_tokens: int = 32
    output_tokens: int = 16
    timeout_s: float = 60.0
    slo: Slo = field(default_factory=Slo)
    seed: int = 0
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base URL {self.base_url!r} is not http(s)://host[:port]/v1; "
                             "write e.g. http://127.0.0.1:8000/v1")
        if self.endpoint not in ("chat", "completions", "embeddings"):
            raise ValueError(f"endpoint {self.endpoint!r}: use chat, completions or embeddings")
        if not self.loads:
            raise ValueError("no load level: give concurrencies or a request rate")
        for name in ("num_requests", "input_tokens", "output_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout must be > 0 s, got {self.timeout_s}")

    def parameters(self) -> dict[str, Any]:
        """What the run was asked, for the run record (the API key is left out)."""
        return {
            "base_url": self.base_url, "model": self.model, "endpoint": self.endpoint,
            "loads": [{"concurrency": ld.concurrency, "rate": ld.rate} for ld in self.loads],
            "num_requests": self.num_requests, "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens, "timeout_s": self.timeout_s,
            "slo_ms": {"ttft": self.slo.ttft_ms, "tpot": self.slo.tpot_ms,
                       "e2e": self.slo.e2e_ms},
            "seed": self.seed, "api_key_given": self.api_key is not None,
        }


@dataclass
class ApiBenchResult:
    """A finished run: per level metrics and the rows they make."""

    run_id: str
    config: ApiBenchConfig
    hardware: str
    model: str
    levels: list[tuple[Load, LevelMetrics]]
    rows: list[ResultRecord]
    started_at: Any
    wall_seconds: float

    @property
    def completed(self) -> int:
        """Successful requests over every level."""
        return sum(m.completed for _, m in self.levels)

    @property
    def all_failed(self) -> bool:
        """Whether not one request succeeded (the command then exits non-zero)."""
        return self.completed == 0

    def errors(self) -> dict[str, dict[str, Any]]:
        """Failures over every level: kind -> count and the first cause seen."""
        out: dict[str, dict[str, Any]] = {}
        for _, m in self.levels:
            for kind, count in m.errors.items():
                entry = out.setdefault(kind, {"count": 0, "cause": m.causes.get(kind, "")})
                entry["count"] += count
        return out


def run_api_bench(config: ApiBenchConfig, run_id: str, environment_id: str) -> ApiBenchResult:
    """Run every load level of `config` in order and build the run's rows.

    Each level sends `num_requests` distinct seeded prompts. The model identity in the rows is
    the one the endpoint reports in its answers (falling back to `config.model`).
    """
    prompts = make_prompts(config.num_requests, config.input_tokens, config.seed)
    specs = [RequestSpec(p, config.output_tokens) for p in prompts]
    started = utcnow()
    clock = time.perf_counter()
    levels: list[tuple[Load, LevelMetrics]] = []
    for load in config.loads:
        results, duration = run_level_sync(
            config.base_url, config.endpoint, config.model, specs, load,
            api_key=config.api_key, timeout_s=config.timeout_s, seed=config.seed)
        levels.append((load, summarize(results, duration, config.slo,
                                       streamed=config.endpoint != "embeddings")))
    reported = next((m.models[0] for _, m in levels if m.models), config.model)
    hardware = endpoint_hardware(config.base_url, config.endpoint)
    maker = ApiRowMaker(run_id, environment_id, reported, hardware)
    rows = [row for load, m in levels for row in maker.level_rows(load, m)]
    return ApiBenchResult(run_id, config, hardware, reported, levels, rows, started,
                          time.perf_counter() - clock)


def store_api_bench(result: ApiBenchResult, warehouse_path: Path,
                    fingerprint: EnvironmentFingerprint,
                    flow: str = "bench-api") -> int:
    """Record the run (parameters, and errors with their causes), the environment and the
    rows (validated on the way in, like every load); return rows inserted."""
    from warehouse.store import Warehouse  # DuckDB + Polars only when results are stored

    run = RunRecord(
        run_id=result.run_id, flow=flow, started_at=result.started_at, git_sha=fingerprint.git_sha,
        environment_id=fingerprint.environment_id, packages=fingerprint.packages,
        parameters={**result.config.parameters(), "errors": result.errors(),
                    "reported_model": result.model, "hardware": result.hardware},
    )
    with Warehouse.open(warehouse_path) as wh:
        wh.record_environment(fingerprint)
        wh.record_run(run)
        inserted = wh.load_results(result.rows).inserted if result.rows else 0
        wh.finish_run(result.run_id, "failed" if result.all_failed else "completed")
    return inserted
