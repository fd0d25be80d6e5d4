"""`skillsets nightly`: the whole pipeline as a Prefect flow run, from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.output import console, fail


def _split(values: list[str] | None) -> list[str] | None:
    """`--model a --model b` and `--model a,b` alike."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def run_nightly(**parameters: Any) -> dict[str, Any]:
    """Run the `nightly` flow in this process (ephemeral Prefect unless PREFECT_API_URL is set)."""
    from flows.nightly import nightly as nightly_flow

    return nightly_flow(**parameters)


def nightly(
    priority: Annotated[
        str, typer.Option(help="Tier: critical, high, medium or all.")
    ] = "critical",
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", help="Model types instead of a tier (repeatable or comma-separated)."
        ),
    ] = None,
    hardware: Annotated[
        list[str] | None,
        typer.Option(
            "--hardware",
            help="Backends (repeatable or comma-separated); default SKILLSETS_HARDWARE.",
        ),
    ] = None,
    precision: Annotated[
        list[str] | None,
        typer.Option("--precision", help="fp32, bf16, fp16, int8 (repeatable); default fp32."),
    ] = None,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1,2",
    runs: Annotated[
        int, typer.Option(min=1, help="Timed iterations at least, per batch size.")
    ] = 10,
    screenshot: Annotated[
        bool, typer.Option(help="Also save a PNG screenshot of the report.")
    ] = False,
) -> None:
    """Generate, validate, benchmark, detect and report as one Prefect flow run (`nightly`)."""
    from hardware.names import UnknownNameError
    from skillsets.settings import SettingsError

    try:
        sizes = [int(b) for b in batch_sizes.split(",") if b.strip()]
    except ValueError:
        fail(f"--batch-sizes {batch_sizes!r} is not a comma-separated list of integers")
    try:
        result = run_nightly(
            priority=priority,
            models=_split(model),
            hardware=_split(hardware),
            precisions=_split(precision),
            batch_sizes=sizes,
            runs=runs,
            screenshot=screenshot,
        )
    except (SettingsError, UnknownNameError) as exc:
        fail(str(exc))
    print_outcome(result)


def print_outcome(result: dict[str, Any]) -> None:
    """Say what the run found and where its report is."""
    for hw, counts in result["validation"]["counts"].items():
        console.print(
            f"validation {hw}: {counts['pass']} pass, {counts['fail']} fail, {counts['skip']} skip"
        )
    opened = [a for a in result["alerts"] if a["status"] == "open"]
    console.print(f"benchmark run {result['benchmark_run_id']}: {len(opened)} open alerts")
    console.print(f"report: [bold]{result['report']}[/]")
