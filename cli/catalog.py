"""`skillsets catalog`: the model types the installed transformers can run, and how."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from rich.table import Table

from cli.output import console, fail, print_json
from hardware.names import UnknownNameError


def catalog(
    priority: Annotated[str, typer.Option(help="Tier: critical, high, medium or all.")] = "all",
    family: Annotated[str | None, typer.Option(help="Only this architecture family.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of entries.")] = False,
) -> None:
    """List catalog entries: model type, family, task, Auto class, inputs and tier."""
    from skillsets.catalog import select

    try:
        entries = select(priority, family)
    except UnknownNameError as exc:
        fail(exc.message)
    if as_json:
        print_json([e.as_dict() for e in entries])
        return
    table = Table(title=f"Model catalog ({priority}{', ' + family if family else ''})")
    for column in ("model type", "family", "task", "auto class", "modality", "tier"):
        table.add_column(column, style="bold" if column == "model type" else None)
    for e in entries:
        table.add_row(e.model_type, e.family, e.task, e.auto_class or e.model_class, e.modality,
                      e.tier)
    console.print(table)
    counts = Counter(e.family for e in entries)
    console.print(f"{len(entries)} model types: "
                  + ", ".join(f"{f} {n}" for f, n in sorted(counts.items())))
