"""Signal → ΔR2*: baseline detection, single and dual echo, integrals."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.errors import CannotAssessError
from pseudoprog.perfusion.dsc.signal import (
    Baseline,
    cumulative_integral,
    delta_r2s,
    delta_r2s_dual,
    detect_baseline,
    integral,
    resample_curves,
    uniform_times,
)

T = np.arange(60) * 1.5


def _bolus(arrival_frame: int, depth: float = 0.4) -> np.ndarray:
    g = np.ones(60) * 1000.0
    k = np.arange(60) - arrival_frame
    g[k >= 0] -= 1000 * depth * (k[k >= 0] / 3.0) ** 2 * np.exp(-(k[k >= 0]) / 1.5) / 0.54
    return g


def test_baseline_ends_before_the_arrival() -> None:
    b = detect_baseline(_bolus(15))
    assert b.start == 0
    assert 15 <= b.arrival <= 17
    assert b.stop <= 16  # no frame with contrast (the first falls at frame 16) in the baseline
    assert b.stop == b.arrival - 2
    assert b.peak > b.arrival


def test_leading_non_steady_state_frames_are_skipped() -> None:
    g = _bolus(15)
    g[:2] = [1500.0, 1150.0]
    b = detect_baseline(g)
    assert b.start == 2


def test_too_few_baseline_frames_cannot_be_assessed() -> None:
    with pytest.raises(CannotAssessError, match="baseline"):
        detect_baseline(_bolus(2))


def test_no_bolus_and_nan_cannot_be_assessed() -> None:
    with pytest.raises(CannotAssessError, match="no bolus"):
        detect_baseline(np.full(60, 1000.0) + np.random.default_rng(0).normal(0, 1, 60))
    g = _bolus(15)
    g[20] = np.nan
    with pytest.raises(CannotAssessError, match="NaN"):
        detect_baseline(g)


def test_single_echo_delta_r2s_is_exact() -> None:
    r2 = np.zeros(60)
    r2[20:30] = np.linspace(5, 40, 10)
    s = 800 * np.exp(-0.03 * r2)[None, :]
    got = delta_r2s(s, Baseline(0, 15, 16, 25), te_ms=30.0)
    np.testing.assert_allclose(got[0], r2, atol=1e-3)


def test_dual_echo_removes_the_t1_effect() -> None:
    r2 = np.zeros(60)
    r2[20:30] = np.linspace(5, 40, 10)
    t1_gain = 1 + 0.5 * (np.arange(60) >= 20) * np.minimum(1, (np.arange(60) - 19) / 10)  # leakage brightening
    s1 = 900 * t1_gain * np.exp(-0.005 * r2)
    s2 = 600 * t1_gain * np.exp(-0.030 * r2)
    b = Baseline(0, 15, 16, 25)
    single = delta_r2s(s2[None], b, te_ms=30.0)[0]
    dual = delta_r2s_dual(s1[None], s2[None], b, te1_ms=5.0, te2_ms=30.0)[0]
    np.testing.assert_allclose(dual, r2, atol=1e-2)
    assert np.abs(single - r2).max() > 5  # the single echo is biased by the T1 effect


def test_bad_echo_times_are_refused() -> None:
    b = Baseline(0, 15, 16, 25)
    with pytest.raises(ValueError, match="te_ms"):
        delta_r2s(np.ones((2, 60)), b, te_ms=0.0)
    with pytest.raises(ValueError, match="te1_ms < te2_ms"):
        delta_r2s_dual(np.ones((2, 60)), np.ones((2, 60)), b, te1_ms=30.0, te2_ms=5.0)


def test_integrals_match_closed_forms() -> None:
    t = np.linspace(0, 10, 101)
    np.testing.assert_allclose(integral(np.ones((1, 101)), t)[0], 10.0)
    np.testing.assert_allclose(integral(np.ones((1, 101)), t, start=50)[0], 5.0)
    np.testing.assert_allclose(cumulative_integral(t, t), t**2 / 2, atol=1e-2)


def test_irregular_frames_are_resampled() -> None:
    times = np.array([0, 1.5, 3.0, 4.6, 6.0, 7.5])
    grid, regular = uniform_times(times)
    assert not regular and np.allclose(np.diff(grid), 1.5)
    got = resample_curves(np.array([2 * times]), times, grid)
    np.testing.assert_allclose(got[0], 2 * grid, atol=1e-5)
    assert uniform_times(T)[1]
