"""Judging a run's series against their history and writing alerts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from distributed import Client
from prefect import task

from hardware.security import tls_security
from skillsets.settings import load_settings
from warehouse.analysis import DetectionConfig, SeriesReview
from warehouse.regressions import Reviewer, ReviewJob, detect_regressions, review_batch
from warehouse.store import Warehouse

#: Batches per worker: enough to even out slow series, few enough that each carries
#: hundreds of series (a Dask task costs about 1 ms of scheduling).
BATCHES_PER_WORKER = 4


def dask_reviewer(client: Client) -> Reviewer:
    """A reviewer that splits the series into batches and judges them on the client's workers.

    Batches keep their order, so the reviews line up with the jobs. A Dask task per series
    would cost more in scheduling than most series take to judge.
    """

    def review(jobs: Sequence[ReviewJob], config: DetectionConfig) -> list[SeriesReview | str]:
        if not jobs:
            return []
        workers = max(1, len(client.scheduler_info()["workers"]))
        size = math.ceil(len(jobs) / (workers * BATCHES_PER_WORKER))
        batches = [list(jobs[i : i + size]) for i in range(0, len(jobs), size)]
        # Scattered first: histories put into the task graph itself make it large and slow.
        futures = client.map(review_batch, client.scatter(batches), config=config, pure=False)
        return [review for batch in client.gather(futures) for review in batch]

    return review


@task(name="detect-regressions", task_run_name="detect regressions in {run_id}")
def detect_run(warehouse: str, run_id: str, scheduler: str | None = None) -> list[dict[str, Any]]:
    """Open, refresh and close alerts for every series `run_id` measured; return them as rows.

    Args:
        warehouse: Path of the warehouse file.
        run_id: The benchmark run whose series to judge.
        scheduler: Address of a Dask scheduler whose workers judge the series in parallel
            (with the settings' TLS when configured); None judges them here, one by one.
    """
    with Warehouse.open(warehouse) as wh:
        if scheduler is None:
            alerts = detect_regressions(wh, run_id)
        else:
            settings = load_settings()
            security = (tls_security(settings.tls_ca_file, settings.tls_cert_file,
                                     settings.tls_key_file) if settings.tls_enabled else None)
            kwargs = {"security": security} if security is not None else {}
            with Client(scheduler, **kwargs) as client:
                alerts = detect_regressions(wh, run_id, reviewer=dask_reviewer(client))
    return [alert.model_dump(mode="json") for alert in alerts]
