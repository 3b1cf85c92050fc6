"""Brain mask: which kind of input (raw or skull-stripped) and the plausibility check (volume, field of view)."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.align.brainmask import brain_mask, brain_mask_checked, check_brain_mask, is_skull_stripped
from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.phantoms.anatomy import BRAIN
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint, structural_series


@pytest.fixture(scope="module")
def phantom():
    sc = SCENARIOS["true_progression"]
    tp = build_timepoint(sc, sc.scans[0], seed=7)
    s = {x.name: x for x in structural_series(tp)}
    return Volume(s["T1c"].data, s["T1c"].affine), np.isin(tp.labels, [int(t) for t in BRAIN])


def _ball_mask(radius_mm: float, *, spacing: float = 2.0, n: int = 120) -> tuple[Volume, np.ndarray]:
    c = (np.indices((n, n, n)) - (n - 1) / 2) * spacing
    mask = np.sqrt((c**2).sum(axis=0)) <= radius_mm
    return Volume(np.zeros((n, n, n), dtype=np.float32), np.diag([spacing, spacing, spacing, 1.0])), mask


def test_raw_and_stripped_inputs_are_told_apart(phantom):
    vol, truth = phantom
    assert not is_skull_stripped(vol.data)  # scalp, skull and noisy air
    stripped = np.where(truth, vol.data, 0.0)
    assert is_skull_stripped(stripped)
    z = (stripped - stripped[truth].mean()) / stripped[truth].std()  # z-scored: background is a constant < 0
    assert is_skull_stripped(z)


def test_a_plausible_brain_gives_no_warning():
    vol, mask = _ball_mask(66.0)  # 4/3 pi 66^3 = 1204 mL
    check = check_brain_mask(vol, mask)
    assert check.volume_ml == pytest.approx(1204, rel=0.02)
    assert check.warnings == () and check.refusal == "" and check.cut == ()


def test_a_small_brain_is_a_warning_and_a_tiny_one_a_refusal():
    vol, mask = _ball_mask(54.0)  # 660 mL
    check = check_brain_mask(vol, mask)
    assert check.refusal == ""
    assert any("below the adult range 800-1800 mL" in w for w in check.warnings)
    vol, mask = _ball_mask(38.0)  # 230 mL, not cut by the field of view
    assert check_brain_mask(vol, mask).refusal.startswith("brain mask not plausible: 230 mL")


def test_a_small_mask_the_field_of_view_does_not_cut_says_brain_was_left_out():
    # The whole head is imaged: a mask below an adult brain left brain out, so a search inside it is partial.
    vol, mask = _ball_mask(54.0)  # 660 mL
    check = check_brain_mask(vol, mask)
    assert check.missing_brain.startswith("the brain mask holds 662 mL, less than an adult brain (800-1800 mL")
    assert "part of the brain is outside the mask and was not searched" in check.missing_brain
    assert check_brain_mask(*_ball_mask(66.0)).missing_brain == ""  # 1204 mL: a whole brain
    vol, mask = _ball_mask(66.0)
    cut = mask[:, :, 60:]  # 602 mL because the field of view cuts it: what is imaged is in the mask
    assert check_brain_mask(Volume(vol.data[:, :, 60:], vol.affine), cut).missing_brain == ""
    assert check_brain_mask(*_ball_mask(38.0)).missing_brain == ""  # refused outright instead


def test_a_mask_with_scalp_or_neck_is_refused():
    vol, mask = _ball_mask(84.0)  # 2483 mL
    check = check_brain_mask(vol, mask)
    assert check.refusal.startswith("brain mask not plausible") and "scalp, face or neck" in check.refusal


def test_a_brain_cut_by_the_field_of_view_is_a_warning_not_a_refusal():
    vol, mask = _ball_mask(66.0)
    cut = mask[:, :, 60:]  # the lower half of the brain is outside the slices: 602 mL
    check = check_brain_mask(Volume(vol.data[:, :, 60:], vol.affine), cut)
    assert check.cut == ("first plane of image axis 2",)
    assert check.refusal == ""
    assert any("field of view cuts the brain" in w for w in check.warnings)
    assert any("below the adult range" in w and "(the field of view cuts it)" in w for w in check.warnings)


def test_phantom_head_cut_by_the_field_of_view_is_flagged(phantom):
    vol, _ = phantom
    top = Volume(vol.data[:, :, 24:], vol.affine @ np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 24], [0, 0, 0, 1]]))
    mask, method, check = brain_mask_checked(top)
    assert method == "classical"
    assert "first plane of image axis 2" in check.cut
    assert any("field of view cuts the brain" in w for w in check.warnings)
    whole, _, _ = brain_mask_checked(vol)
    assert 2 * (mask & whole[:, :, 24:]).sum() / (mask.sum() + whole[:, :, 24:].sum()) > 0.9


def test_brain_mask_refuses_a_mask_that_would_mislead(phantom):
    vol, _ = phantom
    # The same head with 1.8x larger voxels: a 1400 mL brain becomes ~8000 mL, beyond any adult head.
    big = Volume(vol.data, vol.affine @ np.diag([1.8, 1.8, 1.8, 1.0]))
    with pytest.raises(CannotAssessError, match="brain mask not plausible"):
        brain_mask(big)
