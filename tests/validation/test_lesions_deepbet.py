"""The optional deepbet brain mask (extra ``pseudoprog[brainmask]``): skipped when it is not installed.

Tolerances: on the phantom with a resection cavity, Dice ≥ 0.95 against the true brain on
post-contrast T1 and FLAIR and the whole cavity kept inside; on the raw (unstripped) TCGA-FG-6692
post-contrast T1, a brain volume between 1000 and 1900 mL, where the classical method fails.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume
from pseudoprog.phantoms.anatomy import BRAIN, Tissue
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint, structural_series

from ..conftest import shared_data

pytestmark = pytest.mark.validation
pytest.importorskip("deepbet", reason="optional extra pseudoprog[brainmask] not installed")


@pytest.mark.parametrize("name", ["T1c", "FLAIR"])
def test_deepbet_on_post_contrast_and_flair_with_a_cavity(name):
    sc = SCENARIOS["true_progression"]
    tp = build_timepoint(sc, sc.scans[0], seed=7)
    s = {x.name: x for x in structural_series(tp)}
    truth = np.isin(tp.labels, [int(t) for t in BRAIN])
    mask, method = brain_mask(Volume(s[name].data, s[name].affine), method="deepbet")
    assert method == "deepbet"
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) >= 0.95
    assert mask[tp.labels == Tissue.CAVITY].mean() > 0.99


def test_deepbet_on_a_raw_clinical_post_contrast_t1():
    root = shared_data("tcga-lgg-brats-toolkit", "TCGA-FG-6692_raw")
    path = next(root.glob("*POST_GAD*.nii.gz"))
    img = nib.load(str(path))
    vol = Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine)
    mask, _ = brain_mask(vol, method="deepbet")
    assert 1000 <= vol.volume_mm3(mask) / 1000 <= 1900
