"""The bench-api client and metrics: vLLM's definitions on exact inputs, and every kind of bad
endpoint counted with its cause, against a test-only server on loopback (no mocks)."""

from __future__ import annotations

import asyncio
import time

import pytest
from api_fixed_server import Seen, serve_in_thread
from prefect_server import free_port

from skillsets.api.client import RequestResult, RequestSpec
from skillsets.api.load import Load, arrival_gaps, make_prompts, run_level, run_level_sync
from skillsets.api.metrics import Slo, summarize, tpot_of
from skillsets.api.rows import ApiRowMaker, endpoint_hardware
from skillsets.api.run import ApiBenchConfig, run_api_bench


@pytest.fixture(scope="module")
def fixed_server() -> tuple[str, Seen]:
    port = free_port()
    with serve_in_thread(port) as seen:
        yield f"http://127.0.0.1:{port}/v1", seen


def _ok(ttft: float, latency: float, tokens: int, itl: list[float]) -> RequestResult:
    return RequestResult(ok=True, ttft=ttft, latency=latency, output_tokens=tokens, itl=itl,
                         prompt_tokens=10, model="m")


def test_metrics_follow_vllm_definitions() -> None:
    results = [
        _ok(0.100, 0.500, 5, [0.1, 0.1, 0.1, 0.1]),  # tpot (0.5-0.1)/4 = 0.1
        _ok(0.200, 0.200, 1, []),  # one token: no TPOT sample, TPOT 0 for goodput
        _ok(0.300, 1.100, 3, [0.4, 0.4]),  # tpot (1.1-0.3)/2 = 0.4
        RequestResult(error_kind="http_5xx", error="HTTP 500: boom"),
        RequestResult(error_kind="timeout", error="slow"),
        RequestResult(error_kind="http_5xx", error="HTTP 500: again"),
    ]
    m = summarize(results, duration_s=2.0, slo=Slo(ttft_ms=250, tpot_ms=150))
    assert m.completed == 3 and m.failed == 3
    assert m.errors == {"http_5xx": 2, "timeout": 1}
    assert m.causes["http_5xx"] == "HTTP 500: boom"
    assert m.ttft.samples_ms == pytest.approx((100.0, 200.0, 300.0))
    assert m.tpot.samples_ms == pytest.approx((100.0, 400.0))
    assert m.itl.n == 6 and m.itl.p50 == pytest.approx(100.0)
    assert m.e2e_latency.p50 == pytest.approx(500.0)
    assert m.request_throughput == pytest.approx(1.5)
    assert m.output_throughput == pytest.approx(4.5)
    assert m.input_throughput == pytest.approx(15.0)
    # Requests 1 and 2 meet TTFT <= 250 ms and TPOT <= 150 ms; request 3 misses both.
    assert m.goodput == pytest.approx(1.0)
    assert tpot_of(results[1]) == 0.0
    assert summarize(results, 2.0).goodput is None


def test_rows_cover_every_metric_and_error_kind() -> None:
    results = [_ok(0.1, 0.5, 5, [0.1] * 4), RequestResult(error_kind="dns", error="no host")]
    m = summarize(results, 1.0, Slo(e2e_ms=1000))
    hardware = endpoint_hardware("http://127.0.0.1:8000/v1/", "chat")
    assert hardware == "api:127.0.0.1:8000/v1/chat/completions"
    rows = ApiRowMaker("r", "e", "m", hardware).level_rows(Load(concurrency=4), m)
    by_metric = {r.metric: r for r in rows}
    assert set(by_metric) == {"ttft", "tpot", "itl", "e2e_latency", "request_throughput",
                              "output_throughput", "input_throughput", "goodput", "completed",
                              "errors", "duration", "errors_dns"}
    assert all(r.benchmark == "api" and r.batch_size == 4 for r in rows)
    assert {r.precision for r in rows} == {"closed-loop"}
    assert by_metric["ttft"].samples == pytest.approx([100.0]) and by_metric["ttft"].unit == "ms"
    assert by_metric["errors_dns"].value == 1
    rate_rows = ApiRowMaker("r", "e", "m", hardware).level_rows(Load(rate=2.5), m)
    assert {(r.precision, r.batch_size) for r in rate_rows} == {("poisson-2.5/s", 1)}


def test_prompts_and_arrivals_are_seeded() -> None:
    assert make_prompts(3, 7, seed=1) == make_prompts(3, 7, seed=1)
    assert all(len(p.split()) == 7 for p in make_prompts(3, 7, seed=1))
    assert len(set(make_prompts(5, 8, seed=1))) == 5
    gaps = arrival_gaps(2000, rate=4.0, seed=3)
    assert gaps == arrival_gaps(2000, rate=4.0, seed=3)
    assert sum(gaps) / len(gaps) == pytest.approx(0.25, rel=0.1)


def _level(base_url: str, model: str, n: int = 4, timeout_s: float = 5.0,
           load: Load | None = None) -> list[RequestResult]:
    specs = [RequestSpec("a b c", 6)] * n
    results, _ = run_level_sync(base_url, "chat", model, specs, load or Load(concurrency=2),
                                timeout_s=timeout_s)
    return results


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_fixed_stream_is_timed_per_token(fixed_server, loop) -> None:
    base_url, seen = fixed_server
    before = len(seen.ttft_s)
    if loop == "uvloop":
        results = _level(base_url, "fixed")
    else:  # the client without uvloop: plain `asyncio.run`
        results, _ = asyncio.run(run_level(base_url, "chat", "fixed",
                                           [RequestSpec("a b c", 6)] * 4, Load(concurrency=2)))
    assert all(r.ok for r in results)
    assert all(r.output_tokens == 6 and len(r.itl) == 5 for r in results)
    assert all(0 < r.ttft <= r.latency for r in results)
    assert all(r.model == "fixed" and r.prompt_tokens == 4 for r in results)
    assert len(seen.ttft_s) - before == 4


def test_events_cut_across_reads_are_parsed_whole(fixed_server) -> None:
    results = _level(fixed_server[0], "ragged", n=2)
    assert all(r.ok for r in results), results[0].error
    assert all(r.output_tokens == 3 and len(r.itl) == 2 for r in results)
    assert all(0 < r.ttft < r.latency for r in results)


@pytest.mark.parametrize("model", ["fixed", "lingering"])
def test_connections_are_opened_before_the_clock_and_reused(fixed_server, model) -> None:
    base_url, seen = fixed_server
    del seen.peers[:]
    results = _level(base_url, model, n=12, load=Load(concurrency=3))
    assert all(r.ok for r in results)
    # Three `GET /models` open the pool; the twelve requests then reuse its three
    # connections (each body read to its end, so none is closed and opened again).
    assert len(seen.peers) == 15 and len(set(seen.peers)) == 3


@pytest.mark.parametrize(("model", "kind", "words"), [
    ("cut", "incomplete_stream", ""),
    ("short", "incomplete_stream", "without data: [DONE]"),
    ("garbage", "malformed_event", "not JSON"),
    ("fail500", "http_5xx", "test server failure"),
    ("reject400", "http_4xx", "test server rejects this"),
])
def test_bad_answers_are_counted_with_their_cause(fixed_server, model, kind, words) -> None:
    results = _level(fixed_server[0], model, n=3)
    assert [r.error_kind for r in results] == [kind] * 3
    assert all(words in r.error for r in results)


def test_a_stalled_server_times_out_within_the_limit(fixed_server) -> None:
    start = time.perf_counter()
    results = _level(fixed_server[0], "stall", n=2, timeout_s=0.5, load=Load(concurrency=2))
    assert time.perf_counter() - start < 5
    assert [r.error_kind for r in results] == ["timeout", "timeout"]
    assert "within 0.5 s" in results[0].error


def test_refused_and_unresolvable_hosts_are_told_apart() -> None:
    refused = _level(f"http://127.0.0.1:{free_port()}/v1", "m", n=2)
    assert [r.error_kind for r in refused] == ["connection_refused"] * 2
    unknown = _level("http://no-such-host.invalid/v1", "m", n=1)
    assert unknown[0].error_kind == "dns", unknown[0].error


def test_poisson_level_runs_every_request(fixed_server) -> None:
    config = ApiBenchConfig(base_url=fixed_server[0], model="fixed", endpoint="chat",
                            loads=(Load(rate=50.0, concurrency=3),), num_requests=10,
                            output_tokens=4)
    result = run_api_bench(config, "run-1", "env-1")
    (load, metrics), = result.levels
    assert metrics.completed == 10 and not metrics.errors
    assert {r.precision for r in result.rows} == {"poisson-50/s"}
    assert result.model == "fixed" and not result.all_failed


def test_config_rejects_bad_input_and_hides_the_key() -> None:
    with pytest.raises(ValueError, match="is not http"):
        ApiBenchConfig(base_url="127.0.0.1:8000", model="m", endpoint="chat",
                       loads=(Load(concurrency=1),))
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        Load(concurrency=0)
    with pytest.raises(ValueError, match="SLO ttft_ms"):
        Slo(ttft_ms=-1)
    config = ApiBenchConfig(base_url="http://h/v1", model="m", endpoint="chat",
                            loads=(Load(concurrency=1),), api_key="sk-secret-123")
    assert "sk-secret-123" not in repr(config)
    assert "sk-secret-123" not in str(config.parameters())


def test_detection_knows_which_way_each_api_metric_is_worse() -> None:
    from skillsets.api.rows import API_METRIC_UNITS
    from warehouse.analysis import higher_is_better

    better_high = {m for m, unit in API_METRIC_UNITS.items() if higher_is_better(m, unit)}
    assert better_high == {"request_throughput", "output_throughput", "input_throughput",
                           "goodput", "completed"}
    assert not higher_is_better("errors_timeout", "count")
