"""`skillsets demo`: the main job on the embedded defaults (what `make demo` runs)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from cli.hardware import hardware
from cli.nightly import print_outcome, run_nightly
from cli.quiet import quiet_terminal

#: What the demo measures: the critical tier's types as tiny random-weight models (a 2-layer
#: config shrunk from each type's default), so the whole job fits in about ten minutes; the
#: nightly deployments measure `reference` size.
SIZE = "tiny (seeded random weights, each type's config shrunk to 2 layers)"


def demo() -> None:
    """Run `nightly` on the critical tier with the embedded defaults: ephemeral Prefect, a local
    hardware-tagged Dask cluster and the DuckDB file under data/; print a summary and where the
    report, its screenshot and the full log are."""
    # Imported before the terminal is quieted: importing Prefect configures its loggers, which
    # would drop the handler that shows the flow runs' lines on the terminal.
    import flows.nightly  # noqa: F401
    from skillsets.settings import load_settings

    hardware(as_json=False)
    settings = load_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_path = Path(settings.output_dir).resolve() / "logs" / f"demo-{stamp}.log"
    with quiet_terminal(log_path) as out:
        out.print(f"running the nightly flow on the critical tier, size {SIZE}")
        out.print(f"library warnings and progress go to {log_path}")
        result = run_nightly(
            priority="critical", batch_sizes=[1, 2], runs=5, screenshot=True, size="tiny"
        )
        out.rule("summary")
        print_outcome(result, out)
        screenshot = Path(result["report"]).with_name("report.png")
        out.print(f"screenshot: [bold]{screenshot}[/]")
        out.print(f"full log: {log_path}")
        prefect_home = os.environ.get("PREFECT_HOME", str(Path.home() / ".prefect"))
        prefect = Path(sys.executable).with_name("prefect")
        out.print(
            "Prefect UI on this history: "
            f"[bold]PREFECT_HOME={prefect_home} {prefect} server start[/], "
            "then open http://127.0.0.1:4200"
        )
