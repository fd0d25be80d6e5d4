"""`skillsets detect` (regression alerts for people) and `skillsets check` (the CI gate)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.output import console, err_console, fail, print_json
from cli.warehouse import WarehouseOption, _open
from skillsets.settings import SettingsError, load_settings
from warehouse.store import Warehouse

_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def _latest_completed_run(wh: Warehouse) -> str:
    latest = wh.query(
        "SELECT run_id FROM runs WHERE status = 'completed' "
        "ORDER BY started_at DESC, run_id DESC LIMIT 1"
    )
    if latest.is_empty():
        fail("no completed run in the warehouse; pass --run-id (see `skillsets warehouse info`)")
    return str(latest["run_id"][0])


def _alerts_table(title: str, alerts: list[dict]) -> Table:
    table = Table(title=title)
    columns = ("status", "severity", "series", "change", "confidence", "first bad run", "alert")
    for column in columns:
        table.add_column(column, justify="right" if column in ("change", "confidence") else "left")
    for a in alerts:
        style = _SEVERITY_STYLE[a["severity"]]
        series = (f"{a['model_type']}/{a['hardware']}/{a['precision']}/bs{a['batch_size']}/"
                  f"{a['benchmark']}/{a['metric']}")
        table.add_row(a["status"], f"[{style}]{a['severity']}[/]", series, f"{a['change']:+.1%}",
                      f"{a['confidence']:.4f}", a["first_bad_run_id"], a["alert_id"])
    return table


def detect(
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="Run to judge (default: the latest completed run)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
    warehouse: WarehouseOption = None,
) -> None:
    """Judge every series a run measured against its history; open, refresh and close alerts.

    A regression is a change point followed by runs that are significantly (p < 0.002) and at
    least 5% worse than before it; severity by the change: low >= 5%, medium >= 10%, high >= 20%,
    critical >= 30%. One change raises one alert; a recovered series closes it.
    """
    from warehouse.regressions import detect_regressions, open_alerts

    with _open(warehouse, read_only=False) as wh:
        run = run_id or _latest_completed_run(wh)
        try:
            written = detect_regressions(wh, run)
        except ValueError as exc:
            fail(str(exc))
        still_open = open_alerts(wh).to_dicts()
    touched = [a.model_dump(mode="json") for a in written]
    if as_json:
        print_json({"run_id": run, "alerts": touched, "open": still_open})
        return
    opened = [a for a in written if a.status == "open"]
    closed = [a for a in written if a.status == "closed"]
    console.print(f"run [bold]{run}[/]: {len(opened)} open alert(s) raised or refreshed, "
                  f"{len(closed)} closed; {len(still_open)} open in the warehouse")
    if written:
        rows = [a.model_dump() for a in written]
        console.print(_alerts_table(f"alerts touched by run {run}", rows))
    for alert in written:
        console.print(f"  [dim]{alert.message}[/]", highlight=False)


def check(
    baseline: Annotated[
        str,
        typer.Option("--baseline", help="Baseline: a run id, a branch (runs.parameters.branch, or "
                     "the newest measured commit of a git branch) or a git sha."),
    ],
    current: Annotated[
        str | None,
        typer.Option("--current", help="Run under test (default: the latest completed run)."),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="Markdown summary file, appended to (e.g. "
                     "$GITHUB_STEP_SUMMARY); default SKILLSETS_OUTPUT_DIR/check/summary.md."),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit",
                     help="JUnit XML file (default SKILLSETS_OUTPUT_DIR/check/junit.xml)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
    warehouse: WarehouseOption = None,
) -> None:
    """CI gate: compare a run with a baseline; exit 1 on any regression.

    Writes a markdown summary (fit for a CI job summary) and JUnit XML (one test case per series;
    a regression is a failure). Exit codes: 0 no regression, 1 regression, 2 usage error.
    """
    from warehouse.regressions import check_gate

    try:
        settings = load_settings(warehouse=warehouse)
    except SettingsError as exc:
        fail(str(exc))
    with _open(warehouse, read_only=True) as wh:
        run = current or _latest_completed_run(wh)
        try:
            result = check_gate(wh, baseline, run)
        except ValueError as exc:
            fail(str(exc))
    summary = result.to_markdown()
    markdown_path = markdown or settings.output_dir / "check" / "summary.md"
    junit_path = junit or settings.output_dir / "check" / "junit.xml"
    for path in (markdown_path, junit_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    # Appended, so the same file can collect several gates (GitHub's step summary is shared).
    with markdown_path.open("a" if markdown is not None else "w", encoding="utf-8") as handle:
        handle.write(summary + "\n")
    junit_path.write_text(result.to_junit_xml(), encoding="utf-8")
    if as_json:
        print_json({
            "baseline_run_id": result.baseline.run_id,
            "baseline_reference": result.baseline.reference,
            "baseline_resolved_by": result.baseline.how,
            "current_run_id": result.current_run_id,
            "failed": result.failed,
            "counts": result.counts(),
            "rows": [
                {"series": row.key._asdict(), "unit": row.unit, "status": row.status,
                 "severity": row.severity, "baseline": row.baseline, "current": row.current,
                 "change": row.comparison.change if row.comparison else None,
                 "low": row.comparison.low if row.comparison else None,
                 "high": row.comparison.high if row.comparison else None,
                 "p_value": row.comparison.p_value if row.comparison else None,
                 "test": row.comparison.test if row.comparison else None}
                for row in result.rows
            ],
        })
    else:
        console.print(summary, markup=False, highlight=False)
    err_console.print(f"markdown: {markdown_path}  junit: {junit_path}", highlight=False)
    if result.failed:
        raise typer.Exit(1)
