"""Prefect artifacts of a run: its summary, its alerts and a link to its report.

Created inside a flow or task run, the artifacts are attached to that run and the Prefect UI shows
them on the run page (tab "Artifacts"); the keys also make each one a versioned artifact that is
browsable across runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

SUMMARY_KEY = "skillsets-run-summary"
ALERTS_KEY = "skillsets-alerts"
REPORT_KEY = "skillsets-report"


@dataclass(frozen=True)
class RunArtifacts:
    """Ids of the three artifacts one run published."""

    summary: UUID
    alerts: UUID
    report: UUID


def publish_run_artifacts(
    summary_md: str,
    alerts_rows: Sequence[Mapping[str, Any]],
    report_path: Path | str,
) -> RunArtifacts:
    """Publish the run's markdown summary, its alerts as a table and a link to its HTML report.

    Call it from inside a flow or task run so the artifacts land on that run's page.

    Args:
        summary_md: Markdown summary of the run (see `warehouse.report.summary_markdown`).
        alerts_rows: One mapping per alert (column name to value); empty for a clean run, which
            still publishes an (empty) table so every run's page has the same three artifacts.
        report_path: The report's HTML file (linked as a `file://` URI) or an http(s) URL.

    Returns:
        The ids of the created artifacts.
    """
    link = str(report_path)
    if "://" not in link:
        link = Path(link).resolve().as_uri()
    rows = [{key: _cell(value) for key, value in row.items()} for row in alerts_rows]
    return RunArtifacts(
        summary=create_markdown_artifact(
            markdown=summary_md, key=SUMMARY_KEY, description="Run summary"
        ),
        alerts=create_table_artifact(
            table=rows, key=ALERTS_KEY, description=f"{len(rows)} alert(s), open first"
        ),
        report=create_link_artifact(
            link=link, link_text="HTML report", key=REPORT_KEY, description="Charts and tables"
        ),
    )


def _cell(value: Any) -> Any:
    """Table artifacts are JSON: keep numbers, bools and None, write everything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
