"""`skillsets validate`: run every selected skillset for real and store the compatibility matrix."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.markdown import Markdown

from cli.output import console, err_console, fail, print_json
from hardware.names import UnknownNameError
from hardware.registry import resolve_hardware
from skillsets.settings import SettingsError, load_settings
from skillsets.validation.isolate import DEFAULT_TIMEOUT_S
from warehouse.records import utcnow

_GIB = 1024**3


def _hardware_list(values: list[str] | None) -> list[str] | None:
    """`--hardware cpu --hardware openvino` and `--hardware cpu,openvino` alike."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of integers") from None
    if not sizes or any(size < 1 for size in sizes):
        raise typer.BadParameter(f"batch sizes must be positive integers, got {text!r}")
    return sizes


def validate(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Model types to validate (aliases accepted). Default: the --priority tier."
        ),
    ] = None,
    priority: Annotated[
        str | None,
        typer.Option(
            help="Tier: critical, high, medium or all (the whole catalog). Default critical."
        ),
    ] = None,
    family: Annotated[str | None, typer.Option(help="Keep only this architecture family.")] = None,
    hardware: Annotated[
        list[str] | None,
        typer.Option(
            "--hardware",
            help="Backend (repeatable or comma-separated); 'auto' = every available "
            "one. Absent backends are recorded as skip. Default: SKILLSETS_HARDWARE.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the records as JSON on stdout.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Seconds each model may run.")
    ] = DEFAULT_TIMEOUT_S,
    memory_gb: Annotated[
        float, typer.Option(min=0.1, help="Resident memory each model may use, GiB.")
    ] = 4.0,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Workers per backend (default: one per core, each pinned to its core)."
        ),
    ] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local", help="Run on a thread pool in this process instead of Dask workers."
        ),
    ] = False,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes to run.")] = "1,2",
    roundtrip: Annotated[
        bool,
        typer.Option(
            help="Check the save_pretrained / from_pretrained round trip (torch backends)."
        ),
    ] = True,
    inventory: Annotated[
        bool, typer.Option(help="Build and run every head class of each type.")
    ] = True,
    static: Annotated[
        bool, typer.Option(help="Generate each skillset file and run the static checks on it.")
    ] = True,
    store: Annotated[bool, typer.Option(help="Load the records into the warehouse.")] = True,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the HTML coverage report and JSON records "
            "(default SKILLSETS_OUTPUT_DIR)."
        ),
    ] = None,
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB warehouse (default SKILLSETS_WAREHOUSE).")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id (default: a new one).")] = None,
    checkpoint: Annotated[
        list[str] | None,
        typer.Option(
            "--checkpoint",
            help="Validate a checkpoint's real weights (repeatable): a folder with config.json "
            "or a model id in the HF cache, as PATH or MODEL_TYPE=PATH. Without model types or "
            "--priority only the checkpoints run.",
        ),
    ] = None,
) -> None:
    """Run each skillset for real on each hardware backend (load, forward or generate on synthetic
    inputs, output checks, from_pretrained round trip, OpenVINO vs torch), each model in its own
    process with time and memory limits; store the compatibility matrix and print its coverage.

    Exits 1 when any model fails."""
    from skillsets.catalog import build_catalog, select
    from skillsets.runtime.errors import SkillUnavailableError
    from skillsets.runtime.weights import parse_checkpoint
    from skillsets.validation.coverage import build_report, render_html, render_markdown
    from skillsets.validation.isolate import IsolationLimits
    from skillsets.validation.smoke import SmokeOptions
    from skillsets.validation.store import split_environments, store_validation_run
    from skillsets.validation.sweep import (
        SweepPlan,
        generate_and_check,
        run_validation_sweep,
        summarise,
    )

    try:
        settings = load_settings(
            hardware=_hardware_list(hardware), output_dir=output_dir, warehouse=warehouse
        )
        checkpoints = dict(parse_checkpoint(text) for text in checkpoint or [])
        if checkpoints and not models and not priority:
            entries = select("all", models=list(checkpoints))
        else:
            entries = select(priority or "critical", family=family, models=models or None)
    except (SettingsError, UnknownNameError, SkillUnavailableError, ValueError) as exc:
        fail(str(exc))
    if models and priority:
        fail("give model types or --priority, not both (model types name the exact models to run)")
    if not entries:
        fail(f"no model type matches priority={priority or 'critical'} family={family}")
    generated = tempfile.TemporaryDirectory(prefix="skillsets-validate-")
    # Remote workers cannot read this machine's folder: they round-trip through load_skill.
    local_workers = local or not settings.scheduler_address
    options = SmokeOptions(
        batch_sizes=_batch_sizes(batch_sizes),
        roundtrip=None if roundtrip else False,
        inventory=None if inventory else False,
        skillset_dir=generated.name if static and local_workers else None,
        checkpoints=checkpoints,
    )
    plan = SweepPlan(
        options=options,
        limits=IsolationLimits(timeout_s=timeout, memory_bytes=int(memory_gb * _GIB)),
        static=generate_and_check(entries, generated.name) if static else {},
    )
    present, _absent = resolve_hardware(settings.hardware)
    run_id = run_id or f"validate-{uuid.uuid4().hex[:12]}"
    started_at, t0 = utcnow(), time.perf_counter()
    err_console.print(
        f"validating {len(entries)} model types on {', '.join(settings.hardware)} (run {run_id})",
        highlight=False,
    )

    client = cluster = None
    if present and not local:
        from hardware.cluster import connect, start_local_cluster

        if settings.scheduler_address:
            client = connect(settings)
        else:
            cluster, client = start_local_cluster(
                present, threads_per_worker=1, workers_per_backend=workers or _cores()
            )
    try:
        records = run_validation_sweep(
            client,
            entries,
            settings.hardware,
            run_id,
            plan=plan,
            workers=workers,
            environment_id=None if settings.scheduler_address else _local_env(),
            console=err_console,
        )
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        generated.cleanup()
    wall = time.perf_counter() - t0

    parameters = {
        "models": [e.model_type for e in entries],
        "hardware": settings.hardware,
        "timeout_s": timeout,
        "memory_gb": memory_gb,
        "batch_sizes": list(options.batch_sizes),
        "roundtrip": roundtrip,
        "inventory": inventory,
        "checkpoints": checkpoints,
        "wall_seconds": round(wall, 1),
    }
    if store:
        catalog = build_catalog()
        inserted = store_validation_run(
            settings.warehouse,
            run_id,
            records,
            started_at=started_at,
            parameters=parameters,
            catalog_rows=[e.as_dict() for e in catalog.values()],  # untested types count too
        )
        err_console.print(f"stored {inserted.get('compatibility', 0)} rows in {settings.warehouse}")
    records, _ = split_environments(records)
    report = build_report(records, {e.model_type: e for e in entries})
    out = settings.output_dir / "validation"
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / f"coverage-{run_id}.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    (out / f"records-{run_id}.json").write_text(
        json.dumps([r.model_dump(mode="json") for r in records], indent=1), encoding="utf-8"
    )
    if as_json:
        print_json([r.model_dump(mode="json") for r in records])
    else:
        console.print(Markdown(render_markdown(report)))
    counts = summarise(records)
    err_console.print(
        f"run {run_id}: {len(records)} records in {wall:.1f} s  "
        + "  ".join(
            f"{hw}: {c['pass']} pass {c['fail']} fail {c['unsupported']} unsupported "
            f"{c['skip']} skip"
            for hw, c in counts.items()
        )
        + f"\ncoverage report: {html_path}",
        highlight=False,
    )
    if any(r.status == "fail" for r in records):
        raise typer.Exit(1)


def _cores() -> int:
    from skillsets.validation.sweep import usable_cores

    return usable_cores()


def _local_env() -> str:
    from hardware.fingerprint import environment_fingerprint

    return environment_fingerprint().environment_id
