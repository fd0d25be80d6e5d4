"""Benchmarking one OpenAI-compatible endpoint, and storing the rows of an `api` run."""

from __future__ import annotations

import os
from collections.abc import Sequence

from prefect import task
from pydantic import BaseModel, Field, field_validator

from hardware.fingerprint import environment_fingerprint
from skillsets.api.client import Endpoint
from skillsets.api.load import Load
from skillsets.api.metrics import Slo
from skillsets.api.run import ApiBenchConfig, ApiBenchResult, run_api_bench
from warehouse.records import ResultRecord
from warehouse.store import Warehouse


class ApiTarget(BaseModel):
    """One endpoint the `api` flow measures (a flow parameter: no secret in it).

    Attributes:
        base_url: `http(s)://host:port/v1`.
        model: The `model` requests name.
        endpoint: `chat`, `completions` or `embeddings`.
        api_key_env: Name of the environment variable holding the bearer token on the worker
            (the token itself never enters parameters, logs or the warehouse).
    """

    base_url: str
    model: str
    endpoint: Endpoint = "chat"
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL; write e.g. http://{value}")
        return value

    def api_key(self) -> str | None:
        """The token from the worker's environment.

        Raises:
            ValueError: `api_key_env` is named but not set on this worker.
        """
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ValueError(f"{self.base_url}: environment variable {self.api_key_env} is not "
                             "set on this worker; export it where the flow runs")
        return value


@task(name="bench-endpoint", task_run_name="bench {target.model} at {target.base_url}")
def bench_endpoint(target: ApiTarget, run_id: str, concurrency: Sequence[int],
                   num_requests: int, input_tokens: int, output_tokens: int,
                   timeout_s: float, slo: Slo) -> ApiBenchResult:
    """Every concurrency level against one endpoint; failures are counted, never raised."""
    config = ApiBenchConfig(
        base_url=target.base_url, model=target.model, endpoint=target.endpoint,
        loads=tuple(Load(concurrency=c) for c in concurrency), num_requests=num_requests,
        input_tokens=input_tokens, output_tokens=output_tokens, timeout_s=timeout_s, slo=slo,
        api_key=target.api_key())
    return run_api_bench(config, run_id, environment_fingerprint().environment_id)


@task(name="store-api-rows")
def store_api_rows(warehouse: str, rows: Sequence[ResultRecord]) -> int:
    """Load the run's rows (validated; idempotent); return rows inserted."""
    if not rows:
        return 0
    with Warehouse.open(warehouse) as wh:
        return wh.load_results(list(rows)).inserted
