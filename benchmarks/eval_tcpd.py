"""Change points on real annotated series: the Turing Change Point Dataset, scored as TCPDBench.

The held-out check of issue #17: `warehouse.change_points.change_points`, with its defaults, on
the univariate series of TCPD (van den Burg and Williams, "An Evaluation of Change Point
Detection Algorithms", 2020; github.com/alan-turing-institute/TCPD), scored exactly as
TCPDBench's Default experiment scores the classic methods: F1 per series against every
annotator (`f_measure` of TCPDBench's `analysis/scripts/metrics.py`: margin 5, the start of
the series counted as a change point by every annotator and by the detector, precision against
the union of the annotations, recall averaged over annotators), then averaged over series.

The data stays out of this repository. Bring TCPD's repository and point this script at a
folder holding its series files (`<name>.json`, TCPD's format) and `annotations.json`, e.g.
the files committed under TCPD's `datasets/*/` copied into one folder. Series that TCPD builds
by downloading (bitcoin, measles, the scanlines, ...) are missing from such a copy when there
is no network; the comparison is then made on the series present, against the published
per-series scores of the same series, and the published means over all series are printed
beside it. Where the folder has TCPD's `checksums.json`, every series is checked against it.

Two published aggregates (TCPDBench `analysis/output/tables/`), both "Default, univariate, F1":

- the final paper (`aggregate_scores_wide.tex`): quality-control series and uk_coal_employ
  (where most methods failed) left out, 32 series: binseg 0.698, pelt 0.674, bocpd 0.662,
  amoc 0.653, zero 0.645;
- the first version (`aggregate_table_wide.tex`): the quality-control series included:
  binseg 0.744, pelt 0.710, amoc 0.704, bocpd 0.690, zero 0.669.

The per-series scores below (`PUBLISHED`) are TCPDBench's `analysis/output/scores/
default_f1_scores.json`; averaging them over the final paper's 32 series gives its means.
"zero" (a detector that reports nothing) is also scored here: it must match the published
figure on every series, a check that the data, the annotations and the metric agree.

Usage:
    .venv/bin/python benchmarks/eval_tcpd.py /path/to/tcpd            # all series (~1 min)
    .venv/bin/python benchmarks/eval_tcpd.py /path/to/tcpd --only nile well_log
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from warehouse.change_points import change_points

MARGIN = 5
METHODS = ("amoc", "binseg", "bocpd", "pelt", "zero")
#: TCPDBench Default experiment, univariate F1 per series (default_f1_scores.json), in the order
#: of `METHODS`; None where the method failed.
PUBLISHED: dict[str, tuple[float | None, ...]] = {
    "bank": (0.6667, 0.4000, 0.0465, 0.4000, 1.0000),
    "bitcoin": (0.3671, 0.4257, 0.6923, 0.6725, 0.4496),
    "brent_spot": (0.2718, 0.4834, 0.5208, 0.4647, 0.3146),
    "businv": (0.4545, 0.3704, 0.2703, 0.3704, 0.5882),
    "centralia": (0.7629, 0.9091, 0.9091, 0.9091, 0.7629),
    "children_per_woman": (0.6175, 0.6175, 0.6368, 0.6175, 0.5075),
    "co2_canada": (0.5442, 0.6906, 0.6193, 0.6614, 0.3610),
    "construction": (0.5161, 0.7091, 0.6341, 0.7091, 0.6957),
    "debt_ireland": (0.4694, 0.7603, 0.7603, 0.7603, 0.4694),
    "gdp_argentina": (0.8889, 0.8889, 0.9474, 0.8889, 0.8235),
    "gdp_croatia": (0.5833, 0.5833, 1.0000, 0.5833, 0.8235),
    "gdp_iran": (0.4915, 0.4915, 0.6222, 0.4915, 0.6517),
    "gdp_japan": (0.6154, 0.6154, 0.8000, 0.6154, 0.8889),
    "global_co2": (0.9286, 0.9286, 0.7536, 0.7536, 0.8462),
    "homeruns": (0.8119, 0.8119, 0.7286, 0.8119, 0.6592),
    "iceland_tourism": (0.6429, 0.6429, 0.4865, 0.6429, 0.9474),
    "jfk_passengers": (0.7755, 0.7755, 0.4368, 0.7755, 0.7234),
    "lga_passengers": (0.4220, 0.4382, 0.6298, 0.4382, 0.5348),
    "measles": (0.9474, 0.9474, 0.0687, 0.1241, 0.9474),
    "nile": (1.0000, 1.0000, 1.0000, 1.0000, 0.8235),
    "ozone": (0.5312, 0.6496, 0.6496, 1.0000, 0.7234),
    "quality_control_1": (1.0000, 1.0000, 0.8000, 1.0000, 0.6667),
    "quality_control_2": (1.0000, 1.0000, 1.0000, 1.0000, 0.7500),
    "quality_control_3": (1.0000, 1.0000, 1.0000, 1.0000, 0.6667),
    "quality_control_4": (0.8095, 0.8727, 0.6575, 0.7263, 0.7805),
    "quality_control_5": (1.0000, 1.0000, 1.0000, 1.0000, 1.0000),
    "rail_lines": (0.8462, 0.8462, 0.8462, 0.8462, 0.5366),
    "ratner_stock": (0.7755, 0.8235, 0.7830, 0.6496, 0.5714),
    "robocalls": (0.8000, 0.8000, 0.9655, 0.8000, 0.6364),
    "scanline_126007": (0.7103, 0.7386, 0.8200, 0.7590, 0.6444),
    "scanline_42049": (0.4845, 0.7135, 0.9623, 0.8043, 0.2756),
    "seatbelts": (0.4737, 0.6829, 0.5833, 0.6829, 0.6207),
    "shanghai_license": (0.8679, 0.8679, 0.7132, 0.8679, 0.6364),
    "uk_coal_employ": (None, None, None, None, 0.5133),
    "unemployment_nl": (0.5663, 0.8764, 0.6834, 0.7730, 0.5663),
    "us_population": (1.0000, 0.6667, 0.2162, 0.4706, 0.8889),
    "usd_isk": (0.7854, 0.6565, 0.6094, 0.6565, 0.4887),
    "well_log": (0.2792, 0.5342, 0.7965, 0.5546, 0.2370),
}
#: Published means over all series (TCPDBench analysis/output/tables), for the printout.
PUBLISHED_MEANS = {
    "final paper (no QC, no uk_coal_employ; 32 series)":
        {"amoc": 0.653, "binseg": 0.698, "bocpd": 0.662, "pelt": 0.674, "zero": 0.645},
    "first version (QC included)":
        {"amoc": 0.704, "binseg": 0.744, "bocpd": 0.690, "pelt": 0.710, "zero": 0.669},
}
#: Left out of the final paper's aggregate: the quality-control series (made up) and
#: uk_coal_employ (missing values, on which most methods failed).
EXCLUDED_FINAL = frozenset({f"quality_control_{i}" for i in range(1, 6)} | {"uk_coal_employ"})


def true_positives(truth: set[int], found: set[int], margin: int = MARGIN) -> set[int]:
    """Annotated points matched by a found point within `margin`, each found point used once
    (TCPDBench's `true_positives`, written again: same loop, same tie-breaking)."""
    unused = set(found)
    hits = set()
    for tau in truth:
        close = sorted((abs(tau - x), x) for x in unused if abs(tau - x) <= margin)
        if close:
            hits.add(tau)
            unused.remove(close[0][1])
    return hits


def f_measure(annotations: Mapping[str, Iterable[int]], found: Iterable[int],
              margin: int = MARGIN) -> float:
    """TCPDBench's F1 of one series against several annotators: the start (0) joins every set;
    precision is over the union of the annotations, recall the mean over annotators."""
    sets = [{0, *points} for points in annotations.values()]
    predicted = {0, *found}
    union = set().union(*sets)
    precision = len(true_positives(union, predicted, margin)) / len(predicted)
    recall = statistics.fmean(len(true_positives(s, predicted, margin)) / len(s) for s in sets)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def load_series(folder: Path, name: str) -> np.ndarray:
    """The values of a univariate TCPD series; null (a missing value) becomes NaN."""
    data = json.loads((folder / f"{name}.json").read_text())
    return np.array([math.nan if v is None else float(v) for v in data["series"][0]["raw"]])


def available(folder: Path, only: list[str] | None) -> list[str]:
    """Univariate series present in `folder` (and annotated), checked against TCPD's
    checksums when the folder has them.

    Raises:
        ValueError: a series file differs from TCPD's checksum, or `only` names a series the
            folder lacks.
    """
    annotations = json.loads((folder / "annotations.json").read_text())
    checksums_file = folder / "checksums.json"
    checksums = json.loads(checksums_file.read_text())["checksums"] if checksums_file.exists() \
        else {}
    names = []
    for path in sorted(folder.glob("*.json")):
        name = path.stem
        if name not in annotations:
            continue
        if json.loads(path.read_text())["n_dim"] != 1:
            continue
        expected = checksums.get(path.name)
        if expected is not None:
            digest = hashlib.md5(path.read_bytes()).hexdigest()
            if digest not in ([expected] if isinstance(expected, str) else expected):
                raise ValueError(f"{path}: md5 {digest} is not TCPD's {expected}; rebuild it "
                                 "from TCPD's repository")
        names.append(name)
    if only:
        missing = sorted(set(only) - set(names))
        if missing:
            raise ValueError(f"not in {folder}: {', '.join(missing)} (present: {', '.join(names)})")
        names = [n for n in names if n in only]
    return names


def judge(job: tuple[Path, str]) -> dict:
    """Our change points and F1 on one series, and zero's F1 (the scorer check)."""
    folder, name = job
    values = load_series(folder, name)
    annotations = json.loads((folder / "annotations.json").read_text())[name]
    started = time.process_time()
    found = [c.index for c in change_points(values)]
    seconds = time.process_time() - started
    return {
        "name": name,
        "n": int(values.size),
        "annotated": sorted({p for points in annotations.values() for p in points}),
        "found": found,
        "f1": f_measure(annotations, found),
        "zero": f_measure(annotations, []),
        "seconds": seconds,
    }


def _mean(values: Iterable[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return statistics.fmean(kept) if kept else math.nan


def report(rows: list[dict]) -> tuple[str, dict[str, float]]:
    """Markdown: per series, then the means of ours and of each published method on the
    same series, for the final paper's subset and for every series scored."""
    lines = ["| series | n | annotated (union) | found | F1 ours | binseg | pelt | zero |",
             "|---|---:|---|---|---:|---:|---:|---:|"]
    for r in rows:
        pub = PUBLISHED.get(r["name"], (None,) * len(METHODS))
        cells = [f"{v:.3f}" if v is not None else "fail" for v in (pub[1], pub[3], pub[4])]
        lines.append(f"| {r['name']} | {r['n']} | {_brief(r['annotated'])} | "
                     f"{_brief(r['found'])} | {r['f1']:.3f} | {' | '.join(cells)} |")
    means: dict[str, float] = {}
    lines += ["", "| subset | series | ours | " + " | ".join(METHODS) + " |",
              "|---|---:|---:|" + "---:|" * len(METHODS)]
    subsets = {
        "final paper's series present": [r for r in rows if r["name"] not in EXCLUDED_FINAL],
        "all univariate present": rows,
    }
    for label, chosen in subsets.items():
        ours = _mean(r["f1"] for r in chosen)
        means[label] = ours
        theirs = [_mean(PUBLISHED.get(r["name"], (None,) * 5)[i] for r in chosen)
                  for i in range(len(METHODS))]
        lines.append(f"| {label} | {len(chosen)} | **{ours:.3f}** | "
                     + " | ".join(f"{t:.3f}" for t in theirs) + " |")
    for label, published in PUBLISHED_MEANS.items():
        lines.append(f"| published: {label} | | | "
                     + " | ".join(f"{published[m]:.3f}" for m in METHODS) + " |")
    mismatched = [r["name"] for r in rows
                  if r["name"] in PUBLISHED and abs(r["zero"] - PUBLISHED[r["name"]][4]) > 1e-3]
    lines.append("")
    lines.append("scorer check: zero matches the published score on every series" if not mismatched
                 else f"scorer check FAILED: zero differs from the published score on "
                      f"{', '.join(mismatched)}")
    return "\n".join(lines), means


def _brief(points: list[int], most: int = 8) -> str:
    shown = ", ".join(map(str, points[:most]))
    return f"{shown}, ... ({len(points)})" if len(points) > most else shown or "-"


def main(argv: list[str] | None = None) -> int:
    """Judge every univariate series in the folder and print the comparison."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path,
                        help="folder with TCPD's <name>.json series files and annotations.json")
    parser.add_argument("--only", nargs="+", help="judge only these series (a smoke run)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write per-series results here")
    args = parser.parse_args(argv)
    names = available(args.folder, args.only)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(judge, [(args.folder, n) for n in names]))
    text, means = report(rows)
    print(text)
    absent = sorted(set(PUBLISHED) - {r["name"] for r in rows})
    if absent and not args.only:
        print(f"absent from the folder (TCPD downloads them): {', '.join(absent)}")
    print(f"{len(rows)} series, {time.perf_counter() - started:.1f} s wall, "
          f"{sum(r['seconds'] for r in rows):.1f} s CPU in change_points")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "means": means}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
