"""The raw-image brain mask must not cut off a tumour at the cortex (issue 13, branch l13-mask).

On TCIA Brain-Tumor-Progression 09 Post the mask left out 65 % of a large rim-enhancing tumour that reaches the
skull: bright tissue joins the brain only when at least half of the shell around it is brain, and half of this
tumour's shell is skull and scalp. The rule added (``_at_the_cortex``, numbers in ``brainmask.yaml``): a compact
bright mass (a disk of ``cortex_mass_mm`` fits in it with its enclosed core) that lies mostly inside the brain's
per-slice convex hull, with its shell inside the hull mostly brain, joins the brain as far as it lies inside the
hull. Phantom: a head with bright scalp, a dark skull, a CSF layer, and a ring-enhancing tumour (56 mm across, a
7 mm rim round a dark core) pressed against the skull, 8 mm deeper and touching it, or reaching 6 mm past the brain's
surface with enhancing tissue through a craniotomy (TCIA 09 Post). Not handled (measured): the latter without the
craniotomy, a rim the hull cuts on every slice leaving a 16 mm mass (< ``cortex_mass_mm``, 18): 1 % inside.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from pseudoprog.align import brainmask
from pseudoprog.case import Volume
from pseudoprog.files import load_table

SPACING = (2.0, 2.0, 4.0)
SHAPE = (100, 116, 44)


def _head(
    *, tumour: bool, sinus: bool = False, centre_x: float = -44.0, craniotomy: bool = False
) -> tuple[Volume, dict[str, np.ndarray]]:
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(SHAPE, SPACING, strict=True)]
    x, y, z = np.meshgrid(*axes, indexing="ij")

    def ellipsoid(a: float, b: float, c: float, centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
        return np.asarray(((x - centre[0]) / a) ** 2 + ((y - centre[1]) / b) ** 2 + ((z - centre[2]) / c) ** 2 <= 1)

    brain = ellipsoid(66, 82, 62)
    csf = ellipsoid(68, 84, 64) & ~brain
    skull = ellipsoid(75, 91, 71) & ~brain & ~csf
    scalp = ellipsoid(81, 97, 77) & ~brain & ~csf & ~skull
    rng = np.random.default_rng(0)
    img = rng.normal(20, 8, SHAPE).clip(0)  # air noise: a raw image, not a skull-stripped one
    img[brain] = 700 + rng.normal(0, 25, int(brain.sum()))
    img[csf] = 250.0
    img[skull] = 60.0
    img[scalp] = 1250.0  # scalp fat: brighter than the enhancing rim
    parts = {"brain": brain, "csf": csf, "skull": skull, "scalp": scalp}
    if tumour:
        centre = (centre_x, 0.0, 10.0)  # the brain's surface is at x = -66, the skull's inner surface at -68
        outer = ellipsoid(28, 28, 28, centre) & (brain | csf)
        core = ellipsoid(21, 21, 21, centre) & (brain | csf)
        img[outer] = 1100 + rng.normal(0, 40, int(outer.sum()))
        img[core] = 300.0  # necrosis, darker than the brain band
        if craniotomy:  # enhancing tissue through a 20 mm hole in the skull to the scalp
            hole = (np.hypot(y - centre[1], z - centre[2]) <= 10) & (x < centre[0]) & (skull | csf | scalp)
            img[hole] = 1100.0
        parts["tumour"] = outer
    if sinus:
        # Venous sinuses: enhancing tubes 8 mm across at the brain's surface, under the skull (a superior sagittal
        # sinus along the vertex, a transverse sinus across the back).
        tube = (np.hypot(x, z - 63.0) <= 4.0) | (np.hypot(y + 83.0, z) <= 4.0)
        tube &= ~skull & ~scalp
        img[tube] = 1100.0
        parts["sinus"] = tube
    vol = Volume(np.asarray(img, dtype=np.float32), np.diag([*SPACING, 1.0]))
    return vol, parts


def _without_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    table = copy.deepcopy(load_table("align", "brainmask"))
    table["raw"]["cortex_mass_mm"] = float("inf")
    monkeypatch.setattr(brainmask, "_table", lambda: table)


CASES = [
    pytest.param(-36.0, False, id="touching-the-skull"),  # measured: 0.88 inside (0.03 without the rule)
    pytest.param(-44.0, True, id="through-a-craniotomy"),  # measured: 0.91 inside (0.01 without the rule)
]


@pytest.mark.parametrize(("centre_x", "craniotomy"), CASES)
def test_a_ring_enhancing_tumour_at_the_cortex_is_inside_the_brain_mask(centre_x, craniotomy):
    vol, parts = _head(tumour=True, centre_x=centre_x, craniotomy=craniotomy)
    mask = brainmask.classical_brain_mask(vol)
    share = float(mask[parts["tumour"]].mean())
    assert share >= 0.85, share
    assert not (mask & parts["scalp"]).any()
    assert not (mask & parts["skull"]).any()


@pytest.mark.parametrize(("centre_x", "craniotomy"), CASES)
def test_without_the_rule_the_tumour_at_the_cortex_is_left_out(monkeypatch, centre_x, craniotomy):
    # What the rule fixes: without it the mask leaves (nearly) the whole tumour out.
    _without_the_rule(monkeypatch)
    vol, parts = _head(tumour=True, centre_x=centre_x, craniotomy=craniotomy)
    mask = brainmask.classical_brain_mask(vol)
    assert float(mask[parts["tumour"]].mean()) < 0.2


def test_a_head_without_a_tumour_and_a_venous_sinus_is_not_changed_by_the_rule(monkeypatch):
    vol, parts = _head(tumour=False, sinus=True)
    with_rule = brainmask.classical_brain_mask(vol)
    _without_the_rule(monkeypatch)
    without = brainmask.classical_brain_mask(vol)
    assert np.array_equal(with_rule, without)
    assert not (with_rule & parts["scalp"]).any()
