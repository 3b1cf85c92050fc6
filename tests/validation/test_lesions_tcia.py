"""Validation on TCIA Brain-Tumor-Progression: 11 GBM patients, tumour masks at two timepoints.

The stored NIfTI files lost the true voxel size (1 mm "voxels", resized in-plane), so only
relative change is meaningful. Every patient is measured at both timepoints from the provided
masks (imported through our NIfTI importer and measured with our RANO code): the percent change of
the sum of products (SPD, ≤ 5 largest components) and of volume is reported per patient.
Checks: the imported volume equals the provider's voxel count exactly at both times (so the
volume change is exact), every measurement is positive, and the SPD changes rank the patients
like the volume changes (Spearman rho > 0.5): the product is a coarse surrogate of volume, and on
multifocal tumours the two can even change in opposite directions (patient 02: SPD −4 %, volume
+37 %), which is why both are reported.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pseudoprog.ingest.masks import read_nifti_mask
from pseudoprog.lesions.measure import measure_lesion

from ..conftest import shared_data

pytestmark = pytest.mark.validation

# Voxel counts Pre → Post from the data set's PROVENANCE.md.
COUNTS = {
    "01": (8246, 10009),
    "02": (2505, 3439),
    "03": (2198, 2504),
    "04": (2546, 2685),
    "05": (2982, 7398),
    "06": (2710, 1982),
    "07": (310, 1221),
    "08": (3947, 5220),
    "09": (15364, 19066),
    "10": (338, 160),
    "11": (4246, 3502),
}


def _spd_and_volume(path) -> tuple[float, float]:
    import nibabel as nib

    img = nib.load(str(path))
    mask = read_nifti_mask(path, img.affine, img.shape[:3])
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    products = []
    for idx in range(1, n + 1):
        m, _ = measure_lesion(labels == idx, img.affine)
        if m.long_mm is not None and m.perp_mm is not None:
            products.append(m.long_mm * m.perp_mm)
    spd = float(sum(sorted(products, reverse=True)[:5]))
    volume = float(mask.sum()) * float(abs(np.linalg.det(img.affine[:3, :3])))
    return spd, volume


def test_all_11_patients_measured_at_both_timepoints():
    root = shared_data("tcia-brain-tumor-progression-t1c")
    rows = []
    for pid, (n_pre, n_post) in COUNTS.items():
        spd_pre, vol_pre = _spd_and_volume(root / pid / "Pre_Mask.nii.gz")
        spd_post, vol_post = _spd_and_volume(root / pid / "Post_Mask.nii.gz")
        assert (vol_pre, vol_post) == (float(n_pre), float(n_post))  # 1 mm³ "voxels": volume = count
        assert spd_pre > 0 and spd_post > 0
        d_spd = 100 * (spd_post - spd_pre) / spd_pre
        d_vol = 100 * (vol_post - vol_pre) / vol_pre
        rows.append((pid, d_spd, d_vol))
    print("\npatient  ΔSPD %   Δvolume %")
    for pid, d_spd, d_vol in rows:
        print(f"{pid}      {d_spd:7.1f}  {d_vol:7.1f}")
    assert len(rows) == 11
    # SPD is a surrogate of volume: their changes must rank the patients alike (Spearman rho > 0.5).
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    rho = float(np.corrcoef(rank([r[1] for r in rows]), rank([r[2] for r in rows]))[0, 1])
    print(f"Spearman rho(ΔSPD, Δvolume) = {rho:.2f}")
    assert rho > 0.5
