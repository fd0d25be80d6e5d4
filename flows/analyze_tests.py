"""The `analyze-tests` flow: a test suite's inventory, duplicate clusters, smells and plan."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from flows.common import flow_settings, recorded_run
from tasks.analyze_tests import analyze_tests_task


@flow(name="analyze-tests", log_prints=True)
def analyze_tests(
    paths: list[str] | None = None, threshold: float = 0.8, output_dir: str | None = None
) -> str:
    """Analyse test files with `ast` (nothing is imported or run) and store the result.

    The analysis id is the flow run's id, so its rows link to the run and its environment.

    Args:
        paths: test files or folders (default: `tests`).
        threshold: near-duplicate Jaccard threshold in (0, 1].
        output_dir: folder for the plan and report (default: SKILLSETS_OUTPUT_DIR/testsuite/ID).

    Returns:
        The path of the HTML report.
    """
    settings = flow_settings()
    parameters = {"paths": paths, "threshold": threshold, "output_dir": output_dir}
    with recorded_run(settings, "analyze-tests", parameters) as run_id:
        folder = output_dir or str(settings.output_dir / "testsuite" / run_id)
        outcome = analyze_tests_task(
            paths or ["tests"], str(settings.warehouse), folder, threshold, run_id,
            str(settings.output_dir / "cache"),
        )
    create_markdown_artifact(
        key="skillsets-testsuite-plan",
        markdown=outcome.plan.read_text(encoding="utf-8"),
        description=f"Test-suite plan of {', '.join(outcome.analysis.paths)}",
    )
    create_link_artifact(
        key="skillsets-testsuite-report", link=outcome.report.resolve().as_uri(),
        description="The test-suite report (HTML)",
    )
    print(
        f"{len(outcome.analysis.tests)} tests, {len(outcome.analysis.clusters)} clusters, "
        f"{len(outcome.analysis.smells)} smells; report {outcome.report}"
    )
    return str(outcome.report)
