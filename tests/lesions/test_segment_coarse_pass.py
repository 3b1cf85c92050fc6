"""Automatic detection's coarse-scale last pass (issue 13, branch l23-scale): a large, moderately enhancing mass that no
50 mm³ structure of reaches the first pass's bar (4 robust SDs of the brain on the map smoothed at 2 mm) is found on
the map smoothed at the scale of the smallest measurable lesion (6 mm FWHM), judged against the brain's robust SD on
that map; a vessel-like tube or a dural sheet of the same enhancement fades at that scale and is not taken."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pseudoprog.lesions import segment
from pseudoprog.lesions.rules import value
from pseudoprog.lesions.segment import DetectionMap, _robust, _spacing, enhancement_map, segment_lesions

from .helpers import dice, ellipsoid_mask

SHAPE = (64, 64, 32)
SPACING = (1.0, 1.0, 2.0)
AMP = 180.0  # on the 740 half: 3.5-3.8 robust SDs of the brain at 2 mm (under 4), 3.2-3.5 at 6 mm (above 3)


def _head(kind: str = "ball", *, rng_seed: int = 0) -> dict:
    """Two tissue classes (660 and 740, one per half of the brain, as grey and white matter set a real brain's robust
    SD: ~59) with noise (SD 15), and one structure enhancing by ``AMP`` in the brighter half: a 20 mm ball, a tube
    3 mm wide and 40 mm long (a vessel) or a sheet 2 mm thick and 36 mm across (dura)."""
    rng = np.random.default_rng(rng_seed)
    brain, affine = ellipsoid_mask(SHAPE, SPACING, (32.0, 32.0, 32.0), (30.0, 30.0, 30.0))
    tissue = np.where(np.arange(SHAPE[0]) < 32, 660.0, 740.0)[:, None, None]
    t1c = np.where(brain, tissue, 0.0) + rng.normal(0, 15.0, SHAPE)
    semi = {"ball": (10.0, 10.0, 10.0), "tube": (1.5, 20.0, 1.5), "sheet": (1.0, 18.0, 18.0), "none": (0.0, 0.0, 0.0)}
    where = ellipsoid_mask(SHAPE, SPACING, (46.0, 32.0, 32.0), semi[kind])[0] if kind != "none" else None
    if where is not None:
        t1c[where] += AMP
    return {"t1c": t1c, "brain": brain, "affine": affine, "where": where}


def _peaks(h: dict) -> tuple[float, float]:
    """The structure's peak on the first pass's map (2 mm, robust SDs of the unsmoothed brain: its bar) and on the
    coarse pass's map (robust SDs of that map inside the eroded brain: its bar)."""
    e = enhancement_map(h["t1c"], h["brain"])
    spacing = _spacing(h["affine"])
    view = DetectionMap.of(e, h["brain"], spacing)
    coarse = ndimage.gaussian_filter(e, value("segmentation", "coarse_pass_fwhm_mm") / 2.3548 / spacing)
    med, rsd = _robust(coarse[view.inner])
    return (
        float((view.smooth[h["where"]].max() - view.median) / view.sd),
        float((coarse[h["where"]].max() - med) / rsd),
    )


def test_a_large_faint_compact_mass_under_the_first_pass_bar_is_found_at_the_coarse_scale():
    for rng_seed in range(3):
        h = _head(rng_seed=rng_seed)
        fine, coarse = _peaks(h)
        assert fine < value("segmentation", "detection_robust_sd") < fine + 1.0  # under the first pass's bar
        assert coarse > value("segmentation", "coarse_pass_robust_sd")
        lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
        assert len(lesions) == 1 and lesions[0].method == "automatic", notes
        assert dice(lesions[0].enhancing, h["where"]) >= 0.8
        said = [n for n in notes if "coarse-scale last pass" in n]
        assert said and "6 mm FWHM" in said[0] and "only compact enhancing mass" in said[0]
        assert "lower confidence" in said[0]
        assert not any("found no enhancing lesion" in n for n in notes)


def test_without_the_coarse_pass_the_mass_is_not_found(monkeypatch):
    # The earlier passes miss it (what the coarse pass is for): with the pass removed nothing is taken.
    monkeypatch.setattr(segment, "_coarse_scale_pass", lambda *a, **k: (None, []))
    h = _head()
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert lesions == []
    assert any("found no enhancing lesion" in n for n in notes)


def test_a_vessel_or_dural_sheet_of_the_same_enhancement_fades_at_the_coarse_scale():
    for kind in ("tube", "sheet"):
        h = _head(kind)
        fine, coarse = _peaks(h)
        assert fine > 1.5  # it enhances on the first pass's map (the tube as much as the ball, 3.0 against 3.5)...
        assert coarse < value("segmentation", "coarse_pass_robust_sd")  # ...and fades at the lesion's scale
        lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
        assert lesions == [], (kind, notes)
        assert not any("coarse-scale" in n for n in notes)


def test_a_brain_with_nothing_enhancing_gives_nothing_at_the_coarse_scale():
    h = _head("none")
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert lesions == []
    assert any("found no enhancing lesion" in n for n in notes)
