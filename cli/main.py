"""Entry point of the `skillsets` console script: registers every subcommand."""

from __future__ import annotations

import typer

from cli import demo, hardware

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

if __name__ == "__main__":
    app()
