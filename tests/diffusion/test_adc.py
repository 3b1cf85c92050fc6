"""Unit tests of diffusion/adc.py."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.diffusion.adc import (
    adc_map_from_series,
    fit_adc,
    lesion_adc_summary,
    scanner_adc_to_mm2_s,
    trace_by_b_value,
)
from pseudoprog.errors import CannotAssessError, InputError


def test_adc_volume_with_noise_and_three_directions():
    rng = np.random.default_rng(1)
    adc = rng.uniform(0.5e-3, 2.5e-3, (16, 16, 4))
    b = np.array([0, 1000, 1000, 1000], float)
    dirs = np.array([1.0, 0.8, 1.2])  # anisotropy around the mean ADC: the trace recovers the mean
    s = np.stack([1000 * np.ones_like(adc)] + [1000 * np.exp(-1000 * adc * d) for d in dirs], axis=-1)
    s = s + rng.normal(0, 2.0, s.shape)
    fit = fit_adc(s, b_values=b)
    assert fit.b_values_used == (0.0, 1000.0)
    assert np.median(np.abs(fit.adc_mm2_s - adc) / adc) < 0.02


def test_high_b_values_only_when_available():
    b = np.array([0, 50, 100, 200, 500, 1000], float)
    d, f, dstar = 0.8e-3, 0.1, 0.02
    s = (1 - f) * np.exp(-b * d) + f * np.exp(-b * dstar)
    fit = fit_adc(s, b_values=b)
    assert fit.b_values_used == (200.0, 500.0, 1000.0)
    assert float(fit.adc_mm2_s) == pytest.approx(d, rel=0.01)
    all_b = fit_adc(s, b_values=b, min_b=0)
    assert float(all_b.adc_mm2_s) > 1.1 * d  # perfusion inflates the ADC when low b-values are kept


def test_trace_uses_geometric_mean():
    sig, ub = trace_by_b_value(np.array([[100.0, 40.0, 10.0]]), np.array([0.0, 1000.0, 1000.0]))
    assert ub.tolist() == [0.0, 1000.0]
    assert sig[0, 1] == pytest.approx(20.0)


def test_failures_are_flagged_not_invented():
    s = np.array([[1000.0, 300.0], [0.0, 10.0], [100.0, 200.0]])  # second: no b0 signal; third: rises with b
    fit = fit_adc(s, b_values=np.array([0.0, 1000.0]))
    assert not fit.failed[0] and fit.failed[1] and fit.failed[2]
    assert np.isnan(fit.adc_mm2_s[1]) and np.isnan(fit.adc_mm2_s[2])


def test_bad_input_errors():
    with pytest.raises(CannotAssessError, match="two distinct"):
        fit_adc(np.ones((3, 2)), b_values=np.array([1000.0, 1000.0]))
    with pytest.raises(ValueError, match="b-values were given"):
        fit_adc(np.ones((3, 2)), b_values=np.array([0.0]))
    with pytest.raises(InputError, match="no b-values"):
        adc_map_from_series(np.ones((2, 2, 2, 2)), (), file="dwi.nii.gz")
    bad = np.ones((2, 2, 2, 2))
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        adc_map_from_series(bad, (0.0, 1000.0), file="dwi.nii.gz")


def test_lesion_summary_and_scanner_units():
    adc = np.full((10, 10, 1), 1.4e-3)
    les = np.zeros_like(adc, bool)
    les[2:5, 2:5] = True
    adc[2:5, 2:5] = np.linspace(0.6e-3, 1.0e-3, 9).reshape(3, 3, 1)
    ref = np.zeros_like(les)
    ref[7:9, 7:9] = True
    s = lesion_adc_summary(adc, les, reference=ref)
    assert s.mean_mm2_s == pytest.approx(0.8e-3)
    assert s.min_percentile_mm2_s < s.low_percentile_mm2_s < s.mean_mm2_s
    assert s.ratio_to_reference == pytest.approx(0.8 / 1.4)
    with pytest.raises(CannotAssessError):
        lesion_adc_summary(np.full_like(adc, np.nan), les)
    scaled, how = scanner_adc_to_mm2_s(np.full((4, 4), 800.0))
    assert scaled[0, 0] == pytest.approx(0.8e-3) and "1e-6" in how
