"""How noisy each series is, and the smallest step the detector can resolve in it.

Pure functions on numbers, like `warehouse.analysis`. A nightly on a shared host has a few
percent of run-to-run noise; whether a 10% slowdown is caught depends on that noise, so every
series carries its own figure and the detector and the report use it.

Noise: the robust coefficient of variation of the recent runs, measured on log values from first
differences (`change_points.noise_scale`): sigma = MAD(diff(log x)) x 1.4826 / sqrt(2). A step or
a slow drift moves only one difference, or all of them alike, so neither inflates it, and no
change point has to be removed first. On log values sigma is the relative spread (a CV).

Smallest detectable step: a new regression is raised when the change-point search
(`warehouse.change_points`) places a change and `analysis.compare` finds the runs since it
significantly (Mann-Whitney U, two-sided p < alpha) and at least `min_effect` worse than the runs
before it. For a shift d of log values with noise sigma, n_b runs before and n_c after, the
two-sample z-test needs d = (z(1 - alpha/2) + z(power)) x sigma x s, s = sqrt(1/n_b + 1/n_c).
The detector needs more: at n_c = 3 the U test is discrete and the change point must be found
first. Measured through `analysis.review_series` on seeded lognormal series (30 runs, then 3 at
the new level; `tests/test_noise.py`), 80% of steps are caught at d = 4.6 sigma where the z-test
says 2.38 sigma: the factor `DETECTOR_FACTOR` = 1.93 covers that. And the estimated change must
clear `min_effect` too, so a step is never detectable below ln(1 + min_effect) + z(power) x sigma
x s. In all:

    d = max(DETECTOR_FACTOR x (z(1 - alpha/2) + z(power)) x sigma x s,
            ln(1 + min_effect) + z(power) x sigma x s)
    detectable step = exp(d) - 1

With the defaults (alpha 0.002, power 0.8, 30 runs before, 3 after) d = 4.6 sigma: a series
resolves a 10% step when its robust CV is under about 2.1%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from warehouse.analysis import DEFAULT_CONFIG, DetectionConfig
from warehouse.change_points import finite_values, noise_scale

#: Recent runs the noise is measured over.
NOISE_RUNS = 30
#: Fewest runs whose noise is stated: the change-point search judges series from 8 runs on,
#: and a spread from fewer differences says little (a new series is not "too noisy", its noise
#: is not known yet).
MIN_NOISE_RUNS = 8
#: The step every series should resolve (the product's promise: a 10% slowdown is caught).
RESOLVE_STEP = 0.10
#: Chance of catching a step of the reported size.
POWER = 0.8
#: How much more shift the whole detector needs than a two-sample z-test (module docstring).
DETECTOR_FACTOR = 1.93


@dataclass(frozen=True)
class SeriesNoise:
    """The noise of one series and what it lets the detector see.

    Attributes:
        cv: Robust CV of the recent runs (a relative spread: 0.03 = 3%).
        runs: Finite values it was measured on.
        detectable_step: Smallest relative step caught with probability `POWER` after
            `DetectionConfig.min_size` runs at the new level; `inf` with fewer than
            `MIN_NOISE_RUNS` runs (too little history to say).
    """

    cv: float
    runs: int
    detectable_step: float

    @property
    def known(self) -> bool:
        """Whether the series has the `MIN_NOISE_RUNS` runs its noise is stated from."""
        return self.runs >= MIN_NOISE_RUNS

    def resolves(self, step: float = RESOLVE_STEP) -> bool:
        """Whether a step of `step` (relative) is known to be detectable in this series (False
        while its noise is not known: ask `known` to tell the two apart)."""
        return self.detectable_step <= step + 1e-12

    def describe(self) -> str:
        """`robust CV 4.1% over 30 runs, smallest detectable step 9.8%` (for messages)."""
        if not self.known:
            return (f"noise not known yet ({self.runs} runs, {MIN_NOISE_RUNS} needed)")
        return (f"robust CV {self.cv:.1%} over {self.runs} runs, smallest detectable step "
                f"{self.detectable_step:.1%}")


def robust_cv(values: Sequence[float] | np.ndarray, runs: int = NOISE_RUNS) -> float:
    """Robust CV of the last `runs` finite values (see the module docstring).

    Values must be positive (times, sizes, rates); NaN is dropped.

    Returns:
        The relative spread; 0.0 for fewer than 2 values or a constant series.

    Raises:
        ValueError: a value is zero or negative (a CV is undefined).
    """
    x = finite_values(values)[-runs:]
    if x.size and np.any(x <= 0):
        raise ValueError(f"a robust CV needs positive values; got min {x.min():.4g}")
    return noise_scale(np.log(x)) if x.size >= 2 else 0.0


def detectable_step(
    cv: float,
    *,
    n_baseline: int,
    n_current: int,
    alpha: float = DEFAULT_CONFIG.alpha,
    min_effect: float = DEFAULT_CONFIG.min_effect,
    power: float = POWER,
) -> float:
    """Smallest relative step the detector's test catches with probability `power`.

    Args:
        cv: Robust CV of the series (log-scale sigma).
        n_baseline: Runs before the step the test compares against.
        n_current: Runs at the new level.
        alpha: Two-sided significance the test requires.
        min_effect: The smallest change the detector reports at all.
        power: Wanted chance of detection.

    Returns:
        The step from the module docstring's formula; `inf` when either side has no run.
    """
    if n_baseline < 1 or n_current < 1:
        return math.inf
    spread = cv * math.sqrt(1 / n_baseline + 1 / n_current)
    z_power = stats.norm.ppf(power)
    tested = DETECTOR_FACTOR * (stats.norm.ppf(1 - alpha / 2) + z_power) * spread
    cleared = math.log1p(min_effect) + z_power * spread
    return math.expm1(max(tested, cleared))


def series_noise(
    values: Sequence[float] | np.ndarray,
    config: DetectionConfig = DEFAULT_CONFIG,
    *,
    runs: int = NOISE_RUNS,
    power: float = POWER,
) -> SeriesNoise:
    """The noise of a series (oldest first) and its smallest detectable step at `config`.

    The baseline is the series' recent history (at most `config.window` runs), the current side
    `config.min_size` runs: the earliest the detector can confirm a change.
    """
    finite = finite_values(values)[-runs:]
    cv = robust_cv(finite, runs)
    step = (detectable_step(cv, n_baseline=min(finite.size, config.window),
                            n_current=config.min_size, alpha=config.alpha,
                            min_effect=config.min_effect, power=power)
            if finite.size >= MIN_NOISE_RUNS else math.inf)
    return SeriesNoise(cv=cv, runs=int(finite.size), detectable_step=step)
