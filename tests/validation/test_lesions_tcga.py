"""Validation on TCGA-LGG (BraTS-Toolkit example data): our brain mask against HD-BET's.

TCGA-DU-7294 has HD-BET brain masks for each native-space sequence. Tolerance: Dice ≥ 0.94 on
every sequence (post-contrast T1 at 0.47 × 0.47 × 2.5 mm, FLAIR, T1 and T2 at 5 mm slices).
These images are already skull-stripped, so this checks that the mask keeps the whole brain and
its holes (ventricles, tumour) rather than the skull stripping itself; on the raw, unstripped
TCGA-FG-6692 images the classical method is not reliable (see the lesions report).
The tumour segmentations of this case exist only in BraTS atlas space without the matching
images, and the tumour barely enhances (≤ 31 enhancing voxels in any of them), so an enhancing
Dice cannot be computed here.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume

from ..conftest import shared_data

pytestmark = pytest.mark.validation


@pytest.mark.parametrize("seq", ["t1c", "fla", "t1", "t2"])
def test_brain_mask_agrees_with_hdbet(seq):
    root = shared_data("tcga-lgg-brats-toolkit", "TCGA-DU-7294")
    img = nib.load(str(root / "hdbet_native-space" / f"TCGA-DU-7294_hdbet_native_{seq}.nii.gz"))
    ref_img = nib.load(str(root / "masks_hdbet_native-space" / f"TCGA-DU-7294_hdbet_mask_native_{seq}.nii.gz"))
    ref = np.asarray(ref_img.dataobj) > 0
    vol = Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine)
    mask, _ = brain_mask(vol)
    dice = 2 * np.count_nonzero(mask & ref) / (mask.sum() + ref.sum())
    print(f"{seq}: Dice {dice:.3f}, {vol.volume_mm3(mask) / 1000:.0f} mL vs HD-BET {vol.volume_mm3(ref) / 1000:.0f} mL")
    assert dice >= 0.94
