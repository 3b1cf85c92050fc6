"""Texture features against pyradiomics itself, and their stability to a rigid resampling.

1. Reproduction: the wrapper, fed a Volume read by nibabel, must give exactly what pyradiomics gives when it
   reads the same NIfTI files itself with SimpleITK and the same settings (tolerance: 1e-6 relative, the
   float rounding of two readers' direction cosines; the wrapper must not change any value).
2. Stability: the same lesion after a rigid move of the head (10° about z, 1.6 mm) resampled with cubic
   interpolation. Measured on this image (71 features): shape features ≤ 1.9 % (mesh volume 0.8 %);
   first-order mean, median and RMS ≤ 0.6 %; median relative change per class 1.3 % (first-order),
   2.8 % (GLCM), 2.7 % (GLRLM), 0.8 % (shape). Features driven by fine texture change much more because
   interpolation smooths it (GLCM DifferenceVariance 27 %, first-order Skewness 17 %, GLRLM
   ShortRunLowGrayLevelEmphasis 49 %): they are reported, not hidden. Tolerances: shape 3 %, first-order
   location 2 %, median per class 5 %.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from pseudoprog.align.resample import resample_mask
from pseudoprog.case import Volume
from pseudoprog.ingest.nifti import load_nifti

radiomics = pytest.importorskip("radiomics", reason="pyradiomics not installed (optional texture extra)")

from pseudoprog.texture.features import extract_features, extraction_settings, texture_table  # noqa: E402

pytestmark = pytest.mark.validation


def _lesion_image(oblique: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ADC-like textured image (mm²/s) with an ellipsoidal lesion, on a 1 x 1 x 2 mm grid."""
    rng = np.random.default_rng(3)
    shape = (72, 72, 36)
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    if oblique:
        aff[:3, :3] = Rotation.from_euler("xz", [12.0, -20.0], degrees=True).as_matrix() @ aff[:3, :3]
    aff[:3, 3] = -(aff[:3, :3] @ (np.array(shape) - 1) / 2)
    tex = ndimage.gaussian_filter(rng.standard_normal(shape), (3, 3, 1.5))
    tex /= tex.std()
    ii, jj, kk = np.indices(shape, dtype=float)
    x, y, z = ii - 35.5, jj - 35.5, 2 * (kk - 17.5)
    lesion = (x - 5) ** 2 / 16**2 + (y + 3) ** 2 / 12**2 + (z - 2) ** 2 / 10**2 <= 1
    img = 1.0e-3 + 1.0e-4 * tex
    img[lesion] += 3e-4 + 0.6e-4 * tex[lesion]
    return img.astype(np.float32), lesion, aff


def test_wrapper_reproduces_pyradiomics_on_the_same_files(tmp_path: Path) -> None:
    import SimpleITK as sitk
    from radiomics import featureextractor

    img, lesion, aff = _lesion_image(oblique=True)
    nib.save(nib.Nifti1Image(img, aff), str(tmp_path / "adc.nii.gz"))
    nib.save(nib.Nifti1Image(lesion.astype(np.uint8), aff), str(tmp_path / "mask.nii.gz"))
    # pyradiomics on its own: its reader, its extractor, the settings of the table.
    extractor = featureextractor.RadiomicsFeatureExtractor(**extraction_settings("ADC"))
    extractor.disableAllFeatures()
    for cls in texture_table()["feature_classes"]:
        extractor.enableFeatureClassByName(cls)
    raw = extractor.execute(
        sitk.ReadImage(str(tmp_path / "adc.nii.gz")), sitk.ReadImage(str(tmp_path / "mask.nii.gz")), label=1
    )
    reference = {k: float(v) for k, v in raw.items() if k.startswith("original_") and "MCC" not in k}
    # The wrapper: pseudoprog's own NIfTI reader and geometry conversion.
    volume, _ = load_nifti(tmp_path / "adc.nii.gz")
    mask, _ = load_nifti(tmp_path / "mask.nii.gz")
    ours = extract_features(volume, mask.data > 0.5, image="ADC").features
    assert set(ours) == set(reference)
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, rel=1e-6, abs=1e-12), name


def test_features_stable_to_rigid_resampling() -> None:
    img, lesion, aff = _lesion_image(oblique=False)
    base = extract_features(Volume(img, aff), lesion, image="ADC").features
    move = np.eye(4)
    move[:3, :3] = Rotation.from_euler("z", 10.0, degrees=True).as_matrix()
    move[:3, 3] = [1.3, -0.7, 0.9]
    new_aff = move @ aff
    m = np.linalg.inv(aff) @ new_aff
    moved = ndimage.affine_transform(img, m[:3, :3], offset=m[:3, 3], order=3, mode="nearest")
    moved_mask = resample_mask(lesion, aff, new_aff, lesion.shape)
    after = extract_features(Volume(moved.astype(np.float32), new_aff), moved_mask, image="ADC").features
    rel = {k: abs(after[k] - base[k]) / max(abs(base[k]), 1e-12) for k in base}
    shape = [v for k, v in rel.items() if "_shape_" in k]
    assert max(shape) < 0.03
    for name in ("original_firstorder_Mean", "original_firstorder_Median", "original_firstorder_RootMeanSquared"):
        assert rel[name] < 0.02, name
    for cls in ("firstorder", "glcm", "glrlm", "shape"):
        values = [v for k, v in rel.items() if f"_{cls}_" in k]
        assert float(np.median(values)) < 0.05, cls
