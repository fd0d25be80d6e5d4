"""A terminal a person can read: library output goes to a log file, the run's story stays.

Libraries write warnings (transformers' generation notices, TracerWarnings from every OpenVINO
conversion), progress lines and Dask worker chatter to stdout and stderr, from this process and
from the worker processes it starts. Redirecting file descriptors 1 and 2 to the log catches all
of them, children included, which no logging configuration can. What the person should see is
written to the terminal saved before the redirect: the flow runs' own log lines (stage begun,
its counts, its final state) and the closing summary.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from rich.console import Console

#: Prefect's logger for flow-run records (not task runs): one line per stage event.
FLOW_RUN_LOGGER = "prefect.flow_runs"


class _TerminalHandler(logging.Handler):
    """Writes flow-run log records to the terminal as one short line each."""

    def __init__(self, console: Console) -> None:
        super().__init__(level=logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("View at "):
            return  # the temporary API's URL is gone once the run ends; the summary says how
        flow = getattr(record, "flow_name", None) or "flow"
        stamp = self.formatter.formatTime(record, "%H:%M:%S") if self.formatter else ""
        try:
            self.console.print(
                f"[dim]{stamp}[/] [bold]{flow}[/] {record.getMessage()}", highlight=False
            )
        except Exception:  # a logging handler must not raise into the code that logged
            self.handleError(record)


@contextmanager
def quiet_terminal(log_path: Path) -> Iterator[Console]:
    """Send everything written to stdout/stderr (this process and its children) to `log_path`.

    Yields:
        A console on the real terminal, for what the person should read.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal: TextIO = os.fdopen(os.dup(saved_out), "w", buffering=1)
    console = Console(file=terminal, force_terminal=terminal.isatty(), soft_wrap=True)
    handler = _TerminalHandler(console)
    handler.setFormatter(logging.Formatter())
    flow_logger = logging.getLogger(FLOW_RUN_LOGGER)
    with log_path.open("ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        flow_logger.addHandler(handler)
        try:
            yield console
        finally:
            flow_logger.removeHandler(handler)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()
