"""The test-suite analysis as a Prefect task (the work is in `skillsets.testsuite.run`)."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from skillsets.testsuite.run import AnalysisOutcome, analyze_and_store


@task(name="analyze-tests")
def analyze_tests_task(
    paths: list[str],
    warehouse: str,
    output_dir: str,
    threshold: float,
    analysis_id: str,
    cache_dir: str,
) -> AnalysisOutcome:
    """Analyse the suite under `paths` with `ast`, store it and write the plan and report."""
    return analyze_and_store(
        paths, warehouse, output_dir, threshold=threshold, analysis_id=analysis_id,
        cache_dir=Path(cache_dir),
    )
