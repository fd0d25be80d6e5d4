"""Entry point of the `skillsets` console script: registers every subcommand."""

from __future__ import annotations

import typer

from cli import (
    analyze_tests,
    bench,
    bench_api,
    catalog,
    demo,
    generate,
    hardware,
    metrics,
    nightly,
    report,
    serve,
    validate,
    warehouse,
)
from cli import detect as detect_cli

app = typer.Typer(
    name="skillsets",
    help="Generate, validate and benchmark hardware-aware HuggingFace model skillsets.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """Generate, validate and benchmark hardware-aware HuggingFace model skillsets."""


app.command("hardware")(hardware.hardware)
app.command("demo")(demo.demo)
app.command("catalog")(catalog.catalog)
app.command("generate")(generate.generate)
app.add_typer(warehouse.warehouse_app, name="warehouse")
app.command("validate")(validate.validate)
app.command("report")(report.report)
app.add_typer(metrics.metrics_app, name="metrics")
app.command("detect")(detect_cli.detect)
app.command("check")(detect_cli.check)
app.command("bench")(bench.bench)
app.command("nightly")(nightly.nightly)
app.command("analyze-tests")(analyze_tests.analyze_tests)
app.command("serve")(serve.serve)
app.command("bench-api")(bench_api.bench_api)

if __name__ == "__main__":
    app()
