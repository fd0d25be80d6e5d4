"""Peer check: `skillsets bench-api` and guidellm measure the same `skillsets serve` endpoint.

Issue #19 goal: at the same fixed concurrency, the two TTFT p50s and the two request
throughputs agree within 10%. Both load the chat endpoint of `skillsets serve --model gpt2`
(tiny random weights) with streaming requests of the same prompt length (in the server's own
tokens) and the same output length; the tools take turns, several rounds each, so a busy
moment of a shared machine does not fall on one tool only.

guidellm is not a product dependency: it lives in its own virtual environment, made once with

    python3.11 -m venv .peer/guidellm && .peer/guidellm/bin/pip install guidellm==0.8.1

    python benchmarks/bench_vs_guidellm.py                  # concurrency 4, 80 requests, 3 rounds
    python benchmarks/bench_vs_guidellm.py --rounds 1 --requests 40   # a quick run

guidellm synthesises prompts with a tokenizer: the script saves the one the served gpt2 uses
(its stand-in tokenizer) to a temporary folder, so nothing is downloaded.

On a machine of 2+ cores the server is pinned to the first core and both load tools to the
others (`--no-pin` shares them): a tool that spends more CPU per request (guidellm runs a
process per stream) would otherwise slow the very server it measures, and the comparison
would measure the tools' appetite, not their clocks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skillsets.api.client import RequestSpec  # noqa: E402
from skillsets.api.load import Load, make_prompts, run_level_sync  # noqa: E402
from skillsets.api.metrics import summarize  # noqa: E402
from tests.prefect_server import free_port, wait_for_http  # noqa: E402

GUIDELLM = ROOT / ".peer" / "guidellm" / "bin" / "guidellm"
SKILLSETS = Path(sys.executable).parent / "skillsets"


def ours(base: str, concurrency: int, requests: int, words: int, output: int, seed: int
         ) -> dict[str, float]:
    """TTFT p50 (ms), request throughput (/s) and mean prompt tokens of one bench-api level."""
    specs = [RequestSpec(p, output) for p in make_prompts(requests, words, seed)]
    results, duration = run_level_sync(base + "/v1", "chat", "gpt2", specs,
                                       Load(concurrency=concurrency))
    m = summarize(results, duration)
    assert m.ttft is not None and not m.errors, f"bench-api errors: {m.causes}"
    return {"ttft_p50_ms": m.ttft.p50, "request_throughput": m.request_throughput,
            "prompt_tokens": m.input_throughput / m.request_throughput,
            "output_tokens": m.output_throughput / m.request_throughput}


def theirs(base: str, concurrency: int, requests: int, prompt_tokens: int, output: int,
           tokenizer: Path, out: Path) -> dict[str, float]:
    """The same figures from one guidellm run (its JSON report)."""
    args = [str(GUIDELLM), "run",
            "--backend", f"kind=openai_http,target={base},model=gpt2",
            "--profile", f"kind=concurrent,streams={concurrency}",
            "--constraint", f"kind=max_requests,count={requests}",
            "--data", f"kind=synthetic_text,prompt_tokens={prompt_tokens},output_tokens={output}",
            "--tokenizer", f"kind=huggingface_auto,model={tokenizer}",
            "--output", f"kind=json,path={out}", "--disable-console"]
    subprocess.run(args, check=True, capture_output=True, cwd=out.parent, timeout=600)
    bench = json.loads(out.read_text())["benchmarks"][0]
    ok = bench["requests"]["successful"]
    assert len(ok) == requests, f"guidellm: {len(ok)} of {requests} succeeded"
    metrics = bench["metrics"]
    return {"ttft_p50_ms": metrics["time_to_first_token_ms"]["successful"]["median"],
            "request_throughput": len(ok) / bench["duration"],
            "prompt_tokens": statistics.mean(r["prompt_tokens"] for r in ok),
            "output_tokens": statistics.mean(r["output_tokens"] for r in ok)}


def main() -> None:
    """Serve gpt2, measure it with both tools in turns, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output-tokens", type=int, default=16)
    # guidellm's prompt tokens and bench-api's words, chosen to give the server prompts of
    # the same length in its own tokens (both are reported as `prompt_tokens`).
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--words", type=int, default=7)
    parser.add_argument("--no-pin", action="store_true",
                        help="let the server and the load tools share every core")
    args = parser.parse_args()
    if not GUIDELLM.exists():
        sys.exit(f"no guidellm at {GUIDELLM}; install it as this script's docstring says")
    from skillsets.runtime import load_skill

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = Path(tmp) / "tokenizer"
        load_skill("gpt2").preprocessors.tokenizer.save_pretrained(tokenizer)
        log = (Path(tmp) / "serve.log").open("wb")
        cores = sorted(os.sched_getaffinity(0))
        pin = not args.no_pin and len(cores) >= 2
        server_cores, tool_cores = ({cores[0]}, set(cores[1:])) if pin else (set(cores),) * 2
        server = subprocess.Popen(
            [str(SKILLSETS), "serve", "--model", "gpt2", "--port", str(port)], stdout=log,
            stderr=subprocess.STDOUT, preexec_fn=lambda: os.sched_setaffinity(0, server_cores))
        os.sched_setaffinity(0, tool_cores)  # guidellm, started from here, inherits it
        try:
            wait_for_http(base + "/health", 180)
            ours(base, args.concurrency, args.concurrency * 2, args.words, 4, seed=99)  # warm-up
            rows: dict[str, list[dict[str, float]]] = {"bench-api": [], "guidellm": []}
            for i in range(args.rounds):
                rows["bench-api"].append(ours(base, args.concurrency, args.requests, args.words,
                                              args.output_tokens, seed=i))
                rows["guidellm"].append(theirs(base, args.concurrency, args.requests,
                                               args.prompt_tokens, args.output_tokens,
                                               tokenizer, Path(tmp) / f"guidellm-{i}.json"))
        finally:
            server.terminate()
            server.wait(timeout=30)
    summary = {tool: {key: round(statistics.median(r[key] for r in runs), 3)
                      for key in runs[0]} for tool, runs in rows.items()}
    ttft_gap = summary["bench-api"]["ttft_p50_ms"] / summary["guidellm"]["ttft_p50_ms"] - 1
    rps_gap = (summary["bench-api"]["request_throughput"]
               / summary["guidellm"]["request_throughput"] - 1)
    print(json.dumps({
        "concurrency": args.concurrency, "requests": args.requests, "rounds": args.rounds,
        "output_tokens": args.output_tokens, "rounds_detail": rows, "median": summary,
        "ttft_p50_difference": round(ttft_gap, 4),
        "request_throughput_difference": round(rps_gap, 4),
        "within_10pct": abs(ttft_gap) <= 0.10 and abs(rps_gap) <= 0.10,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, "
                   f"load average {os.getloadavg()[0]:.1f}",
        "cores": {"server": sorted(server_cores), "load tools": sorted(tool_cores)},
    }, indent=2))


if __name__ == "__main__":
    main()
