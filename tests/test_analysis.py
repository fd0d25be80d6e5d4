"""Regression analysis on seeded synthetic series, with exact expected answers (as asv's tests)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from warehouse.analysis import (
    DetectionConfig,
    anomaly_scores,
    compare,
    higher_is_better,
    review_series,
    robust_zscores,
    severity_for,
    trend,
)
from warehouse.change_points import ChangePoint, change_points, detect_change_points, noise_scale


def nightly(n: int, *, cv: float = 0.02, seed: int = 0, level: float = 100.0) -> np.ndarray:
    """Lognormal nightly values with coefficient of variation `cv` around `level`."""
    rng = np.random.default_rng(seed)
    sigma = math.sqrt(math.log1p(cv**2))
    return level * np.exp(rng.normal(0.0, sigma, n))


def stepped(n: int, at: int, step: float, **kwargs: float) -> np.ndarray:
    values = nightly(n, **kwargs)
    values[at:] *= 1 + step
    return values


# Direction and severity


@pytest.mark.parametrize(
    ("metric", "unit", "expected"),
    [
        ("latency", "ms", False),
        ("import_time", "s", False),
        ("peak_memory", "bytes", False),
        ("throughput", "items/s", True),
        ("decode_throughput", "tokens/s", True),
        ("speedup", "ratio", True),
    ],
)
def test_direction_by_unit_and_name(metric: str, unit: str, expected: bool) -> None:
    assert higher_is_better(metric, unit) is expected


def test_direction_unknown_or_not_judged_is_refused() -> None:
    with pytest.raises(ValueError, match="METRIC_DIRECTIONS"):
        higher_is_better("mystery", "ratio")
    with pytest.raises(ValueError, match="not judged"):
        higher_is_better("concurrent_workers", "count")


@pytest.mark.parametrize(
    ("change", "better_high", "expected"),
    [
        (0.049, False, None),
        (0.05, False, "low"),
        (0.099, False, "low"),
        (0.10, False, "medium"),
        (0.15, False, "medium"),
        (0.20, False, "high"),
        (0.30, False, "critical"),
        (-0.40, False, None),
        (-0.25, True, "high"),
        (0.25, True, None),
    ],
)
def test_severity_tiers(change: float, better_high: bool, expected: str | None) -> None:
    assert severity_for(change, higher_is_better=better_high) == expected


# Change points


def test_single_step_found_exactly() -> None:
    assert detect_change_points(stepped(60, 40, 0.10, cv=0.02, seed=1)) == [40]


def test_step_down_and_two_steps() -> None:
    assert detect_change_points(stepped(60, 25, -0.10, cv=0.02, seed=2)) == [25]
    values = nightly(70, cv=0.02, seed=3)
    values[20:45] *= 1.15
    assert detect_change_points(values) == [20, 45]


def test_stable_series_have_no_change_points() -> None:
    found = [detect_change_points(nightly(60, cv=cv, seed=seed))
             for cv in (0.01, 0.03, 0.05) for seed in range(10)]
    assert found == [[]] * 30


def test_sporadic_outliers_are_not_changes() -> None:
    values = nightly(60, cv=0.02, seed=4)
    values[[7, 22, 23, 41, 58]] *= [1.4, 1.3, 1.5, 1.2, 1.45]  # a burst of two at 22-23
    assert detect_change_points(values) == []
    values[45:] *= 1.10
    assert detect_change_points(values) == [45]


def test_slow_runs_among_the_newest_are_not_a_step() -> None:
    """The newest run is the series' last: two slow runs there are outliers, three are a step."""
    found = []
    for seed in range(20):
        values = nightly(40, cv=0.02, seed=seed)
        values[[-3, -1]] *= 1.3
        found.append(detect_change_points(values))
    assert found == [[]] * 20
    values = nightly(40, cv=0.02, seed=3)
    values[-3:] *= 1.3
    assert detect_change_points(values) == [37]


def test_missing_values_keep_their_positions() -> None:
    values = stepped(60, 40, 0.10, cv=0.02, seed=1)
    values[[3, 39, 41]] = np.nan
    assert detect_change_points(values) == [40]


def test_slow_drift_is_not_a_step() -> None:
    drift = 1 + 0.10 * np.arange(60) / 60  # +10% over 60 nights at 1% noise
    assert detect_change_points(nightly(60, cv=0.01, seed=5) * drift) == []
    with_step = nightly(60, cv=0.01, seed=5) * drift
    with_step[40:] *= 1.05
    assert detect_change_points(with_step) == [40]


def test_constant_short_and_empty_series() -> None:
    assert detect_change_points([5.0] * 30) == []
    assert detect_change_points([1.0] * 10 + [2.0] * 10) == [10]
    assert detect_change_points([1.0, 2.0, 3.0, 50.0, 50.0]) == []
    assert detect_change_points([]) == []
    assert detect_change_points([np.nan] * 12) == []


def test_zero_and_negative_values_work_on_the_raw_scale() -> None:
    values = np.r_[np.zeros(15), np.full(15, 3.0)] + np.tile([0.0, 0.1, -0.1], 10)
    assert detect_change_points(values) == [15]


def test_change_point_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="min_size"):
        detect_change_points([1.0, 2.0], min_size=0)
    with pytest.raises(ValueError, match="alpha"):
        detect_change_points([1.0, 2.0], alpha=1.5)


def found(values: np.ndarray) -> list[tuple[int, str]]:
    """(index, kind) of every change `change_points` reports."""
    return [(c.index, c.kind) for c in change_points(values)]


def test_linear_drift_is_one_segment_and_trend_reports_it() -> None:
    t = np.arange(300)
    drift = np.exp(0.4 * t / 300)  # +49% over 300 nights at 2% noise: one sloped segment
    for seed in (70, 71, 72):
        assert found(nightly(300, seed=seed) * drift) == []
        with_step = nightly(300, seed=seed) * drift
        with_step[180:] *= 1.15
        assert found(with_step) == [(180, "level")]
    fit = trend(np.log(nightly(300, seed=70) * drift), higher_is_better=False)
    assert fit.low < 0.4 / 300 < fit.high and fit.worsening


def test_smooth_growth_is_not_a_staircase() -> None:
    s = np.arange(800) / 800  # the 816-point steadily rising count, at 1% noise
    for seed in (80, 81, 82):
        assert found(nightly(800, cv=0.01, seed=seed) * np.exp(0.8 * (1 - np.exp(-3 * s)))) == []
    assert found(nightly(800, cv=0.01, seed=80) * np.exp(0.8 * s * s)) == []


def autocorrelated(n: int, rho: float, *, seed: int, sigma: float = 0.01) -> np.ndarray:
    """Values around 100 whose log follows AR(1) noise: neighbouring runs alike, no change."""
    shocks = np.random.default_rng(seed).normal(0.0, sigma, n)
    log = np.empty(n)
    log[0] = shocks[0] / math.sqrt(1 - rho * rho)
    for i in range(1, n):
        log[i] = rho * log[i - 1] + shocks[i]
    return 100.0 * np.exp(log)


def test_autocorrelated_noise_is_no_staircase() -> None:
    # Tests that assume independent noise found 11 changes in the first ten series and 58 in
    # the second ten (a wander of the level read as a step).
    assert sum(len(found(autocorrelated(300, 0.5, seed=s))) for s in range(10)) <= 1
    assert sum(len(found(autocorrelated(300, 0.8, seed=s))) for s in range(10)) <= 12
    stepped = autocorrelated(300, 0.5, seed=3)
    stepped[150:] *= 1.2
    assert found(stepped) == [(150, "level")]


def test_slope_change_is_found_as_a_slope() -> None:
    t = np.arange(200)
    bend = np.exp(0.005 * np.maximum(t - 110, 0))  # flat, then +0.5% a night from night 110
    assert found(nightly(200, seed=91) * bend) == [(110, "slope")]
    assert found(nightly(200, seed=92) * bend) == [(110, "slope")]


def test_weekly_cycle_is_removed_before_steps_are_looked_for() -> None:
    t = np.arange(365)
    for seed in (100, 101, 102):
        weekly = nightly(365, seed=seed) * np.where(t % 7 >= 5, 1.08, 1.0)  # slow weekends
        assert found(weekly) == []
        weekly[200:] *= 1.12
        assert found(weekly) == [(200, "level")]


def test_day_night_cycle_with_a_step() -> None:
    t = np.arange(240)
    hourly = nightly(240, seed=105) * np.exp(0.06 * np.sin(2 * np.pi * t / 24))
    assert found(hourly) == []
    hourly[150:] *= 1.15
    assert found(hourly) == [(150, "level")]


def test_variance_change_is_its_own_kind() -> None:
    rng = np.random.default_rng(112)
    noisier = 100 * np.exp(np.r_[rng.normal(0, 0.01, 150), rng.normal(0, 0.04, 150)])
    quieter = 100 * np.exp(np.r_[rng.normal(0, 0.04, 150), rng.normal(0, 0.01, 150)])
    assert change_points(noisier) == [ChangePoint(150, "variance", pytest.approx(0, abs=1e-6))]
    assert found(quieter) == [(148, "variance")]
    # Not a level step: the nightly review raises nothing for it.
    assert review_series(noisier, higher_is_better=False).new is None


def test_dense_outliers_and_gaps_keep_the_step_exact() -> None:
    values = nightly(200, cv=0.02, seed=130)
    slow = [11, 12, 30, 47, 48, 60, 62, 63, 90, 121, 122, 150, 151, 170]  # pairs, no triples
    values[slow] *= 1.5
    assert found(values) == []
    values[110:] *= 1.12
    values[[40, 41, 42, 43, 44, 109, 111, 160]] = np.nan
    assert found(values) == [(110, "level")]


def test_short_series() -> None:
    for seed in (120, 121, 122):
        assert found(nightly(8, seed=seed)) == []
        values = nightly(16, seed=seed)
        values[8:] *= 1.3
        assert found(values) == [(8, "level")]


def test_change_kinds_are_checked() -> None:
    with pytest.raises(ValueError, match="did you mean .level."):
        detect_change_points([1.0] * 10, kinds=["levle"])


def test_noise_scale_ignores_steps_and_outliers() -> None:
    values = np.log(stepped(200, 100, 0.5, cv=0.02, seed=6))
    values[::25] += 1.0
    assert noise_scale(values) == pytest.approx(0.02, rel=0.15)
    assert noise_scale([3.0] * 10) == 0.0


# Comparisons


def test_compare_exact_small_sample() -> None:
    result = compare([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], higher_is_better=False, alpha=0.01)
    # Exact two-sided Mann-Whitney p for complete separation of 5 vs 5: 2 / C(10, 5).
    assert result.p_value == pytest.approx(2 / 252)
    pairwise = np.log(np.arange(6, 11))[:, None] - np.log(np.arange(1, 6))[None, :]
    assert result.change == pytest.approx(math.expm1(np.median(pairwise)))
    assert result.verdict == "regression"
    assert result.test == "mann-whitney-u"
    assert (result.n_baseline, result.n_current) == (5, 5)
    assert (result.baseline_median, result.current_median) == (3.0, 8.0)


def test_compare_ten_percent_slowdown() -> None:
    baseline, current = nightly(30, seed=10), nightly(10, seed=11) * 1.10
    slower = compare(baseline, current, higher_is_better=False)
    assert slower.verdict == "regression"
    assert slower.p_value < 0.002
    assert slower.confidence == pytest.approx(1 - slower.p_value)
    assert slower.low < 0.10 < slower.high
    assert slower.change == pytest.approx(0.10, abs=0.02)
    # The same numbers as throughput are an improvement.
    assert compare(baseline, current, higher_is_better=True).verdict == "improvement"


def test_compare_needs_effect_and_significance() -> None:
    baseline = nightly(200, cv=0.01, seed=12)
    tiny = compare(baseline, nightly(200, cv=0.01, seed=13) * 1.03, higher_is_better=False)
    assert tiny.p_value < 1e-10 and tiny.verdict == "unchanged"  # significant, below 5%
    few = compare([100.0, 101.0], [130.0, 131.0, 129.0], higher_is_better=False)
    assert few.change > 0.25 and few.verdict == "unchanged"  # large, not significant


def test_compare_single_value_uses_robust_z() -> None:
    history = nightly(30, cv=0.02, seed=14)
    slow = compare(history, [history.mean() * 1.2], higher_is_better=False)
    assert slow.test == "robust-z" and slow.verdict == "regression"
    assert slow.low < slow.change < slow.high
    same = compare(history, [float(np.median(history))], higher_is_better=False)
    assert same.test == "robust-z" and same.p_value == pytest.approx(1.0, abs=1e-4)
    short = compare([100.0, 101.0, 99.0], [150.0], higher_is_better=False)
    assert short.test == "insufficient-data" and short.verdict == "unchanged"


def test_compare_drops_nan_and_refuses_empty_or_zero_baseline() -> None:
    result = compare([1, 2, np.nan, 3, 4, 5], [6, 7, 8, np.nan, 9, 10], higher_is_better=False)
    assert (result.n_baseline, result.n_current) == (5, 5)
    with pytest.raises(ValueError, match="finite"):
        compare([np.nan], [1.0], higher_is_better=False)
    with pytest.raises(ValueError, match="baseline median is 0"):
        compare([0.0, 0.0, 0.0], [1.0, 2.0], higher_is_better=False)


# Trends


def test_trend_exact_line() -> None:
    values = 100.0 + 0.5 * np.arange(21)
    result = trend(values, higher_is_better=False)
    assert (result.slope, result.low, result.high) == pytest.approx((0.5, 0.5, 0.5))
    assert result.intercept == pytest.approx(100.0)
    assert result.relative_change == pytest.approx(0.5 * 20 / 105.0)
    assert result.worsening
    assert not trend(values, higher_is_better=True).worsening


def test_trend_on_noise_with_gaps() -> None:
    values = nightly(60, cv=0.02, seed=20) * (1 + 0.002 * np.arange(60))
    values[[5, 6, 30]] = np.nan
    result = trend(values, higher_is_better=False)
    assert result.n == 57
    assert result.low < 0.2 < result.high  # 0.2 ms per night
    assert result.p_value < 1e-6 and result.worsening
    flat = trend(nightly(60, cv=0.02, seed=21), higher_is_better=False)
    assert flat.low < 0 < flat.high and not flat.worsening
    assert trend([4.0, 4.0, 4.0], higher_is_better=False).slope == 0.0
    with pytest.raises(ValueError, match="at least 3"):
        trend([1.0, np.nan, 2.0], higher_is_better=False)


# Anomalies


def test_robust_zscores_exact() -> None:
    z = robust_zscores([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])
    assert z[:5] == pytest.approx(np.array([-2, -1, 0, 1, 97]) / 1.4826)
    assert np.isnan(z[5])
    # Over half equal: MAD is 0, the mean absolute deviation (0.2) x 1.2533 is the scale.
    assert robust_zscores([5.0, 5.0, 5.0, 5.0, 6.0])[4] == pytest.approx(1 / (0.2 * 1.2533))
    assert robust_zscores([7.0, 7.0, 7.0]).tolist() == [0.0, 0.0, 0.0]


def test_anomaly_scores_flag_only_the_worse_run() -> None:
    rng = np.random.default_rng(30)
    runs = 60
    latency = 20.0 * np.exp(rng.normal(0, 0.02, runs))
    throughput = 50.0 / latency * np.exp(rng.normal(0, 0.01, runs))
    memory = 1e9 * np.exp(rng.normal(0, 0.01, runs))
    table = np.column_stack([latency, throughput, memory])
    table[59] *= [1.30, 0.75, 1.0]  # slower and less throughput
    table[30] *= [0.70, 1.40, 1.0]  # faster: unusual, but not worse
    table[10, 2] = np.nan
    scores = anomaly_scores(table, higher_is_better=[False, True, False])
    assert np.flatnonzero(scores.anomalous).tolist() == [59]
    assert scores.outlier[30] and not scores.anomalous[30]
    assert scores.zscores[59, 0] > 10 and scores.zscores[59, 1] > 10
    assert np.isnan(scores.zscores[10, 2]) and not np.isnan(scores.worst_z[10])
    assert int(np.argmax(scores.isolation)) in (30, 59)
    with pytest.raises(ValueError, match="entries"):
        anomaly_scores(table, higher_is_better=[False])


# The nightly lifecycle


def run_nightly(values: np.ndarray, *, better_high: bool = False, first: int = 14
                ) -> tuple[list[tuple[int, int, str]], list[tuple[int, int]], list[int]]:
    """Review every night from `first`; returns (night, start, severity) opened, (night, start)
    closed, and the starts still open."""
    open_starts: list[int] = []
    opened, closed = [], []
    for night in range(first, values.size):
        review = review_series(values[: night + 1], higher_is_better=better_high,
                               open_starts=open_starts)
        for start, finding in review.reviewed.items():
            if finding.severity is None:
                open_starts.remove(start)
                closed.append((night, start))
        if review.new is not None:
            open_starts.append(review.new.start)
            opened.append((night, review.new.start, review.new.severity))
    return opened, closed, open_starts


def test_one_change_raises_one_alert() -> None:
    values = stepped(60, 40, 0.15, cv=0.02, seed=40)
    opened, closed, still_open = run_nightly(values)
    assert opened == [(42, 40, "medium")]  # confirmed on the third night at the new level
    assert closed == [] and still_open == [40]


def test_recovery_closes_the_alert() -> None:
    values = nightly(70, cv=0.02, seed=41)
    values[30:45] *= 1.25
    opened, closed, still_open = run_nightly(values)
    assert [(start, severity) for _, start, severity in opened] == [(30, "high")]
    # Closed once the way back is a confirmed change: 3 nights against the 15 slow ones.
    assert closed == [(47, 30)] and still_open == []


def test_stable_series_never_alert() -> None:
    for seed in range(5):
        assert run_nightly(nightly(60, cv=0.03, seed=50 + seed))[0] == []


def test_throughput_drop_is_a_regression_and_rise_is_not() -> None:
    values = stepped(50, 35, -0.20, cv=0.02, seed=42)
    opened, _, _ = run_nightly(values, better_high=True)
    assert [(start, severity) for _, start, severity in opened] == [(35, "high")]
    assert run_nightly(stepped(50, 35, 0.20, cv=0.02, seed=42), better_high=True)[0] == []


def test_second_step_raises_a_second_alert() -> None:
    values = nightly(80, cv=0.02, seed=43)
    values[30:] *= 1.12
    values[55:] *= 1.12
    opened, _, still_open = run_nightly(values)
    assert [(start, severity) for _, start, severity in opened] == [(30, "medium"), (55, "medium")]
    assert still_open == [30, 55]


def test_review_reports_the_open_alert_without_reraising() -> None:
    values = stepped(50, 40, 0.25, cv=0.02, seed=44)
    first = review_series(values, higher_is_better=False)
    assert first.change_points == [40] and first.new is not None
    assert first.new.start == 40 and first.new.severity == "high"
    assert first.new.comparison.change == pytest.approx(0.25, abs=0.03)
    again = review_series(values, higher_is_better=False, open_starts=[40])
    assert again.new is None and again.reviewed[40].severity == "high"


def test_detection_config_is_checked() -> None:
    with pytest.raises(ValueError, match="window"):
        DetectionConfig(window=2)
    with pytest.raises(ValueError, match="alpha"):
        DetectionConfig(alpha=0.0)


def test_mann_whitney_matches_scipy() -> None:
    baseline, current = nightly(25, seed=60), nightly(7, seed=61) * 1.06
    expected = stats.mannwhitneyu(current, baseline, alternative="two-sided").pvalue
    assert compare(baseline, current, higher_is_better=False).p_value == pytest.approx(expected)


# Three new nights against a short history: one overlap must not hide a step


def short_history_with_a_slow_night(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """20 nights at CV 2% with one night 12% slow, then 3 nights 12% slower, the first of
    which is faster than the slow old night and the other two slower."""
    baseline = nightly(20, cv=0.02, seed=seed)
    baseline[12] *= 1.12
    current = nightly(3, cv=0.02, seed=seed + 1000) * 1.12
    current[0] = baseline[12] * 0.99
    current[1:] = np.maximum(current[1:], baseline[12] * np.array([1.005, 1.01]))
    return baseline, current


def test_one_slow_baseline_night_does_not_hide_a_step() -> None:
    baseline, current = short_history_with_a_slow_night(60)
    # By ranks alone: one overlap of 3 against 20 is p = 2 x 2 / C(23, 3), above 0.002.
    rank_only = stats.mannwhitneyu(current, baseline, alternative="two-sided").pvalue
    assert rank_only == pytest.approx(4 / math.comb(23, 3))
    # The nightly flow confirms it on the third night, as it does a step without overlap.
    opened, _, _ = run_nightly(np.concatenate([baseline, current]), first=8)
    assert [(night, start) for night, start, _ in opened] == [(22, 20)]
    for seed in range(60, 80):
        baseline, current = short_history_with_a_slow_night(seed)
        result = compare(baseline, current, higher_is_better=False)
        assert result.test == "order-z", seed
        assert result.p_value < 0.002 and result.verdict == "regression", seed


def test_two_slow_nights_of_three_are_no_step() -> None:
    """The order test scores the least extreme new night: two outliers cannot fake it."""
    for seed in range(20):
        baseline = nightly(20, cv=0.02, seed=seed)
        current = np.array([1.4, 1.45, 1.0]) * 100 * np.exp(
            np.random.default_rng(seed).normal(0, 0.02, 3))
        result = compare(baseline, current, higher_is_better=False)
        assert result.verdict == "unchanged", seed
        assert result.p_value > 0.002


def test_rank_and_order_test_keep_their_size_on_noise() -> None:
    """On pure noise, 3 values against 15 (the fewest the order test takes), the combined test
    falls below 0.002 about 0.2% of the time: its nominal level (0.15% and 0.21% in two runs of
    60,000 and 30,000 draws). With 10 old runs it would be 0.34%."""
    from warehouse.change_points import ORDER_MIN_REFERENCE, rank_p_value

    n = ORDER_MIN_REFERENCE
    draws = np.random.default_rng(7).normal(size=(10_000, n + 3))
    rejected = sum(rank_p_value(x[:n], x[n:])[0] < 0.002 for x in draws)
    assert 0 < rejected <= 0.0025 * len(draws)  # 0.2% within its sampling error (sd 0.045%)
