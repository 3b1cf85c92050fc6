"""Per-lesion radiomics features (first-order, GLCM, GLRLM, shape) with pyradiomics, settings recorded.

The wrapper hands pyradiomics the image and mask with their geometry (SimpleITK, LPS) and the settings of
``data/texture.yaml`` for that image, and returns its values unchanged: pseudoprog computes no texture
feature itself. pyradiomics is optional (it needs a special install, see the README); without it every
call raises :class:`~pseudoprog.errors.CannotAssessError` saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ..align.itk import to_sitk
from ..case import Volume
from ..errors import CannotAssessError
from ..files import load_table

INSTALL_HINT = (
    'pip install "numpy<2.4" setuptools wheel versioneer && pip install --no-build-isolation pyradiomics==3.0.1'
)


@cache
def texture_table() -> dict[str, Any]:
    """The texture settings (``data/texture.yaml``)."""
    return load_table("texture", "texture")


def _radiomics() -> Any:
    try:
        import radiomics
        from radiomics import featureextractor
    except ImportError as exc:
        raise CannotAssessError(f"cannot assess texture: pyradiomics not installed ({INSTALL_HINT})") from exc
    logging.getLogger("radiomics").setLevel(logging.ERROR)  # its INFO/WARNING chatter names no patient but is noise
    return radiomics, featureextractor


def pyradiomics_available() -> bool:
    try:
        _radiomics()
    except CannotAssessError:
        return False
    return True


@dataclass(frozen=True)
class TextureFeatures:
    """pyradiomics' feature values for one image and mask, and exactly the settings that produced them."""

    image: str  # "T1c" | "FLAIR" | "ADC" | "rCBV"
    features: Mapping[str, float]  # pyradiomics names, e.g. "original_glcm_Contrast"
    settings: Mapping[str, Any]
    library_version: str


def extraction_settings(image: str, *, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The pyradiomics settings for an image kind: the common block, the image's block, then ``overrides``."""
    table = texture_table()
    if image not in table["images"]:
        raise ValueError(f"no texture settings for image '{image}'; known: {', '.join(table['images'])}")
    settings = dict(table["common"]) | dict(table["images"][image]) | dict(overrides or {})
    return settings


def make_extractor(image: str, *, overrides: Mapping[str, Any] | None = None) -> Any:
    """A configured ``RadiomicsFeatureExtractor`` for an image kind (the same one :func:`extract_features` uses)."""
    _, featureextractor = _radiomics()
    settings = extraction_settings(image, overrides=overrides)
    extractor = featureextractor.RadiomicsFeatureExtractor(**settings)
    extractor.disableAllImageTypes()
    for image_type in texture_table()["image_types"]:
        extractor.enableImageTypeByName(image_type)
    extractor.disableAllFeatures()
    radiomics, _ = _radiomics()
    classes = radiomics.getFeatureClasses()
    excluded = texture_table().get("excluded_features") or {}
    for cls in texture_table()["feature_classes"]:
        if cls in excluded:
            names = classes[cls].getFeatureNames()  # name -> deprecated?
            keep = [n for n, deprecated in names.items() if not deprecated and n not in excluded[cls]]
            extractor.enableFeaturesByName(**{cls: keep})
        else:
            extractor.enableFeatureClassByName(cls)
    return extractor


def extract_features(
    volume: Volume,
    mask: np.ndarray,
    *,
    image: str,
    overrides: Mapping[str, Any] | None = None,
) -> TextureFeatures:
    """Radiomics features of ``volume`` inside ``mask`` (a boolean array on the volume's grid).

    Parameters
    ----------
    volume
        A 3D image with its RAS+ affine.
    mask
        The lesion region on the same grid.
    image
        Which image this is (selects the bin width and normalisation of ``data/texture.yaml``).
    overrides
        pyradiomics settings that replace the table's (recorded in the result).

    Raises
    ------
    CannotAssessError
        pyradiomics is not installed, or the region is too small for the settings.
    """
    radiomics, _ = _radiomics()
    if volume.is_dynamic:
        raise ValueError("extract_features takes a 3D volume")
    if mask.shape != volume.spatial_shape:
        raise ValueError(f"mask shape {mask.shape} does not match the image {volume.spatial_shape}")
    if not mask.any():
        raise CannotAssessError(f"texture on {image}: the lesion mask is empty on this image's grid")
    extractor = make_extractor(image, overrides=overrides)
    img = to_sitk(np.asarray(volume.data, dtype=np.float32), volume.affine)
    msk = to_sitk(mask.astype(np.float32), volume.affine)
    import SimpleITK as sitk

    msk = sitk.Cast(msk, sitk.sitkUInt8)
    try:
        raw = extractor.execute(img, msk, label=1)
    except ValueError as exc:  # pyradiomics refuses a too-small or flat ROI with ValueError
        raise CannotAssessError(f"texture on {image}: pyradiomics refused the region ({exc})") from exc
    features = {k: float(np.asarray(v)) for k, v in raw.items() if not k.startswith("diagnostics_")}
    return TextureFeatures(
        image=image,
        features=features,
        settings=extraction_settings(image, overrides=overrides),
        library_version=str(radiomics.__version__),
    )
