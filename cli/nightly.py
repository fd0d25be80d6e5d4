"""`skillsets nightly`: the whole pipeline as a Prefect flow run, from the command line."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.console import Console

from cli.output import console, fail


def _split(values: list[str] | None) -> list[str] | None:
    """`--model a --model b` and `--model a,b` alike."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def run_nightly(**parameters: Any) -> dict[str, Any]:
    """Run the `nightly` flow in this process, reporting to `PREFECT_API_URL`, else to one
    temporary Prefect server that the Dask workers share (`flows.server`)."""
    from flows.nightly import nightly as nightly_flow
    from flows.server import shared_prefect_api

    with shared_prefect_api():
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
    size: Annotated[
        str, typer.Option(help="Benchmark size: reference (each type's default config) or tiny.")
    ] = "reference",
    checkpoint: Annotated[
        list[str] | None,
        typer.Option("--checkpoint", help="Also benchmark this checkpoint (PATH or TYPE=PATH; "
                     "repeatable)."),
    ] = None,
) -> None:
    """Generate, validate, benchmark, detect and report as one Prefect flow run (`nightly`)."""
    from hardware.names import UnknownNameError
    from skillsets.runtime.errors import SkillUnavailableError
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
            size=size,
            checkpoints=checkpoint,
        )
    except (SettingsError, UnknownNameError, SkillUnavailableError) as exc:
        fail(str(exc))
    print_outcome(result)


def _causes(problems: list[dict[str, Any]], status: str, top: int = 3) -> list[str]:
    """The most common causes among the problems of one status, as `n x error: models`."""
    groups: dict[tuple[str, str], list[str]] = {}
    for p in problems:
        if p["status"] == status:
            message = (p["message"] or "").split("\n")[0]
            # "[load] t5: openvino runs ..." -> "openvino runs ...": the models are listed apart.
            message = re.sub(r"^\[\w+\] ", "", message).removeprefix(f"{p['model_type']}: ")
            key = (p["hardware"], f"{p['error_type'] or 'error'}: {message[:110]}")
            groups.setdefault(key, []).append(p["model_type"])
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [
        f"{hw}: {len(models)} x {cause} ({', '.join(sorted(models))})"
        for (hw, cause), models in ranked[:top]
    ]


def print_outcome(result: dict[str, Any], out: Console | None = None) -> None:
    """Say what the run found: checks per backend with the top causes of failures and of
    unsupported pairs, the benchmark run and its alerts, and where the report is."""
    out = out or console
    validation = result["validation"]
    problems = validation.get("problems", [])
    for hw, counts in validation["counts"].items():
        out.print(
            f"validation [bold]{hw}[/]: [green]{counts['pass']} pass[/], "
            f"[red]{counts['fail']} fail[/], {counts.get('unsupported', 0)} unsupported, "
            f"{counts['skip']} skip"
        )
    for status, label in (("fail", "top failure causes"), ("unsupported", "unsupported")):
        lines = _causes(problems, status)
        if lines:
            out.print(f"  {label}:")
            for line in lines:
                out.print(f"    {line}", highlight=False)
    opened = [a for a in result["alerts"] if a["status"] == "open"]
    measured = f"size {result.get('size', 'reference')}"
    if result.get("checkpoints"):
        measured += f", checkpoints {', '.join(result['checkpoints'])}"
    out.print(
        f"benchmark run [bold]{result['benchmark_run_id']}[/] ({measured}): "
        f"{len(opened)} open alerts"
    )
    for alert in opened[:5]:
        out.print(f"  {alert['severity']}: {alert['message']}", highlight=False)
    out.print(f"report: [bold]{result['report']}[/]")
