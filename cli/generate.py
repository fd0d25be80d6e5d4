"""`skillsets generate`: write one skillset module per catalog entry (build output)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import console, fail
from hardware.names import UnknownNameError


def generate(
    models: Annotated[list[str] | None, typer.Argument(
        help="Model types (or original names like xlm-roberta); default: the --priority tier.",
        show_default=False)] = None,
    priority: Annotated[str, typer.Option(
        help="Tier when no model is named: critical, high, medium or all.")] = "all",
    output_dir: Annotated[Path | None, typer.Option(
        help="Folder for hf_<type>.py files [default: skillsets/generated].")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; exit 1 when a file is missing or stale.")] = False,
) -> None:
    """Render skillsets from the templates: deterministic, atomic, only changed files rewritten."""
    from skillsets.catalog import select
    from skillsets.generator import DEFAULT_OUTPUT_DIR, UnsafeNameError, check_model_name
    from skillsets.generator import generate as render_all

    try:
        for name in models or []:
            check_model_name(name)  # refuse `bert;import os` before touching the catalog
        entries = select(priority, models=models or None)
        report = render_all(entries, output_dir or DEFAULT_OUTPUT_DIR, check=check)
    except (UnknownNameError, UnsafeNameError) as exc:
        fail(exc.message if isinstance(exc, UnknownNameError) else str(exc))
    if check:
        if report.stale:
            shown = ", ".join(report.stale[:10]) + (" ..." if len(report.stale) > 10 else "")
            console.print(f"[red]{len(report.stale)} stale[/] of {len(entries)} in "
                          f"{report.output_dir}: {shown}")
            raise typer.Exit(1)
        console.print(f"[green]up to date[/]: {len(report.unchanged)} skillsets in "
                      f"{report.output_dir}")
        return
    console.print(f"{len(report.written)} written, {len(report.unchanged)} unchanged in "
                  f"{report.output_dir} ({report.seconds:.2f} s, templates {report.template_hash})")
