"""``--brain-mask auto``: the classical mask, and deepbet's only where the classical one cannot be the brain imaged.

deepbet (optional extra) is replaced by a stand-in here, so the policy is tested without torch; the real deepbet on a
real 3-D MPRAGE is in tests/validation/test_lesions_deepbet.py (benchmarks/RESULTS.md, "deepbet measured").
"""

from __future__ import annotations

import numpy as np
import pytest

import pseudoprog.align.brainmask as bm
from pseudoprog.align.brainmask import brain_mask_checked
from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError

N, SPACING = 120, 2.0


def _ball(radius_mm: float) -> np.ndarray:
    c = (np.indices((N, N, N)) - (N - 1) / 2) * SPACING
    return np.sqrt((c**2).sum(axis=0)) <= radius_mm


def _head(*, stripped: bool = False) -> Volume:
    """A head-sized bright ball: on noisy air (an image with skull) or on an exact zero (skull-stripped)."""
    rng = np.random.default_rng(3)
    data = np.where(_ball(80.0), 300.0 + rng.normal(0, 10, (N, N, N)), 0.0)
    if not stripped:
        data = data + np.abs(rng.normal(0, 8, data.shape))
    return Volume(data.astype(np.float32), np.diag([SPACING, SPACING, SPACING, 1.0]))


@pytest.fixture
def masks(monkeypatch):
    """Stand-ins for the two methods: classical gives ``radius["classical"]``, deepbet ``radius["deepbet"]`` (mm);
    ``calls`` counts deepbet's runs."""
    radius = {"classical": 54.0, "deepbet": 66.0}  # 662 mL (less than an adult brain) and 1207 mL
    calls: list[int] = []

    def deepbet(volume: Volume) -> np.ndarray:
        calls.append(1)
        return _ball(radius["deepbet"])

    monkeypatch.setattr(bm, "classical_brain_mask", lambda volume: _ball(radius["classical"]))
    monkeypatch.setattr(bm, "deepbet_mask", deepbet)
    monkeypatch.setattr(bm, "deepbet_available", lambda: True)
    return radius, calls


def test_auto_takes_deepbet_where_the_classical_mask_left_brain_out(masks):
    mask, used, check = brain_mask_checked(_head(), method="auto")
    assert used == "deepbet"
    assert mask.sum() == _ball(66.0).sum()
    (note,) = check.warnings
    assert note.startswith("the classical brain mask held 662 mL") and "deepbet mask (1207 mL) is used instead" in note
    assert check.missing_brain == ""


def test_auto_takes_deepbet_where_the_classical_mask_kept_the_scalp(masks):
    radius, _ = masks
    radius["classical"] = 84.0  # 2483 mL: refused as scalp, face or neck
    _, used, check = brain_mask_checked(_head(), method="auto")
    assert used == "deepbet" and check.refusal == ""


def test_auto_keeps_a_plausible_classical_mask_without_running_deepbet(masks):
    radius, calls = masks
    radius["classical"] = 66.0
    _, used, check = brain_mask_checked(_head(), method="auto")
    assert used == "classical" and calls == [] and check.warnings == ()


def test_auto_keeps_the_classical_mask_of_a_skull_stripped_image(masks):
    # The classical method is exact on stripped images (Dice 0.994-1.000 against the references; deepbet 0.94-0.97).
    _, used, check = brain_mask_checked(_head(stripped=True), method="auto")
    assert used == "classical" and masks[1] == []
    assert "part of the brain is outside the mask" in check.missing_brain


def test_auto_keeps_the_classical_answer_when_deepbet_fails_too(masks):
    radius, calls = masks
    radius["deepbet"] = 52.0  # 591 mL
    _, used, check = brain_mask_checked(_head(), method="auto")
    assert used == "classical" and calls == [1]
    assert "part of the brain is outside the mask" in check.missing_brain
    assert check.missing_brain.endswith("; the deepbet mask held 591 mL too")  # said where the scan's skip says why


def test_a_header_problem_is_not_sent_to_deepbet(masks):
    radius, calls = masks
    radius["classical"] = 38.0  # 230 mL with the whole head imaged: the voxel size is wrong, no mask mends that
    with pytest.raises(CannotAssessError, match="check the voxel size in the header") as exc:
        brain_mask_checked(_head(), method="auto")
    assert calls == [] and "deepbet" not in str(exc.value).replace("(classical method)", "")


def test_without_deepbet_the_check_says_how_to_get_it(masks, monkeypatch):
    monkeypatch.setattr(bm, "deepbet_available", lambda: False)
    _, used, check = brain_mask_checked(_head(), method="auto")
    assert used == "classical" and masks[1] == []
    assert "pip install 'pseudoprog[brainmask]'" in check.missing_brain
    _, _, check = brain_mask_checked(_head(), method="classical")
    assert "--brain-mask auto" in check.missing_brain
