"""Change points of a benchmark history: changes of level, drift and variance, with their kind.

Pure functions on numbers: no I/O, no warehouse, no Prefect. NaN marks a missing run: it is
dropped, but its position still counts as a step of time.

Why this method (`change_points`): values are logged and scaled by a robust noise estimate; a
significant cycle is removed (one-way ANOVA across phases); changes of spread are searched in log
squared differences; outliers are clipped to a running median; then binary segmentation with a
line per segment proposes changes of level and drift (a drift is one sloped segment, not a
staircase). Each candidate is re-tested, Otava-style, and kept only at p < `alpha`: a step by a
robust (bisquare) fit of step + drift and a rank test, a slope change by a kink beyond a cubic
curve, a variance change by a rank test of spreads; the weakest is dropped first and its
neighbours re-tested.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special, stats
from scipy.ndimage import median_filter

#: MAD -> standard deviation for normally distributed data.
MAD_TO_SIGMA = 1.4826
#: Mean absolute deviation -> standard deviation (sqrt(pi/2)), the fallback when the MAD is 0.
MEANAD_TO_SIGMA = 1.2533


def finite_values(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The finite values of a sequence, flattened to float64 (NaN and infinities dropped)."""
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def robust_location_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and robust standard deviation (MAD x 1.4826; the mean absolute deviation x 1.2533
    when the MAD is 0, as when over half the values are equal) of finite values."""
    center = float(np.median(values))
    dev = np.abs(values - center)
    scale = MAD_TO_SIGMA * float(np.median(dev))
    if scale == 0.0:
        scale = MEANAD_TO_SIGMA * float(np.mean(dev))
    return center, scale


def median_uncertainty(n: int) -> float:
    """Factor widening a robust scale for a value scored against the median of n others: the
    median is itself uncertain, its variance about (pi/2) s^2 / n."""
    return math.sqrt(1 + math.pi / (2 * n))


#: Most values on the short side for which `rank_p_value` adds the order test; beyond it the
#: exact rank test's floor, 2 / C(n + m, m), is below 0.002 from n = 8 on.
ORDER_MAX = 5
#: Fewest values on the long side the order test needs: its median and scale must stand for
#: the reference's distribution. Measured on pure normal noise, 3 values against n, how often
#: the combined test falls below 0.002: 0.34% at n = 10, 0.26% at 12, 0.15-0.21% at 15, 0.07%
#: at 20 (30,000-60,000 draws each); below 15 the rank test alone judges.
ORDER_MIN_REFERENCE = 15


def order_p_value(reference: np.ndarray, short: np.ndarray, *, floor: float = 0.0) -> float:
    """Two-sided p-value that `short` lies beyond `reference`, allowing one outlier in `short`.

    The least extreme value of `short` in the direction of its median (its minimum when it lies
    above the reference) is scored as a robust z against the reference: its median, and its
    MAD x 1.4826 (at least `floor`; the mean absolute deviation when the MAD is 0), widened for
    the uncertainty of the median, Student t with n - 1 degrees of freedom for that of the
    scale. If at most one of the m values is an outlier, the other m - 1 come from the
    reference and all lie beyond the least extreme one: p = sf(z) ** (m - 1), doubled for two
    sides. Two slow nights among three cannot fake it either: the third is a normal run, which
    must lie beyond nearly the whole reference on its own.

    Why by hand: a rank test on 3 new runs cannot reach p < 0.002 once one old run lies above
    one of them unless there are 21+ old runs (2 x 2 / C(n + 3, 3)); this test uses distances,
    so one slow old night or one fast new night costs it little. scipy has no such test.
    """
    center, scale = robust_location_scale(reference)
    scale = max(scale, floor)
    if scale == 0.0 or short.size < 2:
        return 1.0
    direction = 1.0 if float(np.median(short)) >= center else -1.0
    nearest = float(np.min(short * direction)) * direction
    n = reference.size
    z = direction * (nearest - center) / (scale * median_uncertainty(n))
    if z <= 0.0:
        return 1.0
    return float(min(1.0, 2 * stats.t.sf(z, n - 1) ** (short.size - 1)))


def rank_p_value(a: np.ndarray, b: np.ndarray, *, floor: float = 0.0) -> tuple[float, bool]:
    """Two-sided p-value that `a` and `b` differ in level, robust to a burst of outliers.

    Mann-Whitney U; where the shorter side has at most `ORDER_MAX` values and the longer at
    least `ORDER_MIN_REFERENCE`, also `order_p_value` of the shorter against the longer, with a
    Bonferroni bound over the two (twice the smaller p). Returns the p-value and whether the
    order test gave it.
    """
    p_rank = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    short, reference = (a, b) if a.size <= b.size else (b, a)
    if short.size > ORDER_MAX or reference.size < ORDER_MIN_REFERENCE:
        return p_rank, False
    p_order = order_p_value(reference, short, floor=floor)
    return min(1.0, 2 * min(p_rank, p_order)), p_order < p_rank


def _to_log_if_positive(values: np.ndarray) -> np.ndarray:
    """Log values when all are positive (lognormal noise becomes additive, steps relative)."""
    if values.size and bool(np.all(values > 0)):
        return np.log(values)
    return values


def noise_scale(values: Sequence[float] | np.ndarray) -> float:
    """Robust standard deviation of the point-to-point noise of a series.

    Uses first differences, so a step or a slow drift barely moves it: sigma = MAD(diff) x 1.4826
    / sqrt(2). When the MAD is 0 (quantised values) it falls back to the mean absolute deviation
    x 1.2533 / sqrt(2). NaN values are dropped first.

    Returns:
        The scale in the values' units; 0.0 for a constant series or fewer than 2 values.
    """
    x = finite_values(values)
    if x.size < 2:
        return 0.0
    d = np.diff(x)
    dev = np.abs(d - np.median(d))
    sigma = MAD_TO_SIGMA * float(np.median(dev)) / math.sqrt(2)
    if sigma == 0.0:
        sigma = MEANAD_TO_SIGMA * float(np.mean(dev)) / math.sqrt(2)
    return sigma


def _within_segment_slope(t: np.ndarray, x: np.ndarray, right: np.ndarray) -> float:
    """Theil-Sen slope from pairs on the same side of a change only, so the step does not bias
    it but a drift running through both sides does."""
    slopes = []
    for side in (~right, right):
        ts, xs = t[side], x[side]
        if ts.size >= 2:
            i, j = np.triu_indices(ts.size, k=1)
            slopes.append((xs[j] - xs[i]) / (ts[j] - ts[i]))
    return float(np.median(np.concatenate(slopes))) if slopes else 0.0


#: p-value below which a window is taken to drift or bend (Kendall's tau; the curvature of a
#: cubic fit), so a step must also pass without a drift, or beyond the curve.
_DRIFT_ALPHA = 0.05
#: Largest lag-1 autocorrelation `_correlation_inflation` believes: a random walk's residuals
#: reach 0.99, and a variance inflated 199-fold already rules out any step.
_MAX_RHO = 0.99
#: Tukey bisquare tuning constant (95% efficiency under normal noise).
_BISQUARE_C = 4.685
_BISQUARE_EFFICIENCY = 0.95


def _correlation_inflation(residuals: np.ndarray) -> float:
    """Variance inflation of a fitted level, step or slope when the noise is autocorrelated:
    (1 + rho) / (1 - rho) for AR(1) noise with lag-1 autocorrelation rho, estimated from the
    residuals of the fit (winsorised at 3 robust scales, so one outlier does not set it).

    Real histories are rarely white noise: a cache that warms over days, a slowly filling disk,
    a random-walk-like economic series keep neighbouring residuals alike, and a test that
    assumes independence then finds "steps" in every wander of the level. Negative rho is
    taken as 0: it would make the tests bolder than independence allows.
    """
    r = residuals[np.isfinite(residuals)]
    if r.size < 8:
        return 1.0
    r = r - np.median(r)
    scale = MAD_TO_SIGMA * float(np.median(np.abs(r)))
    if scale > 0.0:
        r = np.clip(r, -3 * scale, 3 * scale)
    energy = float(r @ r)
    if energy == 0.0:
        return 1.0
    rho = min(max(float(r[1:] @ r[:-1]) / energy, 0.0), _MAX_RHO)
    return (1 + rho) / (1 - rho)


def _step_p_value(x: np.ndarray, times: np.ndarray, start: int, k: int, stop: int,
                  window: int) -> float:
    """Two-sided p-value of a level change at k in noise-scaled values x (unit noise) observed
    at `times`.

    Uses at most `window` points either side of k, within [start, stop). Two tests must both
    reject, so the larger p-value is returned:

    - Model test: level + step at k + a common drift slope, fitted by Tukey-bisquare IRLS
      (started from the within-side Theil-Sen slope and the side medians) so outliers get no
      weight; z = step / its standard error under unit noise. Because the drift is fitted too, a
      slow drift cut into a staircase does not pass as a step, and the drift's uncertainty
      counts against the step.
    - Rank test: Mann-Whitney U between the two sides after removing the fitted drift, which a
      burst of outliers cannot fake (two slow nights in a three-run segment fool any level fit).

    Where the window does not trend at all (Kendall's tau against time, the step included,
    p >= `_DRIFT_ALPHA`), both tests must also reject without a drift: a free drift lets a
    step fit a sawtooth of noise (two rising stretches and a drop), which a search for the
    best split finds all too easily.
    """
    lo, hi = max(start, k - window), min(stop, k + window)
    t = times[lo:hi] - times[k]
    y = x[lo:hi]
    p = _step_fit_p_value(t, y, drifts=True)
    if p < 1.0 and not stats.kendalltau(t, y).pvalue < _DRIFT_ALPHA:
        p = max(p, _step_fit_p_value(t, y, drifts=False))
    return p


def _step_fit_p_value(t: np.ndarray, y: np.ndarray, *, drifts: bool) -> float:
    """`_step_p_value`'s two tests at t = 0, with or without a common drift."""
    right = t >= 0
    slope = _within_segment_slope(t, y, right) if drifts else 0.0
    design = np.column_stack([np.ones_like(t), right.astype(np.float64)] + [t] * drifts)
    detrended = y - slope * t
    level = float(np.median(detrended[~right]))
    beta = np.array([level, float(np.median(detrended[right])) - level] + [slope] * drifts)
    for _ in range(20):
        u = (y - design @ beta) / _BISQUARE_C
        weights = np.where(np.abs(u) < 1, (1 - u**2) ** 2, 0.0)
        normal = (design * weights[:, None]).T @ design
        if np.linalg.matrix_rank(normal) < design.shape[1]:
            return 1.0
        updated = np.linalg.solve(normal, (design * weights[:, None]).T @ y)
        converged = bool(np.allclose(updated, beta, atol=1e-6))
        beta = updated
        if converged:
            break
    # Unit noise, or the fit's robust residual scale when larger: what the model misses (the
    # bend of a smooth curve, correlated noise) is no evidence of a step.
    misfit = y - design @ beta
    spread = max(1.0, MAD_TO_SIGMA * float(np.median(np.abs(misfit - np.median(misfit)))))
    se = spread * math.sqrt(np.linalg.inv(normal)[1, 1] * _correlation_inflation(misfit)
                            / _BISQUARE_EFFICIENCY)
    p_model = float(2 * stats.norm.sf(abs(beta[1]) / se))
    residuals = y - beta[2] * t if drifts else y
    if np.ptp(residuals) == 0.0:
        return 1.0
    p_rank, _ = rank_p_value(residuals[~right], residuals[right], floor=1.0)
    return max(p_model, p_rank)


#: Kinds of change a series can make.
ChangeKind = Literal["level", "slope", "variance"]
#: Kinds that move the series' level or drift (segments of the mean model); `review_series`
#: judges these.
MEAN_KINDS: tuple[ChangeKind, ...] = ("level", "slope")

#: Residuals beyond this many local noise scales from a running median are clipped (outliers).
_CLIP = 3.0
#: Width of the running median outliers are measured from: a burst of 2 stays an outlier.
_CLIP_WIDTH = 9
#: Fewest runs each side of a slope change: a kink needs a few runs to show a slope.
_KINK_SIDE = 6
#: Longest cycle looked for, in runs (a cycle also needs 3 repeats in the series).
_MAX_PERIOD = 60
#: Standard deviation of log(chi-square with 1 dof): the noise of log squared differences.
_LOG_CHI2_SD = math.pi / math.sqrt(2)


@dataclass(frozen=True)
class ChangePoint:
    """A change in a series.

    Attributes:
        index: Position in the values (NaN included in the numbering) of the first run after
            the change.
        kind: "level" (a step), "slope" (the drift changed and the level did not jump) or
            "variance" (the series became noisier or quieter; its level did not move).
        p_value: Two-sided p-value of the test of its kind (see `change_points`).
    """

    index: int
    kind: ChangeKind
    p_value: float


def _prefix(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Cumulative sums of each column after a row of zeros: sums over [i, j) are P[j] - P[i]."""
    stacked = np.column_stack(columns)
    return np.vstack([np.zeros((1, stacked.shape[1])), np.cumsum(stacked, axis=0)])


def _line_costs(sums: np.ndarray) -> np.ndarray:
    """Weighted least-squares residual of a line per segment (rows), from its sums of w, wt,
    wt^2, wx, wtx and wx^2: O(1) per segment, so every split of a segment costs one call."""
    w, t, tt, x, tx, xx = sums.T
    det = w * tt - t * t
    flat = det <= 1e-9 * np.maximum(w * tt, 1e-300)
    safe = np.where(flat, 1.0, det)
    line = xx - (tt * x * x - 2 * t * x * tx + w * tx * tx) / safe
    level = xx - x * x / np.maximum(w, 1e-300)
    return np.maximum(np.where(flat, level, line), 0.0)


def _level_costs(sums: np.ndarray) -> np.ndarray:
    """Least-squares residual of a constant per segment (rows), from its sums of 1, x and x^2."""
    w, x, xx = sums.T
    return np.maximum(xx - x * x / w, 0.0)


def _binary_segmentation(
    prefix: np.ndarray,
    cost: Callable[[np.ndarray], np.ndarray],
    penalty: float,
    min_size: int,
    span: tuple[int, int] | None = None,
) -> list[int]:
    """Split points binary segmentation finds in `span` (default all): split a segment where it
    lowers the cost most, while that gain exceeds `penalty`.

    Written with numpy rather than taken from ruptures: every split of a segment is priced in
    one vectorised call from prefix sums, so n points with c changes cost O(n log n + n c)
    (ruptures' Binseg and Pelt loop over positions in Python, and its compiled KernelCPD has no
    piecewise-linear cost). Greedy, not exact: the re-tests decide which changes stand.
    """
    bounds: list[int] = []
    stack = [span or (0, prefix.shape[0] - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2 * min_size:
            continue
        splits = np.arange(a + min_size, b - min_size + 1)
        whole = cost((prefix[b] - prefix[a])[None, :])[0]
        gain = whole - cost(prefix[splits] - prefix[a]) - cost(prefix[b] - prefix[splits])
        best = int(np.argmax(gain))
        if gain[best] > penalty:
            k = int(splits[best])
            bounds.append(k)
            stack += [(a, k), (k, b)]
    return sorted(bounds)


def _neighbours(bounds: Sequence[int], n: int) -> list[tuple[int, int, int]]:
    edges = [0, *bounds, n]
    return [(edges[i], edges[i + 1], edges[i + 2]) for i in range(len(bounds))]


def _search(
    prefix: np.ndarray,
    cost: Callable[[np.ndarray], np.ndarray],
    penalty: float,
    min_size: int,
    judge: Callable[[int, int, int], tuple[ChangeKind, float]],
    alpha: float,
) -> list[tuple[int, ChangeKind, float]]:
    """Binary segmentation, then `_prune`; then each surviving segment is searched again with
    its edges fixed (greedy splits can hide a change behind a larger misfit nearby), until a
    round keeps nothing new (at most 3 rounds)."""
    n = prefix.shape[0] - 1
    kept = _prune(_binary_segmentation(prefix, cost, penalty, min_size), n, judge, alpha)
    for _ in range(3):
        edges = [0, *(k for k, _, _ in kept), n]
        extra = [k for a, b in zip(edges, edges[1:], strict=False)
                 for k in _binary_segmentation(prefix, cost, penalty, min_size, (a, b))]
        if not extra:
            break
        found = _prune(sorted(edges[1:-1] + extra), n, judge, alpha)
        if [k for k, _, _ in found] == edges[1:-1]:
            break
        kept = found
    return kept


def _prune(
    bounds: list[int],
    n: int,
    judge: Callable[[int, int, int], tuple[ChangeKind, float]],
    alpha: float,
) -> list[tuple[int, ChangeKind, float]]:
    """Drop the least significant candidate until every one passes `alpha`; after a drop only
    its two neighbours are judged again (their segments grew)."""
    bounds = list(bounds)
    verdicts = [judge(*edges) for edges in _neighbours(bounds, n)]
    while bounds:
        worst = int(np.argmax([p for _, p in verdicts]))
        if verdicts[worst][1] < alpha:
            break
        del bounds[worst], verdicts[worst]
        edges = _neighbours(bounds, n)
        for i in (worst - 1, worst):
            if 0 <= i < len(bounds):
                verdicts[i] = judge(*edges[i])
    return [(k, kind, p) for k, (kind, p) in zip(bounds, verdicts, strict=True)]


def _seasonal_period(x: np.ndarray, positions: np.ndarray, alpha: float) -> int | None:
    """The period of a significant cycle in unit-noise values, or None.

    The values less a wide running median are grouped by phase for each period p from 2 to
    `_MAX_PERIOD` (at most a third of the span), and the phase means are compared by one-way
    ANOVA's F test (the noise is estimated within the phases, so a noisier stretch is no cycle).
    The most significant period wins (a cycle's multiples need more degrees of freedom for the
    same signal) when it passes `alpha` with a Bonferroni bound over the periods tried. Missing
    runs are filled by linear interpolation for this search only.
    """
    grid = np.arange(positions[0], positions[-1] + 1)
    longest = min(grid.size // 3, _MAX_PERIOD)
    if longest < 2:
        return None
    filled = np.interp(grid, positions, x)
    # One residual for every period: the values less a running median two longest periods
    # wide, which follows steps and drift but not a shorter cycle. (A moving average one
    # period wide was tried first: its residuals are correlated, and 1.5% of pure-noise
    # series got a cycle; a least-squares line left steps in, which hid cycles.)
    residual = filled - median_filter(filled, size=min(2 * longest + 1, grid.size), mode="nearest")
    residual = np.clip(residual - np.median(residual), -_CLIP, _CLIP)
    periods = np.arange(2, longest + 1)
    width = longest + 1
    cells = ((np.arange(periods.size) * width)[:, None] + grid[None, :] % periods[:, None])
    shape = (periods.size, width)
    values = np.broadcast_to(residual, cells.shape)
    counts = np.bincount(cells.ravel(), minlength=periods.size * width).reshape(shape)
    totals = np.bincount(cells.ravel(), values.ravel(), minlength=periods.size * width)
    totals = totals.reshape(shape)
    explained = np.sum(totals * totals / np.maximum(counts, 1), axis=1)
    size, total = grid.size, float(residual.sum())
    within_dof = np.maximum(size - periods - 1, 1)
    between = (explained - total * total / size) / (periods - 1)
    within = (float(residual @ residual) - explained) / within_dof
    ratios = np.where(within > 1e-12, between / np.maximum(within, 1e-12), 0.0)
    # One vectorised call for all periods: scipy.stats' per-call overhead was most of the cost.
    p_values = special.fdtrc(periods - 1, within_dof, ratios)
    best = int(np.argmin(p_values))
    if p_values[best] * periods.size >= alpha:
        return None
    return int(periods[best])


def _deseasonalise(x: np.ndarray, positions: np.ndarray, period: int) -> np.ndarray:
    """x minus its cycle: per phase, the median deviation from a running median one period
    wide (which follows steps and drift but not the cycle)."""
    base = median_filter(x, size=period | 1, mode="nearest")
    phase = positions % period
    profile = np.array([np.median((x - base)[phase == j]) if np.any(phase == j) else 0.0
                        for j in range(period)])
    return x - (profile - profile.mean())[phase]


def _variance_p_value(d: np.ndarray, start: int, k: int, stop: int, window: int) -> float:
    """Mann-Whitney p-value that first differences spread more on one side of k: a scale test
    on absolute deviations from each side's median (its drift), robust to a lone step.

    Only every other difference is used (k-2, k-4, ... and k, k+2, ...): neighbouring
    differences share a value, and the test needs independent ones."""
    lo, hi = max(start, k - window), min(stop, k + window)
    left, right = d[k - 2 : lo - 1 if lo > 0 else None : -2], d[k:hi:2]
    if left.size < 3 or right.size < 3:
        return 1.0
    a, b = np.abs(left - np.median(left)), np.abs(right - np.median(right))
    if np.ptp(np.r_[a, b]) == 0.0:
        return 1.0
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _rss(design: np.ndarray, y: np.ndarray) -> float:
    """Residual sum of squares of a least-squares fit."""
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.sum((y - design @ beta) ** 2))


def _ols_p_values(design: np.ndarray, y: np.ndarray, columns: Sequence[int]) -> list[float]:
    """Two-sided p-values of chosen coefficients of a least-squares fit to unit-noise values.

    The residual scale replaces 1 when larger: structure the model misses is no evidence."""
    rows, cols = design.shape
    if rows <= cols or np.linalg.matrix_rank(design) < cols:
        return [1.0] * len(columns)
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residuals = y - design @ beta
    scale2 = max(1.0, float(residuals @ residuals) / (rows - cols))
    scale2 *= _correlation_inflation(residuals)
    covariance = np.linalg.inv(design.T @ design) * scale2
    return [float(2 * stats.norm.sf(abs(beta[c]) / math.sqrt(covariance[c, c])))
            for c in columns]


def _best_kink(x: np.ndarray, t: np.ndarray, lo: int, hi: int, options: np.ndarray,
               degree: int = 1) -> tuple[int, float, float]:
    """The best of the kink positions `options` for a polynomial of `degree` plus a hinge
    max(t - t_j, 0) through x[lo:hi] (degree 1: a bent line; 2: a kink beyond curvature).

    Every position is priced at once: the values and each hinge are projected off the
    polynomial, and a hinge lowers the residual by (h.y)^2 / (h.h).

    Returns:
        (position, residual sum of squares of its bent line, two-sided p-value of its kink
        under unit noise, or the residual scale when larger, Bonferroni-corrected over the
        options).
    """
    times, y = t[lo:hi], x[lo:hi]
    span = float(max(times[-1] - times[0], 1.0))
    u = (times - times[0]) / span
    q, _ = np.linalg.qr(np.vander(u, degree + 1))
    y_off = y - q @ (q.T @ y)
    hinges = np.maximum(u[:, None] - ((t[options] - times[0]) / span)[None, :], 0.0)
    h_off = hinges - q @ (q.T @ hinges)
    hh = np.sum(h_off * h_off, axis=0)
    hy = h_off.T @ y_off
    gain = np.where(hh > 1e-12, hy * hy / np.maximum(hh, 1e-12), 0.0)
    best = int(np.argmax(gain))
    rss = float(y_off @ y_off) - float(gain[best])
    if hh[best] <= 1e-12 or u.size <= degree + 2:
        return int(options[best]), rss, 1.0
    scale2 = max(1.0, rss / (u.size - degree - 2))
    scale2 *= _correlation_inflation(y_off - h_off[:, best] * (hy[best] / hh[best]))
    z = abs(float(hy[best])) / math.sqrt(float(hh[best]) * scale2)
    return int(options[best]), rss, min(1.0, float(2 * stats.norm.sf(z)) * options.size)


def _kink_options(start: int, k: int, stop: int, window: int) -> np.ndarray:
    return np.arange(max(start + _KINK_SIDE, k - window // 3),
                     min(stop - _KINK_SIDE, k + window // 3) + 1)


def _judge_mean_change(x: np.ndarray, t: np.ndarray, start: int, k: int, stop: int,
                       window: int, alpha: float) -> tuple[ChangeKind, float]:
    """Kind and p-value of a change of level or drift at k, against its neighbours.

    Two readings compete; the more significant one names the kind:

    - level: `_step_p_value` (robust step + common drift, and a rank test) must reject; where a
      least-squares fit of level + jump + drift + a cubic curve finds the curve at all (at
      `_DRIFT_ALPHA`), its jump must be significant too, so the bend of a smooth curve is no step
      (asking it always would cost steps much power: curvature mimics a step);
    - slope: a significant kink (beyond a cubic curve over 2 x `window` runs each side; the
      bend placed within a third of `window` of k, where the two free lines of the
      segmentation may have put it) with at least `_KINK_SIDE` runs each side, where the bent
      line also fits better than a step with a common drift (as many parameters): a smooth
      acceleration is one curved segment, not a chain of kinks, and a step is no kink.
    """
    p_step = _step_p_value(x, t, start, k, stop, window)
    lo, hi = max(start, k - window), min(stop, k + window)
    if hi - lo <= 6 or min(k - lo, hi - k) < 2:
        return "level", p_step
    span = float(max(t[hi - 1] - t[lo], 1.0))
    u = (t[lo:hi] - t[k]) / span
    ones, right = np.ones_like(u), (u >= 0).astype(np.float64)
    p_jump, p_square, p_cube = _ols_p_values(
        np.column_stack([ones, right, u, u * u, u**3]), x[lo:hi], (1, 3, 4)
    )
    p_level = max(p_step, p_jump) if min(p_square, p_cube) < _DRIFT_ALPHA else p_step
    p_kink = 1.0
    options = _kink_options(lo, k, hi, window)
    if options.size:
        _, rss, _ = _best_kink(x, t, lo, hi, options)
        if rss < _rss(np.column_stack([ones, right, u]), x[lo:hi]):
            wide = max(start, k - 2 * window), min(stop, k + 2 * window)
            p_kink = _best_kink(x, t, *wide, options, degree=3)[2]
    if p_level <= p_kink:
        return "level", p_level
    return "slope", p_kink


def _place_kink(x: np.ndarray, t: np.ndarray, start: int, k: int, stop: int,
                window: int) -> int:
    """Where a bent line fits best near k (see `_best_kink`): the segmentation joins two free
    lines, which can put a kink a few runs off."""
    options = _kink_options(start, k, stop, window)
    if not options.size:
        return k
    return _best_kink(x, t, max(start, k - 2 * window), min(stop, k + 2 * window), options)[0]


def change_points(
    values: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.002,
    min_size: int = 3,
    penalty: float | None = None,
    window: int = 30,
) -> list[ChangePoint]:
    """Changes of level, drift and variance in a series, each with its kind and significance.

    Algorithm (every step linear or near-linear in n):

    1. Values are logged when all are positive (relative changes, additive lognormal noise) and
       divided by the robust noise scale of `noise_scale` (from first differences, which steps
       and drift barely move).
    2. Seasonality: a significant cycle of 2 to 60 runs (`_seasonal_period`: phases compared
       after a moving average one period wide) is subtracted, so weekly or day/night rhythms
       are no steps.
    3. Variance: binary segmentation of log squared differences (a constant per segment,
       `penalty` per change) proposes changes of spread; each must pass a Mann-Whitney scale
       test at `alpha` (on up to 2 x `window` differences each side). Each variance segment is
       then weighted by its own noise scale, so a noisier stretch does not look like steps.
    4. Outliers: values further than 3 local noise scales from a running median of 9 are
       clipped to it; a few slow runs close together (up to 4 of 9) cannot make a segment.
    5. Level and drift: binary segmentation with a line per segment (weighted least squares,
       `_binary_segmentation`) proposes changes, so a steady drift is one segment and not a
       staircase. Each candidate is tested against its neighbouring segments (at most
       `window` runs each side) by `_judge_mean_change`: a level step needs a robust step
       test (with a drift, and also without one where the window does not trend) and a rank
       test (`rank_p_value`: with an order test beside it where one side is short), and,
       where the window is curved, a jump beyond the curve; a slope change needs a kink
       beyond a cubic curve that a step does not fit better. The least significant
       candidate at or above `alpha` is dropped and its neighbours re-tested until every
       change stands; the segments left are searched again (`_search`) until nothing new
       stands. Every test counts autocorrelated noise (`_correlation_inflation`: the
       variance of its estimate grows by (1 + rho) / (1 - rho) with the lag-1
       autocorrelation rho of its residuals), and so does the search's penalty (rho of the
       residuals from the running median): real series wander, and a test that assumes
       independent noise takes every wander for a step.
    A variance change within `min_size` runs of a level or slope change is left out: the
    level change explains it.

    Args:
        values: The series in time order, one value per run; NaN marks a missing run (its
            position still counts as a step of time).
        alpha: Two-sided significance a change must reach (asv uses 0.002). A level change
            needs enough runs on each side: at least 3 runs after a change against 15 before
            it (`rank_p_value`'s order test; 17 where the ranks alone must decide), or 6
            against 7.
        min_size: Fewest runs in a segment.
        penalty: Cost per extra segment in the searches, in squared noise-scale units; default
            4 log(n), BIC-like (a line segment adds a level, a slope and a position; 3 log(n)
            proposed sawtooth splits of pure noise that the tests then had to catch), times
            the autocorrelation inflation of the residuals for the level-and-drift search. The
            tests have the final word either way.
        window: Most runs either side used to test a change of level or drift.

    Returns:
        The changes in time order. Empty for a constant series or one shorter than
        2 x `min_size` finite values.

    Raises:
        ValueError: `min_size` < 1 or `alpha` outside (0, 1).
    """
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    raw = np.asarray(values, dtype=np.float64).ravel()
    positions = np.flatnonzero(np.isfinite(raw))
    x = _to_log_if_positive(raw[positions])
    n = x.size
    if n < 2 * min_size:
        return []
    sigma = noise_scale(x)
    if sigma == 0.0:
        return []
    x = (x - np.median(x)) / sigma
    pen = 4.0 * math.log(n) if penalty is None else penalty
    period = _seasonal_period(x, positions, alpha)
    if period is not None:
        x = _deseasonalise(x, positions, period)
        rescale = noise_scale(x)
        if rescale == 0.0:
            return []
        x = x / rescale
    t = positions.astype(np.float64)

    found: list[tuple[int, ChangeKind, float]] = []
    d = np.diff(x)
    edges = [0, n]
    var_size = max(2 * min_size, 6)
    if d.size >= 4 * var_size:  # a spread needs many runs to be told apart: 24+ differences
        spread = np.log(d * d + 1e-6) / _LOG_CHI2_SD
        prefix = _prefix([np.ones_like(spread), spread, spread * spread])
        kept = _search(prefix, _level_costs, pen, var_size,
                       lambda a, k, b: ("variance", _variance_p_value(d, a, k, b, 2 * window)),
                       alpha)
        edges = [0, *(k + 1 for k, _, _ in kept), n]
        found += [(k + 1, kind, p) for k, kind, p in kept]

    # Mirrored at the ends, never the edge value repeated: the newest run is always at the end,
    # and "nearest" would fill half the window with it, so one or two slow runs there became
    # their own running median, escaped the clip and read as a step (outlier shape F1 0.976 ->
    # 0.993, stable series flagged at CV 2% 1.2% -> 0.8%, `benchmarks/eval_detection.py`).
    base = median_filter(x, size=min(_CLIP_WIDTH, n) | 1, mode="mirror")
    # The tests weigh runs by the noise scale of the raw values: outliers inflate it, which
    # only makes the tests more cautious. Outliers are clipped at a scale estimated again
    # after a first clip, which they no longer inflate (or they would slip through).
    scale = np.ones(n)
    for lo, hi in zip(edges, edges[1:], strict=False):
        local = noise_scale(x[lo:hi])
        scale[lo:hi] = local if local > 0.0 else 1.0
    clip_scale = scale.copy()
    first = base + np.clip(x - base, -_CLIP * scale, _CLIP * scale)
    for lo, hi in zip(edges, edges[1:], strict=False):
        local = noise_scale(first[lo:hi])
        clip_scale[lo:hi] = local if local > 0.0 else clip_scale[lo:hi]
    x = base + np.clip(x - base, -_CLIP * clip_scale, _CLIP * clip_scale)
    w = 1.0 / scale**2
    u = (t - t[0]) / max(t[-1] - t[0], 1.0)
    prefix = _prefix([w, w * u, w * u * u, w * x, w * u * x, w * x * x])

    def judge(a: int, k: int, b: int) -> tuple[ChangeKind, float]:
        lo, hi = max(a, k - 2 * window), min(b, k + 2 * window)
        centre = float(np.median(x[max(a, k - window) : min(b, k + window)]))
        y = np.full(n, np.nan)
        y[lo:hi] = (x[lo:hi] - centre) / scale[lo:hi]
        return _judge_mean_change(y, t, a, k, b, window, alpha)

    mean_pen = pen * _correlation_inflation(x - base) if penalty is None else pen
    mean = _search(prefix, _line_costs, mean_pen, min_size, judge, alpha)
    mean = [(_place_kink(x / scale, t, *edges, window) if kind == "slope" else k, kind, p)
            for (k, kind, p), edges in zip(mean, _neighbours([k for k, _, _ in mean], n),
                                           strict=True)]
    found = [f for f in found
             if all(abs(f[0] - k) > min_size for k, _, _ in mean)] + mean
    return [ChangePoint(index=int(positions[k]), kind=kind, p_value=p)
            for k, kind, p in sorted(found)]


def detect_change_points(
    values: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.002,
    min_size: int = 3,
    penalty: float | None = None,
    window: int = 30,
    kinds: Sequence[ChangeKind] = ("level", "slope", "variance"),
) -> list[int]:
    """Indices where a new segment of the series starts (see `change_points` for the method).

    Args:
        values: The series in time order, one value per run; NaN marks a missing run.
        alpha: Two-sided significance a change must reach.
        min_size: Fewest runs in a segment.
        penalty: Cost per extra segment in noise-scale units; default 3 log(n).
        window: Most runs either side used to test a change.
        kinds: Which kinds of change to return (default all).

    Returns:
        Sorted indices into `values` (NaN positions included in the numbering) of the first run
        of each new segment.
    """
    valid = ("level", "slope", "variance")
    for kind in kinds:
        if kind not in valid:
            close = difflib.get_close_matches(kind, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown change kind {kind!r}: {hint}choose from {', '.join(valid)}")
    return [c.index for c in change_points(values, alpha=alpha, min_size=min_size,
                                            penalty=penalty, window=window) if c.kind in kinds]
