"""`skillsets demo`: the main job on the embedded defaults (what `make demo` runs)."""

from __future__ import annotations

from cli.hardware import hardware


def demo() -> None:
    """Run the pipeline end to end on the embedded defaults and say where the results are."""
    hardware(as_json=False)
