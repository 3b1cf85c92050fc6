"""Automatic AIF selection finds arterial curves, skips saturated ones, and refuses a series with no bolus."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.errors import CannotAssessError
from pseudoprog.perfusion.dsc.aif import aif_from_voxels, select_aif
from pseudoprog.perfusion.dsc.signal import Baseline

T = np.arange(60) * 1.5
B = Baseline(0, 10, 12, 16)


def _bolus(arrival: float, width: float, height: float) -> np.ndarray:
    x = np.clip(T - arrival, 0, None)
    return height * (x / width) ** 3 * np.exp(-(x / width - 3)) * (x > 0) / 1.0


def _population(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Peak / 27 and width parameter (FWHM ≈ 3.4 × width): tissue ~7 s wide, arteries ~4.5 s (Parker-like).
    tissue = np.stack([_bolus(19.5 + rng.uniform(0, 2), 2.1, rng.uniform(0.3, 0.6)) for _ in range(2000)])
    tissue += 0.1 * _bolus(19.5, 6, 0.4)  # recirculation-like slow part
    arteries = np.stack([_bolus(18.0, 1.3, rng.uniform(2.0, 2.6)) for _ in range(30)])
    curves = np.vstack([tissue, arteries]) + rng.normal(0, 0.4, (2030, 60))
    is_artery = np.r_[np.zeros(2000, bool), np.ones(30, bool)]
    return curves, is_artery


def test_auto_aif_picks_arterial_curves() -> None:
    curves, is_artery = _population(np.random.default_rng(1))
    aif = select_aif(curves, T, B)
    assert aif.method == "auto"
    assert is_artery[aif.voxels].mean() >= 0.9
    assert aif.curve.max() > 40  # arterial peaks are 54-70 /s, tissue 8-16 /s
    assert not aif.warnings


def test_saturated_voxels_are_excluded_and_reported() -> None:
    curves, is_artery = _population(np.random.default_rng(2))
    min_fraction = np.where(is_artery, 0.5, 0.7)
    min_fraction[np.flatnonzero(is_artery)[:25]] = 0.01  # 25 of 30 arteries hit the noise floor
    aif = select_aif(curves, T, B, min_signal_fraction=min_fraction)
    assert not np.isin(np.flatnonzero(is_artery)[:25], aif.voxels).any()
    assert aif.info["n_saturated_excluded"] == 25


def test_partial_volume_is_flagged() -> None:
    curves, _ = _population(np.random.default_rng(3))
    weak = aif_from_voxels(curves, np.arange(10), T, B)  # tissue voxels given as "artery"
    assert any("partial volume" in w for w in weak.warnings)


def test_no_bolus_cannot_be_assessed() -> None:
    with pytest.raises(CannotAssessError, match="bolus"):
        select_aif(np.zeros((100, 60)), T, B)
    with pytest.raises(CannotAssessError, match="no voxel"):
        aif_from_voxels(np.zeros((100, 60)), np.array([], dtype=int), T, B)
