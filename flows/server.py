"""One Prefect API for every process of a run started from the command line.

Without `PREFECT_API_URL`, Prefect starts a temporary API server in the process that first
needs one, and so does each Dask worker process that runs a task: a nightly on two workers
started three servers on one SQLite file, and on a loaded machine a worker's server missed
Prefect's 20-s startup limit and failed the run. Starting one server here, before the cluster,
and exporting its URL makes the workers report to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: Seconds the temporary server may take to answer; generous for a loaded 2-core machine.
STARTUP_TIMEOUT_S = 120


@contextmanager
def shared_prefect_api() -> Iterator[str]:
    """The API URL the run reports to: `PREFECT_API_URL` when set, else a temporary server on
    127.0.0.1 (history in `PREFECT_HOME`'s database) exported to child processes.

    Yields:
        The API URL.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    server = SubprocessASGIServer()
    server.start(timeout=STARTUP_TIMEOUT_S)
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        # Send the logs still queued for the API before it goes, or Prefect prints
        # "Error logging to API" when its log worker next wakes up.
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()
