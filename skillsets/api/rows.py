"""API benchmark results as warehouse rows (`benchmark='api'`), within the results schema.

The endpoint takes the place of hardware: `hardware` is `api:<host:port><path>` (the URL the
requests went to, so chat and completions of one server are separate series), `model_type` is
the model the endpoint reported. `precision` holds the load pattern, which the server does not
report a precision for: `closed-loop` (N requests in flight; `batch_size` = N) or
`poisson-<R>/s` (arrivals at R per second; `batch_size` = the cap on requests in flight, 1 when
uncapped).

Failed requests are stored as `errors` and `errors_<kind>` counts; their causes, in words, go
in the run record's parameters (`runs` table), since a result row holds numbers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from skillsets.api.client import PATHS, Endpoint
from skillsets.api.load import Load
from skillsets.api.metrics import LevelMetrics
from skillsets.bench.measure import LatencyStats
from warehouse.records import UNITS, ResultRecord

#: Every metric an API run stores, with its unit (`errors_<kind>` counts are added per kind).
API_METRIC_UNITS: dict[str, str] = {
    "ttft": "ms",  # time to first token, per request
    "tpot": "ms",  # time per output token after the first, per request
    "itl": "ms",  # every gap between successive tokens
    "e2e_latency": "ms",  # request sent to last token (embeddings: to the answer)
    "request_throughput": "items/s",  # completed requests per second of the level
    "output_throughput": "tokens/s",  # output tokens of completed requests per second
    "input_throughput": "tokens/s",  # prompt tokens (server-reported) per second
    "goodput": "items/s",  # completed requests meeting every SLO per second
    "completed": "count",
    "errors": "count",  # failed requests, every kind
    "duration": "s",  # wall time of the level
}
_bad_units = {m: u for m, u in API_METRIC_UNITS.items() if u not in UNITS}
if _bad_units:
    raise RuntimeError(f"API metrics with units the warehouse refuses: {_bad_units}")


def endpoint_hardware(base_url: str, endpoint: Endpoint) -> str:
    """`api:<host:port><path>` of an endpoint: what stands in for hardware in its rows."""
    parts = urlsplit(base_url.rstrip("/"))
    return f"api:{parts.netloc}{parts.path}{PATHS[endpoint]}"


def load_pattern(load: Load) -> tuple[str, int]:
    """(precision column, batch_size column) of a load level."""
    if load.rate is None:
        assert load.concurrency is not None
        return "closed-loop", load.concurrency
    return f"poisson-{load.rate:g}/s", load.concurrency or 1


@dataclass(frozen=True)
class ApiRowMaker:
    """Builds the rows of one endpoint and model in one run."""

    run_id: str
    environment_id: str
    model: str
    hardware: str

    def _row(self, load: Load, metric: str, value: float, unit: str, **stats: object
             ) -> ResultRecord:
        precision, batch_size = load_pattern(load)
        return ResultRecord(
            run_id=self.run_id, environment_id=self.environment_id, model_type=self.model,
            hardware=self.hardware, precision=precision, batch_size=batch_size,
            benchmark="api", metric=metric, value=float(value), unit=unit, size="endpoint",
            **stats)

    def _distribution(self, load: Load, metric: str, stats: LatencyStats) -> ResultRecord:
        return self._row(load, metric, stats.p50, API_METRIC_UNITS[metric], n=stats.n,
                         mean=stats.mean, stdev=stats.stdev, p50=stats.p50, p90=stats.p90,
                         p99=stats.p99, min=stats.min, max=stats.max,
                         samples=list(stats.samples_ms))

    def level_rows(self, load: Load, metrics: LevelMetrics) -> list[ResultRecord]:
        """Every metric of one level: distributions (value = p50, samples kept), rates,
        counts, and one `errors_<kind>` count per kind of failure seen."""
        rows = [
            self._distribution(load, name, stats)
            for name, stats in (("ttft", metrics.ttft), ("tpot", metrics.tpot),
                                ("itl", metrics.itl), ("e2e_latency", metrics.e2e_latency))
            if stats is not None
        ]
        scalars: dict[str, float] = {
            "request_throughput": metrics.request_throughput,
            "output_throughput": metrics.output_throughput,
            "input_throughput": metrics.input_throughput,
            "completed": metrics.completed,
            "errors": metrics.failed,
            "duration": metrics.duration_s,
        }
        if metrics.goodput is not None:
            scalars["goodput"] = metrics.goodput
        rows += [self._row(load, m, v, API_METRIC_UNITS[m], n=1) for m, v in scalars.items()]
        rows += [self._row(load, f"errors_{kind}", count, "count", n=1)
                 for kind, count in sorted(metrics.errors.items())]
        return rows
