"""Generating skillset files, cached on everything that decides their bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from prefect import task
from prefect.context import TaskRunContext

from hardware.fingerprint import package_version
from skillsets.catalog import select
from skillsets.generator import DEFAULT_OUTPUT_DIR, GENERATOR_VERSION, generate, template_hash


def _folder_state(folder: Path) -> str:
    """Names, sizes and mtimes of the generated files: a deleted or edited file changes it."""
    if not folder.is_dir():
        return "absent"
    digest = hashlib.sha256()
    for path in sorted(folder.glob("hf_*.py")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def generation_cache_key(_context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Same selection, same templates, same transformers, same files on disk: same output."""
    output_dir = Path(parameters.get("output_dir") or DEFAULT_OUTPUT_DIR)
    parts = [
        GENERATOR_VERSION,
        template_hash(),
        package_version("transformers") or "",
        repr(sorted((k, repr(v)) for k, v in parameters.items())),
        _folder_state(output_dir),
    ]
    return "generate-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


@task(name="generate-skillsets", cache_key_fn=generation_cache_key, persist_result=True)
def generate_skillsets(
    priority: str = "all", models: list[str] | None = None, output_dir: str | None = None
) -> dict[str, Any]:
    """Write a skillset module for every selected catalog entry; return what was written."""
    entries = select(priority, models=models)
    report = generate(entries, Path(output_dir) if output_dir else DEFAULT_OUTPUT_DIR)
    return {
        "output_dir": str(report.output_dir),
        "written": len(report.written),
        "unchanged": len(report.unchanged),
        "template_hash": report.template_hash,
        "seconds": round(report.seconds, 3),
    }
