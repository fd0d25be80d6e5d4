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

The shape suite (`--part shapes`) judges whole one-off histories of the shapes real histories
have (`SHAPES`: stable, steps, linear trends with and without a step, smooth growth curves,
slope changes, weekly and day/night cycles, variance changes, dense outliers, gaps, short
series of 8-40 runs), each with exact annotated change points, with
`warehouse.change_points.change_points`. A found change matches an annotated one within 5 points
(each used once). Per shape it prints pooled precision and recall (start point excluded), the
F1 averaged over series as TCPDBench computes it (van den Burg and Williams 2020: the start of
a series counts as a change point in both sets, so a series without changes and without
findings scores 1), the most changes found on a series without a marked change, and the share
of matched changes reported with the annotated kind (level, slope, variance).

Usage:
    .venv/bin/python benchmarks/eval_detection.py            # full run (about 5 min on 2 cores)
    .venv/bin/python benchmarks/eval_detection.py --quick    # a smaller smoke run
    .venv/bin/python benchmarks/eval_detection.py --part shapes --per-shape 100
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from warehouse.analysis import DetectionConfig, review_series
from warehouse.change_points import change_points

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


def run_detector(values: np.ndarray, config: DetectionConfig, first: int = FIRST_NIGHT
                 ) -> list[tuple[int, int]]:
    """Nightly detection with the alert lifecycle from night `first` (0-based); returns every
    alert raised as (night, first bad night)."""
    open_starts: list[int] = []
    raised: list[tuple[int, int]] = []
    for night in range(first, values.size):
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


# The shape suite: one-off histories with exact change points, judged as whole series.

#: Points a found change may be off and still match an annotated one.
MARGIN = 5
#: Shapes whose series may carry no marked change; none of those may get 2+ change points.
UNMARKED_GOAL_SHAPES = ("stable", "trend", "smooth growth", "seasonal")


@dataclass(frozen=True)
class Labelled:
    """One suite series: values (ms, NaN = missing) and its annotated change points."""

    shape: str
    values: np.ndarray
    changes: tuple[int, ...]
    kinds: tuple[str, ...]


def _noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    return rng.normal(0.0, sigma, n)


def _place(rng: np.random.Generator, n: int, low: float = 0.3, high: float = 0.7) -> int:
    return int(rng.integers(int(low * n), int(high * n)))


def _stable(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    n = int(rng.integers(60, 400))
    return _noise(rng, n, rng.choice([0.01, 0.02, 0.03])), [], []


def _steps(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    n, sigma = 200, float(rng.choice([0.01, 0.02, 0.03]))
    log = _noise(rng, n, sigma)
    first = int(rng.integers(30, 90))
    at = [first] if rng.random() < 0.5 else [first, int(rng.integers(first + 30, 170))]
    for k in at:
        log[k:] += math.log1p(rng.choice([-1, 1]) * rng.uniform(0.10, 0.25))
    return log, at, ["level"] * len(at)


def _trend(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    n, sigma = int(rng.integers(100, 500)), float(rng.choice([0.01, 0.02, 0.03]))
    log = _noise(rng, n, sigma) + rng.choice([-1, 1]) * rng.uniform(0.1, 0.6) * np.arange(n) / n
    if rng.random() < 0.5:
        return log, [], []
    k = _place(rng, n)
    log[k:] += math.log1p(rng.choice([-1, 1]) * rng.uniform(0.12, 0.25))
    return log, [k], ["level"]


def _smooth_growth(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    """Steady growth with a bending rate (exponential, saturating, quadratic): no change."""
    n, sigma = int(rng.integers(150, 800)), float(rng.choice([0.005, 0.01, 0.02]))
    s = np.arange(n) / n
    curve = {0: np.expm1(2 * s), 1: 1 - np.exp(-3 * s), 2: s * s}[int(rng.integers(3))]
    return _noise(rng, n, sigma) + rng.uniform(0.3, 1.0) * curve / curve[-1], [], []


def _slope_change(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    n, sigma = int(rng.integers(150, 300)), 0.02
    k = _place(rng, n, 0.35, 0.65)
    before = rng.uniform(-0.001, 0.001)
    after = before + rng.choice([-1, 1]) * rng.uniform(0.004, 0.008)
    t = np.arange(n)
    return _noise(rng, n, sigma) + before * t + (after - before) * np.maximum(t - k, 0), [k], \
        ["slope"]


def _seasonal(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    sigma = float(rng.choice([0.01, 0.02]))
    if rng.random() < 0.5:  # nightly runs with a weekly rhythm: two slow weekend nights
        n, period = 365, 7
        cycle = np.where(np.arange(n) % period >= 5, rng.uniform(0.05, 0.10), 0.0)
    else:  # hourly runs on a host with a day/night load
        n, period = 240, 24
        cycle = rng.uniform(0.03, 0.08) * np.sin(2 * np.pi * np.arange(n) / period)
    log = _noise(rng, n, sigma) + cycle
    if rng.random() < 0.5:
        return log, [], []
    k = _place(rng, n)
    log[k:] += math.log1p(rng.choice([-1, 1]) * rng.uniform(0.10, 0.20))
    return log, [k], ["level"]


def _variance(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    n = int(rng.integers(200, 400))
    k = _place(rng, n)
    quiet, noisy = 0.01, 0.01 * rng.uniform(3.0, 5.0)
    first, second = (quiet, noisy) if rng.random() < 0.5 else (noisy, quiet)
    return np.r_[_noise(rng, k, first), _noise(rng, n - k, second)], [k], ["variance"]


def _outliers(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    n = 200
    log = _noise(rng, n, 0.02)
    changes: list[int] = []
    if rng.random() < 0.5:
        k = _place(rng, n)
        log[k:] += math.log1p(rng.uniform(0.10, 0.25))
        changes = [k]
    slow = rng.random(n) < 0.05
    slow[1:] |= slow[:-1] & (rng.random(n - 1) < 0.3)  # a third of them a burst of two
    # Three slow runs in a row are a short segment by `min_size`, not outliers: keep two.
    slow[2:] &= ~(slow[:-2] & slow[1:-1])
    log[slow] += np.log1p(rng.uniform(0.2, 0.8, int(slow.sum())))
    return log, changes, ["level"] * len(changes)


def _gaps(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    n = 200
    log = _noise(rng, n, 0.02)
    k = _place(rng, n)
    log[k:] += math.log1p(rng.choice([-1, 1]) * rng.uniform(0.10, 0.25))
    missing = rng.random(n) < 0.10
    start = int(rng.integers(10, n - 20))
    missing[start : start + int(rng.integers(3, 10))] = True
    missing[k] = False
    log[missing] = np.nan
    return log, [k], ["level"]


def _short(rng: np.random.Generator) -> tuple[np.ndarray, list[int], list[str]]:
    """8 to 40 runs; from 16 runs on, half have one large step (fewer runs cannot reach
    p < 0.002 on both sides of a change: 6 against 7 is the least)."""
    n = int(rng.integers(8, 41))
    log = _noise(rng, n, 0.02)
    if n < 16 or rng.random() < 0.5:
        return log, [], []
    k = int(rng.integers(7, n - 7))
    log[k:] += math.log1p(rng.choice([-1, 1]) * rng.uniform(0.20, 0.30))
    return log, [k], ["level"]


#: Generators of the suite's shapes, by name.
SHAPES = {
    "stable": _stable,
    "steps": _steps,
    "trend": _trend,
    "smooth growth": _smooth_growth,
    "slope change": _slope_change,
    "seasonal": _seasonal,
    "variance": _variance,
    "outliers": _outliers,
    "gaps": _gaps,
    "short": _short,
}


def shape_suite(per_shape: int, seed: int) -> list[Labelled]:
    """`per_shape` seeded series of every shape in `SHAPES` (values around 100 ms)."""
    suite = []
    for index, (shape, make) in enumerate(SHAPES.items()):
        for child in np.random.SeedSequence([seed, index]).spawn(per_shape):
            log, changes, kinds = make(np.random.default_rng(child))
            suite.append(Labelled(shape, 100.0 * np.exp(log), tuple(changes), tuple(kinds)))
    return suite


def _matched(truth: Sequence[int], found: Sequence[int], margin: int) -> int:
    """Annotated points with a found point within `margin`, each found point used once
    (TCPDBench's `true_positives`)."""
    unused = set(found)
    hits = 0
    for point in truth:
        close = [f for f in unused if abs(f - point) <= margin]
        if close:
            unused.remove(min(close, key=lambda f: abs(f - point)))
            hits += 1
    return hits


def f1_tcpd(truth: Sequence[int], found: Sequence[int], margin: int = MARGIN) -> float:
    """F1 of one series as TCPDBench scores it (van den Burg and Williams, 2020, after Killick
    et al.): the start of the series (index 0) counts as a change point in both the annotated
    and the found set, so a series without annotations scores 1 when nothing is found and
    2 / (2 + k) with k false points."""
    t, f = {0, *truth}, {0, *found}
    hits = _matched(sorted(t), sorted(f), margin)
    precision, recall = hits / len(f), hits / len(t)
    return 2 * precision * recall / (precision + recall) if hits else 0.0


def judge_suite(suite: Sequence[Labelled]) -> dict[str, dict[str, float]]:
    """Per shape: pooled precision and recall (start point excluded), mean TCPDBench F1,
    series and seconds, the most change points on a series without a marked change, and the
    share of matched changes reported with the annotated kind."""
    rows: dict[str, dict[str, float]] = {}
    for shape in SHAPES:
        series = [s for s in suite if s.shape == shape]
        hits = found_total = truth_total = kind_right = 0
        f1s, worst_unmarked, seconds = [], 0, 0.0
        for s in series:
            # CPU time, not wall time: on a shared machine wall time measures the neighbours.
            started = time.process_time()
            found = change_points(s.values)
            seconds += time.process_time() - started
            at = [c.index for c in found]
            hits += _matched(s.changes, at, MARGIN)
            found_total += len(at)
            truth_total += len(s.changes)
            f1s.append(f1_tcpd(s.changes, at))
            if not s.changes:
                worst_unmarked = max(worst_unmarked, len(at))
            for point, kind in zip(s.changes, s.kinds, strict=True):
                near = [c for c in found if abs(c.index - point) <= MARGIN]
                kind_right += bool(near) and near[0].kind == kind
        rows[shape] = {
            "series": len(series),
            "precision": hits / found_total if found_total else 1.0,
            "recall": hits / truth_total if truth_total else 1.0,
            "f1": float(np.mean(f1s)),
            "max_unmarked": worst_unmarked,
            "kind_right": kind_right / hits if hits else math.nan,
            "ms_per_series": 1000 * seconds / len(series),
        }
    return rows


def _shapes_markdown(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| shape | series | precision | recall | F1 (TCPDBench) | most on unmarked | "
             "kind right | CPU ms/series |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for shape, r in rows.items():
        lines.append(f"| {shape} | {r['series']} | {r['precision']:.1%} | {r['recall']:.1%} | "
                     f"{r['f1']:.3f} | {r['max_unmarked']} | {r['kind_right']:.0%} | "
                     f"{r['ms_per_series']:.1f} |")
    return "\n".join(lines)


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
    parser.add_argument("--part", choices=("all", "nightly", "shapes"), default="all",
                        help="the nightly simulation, the shape suite, or both")
    parser.add_argument("--per-shape", type=int, default=100, help="suite series per shape")
    args = parser.parse_args(argv)
    if args.quick:
        args.series, args.stable, args.per_shape = 40, 100, 30
    summary: dict = {}
    if args.part in ("all", "shapes"):
        started = time.perf_counter()
        rows = judge_suite(shape_suite(args.per_shape, args.seed))
        print("## Shape suite\n\n" + _shapes_markdown(rows))
        print(f"\n{args.per_shape} series per shape, seed {args.seed}, margin {MARGIN}, "
              f"{time.perf_counter() - started:.1f} s\n")
        summary["shapes"] = rows
    if args.part == "shapes":
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2, default=str))
        return 0
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
    summary.update(summarise(results))
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
