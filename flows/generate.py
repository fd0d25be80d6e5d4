"""The `generate` flow: a skillset module for every selected model type."""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.generate import generate_skillsets


@flow(name="generate", log_prints=True)
def generate(
    priority: str = "all", models: list[str] | None = None, output_dir: str | None = None
) -> dict[str, Any]:
    """Generate skillsets for a tier (or model list) into `output_dir` (skillsets/generated).

    Cached: the same selection with the same templates, transformers version and files on disk
    is not generated again.
    """
    summary = generate_skillsets(priority, models, output_dir)
    print(
        f"{summary['written']} written, {summary['unchanged']} unchanged in {summary['output_dir']}"
    )
    return summary
