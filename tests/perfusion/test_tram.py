"""Unit tests of perfusion/tram.py: registration, subtraction, classes, clearance fraction, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.perfusion.tram import (
    ACCUMULATION,
    CLEARANCE,
    clearance_fraction,
    compute_tram,
    delay_minutes,
)


def _head(shape=(64, 64, 16)):
    x, y, z = np.meshgrid(*[np.arange(n) - (n - 1) / 2 for n in shape], indexing="ij")
    head = ((x / 26) ** 2 + (y / 29) ** 2 + (z / 9) ** 2) < 1
    img = np.where(head, 600.0, 0.0)
    img += np.where(head & (np.abs(x) < 12), 150.0, 0.0)  # some structure for the registration
    tumour = ((x - 10) ** 2 + (y + 8) ** 2 + (z * 2) ** 2) < 25
    effect = ((x + 10) ** 2 + (y - 8) ** 2 + (z * 2) ** 2) < 25
    return img, tumour, effect


def test_tram_separates_clearance_from_accumulation_after_registration():
    rng = np.random.default_rng(0)
    img, tumour, effect = _head()
    early = img + 400 * (tumour | effect)
    delayed = img + 150 * tumour + 650 * effect  # tumour clears, treatment effect accumulates
    delayed = 1.3 * delayed  # different receiver scaling
    early = early + rng.normal(0, 5, img.shape)
    aff = np.diag([1.5, 1.5, 3.0, 1.0])
    # the delayed scan was acquired with the head moved: 4° about z and 3 mm
    angle = np.deg2rad(4.0)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0, 3.0], [np.sin(angle), np.cos(angle), 0, -2.0], [0, 0, 1, 0], [0, 0, 0, 1]]
    )
    moved_aff = rot @ aff
    # resample the delayed image as seen on the moved grid (same world content)
    m = np.linalg.inv(aff) @ moved_aff
    delayed_on_moved = ndimage.affine_transform(delayed, m[:3, :3], offset=m[:3, 3], order=1)
    delayed_on_moved += rng.normal(0, 5, img.shape)
    res = compute_tram(Volume(early, aff), Volume(delayed_on_moved, moved_aff), delay_min=75.0)
    core_t = ndimage.binary_erosion(tumour, iterations=1)
    core_e = ndimage.binary_erosion(effect, iterations=1)
    assert np.mean(res.classes[core_t] == CLEARANCE) > 0.9
    assert np.mean(res.classes[core_e] == ACCUMULATION) > 0.9
    assert res.parameters["intensity_scale_delayed"] == pytest.approx(1 / 1.3, rel=0.05)
    assert clearance_fraction(res.classes, tumour) > 0.8
    assert clearance_fraction(res.classes, effect) < 0.1


def test_tram_refuses_a_short_delay_and_warns_when_unknown():
    img, tumour, _ = _head((32, 32, 8))
    v = Volume(img + 300 * tumour, np.eye(4))
    with pytest.raises(CannotAssessError, match="≥ 60"):
        compute_tram(v, v, delay_min=20.0)
    res = compute_tram(v, v, delay_min=None, register=False)
    assert any("unknown" in w for w in res.warnings)
    assert not res.classes.any()  # identical images: nothing changes


def test_delay_minutes():
    assert delay_minutes("091500", "103500.5") == pytest.approx(80.0083, abs=1e-3)
    assert delay_minutes("09:15:00", "10:35:00") == pytest.approx(80.0)
    assert delay_minutes(None, "103500") is None
