"""TCIA Brain-Tumor-Progression patient 11, run like the five patients of test_lesions_real_more.py (1 x 1 x 5 mm
assumed): automatic detection must never put a target outside the reference tumour (issue 13's goal for cases the
method was not tuned on). It does today (benchmarks/RESULTS.md), so the test is a strict xfail with what was seen.
"""

from __future__ import annotations

import pytest

from .test_lesions_real_more import _never_outside, _run

pytestmark = pytest.mark.validation


@pytest.mark.xfail(
    strict=True,
    reason="TCIA 11 Pre: the only automatic target (389 voxels on slices 8-11, a bright focus beside the frontal "
    "horn and basal ganglia) has Dice 0.00 with the reference, which lies above it on the same side (slices 11-16); "
    "77 % of it is within 5 voxels of the reference (5 voxels are 25 mm across slices); whether it is tumour the "
    "reference left out or a deep vessel was not settled",
)
def test_tcia_11_automatic_detection_never_targets_outside_the_tumour():
    _never_outside(_run("11"))
