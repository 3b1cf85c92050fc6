"""Registration (known rigid pose recovered), transforms back to native space, N4, brain mask."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.align import Grid, Registration, identity, register, warp
from pseudoprog.align.bias import n4_bias_correct
from pseudoprog.align.brainmask import brain_mask
from pseudoprog.align.itk import from_sitk, to_sitk
from pseudoprog.case import Volume
from pseudoprog.phantoms.anatomy import BRAIN, Tissue
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint, structural_series


@pytest.fixture(scope="module")
def scans():
    sc = SCENARIOS["true_progression"]
    base = build_timepoint(sc, sc.scans[0], seed=7)
    moved = build_timepoint(sc, sc.scans[1], seed=7)  # pose (2.0°, 1.5, -1, 0.5 mm)
    return base, {s.name: s for s in structural_series(base)}, moved, {s.name: s for s in structural_series(moved)}


def _vol(s) -> Volume:
    return Volume(s.data, s.affine)


def test_itk_round_trip_keeps_geometry():
    aff = np.array([[0, -1.2, 0, 10], [0.9, 0, 0, -5], [0, 0, 3.0, 2], [0, 0, 0, 1]], dtype=float)
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    back, back_aff = from_sitk(to_sitk(data, aff))
    assert np.array_equal(back, data) and np.allclose(back_aff, aff)


def test_known_rigid_pose_is_recovered_within_1mm_and_1deg(scans):
    base, b, moved, m = scans
    truth = moved.affine @ np.linalg.inv(base.affine)
    reg = register(_vol(b["T1c"]), _vol(m["FLAIR"]))  # cross-contrast, across visits
    err = reg.fixed_to_moving @ np.linalg.inv(truth)
    corners = np.array([[x, y, z, 1.0] for x in (-70, 70) for y in (-90, 90) for z in (-60, 60)]).T
    assert np.abs((err @ corners - corners)[:3]).max() < 1.0
    assert abs(reg.rotation_deg - 2.0) < 1.0
    assert reg.kind == "rigid" and reg.to_dict()["kind"] == "rigid"


def test_masks_go_to_native_space_and_back(scans):
    base, _, moved, m = scans
    truth = moved.affine @ np.linalg.inv(base.affine)
    reg = Registration(truth, "rigid")
    lesion = moved.anatomy.lesion_masks["L1"]
    on_base = reg.mask_to_fixed(lesion, moved.affine, base.affine, lesion.shape)
    back = reg.mask_to_moving(on_base, base.affine, moved.affine, lesion.shape)
    dice = 2 * (back & lesion).sum() / (back.sum() + lesion.sum())
    assert dice > 0.9
    # The same anatomy: the moved scan's T1c resampled onto the baseline grid matches the baseline.
    res = warp(_vol(m["T1c"]), reg, Grid(base.affine, base.labels.shape))
    wm = base.labels == Tissue.WHITE_MATTER
    assert abs(np.median(res.data[wm]) - 770) < 40


def test_register_validates_its_inputs(scans):
    _, b, _, _ = scans
    v = _vol(b["T1c"])
    with pytest.raises(ValueError, match="kind"):
        register(v, v, kind="bspline")
    bad = v.data.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        register(v, Volume(bad, v.affine))
    with pytest.raises(ValueError, match="constant"):
        register(v, Volume(np.ones_like(v.data), v.affine))
    assert np.isnan(identity().metric_after) and identity().rotation_deg == 0.0


def test_n4_removes_an_imposed_bias_field(scans):
    base, b, _, _ = scans
    wm = base.labels == Tissue.WHITE_MATTER
    x = np.linspace(-1, 1, wm.shape[0])[:, None, None]
    y = np.linspace(-1, 1, wm.shape[1])[None, :, None]
    v = Volume(b["T1"].data * (1 + 0.25 * x + 0.1 * y**2), b["T1"].affine)  # ±25 % left-right gradient
    corrected, field = n4_bias_correct(v)
    cv = lambda a: np.std(a[wm]) / np.mean(a[wm])  # noqa: E731
    # White-matter spread back to that of the phantom without the imposed field (noise + its own ±8 %).
    assert cv(v.data) > 0.06
    assert cv(corrected.data) < 1.1 * cv(b["T1"].data)
    assert field.shape == v.spatial_shape and np.all(field > 0)
    with pytest.raises(ValueError, match="mask is empty"):
        n4_bias_correct(v, mask=np.zeros(v.spatial_shape, dtype=bool))


@pytest.mark.parametrize("name", ["T1c", "FLAIR"])
def test_brain_mask_on_post_contrast_and_flair_with_a_cavity(scans, name):
    base, b, _, _ = scans
    truth = np.isin(base.labels, [int(t) for t in BRAIN])
    mask, method = brain_mask(_vol(b[name]))
    dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
    assert method == "classical"
    assert dice > 0.9
    cavity = base.labels == Tissue.CAVITY
    assert mask[cavity].mean() > 0.95  # the resection cavity stays inside the brain
