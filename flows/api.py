"""The `api` flow: serving metrics of OpenAI-compatible endpoints, stored, then judged."""

from __future__ import annotations

from prefect import flow

from flows.common import flow_settings, recorded_run
from flows.detect import detect
from skillsets.api.metrics import Slo
from tasks.api import ApiTarget, bench_endpoint, store_api_rows


@flow(name="api", log_prints=True)
def api(
    endpoints: list[ApiTarget],
    concurrency: list[int] | None = None,
    num_requests: int = 40,
    input_tokens: int = 32,
    output_tokens: int = 16,
    timeout_s: float = 60.0,
    slo_ttft_ms: float | None = None,
    slo_tpot_ms: float | None = None,
    slo_e2e_ms: float | None = None,
    detect_regressions: bool = True,
) -> str:
    """Measure each endpoint at each concurrency, store every row, then run detection.

    A failing endpoint is measured as failing (its errors are stored as counts, their causes
    printed); the flow fails only when no request to any endpoint succeeded.

    Returns:
        The run id (its rows are in `results`, `benchmark = 'api'`).

    Raises:
        RuntimeError: every request to every endpoint failed (after the errors are stored).
    """
    if not endpoints:
        raise ValueError("no endpoints: give a list of {base_url, model, endpoint}")
    settings = flow_settings()
    levels = concurrency or [1, 4]
    parameters = {
        "endpoints": [e.model_dump() for e in endpoints], "concurrency": levels,
        "num_requests": num_requests, "input_tokens": input_tokens,
        "output_tokens": output_tokens, "timeout_s": timeout_s,
        "slo_ms": {"ttft": slo_ttft_ms, "tpot": slo_tpot_ms, "e2e": slo_e2e_ms},
    }
    slo = Slo(slo_ttft_ms, slo_tpot_ms, slo_e2e_ms)
    with recorded_run(settings, "api", parameters) as run_id:
        results = [bench_endpoint(target, run_id, levels, num_requests, input_tokens,
                                  output_tokens, timeout_s, slo) for target in endpoints]
        stored = store_api_rows(str(settings.warehouse),
                                [row for r in results for row in r.rows])
        print(f"run {run_id}: {stored} rows stored")
        for r in results:
            print(f"  {r.model} at {r.hardware}: {r.completed} requests completed")
            for kind, entry in r.errors().items():
                print(f"    {entry['count']} x {kind}: {entry['cause']}")
        if all(r.all_failed for r in results):
            raise RuntimeError(f"every request to every endpoint failed (run {run_id}); "
                               "the causes are printed above and the counts stored")
    if detect_regressions:
        detect(run_id=run_id)
    return run_id
