"""Contralateral reference regions: a lesion mask mirrored across the brain's mid-sagittal plane.

Ratios such as rCBF (ASL) and rADC need a reference in normal-appearing tissue of the other hemisphere. Without a
tissue segmentation, the standard reading-room choice is the mirror image of the lesion ROI.

The mirror is the brain mask's left-right mirror-symmetry plane in world space
(:func:`pseudoprog.lesions.segment.mid_sagittal_fit`, searched within 20 degrees of yaw and 10 of roll of the
scanner's left-right axis). A head turned in the scanner (yaw 5-10 degrees is common; TCIA Brain-Tumor-Progression
11 Post is ~9) has its midline oblique to the image axes, and a mirror along the image axis about the mask's centre
lands about 2 r sin(yaw) off the homologous place (17 mm at 9 degrees for a lesion 55 mm from the midline; measured
on real brain masks in benchmarks/RESULTS.md, l21-mirror). The region is pulled: a grid voxel is in it when its
reflection across the plane, rounded to the nearest voxel, lies in the lesion, so it has no holes on anisotropic or
oblique grids. Voxels of the lesion itself and outside the brain mask are removed.

When the plane cannot be trusted — a mask too small to hold a brain (fewer than ``MIN_LATTICE_POINTS`` points of
the search's 4 mm lattice), a mirror overlap below ``MIN_OVERLAP``, a plane shifted more than ``MAX_SHIFT_MM`` from
the mask's centre or at the edge of the search — the lesion is mirrored about the brain mask's centre of mass along
the image axis closest to world left-right [DERIVED; appropriate for axial acquisitions with the head roughly
straight], and the :class:`Midline` says so (``method``, ``reason``, ``description``) for the marker's provenance.
The plane is searched once per timepoint, on its T1c brain mask, by the lesions stage, and handed to the markers and
the DSC reference (``TimepointInputs.midline``); a map without it searches its own mask, once (the search keeps
its last answers: :func:`pseudoprog.lesions.segment.mid_sagittal_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..align.axes import nearest_axis

# When the mid-sagittal plane is trusted [DERIVED]. A brain is ~19 000-25 000 points of the search's 4 mm lattice
# (1.2-1.6 L; six real masks, benchmarks/RESULTS.md l21-mirror); 1000 points (64 mL) is a slab of a few slices at
# least, while the unit tests' box masks (20 x 10 x 3 mm) have 12. The mirror overlap is 0.95-0.97 on the real
# HD-BET/BraTS masks, 0.94 on the finite-ADC mask of a real Canon DTI and the bright-signal mask of a real Siemens
# pCASL, 0.99 on the synthetic patient; a real two-slice GE DWI's ADC mask has 0.53 (its plane 10.5 mm off the
# centre). Below 0.85 the mask is not mirror-symmetric enough for its plane to be the midline.
# The real planes pass through the mask's centre (shift 0.0 mm); a plane 10 mm off it, or at the search's limits
# (20 mm, 20 degrees of yaw, 10 of roll), is not the brain's midline.
MIN_LATTICE_POINTS = 1000
MIN_OVERLAP = 0.85
MAX_SHIFT_MM = 10.0
_AT_LIMIT_DEG = 0.25


@dataclass(frozen=True)
class Midline:
    """How a lesion is mirrored: across the mid-sagittal ``plane`` (``method == "plane"``) or along the image axis
    about the brain mask's centre (``method == "axis"``, with the ``reason`` the plane was not used)."""

    method: str  # "plane" | "axis"
    normal: np.ndarray  # the mirror plane, world mm (RAS): normal @ x == offset (the plane found, even if unused)
    offset: float
    reason: str  # why the plane was not trusted; "" when it was
    description: str  # "mirrored across ...", for a marker's reference text


@dataclass(frozen=True)
class ContralateralRegion:
    """The mirrored lesion (bool mask on the lesion's grid) and how it was mirrored."""

    region: np.ndarray
    midline: Midline


def left_right_axis(affine: np.ndarray) -> int:
    """Index (0, 1, 2) of the voxel axis most aligned with world x (left–right)."""
    return nearest_axis(affine, 0)


def find_midline(brain: np.ndarray, affine: np.ndarray) -> Midline:
    """The mirror for lesions in ``brain`` (see the module notes). The plane search keeps its last answers
    (:func:`pseudoprog.lesions.segment.mid_sagittal_fit`), so asking again for the same mask costs no search."""
    from ..lesions.segment import PLANE_ROLL_LIMIT_DEG, PLANE_YAW_LIMIT_DEG, mid_sagittal_fit

    fit = mid_sagittal_fit(np.asarray(brain, dtype=bool), np.asarray(affine, dtype=np.float64))
    normal = fit.normal  # read-only: the search's remembered answer
    if fit.n_points < MIN_LATTICE_POINTS:
        reason = f"brain mask too small for a plane search ({fit.n_points} points of a 4 mm lattice)"
    elif fit.overlap < MIN_OVERLAP:
        reason = f"brain mask not mirror-symmetric enough (best mirror overlap {fit.overlap:.0%})"
    elif abs(fit.shift_mm) > MAX_SHIFT_MM:
        reason = f"best plane {abs(fit.shift_mm):.0f} mm from the brain mask's centre"
    elif (
        abs(fit.yaw_deg) >= PLANE_YAW_LIMIT_DEG - _AT_LIMIT_DEG
        or abs(fit.roll_deg) >= PLANE_ROLL_LIMIT_DEG - _AT_LIMIT_DEG
    ):
        reason = f"best plane at the search's limit (yaw {fit.yaw_deg:.1f}°, roll {fit.roll_deg:.1f}°)"
    else:
        return Midline(
            method="plane",
            normal=normal,
            offset=fit.offset,
            reason="",
            description=(
                "mirrored across the brain's mid-sagittal plane (the brain mask's mirror-symmetry plane, "
                f"yaw {fit.yaw_deg:.1f}°, roll {fit.roll_deg:.1f}° from the scanner's left-right axis)"
            ),
        )
    return Midline(
        method="axis",
        normal=normal,
        offset=fit.offset,
        reason=reason,
        description=(
            f"mirrored about the brain's centre along the left-right axis (midline plane not found: {reason})"
        ),
    )


def contralateral_region(
    mask: np.ndarray, brain: np.ndarray, affine: np.ndarray, midline: Midline | None = None
) -> ContralateralRegion:
    """The lesion ``mask`` mirrored across the brain's midline (voxels of ``mask`` and outside ``brain`` removed).

    ``midline`` defaults to :func:`find_midline` of ``brain`` and ``affine``.
    """
    mask = np.asarray(mask, dtype=bool)
    brain = np.asarray(brain, dtype=bool)
    if mask.shape != brain.shape:
        raise ValueError(f"mask {mask.shape} and brain {brain.shape} must share a grid")
    if midline is None:
        midline = find_midline(brain, affine)
    if not brain.any() or not mask.any():
        return ContralateralRegion(np.zeros_like(mask, dtype=bool), midline)
    if midline.method == "plane":
        out = _pull_across_plane(mask, np.asarray(affine, dtype=np.float64), midline.normal, midline.offset)
    else:
        out = _mirror_along_axis(mask, brain, affine)
    return ContralateralRegion(out & brain & ~mask, midline)


def mirror_across_midline(mask: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The lesion ``mask`` mirrored about the brain's midline (voxels of ``mask`` and outside ``brain`` removed)."""
    return contralateral_region(mask, brain, affine).region


def _mirror_along_axis(mask: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The fallback: ``mask`` mirrored along the image axis nearest left-right about the brain's centre of mass."""
    axis = left_right_axis(affine)
    centre = float(np.nonzero(brain)[axis].mean())
    idx = np.nonzero(mask)
    mirrored_axis = np.rint(2 * centre - idx[axis]).astype(int)
    keep = (mirrored_axis >= 0) & (mirrored_axis < mask.shape[axis])
    new_idx = [i[keep] for i in idx]
    new_idx[axis] = mirrored_axis[keep]
    out = np.zeros_like(mask, dtype=bool)
    out[tuple(new_idx)] = True
    return out


def _pull_across_plane(mask: np.ndarray, affine: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Voxels whose reflection across ``normal @ x == offset`` (world mm), rounded to a voxel, lies in ``mask``."""
    n = np.asarray(normal, dtype=np.float64)
    # The reflection as one voxel-to-voxel affine map: x' = x - 2 (n.x - d) n, i.e. H x + 2 d n with H = I - 2 n n^T.
    reflect = np.eye(4)
    reflect[:3, :3] -= 2.0 * np.outer(n, n)
    reflect[:3, 3] = 2.0 * offset * n
    vox = np.linalg.inv(affine) @ reflect @ affine
    shape = np.asarray(mask.shape)
    # Only the box the lesion's bounding box reflects to (one voxel wider) can pull from the lesion.
    idx = np.nonzero(mask)
    lo = np.array([i.min() for i in idx], dtype=float) - 1.0
    hi = np.array([i.max() for i in idx], dtype=float) + 1.0
    corners = np.array([[(hi if b >> a & 1 else lo)[a] for a in range(3)] for b in range(8)])
    # vox is its own inverse (a reflection), so the box's reflection holds every voxel pulling from the lesion.
    reached = corners @ vox[:3, :3].T + vox[:3, 3]
    start = np.clip(np.floor(reached.min(axis=0)).astype(int), 0, shape)
    stop = np.clip(np.ceil(reached.max(axis=0)).astype(int) + 1, 0, shape)
    out = np.zeros(mask.shape, dtype=bool)
    if np.any(stop <= start):
        return out
    grid = np.stack(
        np.meshgrid(*(np.arange(a, b) for a, b in zip(start, stop, strict=True)), indexing="ij"), axis=-1
    ).reshape(-1, 3)
    src = np.rint(grid @ vox[:3, :3].T + vox[:3, 3])
    inside = np.all((src >= 0) & (src < shape), axis=1)
    s = src[inside].astype(np.intp)
    hit = np.zeros(grid.shape[0], dtype=bool)
    hit[np.flatnonzero(inside)] = mask[s[:, 0], s[:, 1], s[:, 2]]
    g = grid[hit]
    out[g[:, 0], g[:, 1], g[:, 2]] = True
    return out


def midline_normal(
    mask: np.ndarray, affine: np.ndarray, what: str = "brain", midline: Midline | None = None
) -> tuple[np.ndarray, str]:
    """The world direction across the midline of ``mask`` (a unit vector), for a plane through the mask's centroid,
    and the plane in words, for provenance (``what`` names the mask: "brain", "head").

    It is the normal of :func:`find_midline`'s plane when that plane is trusted, else world left-right. Callers put
    the mirror plane through the mask's centroid, as before: a symmetric head's centroid lies on its midline, a
    straight head gets the mirror it always had, and the plane search's offset (a 4 mm lattice) stays out of it;
    what the search adds is the orientation of a head turned in the scanner. A ``midline`` given (the timepoint's,
    found on its T1c brain mask by the lesions stage) is used instead of searching ``mask``.
    """
    if midline is None:
        midline = find_midline(mask, affine)
    if midline.method == "plane":
        normal = np.asarray(midline.normal, dtype=np.float64)
        tilt = float(np.degrees(np.arccos(min(1.0, abs(float(normal[0]))))))
        return normal, (
            f"the {what}'s mid-sagittal plane through its centre (the {what} mask's mirror-symmetry orientation, "
            f"{tilt:.1f}° from the scanner's left-right axis)"
        )
    reason = midline.reason.replace("brain mask", f"{what} mask")
    return np.array([1.0, 0.0, 0.0]), (
        f"the plane through the {what}'s centre normal to the scanner's left-right axis (midline plane not found: "
        f"{reason})"
    )
