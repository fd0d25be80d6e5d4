"""Noise per series (`warehouse.noise`) on seeded synthetic series, checked against the detector."""

from __future__ import annotations

import math

import numpy as np
import pytest

from warehouse.analysis import DetectionConfig, review_series
from warehouse.noise import (
    RESOLVE_STEP,
    detectable_step,
    robust_cv,
    series_noise,
)


def _lognormal(cv: float, n: int, seed: int) -> np.ndarray:
    return 10.0 * np.exp(np.random.default_rng(seed).normal(0.0, cv, n))


def test_robust_cv_measures_the_noise_and_ignores_a_step_and_a_drift() -> None:
    x = _lognormal(0.03, 200, seed=3) / 10.0
    plain = robust_cv(x, runs=200)
    stepped = robust_cv(np.concatenate([x[:100], x[100:] * 1.2]), runs=200)
    drifting = robust_cv(x * np.linspace(1.0, 1.3, 200), runs=200)
    assert plain == pytest.approx(0.029478, abs=1e-6)
    assert stepped == pytest.approx(0.029549, abs=1e-6)
    assert drifting == pytest.approx(0.029406, abs=1e-6)
    # the plain standard deviation of the stepped series is three times the noise
    assert np.std(np.log(np.concatenate([x[:100], x[100:] * 1.2]))) > 3 * plain


def test_robust_cv_takes_the_recent_runs_and_refuses_non_positive_values() -> None:
    quiet, loud = _lognormal(0.01, 40, seed=1), _lognormal(0.10, 30, seed=2)
    assert robust_cv(np.concatenate([loud, quiet]), runs=30) < 0.02
    assert robust_cv([5.0]) == 0.0
    assert robust_cv([5.0, 5.0, 5.0]) == 0.0
    with pytest.raises(ValueError, match="positive"):
        robust_cv([1.0, 0.0, 2.0])


def test_detectable_step_formula() -> None:
    # d = 1.93 x (z(0.999) + z(0.8)) x cv x sqrt(1/30 + 1/3) = 4.594 cv
    assert detectable_step(0.03, n_baseline=30, n_current=3) == pytest.approx(
        math.expm1(1.93 * (3.090232 + 0.841621) * 0.03 * math.sqrt(1 / 30 + 1 / 3)), rel=1e-5)
    assert detectable_step(0.03, n_baseline=30, n_current=3) == pytest.approx(0.147805, rel=1e-5)
    # a quiet series is floored where the estimated change clears min_effect 4 times in 5
    assert detectable_step(0.0, n_baseline=30, n_current=3) == pytest.approx(0.05)
    assert detectable_step(0.01, n_baseline=30, n_current=3) == pytest.approx(0.055365, rel=1e-4)
    # a 10% step needs a CV under about 2.1%
    assert detectable_step(0.0205, n_baseline=30, n_current=3) < RESOLVE_STEP
    assert detectable_step(0.0215, n_baseline=30, n_current=3) > RESOLVE_STEP
    assert math.isinf(detectable_step(0.01, n_baseline=0, n_current=3))


def test_series_noise_uses_the_detectors_settings() -> None:
    values = _lognormal(0.03, 30, seed=1)
    noise = series_noise(values)
    assert noise.runs == 30
    assert noise.cv == pytest.approx(0.021782, abs=1e-6)
    assert noise.detectable_step == pytest.approx(
        detectable_step(noise.cv, n_baseline=30, n_current=3))
    assert noise.resolves() is (noise.detectable_step <= 0.10)
    strict = series_noise(values, DetectionConfig(alpha=0.0001))
    assert strict.detectable_step > noise.detectable_step
    assert math.isinf(series_noise([3.0]).detectable_step)
    assert "not known yet (1 runs, 8 needed)" in series_noise([3.0]).describe()
    short = series_noise(values[:7])
    assert not short.known and math.isinf(short.detectable_step) and not short.resolves()
    assert series_noise(values[:8]).known


def _caught(cv: float, step: float, seed: int) -> bool:
    """Whether the detector raises a regression at the step after 3 runs at the new level."""
    x = _lognormal(cv, 33, seed)
    x[30:] *= 1.0 + step
    review = review_series(x, higher_is_better=False)
    return review.new is not None and review.new.start == 30


def test_a_step_of_the_reported_size_is_caught_and_half_of_it_mostly_not() -> None:
    step = detectable_step(0.03, n_baseline=30, n_current=3)
    at_size = sum(_caught(0.03, step, seed) for seed in range(40))
    at_half = sum(_caught(0.03, step / 2, seed) for seed in range(40))
    # The counts depend on the change-point search, which evolves (29 and 9, then 29 and 6 of
    # 40 while this was written); the claim is the bounds: about 4 in 5 caught at the reported
    # size, at most 1 in 4 at half of it.
    assert at_size >= 0.7 * 40, at_size
    assert at_half <= 0.25 * 40, at_half


def test_the_report_lists_each_series_noise_and_the_ones_too_noisy() -> None:
    from datetime import UTC, datetime, timedelta

    from warehouse_data import ENV

    from warehouse.frames import records_frame
    from warehouse.records import ResultRecord
    from warehouse.report import noise_rows

    start = datetime(2025, 1, 1, tzinfo=UTC)
    quiet, loud = _lognormal(0.01, 30, seed=4), _lognormal(0.08, 30, seed=5)
    rows = [
        ResultRecord(run_id=f"r{night}", environment_id=ENV, model_type=model, hardware="cpu",
                     benchmark="inference", metric=metric, unit=unit, value=float(value),
                     measured_at=start + timedelta(days=night))
        for night in range(30)
        for model, metric, unit, value in (
            ("bert", "latency", "ms", quiet[night]), ("gpt2", "latency", "ms", loud[night]),
            ("bert", "supported", "count", 1.0))
    ]
    # A series measured for the first time these last 3 nights: not noisy, not known yet.
    rows += [ResultRecord(run_id=f"r{night}", environment_id=ENV, model_type="vit",
                          hardware="cpu", benchmark="inference", metric="latency", unit="ms",
                          value=float(loud[night]), measured_at=start + timedelta(days=night))
             for night in range(27, 30)]
    # A memory increase that is 0 on some nights: no relative spread, so not listed, but counted.
    rows += [ResultRecord(run_id=f"r{night}", environment_id=ENV, model_type="bert",
                          hardware="cpu", benchmark="inference", metric="memory_increase",
                          unit="MiB", value=float(night % 2),
                          measured_at=start + timedelta(days=night))
             for night in range(30)]
    noise = noise_rows(records_frame("results", rows))
    table = noise.rows
    assert noise.without_cv == [
        ("bert/cpu/fp32/tiny/1/inference/memory_increase", "memory_increase")]
    # The supported flag is a setting: counted apart, so the three parts add up to every series.
    assert noise.not_judged == [("bert/cpu/fp32/tiny/1/inference/supported", "supported")]
    assert [r["series"] for r in table] == [
        "gpt2/cpu/fp32/tiny/1/inference/latency", "bert/cpu/fp32/tiny/1/inference/latency",
        "vit/cpu/fp32/tiny/1/inference/latency"]
    loud_row, quiet_row, new_row = table
    assert loud_row["resolves"] is False and quiet_row["resolves"] is True
    assert loud_row["known"] and quiet_row["known"] and not new_row["known"]
    assert new_row["detectable_step"] is None
    assert loud_row["cv"] == pytest.approx(robust_cv(loud))
    assert quiet_row["detectable_step"] == pytest.approx(series_noise(quiet).detectable_step)

    from warehouse.report import render_html

    head = {"run_id": "r29", "run_started": None, "models": 3, "open_alerts": 0,
            "pass_rate": None, "runs": 30, "series": 3}
    page = render_html(head, [], [], {}, {}, noise)
    at = page.index('id="noise-summary"')
    summary = page[at:page.index("</p>", at)]
    assert "<strong>1 too noisy to resolve a 10% step</strong>" in summary
    assert "1 series have fewer runs: their noise is not known yet" in summary
    at = page.index('id="noisy-table"')
    noisy = page[at:page.index("</table>", at)]
    assert "gpt2/cpu" in noisy and "vit/cpu" not in noisy and "bert/cpu" not in noisy
    at = page.index('id="noise-left-out"')
    left_out = page[at:page.index("</p>", at)]
    assert "1 series whose values reach 0 or below" in left_out
    assert "(memory_increase)" in left_out
    assert "1 series that record a setting, not a" in left_out and "(supported)" in left_out
