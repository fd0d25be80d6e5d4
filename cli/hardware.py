"""`skillsets hardware`: what this machine can run on."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.output import console, print_json
from hardware.fingerprint import environment_fingerprint
from hardware.registry import detect_all
from hardware.resources import resource_tags


def hardware(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON object keyed by backend.")
    ] = False,
) -> None:
    """Detect each hardware backend (cpu, cuda, rocm, openvino, mps, qnn); say why one is absent."""
    statuses = detect_all()
    if as_json:
        print_json({name: status.as_dict() for name, status in statuses.items()})
        return
    table = Table(title="Hardware backends")
    table.add_column("backend", style="bold")
    table.add_column("available")
    table.add_column("device / reason")
    for name, status in statuses.items():
        if status.available:
            count = status.details.get("count")
            device = str(status.details.get("device_name", "")) + (f" x{count}" if count else "")
            table.add_row(name, "[green]yes[/]", device)
        else:
            table.add_row(name, "[red]no[/]", f"[dim]{status.reason}[/]")
    console.print(table)
    fp = environment_fingerprint()
    console.print(
        f"environment [bold]{fp.environment_id}[/]  git {fp.git_sha[:12]}  "
        f"python {fp.python}  torch {fp.packages['torch']}  "
        f"transformers {fp.packages['transformers']}"
    )
    console.print(f"Dask worker resources: {resource_tags()}")
