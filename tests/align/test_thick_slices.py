"""The structural preset on thick-slice images (l24-reg): the pyramid keeps the fine axes at the effective
resolution meant, and the optimiser samples enough of a small brain.

Raw TCGA-FG-6692 (0.9 x 0.9 x 5.5 mm, 26 slices): the shrink factors were divided by the smallest block-averaging
factor (the thick axis's, 1), so the first level had 7 slices of 22 mm smoothed by 11 mm; and 5 % of its 97 000
working brain voxels gave the optimiser 4 800 samples for a 50 x 50 joint histogram. Its T1, T2 and FLAIR ended
4-14 mm (at the brain's centre) and 4-14° from the dense metric's optimum, the FLAIR and the T1 rejected
(tests/validation/test_registration_real.py).
"""

from __future__ import annotations

import numpy as np

from pseudoprog.align.registration import _Working, presets
from pseudoprog.case import Volume


def _volume(spacing: tuple[float, float, float], shape: tuple[int, int, int]) -> Volume:
    rng = np.random.default_rng(0)
    return Volume(rng.normal(100.0, 10.0, shape).astype(np.float32), np.diag([*spacing, 1.0]))


def test_thick_slices_keep_the_fine_axes_at_the_pyramids_resolution() -> None:
    p = presets()["structural"]
    thick = _volume((0.9, 0.9, 5.5), (256, 224, 26))
    work = _Working.prepare(thick, thick, None, p)
    assert work.fixed.GetSize() == (128, 112, 26)  # block-averaged in-plane to 1.8 mm, the slices kept
    assert work.shrink_factors == (2, 1)  # 3.6 and 1.8 mm in-plane, as for 1 mm images; was (4, 2): 22 mm slices
    iso = _volume((1.0, 1.0, 1.0), (96, 96, 80))
    assert _Working.prepare(iso, iso, None, p).shrink_factors == (2, 1)  # isotropic images: unchanged


def test_a_small_brain_is_sampled_at_least_four_times_per_histogram_cell() -> None:
    p = presets()["structural"]
    thick = _volume((0.9, 0.9, 5.5), (256, 224, 26))
    small = np.zeros(thick.spatial_shape, dtype=bool)
    small[40:200, 40:180, 2:24] = True  # 160 x 140 x 22 voxels: 80 x 70 x 22 = 123 200 on the working grid
    work = _Working.prepare(thick, thick, small, p)
    cells = int(p["histogram_bins"]) ** 2
    assert np.isclose(work.sampling * 123_200, int(p["min_samples_per_bin"]) * cells)  # 8.1 %, not 5 %
    big = np.zeros((200, 200, 160), dtype=bool)
    big[10:190, 10:190, 10:150] = True  # 90 x 90 x 70 = 567 000 working voxels: 5 % is 28 000 samples
    iso = _volume((1.0, 1.0, 1.0), (200, 200, 160))
    assert _Working.prepare(iso, iso, big, p).sampling == float(p["sampling_fraction"])
