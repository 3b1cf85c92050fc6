"""The brain's robust level and spread, which every bar of the lesions stage is measured in, must not jump when a
few voxels join the brain mask: raw clinical intensities are whole numbers, tied by the thousand."""

from __future__ import annotations

import numpy as np

from pseudoprog.lesions.segment import _robust


def test_a_few_voxels_more_move_the_robust_level_and_spread_of_whole_number_intensities_a_little():
    """Fifty whole-number levels of 1000 voxels each: 35 voxels more moved the plain median half a unit (TCGA-FG-6692:
    its median T1c 325 -> 326 and robust SD 38.5 -> 37.1, and its lesion was lost; benchmarks/RESULTS.md, session 42).
    Read within the run of ties (the median of grouped data) they move it by a few hundredths."""
    levels = np.repeat(np.arange(300.0, 350.0), 1000)
    more = np.r_[levels, np.full(35, 400.0)]
    assert np.median(more) - np.median(levels) == 0.5  # the step the plain median takes
    (med_a, sd_a), (med_b, sd_b) = _robust(levels), _robust(more)
    assert abs(med_b - med_a) < 0.05
    assert abs(sd_b - sd_a) < 0.005 * sd_a


def test_continuous_values_and_constant_regions_keep_their_plain_median():
    """Untied values (a z-scored or noisy image) keep the plain median; a run holding more than a quarter of the
    values is a constant region (a noise-free phantom, a constant background), not quantisation: its value stays."""
    rng = np.random.default_rng(0)
    noisy = rng.normal(0.0, 1.0, 10_001)
    assert _robust(noisy)[0] == float(np.median(noisy))
    phantom = np.r_[np.full(900, 100.0), np.full(100, 200.0)]
    assert _robust(phantom)[0] == 100.0
