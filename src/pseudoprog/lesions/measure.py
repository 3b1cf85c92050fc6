"""RANO bidimensional and RANO-BM unidimensional measurement of a lesion mask, in mm.

The algorithm is clinical_rules.md §5.5: on every axial slice, on the largest connected piece of the
lesion there (one lesion, never a line across the gap between two pieces; a rim open by less than
``rim_gap_mm`` sealed, so its core counts), the longest in-plane diameter
(the longest chord of the convex hull of the lesion's pixels, pixel edges included) and the
longest chord perpendicular to it that lies inside the lesion; the slice with the largest product
is reported. All distances use the grid's real spacing from its affine. The axial slices are the
grid's third axis; a grid whose third axis is not within 30° of superior–inferior is measured with its axis
nearest superior–inferior moved last when that one is within 30° (the same voxels stored in another order), and
otherwise (an oblique sagittal or coronal acquisition) resliced onto an axial grid first.

Rim-enhancing lesions (a necrotic core or a resection cavity inside an enhancing ring) are
measured on their outer enhancing margin, i.e. on the enhancing voxels with the enclosed core
filled; :func:`measure_lesion` records the core volume and names the component so the criteria can
apply RANO's rule that a cyst or cavity is measurable only through a solid nodule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from ..align.axes import axial_last, permute_affine
from ..align.mm import ball, less_than, more_than
from ..case import LesionMeasurement
from .rules import value

SOURCE = "lesions.rano_bidimensional"


@dataclass(frozen=True)
class SliceDiameters:
    """Diameters of a lesion on one axial slice (mm) and the chord end points (voxel indices i, j)."""

    slice_index: int
    long_mm: float
    perp_mm: float
    long_ends_ij: tuple[tuple[float, float], tuple[float, float]]
    perp_ends_ij: tuple[tuple[float, float], tuple[float, float]]  # the perpendicular chord, drawn beside the long one

    @property
    def product_mm2(self) -> float:
        return self.long_mm * self.perp_mm


@dataclass(frozen=True)
class Bidimensional:
    """The RANO measurement of one lesion: the slice with the largest product, and RANO-BM's longest diameter."""

    best: SliceDiameters
    longest: SliceDiameters  # slice where the in-plane diameter is longest (RANO-BM)
    n_slices: int
    slice_spacing_mm: float


def _in_plane(affine: np.ndarray) -> tuple[float, float, float]:
    cols = affine[:3, :3]
    s = np.sqrt((cols**2).sum(axis=0))
    if np.any(s <= 0):
        raise ValueError("affine has a zero-length axis")
    unit = cols / s
    if abs(float(unit[:, 0] @ unit[:, 1])) > 1e-3:
        raise ValueError("grid axes i and j are not perpendicular (sheared affine); cannot measure diameters")
    return float(s[0]), float(s[1]), float(s[2])


def _longest_run(inside: np.ndarray) -> tuple[int, int, int]:
    """The longest run of True along the last axis of a 2-D array: (row, first sample, length in samples)."""
    c = np.cumsum(inside, axis=-1)
    reset = np.maximum.accumulate(np.where(~inside, c, 0), axis=-1)
    runs = c - reset  # length of the run ending at each sample
    row, last = np.unravel_index(int(np.argmax(runs)), runs.shape)
    length = int(runs[row, last])
    return int(row), int(last) - length + 1, length


def slice_diameters(mask2d: np.ndarray, sx: float, sy: float, *, slice_index: int = 0) -> SliceDiameters:
    """Longest in-plane diameter and the longest perpendicular chord inside a 2D mask (mm).

    ``sx`` and ``sy`` are the pixel sizes along the two array axes (mm).
    """
    ii, jj = np.nonzero(mask2d)
    if ii.size == 0:
        raise ValueError("empty slice")
    # Pixel corners of the boundary pixels, in mm: their convex hull is the hull of the pixel set.
    boundary = mask2d & ~ndimage.binary_erosion(mask2d)
    bi, bj = np.nonzero(boundary)
    offsets = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])
    corners = (np.stack([bi, bj], axis=1)[:, None, :] + offsets[None]).reshape(-1, 2) * [sx, sy]
    corners = np.unique(corners, axis=0)
    try:
        hull = corners[ConvexHull(corners).vertices]
    except QhullError:  # collinear (a one-pixel-wide line)
        hull = corners
    d = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
    a, b = np.unravel_index(int(np.argmax(d)), d.shape)
    long_mm = float(d[a, b])
    p1, p2 = hull[a], hull[b]
    u = (p2 - p1) / long_mm
    n = np.array([-u[1], u[0]])
    # Chords parallel to n, swept along u, sampled finely against the nearest-neighbour mask.
    step = min(sx, sy) / 4.0
    pts = np.stack([ii, jj], axis=1) * [sx, sy]
    pu, pn = pts @ u, pts @ n
    half = max(sx, sy)
    t = np.arange(pu.min() - half, pu.max() + half + step, step)
    s = np.arange(pn.min() - half, pn.max() + half + step, step)
    xy = t[:, None, None] * u + s[None, :, None] * n  # (T, S, 2)
    fi = np.rint(xy[..., 0] / sx).astype(int)
    fj = np.rint(xy[..., 1] / sy).astype(int)
    ok = (fi >= 0) & (fi < mask2d.shape[0]) & (fj >= 0) & (fj < mask2d.shape[1])
    inside = np.zeros(fi.shape, dtype=bool)
    inside[ok] = mask2d[fi[ok], fj[ok]]
    row, first, length = _longest_run(inside)
    perp_mm = min(float(length) * step, long_mm)
    ends = ((float(p1[0] / sx), float(p1[1] / sy)), (float(p2[0] / sx), float(p2[1] / sy)))
    # the chord's samples stand for step-long pieces: its ends are half a step beyond the first and last sample
    q1 = t[row] * u + (s[first] - step / 2) * n
    q2 = q1 + perp_mm * n
    perp_ends = ((float(q1[0] / sx), float(q1[1] / sy)), (float(q2[0] / sx), float(q2[1] / sy)))
    return SliceDiameters(slice_index, long_mm, perp_mm, ends, perp_ends)


def _one_piece(mask2d: np.ndarray, sx: float = 1.0, sy: float = 1.0) -> np.ndarray:
    """The outline RANO measures on a slice: the largest connected piece (8-connected), its open rim sealed
    (:func:`_sealed`) and its holes filled. RANO measures one lesion, so a line never crosses the gap between two
    separate pieces of a mask. ``sx``, ``sy``: pixel sizes (mm)."""
    labels, n = ndimage.label(mask2d, structure=np.ones((3, 3), dtype=bool))
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        mask2d = labels == int(np.argmax(sizes)) + 1
    return _sealed(mask2d, sx, sy)


def _sealed(piece: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """A rim-enhancing piece with the core it nearly encloses: RANO measures a rim lesion across its whole
    extent, necrotic or cystic core included, and the perpendicular chord must lie inside the outline.

    When the rim is open on the slice (a faint or missing stretch) the enclosed core cannot be filled and the
    perpendicular comes out as short as the rim is thick (TCIA Brain-Tumor-Progression 04 Post: 15 vs 31 mm).
    The piece is closed in-plane with a disk ``rim_gap_mm`` across; only the interior this closing seals (holes
    of the closed piece that are not holes of the piece) and the bridge across the gap are added, so a concavity
    or notch of the outline wider than the disk stays open and nothing outside the piece's own outline is taken.
    """
    filled = np.asarray(ndimage.binary_fill_holes(piece))
    r = 0.5 * value("measurement", "rim_gap_mm")
    disk = ball(r, (sx, sy))
    pad = max(disk.shape) // 2 + 1
    closed = ndimage.binary_closing(np.pad(piece, pad), structure=disk)[pad:-pad, pad:-pad] | piece
    sealed = np.asarray(ndimage.binary_fill_holes(closed)) & ~closed & ~filled
    if not sealed.any():
        return filled
    bridge = closed & ~piece & ndimage.binary_dilation(sealed, structure=np.ones((3, 3), dtype=bool))
    return np.asarray(ndimage.binary_fill_holes(piece | sealed | bridge))


def bidimensional(mask: np.ndarray, affine: np.ndarray) -> Bidimensional:
    """RANO bidimensional measurement of one lesion (3D boolean mask on an axial grid)."""
    if mask.ndim != 3:
        raise ValueError(f"mask must be 3D, got shape {mask.shape}")
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("cannot measure an empty lesion mask")
    sx, sy, sz = _in_plane(affine)
    ks = np.nonzero(mask.any(axis=(0, 1)))[0]
    per_slice = [slice_diameters(_one_piece(mask[:, :, k], sx, sy), sx, sy, slice_index=int(k)) for k in ks]
    best = max(per_slice, key=lambda d: (d.product_mm2, d.long_mm))
    longest = max(per_slice, key=lambda d: (d.long_mm, d.perp_mm))
    return Bidimensional(best=best, longest=longest, n_slices=len(ks), slice_spacing_mm=sz)


def axial_axis_ok(affine: np.ndarray, *, max_angle_deg: float = 30.0) -> bool:
    """True when the grid's third axis is within ``max_angle_deg`` of superior–inferior."""
    k = affine[:3, 2] / np.linalg.norm(affine[:3, 2])
    return abs(float(k[2])) >= math.cos(math.radians(max_angle_deg))


def reslice_axial(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resample a mask onto an axial grid (RAS-aligned, in-plane spacing = finest spacing, slices = coarsest)."""
    from ..align.resample import resample_mask

    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    fine, coarse = float(spacing.min()), float(spacing.max())
    idx = np.argwhere(mask)
    corners = np.array([[*c, 1.0] for c in (idx.min(axis=0) - 2, idx.max(axis=0) + 2)])
    world = affine @ np.array([[a, b, c, 1.0] for a in corners[:, 0] for b in corners[:, 1] for c in corners[:, 2]]).T
    lo, hi = world[:3].min(axis=1), world[:3].max(axis=1)
    new_spacing = np.array([fine, fine, coarse])
    shape = tuple(int(v) for v in np.ceil((hi - lo) / new_spacing).astype(int) + 1)
    new_affine = np.diag([*new_spacing, 1.0])
    new_affine[:3, 3] = lo
    return resample_mask(mask, affine, new_affine, shape), new_affine  # type: ignore[arg-type]


def measurability(
    long_mm: float, perp_mm: float, n_slices: int, slice_spacing_mm: float, *, criteria: str = "rano"
) -> tuple[bool, str]:
    """Is a lesion measurable (RANO 2010, or RANO-BM)? Returns the answer and the reason, with its source."""
    if criteria not in ("rano", "rano_bm"):
        raise ValueError("criteria must be 'rano' or 'rano_bm'")
    min_slices = int(value("measurement", "rano", "min_axial_slices"))
    if n_slices < min_slices:
        return False, f"seen on {n_slices} axial slice(s), fewer than {min_slices} (Wen 2010)"
    if criteria == "rano_bm":
        ld_min = value("measurement", "rano_bm", "min_longest_diameter_mm")
        perp_min = value("measurement", "rano_bm", "min_perpendicular_mm")
    else:
        ld_min = perp_min = value("measurement", "rano", "min_diameter_mm")
    thick = value("measurement", "rano", "thick_slice_limit_mm")
    if more_than(slice_spacing_mm, thick):
        floor = value("measurement", "rano", "thick_slice_factor") * slice_spacing_mm
        ld_min, perp_min = max(ld_min, floor), max(perp_min, floor)
        rule = f" (slices {slice_spacing_mm:.1f} mm apart > {thick:.0f} mm: minimum 2 × slice spacing, Wen 2010)"
    else:
        rule = ""
    if less_than(long_mm, ld_min) or less_than(perp_mm, perp_min):
        return False, f"{long_mm:.1f} × {perp_mm:.1f} mm is below the {ld_min:.0f} × {perp_min:.0f} mm minimum{rule}"
    src = "Lin 2015 (RANO-BM)" if criteria == "rano_bm" else "Wen 2010 (RANO)"
    return True, f"{long_mm:.1f} × {perp_mm:.1f} mm on {n_slices} slices meets the {src} minimum{rule}"


def _line_mm(
    ends_ij: tuple[tuple[float, float], tuple[float, float]], k: int, affine: np.ndarray
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """A chord's end points on slice ``k`` of the grid, in RAS+ mm (to 0.01 mm)."""
    (i1, j1), (i2, j2) = ends_ij
    world = affine @ np.array([[i1, i2], [j1, j2], [k, k], [1.0, 1.0]])
    p1, p2 = (tuple(round(float(v), 2) for v in world[:3, c]) for c in (0, 1))
    return (p1[0], p1[1], p1[2]), (p2[0], p2[1], p2[2])


def measure_lesion(
    enhancing: np.ndarray,
    affine: np.ndarray,
    *,
    core: np.ndarray | None = None,
    flair: np.ndarray | None = None,
    criteria: str = "rano",
    source: str = SOURCE,
) -> tuple[LesionMeasurement, Bidimensional | None]:
    """Diameters, measurability and volumes of one lesion.

    Parameters
    ----------
    enhancing
        Boolean mask of the enhancing voxels (3D).
    affine
        RAS affine of the mask grid (mm).
    core, flair
        Optional masks of the non-enhancing core and the FLAIR abnormality on the same grid.
    criteria
        ``"rano"`` (gliomas, both diameters ≥ 10 mm) or ``"rano_bm"`` (metastases, LD ≥ 10 mm, perpendicular ≥ 5 mm).

    Returns
    -------
    measurement, bidimensional
        ``bidimensional`` is ``None`` when the lesion has no enhancing voxel (then it is not measurable).
    """
    enhancing = np.asarray(enhancing, dtype=bool)
    if enhancing.ndim != 3:
        raise ValueError(f"enhancing mask must be 3D, got shape {enhancing.shape}")
    for name, m in (("core", core), ("flair", flair)):
        if m is not None and m.shape != enhancing.shape:
            raise ValueError(f"{name} mask shape {m.shape} does not match the enhancing mask {enhancing.shape}")
    voxel = float(abs(np.linalg.det(affine[:3, :3])))
    # Volumes to 0.01 mm³: beyond that is floating-point noise of the affine (DICOM vs NIfTI headers).
    enh_mm3 = round(float(enhancing.sum()) * voxel, 2)
    core_mm3 = round(float(np.count_nonzero(core)) * voxel, 2) if core is not None else None
    flair_mm3 = round(float(np.count_nonzero(flair)) * voxel, 2) if flair is not None else None
    if not enhancing.any():
        return (
            LesionMeasurement(
                enhancing_volume_mm3=0.0,
                core_volume_mm3=core_mm3,
                flair_volume_mm3=flair_mm3,
                measurable=False,
                measurability_reason="no enhancing voxel: nothing to measure",
                source=source,
            ),
            None,
        )
    outline = enhancing | (core.astype(bool) if core is not None else False)
    grid_affine = affine
    if not axial_axis_ok(affine):
        # The same grid stored with another axis order (a sagittal or coronal series of an axial acquisition, a NIfTI
        # in another order) is measured on its own voxels with the axial axis moved last; only an oblique grid is
        # resampled.
        order = axial_last(affine)
        if axial_axis_ok(permute_affine(affine, order)):
            outline, grid_affine = np.transpose(outline, order), permute_affine(affine, order)
        else:
            outline, grid_affine = reslice_axial(outline, affine)
    bd = bidimensional(outline, grid_affine)
    ok, reason = measurability(bd.best.long_mm, bd.best.perp_mm, bd.n_slices, bd.slice_spacing_mm, criteria=criteria)
    if criteria == "rano_bm":
        ok, reason = measurability(
            bd.longest.long_mm, bd.longest.perp_mm, bd.n_slices, bd.slice_spacing_mm, criteria="rano_bm"
        )
    return (
        LesionMeasurement(
            long_mm=round(bd.best.long_mm, 2),
            perp_mm=round(bd.best.perp_mm, 2),
            longest_diameter_mm=round(bd.longest.long_mm, 2),
            enhancing_volume_mm3=enh_mm3,
            core_volume_mm3=core_mm3,
            flair_volume_mm3=flair_mm3,
            measurable=ok,
            measurability_reason=reason,
            slice_index=bd.best.slice_index if grid_affine is affine else None,
            source=source,
            long_line_mm=_line_mm(bd.best.long_ends_ij, bd.best.slice_index, grid_affine),
            perp_line_mm=_line_mm(bd.best.perp_ends_ij, bd.best.slice_index, grid_affine),
        ),
        bd,
    )
