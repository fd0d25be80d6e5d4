"""How well does regression detection catch real steps without crying wolf? Seeded simulation.

Each synthetic series is one benchmark's nightly value (a latency: higher is worse) over
`--nights` nights, shaped like real benchmark data:

- lognormal noise with a coefficient of variation (CV) of 1, 2, 3 or 5%;
- sporadic slow outliers: each night, with probability 3%, the value is 10-50% higher;
- slow drift: a linear drift drawn uniformly in +-3% over the whole series;
- missing nights: each night, with probability 2%, no value (NaN);
- one step of +5, +10 or +20% at night `--step-at`, or none (a stable series).

Detection runs every night from night 14 on, as the nightly flow does, with the alert
lifecycle of `warehouse.analysis.review_series` (one change is one alert; a recovered series
closes it). A step counts as caught when an alert is raised on or after the step night whose
first bad night is within 3 nights of the true one; a stable series counts as flagged when it
gets any alert on any night. The fixed-threshold baseline alerts whenever a night is at least
10% (or 5%) worse than the mean of the 7 nights before it.

Usage:
    .venv/bin/python benchmarks/eval_detection.py            # full run (about 5 min on 2 cores)
    .venv/bin/python benchmarks/eval_detection.py --quick    # a smaller smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from warehouse.analysis import DetectionConfig, review_series

CVS = (0.01, 0.02, 0.03, 0.05)
STEPS = (0.0, 0.05, 0.10, 0.20)
FIRST_NIGHT = 14
LOCATION_TOLERANCE = 3
FIXED_LOOKBACK = 7


@dataclass(frozen=True)
class Scenario:
    """The shape of one simulated series."""

    cv: float
    step: float
    nights: int = 60
    step_at: int = 40
    outlier_rate: float = 0.03
    drift_max: float = 0.03
    missing_rate: float = 0.02


@dataclass(frozen=True)
class Outcome:
    """What one detector did on one series."""

    caught: bool
    early_alarm: bool
    any_alert: bool
    alerts: int
    delay: float


def synthetic_series(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """One nightly series (ms around 100) for `scenario`; NaN marks a missing night."""
    n = scenario.nights
    sigma = math.sqrt(math.log1p(scenario.cv**2))
    values = 100.0 * np.exp(rng.normal(-sigma**2 / 2, sigma, n))
    values *= 1 + rng.uniform(-scenario.drift_max, scenario.drift_max) * np.arange(n) / n
    if scenario.step:
        values[scenario.step_at :] *= 1 + scenario.step
    slow = rng.random(n) < scenario.outlier_rate
    values[slow] *= 1 + rng.uniform(0.1, 0.5, int(slow.sum()))
    values[rng.random(n) < scenario.missing_rate] = np.nan
    return values


def _outcome(scenario: Scenario, raised: list[tuple[int, int]]) -> Outcome:
    """raised: (night the alert was raised, first bad night it names)."""
    true_at = scenario.step_at if scenario.step else None
    caught = [
        night for night, start in raised
        if true_at is not None and night >= true_at and abs(start - true_at) <= LOCATION_TOLERANCE
    ]
    early = any(true_at is not None and night < true_at for night, _ in raised)
    return Outcome(
        caught=bool(caught),
        early_alarm=early,
        any_alert=bool(raised),
        alerts=len(raised),
        delay=float(caught[0] - true_at) if caught and true_at is not None else math.nan,
    )


def run_detector(values: np.ndarray, config: DetectionConfig) -> list[tuple[int, int]]:
    """Nightly detection with the alert lifecycle; returns every alert raised."""
    open_starts: list[int] = []
    raised: list[tuple[int, int]] = []
    for night in range(FIRST_NIGHT, values.size):
        if not np.isfinite(values[night]):
            continue
        review = review_series(
            values[: night + 1], higher_is_better=False, open_starts=open_starts, config=config
        )
        open_starts = [s for s in open_starts if review.reviewed.get(s) is None
                       or review.reviewed[s].severity is not None]
        if review.new is not None:
            open_starts.append(review.new.start)
            raised.append((night, review.new.start))
    return raised


def run_fixed_threshold(values: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Alert on every night at least `threshold` above the mean of the 7 nights before it."""
    raised = []
    for night in range(FIRST_NIGHT, values.size):
        before = values[max(0, night - FIXED_LOOKBACK) : night]
        before = before[np.isfinite(before)]
        if not (np.isfinite(values[night]) and before.size):
            continue
        if values[night] >= (1 + threshold) * before.mean():
            raised.append((night, night))
    return raised


def evaluate_cell(args: tuple[Scenario, int, int]) -> dict[str, list[Outcome]]:
    """All detectors on `count` seeded series of one scenario."""
    scenario, count, seed = args
    config = DetectionConfig()
    outcomes: dict[str, list[Outcome]] = {"detector": [], "fixed 10%": [], "fixed 5%": []}
    key = [seed, int(scenario.cv * 1000), int(scenario.step * 1000)]
    for child in np.random.SeedSequence(key).spawn(count):
        values = synthetic_series(scenario, np.random.default_rng(child))
        outcomes["detector"].append(_outcome(scenario, run_detector(values, config)))
        outcomes["fixed 10%"].append(_outcome(scenario, run_fixed_threshold(values, 0.10)))
        outcomes["fixed 5%"].append(_outcome(scenario, run_fixed_threshold(values, 0.05)))
    return outcomes


def _wilson_upper(hits: int, total: int, z: float = 1.96) -> float:
    if total == 0:
        return math.nan
    p = hits / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre + spread) / (1 + z * z / total)


def summarise(results: dict[tuple[float, float], dict[str, list[Outcome]]]) -> dict:
    """Recall by step x CV, false-alarm shares, delays, alerts per caught step."""
    summary: dict = {"recall": {}, "stable_flagged": {}, "early_alarm": {}, "delay_median": {},
                     "alerts_per_step_series": {}}

    def put(name: str, detector: str, step: float, cv: float, value: float) -> None:
        summary[name].setdefault(detector, {}).setdefault(step, {})[cv] = value

    for (cv, step), by_detector in sorted(results.items()):
        for detector, outs in by_detector.items():
            total = len(outs)
            if step == 0.0:
                flagged = sum(o.any_alert for o in outs)
                summary["stable_flagged"].setdefault(detector, {})[cv] = {
                    "flagged": flagged, "series": total,
                    "share": flagged / total, "upper95": _wilson_upper(flagged, total),
                }
                continue
            delays = [o.delay for o in outs if o.caught]
            put("recall", detector, step, cv, len(delays) / total)
            put("early_alarm", detector, step, cv, sum(o.early_alarm for o in outs) / total)
            put("delay_median", detector, step, cv,
                float(np.median(delays)) if delays else math.nan)
            put("alerts_per_step_series", detector, step, cv,
                float(np.mean([o.alerts for o in outs])))
    return summary


def _markdown(summary: dict, cvs: tuple[float, ...], steps: tuple[float, ...],
              after: int) -> str:
    head = ("| | " + " | ".join(f"CV {cv:.0%}" for cv in cvs) + " |\n"
            + "|---" * (len(cvs) + 1) + "|\n")
    lines = []

    def row(label: str, cells: Iterable[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |\n")

    for detector in summary["recall"]:
        lines.append(f"\n### {detector}\n\nRecall (step caught within the {after} nights "
                     "after it), stable series flagged, detection delay:\n\n")
        lines.append(head)
        for step in steps:
            if step:
                recall = summary["recall"][detector][step]
                row(f"recall, step +{step:.0%}", (f"{recall[cv]:.1%}" for cv in cvs))
        flagged = summary["stable_flagged"][detector]
        row("**stable flagged**", (f"{flagged[cv]['share']:.1%} "
                                   f"({flagged[cv]['flagged']}/{flagged[cv]['series']})"
                                   for cv in cvs))
        row("median delay, +10% (nights)",
            (f"{summary['delay_median'][detector][0.10][cv]:.0f}" for cv in cvs))
        row("alarm before the step, +10% series",
            (f"{summary['early_alarm'][detector][0.10][cv]:.1%}" for cv in cvs))
        row("alerts per +10% series",
            (f"{summary['alerts_per_step_series'][detector][0.10][cv]:.2f}" for cv in cvs))
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and print markdown tables (and write JSON with --json)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=200, help="series per step x CV cell")
    parser.add_argument("--stable", type=int, default=500, help="stable series per CV")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="40 series per cell, 100 stable")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    if args.quick:
        args.series, args.stable = 40, 100
    cells = [
        (Scenario(cv=cv, step=step), args.stable if step == 0.0 else args.series, args.seed)
        for cv in CVS for step in STEPS
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(evaluate_cell, cells))
    results = {
        (scenario.cv, scenario.step): out
        for (scenario, _, _), out in zip(cells, outcomes, strict=True)
    }
    summary = summarise(results)
    summary["settings"] = {"series": args.series, "stable": args.stable, "seed": args.seed,
                           "scenario": asdict(Scenario(cv=0.0, step=0.0)),
                           "seconds": round(time.perf_counter() - started, 1)}
    template = Scenario(cv=0.0, step=0.0)
    print(_markdown(summary, CVS, STEPS, template.nights - template.step_at))
    print(f"\n{args.series} series per step cell, {args.stable} stable per CV, seed {args.seed}, "
          f"{summary['settings']['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
