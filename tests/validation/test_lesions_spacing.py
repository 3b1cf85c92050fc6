"""Lesions on real scans (issue 13, l25-spacing): automatic detection at voxel sizes other than the one assumed.

The TCIA Brain-Tumor-Progression scans lost their voxel size; every other validation assumes 1 x 1 x 5 mm
(test_lesions_real_more.py). Held-out scans come at their own spacing, so the same scans are run here as if their
pixels were 0.8 mm or their slices 3 mm (the same voxels, a head 20 % narrower or 40 % shorter): whatever the Dice,
automatic detection must never put a target outside the tumour (>= 90 % of every target within 5 voxels of the
reference, the bar of test_lesions_real_more.py). The brain mask is the classical one without its plausibility
refusal (at 3 mm slices some heads come out under 800 mL, which the product refuses: the lesion stage is what is
tested here). benchmarks/lesions_real_bench.py --spacing runs every scan (benchmarks/RESULTS.md, "Robustness to the
voxel size").
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from pseudoprog.align.brainmask import classical_brain_mask
from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.lesions.segment import segment_lesions

from .test_lesions_real_more import tcia_scan

pytestmark = pytest.mark.validation


@functools.cache
def _at(name: str, spacing: tuple[float, float, float]) -> tuple[list, list[str], np.ndarray]:
    """Automatic detection on a TCIA scan with ``spacing`` (mm) assumed: targets, notes, reference within 5 voxels."""
    t1c, affine, ref = tcia_scan(name)
    for ax, mm in enumerate(spacing):
        affine[:3, ax] *= mm / np.linalg.norm(affine[:3, ax])
    brain = classical_brain_mask(Volume(t1c, affine))
    try:
        auto, notes = segment_lesions(t1c, brain, affine)
    except CannotAssessError as exc:  # a refusal is allowed: it puts no target anywhere
        auto, notes = [], [str(exc)]
    return auto, notes, ndimage.binary_dilation(ref, iterations=5)


def _near(name: str, spacing: tuple[float, float, float]) -> list[float]:
    auto, _, near = _at(name, spacing)
    return [float(near[a.enhancing].mean()) for a in auto]


@pytest.mark.parametrize(
    ("name", "spacing", "said"),
    [
        # 02 Post: at 1 x 1 x 5 mm the noise guard refuses (15 candidates > 10); on 0.8 mm pixels fewer structures
        # reach 50 mm3, the guard passes and the first pass took a deep midline structure (149 voxels on slices
        # 9-11, astride the mid-sagittal plane, 0 % near the temporal tumour).
        ("02/Post", (0.8, 0.8, 5.0), "astride the midline"),
        # 11 Pre: on 3 mm slices the first pass took a 112-voxel deep midline structure (slices 7-11, 0 % near)
        # where at 5 mm the slice-levelled last pass finds the tumour (it already left deep midline structures).
        ("11/Pre", (1.0, 1.0, 3.0), "astride the midline"),
        # 11 Pre on 6.5 mm slices: the mirror image of its choroid plexus was searched on its own slice only
        # (3 mm / 6.5 mm rounded to no slice), so the plexus was a target (78 % near).
        ("11/Pre", (1.0, 1.0, 6.5), "holds its mirror image"),
        # 06 Pre on 6.5 mm slices: the mask's edge slice was 6.5 mm "deep", past the 5 mm outer band, so a sinus
        # at the surface (84 voxels, 3-10 mm beside the mid-sagittal plane) was a first-pass target (0 % near).
        ("06/Pre", (1.0, 1.0, 6.5), "on the brain's surface astride the midline"),
    ],
)
def test_tcia_normal_anatomy_is_not_a_target_at_another_voxel_size(name, spacing, said):
    auto, notes, _ = _at(name, spacing)
    assert all(n >= 0.9 for n in _near(name, spacing)), (_near(name, spacing), notes[:4])
    assert any(said in n for n in notes), notes
    # The tumour is then found by a later pass (measured: 99 %, 96 %, 98 % and 100 % within 5 voxels).
    assert len(auto) == 1


SWEEP = ["01/Pre", "05/Pre", "09/Post", "11/Post"]


@pytest.mark.parametrize("spacing", [(0.8, 0.8, 5.0), (1.0, 1.0, 3.0)])
@pytest.mark.parametrize("name", SWEEP)
def test_tcia_no_automatic_target_outside_the_reference_at_other_voxel_sizes(name, spacing):
    _, notes, _ = _at(name, spacing)
    assert all(n >= 0.9 for n in _near(name, spacing)), (_near(name, spacing), notes[:4])
