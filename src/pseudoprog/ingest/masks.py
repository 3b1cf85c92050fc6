"""Read masks drawn elsewhere: NIfTI label maps, DICOM SEG and DICOM RTSTRUCT.

Every importer returns a boolean mask on a *reference grid* (the timepoint's T1c): masks are
assumed to be in the scanner (world) space of that session, as masks drawn on its images are.
NIfTI and SEG masks are resampled with :func:`~pseudoprog.align.resample.resample_mask`; RTSTRUCT
contours (polygons in patient mm) are rasterised slice by slice with the even–odd rule, so a
contour inside another is a hole.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from matplotlib.path import Path as PolygonPath

from ..align.itk import LPS_FROM_RAS
from ..align.resample import resample_mask
from ..errors import InputError
from .dicom import read_dataset

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


def mask_format(path: Path) -> str:
    """``"nifti"``, ``"seg"`` or ``"rtstruct"`` from the file name or its DICOM SOP class."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    try:
        ds = read_dataset(path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises several types for non-DICOM files
        raise InputError(
            "is neither NIfTI nor readable DICOM", file=path, expected="a .nii/.nii.gz, DICOM SEG or RTSTRUCT file"
        ) from exc
    sop = str(getattr(ds, "SOPClassUID", ""))
    if sop == SEG_SOP_CLASS:
        return "seg"
    if sop == RTSTRUCT_SOP_CLASS:
        return "rtstruct"
    raise InputError(
        f"is a DICOM object of SOP class {sop or 'unknown'}, not a segmentation",
        file=path,
        expected="DICOM SEG or RTSTRUCT",
    )


def read_nifti_array(path: Path, *, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The voxel values (squeezed, float) and the affine of a NIfTI image, on its own grid.

    Raises InputError naming ``what`` and the file when it cannot be read as NIfTI.
    """
    try:
        img: Any = nib.load(str(path))
        data = np.asarray(img.get_fdata())
    except Exception as exc:  # nibabel raises several types for a file that is not NIfTI
        raise InputError(f"{what} cannot be read as NIfTI ({type(exc).__name__})", file=path) from exc
    return np.squeeze(data), np.asarray(img.affine)


def _check_grid(ref_affine: np.ndarray, ref_shape: tuple[int, int, int]) -> None:
    if ref_affine.shape != (4, 4) or len(ref_shape) != 3:
        raise ValueError("reference grid needs a 4x4 affine and a 3D shape")


def read_nifti_mask(
    path: Path,
    ref_affine: np.ndarray,
    ref_shape: tuple[int, int, int],
    *,
    labels: Sequence[int] | None = None,
) -> np.ndarray:
    """Voxels of a NIfTI mask whose value is in ``labels`` (default: any non-zero), on the reference grid."""
    _check_grid(ref_affine, ref_shape)
    try:
        img = nib.load(str(path))
    except Exception as exc:
        raise InputError("cannot be read as NIfTI", file=path) from exc
    if not isinstance(img, nib.spatialimages.SpatialImage):
        raise InputError("is not a NIfTI image", file=path)
    data = np.asarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"mask has shape {data.shape}", file=path, expected="a 3D label map")
    if not np.isfinite(data).all():
        raise InputError("mask contains NaN or infinite values", file=path, expected="integer labels")
    sel = data != 0 if labels is None else np.isin(np.rint(data).astype(int), list(labels))
    return _onto(sel, np.asarray(img.affine, dtype=float), ref_affine, ref_shape)


def _onto(mask: np.ndarray, affine: np.ndarray, ref_affine: np.ndarray, ref_shape: tuple[int, int, int]) -> np.ndarray:
    if mask.shape == tuple(ref_shape) and np.allclose(affine, ref_affine, atol=1e-3):
        return mask.astype(bool)
    return resample_mask(mask, affine, ref_affine, ref_shape)


def read_seg_mask(
    path: Path, ref_affine: np.ndarray, ref_shape: tuple[int, int, int], *, segments: Sequence[int] | None = None
) -> np.ndarray:
    """Voxels of the given segments (default: all) of a DICOM SEG, on the reference grid (via highdicom)."""
    import highdicom as hd

    _check_grid(ref_affine, ref_shape)
    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:
        raise InputError("cannot be read as DICOM SEG", file=path) from exc
    numbers = list(seg.segment_numbers)
    wanted = numbers if segments is None else list(segments)
    missing = sorted(set(wanted) - set(numbers))
    if missing:
        raise InputError(f"has no segment(s) {missing}", file=path, expected=f"segment numbers in {numbers}")
    vol = seg.get_volume(segment_numbers=wanted, combine_segments=True, relabel=True)
    img = vol.to_nibabel()
    data = np.asarray(img.dataobj)
    if data.ndim == 4:
        data = data.max(axis=3)
    return _onto(data > 0, np.asarray(img.affine, dtype=float), ref_affine, ref_shape)


def rtstruct_roi_names(path: Path) -> list[str]:
    ds = read_dataset(path)
    return [str(r.ROIName) for r in getattr(ds, "StructureSetROISequence", [])]


def read_rtstruct_mask(
    path: Path, ref_affine: np.ndarray, ref_shape: tuple[int, int, int], *, roi: str | None = None
) -> np.ndarray:
    """Rasterise the closed planar contours of one ROI (default: the only ROI) onto the reference grid.

    Contours must lie in planes of the reference grid's axial (k) slices, as contours drawn on that
    series do; a contour between slices is placed on the nearest slice.
    """
    _check_grid(ref_affine, ref_shape)
    try:
        ds = read_dataset(path)
    except Exception as exc:
        raise InputError("cannot be read as DICOM", file=path) from exc
    rois = {int(r.ROINumber): str(r.ROIName) for r in getattr(ds, "StructureSetROISequence", [])}
    if not rois:
        raise InputError("has no StructureSetROISequence", file=path, expected="an RTSTRUCT with ROIs")
    if roi is None:
        if len(rois) != 1:
            raise InputError(
                f"holds {len(rois)} ROIs; say which one", file=path, expected="roi: one of " + ", ".join(rois.values())
            )
        number = next(iter(rois))
    else:
        matches = [n for n, name in rois.items() if name == roi]
        if not matches:
            raise InputError(f"has no ROI named {roi!r}", file=path, expected="one of " + ", ".join(rois.values()))
        number = matches[0]
    inv = np.linalg.inv(ref_affine) @ LPS_FROM_RAS  # LPS mm → reference voxel index
    out = np.zeros(ref_shape, dtype=bool)
    found = False
    for rc in getattr(ds, "ROIContourSequence", []):
        if int(rc.ReferencedROINumber) != number:
            continue
        for contour in getattr(rc, "ContourSequence", []):
            pts = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
            if len(pts) < 3:
                continue
            found = True
            ijk = (inv @ np.c_[pts, np.ones(len(pts))].T)[:3].T
            k = int(np.rint(ijk[:, 2].mean()))
            if not 0 <= k < ref_shape[2]:
                continue
            poly = PolygonPath(ijk[:, :2])
            lo = np.maximum(np.floor(ijk[:, :2].min(axis=0)).astype(int), 0)
            hi = np.minimum(np.ceil(ijk[:, :2].max(axis=0)).astype(int), np.array(ref_shape[:2]) - 1)
            if np.any(hi < lo):
                continue
            gi, gj = np.mgrid[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1]
            inside = poly.contains_points(np.c_[gi.ravel(), gj.ravel()]).reshape(gi.shape)
            out[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, k] ^= inside  # even-odd: inner contours are holes
    if not found:
        raise InputError(f"ROI {rois[number]!r} has no contour", file=path)
    return out


def read_mask(
    path: Path,
    ref_affine: np.ndarray,
    ref_shape: tuple[int, int, int],
    *,
    label: int | None = None,
    segment: int | None = None,
    roi: str | None = None,
) -> tuple[np.ndarray, str]:
    """Any supported mask file onto the reference grid; returns the mask and its format."""
    path = Path(path)
    if not path.exists():
        raise InputError("mask file does not exist", file=path)
    fmt = mask_format(path)
    if fmt == "nifti":
        mask = read_nifti_mask(path, ref_affine, ref_shape, labels=None if label is None else [label])
    elif fmt == "seg":
        mask = read_seg_mask(path, ref_affine, ref_shape, segments=None if segment is None else [segment])
    else:
        mask = read_rtstruct_mask(path, ref_affine, ref_shape, roi=roi)
    if not mask.any():
        raise InputError("mask is empty on the T1c grid (wrong space or wrong label?)", file=path)
    return mask, fmt
