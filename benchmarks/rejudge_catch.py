"""Judge the nights of a kept `bench_regression_catch.py` run again, with the detector as it is now.

    .venv/bin/python benchmarks/rejudge_catch.py WORKDIR FIGURES.json

The nights are the expensive part of the catch bench (a fresh benchmark process each, about
15-35 s on a 2-core VM); judging them is milliseconds. This script reads the `latency` and
`latency_calibrated` values that the nights stored (`WORKDIR/trunk.duckdb` and one
`branch-N.duckdb` per branch, kept by `--workdir`), and the plan from the bench's `--json`
figures, and replays what the `detect` flow does for those two series night by night
(`eval_detection.run_detector`: `warehouse.analysis.review_series` with the alert lifecycle).
It scores them as the bench does: a step is caught when an alert opens on its first night or one
of the 2 after it, naming a first bad run at most one night before the step; a stable trunk
night is alerted when an alert opens on it (trunk nights from the 8th on). Only these two series
are judged, without the warehouse's alerts table: its figures are a replay, not the bench's own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import numpy as np
from eval_detection import run_detector

from warehouse.analysis import DEFAULT_CONFIG

METRICS = ("latency", "latency_calibrated")
#: The bench's scoring (`bench_regression_catch`: JUDGED_FROM, --within, LOCATION_TOLERANCE).
JUDGED_FROM = 8
WITHIN = 2
LOCATION_TOLERANCE = 1


def series(path: Path) -> dict[str, np.ndarray]:
    """Each judged metric's values in the order the nights ran (one read per warehouse)."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT r.metric, r.value FROM results r JOIN runs USING (run_id) WHERE r.metric IN "
            "(SELECT unnest(?)) AND r.benchmark = 'inference' ORDER BY runs.started_at",
            [list(METRICS)]).fetchall()
    return {metric: np.array([v for m, v in rows if m == metric], dtype=np.float64)
            for metric in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("figures", type=Path, help="the bench's --json output")
    args = parser.parse_args()
    branches = json.loads(args.figures.read_text())["branches"]
    shares = sorted({b["share"] for b in branches})
    trunks = series(args.workdir / "trunk.duckdb")
    stored = {b["index"]: series(args.workdir / f"branch-{b['index']}.duckdb") for b in branches}
    for metric in METRICS:
        trunk = trunks[metric]
        if trunk.size == 0:
            continue
        stable = run_detector(trunk, DEFAULT_CONFIG, first=JUDGED_FROM - 1)
        outcomes: dict[float, list[tuple[int, bool]]] = {share: [] for share in shares}
        for branch in branches:
            after = branch["after"]  # trunk nights before the step: the step is night `after`
            raised = run_detector(stored[branch["index"]][metric], DEFAULT_CONFIG,
                                  first=JUDGED_FROM - 1)
            hit = any(after <= night <= after + WITHIN and start >= after - LOCATION_TOLERANCE
                      for night, start in raised)
            outcomes[branch["share"]].append((after, hit))
        print(f"\n{metric} (a replay of review_series on the stored nights):")
        for share in shares:
            hits = sum(hit for _, hit in outcomes[share])
            missed = [after for after, hit in outcomes[share] if not hit]
            total = len(outcomes[share])
            print(f"  +{share:.0%} alerted within {WITHIN} nights: {hits}/{total} = "
                  f"{hits / total:.0%}  (missed: branches after trunk nights {missed})")
        judged = trunk.size - (JUDGED_FROM - 1)
        alerted = sorted({night + 1 for night, _ in stable})
        print(f"  stable nights alerted: {len(alerted)}/{judged} = {len(alerted) / judged:.1%}"
              f"  {alerted or ''}")


if __name__ == "__main__":
    main()
