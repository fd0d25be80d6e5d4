"""What every flow does at its edges: resolve settings, record the run, close it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from skillsets.settings import Settings, load_settings
from tasks.runs import begin_run, end_run


def flow_settings(hardware: list[str] | None = None, **overrides: Any) -> Settings:
    """Settings from the environment with the flow's parameters on top."""
    return load_settings(hardware=hardware, **overrides)


@contextmanager
def recorded_run(settings: Settings, flow_name: str, parameters: dict[str, Any]) -> Iterator[str]:
    """Record the flow run in `runs`; mark it completed, or failed if the body raises."""
    run_id = begin_run(str(settings.warehouse), flow_name, parameters)
    try:
        yield run_id
    except BaseException:
        end_run(str(settings.warehouse), run_id, "failed")
        raise
    end_run(str(settings.warehouse), run_id, "completed")
