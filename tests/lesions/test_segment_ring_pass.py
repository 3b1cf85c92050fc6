"""Automatic detection's second, ring-backed pass (issue 13): a faint enhancing ring round a non-enhancing core,
under the detection bar and with no FLAIR to back it, is a target on its shape alone; a faint blob, tube or sheet
at the same contrast, or a ring round normal brain, is not; two comparable rings leave the choice to a reader."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pseudoprog.lesions.segment import segment_lesions

from .helpers import dice, ellipsoid_mask, smoothed_peak_sd

SHAPE = (64, 64, 32)
SPACING = (1.0, 1.0, 2.0)
CENTRE = (20.0, 34.0, 32.0)
AMP = 150.0  # about 2.5 robust SDs of the layered brain (robust SD ~59)
CORE = 600.0  # necrosis: darker than the brain


def _head(kind: str = "ring", *, centres: tuple = (CENTRE,), core: float = CORE, rng_seed: int = 0) -> dict:
    """A layered brain (three tissue classes in 6 mm layers set its robust SD) with one faint structure: a ring
    (a shell 3 mm thick round a core), a solid blob, a tube or a sheet, all at the same enhancement."""
    rng = np.random.default_rng(rng_seed)
    brain, affine = ellipsoid_mask(SHAPE, SPACING, (32.0, 32.0, 32.0), (30.0, 30.0, 30.0))
    bright = np.zeros(SHAPE, dtype=bool)
    dark = np.zeros(SHAPE, dtype=bool)
    for centre in centres:
        outer = ellipsoid_mask(SHAPE, SPACING, centre, (10.0, 10.0, 10.0))[0]
        inner = ellipsoid_mask(SHAPE, SPACING, centre, (7.0, 7.0, 7.0))[0]
        if kind == "ring":
            bright |= outer & ~inner
            dark |= inner
        elif kind == "blob":
            bright |= outer
    if kind == "tube":
        bright[18:22, 21:48, 15:17] = True
    if kind == "sheet":
        bright[12:30, 22:46, 16] = True
    layers = np.array([680.0, 720.0, 760.0])[np.arange(SHAPE[2]) // 3 % 3][None, None, :]
    t1c = np.where(brain, layers, 0.0) + rng.normal(0, 4, SHAPE)
    t1c[bright] = 720.0 + AMP + rng.normal(0, 4, int(bright.sum()))
    t1c[dark] = core + rng.normal(0, 4, int(dark.sum()))
    # A pre-contrast T1 without the layers (so the subtraction keeps the brain's spread) and with the core about as
    # dark as on the T1c (it gains a tenth of a robust SD of contrast): on the subtraction the core is then no darker
    # than the brain.
    t1 = np.where(brain, 720.0, 0.0) + rng.normal(0, 4, SHAPE)
    t1[dark] = core - 6.0 + rng.normal(0, 4, int(dark.sum()))
    return {"t1c": t1c, "t1": t1, "brain": brain, "affine": affine, "bright": bright}


def _smoothed_peak_sd(h: dict) -> float:
    return smoothed_peak_sd(h["t1c"], h["brain"], h["bright"], SPACING)


def test_a_faint_ring_round_a_dark_core_is_found_on_the_ring_backed_pass():
    h = _head()
    assert 1.5 < _smoothed_peak_sd(h) < 4.0  # under the first pass's bar
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert len(lesions) == 1 and lesions[0].method == "automatic"
    assert dice(lesions[0].enhancing, h["bright"]) >= 0.7
    assert lesions[0].core.any()  # its core is reported
    said = [n for n in notes if "second, ring-backed pass" in n]
    assert said and "robust SDs" in said[0] and "non-enhancing core" in said[0] and "lower confidence" in said[0]
    assert "found no enhancing lesion" not in notes[0]


def test_with_a_pre_contrast_t1_the_core_is_judged_dark_on_the_t1c():
    # On T1c − T1 a non-enhancing core is as dark as the brain; whether it is darker is asked of the T1c itself.
    h = _head()
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"], t1=h["t1"])
    assert len(lesions) == 1 and dice(lesions[0].enhancing, h["bright"]) >= 0.7
    assert any("second, ring-backed pass" in n for n in notes)
    # A ring round normal brain is still not taken with a T1.
    h = _head(core=760.0)
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"], t1=h["t1"])
    assert lesions == []


def test_a_faint_solid_blob_at_the_same_contrast_is_not_taken():
    h = _head("blob")
    assert 1.5 < _smoothed_peak_sd(h) < 4.0
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert lesions == [] and "found no enhancing lesion" in notes[0]
    assert not any("ring-backed" in n for n in notes)


def test_a_faint_tube_or_sheet_at_the_same_contrast_is_not_taken():
    for kind in ("tube", "sheet"):
        h = _head(kind)
        assert 1.5 < _smoothed_peak_sd(h) < 4.0
        lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
        assert lesions == [], kind
        assert not any("ring-backed" in n for n in notes), kind


def test_a_faint_ring_round_normal_brain_is_not_taken():
    # What a ring encloses must be darker than the brain (necrosis, a cyst), not normal tissue.
    h = _head(core=760.0)
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert lesions == []
    assert not any("ring-backed" in n for n in notes)


def test_two_comparable_faint_rings_leave_the_choice_to_a_reader():
    h = _head(centres=((24.0, 44.0, 32.0), (40.0, 21.0, 32.0)))
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert lesions == []
    assert any("ring-backed" in n and "comparable size" in n and "took none" in n for n in notes)


def test_noise_white_or_correlated_makes_no_ring():
    # The low bar is backed by the shape alone: speckle closed in-plane must not pass for a ring round a core.
    brain, affine = ellipsoid_mask(SHAPE, SPACING, (32.0, 32.0, 32.0), (30.0, 30.0, 30.0))
    for sigma in (0.0, 2.0):
        noise = np.random.default_rng(1).normal(0, 1, SHAPE)
        if sigma:
            noise = ndimage.gaussian_filter(noise, sigma)
            noise /= noise.std()
        lesions, notes = segment_lesions(np.where(brain, 720.0 + 40.0 * noise, 0.0), brain, affine)
        assert lesions == [], sigma
        assert not any("ring-backed" in n for n in notes), sigma
