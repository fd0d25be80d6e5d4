"""`skillsets bench-api`: serving metrics of any OpenAI-compatible endpoint, into the warehouse."""

from __future__ import annotations

import json
import os
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.bench import parse_positive_ints
from cli.output import console, err_console, fail
from skillsets.api.load import Load
from skillsets.api.metrics import Slo
from skillsets.api.run import ApiBenchConfig, ApiBenchResult, run_api_bench, store_api_bench
from skillsets.bench.measure import LatencyStats
from skillsets.settings import SettingsError, load_settings


class EndpointName(StrEnum):
    chat = "chat"
    completions = "completions"
    embeddings = "embeddings"


def parse_concurrency(text: str) -> list[int]:
    """`"1,4,16"` -> `[1, 4, 16]`; each a positive integer."""
    return parse_positive_ints(text, "concurrency levels")


def _table(result: ApiBenchResult) -> Table:
    table = Table(title=f"bench-api run {result.run_id}: {result.model} at {result.hardware}")
    for column in ("load", "ok", "errors", "req/s", "out tok/s", "goodput", "TTFT p50/p99 ms",
                   "TPOT p50 ms", "ITL p50 ms", "E2E p50/p99 ms"):
        table.add_column(column, justify="left" if column == "load" else "right")

    def pair(stats: LatencyStats | None, both: bool = True) -> str:
        if stats is None:
            return "-"
        return f"{stats.p50:.2f}/{stats.p99:.2f}" if both else f"{stats.p50:.2f}"

    for load, m in result.levels:
        table.add_row(
            load.label, str(m.completed), str(m.failed), f"{m.request_throughput:.2f}",
            f"{m.output_throughput:.1f}", "-" if m.goodput is None else f"{m.goodput:.2f}",
            pair(m.ttft), pair(m.tpot, False), pair(m.itl, False), pair(m.e2e_latency))
    return table


def bench_api(
    base_url: Annotated[str, typer.Option(help="API base URL, e.g. http://127.0.0.1:8000/v1.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The model name requests send.")],
    endpoint: Annotated[EndpointName, typer.Option(help="Which API to load.")] = (
        EndpointName.chat),
    concurrency: Annotated[
        str | None,
        typer.Option(help="Comma-separated requests in flight, one level each: 1,4,16. "
                          "With --request-rate: the cap on requests in flight."),
    ] = None,
    request_rate: Annotated[
        float | None,
        typer.Option(min=0.001, help="Poisson arrivals, mean requests per second (seeded)."),
    ] = None,
    num_requests: Annotated[int, typer.Option(min=1, help="Requests per level.")] = 40,
    input_tokens: Annotated[int, typer.Option(min=1, help="Words per prompt (~tokens).")] = 32,
    output_tokens: Annotated[int, typer.Option(min=1, help="max_tokens of each request.")] = 16,
    timeout: Annotated[float, typer.Option(min=0.01, help="Seconds each request may take.")] = (
        60.0),
    api_key: Annotated[
        str | None,
        typer.Option(help="Bearer token (default: $OPENAI_API_KEY); never stored or logged.",
                     show_default=False),
    ] = None,
    slo_ttft_ms: Annotated[float | None, typer.Option(help="Goodput SLO on TTFT (ms).")] = None,
    slo_tpot_ms: Annotated[float | None, typer.Option(help="Goodput SLO on TPOT (ms).")] = None,
    slo_e2e_ms: Annotated[float | None, typer.Option(help="Goodput SLO on E2E (ms).")] = None,
    seed: Annotated[int, typer.Option(help="Seeds prompts and arrivals.")] = 0,
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB file (default SKILLSETS_WAREHOUSE).")] = None,
    store: Annotated[bool, typer.Option(help="Store the rows in the warehouse.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Measure an OpenAI-compatible endpoint at each load level, as vLLM's serving benchmark
    does: TTFT, TPOT, ITL, end-to-end latency (p50/p90/p99), request and token throughput,
    goodput under the SLOs given, and errors by kind. Exits 1 when every request failed."""
    if request_rate is not None:
        caps = parse_concurrency(concurrency) if concurrency else [None]
        if len(caps) > 1:
            fail("with --request-rate, --concurrency is one cap on requests in flight, not a list")
        loads = (Load(concurrency=caps[0], rate=request_rate),)
    else:
        loads = tuple(Load(concurrency=c) for c in parse_concurrency(concurrency or "1"))
    try:
        settings = load_settings(warehouse=warehouse)
        config = ApiBenchConfig(
            base_url=base_url, model=model, endpoint=endpoint.value, loads=loads,
            num_requests=num_requests, input_tokens=input_tokens, output_tokens=output_tokens,
            timeout_s=timeout, slo=Slo(slo_ttft_ms, slo_tpot_ms, slo_e2e_ms), seed=seed,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or None)
    except (SettingsError, ValueError) as exc:
        fail(str(exc))
    from hardware.fingerprint import environment_fingerprint

    fingerprint = environment_fingerprint()
    run_id = f"api-{uuid.uuid4().hex[:12]}"
    result = run_api_bench(config, run_id, fingerprint.environment_id)
    stored = store_api_bench(result, settings.warehouse, fingerprint) if store else 0
    if as_json:
        typer.echo(json.dumps({
            "run_id": run_id, "model": result.model, "hardware": result.hardware,
            "completed": result.completed, "errors": result.errors(), "rows_stored": stored,
            "levels": [{"load": load.label, "completed": m.completed, "errors": m.errors,
                        "request_throughput": m.request_throughput,
                        "output_throughput": m.output_throughput, "goodput": m.goodput,
                        "ttft_p50_ms": m.ttft.p50 if m.ttft else None,
                        "e2e_p50_ms": m.e2e_latency.p50 if m.e2e_latency else None}
                       for load, m in result.levels],
        }, indent=2))
    else:
        console.print(_table(result))
        if store:
            console.print(f"{stored} rows stored in {settings.warehouse} (run {run_id})")
    for kind, entry in result.errors().items():
        err_console.print(f"[yellow]{entry['count']} x {kind}:[/] {entry['cause']}",
                          highlight=False)
    if result.all_failed:
        fail(f"every request to {base_url} failed; see the causes above", code=1)
