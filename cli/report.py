"""`skillsets report`: the HTML report of a run, with its charts exported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import console, fail
from cli.warehouse import WarehouseOption, _open
from hardware.names import UnknownNameError
from skillsets.settings import SettingsError, load_settings


def report(
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Run to report on (default: the latest).")
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Folder for report.html and charts/ (default: SKILLSETS_OUTPUT_DIR/reports/RUN).",
        ),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", help="Comma-separated, any of: html,png,svg,json,pdf.")
    ] = "html,png",
    warehouse: WarehouseOption = None,
) -> None:
    """Write a self-contained HTML report (alerts, summary, interactive charts) and chart files."""
    # Imported here: Altair, vl-convert and SciPy cost seconds every other command need not pay.
    from skillsets.tiers import TIERS
    from warehouse.report import build_report, parse_formats

    try:
        picked = parse_formats(formats)
        settings = load_settings(warehouse=warehouse)
    except (UnknownNameError, ValueError, SettingsError) as exc:
        fail(str(exc))
    with _open(warehouse, read_only=True) as wh:
        if run_id is None:
            latest = wh.query("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")
            folder = latest["run_id"][0] if latest.height else "empty"
        else:
            folder = run_id
        out = output_dir or settings.output_dir / "reports" / folder
        try:
            paths = build_report(wh, run_id, output_dir=out, formats=picked, tiers=TIERS)
        except ValueError as exc:
            fail(str(exc))
    if paths.html is not None:
        console.print(f"report: [bold]{paths.html}[/]")
    files = sum(len(formats) for formats in paths.charts.values())
    if files:
        console.print(f"{files} chart files in {paths.output_dir / 'charts'}")
