"""The motion check of two series on one grid (issue 19: the same decisions, faster).

``register`` compares series of one session that share their frame of reference and grid at the identity and at
one-voxel shifts (``_shows_motion``). The Mattes metric recorded there is evaluated without ITK's gradient images
and on the fixed image cut to its mask's bounding box, both leaving its value unchanged bit for bit. The shifts
themselves are compared by the exact mutual information of the voxel pairs on the one lattice (``_LatticeMI``:
no interpolation, no Parzen smoothing); it makes the Mattes metric's decisions: a series moved by one or two
working voxels is registered, an identical, aligned or sub-voxel-moved one is left alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

import pseudoprog.align.registration as registration_module
from pseudoprog.align import register
from pseudoprog.align.registration import _Working, presets
from pseudoprog.case import Volume
from tests.pet.conftest import synthetic_t1c


@pytest.fixture(scope="module")
def session() -> tuple[Volume, Volume, np.ndarray]:
    """A T1c and a 'FLAIR' of one session on one 2 mm grid (the structural working grid), in register, and the
    brain mask (inside the scalp) on that grid."""
    t1c, _ = synthetic_t1c(spacing=2.0, shape=(80, 96, 64))
    d = t1c.data
    rng = np.random.default_rng(5)
    flair = np.where(d == 250.0, 100.0, np.where(d == 1100.0, 900.0, np.where(d == 600.0, 500.0, d * 0.3)))
    flair = (flair + rng.normal(0, 10, d.shape)).astype(np.float32)
    brain = (d > 0) & (d != 900.0)
    return t1c, Volume(flair, t1c.affine.copy()), brain


def _full_metric(work: _Working, transform: sitk.Transform | None) -> float:
    """Mattes MI on every voxel with ITK's defaults (gradient images made), as before issue 19."""
    reg = sitk.ImageRegistrationMethod()
    reg.SetNumberOfThreads(1)
    reg.SetNumberOfWorkUnits(1)
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=work.bins)
    if work.mask is not None:
        reg.SetMetricFixedMask(work.mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetMetricSamplingStrategy(reg.NONE)
    reg.SetInitialTransform(sitk.Transform(3, sitk.sitkIdentity) if transform is None else transform)
    return float(reg.MetricEvaluate(work.fixed, work.moving))


def _shifts(work: _Working, voxels: int) -> list[sitk.Transform]:
    direction = np.array(work.fixed.GetDirection()).reshape(3, 3)
    spacing = np.array(work.fixed.GetSpacing())
    return [
        sitk.TranslationTransform(3, [float(v) for v in sign * voxels * direction[:, axis] * spacing[axis]])
        for axis in range(3)
        for sign in (1.0, -1.0)
    ]


def test_the_metric_and_its_cropped_form_are_the_full_metric_bit_for_bit(session) -> None:
    t1c, flair, brain = session
    work = _Working.prepare(t1c, flair, brain, presets()["structural"])
    probe = work.cropped_to_mask()
    assert probe.fixed.GetSize() != work.fixed.GetSize()  # the head's brain does not fill the field of view
    assert probe.fixed.GetSpacing() == work.fixed.GetSpacing() and probe.moving is work.moving
    rigid = sitk.Euler3DTransform()
    rigid.SetRotation(0.02, -0.01, 0.03)
    rigid.SetTranslation((1.3, -0.7, 2.1))
    for transform in [None, rigid]:
        assert work.metric(transform) == _full_metric(work, transform)
    for transform in [None, *_shifts(work, 1), *_shifts(work, 2)]:
        full = _full_metric(work, transform)
        assert work.metric(transform) == full and probe.metric(transform) == full


def test_no_crop_without_a_mask_or_when_itks_overlap_rule_could_tell_them_apart(session) -> None:
    t1c, flair, brain = session
    p = presets()["structural"]
    unmasked = _Working.prepare(t1c, flair, None, p)
    assert unmasked.cropped_to_mask() is unmasked
    tiny = np.zeros_like(brain)
    tiny[38:42, 46:50, 30:34] = True  # 64 voxels: far below 1/16 of the grid
    small = _Working.prepare(t1c, flair, tiny, p)
    assert small.cropped_to_mask() is small


def test_identical_and_aligned_series_are_not_moved(session, monkeypatch) -> None:
    t1c, flair, brain = session

    def no_optimiser(*_a, **_k):
        raise AssertionError("series in register must not be registered")

    monkeypatch.setattr(registration_module, "_optimise", no_optimiser)
    for moving in (Volume(t1c.data.copy(), t1c.affine.copy()), flair):
        reg = register(t1c, moving, fixed_mask=brain, same_frame_of_reference=True)
        assert reg.kind == "identity" and not reg.optimised and np.array_equal(reg.fixed_to_moving, np.eye(4))
        work = _Working.prepare(t1c, moving, brain, presets()["structural"])
        assert reg.metric_before == _full_metric(work, None)  # the recorded metric is the full one


@pytest.mark.parametrize("voxels", [1, 2])
def test_a_series_moved_by_one_or_two_working_voxels_is_registered(session, voxels) -> None:
    t1c, flair, brain = session
    moved = Volume(np.roll(flair.data, voxels, axis=1), flair.affine.copy())  # the head moved 2 or 4 mm
    work = _Working.prepare(t1c, moved, brain, presets()["structural"])
    before = _full_metric(work, None)
    assert any(_full_metric(work, s) < before for s in _shifts(work, 1))  # the full metric sees the motion
    assert registration_module._shows_motion(work.cropped_to_mask(), before) is not None
    reg = register(t1c, moved, fixed_mask=brain, same_frame_of_reference=True)
    assert reg.optimised and reg.accepted and reg.metric_after < reg.metric_before == before
    assert reg.translation_mm[1] == pytest.approx(2.0 * voxels, abs=1.0)


def _mi_of_pairs(f: np.ndarray, m: np.ndarray, bins: int) -> float:
    joint, _, _ = np.histogram2d(f, m, bins=bins, range=[[0, bins], [0, bins]])
    p = joint / joint.sum()
    pf, pm = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / (pf @ pm)[nz])))


def test_the_lattice_mutual_information_is_that_of_the_voxel_pairs(session) -> None:
    """Built voxel by voxel from index arithmetic: fixed voxel (k, j, i) of the cut image pairs with the moving
    voxel at its position in the moving image plus the shift, when that lies inside the moving image."""
    t1c, flair, brain = session
    probe = _Working.prepare(t1c, flair, brain, presets()["structural"]).cropped_to_mask()
    lattice = registration_module._LatticeMI.of(probe)
    assert lattice is not None
    fb, mb, mask = lattice.fixed_bins, lattice.moving_bins, lattice.mask
    kk, jj, ii = np.nonzero(mask)
    for shift in [None, (0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)]:
        delta = np.zeros(3, dtype=int)
        if shift is not None:
            delta[2 - shift[0]] = shift[1]
        at = np.stack([kk, jj, ii], axis=1) + np.array(lattice.offset) + delta
        inside = np.all((at >= 0) & (at < np.array(mb.shape)), axis=1)
        f = fb[kk[inside], jj[inside], ii[inside]]
        m = mb[at[inside, 0], at[inside, 1], at[inside, 2]]
        assert lattice.mutual_information(shift) == pytest.approx(_mi_of_pairs(f, m, lattice.bins), abs=1e-12)


@pytest.mark.parametrize("move", ["none", "sub_voxel", "one", "two", "minus_one"])
def test_the_lattice_check_makes_the_mattes_metrics_decision(session, move) -> None:
    t1c, flair, brain = session
    data = {
        "none": flair.data,
        # 0.6 mm, under half a working voxel (at exactly half, the identity and the next voxel tie)
        "sub_voxel": ndimage.shift(flair.data, (0.0, 0.3, 0.0), order=1),
        "one": np.roll(flair.data, 1, axis=0),
        "two": np.roll(flair.data, 2, axis=2),
        "minus_one": np.roll(flair.data, -1, axis=1),
    }[move]
    work = _Working.prepare(t1c, Volume(data.astype(np.float32), flair.affine.copy()), brain, presets()["structural"])
    probe = work.cropped_to_mask()
    before = probe.metric(None)
    mattes_sees_motion = any(probe.metric(s) < before for s in _shifts(probe, 1))
    assert mattes_sees_motion == (move in ("one", "two", "minus_one"))
    assert (registration_module._shows_motion(probe, before) is not None) == mattes_sees_motion
