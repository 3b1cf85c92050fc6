"""The one rough head/tissue mask from the brightest signal (fraction × 90th percentile)."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.align.brainmask import bright_signal_mask


def test_threshold_is_fraction_of_the_90th_percentile() -> None:
    rng = np.random.default_rng(3)
    image = np.concatenate([rng.uniform(0, 5, 500), rng.uniform(80, 120, 1500)]).reshape(20, 10, 10)
    thr = 0.15 * np.percentile(image, 90)
    mask = bright_signal_mask(image, fraction=0.15)
    assert mask.shape == image.shape and mask.dtype == bool
    assert np.array_equal(mask, image > thr)
    assert mask.sum() == 1500  # the background (< 5) is out, every bright voxel in


def test_strictly_above_the_threshold() -> None:
    image = np.full((4, 4, 4), 10.0)
    assert bright_signal_mask(image, fraction=0.5).all()
    image[0, 0, 0] = 5.0  # exactly 0.5 × p90 (= 10): not above it
    assert not bright_signal_mask(image, fraction=0.5)[0, 0, 0]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_outside_zero_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        bright_signal_mask(np.ones((2, 2, 2)), fraction=fraction)
