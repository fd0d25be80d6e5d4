"""`skillsets analyze-tests`: a test suite's inventory, duplicate clusters, smells and plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.output import console, fail, print_json
from cli.warehouse import WarehouseOption
from hardware.names import UnknownNameError
from skillsets.settings import SettingsError, load_settings
from warehouse.store import WarehouseLockedError


def analyze_tests(
    paths: Annotated[list[Path], typer.Argument(help="Test files or folders.")],
    threshold: Annotated[
        float,
        typer.Option(help="Near-duplicate Jaccard threshold over shape shingles, in (0, 1]; "
                          "1 = exact clusters only."),
    ] = 0.8,
    rules: Annotated[
        str | None,
        typer.Option("--rules", help="Comma-separated smell rules, ids or names (default all)."),
    ] = None,
    long_lines: Annotated[int, typer.Option(help="Line limit of the long-test rule.")] = 50,
    min_block_lines: Annotated[
        int,
        typer.Option(help="Shortest run of statements shared by tests that is reported as a "
                          "block cluster; 0 = none."),
    ] = 4,
    packages: Annotated[
        str,
        typer.Option(help="Installed packages whose deprecated APIs tests must not call "
                          "(comma-separated; empty = skip the rule's scan)."),
    ] = "transformers,torch",
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Folder for the plan and report "
                                          "(default: SKILLSETS_OUTPUT_DIR/testsuite/ID)."),
    ] = None,
    warehouse: WarehouseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Read test modules with `ast` (never imported or run), store the inventory, clusters and
    smells in the warehouse, and write a Markdown plan and an HTML report."""
    import uuid

    from skillsets.testsuite.plan import suite_shape
    from skillsets.testsuite.run import analyze_and_store

    try:
        settings = load_settings(warehouse=warehouse)
    except SettingsError as exc:
        fail(str(exc))
    analysis_id = uuid.uuid4().hex
    folder = output_dir or settings.output_dir / "testsuite" / analysis_id
    try:
        outcome = analyze_and_store(
            paths, settings.warehouse, folder, threshold=threshold,
            packages=[p.strip() for p in packages.split(",") if p.strip()],
            rules=[r.strip() for r in rules.split(",") if r.strip()] if rules else None,
            long_lines=long_lines, min_block_lines=min_block_lines, analysis_id=analysis_id,
            cache_dir=settings.output_dir / "cache",
            quarantine_dir=settings.output_dir / "quarantine",
        )
    except (FileNotFoundError, ValueError, UnknownNameError, WarehouseLockedError) as exc:
        fail(str(exc))
    analysis = outcome.analysis
    shape = suite_shape(analysis)
    top = [
        {"cluster_id": c.cluster_id, "kind": c.kind, "tests": len(c.members),
         "lines_removed": c.lines_removed, "parametrize": c.proposal is not None}
        for c in analysis.clusters[:5]
    ]
    if as_json:
        print_json({
            "analysis_id": outcome.analysis_id, "shape": shape, "largest_clusters": top,
            "unparsable": {m.path: m.error for m in analysis.unparsable},
            "plan": str(outcome.plan), "report": str(outcome.report),
        })
        return
    table = Table("", "")
    table.columns[1].justify = "right"
    for key, value in shape.items():
        if key != "assertion kinds":
            table.add_row(key, str(value))
    console.print(table)
    for module in analysis.unparsable:
        console.print(f"[yellow]not parsed[/] {module.path}: {module.error}")
    for row in top:
        console.print(
            f"{row['cluster_id']}: {row['tests']} tests, -{row['lines_removed']} lines"
            + (" (parametrize)" if row["parametrize"] else "")
        )
    console.print(f"analysis [bold]{outcome.analysis_id}[/] stored in {settings.warehouse}")
    console.print(f"plan: {outcome.plan}\nreport: [bold]{outcome.report}[/]")
