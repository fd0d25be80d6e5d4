"""`skillsets bench`: inference and throughput benchmarks on hardware-tagged Dask workers."""

from __future__ import annotations

import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.output import console, err_console, fail
from hardware.names import UnknownNameError
from hardware.registry import resolve_hardware
from skillsets.bench.measure import MeasureConfig
from skillsets.bench.precision import parse_precisions
from skillsets.bench.spec import (
    KINDS,
    REAL_OUTPUT_TOKENS,
    REAL_PROMPT_TOKENS,
    BenchmarkOutcome,
    generation_lengths,
)
from skillsets.bench.sweep import SweepResult, plan_sweep, run_benchmark_sweep
from skillsets.plan import order_longest_first
from skillsets.settings import SettingsError, load_settings
from warehouse.queries import stored_task_durations


class BenchType(StrEnum):
    inference = "inference"
    throughput = "throughput"
    both = "both"


def parse_positive_ints(text: str, what: str) -> list[int]:
    """`"1,2,4"` -> `[1, 2, 4]`; each must be a positive integer (`what` names them in errors)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of integers") from None
    if not values or any(value < 1 for value in values):
        raise typer.BadParameter(f"{what} must be positive integers, got {text!r}")
    return values


def parse_batch_sizes(text: str) -> list[int]:
    """`"1,2,4"` -> `[1, 2, 4]`; each must be a positive integer."""
    return parse_positive_ints(text, "batch sizes")


def _models(models: list[str] | None, priority: str | None, checkpoints: bool = False) -> list[str]:
    from skillsets.catalog import select

    if models and priority:
        fail("give --model or --priority, not both (--model names the exact models to run)")
    if checkpoints and not models and not priority:
        return []  # only the checkpoints are measured
    entries = select(priority or "critical", models=models or None)
    return [entry.model_type for entry in entries]


class Size(StrEnum):
    tiny = "tiny"
    reference = "reference"


def _summary(result: SweepResult) -> Table:
    table = Table(title=f"bench run {result.run_id}")
    for column in (
        "model",
        "hardware",
        "precision",
        "size",
        "batch",
        "benchmark",
        "metric",
        "value",
        "unit",
    ):
        table.add_column(column, justify="right" if column in ("batch", "value") else "left")
    for row in result.rows:
        value = f"{row.value:.4g}"
        if row.n and row.n > 1 and row.p90 is not None:
            value += f" (p90 {row.p90:.4g}, n={row.n})"
        table.add_row(
            row.model_type,
            row.hardware,
            row.precision,
            row.size,
            str(row.batch_size),
            row.benchmark,
            row.metric,
            value,
            row.unit,
        )
    return table


def _markdown(result: SweepResult) -> str:
    lines = [
        f"# Benchmark run {result.run_id}",
        "",
        f"Wall time {result.wall_seconds:.1f} s.",
        "",
        "| model | hardware | precision | size | batch | benchmark | metric | value | unit | n |",
        "| --- | --- | --- | --- | ---: | --- | --- | ---: | --- | ---: |",
    ]
    for r in result.rows:
        lines.append(
            f"| {r.model_type} | {r.hardware} | {r.precision} | {r.size} | {r.batch_size} | "
            f"{r.benchmark} | {r.metric} | {r.value:.6g} | {r.unit} | {r.n or ''} |"
        )
    notes = [o for o in result.outcomes if o.reason]
    if notes:
        lines += ["", "## Not measured, or not all of it", ""]
        lines += [
            f"- {o.spec.model_type} / {o.spec.hardware} / {o.spec.precision}: "
            f"**{o.status}** — {o.reason}"
            for o in notes
        ]
    return "\n".join(lines) + "\n"


def bench(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model type to benchmark (repeatable). Default: the --priority tier.",
        ),
    ] = None,
    priority: Annotated[
        str | None,
        typer.Option(help="Tier to benchmark: critical, high, medium, all (default critical)."),
    ] = None,
    hardware: Annotated[
        str | None,
        typer.Option(help="Comma-separated backends, or 'auto' (default: SKILLSETS_HARDWARE)."),
    ] = None,
    bench_type: Annotated[
        BenchType, typer.Option("--type", help="Which benchmark to run.")
    ] = BenchType.inference,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1,2,4,8",
    runs: Annotated[
        int,
        typer.Option(min=1, help="Timed iterations at least (and calls per concurrent worker)."),
    ] = 10,
    min_seconds: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Timed seconds at least per loop; the loop ends when both minimums are met.",
        ),
    ] = 1.0,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed warm-up calls per loop.")] = 3,
    concurrent_workers: Annotated[
        int, typer.Option(min=1, help="Concurrent threads of the throughput benchmark.")
    ] = 2,
    precision: Annotated[
        str, typer.Option(help="Comma-separated precisions (fp32, bf16, fp16, int8) or 'all'.")
    ] = "fp32",
    output_dir: Annotated[
        Path | None,
        typer.Option(help="Folder for bench-<run_id>.json (default SKILLSETS_OUTPUT_DIR)."),
    ] = None,
    warehouse: Annotated[
        Path | None,
        typer.Option(help="DuckDB warehouse to load rows into (default SKILLSETS_WAREHOUSE)."),
    ] = None,
    report: Annotated[
        bool,
        typer.Option(
            "--report", help="Print a results table and write bench-<run_id>.md beside the JSON."
        ),
    ] = False,
    skip_import: Annotated[
        bool,
        typer.Option(
            "--skip-import-time", help="Do not time a cold import in a fresh interpreter."
        ),
    ] = False,
    run_id: Annotated[str | None, typer.Option(help="Run id (default: a new one).")] = None,
    size: Annotated[
        Size,
        typer.Option(help="tiny: the catalog's 2-layer random model; reference: the type's "
                     "default config (bert-base for bert) with seeded random weights."),
    ] = Size.reference,
    checkpoint: Annotated[
        list[str] | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint to measure (repeatable): a folder with config.json or a model id "
            "in the HF cache, as PATH or MODEL_TYPE=PATH. Without --model/--priority only the "
            "checkpoints run.",
        ),
    ] = None,
    prompt_tokens: Annotated[
        int | None,
        typer.Option(min=1, help=f"Prompt tokens of generators (default {REAL_PROMPT_TOKENS} "
                     "at reference size and for checkpoints; the example text at tiny)."),
    ] = None,
    output_tokens: Annotated[
        int | None,
        typer.Option(min=1, help=f"Tokens per generate() (default {REAL_OUTPUT_TOKENS} at "
                     "reference size and for checkpoints; the runtime's 8 at tiny)."),
    ] = None,
) -> None:
    """Benchmark inference (latency per batch size, load times, memory) and throughput
    (concurrent workers vs sequential) on Dask workers tagged with each backend."""
    from hardware.cluster import connect, start_local_cluster
    from skillsets.runtime.weights import SkillUnavailableError, parse_checkpoint

    try:
        settings = load_settings(
            hardware=hardware.split(",") if hardware else None,
            output_dir=output_dir,
            warehouse=warehouse,
        )
        precisions = parse_precisions(precision)
        # Resolved before anything starts: a name that is not on disk stops the run here.
        checkpoints = [parse_checkpoint(text) for text in checkpoint or []]
        models = _models(model, priority, checkpoints=bool(checkpoints))
    except (SettingsError, UnknownNameError, SkillUnavailableError, ValueError) as exc:
        fail(str(exc))
    prompt_tokens, output_tokens = generation_lengths(
        size.value, prompt_tokens, output_tokens, checkpoints=bool(checkpoints)
    )
    sizes = parse_batch_sizes(batch_sizes)
    present, absent = resolve_hardware(settings.hardware)
    for name in absent:
        err_console.print(f"[yellow]skipping {name}: not available here[/]")
    if not present:
        fail("none of the requested hardware is available; see `skillsets hardware`")
    kinds = KINDS if bench_type is BenchType.both else (bench_type.value,)
    run_id = run_id or f"bench-{uuid.uuid4().hex[:12]}"
    measure = MeasureConfig(
        warmup_runs=warmup,
        min_iterations=runs,
        min_seconds=min_seconds,
        max_seconds=max(120.0, min_seconds),
    )
    plan = plan_sweep(
        run_id,
        models,
        present,
        precisions,
        batch_sizes=sizes,
        kinds=kinds,
        measure=measure,
        concurrent_workers=concurrent_workers,
        throughput_calls=runs,
        measure_import=not skip_import,
        size=size.value,
        checkpoints=checkpoints,
        memory_budget=settings.memory_budget,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
    )
    # Longest-first from the warehouse's task times (model size where there is no history).
    plan = order_longest_first(plan, stored_task_durations(settings.warehouse))
    parameters = {
        "models": models,
        "hardware": present,
        "precisions": precisions,
        "batch_sizes": sizes,
        "kinds": list(kinds),
        "runs": runs,
        "min_seconds": min_seconds,
        "warmup": warmup,
        "concurrent_workers": concurrent_workers,
        "size": size.value,
        "checkpoints": [f"{t}={p}" for t, p in checkpoints],
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
    }

    if settings.scheduler_address:
        cluster, client = None, connect(settings)
    else:
        cluster, client = start_local_cluster(present)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as progress:
            bar = progress.add_task(f"bench {len(plan)} tasks", total=len(plan))

            def advance(outcome: BenchmarkOutcome) -> None:
                spec = outcome.spec
                progress.update(
                    bar,
                    advance=1,
                    description=f"{spec.model_type}/{spec.hardware}/{spec.precision}/"
                    f"{spec.size} {outcome.status}",
                )

            result = run_benchmark_sweep(
                client,
                plan,
                run_id,
                warehouse_path=settings.warehouse,
                output_dir=settings.output_dir,
                parameters=parameters,
                on_outcome=advance,
            )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    for outcome in result.outcomes:
        if outcome.reason:
            colour = {"error": "red", "unsupported": "yellow"}.get(outcome.status, "yellow")
            spec = outcome.spec
            err_console.print(
                f"[{colour}]{spec.model_type}/{spec.hardware}/{spec.precision}/{spec.size}: "
                f"{outcome.status}[/] {outcome.reason}",
                highlight=False,
            )
    if report:
        console.print(_summary(result))
        if result.json_path is not None:
            md = result.json_path.with_suffix(".md")
            md.write_text(_markdown(result))
            console.print(f"report: {md}")
    console.print(
        f"run {run_id}: {len(result.rows)} rows from {len(result.outcomes)} tasks in "
        f"{result.wall_seconds:.1f} s -> {settings.warehouse}; JSON {result.json_path}"
    )
    if result.errors:
        raise typer.Exit(1)
