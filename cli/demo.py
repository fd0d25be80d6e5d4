"""`skillsets demo`: the main job on the embedded defaults (what `make demo` runs)."""

from __future__ import annotations

from pathlib import Path

from cli.hardware import hardware
from cli.nightly import print_outcome, run_nightly
from cli.output import console


def demo() -> None:
    """Run `nightly` on the critical tier with the embedded defaults: ephemeral Prefect, a local
    hardware-tagged Dask cluster and the DuckDB file under data/; print where the report is."""
    hardware(as_json=False)
    result = run_nightly(priority="critical", batch_sizes=[1, 2], runs=5, screenshot=True)
    print_outcome(result)
    screenshot = Path(result["report"]).with_name("report.png")
    console.print(f"screenshot: [bold]{screenshot}[/]")
