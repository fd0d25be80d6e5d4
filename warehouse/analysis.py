"""Regression analysis over benchmark history: change points, comparisons, trends, anomalies.

Pure functions on numbers: no I/O, no warehouse, no Prefect. Every function takes plain
sequences (NaN marks a missing value and is dropped, never silently treated as zero) and says
which direction is worse.

Direction of "worse", by unit (see `higher_is_better`):

| unit | examples | worse when |
| --- | --- | --- |
| `ms`, `s` | latency p50, load time | higher |
| `bytes` | peak memory | higher |
| `count` | recompilations, graph breaks | higher |
| `x_ref` | latency over the interleaved reference | higher |
| `items/s`, `tokens/s` | throughput | lower |
| `ratio` | speedup, accuracy | by metric name (`METRIC_DIRECTIONS`) |

Metrics that are not measurements (`NOT_JUDGED`: the worker count, the supported flag) are never
judged.

Relative changes are signed and in the metric's own terms: +0.15 means the current level is 15%
higher than the baseline (a regression for latency, an improvement for throughput).

Why these methods (the tools performance teams trust, combined):

- Change points: `warehouse.change_points` (its docstring says how).
- Comparisons: Mann-Whitney U (asv's test, p < 0.002 by default), the Hodges-Lehmann shift on
  log values as the relative change, and its distribution-free (Moses) confidence interval. A
  regression needs both significance and a minimum effect (5%), so tiny but real shifts in very
  quiet series do not page anyone.
- Trends: Theil-Sen slope with its confidence interval, Mann-Kendall (Kendall tau) p-value.
- Anomalies: robust z-scores (median, MAD x 1.4826) per metric plus scikit-learn's
  IsolationForest across metrics; a run is anomalous only when both agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

from warehouse.change_points import (
    MEAN_KINDS,
    ChangeKind,
    ChangePoint,
    change_points,
    finite_values,
    median_uncertainty,
    rank_p_value,
    robust_location_scale,
)
from warehouse.records import Severity

#: Whether a higher value is better, by unit. `ratio` is decided by metric name.
UNIT_DIRECTIONS: dict[str, bool] = {
    "ms": False,
    "s": False,
    "bytes": False,
    "count": False,
    "items/s": True,
    "tokens/s": True,
    # a latency in units of the interleaved reference's time (skillsets/bench/calibration.py)
    "x_ref": False,
}
#: Metric names whose direction overrides the unit's (and decides `ratio` metrics).
METRIC_DIRECTIONS: dict[str, bool] = {
    "throughput": True,
    "speedup": True,
    "accuracy": True,
    "max_abs_diff": False,
    # requests of an API load level that succeeded (`skillsets/api/rows.py`): fewer is worse
    "completed": True,
    # Output quality against fp32 (skillsets/bench/quality.py): a drop in quality is a regression.
    "quality_cosine": True,
    "top1_agreement": True,
    "kl_divergence": False,
}
#: Metrics stored with results that are not measurements of speed or size, and why they are
#: never judged.
NOT_JUDGED: dict[str, str] = {
    "concurrent_workers": "a benchmark parameter (the thread count), not a measurement",
    "supported": "whether the combination ran; compatibility checks track that",
    "task_time": "the benchmark task's wall time (imports, load, warm-up): for scheduling only",
}
#: Severity tiers by the size of the relative change in the worse direction, largest first.
SEVERITY_TIERS: tuple[tuple[float, Severity], ...] = (
    (0.30, "critical"),
    (0.20, "high"),
    (0.10, "medium"),
    (0.05, "low"),
)

Verdict = Literal["regression", "improvement", "unchanged"]
Test = Literal["mann-whitney-u", "order-z", "robust-z", "insufficient-data"]


def higher_is_better(metric: str, unit: str) -> bool:
    """Whether a higher value of this metric is better (throughput) or worse (latency, memory).

    The metric name wins over the unit (`METRIC_DIRECTIONS`), then the unit decides
    (`UNIT_DIRECTIONS`).

    Raises:
        ValueError: the metric is not a performance measurement (`NOT_JUDGED`), or neither the
            metric nor the unit has a known direction; add the metric to `METRIC_DIRECTIONS`.
    """
    if metric in NOT_JUDGED:
        raise ValueError(f"metric {metric!r} is not judged: {NOT_JUDGED[metric]}")
    if metric in METRIC_DIRECTIONS:
        return METRIC_DIRECTIONS[metric]
    if unit in UNIT_DIRECTIONS:
        return UNIT_DIRECTIONS[unit]
    raise ValueError(
        f"no known direction for metric {metric!r} in unit {unit!r}: add it to "
        "warehouse.analysis.METRIC_DIRECTIONS (units with a direction: "
        f"{', '.join(UNIT_DIRECTIONS)})"
    )


def severity_for(change: float, *, higher_is_better: bool) -> Severity | None:
    """Severity of a relative change: low >= 5%, medium >= 10%, high >= 20%, critical >= 30%.

    Args:
        change: Signed relative change (+0.25 = 25% higher than the baseline).
        higher_is_better: Direction of the metric; only a change in the worse direction has a
            severity.

    Returns:
        The tier, or None for an improvement or a change below 5%.
    """
    worse = -change if higher_is_better else change
    for threshold, severity in SEVERITY_TIERS:
        if worse >= threshold - 1e-12:
            return severity
    return None

@dataclass(frozen=True)
class Comparison:
    """Whether `current` differs from `baseline`, how much, and how sure we are.

    Attributes:
        change: Signed relative change of current vs baseline (+0.15 = 15% higher).
        low: Lower bound of the confidence interval of `change`.
        high: Upper bound of the confidence interval of `change`.
        p_value: Two-sided p-value of the test in `test`.
        verdict: "regression" (significant and at least `min_effect` in the worse direction),
            "improvement" (the same in the better direction) or "unchanged".
        test: "mann-whitney-u" (current has 2+ values), "order-z" (the same, where the short
            side's least extreme value gave the p-value: `change_points.rank_p_value`),
            "robust-z" (one current value against a baseline of 5+), or "insufficient-data".
        n_baseline: Finite baseline values used.
        n_current: Finite current values used.
        baseline_median: Median of the baseline, in the metric's unit.
        current_median: Median of the current values, in the metric's unit.
    """

    change: float
    low: float
    high: float
    p_value: float
    verdict: Verdict
    test: Test
    n_baseline: int
    n_current: int
    baseline_median: float
    current_median: float

    @property
    def confidence(self) -> float:
        """1 - p-value: how sure the test is that the level changed."""
        return 1.0 - self.p_value


def _moses_rank(n1: int, n2: int, confidence_level: float) -> int:
    """0-based rank of the lower bound among the n1*n2 sorted pairwise differences (normal
    approximation of the Mann-Whitney null distribution)."""
    z = stats.norm.ppf(0.5 + confidence_level / 2)
    k = math.floor(n1 * n2 / 2 - z * math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12))
    return max(k, 0)


def compare(
    baseline: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    *,
    higher_is_better: bool,
    alpha: float = 0.002,
    min_effect: float = 0.05,
    confidence_level: float = 0.95,
) -> Comparison:
    """Is `current` (a sample of measurements) a regression against `baseline`?

    With 2+ current values: Mann-Whitney U (two-sided) for the p-value, and where one side has
    at most 5 values the order test of `change_points.rank_p_value` beside it (3 new nights
    against 20 old ones reach p < 0.002 by ranks only when every new night is above every old
    one); the relative change is the Hodges-Lehmann shift (median of all pairwise log
    differences current - baseline), exponentiated, with its distribution-free Moses confidence
    interval. With exactly one current value (a single run without samples) a rank test cannot
    reach significance, so the value is scored against the baseline's median and robust scale
    (MAD x 1.4826) as a normal z-score (Conbench's lookback z-score); this needs 5+ baseline
    values. Values must be positive for the log scale; otherwise shifts are taken on raw values
    relative to the baseline median.

    Args:
        baseline: The reference: the history's points or a baseline run's samples. NaN dropped.
        current: The measurements under test. NaN dropped.
        higher_is_better: True for throughput-like metrics, False for latency and memory.
        alpha: Two-sided significance level the verdict requires.
        min_effect: Smallest relative change (either direction) that counts; 0.05 = 5%.
        confidence_level: Level of the interval `low`..`high`.

    Returns:
        The comparison; `verdict` is "regression" only when p < alpha AND the change is at least
        `min_effect` in the worse direction.

    Raises:
        ValueError: either side has no finite value, or the baseline median is 0 so a relative
            change is undefined.
    """
    b, c = finite_values(baseline), finite_values(current)
    if b.size == 0 or c.size == 0:
        raise ValueError(
            f"cannot compare: {b.size} finite baseline and {c.size} finite current values; "
            "both need at least one"
        )
    base_med, cur_med = float(np.median(b)), float(np.median(c))
    logged = bool(np.all(b > 0) and np.all(c > 0))
    if not logged and base_med == 0.0:
        raise ValueError("relative change undefined: the baseline median is 0")

    def relative(shift: float) -> float:
        return math.expm1(shift) if logged else shift / abs(base_med)

    lb, lc = (np.log(b), np.log(c)) if logged else (b, c)
    if c.size >= 2:
        p, by_order = rank_p_value(lc, lb)
        test: Test = "order-z" if by_order else "mann-whitney-u"
        diffs = np.sort((lc[:, None] - lb[None, :]).ravel())
        k = _moses_rank(b.size, c.size, confidence_level)
        shift, lo, hi = float(np.median(diffs)), float(diffs[k]), float(diffs[-1 - k])
    else:
        center, scale = robust_location_scale(lb)
        shift = float(lc[0] - center)
        if b.size < 5 or scale == 0.0:
            test, p, lo, hi = "insufficient-data", 1.0, shift, shift
        else:
            test = "robust-z"
            spread = scale * median_uncertainty(b.size)
            p = float(2 * stats.norm.sf(abs(shift) / spread))
            z = stats.norm.ppf(0.5 + confidence_level / 2)
            lo, hi = shift - z * spread, shift + z * spread
    change = relative(shift)
    verdict: Verdict = "unchanged"
    if p < alpha and abs(change) >= min_effect:
        worse = change < 0 if higher_is_better else change > 0
        verdict = "regression" if worse else "improvement"
    return Comparison(
        change=change,
        low=relative(lo),
        high=relative(hi),
        p_value=p,
        verdict=verdict,
        test=test,
        n_baseline=int(b.size),
        n_current=int(c.size),
        baseline_median=base_med,
        current_median=cur_med,
    )


@dataclass(frozen=True)
class Trend:
    """A Theil-Sen trend over a window.

    Attributes:
        slope: Change per run, in the metric's unit (median of pairwise slopes).
        low: Lower bound of the slope's confidence interval.
        high: Upper bound of the slope's confidence interval.
        intercept: Value at index 0 of the window.
        relative_change: slope x (n - 1) / median: the change across the window relative to its
            level (+0.03 = drifted 3% up).
        p_value: Mann-Kendall test of a monotonic trend (Kendall tau against time).
        n: Finite values used.
        worsening: The interval excludes 0 and the slope points the worse way.
    """

    slope: float
    low: float
    high: float
    intercept: float
    relative_change: float
    p_value: float
    n: int
    worsening: bool


def trend(
    values: Sequence[float] | np.ndarray,
    *,
    higher_is_better: bool,
    confidence_level: float = 0.95,
) -> Trend:
    """Theil-Sen slope of a series with its confidence interval and a Mann-Kendall p-value.

    Args:
        values: The window in time order, one value per run; NaN marks a missing run (its index
            still counts as a step of time).
        higher_is_better: Direction of the metric, for `worsening`.
        confidence_level: Level of the slope interval.

    Raises:
        ValueError: fewer than 3 finite values.
    """
    raw = np.asarray(values, dtype=np.float64).ravel()
    t = np.flatnonzero(np.isfinite(raw)).astype(np.float64)
    y = raw[np.isfinite(raw)]
    if y.size < 3:
        raise ValueError(f"a trend needs at least 3 finite values, got {y.size}")
    if np.ptp(y) == 0.0:
        return Trend(0.0, 0.0, 0.0, float(y[0]), 0.0, 1.0, int(y.size), False)
    slope, intercept, low, high = stats.theilslopes(y, t, alpha=confidence_level)
    p = float(stats.kendalltau(t, y).pvalue)
    level = float(np.median(y))
    span = float(raw.size - 1)
    relative_change = slope * span / abs(level) if level else math.nan
    excludes_zero = low > 0 or high < 0
    worse = slope < 0 if higher_is_better else slope > 0
    return Trend(
        slope=float(slope),
        low=float(low),
        high=float(high),
        intercept=float(intercept),
        relative_change=float(relative_change),
        p_value=p,
        n=int(y.size),
        worsening=bool(excludes_zero and worse),
    )


def robust_zscores(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """(x - median) / (MAD x 1.4826) for each value; NaN stays NaN.

    When the MAD is 0 (over half the values equal) the scale falls back to the mean absolute
    deviation x 1.2533; when that is 0 too (constant) every score is 0.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.full(x.shape, np.nan)
    center, scale = robust_location_scale(finite)
    if scale == 0.0:
        return np.where(np.isfinite(x), 0.0, np.nan)
    return (x - center) / scale


@dataclass(frozen=True)
class AnomalyScores:
    """Anomaly scores of runs (rows) across metrics (columns).

    Attributes:
        zscores: Robust z-score per run and metric (of log values when positive), signed so that
            positive is worse; NaN where the value is missing.
        worst_z: Largest (worst) z-score of each run, NaN-ignoring.
        isolation: IsolationForest anomaly score per run, higher = more isolated (the negated
            `score_samples`, about 0.5 for ordinary points, towards 1 for anomalies).
        outlier: IsolationForest's own outlier decision per run.
        anomalous: `outlier` AND `worst_z` >= the z threshold: unusual across metrics and
            clearly worse on at least one.
    """

    zscores: np.ndarray
    worst_z: np.ndarray
    isolation: np.ndarray
    outlier: np.ndarray
    anomalous: np.ndarray = field(repr=False)


def anomaly_scores(
    table: Sequence[Sequence[float]] | np.ndarray,
    *,
    higher_is_better: Sequence[bool],
    z_threshold: float = 3.5,
    contamination: float | Literal["auto"] = "auto",
    random_state: int = 0,
) -> AnomalyScores:
    """Score each run of a (runs x metrics) table for anomalies.

    Each column is logged when positive and turned into robust z-scores, so metrics of
    different units weigh alike; IsolationForest (seeded, 100 trees) then scores whole rows,
    catching unusual combinations no single metric shows. A missing value enters the forest as
    z = 0 (the column's median). 3.5 is Iglewicz and Hoaglin's cut for robust z-scores.

    Args:
        table: One row per run, one column per metric; NaN for a missing value.
        higher_is_better: Direction of each column.
        z_threshold: Worse-direction robust z a run must reach on some metric to be anomalous.
        contamination: IsolationForest's expected outlier share, or "auto".
        random_state: Seed of the forest, so scores are reproducible.

    Raises:
        ValueError: the table is not 2-D, has fewer than 2 rows, or `higher_is_better` does not
            give one direction per column.
    """
    from sklearn.ensemble import IsolationForest

    data = np.asarray(table, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 2:
        raise ValueError(f"need a 2-D table of at least 2 runs, got shape {data.shape}")
    if len(higher_is_better) != data.shape[1]:
        raise ValueError(
            f"higher_is_better has {len(higher_is_better)} entries for {data.shape[1]} columns"
        )
    z = np.empty_like(data)
    for j, better_high in enumerate(higher_is_better):
        col = data[:, j]
        finite = col[np.isfinite(col)]
        scaled = np.log(col) if finite.size and np.all(finite > 0) else col
        z[:, j] = robust_zscores(scaled) * (-1.0 if better_high else 1.0)
    forest = IsolationForest(contamination=contamination, random_state=random_state)
    features = np.nan_to_num(z, nan=0.0, posinf=1e6, neginf=-1e6)
    forest.fit(features)
    isolation = -forest.score_samples(features)
    outlier = forest.predict(features) == -1
    filled = np.where(np.isnan(z), -np.inf, z).max(axis=1)
    worst = np.where(np.isneginf(filled), np.nan, filled)
    anomalous = outlier & (np.nan_to_num(worst, nan=-np.inf) >= z_threshold)
    return AnomalyScores(
        zscores=z, worst_z=worst, isolation=isolation, outlier=outlier, anomalous=anomalous
    )


@dataclass(frozen=True)
class DetectionConfig:
    """Thresholds of the regression flow.

    Attributes:
        alpha: Significance for change points and comparisons (two-sided).
        min_effect: Smallest relative change that raises or keeps an alert (the "low" tier).
        min_size: Fewest runs in a segment; a change is confirmed after this many runs at the
            new level at the earliest.
        window: Most runs either side of a change used as baseline / current.
        history: Most recent runs analysed per series.
    """

    alpha: float = 0.002
    min_effect: float = 0.05
    min_size: int = 3
    window: int = 30
    history: int = 120

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.min_effect < 0:
            raise ValueError(f"min_effect must be >= 0, got {self.min_effect}")
        if self.min_size < 1:
            raise ValueError(f"min_size must be >= 1, got {self.min_size}")
        if self.window < self.min_size:
            raise ValueError(f"window ({self.window}) must be >= min_size ({self.min_size})")
        if self.history < 2 * self.min_size:
            raise ValueError(f"history ({self.history}) must be >= 2 x min_size")


#: The defaults, shared so no call builds its own.
DEFAULT_CONFIG = DetectionConfig()


@dataclass(frozen=True)
class Finding:
    """A level change in a series, judged against the level before it.

    Attributes:
        start: Index of the first run at the new level (the first bad run for a regression).
        comparison: The runs since `start` against the runs before it.
        severity: Tier of a regression; None when the change is not one.
        kind: What changed at `start`: "level" (a step) or "slope" (the drift changed; the
            runs since then are compared all the same). An open alert's review keeps "level".
    """

    start: int
    comparison: Comparison
    severity: Severity | None
    kind: ChangeKind = "level"


@dataclass(frozen=True)
class SeriesReview:
    """What the latest run of a series says about its alerts.

    Attributes:
        change_points: All change points of the analysed history (indices into the values).
        new: A regression starting after every open alert's start, or None.
        reviewed: For each open alert's start index, the series since then against the level
            before it; `severity` None means it recovered and the alert should close. An open
            alert whose start has no finite baseline or current value is absent (leave it).
        changes: Every change of the analysed history with its kind, variance changes
            included (those never raise an alert: the level did not move).
    """

    change_points: list[int]
    new: Finding | None
    reviewed: dict[int, Finding]
    changes: tuple[ChangePoint, ...] = ()


def _baseline_span(start: int, change_points: Sequence[int], window: int) -> tuple[int, int]:
    previous = max((cp for cp in change_points if cp < start), default=0)
    return max(previous, start - window), start


def review_series(
    values: Sequence[float] | np.ndarray,
    *,
    higher_is_better: bool,
    open_starts: Sequence[int] = (),
    config: DetectionConfig = DEFAULT_CONFIG,
) -> SeriesReview:
    """Judge the newest run of a series: a new regression, and whether open alerts still hold.

    The lifecycle it supports: one change raises one alert; later runs refine it; a recovered
    series closes it.

    - New regression: the last change of level or slope (`change_points`; a change of variance
      alone raises nothing), if it comes more than `min_size` runs after the
      latest open alert's start (so a change is not re-raised when its estimated position
      wobbles), with the runs since it (at most `window`) compared against the runs before it
      back to the previous change point (at most `window`). It is a regression when `compare`
      says so: significant (p < `alpha`) and at least `min_effect` worse.
    - Open alert starting at index s: the runs since the last change point at or after s (the
      level now) against the runs before s (the level before the change). The alert stays open,
      with refreshed numbers, while that change is still at least `min_effect` worse (no new
      significance needed: a regression is not forgiven for being noisy); it closes once the
      level is back within `min_effect` of the level before the change.

    Args:
        values: The series in time order, newest last; NaN marks a missing run.
        higher_is_better: Direction of the metric.
        open_starts: Start indices (into `values`) of the series' open alerts.
        config: Thresholds.

    Returns:
        The review. Indices refer to `values`.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    changes = change_points(x, alpha=config.alpha, min_size=config.min_size, window=config.window)
    kinds = {c.index: c.kind for c in changes if c.kind in MEAN_KINDS}
    cps = sorted(kinds)

    def judge(start: int, current_from: int, *, opening: bool) -> Finding | None:
        lo, hi = _baseline_span(start, cps, config.window)
        base = x[lo:hi]
        now = x[current_from:][-config.window :]
        if np.isfinite(base).sum() == 0 or np.isfinite(now).sum() == 0:
            return None
        comparison = compare(
            base, now, higher_is_better=higher_is_better, alpha=config.alpha,
            min_effect=config.min_effect,
        )
        worse = -comparison.change if higher_is_better else comparison.change
        holds = comparison.verdict == "regression" if opening else worse >= config.min_effect
        severity = (
            severity_for(comparison.change, higher_is_better=higher_is_better) if holds else None
        )
        return Finding(start=start, comparison=comparison, severity=severity,
                       kind=kinds.get(start, "level") if opening else "level")

    reviewed: dict[int, Finding] = {}
    for start in sorted(set(open_starts)):
        level_from = max([start, *(cp for cp in cps if cp >= start)])
        finding = judge(start, level_from, opening=False)
        if finding is not None:
            reviewed[start] = finding
    new = None
    if cps:
        last = cps[-1]
        latest_open = max(open_starts, default=-(10**9))
        if last > latest_open + config.min_size:
            finding = judge(last, last, opening=True)
            if finding is not None and finding.severity is not None:
                new = finding
    return SeriesReview(change_points=cps, new=new, reviewed=reviewed, changes=tuple(changes))
