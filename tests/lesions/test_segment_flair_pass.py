"""Automatic detection's second, FLAIR-backed pass (issue 13): enhancement just under the detection bar is a
target only inside FLAIR-abnormal tissue, with every shape test passed, and the note says how it was found."""

from __future__ import annotations

import numpy as np

from pseudoprog.lesions.segment import _robust, enhancement_map, segment_lesions

from .helpers import dice, ellipsoid_mask, smoothed_peak_sd

SHAPE = (64, 64, 32)
SPACING = (1.0, 1.0, 2.0)
CENTRE = (20.0, 34.0, 32.0)
AMP = 190.0
AMP_TUBE = 205.0


def _head(*, oedema: bool = True, tube: bool = False, rng_seed: int = 0, centres: tuple = (CENTRE,)) -> dict:
    """A brain with a faint enhancing blob (about 3.5 robust SDs on the smoothed map) or a faint tube, optionally
    inside a FLAIR abnormality."""
    rng = np.random.default_rng(rng_seed)
    brain, affine = ellipsoid_mask(SHAPE, SPACING, (32.0, 32.0, 32.0), (30.0, 30.0, 30.0))
    blob = np.zeros(SHAPE, dtype=bool)
    for centre in centres:
        blob |= ellipsoid_mask(SHAPE, SPACING, centre, (6.0, 6.0, 6.0))[0]
    if tube:
        blob = np.zeros(SHAPE, dtype=bool)
        blob[18:22, 21:48, 16:18] = True
    # Three tissue classes in 6 mm layers (like grey matter, white matter and CSF, they set the brain's robust SD;
    # a third each keeps the median and its spread stable), little noise.
    layers = np.array([680.0, 720.0, 760.0])[np.arange(SHAPE[2]) // 3 % 3][None, None, :]
    t1c = np.where(brain, layers, 0.0) + rng.normal(0, 4, SHAPE)
    t1c[blob] = 720.0 + (AMP if not tube else AMP_TUBE) + rng.normal(0, 4, int(blob.sum()))
    flair = np.where(brain, 450.0, 0.0)
    if oedema:
        for centre in centres:
            swollen, _ = ellipsoid_mask(SHAPE, SPACING, centre, (15.0, 14.0, 14.0))
            flair[swollen & brain] = 750.0
    return {"t1c": t1c, "flair": flair + rng.normal(0, 10, SHAPE), "brain": brain, "affine": affine, "blob": blob}


def _smoothed_peak_sd(h: dict) -> float:
    return smoothed_peak_sd(h["t1c"], h["brain"], h["blob"], SPACING)


def test_a_faint_blob_inside_a_flair_abnormality_is_found_on_the_second_pass():
    h = _head()
    assert 3.0 < _smoothed_peak_sd(h) < 4.0  # under the first pass's bar, over the second's
    # Without a FLAIR the first pass finds nothing.
    alone, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert alone == [] and "found no enhancing lesion" in notes[0]
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"], flair=h["flair"])
    assert len(lesions) == 1 and lesions[0].method == "automatic"
    assert dice(lesions[0].enhancing, h["blob"]) >= 0.6
    said = [n for n in notes if "second, FLAIR-backed pass" in n]
    assert said and "robust SDs" in said[0] and "lower confidence" in said[0]


def test_the_same_blob_without_a_flair_abnormality_is_not_taken():
    h = _head(oedema=False)
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"], flair=h["flair"])
    assert lesions == []
    assert "found no enhancing lesion" in notes[0]
    assert not any("FLAIR-backed" in n for n in notes)


def test_a_faint_tube_inside_a_flair_abnormality_is_not_taken():
    h = _head(tube=True)
    assert 3.0 < _smoothed_peak_sd(h) < 4.0
    flair = enhancement_map(h["flair"], h["brain"])
    med, rsd = _robust(flair[h["brain"]])
    assert (flair[h["blob"]] > med + 2 * rsd).mean() > 0.8  # the tube runs inside the FLAIR abnormality
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"], flair=h["flair"])
    assert lesions == []
    assert not any("FLAIR-backed" in n for n in notes)


def test_two_comparable_faint_blobs_in_flair_abnormalities_leave_the_choice_to_a_reader():
    h = _head(centres=((20.0, 44.0, 32.0), (20.0, 22.0, 32.0)))  # same hemisphere, 10 mm apart
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"], flair=h["flair"])
    assert lesions == []
    assert any("comparable size" in n and "took none" in n for n in notes)
