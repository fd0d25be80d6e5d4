"""Prometheus exposition of the warehouse's latest values, served or pushed.

`WarehouseCollector` reads the warehouse (read-only) on every scrape, so Prometheus always sees
what is stored now; `serve` exposes it over HTTP, `push` sends the same families to a Pushgateway
from a process that already holds the warehouse open (a flow).

Metric families (all gauges; the series labels are model_type, hardware, precision, batch_size
and metric):

- `skillsets_latency_p50_seconds{series}`: latest p50 of each series in ms or s.
- `skillsets_throughput_per_second{series, unit}`: latest throughput, unit `items` or `tokens`.
- `skillsets_compatibility_pass_ratio{hardware}`: pass / (pass + fail) over the latest checks.
- `skillsets_compatibility_models{hardware, status}`: model types by latest status.
- `skillsets_alerts_open{severity}`: open alerts, every severity (0 included).
- `skillsets_last_run_timestamp_seconds`: start of the most recent run.
- `skillsets_warehouse_up`: 1 when this scrape read the warehouse, else 0.
- `skillsets_snapshot_age_seconds`: age of the values served (0 when read by this scrape).

DuckDB lets nobody read a file while a process writes it. When a scrape finds the warehouse held,
the collector serves the last values it read, with `skillsets_warehouse_up 0` and their age.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import polars as pl
from prometheus_client import CollectorRegistry, push_to_gateway, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from warehouse.records import COMPATIBILITY_STATUSES, SERIES_KEY
from warehouse.store import Warehouse

log = logging.getLogger(__name__)

DEFAULT_PORT = 9464
SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = COMPATIBILITY_STATUSES
#: Factor from a stored latency unit to seconds.
LATENCY_TO_SECONDS = {"ms": 1e-3, "s": 1.0}
THROUGHPUT_UNITS = {"items/s": "items", "tokens/s": "tokens"}
_SERIES_LABELS = ["model_type", "hardware", "precision", "batch_size", "metric"]


@dataclass(frozen=True)
class Snapshot:
    """The latest values of the warehouse at `read_at` (time.time())."""

    latency: pl.DataFrame
    throughput: pl.DataFrame
    compatibility: pl.DataFrame
    open_alerts: dict[str, int]
    last_run_at: float | None
    read_at: float


def read_snapshot(wh: Warehouse) -> Snapshot:
    """Read the latest value of every series, compatibility per hardware and the open alerts."""
    key = ", ".join(SERIES_KEY)
    latency = wh.query(
        f"SELECT {key}, unit, coalesce(p50, value) AS p50 FROM latest_results "
        "WHERE unit IN (SELECT unnest($units)) ORDER BY ALL",
        {"units": list(LATENCY_TO_SECONDS)},
    )
    throughput = wh.query(
        f"SELECT {key}, unit, value FROM latest_results "
        "WHERE unit IN (SELECT unnest($units)) ORDER BY ALL",
        {"units": list(THROUGHPUT_UNITS)},
    )
    compatibility = wh.query(
        "SELECT hardware, status, count(*) AS models FROM latest_compatibility "
        "GROUP BY hardware, status ORDER BY hardware, status"
    )
    alerts = wh.query(
        "SELECT severity, count(*) AS n FROM alerts WHERE status = 'open' GROUP BY severity"
    )
    last = wh.query("SELECT epoch(max(started_at)) AS at FROM runs")["at"][0]
    return Snapshot(
        latency=latency,
        throughput=throughput,
        compatibility=compatibility,
        open_alerts=dict(zip(alerts["severity"], alerts["n"], strict=True)),
        last_run_at=None if last is None else float(last),
        read_at=time.time(),
    )


def metric_families(snapshot: Snapshot | None, *, up: bool) -> Iterator[Metric]:
    """The gauge families of a snapshot (none but `up` when nothing was ever read)."""
    yield GaugeMetricFamily(
        "skillsets_warehouse_up", "1 when this scrape read the warehouse, else 0", value=float(up)
    )
    if snapshot is None:
        return
    age = 0.0 if up else max(0.0, time.time() - snapshot.read_at)
    yield GaugeMetricFamily(
        "skillsets_snapshot_age_seconds", "Age of the values served", value=age
    )

    latency = GaugeMetricFamily(
        "skillsets_latency_p50_seconds", "Latest p50 latency of each series", labels=_SERIES_LABELS
    )
    for row in snapshot.latency.iter_rows(named=True):
        latency.add_metric(_labels(row), row["p50"] * LATENCY_TO_SECONDS[row["unit"]])
    yield latency

    throughput = GaugeMetricFamily(
        "skillsets_throughput_per_second",
        "Latest throughput of each series",
        labels=[*_SERIES_LABELS, "unit"],
    )
    for row in snapshot.throughput.iter_rows(named=True):
        throughput.add_metric([*_labels(row), THROUGHPUT_UNITS[row["unit"]]], row["value"])
    yield throughput

    ratio = GaugeMetricFamily(
        "skillsets_compatibility_pass_ratio",
        "pass / (pass + fail) over each model type's latest check, per hardware",
        labels=["hardware"],
    )
    models = GaugeMetricFamily(
        "skillsets_compatibility_models",
        "Model types by the status of their latest check, per hardware",
        labels=["hardware", "status"],
    )
    for (hardware,), group in snapshot.compatibility.group_by(["hardware"], maintain_order=True):
        counts = dict(zip(group["status"], group["models"], strict=True))
        for status in STATUSES:
            models.add_metric([hardware, status], float(counts.get(status, 0)))
        decided = counts.get("pass", 0) + counts.get("fail", 0)
        if decided:
            ratio.add_metric([hardware], counts.get("pass", 0) / decided)
    yield ratio
    yield models

    alerts = GaugeMetricFamily("skillsets_alerts_open", "Open alerts", labels=["severity"])
    for severity in SEVERITIES:
        alerts.add_metric([severity], float(snapshot.open_alerts.get(severity, 0)))
    yield alerts

    if snapshot.last_run_at is not None:
        yield GaugeMetricFamily(
            "skillsets_last_run_timestamp_seconds",
            "Start of the most recent run (Unix time)",
            value=snapshot.last_run_at,
        )


def _labels(row: dict[str, object]) -> list[str]:
    return [str(row[name]) for name in _SERIES_LABELS]


class WarehouseCollector:
    """A Prometheus collector that reads the warehouse file, read-only, on every scrape."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._last: Snapshot | None = None
        self._guard = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        """Read the warehouse now; on failure serve the last values read, with `up` 0."""
        with self._guard:
            try:
                with Warehouse.open(self.path, read_only=True) as wh:
                    self._last = read_snapshot(wh)
                up = True
            except Exception as exc:  # a scrape must still answer; the error is logged
                log.warning("cannot read warehouse %s: %s", self.path, exc)
                up = False
            snapshot = self._last
        yield from metric_families(snapshot, up=up)


class _SnapshotCollector:
    """Serves one snapshot already read (for a push from a process holding the warehouse)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from metric_families(self._snapshot, up=True)


def serve(
    warehouse_path: str | Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1"
) -> tuple[WSGIServer, threading.Thread]:
    """Expose the warehouse metrics (and this process's CPU/memory) on http://host:port/metrics.

    Runs in a daemon thread; call `server.shutdown()` to stop. Binds to loopback by default: the
    metrics name every model and machine, so listen wider only behind a trusted network.

    Returns:
        The server and the thread serving it.
    """
    registry = CollectorRegistry()
    registry.register(WarehouseCollector(warehouse_path))
    ProcessCollector(registry=registry)
    return start_http_server(port, addr=host, registry=registry)


def push(
    gateway_url: str,
    wh: Warehouse,
    *,
    job: str = "skillsets",
    grouping_key: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> None:
    """Push the warehouse's latest values to a Prometheus Pushgateway (replacing the group's).

    Args:
        gateway_url: The Pushgateway, e.g. `Settings.pushgateway_url` (`http://127.0.0.1:9091`).
        wh: An open warehouse (the flow's writer or a reader).
        job: The `job` label of the pushed group.
        grouping_key: Further labels identifying the group (e.g. `{"flow": "nightly"}`).
        timeout: Seconds to wait for the gateway.

    Raises:
        ValueError: `gateway_url` is empty (check `Settings.pushgateway_url` before calling).
        OSError: the gateway could not be reached or refused the push.
    """
    if not gateway_url:
        raise ValueError("no Pushgateway URL; set SKILLSETS_PUSHGATEWAY_URL or skip the push")
    registry = CollectorRegistry()
    registry.register(_SnapshotCollector(read_snapshot(wh)))
    push_to_gateway(
        gateway_url, job=job, registry=registry, grouping_key=grouping_key, timeout=timeout
    )
