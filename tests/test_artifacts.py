"""Prefect artifacts land on the flow run that published them (against a real Prefect API)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from tasks.artifacts import ALERTS_KEY, REPORT_KEY, SUMMARY_KEY, publish_run_artifacts

pytestmark = pytest.mark.server


def test_a_flow_run_publishes_summary_alerts_and_report_link(
    prefect_api: None, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    report.write_text("<!DOCTYPE html><title>report</title>")
    alerts = [{"severity": "high", "status": "open", "model_type": "bert", "change": 0.3,
               "opened_at": datetime(2025, 6, 13, tzinfo=UTC), "message": "30% slower"}]

    @flow(name="artifact-check")
    def nightly() -> None:
        publish_run_artifacts("# Run `run-1`\n\n- open alerts: **1**\n", alerts, report)

    state = nightly(return_state=True)
    assert state.is_completed()
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    by_key = {artifact.key: artifact for artifact in found}
    assert set(by_key) == {SUMMARY_KEY, ALERTS_KEY, REPORT_KEY}
    assert by_key[SUMMARY_KEY].type == "markdown"
    assert "open alerts: **1**" in by_key[SUMMARY_KEY].data
    assert by_key[ALERTS_KEY].type == "table"
    assert "2025-06-13 00:00:00+00:00" in by_key[ALERTS_KEY].data
    assert by_key[REPORT_KEY].type == "markdown"  # link artifacts are stored as markdown links
    assert report.resolve().as_uri() in by_key[REPORT_KEY].data
