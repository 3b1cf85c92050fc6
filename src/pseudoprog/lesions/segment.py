"""Classical segmentation of enhancing lesions, their non-enhancing core and the FLAIR abnormality.

Method (all arrays on the timepoint's T1c grid, other series registered onto it):

1. **Enhancement map.** ``E = T1c / median(T1c in brain) − T1 / median(T1 in brain)`` when a
   pre-contrast T1 exists (the subtraction removes T1-bright blood products, fat and
   calcification), otherwise ``E = T1c / median − 1``. Normalising by the brain median makes the map
   unit-free, so no scanner scale enters a threshold.
2. **Candidates** (automatic detection): brain voxels with ``E`` more than ``detection_robust_sd``
   robust SDs above the brain median, split into 26-connected components; components smaller than
   ``min_candidate_volume_mm3`` or tube-like (elongation > ``max_elongation``: vessels) are dropped, and so are
   sheets (flatness of the region the voxels' boxes cover, :func:`shape_of`) and structures on one axial slice
   (no lesion is measurable there, RANO).
   Each candidate is then grown like a reader's click at its centroid (step 3), within
   ``automatic_growth_mm`` of it, so a target is the whole lesion and not its brightest fragment.
   Structures rejected only as hollow or faint (the bright side of a heterogeneous rim) get a second
   look: the ``second_look_max`` largest are grown the same way and taken when the result is a
   plausible lesion with an enhancing ring round a non-enhancing core (``ring_min_core_fraction``)
   or, where a FLAIR confirms candidates, FLAIR-abnormal surroundings. When a FLAIR (or T2) is given and
   nothing was taken, a second, FLAIR-backed pass (:func:`_flair_backed_pass`) looks at structures peaking
   between ``flair_pass_robust_sd`` and ``detection_robust_sd``: one is taken only when it passes every
   shape test, lies mostly in FLAIR-abnormal tissue (``flair_pass_min_share``) and is the only such
   structure or clearly the largest (``flair_pass_dominance``); its note says how it was found. When still
   nothing was taken (and detection did not refuse), a ring-backed pass (:func:`_ring_backed_pass`) takes a faint
   structure (above ``ring_pass_robust_sd``) on its shape alone: an enhancing ring round a darker core
   (``ring_min_core_fraction``, gaps up to ``ring_gap_mm`` closed in-plane) that passes every shape test and is
   the only or clearly the largest such ring (``ring_pass_dominance``). When still nothing was taken, a last,
   dominance-backed pass (:func:`_dominance_backed_pass`) grows the first pass's compact structures that stand at
   least ``seed_min_contrast_sd`` local SDs above their surroundings (under ``automatic_min_contrast_sd``: a tumour's
   fragments on thick slices) and takes the largest grown mass when it is the only or clearly the largest one
   (``dominance_pass_dominance``) and at least RANO's 10 mm thick. On thick slices (``slice_level_anisotropy``) a
   slice-levelled last pass (:func:`_slice_levelled_pass`) runs the same pass on the map with each slice's brain
   median subtracted and takes its mass only when one of its structures stands the first pass's
   ``automatic_min_contrast_sd`` there and it is not astride the midline (:func:`deep_midline_structure`). A target,
   once taken, is completed as a reader's click is (:func:`_completed_like_a_click`: across the brain mask's edge,
   and the separate pieces of its rim, with the dimmer rim round what they add).
3. **Seeded growth**: inside the seed's region (a point's ball, or a box) the peak must stand
   ``seed_min_contrast_sd`` local SDs above the brain around it (else a refusal stating the contrast);
   the bright part is the voxels above half-way between the local background and the peak, connected
   to the region; when the peak is faint (< ``rim_max_contrast_sd``) the dimmer rim is added by
   hysteresis (``rim_local_sd`` above the normal-appearing brain around it, within
   ``rim_extension_mm``). A box confines the lesion; a point lets it extend ``point_extension_mm``.
   A point whose ball holds no clear enhancement (a click in a necrotic core) is searched again at
   twice and three times its radius. Thin parts (< ``dural_sheet_mm`` in-plane) at the brain mask's
   surface are cut, so the mask does not run along the enhancing dura. Compact enhancing tissue just
   outside the brain mask but inside its per-slice convex hull (a tumour at the cortex the mask left
   out) is added where it touches the lesion (:func:`beyond_brain_mask`). For a reader's seed, the dimmer rim is
   also taken round the clearly enhancing tissue the growth added (:func:`_with_dimmer_rim`), clearly enhancing
   tissue the brain mask cut off is added across the mask's edge, within ``edge_band_mm`` of it, inside its
   per-slice hull and on the lesion's slices (:func:`_across_the_mask_edge`), and separate compact
   pieces of the same lesion (a broken rim, a second lobe) within ``piece_gap_mm`` of it are added too
   (:func:`_with_pieces`). A reader's seed refused on thick slices (``slice_level_anisotropy``) is judged again with
   each slice's brain median subtracted (:func:`_slice_levelled`: the brain's level steps between thick slices).
4. **Core** = holes of the enhancing mask (3D, and slice by slice) — necrosis or a cavity — and, slice by slice, the
   brain a rim encloses together with the brain mask's edge (a rim at the surface open where it meets the skull,
   :func:`_pockets_at_the_edge`).
5. **FLAIR abnormality** = brain voxels of FLAIR (or T2) above ``flair_robust_sd`` robust SDs,
   refined at half maximum and kept where connected to the lesion, within ``flair_margin_mm``.

Thresholds and their reasons are in ``lesions/data/segmentation.yaml``. A user's own model plugs
in through :data:`Segmenter` (see :func:`run_segmenter`); no weights are shipped.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from ..align.axes import inverse_order, permute_affine, slices_last, transposed
from ..align.brainmask import fill_holes_3d_and_axial, slice_hull
from ..align.mm import at_least, at_most, less_than, more_than, nearest_voxels
from ..case import SeriesKind
from ..errors import CannotAssessError
from .rules import value
from .symmetry import mirrored_overlap

STRUCT26 = np.ones((3, 3, 3), dtype=bool)
STRUCT6 = ndimage.generate_binary_structure(3, 1)  # face neighbours
FWHM_PER_SIGMA = 2.3548  # a Gaussian's full width at half maximum in SDs: 2 sqrt(2 ln 2)


@dataclass(frozen=True)
class Seed:
    """Where a lesion is, as given by a reader: a point (with a search radius) or a box, in world mm (RAS).

    ``lesion_id`` names the lesion; voxel seeds are converted with the T1c affine by the caller
    (:func:`seed_from_voxels`).
    """

    lesion_id: str
    point_mm: tuple[float, float, float] | None = None
    radius_mm: float = 10.0
    box_mm: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None

    def __post_init__(self) -> None:
        if (self.point_mm is None) == (self.box_mm is None):
            raise ValueError("a seed needs exactly one of point_mm or box_mm")
        if self.radius_mm <= 0:
            raise ValueError("seed radius_mm must be > 0")

    def region(self, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        """The seed's search region as a boolean mask on a grid (computed only inside its voxel bounding box)."""
        if self.point_mm is not None:
            lo = np.asarray(self.point_mm) - self.radius_mm
            hi = np.asarray(self.point_mm) + self.radius_mm
        else:
            assert self.box_mm is not None
            lo = np.minimum(self.box_mm[0], self.box_mm[1])
            hi = np.maximum(self.box_mm[0], self.box_mm[1])
        corners = np.array([[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        vox = (np.linalg.inv(affine) @ corners.T)[:3]
        start = np.clip(np.floor(vox.min(axis=1)).astype(int) - 1, 0, shape)
        stop = np.clip(np.ceil(vox.max(axis=1)).astype(int) + 2, 0, shape)
        out = np.zeros(shape, dtype=bool)
        if np.any(stop <= start):
            return out
        sub = tuple(int(b - a) for a, b in zip(start, stop, strict=True))
        ijk = (np.indices(sub, dtype=np.float64).reshape(3, -1) + start[:, None]).astype(np.float64)
        world = (affine[:3, :3] @ ijk + affine[:3, 3:4]).reshape(3, *sub)
        if self.point_mm is not None:
            d2 = sum((world[a] - self.point_mm[a]) ** 2 for a in range(3))
            inside = at_most(np.sqrt(d2), self.radius_mm)
        else:
            inside = np.all([at_least(world[a], lo[a]) & at_most(world[a], hi[a]) for a in range(3)], axis=0)
        out[tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))] = inside
        return out


def seed_from_voxels(
    lesion_id: str,
    affine: np.ndarray,
    *,
    point: tuple[float, float, float] | None = None,
    radius_mm: float = 10.0,
    box: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None,
) -> Seed:
    """A :class:`Seed` from voxel indices of the T1c (converted to world mm with its affine)."""

    def w(p: tuple[float, float, float]) -> tuple[float, float, float]:
        v = affine @ np.array([*p, 1.0])
        return (float(v[0]), float(v[1]), float(v[2]))

    if point is not None:
        return Seed(lesion_id, point_mm=w(point), radius_mm=radius_mm)
    if box is None:
        raise ValueError("give a point or a box")
    return Seed(lesion_id, box_mm=(w(box[0]), w(box[1])))


# How far a reader can rely on what the program found itself being a lesion, by what found it. The first pass's
# bars (4 robust SDs of the brain, compact, intracranial, confirmed by the pre-contrast T1 or the FLAIR) are the ones
# validated to put no target outside the tumour on every real scan; the second look and the FLAIR-backed pass take
# enhancement just under them with a ring or FLAIR abnormality as backing; the last passes take a target on its shape,
# its conspicuity or a coarser scale alone. A click at a lesion's place on another scan is a reader's check of a
# known lesion, not a detection: its outline is what to check.
CONFIDENCE = {
    "first pass": "high",
    "second look": "moderate",
    "FLAIR-backed pass": "moderate",
    "click at its place on another scan": "moderate",
    "ring-backed pass": "low",
    "dominance-backed pass": "low",
    "slice-levelled pass": "low",
    "coarse-scale pass": "low",
}


@dataclass(frozen=True, eq=False)
class SegmentedLesion:
    """One lesion found at one timepoint (masks on the T1c grid)."""

    lesion_id: str
    enhancing: np.ndarray
    core: np.ndarray
    flair: np.ndarray | None
    method: str  # "automatic", "seed", "followed", "imported:<format>", "model:<name>"
    # What found it (a key of CONFIDENCE for the program's own findings, "seed" for a reader's) and how clearly it
    # enhances: the median of its enhancement over the brain 3-15 mm around it, in that shell's robust SDs.
    found_by: str = ""
    contrast_sd: float | None = None

    @property
    def confidence(self) -> str | None:
        """high / moderate / low for what the program found itself; None for a reader's seed or mask, or a model."""
        return CONFIDENCE.get(self.found_by)

    def statement(self) -> str:
        """What found it, the confidence and its contrast, in words (lesions.json, the report's source column)."""
        how = self.found_by or self.method
        parts = [
            f"automatic detection's {how}"
            if self.method == "automatic"
            else "the reader's seed"
            if how == "seed"
            else how
        ]
        if self.confidence is not None:
            parts[0] += f" ({self.confidence} confidence)"
        if self.contrast_sd is not None:
            parts.append(f"{self.contrast_sd:.1f} local SDs above the brain 3-15 mm around it")
        return "; ".join(parts)


@dataclass(frozen=True)
class SegmentationInput:
    """What a segmenter receives: images on the T1c grid (registered), the brain mask and the grid."""

    images: Mapping[SeriesKind, np.ndarray]
    brain: np.ndarray
    affine: np.ndarray


# A user's own model: returns a label map on the T1c grid (0 background, 1 enhancing,
# 2 non-enhancing core, 3 FLAIR abnormality outside both). Lesions are its enhancing components.
Segmenter = Callable[[SegmentationInput], np.ndarray]


def _tied_median(values: np.ndarray) -> float:
    """The median, read within the run of values tied at it as the median of grouped data is (the run spread
    evenly over its quantisation step, the gap to the nearer distinct value).

    Whole-number intensities tie by the thousand, so the plain median of a brain's voxels is a step function of its
    mask: 35 voxels more on one slice moved TCGA-FG-6692's median T1c from 325 to 326 and its robust SD 4 %, and every
    bar in robust SDs with them (benchmarks/RESULTS.md, session 42). Read within the run, it moves by a few
    hundredths. A run holding more than a quarter of the values is no quantisation but a constant region (a
    noise-free phantom, a constant background): its value is the median, as before.

    >>> levels = np.r_[np.repeat(np.arange(10.0), 10), 4.0]  # ten whole-number levels and one voxel more
    >>> float(np.median(levels)), round(_tied_median(levels), 3), _tied_median(np.r_[np.zeros(60), np.arange(40.0)])
    (4.0, 4.455, 0.0)
    """
    v = float(np.median(values))
    n = values.size
    below, above = values < v, values > v
    lo = int(np.count_nonzero(below))
    eq = n - lo - int(np.count_nonzero(above))
    if eq <= 1 or eq > 0.25 * n:
        return v
    gaps = [v - float(values[below].max()) if lo else np.inf, float(values[above].min()) - v if above.any() else np.inf]
    half = min(gaps) / 2.0
    if not np.isfinite(half):
        return v
    return v - half + 2.0 * half * (n / 2.0 - lo) / eq


def _robust(values: np.ndarray) -> tuple[float, float]:
    med = _tied_median(values)
    mad = _tied_median(np.abs(values - med))
    return med, 1.4826 * mad if mad > 0 else float(np.std(values)) or 1e-6


def enhancement_map(t1c: np.ndarray, brain: np.ndarray, t1: np.ndarray | None = None) -> np.ndarray:
    """Unit-free enhancement: T1c − T1 (each over its brain median), or T1c over its median − 1.

    Images whose brain median is not positive (z-scored intensities) are scaled by their robust SD
    instead of their median: every later threshold is relative (robust SDs, fractions of a peak),
    so the choice of scale does not change the result, only whether it can be computed.
    """
    if not brain.any():
        raise ValueError("brain mask is empty")
    for name, arr in (("T1c", t1c), ("T1", t1)):
        if arr is not None and arr.shape != brain.shape:
            raise ValueError(f"{name} shape {arr.shape} does not match the brain mask {brain.shape}")

    def unit(arr: np.ndarray) -> np.ndarray:
        a = np.nan_to_num(np.asarray(arr, dtype=np.float32))
        med, rsd = _robust(a[brain])
        return a / med - 1.0 if med > 0 else (a - med) / rsd

    if t1 is None:
        return unit(t1c)
    return unit(t1c) - unit(t1)


def _spacing(affine: np.ndarray) -> np.ndarray:
    return np.sqrt((affine[:3, :3] ** 2).sum(axis=0))


@dataclass(frozen=True)
class Shape:
    """Shape of an enhancing structure (its holes filled): what tells a lesion from a vessel, sinus or dura."""

    volume_mm3: float
    elongation: float  # sqrt(λ1/λ2) of the coordinate covariance: tubes (vessels, sinuses) are long
    flatness: float  # sqrt(λ2/λ3): sheets (dura, tentorium, falx) are flat
    solidity: float  # voxels / convex-hull volume: branching vessel trees and curved sheets are hollow
    extent_mm: float  # longest axis of its bounding box (mm)
    slices: int  # axial slices it spans

    def problem(self, brain_slices: int) -> str | None:
        """Why this structure cannot be a lesion, or None."""
        if more_than(self.extent_mm, value("segmentation", "max_lesion_extent_mm")):
            return f"it is {self.extent_mm:.0f} mm long, more than a lesion can be"
        if self.slices > value("segmentation", "max_slice_fraction") * brain_slices:
            return f"it spans {self.slices} of the brain's {brain_slices} axial slices"
        if why := self.tube_or_sheet():
            return why
        if self.slices < value("measurement", "rano", "min_axial_slices"):
            # No lesion is measurable on one slice, and a tumour's piece there is found with the rest.
            return f"it lies on {self.slices} axial slice, where no lesion is measurable (Wen 2010)"
        if self.solidity < value("segmentation", "min_solidity"):
            return f"not compact (solidity {self.solidity:.2f}: branching vessels or a curved sheet)"
        return None

    def tube_or_sheet(self) -> str | None:
        """Why this structure is a vessel (a tube) or dura (a sheet), or None."""
        if self.elongation > value("segmentation", "max_elongation"):
            return f"tube-like (elongation {self.elongation:.1f}: a vessel or sinus)"
        # A structure on one slice (of a thick-slice grid) is as thick as the slice: its flatness says nothing.
        if self.slices >= value("measurement", "rano", "min_axial_slices") and self.flatness > value(
            "segmentation", "max_flatness"
        ):
            return f"sheet-like (flatness {self.flatness:.1f}: dura or a sinus wall)"
        return None


def shape_of(mask: np.ndarray, spacing: np.ndarray) -> Shape:
    """Shape measures of one connected structure (holes filled first, so a rim counts as solid).

    Flatness is that of the region the voxels cover, each voxel the box it samples: the voxel centres' covariance
    plus ``spacing² / 12`` per axis (a uniform box of side ``d`` has variance ``d² / 12``). From the centres alone a
    structure on one axial slice has no thickness at all and is a sheet whatever its width; as boxes, one 5 mm slice
    makes it 5 mm thick, and a sheet one voxel thick on a 1 mm grid (dura, falx, tentorium) is still one. Elongation
    is that of the centres: the longest two axes, one of them in-plane, need no such correction (the box term would
    make a vessel running in the plane of one thick slice a 5 mm tall ribbon instead of a tube).
    """
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    filled = fill_holes_3d_and_axial(mask[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1])
    pts = (np.argwhere(filled) + lo) * spacing
    voxel = float(np.prod(spacing))
    n = len(pts)
    extent = float(((hi - lo + 1) * spacing).max())
    if n < 8:
        return Shape(n * voxel, 1.0, 1.0, 1.0, extent, int(hi[2] - lo[2] + 1))
    centres = np.cov(pts.T)
    ev = np.clip(np.linalg.eigvalsh(centres)[::-1], 1e-3, None)
    boxes = np.linalg.eigvalsh(centres + np.diag(np.asarray(spacing, dtype=float) ** 2 / 12.0))[::-1]
    # Convex hull of the voxel corners' span: the voxel centres' hull grown by half a voxel.
    try:
        hull = ConvexHull(pts + np.random.default_rng(0).uniform(-0.5, 0.5, pts.shape) * spacing)
        hull_vol = max(float(hull.volume), voxel)
    except QhullError:  # flat or collinear: one voxel thick
        hull_vol = float(n * voxel) * 10.0
    solidity = min(1.0, n * voxel / hull_vol)
    return Shape(
        n * voxel,
        float(np.sqrt(ev[0] / ev[1])),
        float(np.sqrt(boxes[1] / boxes[2])),
        solidity,
        extent,
        int(hi[2] - lo[2] + 1),
    )


def _local_shell(brain: np.ndarray, region: np.ndarray, spacing: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray]:
    """The brain 3–15 mm around a region (its local background): the box it lies in and the shell within that box."""
    sl = _bbox(region, pad=int(np.ceil(16.0 / spacing.min())))
    d = ndimage.distance_transform_edt(~region[sl], sampling=spacing)
    return sl, more_than(d, 3.0) & at_most(d, 15.0) & brain[sl]


def _shell_background(e: np.ndarray, brain: np.ndarray, region: np.ndarray, spacing: np.ndarray) -> tuple[float, float]:
    """Median and robust SD of the enhancement in the brain 3–15 mm around a region (its local background)."""
    sl, shell = _local_shell(brain, region, spacing)
    if shell.sum() < 20:
        return _robust(e[brain])
    return _robust(e[sl][shell])


def _contrast(e: np.ndarray, brain: np.ndarray, lesion: np.ndarray, spacing: np.ndarray) -> float:
    """How clearly a lesion enhances: its median enhancement over the brain 3-15 mm around it, in local robust SDs."""
    med, rsd = _shell_background(e, brain, lesion, spacing)
    return (float(np.median(e[lesion])) - med) / rsd


def _shell_upper_quartile(img: np.ndarray, brain: np.ndarray, region: np.ndarray, spacing: np.ndarray) -> float:
    """75th percentile of an image in the brain 3–15 mm around a region: oedema on one side is enough."""
    sl, shell = _local_shell(brain, region, spacing)
    return float(np.percentile(img[sl][shell], 75)) if shell.any() else float(np.median(img[brain]))


def _bbox(mask: np.ndarray, *, pad: int) -> tuple[slice, ...]:
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - pad, 0)
    hi = np.minimum(idx.max(axis=0) + pad + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def depth_in_mm(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Each voxel's distance (mm) to the nearest voxel outside ``mask``, the image's border counting as inside
    (``ndimage.distance_transform_edt`` of the whole array), computed on the mask's bounding box and one plane more.

    Exact: a voxel outside that box has a plane of the box between it and the mask that is outside the mask too and
    nearer on every axis; where the mask touches the border the box reaches it, so the border is treated alike.
    Half the work on a brain mask, whose box leaves the head's margins out.
    """
    out = np.zeros(mask.shape, dtype=float)
    if mask.any():
        box = _bbox(mask, pad=1)
        out[box] = ndimage.distance_transform_edt(mask[box], sampling=spacing)
    return out


def on_the_surface(mask: np.ndarray, *, border_outside: bool) -> np.ndarray:
    """The voxels of ``mask`` with a face on its outside (a 6-neighbour not in it; beyond the image's border too
    when ``border_outside``).

    Such a voxel is at the mask's surface whatever its centre's distance to the next voxel outside: on slices
    thicker than ``detection_erosion_mm`` (6.5 mm) that distance is a whole slice, and the mask's first and last
    slices counted as deeper than the outer band (TCIA 06 Pre with 6.5 mm slices: a surface structure taken as a
    target; benchmarks/RESULTS.md, l25-spacing). On slices up to 5 mm these voxels are in the band already.
    """
    return mask & ~ndimage.binary_erosion(mask, structure=STRUCT6, border_value=0 if border_outside else 1)


def within_mm(mask: np.ndarray, reach_mm: float, spacing: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Voxels no farther than ``reach_mm`` from ``mask`` (``distance_transform_edt(~mask) <= reach_mm`` of the
    whole array), computed on the mask's bounding box grown by the reach and one voxel more.

    Exact: every mask voxel is in that box, so inside it the nearest one is found; a voxel outside the box is more
    than the reach away on one axis alone. A lesion's box is a small part of the volume (the tracker's dilation
    of a whole-volume mask took 0.17 s a run). An empty mask gets the whole-array transform's own answer.
    """
    if not mask.any():
        return at_most(ndimage.distance_transform_edt(~mask, sampling=spacing), reach_mm)
    margin = max(int(np.ceil(reach_mm / float(min(spacing)))), 0) + 1
    box = _bbox(mask, pad=margin)
    out = np.zeros(mask.shape, dtype=bool)
    out[box] = at_most(ndimage.distance_transform_edt(~mask[box], sampling=spacing), reach_mm)
    return out


@dataclass(frozen=True, eq=False)
class DetectionMap:
    """What automatic detection judges enhancement on: the brain eroded by ``detection_erosion_mm``, the
    enhancement smoothed over ``detection_smoothing_mm`` (FWHM) and the brain's robust level of the unsmoothed map
    (smoothing only removes isolated voxels, it must not lower the bar). Made once per image, used by both passes."""

    inner: np.ndarray
    smooth: np.ndarray
    median: float
    sd: float

    @classmethod
    def of(
        cls, enhancement: np.ndarray, brain: np.ndarray, spacing: np.ndarray, *, inner: np.ndarray | None = None
    ) -> DetectionMap:
        """``inner``: the eroded brain when another map of this brain already has it (it depends on the brain only)."""
        if inner is None:
            inner = more_than(depth_in_mm(brain, spacing), value("segmentation", "detection_erosion_mm"))
            inner &= ~on_the_surface(brain, border_outside=False)
        smooth = ndimage.gaussian_filter(
            enhancement, value("segmentation", "detection_smoothing_mm") / FWHM_PER_SIGMA / spacing
        )
        med, rsd = _robust(enhancement[brain])
        return cls(inner, smooth, med, rsd)

    def bar(self, robust_sd: float) -> float:
        """The smoothed-map level ``robust_sd`` robust SDs above the brain."""
        return self.median + robust_sd * self.sd


def detect_candidates(
    enhancement: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    *,
    filter_shapes: bool = True,
    flair: np.ndarray | None = None,
    view: DetectionMap | None = None,
) -> tuple[np.ndarray, int, list[str], list[Implausible], list[Implausible]]:
    """Compact, clearly enhancing structures inside the eroded brain (``view``: the image's :class:`DetectionMap`,
    made here when not given).

    When a FLAIR (or T2) is given (the caller does so when there is no pre-contrast T1), a candidate
    must also sit in FLAIR-abnormal tissue (the upper quartile of its 3–15 mm surroundings
    ``flair_min_shell_sd`` robust SDs above the brain): enhancing tumours are surrounded by oedema
    or infiltrated tissue, while vessels, sinuses and the choroid plexus are not.

    Returns labels, their count, notes, the enhancing structures inside the eroded brain that no lesion
    can be (longer than a lesion, spanning most slices): they are never candidates, and
    :func:`judge_implausible` decides, once the targets are grown, whether they only need setting aside or make
    the whole detection unreliable; and the structures rejected only as hollow (a fragment of an open rim is a
    curved sheet) or as faint against their surroundings, which :func:`_second_look` may still take once grown.
    """
    spacing = _spacing(affine)
    voxel = float(np.prod(spacing))
    view = view if view is not None else DetectionMap.of(enhancement, brain, spacing)
    inner = view.inner
    if not inner.any():
        too_thin = "the brain mask is too thin to erode: no automatic detection"
        return np.zeros(brain.shape, dtype=np.int32), 0, [too_thin], [], []
    labels = _bright_parts(view)
    n, hot = int(labels.max()), labels > 0
    if n == 0 or not filter_shapes:
        return labels, n, [], [], []
    min_vol = value("segmentation", "min_candidate_volume_mm3")
    sizes = ndimage.sum_labels(np.ones_like(hot), labels, index=np.arange(1, n + 1)) * voxel
    brain_slices = int(np.count_nonzero(brain.any(axis=(0, 1))))
    keep = np.zeros(n + 1, dtype=bool)
    dropped: list[str] = []
    implausible: list[Implausible] = []
    weak: list[Implausible] = []
    objects = ndimage.find_objects(labels)
    min_contrast = value("segmentation", "automatic_min_contrast_sd")
    min_flair = value("segmentation", "flair_min_shell_sd")
    fz = enhancement_map(flair, brain) if flair is not None else None
    fz_med, fz_rsd = _robust(fz[brain]) if fz is not None else (0.0, 1.0)
    for idx in range(1, n + 1):
        if sizes[idx - 1] < min_vol:
            continue
        sl = objects[idx - 1]
        comp = labels[sl] == idx
        shp = shape_of(comp, spacing)
        why = shp.problem(brain_slices)
        if why is not None:
            text = f"an enhancing structure of {sizes[idx - 1]:.0f} mm³ was not taken as a lesion: {why}"
            if more_than(shp.extent_mm, value("segmentation", "max_lesion_extent_mm")) or "spans" in why:
                implausible.append(Implausible(sl, comp, text))
            else:
                dropped.append(text)
                if why.startswith("not compact"):  # hollow only (every other shape test passed)
                    weak.append(Implausible(sl, comp, text))
            continue
        full = np.zeros(brain.shape, dtype=bool)
        full[sl] = comp
        contrast = _contrast(enhancement, brain, full, spacing)
        if contrast < min_contrast:
            dropped.append(
                f"an enhancing structure of {sizes[idx - 1]:.0f} mm³ was not taken as a lesion: it stands only "
                f"{contrast:.1f} local SDs above its surroundings (< {min_contrast:.0f})"
            )
            weak.append(Implausible(sl, comp, dropped[-1]))
            continue
        if fz is not None:
            f_sd = (_shell_upper_quartile(fz, brain, fill_holes_3d_and_axial(full), spacing) - fz_med) / fz_rsd
            if f_sd < min_flair:
                dropped.append(
                    f"an enhancing structure of {sizes[idx - 1]:.0f} mm³ was not taken as a lesion: "
                    f"the FLAIR around it is normal ({f_sd:.1f} robust SDs from the brain median, "
                    f"< {min_flair:.0f}): a vessel or plexus"
                )
                continue
        keep[idx] = True
    # Too many separate, clearly enhancing structures in the brain the detection looks at: noise or a coarse
    # image, not disease (fragments joined by enhancing tissue into one lesion-shaped structure count once).
    considered = _separate_structures(
        enhancement,
        inner,
        spacing,
        bar=view.bar(value("segmentation", "candidate_count_robust_sd")),
        join_bar=view.bar(value("segmentation", "detection_robust_sd")),
        brain_slices=brain_slices,
    )
    limit = int(value("segmentation", "max_automatic_candidates"))
    if considered > limit:
        raise CannotAssessError(
            f"automatic detection found {considered} separate enhancing candidates (more than {limit}): the image "
            "is too coarse or noisy for unsupervised detection; give a seed per lesion in case.yaml"
        )
    labels = np.where(keep[labels], labels, 0)
    relabelled, n = ndimage.label(labels > 0, structure=STRUCT26)
    return relabelled, n, dropped, implausible, weak


def _separate_structures(
    enhancement: np.ndarray,
    inner: np.ndarray,
    spacing: np.ndarray,
    *,
    bar: float,
    join_bar: float,
    brain_slices: int,
) -> int:
    """How many separate, clearly enhancing structures the eroded brain ``inner`` holds (the noise guard's count).

    Fragments are the pieces of at least ``min_candidate_volume_mm3`` above ``bar`` on the unsmoothed map (the
    brain's edge is partial volume, and faint partial-volume specks stay below the count's own bar). Fragments
    joined by enhancing tissue — one connected structure above ``join_bar`` (the detection bar) on the same
    unsmoothed map — count once when that structure has the shape of one lesion (:meth:`Shape.problem`, holes
    filled): the speckled rim of one tumour breaks at the count's bar into dozens of pieces 2-8 mm apart that its
    dimmer enhancing tissue joins into one ring (TCIA Brain-Tumor-Progression 09 Post: 21 pieces, one structure).
    Specks with normal brain between them stay separate, and fragments of a structure no lesion can be (a row or
    web of specks: tube-like, sheet-like, hollow, longer than a lesion) count one by one.
    """
    voxel = float(np.prod(spacing))
    pieces, n = ndimage.label((enhancement > bar) & inner, structure=STRUCT26)
    if n == 0:
        return 0
    sizes = np.bincount(pieces.ravel())[1:] * voxel
    big = np.flatnonzero(sizes >= value("segmentation", "min_candidate_volume_mm3")) + 1
    if len(big) == 0:
        return 0
    # Every fragment lies inside one structure above the (lower) joining bar.
    joins, _ = ndimage.label((enhancement > join_bar) & inner, structure=STRUCT26)
    boxes = ndimage.find_objects(pieces)
    owner = {int(i): int(joins[boxes[i - 1]][pieces[boxes[i - 1]] == i][0]) for i in big}
    join_boxes = ndimage.find_objects(joins)
    lesion_shaped = {
        lab
        for lab in set(owner.values())
        if shape_of(joins[join_boxes[lab - 1]] == lab, spacing).problem(brain_slices) is None
    }
    alone = sum(1 for i in big if owner[int(i)] not in lesion_shaped)
    return len(lesion_shaped) + alone


@dataclass(frozen=True, eq=False)
class Implausible:
    """An enhancing structure inside the eroded brain that no lesion can be (longer than a lesion, or spanning
    most of the brain's slices): ``mask`` inside the box ``where`` of the grid; ``text`` says what it is and why."""

    where: tuple[slice, ...]
    mask: np.ndarray
    text: str


def thickness_mm(mask: np.ndarray, spacing: np.ndarray) -> float:
    """How thick a structure (holes filled) is at its thickest: the largest, over its voxels, of the shortest
    run of the structure through the voxel along the three grid axes (mm).

    A tube or a sheet is thin everywhere, a lesion is thick at its centre. Runs along the grid axes overstate the
    thickness of an oblique sheet (up to √3 for a sheet at 45° to all three axes), never understate it.

    >>> slab = np.zeros((20, 20, 9), dtype=bool); slab[2:18, 2:18, 4] = True
    >>> thickness_mm(slab, np.array([1.0, 1.0, 3.0]))
    3.0
    """
    if not mask.any():
        return 0.0
    filled = fill_holes_3d_and_axial(mask[_bbox(mask, pad=1)])
    thinnest = np.full(filled.shape, np.inf)
    for axis in range(3):
        line = np.zeros((3, 3, 3), dtype=bool)
        line[tuple(slice(None) if a == axis else 1 for a in range(3))] = True
        runs, _ = ndimage.label(filled, structure=line)
        length = np.bincount(runs.ravel()).astype(float) * float(spacing[axis])
        thinnest = np.minimum(thinnest, length[runs])
    return float(thinnest[filled].max())


def _gap_mm(structure: Implausible, targets: list[np.ndarray], spacing: np.ndarray, *, reach: float) -> float:
    """Distance (mm) from a structure to the nearest target voxel; ``inf`` when none lies within ``reach``."""
    if not targets:
        return float("inf")
    full = np.zeros(targets[0].shape, dtype=bool)
    full[structure.where] = structure.mask
    # Only the structure's box padded by the reach can hold a target voxel within the reach.
    box = _bbox(full, pad=int(np.ceil(reach / spacing.min())) + 1)
    near = np.zeros(full[box].shape, dtype=bool)
    for t in targets:
        near |= t[box]
    if not near.any():
        return float("inf")
    return float(ndimage.distance_transform_edt(~full[box], sampling=spacing)[near].min())


def judge_implausible(
    structures: list[Implausible], targets: list[np.ndarray], affine: np.ndarray
) -> tuple[list[str], list[str]]:
    """Whether implausible structures (:class:`Implausible`) make automatic detection unreliable.

    Such a structure is never a target. It is only set aside, with its reason, when it is clearly not a lesion
    and clearly not part of one: thin everywhere (thinner than ``implausible_max_thickness_mm``: a vessel, a
    sinus or the dura, not a lesion merged with them) and at least ``implausible_clearance_mm`` from every
    target (not a dural tail or spread of that lesion). Otherwise the detection is not reliable here.
    Returns (reasons the detection is unreliable, notes of structures set aside).
    """
    spacing = _spacing(affine)
    max_thick = value("segmentation", "implausible_max_thickness_mm")
    clearance = value("segmentation", "implausible_clearance_mm")
    unsafe: list[str] = []
    set_aside: list[str] = []
    for s in structures:
        thick = thickness_mm(s.mask, spacing)
        if at_least(thick, max_thick):
            unsafe.append(f"{s.text}; it is {thick:.0f} mm thick in places, so a lesion may be merged with it")
            continue
        gap = _gap_mm(s, targets, spacing, reach=clearance)
        if less_than(gap, clearance):
            unsafe.append(f"{s.text}; it lies {gap:.0f} mm from an automatic target, so it may be part of that lesion")
            continue
        where = f"more than {clearance:.0f} mm from every target" if targets else "no automatic target near it"
        set_aside.append(f"{s.text}; set aside: at most {thick:.0f} mm thick (a vessel, sinus or dura) and {where}")
    return unsafe, set_aside


NOT_RELIABLE = "automatic detection not reliable here — give a seed or a mask"


def not_reliable_reason(notes: list[str]) -> str | None:
    """What automatic detection said when it judged itself not reliable on a scan (with the first reason, the note
    after it; the others stay in the notes), or None when it did not (it found targets, or found none it could take:
    "none found")."""
    if NOT_RELIABLE not in notes:
        return None
    why = notes[notes.index(NOT_RELIABLE) + 1 :][:1]
    return f"{NOT_RELIABLE}: {why[0]}" if why and why[0] != NOT_RELIABLE else NOT_RELIABLE


def _upper_background(e: np.ndarray, brain: np.ndarray, region: np.ndarray, spacing: np.ndarray) -> tuple[float, float]:
    """Median and upper-half robust SD of the enhancement in the brain 3–15 mm around a region.

    The SD comes from the upper half only ((75th − 50th percentile) / 0.674): CSF, necrosis and
    oedema darken the lower half of a shell next to a tumour, while whether a voxel enhances is a
    question about the bright tail of the normal-appearing brain.
    """
    sl, shell = _local_shell(brain, region, spacing)
    vals = e[sl][shell] if shell.sum() >= 20 else e[brain]
    p50, p75 = (float(v) for v in np.percentile(vals, [50, 75]))
    return p50, max((p75 - p50) / 0.6745, 1e-6)


def grow_lesion(
    e: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    *,
    core: np.ndarray,
    threshold: float,
    rim: bool,
    allowed: np.ndarray,
    margin: bool = False,
    clicked: np.ndarray | None = None,
    click: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """The enhancing lesion around ``core`` (voxels the reader or the detection pointed at).

    1. Bright part: voxels above ``threshold`` (half-way from the local background to the peak)
       inside ``allowed``, connected to ``core``; pieces under 10 % of the largest are dropped. ``clicked`` (a
       point seed's own ball, whose peak set the threshold, inside the wider ``core``) and ``click`` (its voxel):
       when a piece dropped by size holds more of what is above the threshold in the clicked ball than all the
       pieces kept together, and these do not surround the click on its slice, a larger structure at the edge of
       the ball has outweighed the lesion clicked, and the pieces holding the clicked ball's bright tissue (each at
       least a tenth of the most any holds) are the lesion
       (TCIA Brain-Tumor-Progression 10 Pre under a centre-bright field: a click on the lesion at the vertex grew
       2228 voxels of brightened deep white matter 17 mm from it, none of the lesion's; 10 Post, a click 3 mm off
       its centroid: 2205 voxels of it, 2 in the ball, against the ring's 125). A rim round a necrotic core surrounds
       its click, and stays the lesion when a vessel crosses the core near the click
       (tests/lesions/test_segment_click_beside.py).
    2. Dimmer rim: voxels that stand ``rim_local_sd`` upper-half SDs above the normal-appearing
       brain 3–15 mm around the filled bright part, within ``rim_extension_mm`` of it and connected
       to it (hysteresis): half maximum alone misses the fainter parts of a heterogeneous rim. Only when ``rim``:
       the caller asks for it when the peak is faint (below ``rim_max_contrast_sd`` local SDs); a
       bright lesion's half-maximum edge already holds all visible enhancement, and what lies
       beyond it is the partial-volume fringe.
    3. Clearly enhancing tissue connected to it (:func:`_with_clear_enhancement`), also only when ``rim``.
    4. The dimmer rim of that clearly enhancing tissue (:func:`_with_dimmer_rim`): the same band (``rim_local_sd``
       within ``rim_extension_mm``, against the same background) round what step 3 added, so a lesion's dimmer
       edge is taken wherever its enhancing tissue ends, not only round its brightest part. Only when ``margin``
       (a reader's seed; the growth of automatic candidates is unchanged by it).
    """
    spacing = _spacing(affine)
    hot = (e > threshold) & brain & allowed
    labels, _ = ndimage.label(hot, structure=STRUCT26)
    touching = np.unique(labels[core & hot])
    touching = touching[touching > 0]
    if touching.size == 0:
        return np.zeros(e.shape, dtype=bool)
    sizes = ndimage.sum_labels(np.ones_like(hot), labels, index=touching)
    kept = sizes >= 0.1 * sizes.max()
    bright = np.isin(labels, touching[kept])
    if clicked is not None and click is not None:
        # How much of the clicked ball's bright tissue each piece holds: when one piece dropped by size holds more
        # of it than every piece kept together, the pieces kept only graze the ball (or miss it), and the pieces
        # ranked by what they hold of the ball are the lesion clicked.
        held = ndimage.sum_labels(clicked & hot, labels, index=touching)
        if held[~kept].max(initial=0.0) > held[kept].sum() and not _surrounds(bright, click):
            bright = np.isin(labels, touching[held >= 0.1 * held.max()])
    if not rim:
        return bright
    filled = fill_holes_3d_and_axial(bright)
    bg, spread = _upper_background(e, brain, filled, spacing)
    reach = value("segmentation", "rim_extension_mm")
    sl = _bbox(filled, pad=int(np.ceil((reach + 1.0) / spacing.min())))
    near = at_most(ndimage.distance_transform_edt(~filled[sl], sampling=spacing), reach)
    rim_sd = value("segmentation", "rim_local_sd")
    above = e[sl] > bg + rim_sd * spread
    dim = (above & brain[sl] & near & allowed[sl]) | bright[sl]
    lab2, _ = ndimage.label(dim, structure=STRUCT26)
    keep = np.unique(lab2[bright[sl]])
    out = np.zeros(e.shape, dtype=bool)
    out[sl] = np.isin(lab2, keep[keep > 0])
    grown = _with_clear_enhancement(e, brain, out, allowed, spacing)
    if not margin:
        return grown
    # The clearly enhancing tissue just added has its own dimmer rim, as the bright part has (step 4).
    return _with_dimmer_rim(e, brain, grown, grown & ~out, allowed, spacing, bar=bg + rim_sd * spread)


def _surrounds(mask: np.ndarray, click: tuple[int, int, int]) -> bool:
    """Whether ``click`` lies inside the convex hull of ``mask``'s pixels on its own axial slice."""
    at = np.zeros(mask.shape, dtype=bool)
    at[click] = True
    return bool(axial_hull(mask, at=at)[click])


def _voxel_of(point_mm: tuple[float, float, float], affine: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The grid voxel nearest a world point (clipped to the grid)."""
    ijk = np.linalg.solve(np.asarray(affine, dtype=float), np.array([*point_mm, 1.0]))[:3]
    i, j, k = (int(np.clip(np.rint(v), 0, n - 1)) for v, n in zip(ijk, shape, strict=True))
    return i, j, k


def _with_clear_enhancement(
    e: np.ndarray, brain: np.ndarray, lesion: np.ndarray, allowed: np.ndarray, spacing: np.ndarray
) -> np.ndarray:
    """The lesion plus the tissue connected to it that clearly enhances against the brain around it.

    Half maximum is judged against the lesion's own peak, so the dimmer parts of a heterogeneous rim (still well
    above the brain around them) fall below it, and the 3 mm band of the dimmer rim cannot reach them when they
    lie further away, or on the next of thick slices. Voxels standing ``rim_connected_sd`` upper-half robust SDs
    above the normal-appearing brain 3-15 mm around the lesion (as much as a seed's peak must stand) and connected
    to it inside ``allowed`` are added (hysteresis with no distance limit), but only through tissue that survives
    an in-plane opening with a ``strand_mm`` disk, so the growth never runs along a line one or two voxels wide
    (the falx, the dura, a vessel) that touches the lesion.
    """
    if not lesion.any():
        return lesion
    bg, spread = _upper_background(e, brain, fill_holes_3d_and_axial(lesion), spacing)
    clear = ((e > bg + value("segmentation", "rim_connected_sd") * spread) & brain & allowed) | lesion
    return _through_thick_tissue(_parts_touching(clear, lesion), lesion, spacing)


def _with_dimmer_rim(
    e: np.ndarray,
    brain: np.ndarray,
    lesion: np.ndarray,
    added: np.ndarray,
    allowed: np.ndarray,
    spacing: np.ndarray,
    *,
    bar: float,
) -> np.ndarray:
    """The lesion plus the dimmer rim round the clearly enhancing tissue ``added`` to it (:func:`grow_lesion`, step 4).

    The dimmer rim (voxels above ``bar``, the ``rim_local_sd`` band, within ``rim_extension_mm``, connected to the
    lesion) is the partial-volume edge and the fainter margin of enhancing tissue. Step 2 takes it round the bright
    part only, so where :func:`_with_clear_enhancement` extends the lesion (a heterogeneous rim's dimmer lobe, the
    next thick slice) the lesion ended at the 3 SD bar with no edge at all, while round the bright part it ends at
    1 SD: the same tissue was drawn to a different edge depending on which step reached it. Measured on TCIA
    Brain-Tumor-Progression (benchmarks/RESULTS.md, 'dimmer rim round clearly enhancing tissue'): what the seeded
    lesion missed next to such tissue stood a median 2-3 upper-half SDs above the brain, 1-3 mm from the mask.
    """
    if not added.any():
        return lesion
    reach = value("segmentation", "rim_extension_mm")
    sl = _bbox(added, pad=int(np.ceil((reach + 1.0) / spacing.min())))
    # Round the added tissue's body only, not round the specks and strands at its edge (a vessel's start), so the band
    # cannot run along a line one or two voxels wide further than the connected step itself does.
    body = added[sl] & ndimage.binary_opening(
        lesion[sl], structure=_axial_disk(value("segmentation", "strand_mm"), spacing)
    )
    if not body.any():
        return lesion
    near = within_mm(body, reach, spacing)
    dim = ((e[sl] > bar) & brain[sl] & near & allowed[sl]) | lesion[sl]
    out = lesion.copy()
    out[sl] = _parts_touching(dim, lesion[sl])
    return out


def _parts_touching(mask: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The 26-connected parts of ``mask`` that hold a voxel of ``at``."""
    labels, _ = ndimage.label(mask, structure=STRUCT26)
    keep = np.unique(labels[at])
    return np.isin(labels, keep[keep > 0])


def _through_thick_tissue(
    grown: np.ndarray, lesion: np.ndarray, spacing: np.ndarray, *, thin_outside: np.ndarray | None = None
) -> np.ndarray:
    """``grown`` (tissue connected to ``lesion``) kept only where it is reached from the lesion through tissue thicker
    than a strand: a line one or two voxels wide in the axial plane (the falx, the dura, a vessel) is not followed.
    Within ``thin_outside``, tissue thinner than ``dural_sheet_mm`` in-plane is not kept either."""
    sl = _bbox(grown, pad=2)
    disk = _axial_disk(value("segmentation", "strand_mm"), spacing)
    # Closed first, so a speckled rim (noise leaves single voxels under the bar) is not opened away with the lines.
    closed = ndimage.binary_closing(grown[sl], structure=disk)
    body = (ndimage.binary_opening(closed, structure=disk) & grown[sl]) | lesion[sl]
    if thin_outside is not None:
        sheet = ndimage.binary_opening(closed, structure=_axial_disk(value("segmentation", "dural_sheet_mm"), spacing))
        body &= ~(thin_outside[sl] & ~sheet)
        body |= lesion[sl]
    out = np.zeros(lesion.shape, dtype=bool)
    out[sl] = _parts_touching(body, lesion[sl])
    return out


def refine_enhancing(
    enhancement: np.ndarray, brain: np.ndarray, candidate: np.ndarray, affine: np.ndarray
) -> np.ndarray:
    """An automatic candidate grown like a seed: half maximum against its local background, connected to the
    candidate within 10 mm of it, then the dimmer rim (:func:`grow_lesion`)."""
    spacing = _spacing(affine)
    bg, spread = _shell_background(enhancement, brain, candidate, spacing)
    peak = float(np.percentile(enhancement[candidate], 95))
    if peak <= bg:
        return candidate.copy()
    thr = bg + value("segmentation", "enhancement_fraction") * (peak - bg)
    # The growth stays within 10 mm of the candidate plus the rim band, and its background shell within 16 mm of
    # that: a crop holding all of it gives the same mask as the whole grid, in a fraction of the time.
    room = 11.0 + value("segmentation", "rim_extension_mm") + 17.0
    box = _bbox(candidate, pad=int(np.ceil(room / spacing.min())))
    cand, e = candidate[box], enhancement[box]
    allowed = within_mm(cand, 10.0, spacing)
    faint = (peak - bg) / spread < value("segmentation", "rim_max_contrast_sd")
    shifted = affine.copy()
    shifted[:3, 3] = affine[:3, :3] @ np.array([b.start for b in box], dtype=float) + affine[:3, 3]
    grown = grow_lesion(e, brain[box], shifted, core=cand, threshold=thr, rim=faint, allowed=allowed)
    out = np.zeros(candidate.shape, dtype=bool)
    out[box] = grown if grown.any() else cand & (e > thr)
    return out


def core_of(enhancing: np.ndarray, brain: np.ndarray | None = None, *, affine: np.ndarray | None = None) -> np.ndarray:
    """The non-enhancing core: holes of the enhancing mask (3D, and per axial slice).

    With ``brain`` (the brain mask the lesion was segmented in), also the core a rim encloses together with the
    brain mask's edge (:func:`_pockets_at_the_edge`): a rim at the brain's surface may stay open where it meets the
    skull, and RANO measures the rim with the core it encloses. The slices are the grid's third axis; with
    ``affine``, the grid's own slice axis (:func:`pseudoprog.align.axes.slices_last`), so a mask stored in another
    axis order gets the same core.
    """
    if affine is not None and (order := slices_last(affine)) != (0, 1, 2):
        moved = core_of(transposed(enhancing, order), None if brain is None else transposed(brain, order))
        return transposed(moved, inverse_order(order))
    out = np.zeros(enhancing.shape, dtype=bool)
    if not enhancing.any():
        return out
    sl = _bbox(enhancing, pad=1)
    out[sl] = fill_holes_3d_and_axial(enhancing[sl]) & ~enhancing[sl]
    if brain is not None:
        out[sl] |= _pockets_at_the_edge(enhancing[sl], brain[sl])
    return out


def _pockets_at_the_edge(enhancing: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Per axial slice, the brain a rim encloses together with the brain mask's edge: a rim-enhancing lesion at the
    brain's surface whose rim is open where it meets the skull (no enhancing wall against the inner table, or a wall
    the raw-image mask left out), so its core is not a hole of the enhancing mask.

    A pocket is a piece of the slice's brain mask without the enhancing voxels (4-connected) that lies wholly inside
    the in-plane convex hull of the slice's enhancing voxels (so never the brain beside or beyond the lesion, which
    reaches out of it) and whose border is at least ``edge_core_min_rim_share`` enhancing, the rest the brain mask's
    edge (the rim encloses it, the edge only closes the gap). TCIA Brain-Tumor-Progression 08 Pre, slice 8: a
    643-voxel core, its border 119 voxels of rim and 19 of the mask's edge (86 %).
    """
    out = np.zeros(enhancing.shape, dtype=bool)
    share = value("segmentation", "edge_core_min_rim_share")
    for k in np.flatnonzero(enhancing.any(axis=(0, 1))):
        rim, plane = enhancing[:, :, k], brain[:, :, k]
        labels, n = ndimage.label(plane & ~rim)
        if n == 0:
            continue
        hull = slice_hull(enhancing[:, :, k : k + 1], (labels > 0)[:, :, None])[:, :, 0]
        outside_hull = np.unique(labels[(labels > 0) & ~hull])
        for idx in np.setdiff1d(np.arange(1, n + 1), outside_hull):
            pocket = labels == idx
            border = ndimage.binary_dilation(pocket) & ~pocket
            if np.count_nonzero(border & rim) >= share * np.count_nonzero(border):
                out[:, :, k] |= pocket
    return out


def flair_abnormality(flair: np.ndarray, brain: np.ndarray, lesion: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """FLAIR/T2-bright brain tissue connected to a lesion (the lesion itself included)."""
    if flair.shape != brain.shape:
        raise ValueError(f"FLAIR shape {flair.shape} does not match the brain mask {brain.shape}")
    if not lesion.any():
        return np.zeros(lesion.shape, dtype=bool)
    f = np.nan_to_num(np.asarray(flair, dtype=np.float32))
    med, rsd = _robust(f[brain])
    spacing = _spacing(affine)
    # Only the lesion's surroundings can be connected to it within the margin: work in that crop.
    sl = _bbox(lesion, pad=int(np.ceil(value("segmentation", "flair_margin_mm") / spacing.min())) + 3)
    out = np.zeros(lesion.shape, dtype=bool)
    out[sl] = _flair_near(f[sl], brain[sl], lesion[sl], spacing, med, rsd)
    return out


def _flair_near(
    f: np.ndarray, brain: np.ndarray, lesion: np.ndarray, spacing: np.ndarray, med: float, rsd: float
) -> np.ndarray:
    """:func:`flair_abnormality` inside a crop (brain-wide median and robust SD given)."""
    near = within_mm(lesion, value("segmentation", "flair_margin_mm"), spacing)
    hot = (f > med + value("segmentation", "flair_robust_sd") * rsd) & brain & near
    if hot.any():
        thr = med + value("segmentation", "enhancement_fraction") * (float(np.median(f[hot])) - med)
        hot = (f > thr) & brain & near
    return _parts_touching(hot | lesion, ndimage.binary_dilation(lesion, iterations=2)) | lesion


def seeded_lesion(
    e: np.ndarray, brain: np.ndarray, affine: np.ndarray, seed: Seed, *, pieces: bool = False
) -> tuple[np.ndarray | None, str]:
    """The enhancing lesion a reader pointed at (see :func:`_seeded_in`), computed in a crop around the seed.

    ``pieces``: also take the dimmer rim round the clearly enhancing tissue the growth adds (:func:`_with_dimmer_rim`),
    the lesion's tissue just past the brain mask's edge (:func:`_across_the_mask_edge`) and its separate pieces near it
    (:func:`_with_pieces`); a reader's seed does, the growth of automatic candidates
    does not (their results are unchanged by both).
    """
    reach = value("segmentation", "point_extension_mm") if seed.point_mm is not None else 0.0
    big = Seed(seed.lesion_id, point_mm=seed.point_mm, radius_mm=3.0 * seed.radius_mm) if seed.point_mm else seed
    region = big.region(affine, e.shape)
    if not (region & brain).any():
        return None, "the seed region holds no brain voxel"
    # Room for the point's extension, the rim band and the 15 mm background shell.
    room = reach + value("segmentation", "rim_extension_mm") + 17.0
    sl = _bbox(region, pad=int(np.ceil(room / _spacing(affine).min())))
    shifted = affine.copy()
    shifted[:3, 3] = affine[:3, :3] @ np.array([s.start for s in sl], dtype=float) + affine[:3, 3]

    envelope = _hull_in_crop(brain, sl)
    mask, said = _seeded_in(e[sl], brain[sl], shifted, seed, envelope=envelope, pieces=pieces)
    if mask is None and pieces:
        # A reader's click refused on thick slices is judged again with each slice's own level (_slice_levelled).
        levelled = _slice_levelled(e[sl], brain[sl], affine)
        if levelled is not e[sl]:
            # The click's own ball only: the two relaxations are not stacked. On the TCIA seeds (the centroid and 3 mm
            # off it) every click the second look accepts is accepted within 10 mm (10 Post), and the one it accepted
            # only in the 30 mm ball, at 3.0 local SDs, was a click between two lesions whose growth took 16 710
            # voxels over 18 slices (11 Post, 3 mm off the centroid: Dice 0.19; benchmarks/RESULTS.md, l21-seed).
            mask, again = _seeded_in(levelled, brain[sl], shifted, seed, envelope=envelope, pieces=pieces, widen=False)
            if mask is None:
                said = f"{said}; {LEVELLED}: {again}"
            else:
                said = f"{again} ({LEVELLED})"
    if mask is None:
        return None, f"{said}{OFF_ENHANCEMENT if seed.point_mm is not None else LOOSE_BOX}"
    out = np.zeros(e.shape, dtype=bool)
    out[sl] = mask
    return out, said


OFF_ENHANCEMENT = (
    ": the click is not on clearly enhancing tissue at any reach searched — put the seed on the enhancing rim or "
    "nodule itself"
)


# A box's peak is its 98th percentile: a lesion filling less than 2 % of the box does not reach it. Judging a refused
# box again on its own enhancing structures was measured and dropped: on real scans a loose box holds other enhancing
# tissue, and the structure taken was not the lesion (TCIA 11 Post; a lesion inserted into TCGA-FG-6692: Dice 0.04;
# benchmarks/RESULTS.md, "A reader's box on real scans").
LOOSE_BOX = (
    ": if the box is much larger than the lesion, its peak is diluted (the box's 98th percentile), and a box round "
    "several lesions or normal enhancing structures is ambiguous — draw the box close round one lesion, or click it"
)


LEVELLED = "with each thick slice's brain level subtracted"


def _slice_levelled(e: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The enhancement with each axial slice's brain median subtracted, on thick slices only.

    Slices ``slice_level_anisotropy`` times thicker than the in-plane voxel are acquired (and their intensity
    scaled) slice by slice, and near the vertex or the skull base each one averages a different share of bone and
    CSF: the brain's level steps between neighbouring slices (TCIA Brain-Tumor-Progression 10 Post: slice brain
    medians 0.11 apart, 1.3 in-plane SDs). A 3-D background shell spans several such slices, so the steps inflate
    its SD and a lesion that stands 3.6-4.3 SDs above the brain on its own slice is judged at 2.4 and refused.
    Subtracting each slice's median (over the brain in the crop; slices with fewer than
    ``slice_level_min_voxels`` brain voxels are left as they are) removes the steps and keeps every in-plane
    contrast. Isotropic volumes are returned unchanged (the same array). Used only when a reader's seed was refused
    on the map as it is (levelling every seed also changed accepted seeds' diameters: TCIA 10 Pre, 05 Post) and by
    automatic detection's last pass (:func:`_slice_levelled_pass`), after every other pass found nothing.
    """
    spacing = _spacing(affine)
    if spacing[2] < value("segmentation", "slice_level_anisotropy") * float(spacing[:2].max()):
        return e
    out = e.copy()
    floor = value("segmentation", "slice_level_min_voxels")
    for k in range(e.shape[2]):
        inside = brain[:, :, k]
        if inside.sum() >= floor:
            out[:, :, k] -= np.median(e[:, :, k][inside])
    return out


def _seeded_in(
    e: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    seed: Seed,
    *,
    envelope: Callable[[np.ndarray], np.ndarray] | None = None,
    pieces: bool = False,
    widen: bool = True,
) -> tuple[np.ndarray | None, str]:
    """The enhancing lesion a reader pointed at, judged against its local background.

    Inside the seed region (a point's ball, or a box) the peak enhancement (98th percentile) must
    stand ``seed_min_contrast_sd`` local robust SDs above the brain around the region; the lesion is
    then the voxels above half-way between that local background and the peak, connected to a ball
    twice the seed's radius (or to the box), plus the dimmer rim when the peak is faint
    (:func:`grow_lesion`). A box confines the lesion to the box; a point's lesion may extend ``point_extension_mm``
    beyond its ball (a reader clicks inside a lesion, not round it). A point whose ball holds no
    clear enhancement (a click in a large necrotic core) is searched again in balls twice and three times as large
    (unless not ``widen``). Returns the mask (None when refused) and what was seen.
    """
    spacing = _spacing(affine)
    # A click in a necrotic core or cavity: its ball may hold no enhancement, so the search widens until the
    # rim around it is inside (a glioblastoma's core can be 40-60 mm across, its rim 20-30 mm from the click).
    factors = (1.0, 2.0, 3.0) if widen else (1.0,)
    radii = [f * seed.radius_mm for f in factors] if seed.point_mm is not None else [0.0]
    min_contrast = value("segmentation", "seed_min_contrast_sd")
    said = ""
    nearer: list[str] = []  # the contrast within each smaller reach, told when the click is refused
    for radius in radii:
        s = Seed(seed.lesion_id, point_mm=seed.point_mm, radius_mm=radius) if seed.point_mm is not None else seed
        region = s.region(affine, e.shape) & brain
        if not region.any():
            said = f"the seed region ({radius:.0f} mm) holds no brain voxel"
            continue
        bg, spread = _shell_background(e, brain, region, spacing)
        peak = float(np.percentile(e[region], 98))
        contrast = (peak - bg) / spread
        where = f" (searched {radius:.0f} mm round the click)" if seed.point_mm is not None else ""
        needs = f"needs ≥ {min_contrast:.1f}"
        said = f"peak enhancement in the seed region{where} {contrast:.1f} local SDs above the surrounding brain"
        said = f"{said} ({needs})"
        if contrast >= min_contrast:
            break
        nearer.append(f"{contrast:.1f} within {radius:.0f} mm")
    else:
        if len(nearer) > 1:
            # A click beside a lesion or between two (TCIA 11 Post: 9 mm from the nearest labelled voxel, 1.0 local SDs
            # within 10 mm): say that the click itself is not on enhancing tissue, at every reach searched.
            said = said.replace(f"({needs})", f"({needs}; {', '.join(nearer[:-1])})")
        return None, said
    thr = bg + value("segmentation", "enhancement_fraction") * (peak - bg)
    if seed.point_mm is not None:
        allowed = within_mm(region, value("segmentation", "point_extension_mm"), spacing)
        # Pieces of one lesion may meet only outside the clicked ball (an irregular or multilobular rim):
        # those touching the ball twice as large belong to it.
        core = Seed(seed.lesion_id, point_mm=seed.point_mm, radius_mm=max(2.0 * seed.radius_mm, radius)).region(
            affine, e.shape
        )
        core &= brain
        # The clicked ball and its voxel: the lesion is what holds the ball, not a larger structure grazing it.
        clicked: np.ndarray | None = region
        click: tuple[int, int, int] | None = _voxel_of(seed.point_mm, affine, e.shape)
    else:
        # The whole box, not only its brain: a lesion at the cortex that the brain mask cuts may be taken past the
        # mask's edge inside the box, as inside a click's reach (the steps that do so keep to the skull's hull).
        allowed = s.region(affine, e.shape)
        core = region
        clicked, click = None, None
    faint = contrast < value("segmentation", "rim_max_contrast_sd")
    mask = grow_lesion(
        e,
        brain,
        affine,
        core=core,
        threshold=thr,
        rim=faint,
        allowed=allowed,
        margin=pieces,
        clicked=clicked,
        click=click,
    )
    mask = _without_dural_sheet(mask, brain, core, spacing)
    if envelope is not None and mask.any():
        mask = _with_tissue_beyond(e, brain, envelope, mask, thr, allowed, spacing)
    if pieces and envelope is not None and mask.any():
        mask = _across_the_mask_edge(e, brain, envelope, mask, allowed, spacing)
    if pieces and mask.any():
        mask = _with_pieces(e, brain, mask, allowed, spacing)
    if not mask.any():
        return None, said
    return mask, f"{said}; bright part above half-way to the peak, dimmer rim by local contrast"


def _across_the_mask_edge(
    e: np.ndarray,
    brain: np.ndarray,
    envelope: Callable[[np.ndarray], np.ndarray],
    lesion: np.ndarray,
    allowed: np.ndarray,
    spacing: np.ndarray,
) -> np.ndarray:
    """A reader-seeded lesion grown across the brain mask's edge where the mask cuts it (reader seeds only).

    A raw-image brain mask can cut an enhancing lesion at the brain's surface (a temporal rim at the skull base, a
    rim round a cavity open to the surface): the tissue left out is often thin or dimmer than the lesion's half
    maximum, so :func:`beyond_brain_mask` (compact tissue above it) does not take it. A reader's click is evidence
    that the lesion is there, so its growth may cross the edge: voxels standing ``rim_connected_sd`` upper-half
    robust SDs above the normal-appearing brain 3-15 mm around the lesion (as :func:`_with_clear_enhancement`),
    connected to the lesion through the brain and through a band outside it, are added. The band is what can still
    be inside the skull next to this lesion: within ``edge_band_mm`` of the brain mask, inside its per-slice convex
    hull (``envelope``: the scalp lies outside it; the dark bone between breaks the connection elsewhere), on the
    axial slices the lesion already occupies (the mask cuts a lesion in-plane; below it lie the skull base's marrow
    and muscles, which the hull of those slices holds) and inside the seed's reach (``allowed``). As in
    :func:`_with_clear_enhancement`, only tissue surviving an in-plane closing then opening with a ``strand_mm`` disk
    is followed, so vessels at the surface are not, and outside the mask only tissue at least ``dural_sheet_mm``
    thick in-plane is kept, so the enhancing dura along the inner table is not.
    """
    bg, spread = _upper_background(e, brain, fill_holes_3d_and_axial(lesion), spacing)
    bar = bg + value("segmentation", "rim_connected_sd") * spread
    slices = np.asarray(lesion.any(axis=(0, 1)))
    band = ~brain & allowed & slices[None, None, :]
    band &= at_most(ndimage.distance_transform_edt(~brain, sampling=spacing), value("segmentation", "edge_band_mm"))
    if not (band & (e > bar)).any():
        return lesion
    band &= envelope(band & (e > bar))
    grown = _parts_touching(((e > bar) & ((brain & allowed) | band)) | lesion, lesion)
    if not (grown & band).any():
        return lesion
    # Outside the mask, the enhancing dura is a sheet 2-3 voxels thick against the inner table: tissue there
    # thinner than dural_sheet_mm in-plane is not taken (as _without_dural_sheet does at the mask's surface).
    return _through_thick_tissue(grown, lesion, spacing, thin_outside=band)


def _with_pieces(
    e: np.ndarray, brain: np.ndarray, lesion: np.ndarray, allowed: np.ndarray, spacing: np.ndarray
) -> np.ndarray:
    """The lesion plus the separate enhancing pieces of it that lie within ``piece_gap_mm`` (reader seeds only).

    A tumour's rim is often broken (a gap on some slices, lobes joined by non-enhancing tissue), and its dimmer
    pieces are speckled by noise: below the lesion's half maximum, and standing ``rim_connected_sd`` local SDs above
    the brain only in places, so neither the growth nor :func:`_with_clear_enhancement` reaches them. A piece is
    taken when, in-plane smoothed at ``detection_smoothing_mm`` (as automatic detection sees a rim), it stands
    ``rim_connected_sd`` upper-half robust SDs above the normal-appearing brain 3-15 mm around the lesion (what a seed
    must show), is compact (it survives an in-plane opening with a ``dural_sheet_mm`` disk, which no vessel, dura or
    falx 1-2 mm wide does), holds at least ``piece_min_volume_mm3``, lies outside the lesion's filled outline (the
    core is not enhancing tissue), inside the seed's reach (``allowed``: the point's extension, or the box) and
    within ``piece_gap_mm`` of the lesion. One pass only: a piece is never reached through another piece.
    """
    if not lesion.any():
        return lesion
    filled = fill_holes_3d_and_axial(lesion)
    bg, spread = _upper_background(e, brain, filled, spacing)
    fwhm = value("segmentation", "detection_smoothing_mm")
    smooth = ndimage.gaussian_filter(e, [fwhm / FWHM_PER_SIGMA / spacing[0], fwhm / FWHM_PER_SIGMA / spacing[1], 0.0])
    bar = bg + value("segmentation", "rim_connected_sd") * spread
    candidate = (smooth > bar) & brain & allowed & ~filled
    disk = _axial_disk(value("segmentation", "dural_sheet_mm"), spacing)
    compact = ndimage.binary_opening(candidate, structure=disk)
    labels, n = ndimage.label(compact, structure=STRUCT26)
    if n == 0:
        return lesion
    near = within_mm(lesion, value("segmentation", "piece_gap_mm"), spacing)
    ids = np.unique(labels[near & compact])
    ids = ids[ids > 0]
    volume = ndimage.sum_labels(compact, labels, index=ids) * float(np.prod(spacing))
    ids = ids[volume >= value("segmentation", "piece_min_volume_mm3")]
    return lesion | np.isin(labels, ids)


def _hull_in_crop(brain: np.ndarray, sl: tuple[slice, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """The brain's per-slice hull (:func:`axial_hull`) tested where asked in the crop ``sl`` of the grid.

    The hull is a property of whole slices: computed on the full grid, tested at the crop's voxels asked about.
    """

    def envelope(where: np.ndarray) -> np.ndarray:
        at = np.zeros(brain.shape, dtype=bool)
        at[sl] = where
        return axial_hull(brain, at=at)[sl]

    return envelope


def axial_hull(mask: np.ndarray, *, at: np.ndarray | None = None) -> np.ndarray:
    """Per axial slice, the convex hull of a mask's pixels (pixel centres), the mask included. ``at``: the voxels
    (a boolean array of the grid) where the hull is tested, the rest being the mask alone; every pixel of each
    slice's bounding box when None.

    >>> m = np.zeros((7, 7, 1), dtype=bool); m[1:6, 1, 0] = m[1, 1:6, 0] = m[5, 1:6, 0] = True
    >>> int(axial_hull(m).sum()), int(m.sum())
    (25, 13)
    """
    mask = np.asarray(mask, dtype=bool)
    if at is None:
        at = np.zeros_like(mask)
        for k in np.flatnonzero(mask.any(axis=(0, 1))):
            ii, jj = np.nonzero(mask[:, :, k])
            at[ii.min() : ii.max() + 1, jj.min() : jj.max() + 1, k] = True
    return mask | slice_hull(mask, at)


def beyond_brain_mask(
    e: np.ndarray, smooth: np.ndarray, brain: np.ndarray, envelope: np.ndarray, threshold: float, spacing: np.ndarray
) -> np.ndarray:
    """Enhancing tissue outside the brain mask that a seeded lesion may still take: a tumour at the cortex.

    A raw-image brain mask leaves out enhancing tumour that reaches the brain's surface (bright, above the
    mask's intensity band, and less than half surrounded by brain), and with it the necrotic core or cavity open
    to the surface (TCIA Brain-Tumor-Progression 09 Post keeps 35 % of its tumour). Such tissue still lies inside
    the skull, which is near convex: inside ``envelope`` (per axial slice, the convex hull of the brain mask,
    :func:`axial_hull`), while the scalp lies outside it. It is taken only where the enhancement, smoothed
    in-plane at ``detection_smoothing_mm`` (``smooth``: a rim is speckled), is above the lesion's bright threshold and
    compact: with the bright tissue inside the mask it survives an in-plane opening with a disk
    ``beyond_mask_compact_mm`` across, so neither the 1-2 mm enhancing dura, a cortical vessel nor the diploe
    of the skull is taken. Of this, the caller keeps only
    what touches the lesion grown inside the brain mask (:func:`_with_tissue_beyond`).
    """
    # Compactness is judged with the enhancing tissue inside the mask: a tumour cut by the mask's edge is thick
    # as a whole even where the part outside is thin, while the dura is thin everywhere.
    hot = (smooth > threshold) & envelope
    if not (hot & ~brain).any():
        return np.zeros(e.shape, dtype=bool)
    disk = _axial_disk(value("segmentation", "beyond_mask_compact_mm"), spacing)
    compact = ndimage.binary_opening(hot, structure=disk)
    return np.asarray(compact) & ~brain & (e > threshold)


def _with_tissue_beyond(
    e: np.ndarray,
    brain: np.ndarray,
    envelope: Callable[[np.ndarray], np.ndarray],
    lesion: np.ndarray,
    threshold: float,
    allowed: np.ndarray,
    spacing: np.ndarray,
) -> np.ndarray:
    """The lesion grown inside the brain mask plus the tissue beyond the mask (:func:`beyond_brain_mask`) that
    touches it, within the seed's allowed region.

    Only pieces touching the lesion grown inside the mask are taken, never a chain of pieces outside the mask
    reached through another: outside tissue is joined to the lesion as a whole, not grown through.
    ``envelope`` gives the brain mask's per-slice hull, tested at the voxels asked for: the bright tissue outside
    the mask on the slices where some of it touches the lesion (none on a skull-stripped image). Only the lesion's
    own axial slices are looked at: below a lesion at the skull base the sinuses, marrow and fat outside the mask are
    compact and bright, and through them the step took, as one piece, bright tissue beside the lesion on its own
    slices that it does not touch (TCIA Brain-Tumor-Progression 06 Post, a click 3 mm from the reference centroid:
    2348 voxels over slices 2-8, none in the reference, Dice 0.65 -> 0.40; benchmarks/RESULTS.md, branch l21-seed).
    """
    if not ((e > threshold) & ~brain & allowed).any():  # what is taken must itself be above the threshold
        return lesion
    fwhm = value("segmentation", "detection_smoothing_mm")
    smooth = ndimage.gaussian_filter(e, [fwhm / FWHM_PER_SIGMA / spacing[0], fwhm / FWHM_PER_SIGMA / spacing[1], 0.0])
    around = ndimage.binary_dilation(lesion, structure=STRUCT26)
    # Only on the axial slices the lesion occupies (as _across_the_mask_edge): the mask cuts a lesion in-plane, and
    # above or below it outside the mask lie the skull base's sinuses, marrow and fat, through which bright tissue
    # outside the mask would chain to tissue beside the lesion on its own slices.
    own = np.asarray(lesion.any(axis=(0, 1)))
    outside = (smooth > threshold) & ~brain & allowed & own[None, None, :]
    pieces, _ = ndimage.label(outside, structure=STRUCT26)
    near = np.unique(pieces[around & outside])
    slices = np.asarray(np.isin(pieces, near[near > 0]).any(axis=(0, 1)))
    if not slices.any():
        return lesion
    hull = envelope(outside & slices[None, None, :])
    beyond = beyond_brain_mask(e, smooth, brain, hull, threshold, spacing) & allowed & own[None, None, :]
    if not beyond.any():
        return lesion
    return lesion | _parts_touching(beyond, around)


def _axial_disk(diameter_mm: float, spacing: np.ndarray) -> np.ndarray:
    """An in-plane disk ``diameter_mm`` across (radius at least one voxel), as a one-slice 3D structuring element."""
    r = np.maximum(nearest_voxels(0.5 * diameter_mm, spacing[:2]), 1)
    disk = np.zeros((2 * r[0] + 1, 2 * r[1] + 1, 1), dtype=bool)
    ii, jj = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1]
    disk[..., 0] = (ii / r[0]) ** 2 + (jj / r[1]) ** 2 <= 1.0
    return disk


def _without_dural_sheet(mask: np.ndarray, brain: np.ndarray, core: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """The lesion without the thin enhancing sheet it reached along the brain's surface (dura, meninges).

    The dura and the meninges enhance and a raw-image brain mask keeps them at its surface; a lesion touching
    them would be grown along them. Parts of the mask thinner than ``dural_sheet_mm`` in the axial plane
    (removed by an in-plane opening) and lying within ``detection_erosion_mm`` of the mask's surface are cut;
    the lesion is what stays connected to the seed. Thin parts deep in the brain (a rim's thin wall) are kept.
    """
    if not mask.any():
        return mask
    sl = _bbox(mask, pad=2)
    m = mask[sl]
    thin = m & ~ndimage.binary_opening(m, structure=_axial_disk(value("segmentation", "dural_sheet_mm"), spacing))
    if not thin.any():
        return mask
    # Depth below the brain mask's surface; the image's border counts as outside.
    depth = ndimage.distance_transform_edt(np.pad(brain, 1), sampling=spacing)[1:-1, 1:-1, 1:-1][sl]
    outer = at_most(depth, value("segmentation", "detection_erosion_mm"))
    outer |= on_the_surface(brain, border_outside=True)[sl]
    kept = m & ~(thin & outer)
    labels, _ = ndimage.label(kept, structure=STRUCT26)
    keep = np.unique(labels[kept & core[sl]])
    keep = keep[keep > 0]
    if keep.size == 0:
        return mask
    out = np.zeros(mask.shape, dtype=bool)
    out[sl] = np.isin(labels, keep)
    return out


def segment_lesions(
    t1c: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    *,
    t1: np.ndarray | None = None,
    flair: np.ndarray | None = None,
    seeds: tuple[Seed, ...] = (),
) -> tuple[list[SegmentedLesion], list[str]]:
    """Segment enhancing lesions (automatically, or one per seed) with core and FLAIR abnormality.

    See :func:`_segment` for the parameters. With a pre-contrast T1, automatic detection reads the T1c's own map
    first (its bars were set and validated on real scans; the T1, not the FLAIR, confirms each candidate there), and
    keeps a target only when it enhances relative to the registered T1 (:func:`_bright_before_contrast`); a refusal
    there is the answer. Only when it finds nothing is T1c − T1 looked at (a tumour the brain's tissue contrast hides);
    a refusal on T1c − T1 then does not undo "none found". Reading T1c − T1 first, as before, was wrong on real scans:
    the subtraction cancels the tissue contrast, so the brain's robust SD (the unit of every bar) shrinks to a third
    and the normally enhancing plexus, veins and cortex stand far above it — TCGA-DU-7294, with no enhancing tumour,
    was refused for "14 separate candidates"; lesions inserted into its T1c or FG-6692's were refused or missed with
    the T1 while the T1c alone found them, and on FG-6692 an inserted ring was missed while two targets were taken, one
    away from every lesion (benchmarks/RESULTS.md, "Automatic detection with a pre-contrast T1 (subtraction path)").
    Seeds (and the follow-up's clicks) with a T1 are read the same way, the T1c's own map first
    (:func:`_seeded_with_t1`).
    """
    if t1 is None:
        return _segment(t1c, brain, affine, flair=flair, seeds=seeds)
    if seeds:
        return _seeded_with_t1(t1c, brain, affine, t1, flair, seeds)
    # The T1c's own map first, the T1 (not the FLAIR) confirming each target; its refusal is the answer.
    lesions, notes = _segment(t1c, brain, affine, flair=flair, flair_confirms=False)
    mask = np.asarray(brain, dtype=bool)
    plain, subtraction = enhancement_map(t1c, mask), enhancement_map(t1c, mask, t1)
    spacing = _spacing(affine)
    kept = []
    for les in lesions:
        before = _bright_before_contrast(plain, subtraction, mask, les.enhancing, spacing)
        if before is None:
            kept.append(les)
        else:
            mm3 = float(les.enhancing.sum()) * float(np.prod(spacing))
            notes.append(f"an automatic target of {mm3:.0f} mm³ was not taken as a lesion: {before}")
    if kept:
        notes.append(
            "automatic detection read the T1c's own enhancement map; each target enhances relative to the registered "
            "pre-contrast T1"
        )
        return [replace(les, lesion_id=f"A{i}") for i, les in enumerate(kept, start=1)], notes
    # Nothing on the T1c's own map: T1c − T1, where the brain's tissue contrast cancels, is looked at too.
    refusal: CannotAssessError | None = None
    try:
        sub_lesions, sub_notes = _segment(t1c, brain, affine, t1=t1, flair=flair)
    except CannotAssessError as exc:
        refusal, sub_lesions, sub_notes = exc, [], [NOT_RELIABLE, exc.reason]
    sub_refused = not sub_lesions and NOT_RELIABLE in sub_notes
    if NOT_RELIABLE in notes:
        # Refused on the T1c's own map: no target from T1c − T1 either (there, normally enhancing plexus, veins and
        # cortex stand far above the brain's narrow spread); when both refuse, T1c − T1 says why, as before.
        if not sub_refused:
            return [], notes
        if refusal is not None:
            raise refusal
        return [], sub_notes
    if not sub_refused:
        return sub_lesions, sub_notes
    # T1c − T1's refusal does not undo "none found" on the T1c's own map.
    if lesions:  # every target of the T1c's own map was bright before contrast
        notes.insert(0, "automatic detection found no enhancing lesion it could take as one (see below)")
    why = "; ".join(n for n in sub_notes[sub_notes.index(NOT_RELIABLE) + 1 :][:2])
    notes.insert(1, f"on T1c − T1 (the pre-contrast T1 subtracted) automatic detection is not reliable: {why}")
    return [], notes


def _seeded_with_t1(
    t1c: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    t1: np.ndarray,
    flair: np.ndarray | None,
    seeds: tuple[Seed, ...],
) -> tuple[list[SegmentedLesion], list[str]]:
    """A reader's seeds (and the follow-up's clicks) with a pre-contrast T1: the T1c's own map first, the T1 confirming.

    Each seed is segmented on the T1c's own map, judged against its local background as without a T1 (the map the
    seeded bars were validated on). What it finds is kept when it enhances relative to the registered T1
    (:func:`_bright_before_contrast`), without the voxels that were as bright before contrast
    (:func:`_came_with_contrast`: white matter or cortex the growth reached along the T1c's tissue contrast). Only a
    seed refused there, or whose lesion was bright before contrast, is segmented on T1c − T1 (a lesion in T1-dark
    grey matter that enhances to white matter's level stands out only there). Segmenting on T1c − T1 first, as
    before, leaked on real scans: its narrow brain spread puts the normally enhancing plexus, deep veins and cortex
    far above the half-way threshold, and a click at the centre of a 20 mm ball inserted into TCGA-DU-7294's T1c
    grew 28 879 voxels for 7 593 (Dice 0.42; 0.83 on the T1c alone; benchmarks/RESULTS.md, "Seeds and clicks with a
    pre-contrast T1").
    """
    own, own_notes = _segment(t1c, brain, affine, flair=flair, seeds=seeds)
    mask = np.asarray(brain, dtype=bool)
    plain, subtraction = enhancement_map(t1c, mask), enhancement_map(t1c, mask, t1)
    spacing = _spacing(affine)
    by_id = {les.lesion_id: les for les in own}
    out: list[SegmentedLesion] = []
    notes: list[str] = []
    for seed in seeds:
        prefix = f"seed of lesion {seed.lesion_id}:"
        said = [n for n in own_notes if n.startswith(prefix)]
        les = by_id.get(seed.lesion_id)
        before = None if les is None else _bright_before_contrast(plain, subtraction, mask, les.enhancing, spacing)
        if les is not None and before is None:
            enh = _came_with_contrast(plain, subtraction, mask, les.enhancing, spacing)
            if enh is not les.enhancing:
                core = core_of(enh, mask)
                fl = flair_abnormality(flair, mask, enh | core, affine) if flair is not None else None
                les = replace(les, enhancing=enh, core=core, flair=fl, contrast_sd=_contrast(plain, mask, enh, spacing))
            out.append(les)
            notes.extend(said)
            continue
        # Refused on the T1c's own map, or what it found there was bright before contrast: T1c − T1.
        sub, sub_notes = _segment(t1c, brain, affine, t1=t1, flair=flair, seeds=(seed,))
        sub_said = [n.removeprefix(prefix).strip() for n in sub_notes if n.startswith(prefix)]
        if les is None:
            seen = "; ".join(n.removeprefix(prefix).strip() for n in said) or "no enhancing tissue found"
            own_why = f"on the T1c's own map, {seen}"
        else:
            own_why = f"what the T1c's own map found there was not taken: {before}"
        # What T1c − T1 finds must enhance relative to the T1 too (a remainder of a structure bright before contrast,
        # where the two images' partial volume and scaling differ, is not taken).
        again = None if not sub else _bright_before_contrast(plain, subtraction, mask, sub[0].enhancing, spacing)
        if sub and again is None and les is not None and not _mostly_within(sub[0].enhancing, les.enhancing, spacing):
            # The lesion found at the click was bright before contrast (blood products, fat): what T1c − T1 grows from
            # the same click elsewhere is the plexus or veins within its reach, not this lesion (TCGA-DU-7294, a ball
            # inserted into T1c and T1: 30 571-79 925 voxels of plexus and deep veins). Only the part of that lesion
            # the contrast brightened is taken (a ring behind white matter the growth followed on the T1c).
            notes.append(
                f"{prefix} no enhancing tissue found in the seed region: {own_why}; what T1c − T1 grows from the click "
                "lies mostly outside that lesion (normally enhancing tissue within reach) and is not taken"
            )
            continue
        if sub and again is None:
            out.append(sub[0])
            notes.append(
                f"{prefix} found on T1c − T1 (the pre-contrast T1 subtracted), {own_why} — check its outline"
                + (f" ({'; '.join(sub_said)})" if sub_said else "")
            )
        elif again is not None:
            # What T1c − T1 shows there is the same structure's remainder (the two images' partial volume differs).
            notes.append(
                f"{prefix} no enhancing tissue found in the seed region: {own_why}; what T1c − T1 shows there is not "
                f"taken either: {again}"
            )
        elif les is None:
            notes.append(f"{said[0] if said else prefix}; on T1c − T1 too: {'; '.join(sub_said) or 'nothing'}")
        else:
            notes.append(
                f"{prefix} no enhancing tissue found in the seed region: {own_why}; on T1c − T1: "
                f"{'; '.join(sub_said) or 'nothing'}"
            )
    return _resolve_overlaps(out), notes


def _height_above_brain_base_mm(mask: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> float:
    """How far (mm, along the scanner's inferior-superior axis) a region's lowest voxel lies above the brain mask's
    lowest voxel: 0 for a region on the mask's lowest level. World coordinates, so a grid stored in any axis order or
    direction gives the same answer."""
    row = np.asarray(affine, dtype=float)[2, :3]

    def lowest(m: np.ndarray) -> float:
        i, j, k = np.nonzero(m)
        return float((row[0] * i + row[1] * j + row[2] * k).min())

    return lowest(mask) - lowest(brain)


def _mostly_within(mask: np.ndarray, other: np.ndarray, spacing: np.ndarray) -> bool:
    """Whether at least half of ``mask`` lies within ``match_dilation_mm`` of ``other`` (registration's slack)."""
    near = within_mm(other, value("segmentation", "match_dilation_mm"), spacing)
    return 2 * int((mask & near).sum()) >= int(mask.sum())


def _came_with_contrast(
    e: np.ndarray, subtraction: np.ndarray, brain: np.ndarray, mask: np.ndarray, spacing: np.ndarray
) -> np.ndarray:
    """A lesion found on the T1c's own map (``e``) without the voxels as bright on the registered pre-contrast T1.

    Voxel by voxel, as :func:`_bright_before_contrast` judges the whole lesion: at least ``t1_min_new_share`` of its
    brightness over the brain 3-15 mm round the lesion (medians) must still be there on T1c − T1 (``subtraction``, the
    same units). Of what is left, the connected pieces of at least ``t1_min_piece_share`` of the largest are kept (a
    voxel of the trimmed tissue passes now and then by noise). The mask itself (the same array) when nothing is
    trimmed; an empty mask when nothing came with the contrast.
    """
    sl, e_bg, sub_bg = _shell_medians(e, subtraction, brain, mask, spacing)
    on_t1c = e[sl] - e_bg
    new = subtraction[sl] - sub_bg
    ok = mask[sl] & (new >= value("segmentation", "t1_min_new_share") * on_t1c)
    if ok.sum() == mask[sl].sum():
        return mask
    labels, n = ndimage.label(ok, structure=STRUCT26)
    if n == 0:
        return np.zeros(mask.shape, dtype=bool)
    sizes = np.asarray(ndimage.sum(ok, labels, index=np.arange(1, n + 1)))
    keep = 1 + np.flatnonzero(sizes >= value("segmentation", "t1_min_piece_share") * sizes.max())
    out = np.zeros(mask.shape, dtype=bool)
    out[sl] = np.isin(labels, keep)
    return out


def _shell_medians(
    e: np.ndarray, subtraction: np.ndarray, brain: np.ndarray, mask: np.ndarray, spacing: np.ndarray
) -> tuple[tuple[slice, ...], np.floating, np.floating]:
    """The brain 3-15 mm round ``mask`` (the rest of the brain in its box when that shell is too small): its box and
    its medians on the T1c's own map (``e``) and on T1c − T1 (``subtraction``), in the maps' own precision."""
    sl, shell = _local_shell(brain, mask, spacing)
    if shell.sum() < 20:
        shell = brain[sl] & ~mask[sl]
    return sl, np.median(e[sl][shell]), np.median(subtraction[sl][shell])


def _bright_before_contrast(
    e: np.ndarray, subtraction: np.ndarray, brain: np.ndarray, mask: np.ndarray, spacing: np.ndarray
) -> str | None:
    """Why a target found on the T1c's own map (``e``) does not enhance relative to the registered pre-contrast T1.

    Its brightness over the brain 3-15 mm around it (medians) on the T1c and on T1c − T1 (``subtraction``, the same
    units): at least ``t1_min_new_share`` of it must come with the contrast, else it was bright before (blood products,
    fat, calcification). None when it enhances.
    """
    _, e_bg, sub_bg = _shell_medians(e, subtraction, brain, mask, spacing)
    on_t1c = float(np.median(e[mask]) - e_bg)
    new = float(np.median(subtraction[mask]) - sub_bg)
    share = value("segmentation", "t1_min_new_share")
    if on_t1c <= 0 or new >= share * on_t1c:
        return None
    return (
        f"it is as bright on the pre-contrast T1: {max(new, 0.0) / on_t1c:.0%} of its brightness over the brain round "
        f"it comes with the contrast (< {share:.0%}): blood products, fat or calcification, not enhancement"
    )


def _segment(
    t1c: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    *,
    t1: np.ndarray | None = None,
    flair: np.ndarray | None = None,
    seeds: tuple[Seed, ...] = (),
    flair_confirms: bool | None = None,
) -> tuple[list[SegmentedLesion], list[str]]:
    """Segment enhancing lesions (automatically, or one per seed) with core and FLAIR abnormality, on one map.

    ``flair_confirms``: whether the FLAIR must confirm each automatic candidate (default: when there is no T1).

    Parameters
    ----------
    t1c, t1, flair
        Images on the same grid (the T1c's); ``t1`` and ``flair`` optional.
    brain
        Boolean brain mask on that grid.
    affine
        RAS affine of the grid. Its slice axis may be stored anywhere: it is moved last for the slice-by-slice rules
        and the masks are returned on the grid as given (:mod:`pseudoprog.align.axes`).
    seeds
        When given, exactly one lesion per seed (named by the seed); otherwise automatic detection
        names lesions ``A1, A2, …`` by decreasing enhancing volume (the tracker renames them).

    Returns
    -------
    lesions, notes
        ``notes`` explains seeds that found nothing, structures that were rejected, a refusal of
        automatic detection (:data:`NOT_RELIABLE`) and an automatic run that found nothing.
    """
    if brain.shape != t1c.shape:
        raise ValueError(f"brain mask shape {brain.shape} does not match T1c {t1c.shape}")
    order = slices_last(affine)
    if order != (0, 1, 2):
        # The slice-by-slice rules work on the grid's third axis: the same head stored in another axis order (a
        # sagittal or coronal series) is segmented with its slice axis moved last, and the masks moved back.
        moved, moved_notes = _segment(
            transposed(t1c, order),
            transposed(brain, order),
            permute_affine(affine, order),
            t1=None if t1 is None else transposed(t1, order),
            flair=None if flair is None else transposed(flair, order),
            seeds=seeds,
            flair_confirms=flair_confirms,
        )
        back = inverse_order(order)
        return [
            replace(
                les,
                enhancing=transposed(les.enhancing, back),
                core=transposed(les.core, back),
                flair=None if les.flair is None else transposed(les.flair, back),
            )
            for les in moved
        ], moved_notes
    brain = np.asarray(brain, dtype=bool)
    e = enhancement_map(t1c, brain, t1)
    notes: list[str] = []
    found: list[tuple[str, np.ndarray, str, str]] = []  # id, mask, method, what found it
    if seeds:
        for seed in seeds:
            mask, said = seeded_lesion(e, brain, affine, seed, pieces=True)
            if mask is None:
                notes.append(f"seed of lesion {seed.lesion_id}: no enhancing tissue found in the seed region ({said})")
                continue
            found.append((seed.lesion_id, mask, "seed", "seed"))
            if LEVELLED in said:
                notes.append(f"seed of lesion {seed.lesion_id}: found on a second look, {said}")
    else:
        # Without a pre-contrast T1 the map cannot tell enhancement from other bright signal (flowing or
        # T1-bright blood, plexus), so the FLAIR context must confirm each automatic candidate.
        confirm = flair if (t1 is None if flair_confirms is None else flair_confirms) else None
        view = DetectionMap.of(e, brain, _spacing(affine))
        labels, n, dropped, implausible, weak = detect_candidates(e, brain, affine, flair=confirm, view=view)
        grown, leaked = _grow_candidates(e, brain, affine, labels, n, view=view)
        by = ["first pass"] * len(grown)  # what found each of ``grown``
        # A candidate whose growth is no lesion is judged like the structures no lesion can be (judge_implausible).
        implausible = implausible + leaked
        # Hollow or faint structures that grow into a ring (or sit in FLAIR-abnormal tissue) are lesions too.
        second = _second_look(e, brain, affine, weak, grown, flair=confirm)
        grown = grown + [mask for mask, _, _ in second]
        by += ["second look"] * len(second)
        # A rejected fragment that lies inside a target is part of that lesion, not a structure left out.
        taken = {rejected for _, _, rejected in second}
        taken |= {w.text for w in weak if any((g[w.where] & w.mask).any() for g in grown)}
        notes.extend([d for d in dropped if d not in taken][:5])
        notes.extend(said for _, said, _ in second)
        kept, kept_by = [], []
        rejected: list[np.ndarray] = []  # what was judged normal anatomy: a completion may not take it back
        plane = mid_sagittal_plane(brain, affine) if grown else None
        voxel_mm3 = float(np.prod(_spacing(affine)))
        deep_max = value("segmentation", "deep_midline_first_pass_max_mm3")
        surface: list[str] = []  # why a kept target is mostly surface tissue (surface_structure)
        for mask, how in zip(grown, by, strict=True):
            sinus = midline_surface_structure(mask, brain, affine, plane=plane, found=mask & (labels > 0))
            if sinus is None and plane is not None:
                sinus = paired_structure(mask, e, brain, affine, plane=plane)
            if sinus is None and plane is not None and mask.sum() * voxel_mm3 <= deep_max:
                # The deep midline's normal enhancing tissue, as the last pass judges it, when it is no larger than
                # such tissue (TCIA 02 Post, 11 Pre taken on 0.8 mm pixels or 3 mm slices, 336-477 mm³; a larger
                # tumour across the midline stays a target; benchmarks/RESULTS.md, l25-spacing).
                sinus = deep_midline_structure(mask, affine, plane=plane)
            mostly_surface = surface_structure(mask, brain, affine) if sinus is None else None
            if sinus is None and mostly_surface is None:
                # Thin anatomy reaching the surface; a target mostly in the outer shell makes the detection not
                # reliable instead (below): there the mask itself holds what the erosion was meant to keep out.
                sinus = thin_surface_structure(mask, brain, affine)
            if sinus is None:
                kept.append(mask)
                kept_by.append(how)
                if mostly_surface is not None:
                    surface.append(mostly_surface)
            else:
                mm3 = float(mask.sum()) * voxel_mm3
                notes.append(f"an enhancing structure of {mm3:.0f} mm³ was not taken as a lesion: {sinus}")
                rejected.append(mask)
        grown, by = kept, kept_by
        if surface:
            grown, by = [], []
            notes[:0] = [NOT_RELIABLE, *(f"an automatic target was not taken: {why}" for why in surface[:3])]
        # A structure no lesion can be is never a target; whether it also makes the detection unreliable depends
        # on whether it could hold or belong to a lesion (judge_implausible).
        unsafe, set_aside = judge_implausible(implausible, grown, affine)
        if unsafe:
            grown, by = [], []
            notes[:0] = [NOT_RELIABLE, *unsafe[:3]]
        # Later passes, each only when no earlier one found a target and detection did not refuse. A target of any
        # pass is judged beside the structures no lesion can be, as a first-pass target is (judge_implausible).
        later: list[tuple[str, Callable[[], tuple[np.ndarray | None, list[str]]]]] = []
        if flair is not None:
            # Enhancement just under the detection bar, taken only inside FLAIR-abnormal tissue.
            later.append(("FLAIR-backed pass", lambda: _flair_backed_pass(e, brain, affine, flair, view)))
        # A faint ring round a non-enhancing core, taken on its shape alone (no FLAIR needed).
        plain = (lambda: enhancement_map(t1c, brain)) if t1 is not None else (lambda: None)
        later.append(("ring-backed pass", lambda: _ring_backed_pass(e, brain, affine, view, plain=plain())))
        # The most conspicuous compact, moderately enhancing mass, by a margin.
        later.append(("dominance-backed pass", lambda: _dominance_backed_pass(e, brain, affine, view)))
        # On thick slices, the first pass's bars once the brain's level steps between slices are undone.
        later.append(("slice-levelled pass", lambda: _slice_levelled_pass(e, brain, affine, view, plane=plane)))
        # A large, moderately enhancing tumour no part of which reaches the bar at 2 mm: the map at a lesion's scale.
        later.append(("coarse-scale pass", lambda: _coarse_scale_pass(e, brain, affine, view, plane=plane)))
        at_base: list[str] = []  # later passes' masses at the skull base, not taken
        for name, look in later:
            if grown or NOT_RELIABLE in notes:
                break
            target, told = look()
            if target is None:
                notes.extend(told)
                continue
            if any(2 * int((target & mask).sum()) >= int(target.sum()) for mask in rejected):
                # The first pass judged this structure normal anatomy (a midline, paired or deep midline structure);
                # a later pass's weaker bars do not make it a lesion (TCIA 05 Post under a 20 % superior-inferior
                # drift: a frontal structure set aside as the superior sagittal sinus, taken back by the
                # dominance-backed pass, 0 % within 5 voxels of the tumour; benchmarks/RESULTS.md, l26-robust).
                mm3 = float(target.sum()) * voxel_mm3
                notes.append(
                    f"the {name} took none: its mass ({mm3:.0f} mm³) is mostly a structure the first pass judged "
                    "normal anatomy"
                )
                continue
            low_mm = _height_above_brain_base_mm(target, brain, affine)
            if at_most(low_mm, value("segmentation", "skull_base_margin_mm")):
                # The skull base: the classical mask holds non-brain tissue there and normal structures enhance
                # (cavernous sinuses, pituitary, petrosal sinuses, marrow), while a later pass's claim is only that
                # its mass is the most conspicuous one (TCIA 08 Pre, 05 Post, 08 Post under drift or another
                # contrast: masses 0 % within 5 voxels of the tumour on the mask's lowest slices; the later
                # passes' targets on the 26 real scans as loaded lie 25 mm or more above it;
                # benchmarks/RESULTS.md, 'the skull base').
                mm3 = float(target.sum()) * voxel_mm3
                at_base.append(
                    f"the {name}'s mass ({mm3:.0f} mm³) begins {max(low_mm, 0.0):.0f} mm above the lowest point of "
                    "the brain mask, at the skull base (normal structures enhance there and the mask takes in "
                    "non-brain tissue): not taken"
                )
                continue
            notes.extend(told)
            unsafe, set_aside = judge_implausible(implausible, [target], affine)
            if unsafe:
                set_aside = []
                notes[:0] = [NOT_RELIABLE, *unsafe[:3]]
            else:
                grown, by = [target], [name]
        if at_base and not grown and NOT_RELIABLE not in notes:
            # A mass there may still be a lesion (a skull-base metastasis): a reader's seed decides, not silence.
            notes[:0] = [NOT_RELIABLE, *at_base[:3]]
        elif at_base:
            notes.extend(at_base[:3])
        notes.extend(set_aside[:3])
        # A target, once taken, is as much evidence of a lesion as a reader's click: completed the same way.
        if grown:
            plane = plane if plane is not None else mid_sagittal_plane(brain, affine)
            anatomy = np.zeros(brain.shape, dtype=bool)
            for mask in rejected:
                anatomy |= mask
            for structure in implausible:
                anatomy[structure.where] |= structure.mask
            grown = [_completed_like_a_click(e, brain, affine, mask, plane=plane, anatomy=anatomy) for mask in grown]
        found.extend(("", mask, "automatic", how) for mask, how in zip(grown, by, strict=True))
        if not grown and NOT_RELIABLE not in notes:
            # Not a negative finding: what it misses (faint, small, cortical tumours) is listed in the README.
            notes.insert(
                0,
                "automatic detection found no enhancing lesion it could take as one — not proof that there is none "
                "(faint, small or cortical tumours are missed): give a seed or a mask to measure one",
            )
    out: list[SegmentedLesion] = []
    for lid, candidate, method, how in found:
        enh = candidate
        core = core_of(enh, brain)
        fl = flair_abnormality(flair, brain, enh | core, affine) if flair is not None else None
        out.append(SegmentedLesion(lid, enh, core, fl, method, how, _contrast(e, brain, enh, _spacing(affine))))
    if not seeds:
        out.sort(key=lambda s: -int(s.enhancing.sum()))
        out = [replace(s, lesion_id=f"A{i}") for i, s in enumerate(out, start=1)]
    return _resolve_overlaps(out), notes


def _completed_like_a_click(
    e: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    target: np.ndarray,
    *,
    plane: tuple[np.ndarray, float],
    anatomy: np.ndarray,
) -> np.ndarray:
    """An automatic target completed as a reader-seeded lesion is, after every decision about it has been made.

    Whether a structure is a target is judged on what the growth found inside the brain mask; once it is one, it is
    as much evidence that a lesion is there as a reader's click, and the same two completions apply, within
    ``automatic_growth_mm`` of the target (the reach of the automatic growth, a clicked point's
    ``point_extension_mm``): the lesion's clearly enhancing tissue the raw-image brain mask cut off, across the
    mask's edge (:func:`_across_the_mask_edge`: within ``edge_band_mm``, inside the mask's per-slice hull, on the
    lesion's own slices), and separate compact pieces of its broken rim within ``piece_gap_mm``
    (:func:`_with_pieces`); round the body of what they add, the dimmer rim (:func:`_with_dimmer_rim`: the
    ``rim_local_sd`` band within ``rim_extension_mm``, as the reader's growth takes round the clearly enhancing
    tissue it adds), since that tissue is taken at the clear-enhancement bar and would otherwise end there while the
    growth's bright part ends at its dimmer rim (TCIA Brain-Tumor-Progression 01 Post automatic Dice 0.593 -> 0.609,
    01 Pre 0.734 -> 0.800, BraTS pat0004 0.699 -> 0.734; benchmarks/RESULTS.md, branch l22-auto). Neither can make
    a target of anything else: all three only add tissue next to this one. But
    what detection judged normal anatomy is not taken back: an added piece touching ``anatomy`` (the structures
    dropped as midline, paired or implausible) is left out, and when the completed target would itself be a midline,
    paired or surface structure (``plane``: the mid-sagittal plane; the surface share is judged on its part inside the
    brain mask) the target stays as it was (a lesion 5 mm from a sinus dropped at the midline must not take the sinus
    as a piece of its rim). Only a faint target is completed, as only a faint seed gets its dimmer rim: one whose
    peak (98th percentile) stands under ``rim_max_contrast_sd`` local SDs above the brain round it; beyond a bright
    lesion's half-maximum edge lies its partial-volume fringe (the synthetic patient's largest lesion, about 25 local
    SDs: 1077 fringe voxels were added and its long diameter grew 3 mm past the truth). Computed in a crop holding the
    reach, the rim band and the 15 mm background shell.
    """
    spacing = _spacing(affine)
    bg, spread = _shell_background(e, brain, target, spacing)
    if (float(np.percentile(e[target], 98)) - bg) / spread >= value("segmentation", "rim_max_contrast_sd"):
        return target  # a bright lesion: what lies beyond its half-maximum edge is the partial-volume fringe
    reach = value("segmentation", "automatic_growth_mm")
    sl = _bbox(target, pad=int(np.ceil((reach + value("segmentation", "rim_extension_mm") + 17.0) / spacing.min())))
    lesion = target[sl]
    allowed = at_most(ndimage.distance_transform_edt(~lesion, sampling=spacing), reach)

    done = _across_the_mask_edge(e[sl], brain[sl], _hull_in_crop(brain, sl), lesion, allowed, spacing)
    done = _with_pieces(e[sl], brain[sl], done, allowed, spacing)
    added, _ = ndimage.label(done & ~lesion, structure=STRUCT26)
    if not added.any():
        return target
    touching = np.unique(added[ndimage.binary_dilation(anatomy[sl], structure=STRUCT26)])
    done = lesion | ((added > 0) & ~np.isin(added, touching[touching > 0]))
    # What the completion added ends at the clear-enhancement bar; round its body the dimmer band (never into anatomy).
    bg, spread = _upper_background(e[sl], brain[sl], fill_holes_3d_and_axial(lesion), spacing)
    bar = bg + value("segmentation", "rim_local_sd") * spread
    done = _with_dimmer_rim(e[sl], brain[sl], done, done & ~lesion, allowed & ~anatomy[sl], spacing, bar=bar)
    out = target.copy()
    out[sl] |= done
    if (
        # A completion adds the fringe the mask cut off a brain lesion; a target it would leave a third or more
        # outside the brain mask has been joined to what the mask rightly left out (TCIA 06 Post under a 10-20 %
        # superior-inferior drift: the medial temporal part of the tumour, 364 voxels, took 568 voxels of the
        # parasellar region, the cavernous sinus, which the slice's hull holds between the temporal lobes; the
        # completed targets of the 26 real scans as loaded lie at most 16 % outside; benchmarks/RESULTS.md,
        # 'the skull base').
        int((out & ~brain).sum()) >= value("segmentation", "completion_max_outside_share") * int(out.sum())
        or midline_surface_structure(out, brain, affine, plane=plane) is not None
        or paired_structure(out, e, brain, affine, plane=plane) is not None
        # Judged inside the brain mask: the tissue taken across the mask's edge lies, by design, outside it.
        or surface_structure(out & brain, brain, affine) is not None
    ):
        return target
    return out


def _grow_candidates(
    e: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    labels: np.ndarray,
    n: int,
    *,
    view: DetectionMap | None = None,
) -> tuple[list[np.ndarray], list[Implausible]]:
    """Each automatic candidate grown exactly like a reader's click at its centroid, so a target is the whole
    lesion and never its brightest fragment; candidates that grow into one lesion are merged.

    A grown structure that is not plausible as a lesion (too long, spanning most slices, tube- or sheet-like,
    hollow) even as its candidate's own half-maximum mask is anatomy the growth followed (a sinus and its
    branches), or a lesion merged with it: it is never a target and is returned as an :class:`Implausible`
    structure, for :func:`judge_implausible` to set aside (thin everywhere, far from every target) or to declare
    the detection not reliable. Returns (the plausible grown lesions, those structures).

    ``view`` (the image's :class:`DetectionMap`): a grown candidate is also judged by the structures above the
    detection bar that it takes in (:func:`_bright_parts_shape`): when they include one that is not a candidate and,
    judged together, are a tube or a sheet, the candidate was a piece of that vessel or sinus, cut off by a bar the
    image's slow intensity drift moves, and is such a structure too.
    """
    spacing = _spacing(affine)
    brain_slices = int(np.count_nonzero(brain.any(axis=(0, 1))))
    parts = _bright_parts(view) if view is not None else None
    grown: list[np.ndarray] = []
    for idx in range(1, n + 1):
        cand = labels == idx
        fallback = refine_enhancing(e, brain, cand, affine)
        mask = _grown_from(e, brain, affine, cand, fallback)
        # A growth that became implausible has leaked into anatomy: the candidate's own half-maximum mask.
        if mask is None or shape_of(mask, spacing).problem(brain_slices) is not None:
            mask = fallback
        # One lesion reached from two candidates (two bright parts of one rim) is one target.
        joined = [g for g in grown if (g & mask).any()]
        for other in joined:
            mask = mask | other
        grown = [g for g in grown if not any(g is other for other in joined)] + [mask]
    plausible: list[np.ndarray] = []
    leaked: list[Implausible] = []
    for mask in grown:
        why = shape_of(mask, spacing).problem(brain_slices)
        if why is None and parts is not None:
            why = _bright_parts_shape(parts, labels > 0, mask, spacing, brain_slices)
        if why is None:
            plausible.append(mask)
            continue
        mm3 = float(mask.sum()) * float(np.prod(spacing))
        box = _bbox(mask, pad=0)
        text = f"an automatic candidate grown to its full extent ({mm3:.0f} mm³) is not a plausible lesion: {why}"
        leaked.append(Implausible(box, mask[box], text))
    return plausible, leaked


def _bright_parts(view: DetectionMap) -> np.ndarray:
    """The separate structures above the detection bar inside the eroded brain (labels): what
    :func:`detect_candidates` judged one by one."""
    hot = (view.smooth > view.bar(value("segmentation", "detection_robust_sd"))) & view.inner
    return ndimage.label(hot, structure=STRUCT26)[0]


def _bright_parts_shape(
    parts: np.ndarray, candidates: np.ndarray, grown: np.ndarray, spacing: np.ndarray, brain_slices: int
) -> str | None:
    """Why the structures above the detection bar that a grown candidate takes in are, together, a vessel or a sheet
    — or None.

    Only the structures mostly (half or more of their voxels) inside the grown mask count, and the question is asked
    only when one of them is not a candidate (the shape tests rejected it, or it is under the minimum volume): a
    candidate cut off a vessel by the bar (TCIA Brain-Tumor-Progression 02 Pre under a 20 % front-to-back intensity
    drift: a compact 80 mm³ piece of the 730 mm³ tube-like vessel the scan as loaded holds, whose growth took the rest
    of the vessel back in) is judged with the rest of that vessel. Only a tube (``max_elongation``) or a sheet
    (``max_flatness``) counts: the bright fragments of a ring are, together, hollow (solidity 0.05-0.24 for the
    tumours of BraTS pat0004, TCIA 01 Pre and 05 Pre), so "not compact" would take real rims away; a lesion whose
    growth takes in a small vessel beside it stays compact judged with it.
    """
    labels, counts = np.unique(parts[grown], return_counts=True)
    sizes = np.bincount(parts[parts > 0].ravel(), minlength=int(parts.max()) + 1)
    inside = [int(k) for k, c in zip(labels, counts, strict=True) if k > 0 and 2 * c >= sizes[k]]
    if not inside:
        return None
    together = np.isin(parts, inside)
    if not (together & ~candidates).any():
        return None
    what = shape_of(together, spacing).tube_or_sheet()
    if what is None:
        return None
    return f"the bright structures it takes in, one of them not a candidate, are together {what}"


def _grown_from(
    e: np.ndarray, brain: np.ndarray, affine: np.ndarray, cand: np.ndarray, fallback: np.ndarray
) -> np.ndarray | None:
    """An automatic candidate grown like a reader's click at its centroid, within ``automatic_growth_mm`` of the
    candidate and connected to it or to its own half-maximum mask ``fallback``; None when the click finds nothing."""
    spacing = _spacing(affine)
    reach = value("segmentation", "automatic_growth_mm")
    centre = affine @ np.array([*ndimage.center_of_mass(cand), 1.0])
    mask, _ = seeded_lesion(e, brain, affine, Seed("auto", point_mm=(centre[0], centre[1], centre[2])))
    if mask is None:
        return None
    # Confined near its candidate and connected to it, so a neighbouring lesion or vessel is not taken in.
    near = within_mm(cand, reach, spacing)
    pieces, _ = ndimage.label(mask & near, structure=STRUCT26)
    keep = np.unique(pieces[cand | fallback])
    return np.isin(pieces, keep[keep > 0]) | fallback


def _second_look(
    e: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    weak: list[Implausible],
    targets: list[np.ndarray],
    *,
    flair: np.ndarray | None,
) -> list[tuple[np.ndarray, str, str]]:
    """Structures first rejected as hollow or faint (:func:`detect_candidates`) that are lesions once grown.

    A fragment of an open or heterogeneous rim is, on its own, a curved sheet that stands little above its
    surroundings; only its growth (like a click at its centroid) shows the whole lesion. It is taken when the grown
    structure is a plausible lesion (:meth:`Shape.problem`) and shows what vessels, sinuses, dura and choroid
    plexus never do: an enhancing rim round a non-enhancing core making up at least ``ring_min_core_fraction`` of
    its volume (the ring enhancement of glioblastoma, metastasis and radiation necrosis), or — where a FLAIR
    confirms automatic candidates (no pre-contrast T1) — FLAIR-abnormal surroundings. A structure whose growth
    reaches a target already found is left to that target. Returns (mask, note, the rejection it overrides).
    """
    spacing = _spacing(affine)
    brain_slices = int(np.count_nonzero(brain.any(axis=(0, 1))))
    min_core = value("segmentation", "ring_min_core_fraction")
    min_flair = value("segmentation", "flair_min_shell_sd")
    fz = enhancement_map(flair, brain) if flair is not None else None
    fz_med, fz_rsd = _robust(fz[brain]) if fz is not None else (0.0, 1.0)

    def sign_of_lesion(mask: np.ndarray) -> str | None:
        core = core_of(mask)
        share = float(core.sum()) / max(float(mask.sum()), 1.0)
        if share >= min_core:
            return f"an enhancing ring round a non-enhancing core ({share:.0%} of its volume)"
        if fz is not None:
            f_sd = (_shell_upper_quartile(fz, brain, mask | core, spacing) - fz_med) / fz_rsd
            if f_sd >= min_flair:
                return f"FLAIR-abnormal surroundings ({f_sd:.1f} robust SDs above the brain median)"
        return None

    taken: list[tuple[np.ndarray, str, str]] = []
    # Each look is a full growth (seconds on a 1 mm grid): the largest structures first, at most a few of them —
    # a rim's fragments are the largest hollow or faint structures, specks of normal enhancement the smallest.
    largest = sorted(weak, key=lambda w: -int(w.mask.sum()))[: int(value("segmentation", "second_look_max"))]
    for structure in largest:
        cand = np.zeros(brain.shape, dtype=bool)
        cand[structure.where] = structure.mask
        found = targets + [mask for mask, _, _ in taken]
        if any((t & cand).any() for t in found):
            continue
        mask = _grown_from(e, brain, affine, cand, refine_enhancing(e, brain, cand, affine))
        if mask is None or any((t & mask).any() for t in found):
            continue
        if shape_of(mask, spacing).problem(brain_slices) is not None:
            continue
        why = sign_of_lesion(mask)
        if why is None:
            continue
        mm3 = float(mask.sum()) * float(np.prod(spacing))
        first, _, reason = structure.text.partition(" was not taken as a lesion: ")
        said = f"{first}, at first not taken as a lesion ({reason}), grown to {mm3:.0f} mm³ is one: {why}"
        taken.append((mask, said, structure.text))
    return taken


class _NormalAnatomy:
    """The second passes' last tests of a found structure: a midline surface structure (falx, sinus), a paired one
    (plexus) or one mostly at the brain's surface is normal anatomy, not a target. The mid-sagittal plane is found
    once per image, when a structure first gets that far."""

    def __init__(self, e: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> None:
        self.e, self.brain, self.affine = e, brain, affine
        self._plane: tuple[np.ndarray, float] | None = None

    def explains(self, mask: np.ndarray) -> bool:
        if self._plane is None:
            self._plane = mid_sagittal_plane(self.brain, self.affine)
        return (
            midline_surface_structure(mask, self.brain, self.affine, plane=self._plane) is not None
            or paired_structure(mask, self.e, self.brain, self.affine, plane=self._plane) is not None
            or surface_structure(mask, self.brain, self.affine) is not None
        )


_Found = TypeVar("_Found", bound=tuple)


def _dominant(found: list[_Found], dominance: str) -> _Found | None:
    """The largest of a second pass' finds (each with its mask first), or None when the next is within the setting
    ``dominance`` times its size (the choice is then a reader's)."""
    ranked = sorted(found, key=lambda f: -int(f[0].sum()))
    if len(ranked) > 1 and ranked[0][0].sum() < value("segmentation", dominance) * ranked[1][0].sum():
        return None
    return ranked[0]


def _flair_backed_pass(
    e: np.ndarray, brain: np.ndarray, affine: np.ndarray, flair: np.ndarray, view: DetectionMap
) -> tuple[np.ndarray | None, list[str]]:
    """A second, FLAIR-backed pass for enhancement just under the detection bar (first pass found no target).

    Structures of the smoothed enhancement map above ``flair_pass_robust_sd`` but nowhere above
    ``detection_robust_sd`` inside the eroded brain (those the first pass already judged), of at least
    ``min_candidate_volume_mm3``, are candidates when they pass every shape test (:meth:`Shape.problem`) and at
    least ``flair_pass_min_share`` of their voxels lie in FLAIR-abnormal tissue (the FLAIR standing
    ``flair_min_shell_sd`` robust SDs above the brain): a tumour's enhancement sits inside its FLAIR signal,
    vessels, sinuses, dura and plexus do not. A candidate is grown like a click at its centroid; the grown lesion
    must again be plausible, mostly FLAIR-abnormal, not a midline, paired or surface structure. It is taken only
    when it is the only such lesion or ``flair_pass_dominance`` times larger than the next; otherwise nothing.
    Returns (the lesion or None, notes).
    """
    spacing = _spacing(affine)
    voxel = float(np.prod(spacing))
    brain_slices = int(np.count_nonzero(brain.any(axis=(0, 1))))
    inner, smooth, med, rsd = view.inner, view.smooth, view.median, view.sd
    low = view.bar(value("segmentation", "flair_pass_robust_sd"))
    high = view.bar(value("segmentation", "detection_robust_sd"))
    labels, n = ndimage.label((smooth > low) & inner, structure=STRUCT26)
    if n == 0:
        return None, []
    fz = enhancement_map(flair, brain)
    fz_med, fz_rsd = _robust(fz[brain])
    abnormal = (fz > fz_med + value("segmentation", "flair_min_shell_sd") * fz_rsd) & brain
    min_share = value("segmentation", "flair_pass_min_share")
    min_vol = value("segmentation", "min_candidate_volume_mm3")
    anatomy = _NormalAnatomy(e, brain, affine)
    lesions: list[tuple[np.ndarray, float]] = []
    for idx, sl in enumerate(ndimage.find_objects(labels), start=1):
        comp = labels[sl] == idx
        if float(comp.sum()) * voxel < min_vol or (smooth[sl][comp] > high).any():
            continue
        if float(abnormal[sl][comp].mean()) < min_share or shape_of(comp, spacing).problem(brain_slices):
            continue
        cand = np.zeros(brain.shape, dtype=bool)
        cand[sl] = comp
        mask = _grown_from(e, brain, affine, cand, refine_enhancing(e, brain, cand, affine))
        if mask is None or shape_of(mask, spacing).problem(brain_slices) is not None:
            continue
        if float(abnormal[mask].mean()) < min_share:
            continue
        if anatomy.explains(mask):
            continue
        if any((m & mask).any() for m, _ in lesions):
            continue
        lesions.append((mask, float((smooth[sl][comp].max() - med) / rsd)))
    if not lesions:
        return None, []
    best = _dominant(lesions, "flair_pass_dominance")
    if best is None:
        return None, [
            f"the FLAIR-backed second pass found {len(lesions)} faint enhancing structures of comparable size inside "
            "FLAIR-abnormal tissue and took none: give a seed or a mask"
        ]
    mask, peak = best
    mm3 = float(mask.sum()) * voxel
    return mask, [
        f"an enhancing lesion of {mm3:.0f} mm³ was found on the second, FLAIR-backed pass: its enhancement peaks at "
        f"{peak:.1f} robust SDs of the brain, under the {value('segmentation', 'detection_robust_sd'):.0f} SD "
        f"detection bar, and {abnormal[mask].mean():.0%} of it lies in FLAIR-abnormal tissue — lower confidence "
        "than a first-pass target: check it"
    ]


# Off whole and half millimetres: no lattice point of _world_lattice lies midway between two such voxel centres.
_LATTICE_SHIFT_MM = 0.137


def _world_lattice(brain: np.ndarray, affine: np.ndarray, cell_mm: float) -> np.ndarray:
    """The points (mm) of a world-space lattice of spacing ``cell_mm`` whose nearest voxel lies in ``brain``.

    The lattice is anchored in world space (at ``_LATTICE_SHIFT_MM`` off the origin, so that no lattice point falls
    exactly between two voxel centres of a grid on whole or half millimetres), so the sample, and its order, are the
    same however the grid is stored (flipped, axes in another order). Returned in lattice order.
    """
    shape = np.asarray(brain.shape)
    rows = np.any(brain, axis=2)
    ii, jj = np.flatnonzero(np.any(rows, axis=1)), np.flatnonzero(np.any(rows, axis=0))
    kk = np.flatnonzero(np.any(brain, axis=(0, 1)))
    lo_i = np.array([ii[0], jj[0], kk[0]], dtype=float) - 0.5
    hi_i = np.array([ii[-1], jj[-1], kk[-1]], dtype=float) + 0.5
    corners = np.array([[(hi_i if b >> d & 1 else lo_i)[d] for d in range(3)] for b in range(8)])
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    lo = np.floor((world.min(axis=0) - _LATTICE_SHIFT_MM) / cell_mm)
    hi = np.ceil((world.max(axis=0) - _LATTICE_SHIFT_MM) / cell_mm)
    axes = [np.arange(a, b + 1) * cell_mm + _LATTICE_SHIFT_MM for a, b in zip(lo, hi, strict=True)]
    pts = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    inv = np.linalg.inv(affine)
    vox = np.rint(pts @ inv[:3, :3].T + inv[:3, 3])
    on_grid = np.all((vox >= 0) & (vox < shape), axis=1)
    v = vox[on_grid].astype(np.intp)
    keep = np.flatnonzero(on_grid)[brain[v[:, 0], v[:, 1], v[:, 2]]]
    return pts[keep]


# The mid-sagittal plane search's limits: yaw and roll from the scanner's left-right axis, shift from the mask's
# lattice centroid (a plane at one of them was not found inside the search: reference_region does not trust it).
PLANE_YAW_LIMIT_DEG = 20.0
PLANE_ROLL_LIMIT_DEG = 10.0
PLANE_SHIFT_LIMIT_MM = 20.0


@dataclass(frozen=True)
class MidSagittalFit:
    """The mid-sagittal plane search's answer with what it saw (:func:`mid_sagittal_fit`).

    ``overlap`` is the share of the 4 mm lattice points of the mask whose mirror image across the plane lies in the
    mask (1 for a perfectly symmetric mask); ``n_points`` the number of those points; ``yaw_deg``, ``roll_deg`` and
    ``shift_mm`` the plane's turn from the scanner's left-right axis and its shift from the lattice's centroid, each
    searched within a limit (20 degrees, 10 degrees, 20 mm): a value at its limit means the best plane was not found
    inside the search.
    """

    normal: np.ndarray
    offset: float
    overlap: float
    n_points: int
    yaw_deg: float
    roll_deg: float
    shift_mm: float


def mid_sagittal_plane(brain: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, float]:
    """The brain mask's left-right symmetry plane as (unit normal, offset) in mm: ``normal @ x == offset``.

    A head turned or tilted in the scanner has its mid-sagittal plane oblique to the image axes, so the middle
    of the mask's left-right extent can lie 10 mm or more off the falx at the back of the head (TCIA
    Brain-Tumor-Progression 11). The plane is the one, within 20 degrees of yaw and 10 of roll of the scanner's
    left-right axis, whose mirror image of the mask overlaps the mask most: a coarse grid of planes scored on the
    mask sampled on an 8 mm world lattice, then two finer grids round the best (1 degree and 1 mm, then half a degree
    and half a millimetre) on a 4 mm lattice (:func:`_world_lattice`). The lattice is fixed in world space, so the
    plane does not depend on how the grid is stored (flipped, axes in another order); a stride through the stored
    voxels moved it by up to 4 mm and 2 degrees (benchmarks/RESULTS.md, l20-plane).
    """
    fit = mid_sagittal_fit(brain, affine)
    return fit.normal, fit.offset


def mid_sagittal_fit(brain: np.ndarray, affine: np.ndarray) -> MidSagittalFit:
    """:func:`mid_sagittal_plane` with the search's own measures of how far to trust it (:class:`MidSagittalFit`).

    An empty mask (or one no lattice point falls in) gives the scanner's x = 0 plane with no points and no overlap.
    The answer is kept for the last few masks (keyed on the mask's and the affine's bytes): the lesions stage's
    automatic detection and the timepoint's midline for the contralateral references search the same T1c brain mask
    (a search is 60-170 ms; hashing the mask about 1 ms).
    """
    key = _mask_key(brain, affine)
    with _FITS_LOCK:
        if key in _FITS:
            _FITS.move_to_end(key)
            return _FITS[key]
    fit = _mid_sagittal_fit(brain, affine)
    fit.normal.setflags(write=False)  # shared by every caller of the same mask: nobody may change it in place
    with _FITS_LOCK:
        _FITS[key] = fit
        while len(_FITS) > _FITS_KEPT:
            _FITS.popitem(last=False)
    return fit


_FITS: OrderedDict[bytes, MidSagittalFit] = OrderedDict()
_FITS_KEPT = 4
_FITS_LOCK = threading.Lock()


def _mask_key(mask: np.ndarray, affine: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(np.asarray(mask.shape, dtype=np.int64).tobytes())
    h.update(np.packbits(np.ascontiguousarray(mask, dtype=bool)).tobytes())
    h.update(np.ascontiguousarray(affine, dtype=np.float64).tobytes())
    return h.digest()


def _mid_sagittal_fit(brain: np.ndarray, affine: np.ndarray) -> MidSagittalFit:
    empty = MidSagittalFit(np.array([1.0, 0.0, 0.0]), 0.0, 0.0, 0, 0.0, 0.0, 0.0)
    if not brain.any():
        return empty
    fine = _world_lattice(brain, affine, 4.0)
    coarse = _world_lattice(brain, affine, 8.0)
    if coarse.shape[0] < 100:  # a small mask (a phantom): the fine lattice throughout
        coarse = fine
    if fine.shape[0] == 0:
        return empty
    inv = np.linalg.inv(affine)
    centre = fine.mean(axis=0)
    flat_brain = np.ascontiguousarray(brain, dtype=np.uint8).ravel()
    shape = tuple(int(v) for v in brain.shape)

    def overlap(pts: np.ndarray, yaw: np.ndarray, roll: np.ndarray, off: np.ndarray) -> np.ndarray:
        # Normals from the left-right axis turned by yaw (about superior) and roll (about anterior).
        n = np.stack([np.cos(yaw) * np.cos(roll), np.sin(yaw) * np.cos(roll), np.sin(roll)], axis=-1)
        return mirrored_overlap(pts, np.ascontiguousarray(n), n @ centre + off, inv, flat_brain, shape)

    best = (0.0, 0.0, 0.0)
    score = 0.0
    for pts, yaw_step, roll_step, off_step, half in (
        (coarse, 4.0, 5.0, 4.0, 5),
        (fine, 1.0, 2.0, 1.0, 2),
        (fine, 0.5, 0.5, 0.5, 2),
    ):
        g = np.arange(-half, half + 1)
        yaw, roll, off = np.meshgrid(
            best[0] + np.radians(yaw_step) * g,
            best[1] + np.radians(roll_step) * np.arange(-2, 3),
            best[2] + off_step * g,
            indexing="ij",
        )
        yaw, roll, off = yaw.ravel(), roll.ravel(), off.ravel()
        # The search's limits, a hair wide: a limit reached in finer steps is not lost to rounding.
        lim = 1e-9
        ok = (
            (np.abs(yaw) <= np.radians(PLANE_YAW_LIMIT_DEG) + lim)
            & (np.abs(roll) <= np.radians(PLANE_ROLL_LIMIT_DEG) + lim)
            & (np.abs(off) <= PLANE_SHIFT_LIMIT_MM)
        )
        scores = np.where(ok, overlap(pts, yaw, roll, off), -1.0)
        k = int(np.argmax(scores))
        best = (float(yaw[k]), float(roll[k]), float(off[k]))
        score = float(scores[k])  # the last round's: on the fine lattice
    n = np.array([np.cos(best[0]) * np.cos(best[1]), np.sin(best[0]) * np.cos(best[1]), np.sin(best[1])])
    return MidSagittalFit(
        normal=n,
        offset=float(n @ centre + best[2]),
        overlap=score,
        n_points=int(fine.shape[0]),
        yaw_deg=float(np.degrees(best[0])),
        roll_deg=float(np.degrees(best[1])),
        shift_mm=best[2],
    )


def _in_outer_shell(mask: np.ndarray, brain: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """For each voxel of ``mask``, whether it lies in the brain mask's outer ``detection_erosion_mm``, measured as the
    candidates' erosion is (the image's border counts as brain, so a field of view cut through a lesion does not move
    it into the shell; a voxel with a face on the mask's outside is in it whatever the slice thickness)."""
    box = _bbox(mask, pad=int(np.ceil(value("segmentation", "detection_erosion_mm") / spacing.min())) + 1)
    # A depth up to the erosion distance depends only on the brain mask within that distance (inside the box).
    depth = ndimage.distance_transform_edt(brain[box], sampling=spacing)
    outer = at_most(depth, value("segmentation", "detection_erosion_mm"))
    outer |= on_the_surface(brain[box], border_outside=False)
    return outer[mask[box]]


def surface_structure(mask: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> str | None:
    """Why an automatic target is mostly surface tissue (dura, a sinus, skull-base marrow or fat), or None.

    Detection looks for candidates deeper than ``detection_erosion_mm`` inside the brain mask, because the mask's
    outer mm hold the dura, the sinuses and whatever skull or fat it kept; a candidate's growth may then reach the
    surface. When at least ``surface_max_share`` of the grown target lies in that outer shell the target is more
    surface than brain: it may be a lesion at the cortex, or the anatomy the erosion was meant to keep out, so it
    is not a target and the detection is not reliable here. The shell is measured as the candidates' erosion is
    (the image's border counts as brain), so a field of view cut through a lesion does not move it into the shell.
    """
    if not mask.any():
        return None
    share = float(_in_outer_shell(mask, brain, _spacing(affine)).mean())
    if share < value("segmentation", "surface_max_share"):
        return None
    return (
        f"{share:.0%} of it lies in the brain mask's outer {value('segmentation', 'detection_erosion_mm'):.0f} mm "
        "(dura, a sinus, or skull-base marrow or fat the mask kept; or a lesion at the cortex)"
    )


def thin_surface_structure(mask: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> str | None:
    """Why an automatic target is a vessel, a sinus or the dura at the brain mask's surface, or None.

    A raw-image brain mask holds the dura (tentorium, falx), the sinuses and the cortical veins at its surface, and a
    candidate found deeper may grow out to them. Such a structure is thin everywhere; a lesion measurable under RANO
    (both diameters >= 10 mm) is not. A target that reaches the mask's outer ``detection_erosion_mm`` and is thinner
    than ``thin_surface_max_thickness_mm`` everywhere (:func:`thickness_mm`, holes filled, so a ring counts as solid)
    while at least ``thin_surface_min_aspect`` times as long (its bounding box's longest side: a sheet or a tube; a
    small compact lesion is as long as it is thick) is such anatomy, wherever it lies about the midline: the posterior
    superior sagittal sinus may run several mm to one side of the mask's symmetry plane, and the tentorium and
    transverse sinuses lie beside it (TCIA 08 Post under a 20 % anterior-posterior field; benchmarks/RESULTS.md,
    session 43). Only for targets not mostly in the outer shell: those make detection not reliable
    (:func:`surface_structure`).
    """
    spacing = _spacing(affine)
    if not mask.any() or not _in_outer_shell(mask, brain, spacing).any():
        return None
    thick = thickness_mm(mask, spacing)
    if not less_than(thick, value("segmentation", "thin_surface_max_thickness_mm")):
        return None
    idx = np.argwhere(mask)
    extent = float(((idx.max(axis=0) - idx.min(axis=0) + 1) * spacing).max())
    if less_than(extent, value("segmentation", "thin_surface_min_aspect") * thick):
        return None  # as long as it is thick: a small compact lesion, not a sheet or a tube
    return (
        f"it reaches the brain mask's outer {value('segmentation', 'detection_erosion_mm'):.0f} mm and is at most "
        f"{thick:.0f} mm thick over {extent:.0f} mm "
        "(a lesion measurable under RANO is 10 mm thick): a vessel, a sinus or the dura"
    )


def _from_plane_mm(mask: np.ndarray, affine: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Signed distance (mm) of each voxel centre of ``mask`` from the plane ``x · normal = offset``."""
    return (np.argwhere(mask).astype(float) @ affine[:3, :3].T + affine[:3, 3]) @ normal - offset


def _astride(signed_mm: np.ndarray, tol_mm: float) -> bool:
    """Whether points at these signed distances from a plane lie on both sides of it, to within ``tol_mm``."""
    return bool(signed_mm.min() <= tol_mm and signed_mm.max() >= -tol_mm)


def midline_surface_structure(
    mask: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    *,
    plane: tuple[np.ndarray, float] | None = None,
    found: np.ndarray | None = None,
) -> str | None:
    """Why an automatic target is a midline dural structure (sinus or falx), or None.

    A raw-image brain mask keeps the superior sagittal sinus, the torcula, the straight sinus and the falx at its
    surface (compact bright tissue between the hemispheres), and their enhancement passes every shape test. Such a
    structure reaches the mask's outer ``detection_erosion_mm`` (somewhere: the straight sinus runs from the deep
    midline to the surface), straddles the mid-sagittal plane (``mid_sagittal_plane``, the mask's symmetry plane)
    and has its centre within ``midline_surface_mm`` of it; a lesion at the medial cortex lies in one hemisphere,
    on one side of the falx. ``plane`` is that plane if already estimated for this brain mask. Straddling is to within
    ``midline_plane_tolerance_mm`` (the plane's resolution), or ``midline_surface_tolerance_mm`` for a structure
    mostly in the mask's outer shell (:func:`surface_structure`: never a target, it would make the detection not
    reliable): the torcula and transverse sinuses are often asymmetric, and TCIA 06 Pre's confluence lies 3.2-6.2 mm
    to one side of the mask's symmetry plane.

    ``found``, when given, is the part of ``mask`` detection found (its candidates, deeper than
    ``detection_erosion_mm``); the centre may then be its centre instead, when it too straddles the plane: growth from
    the confluence of the sinuses follows a transverse sinus sideways to the surface (TCIA Brain-Tumor-Progression
    06 Pre: the growth's centre 13 mm from the plane, its candidate's 4 mm), while a lesion at the medial cortex is
    found on one side of the falx.
    """
    spacing = _spacing(affine)
    if not mask.any() or not brain.any():
        return None
    normal, offset = plane if plane is not None else mid_sagittal_plane(brain, affine)
    signed = _from_plane_mm(mask, affine, normal, offset)
    seen = _from_plane_mm(found, affine, normal, offset) if found is not None and found.any() else None
    # Straddling: voxels on both sides of the plane, to within the plane's own resolution; for a structure mostly
    # in the mask's outer shell, to within the wider midline_surface_tolerance_mm (the sinuses there lie a few mm
    # off the mask's symmetry plane; such a structure is never a target anyway: surface_structure).
    tol = value("segmentation", "midline_plane_tolerance_mm")
    if not (_astride(signed, tol) and (seen is None or _astride(seen, tol))):
        if surface_structure(mask, brain, affine) is not None:
            tol = value("segmentation", "midline_surface_tolerance_mm")
    if not _astride(signed, tol):
        return None
    off_mm, centre = abs(float(signed.mean())), "centre"
    if seen is not None:
        if _astride(seen, tol) and abs(float(seen.mean())) < off_mm:
            off_mm, centre = abs(float(seen.mean())), "the centre of the part detection found"
    if off_mm > value("segmentation", "midline_surface_mm"):
        return None
    # Depth below the mask's surface; the image's border counts as outside (a cut field of view is an edge).
    depth = ndimage.distance_transform_edt(np.pad(brain, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    if (
        more_than(depth[mask].min(), value("segmentation", "detection_erosion_mm"))
        and not (mask & on_the_surface(brain, border_outside=True)).any()
    ):
        return None
    return (
        f"it lies on the brain's surface astride the midline ({centre} {off_mm:.0f} mm from the mid-sagittal "
        "plane): the superior sagittal sinus, torcula, straight sinus or falx"
    )


def deep_midline_structure(mask: np.ndarray, affine: np.ndarray, *, plane: tuple[np.ndarray, float]) -> str | None:
    """Why a target of the first pass or the slice-levelled last pass is a midline structure at any depth, or None.

    :func:`midline_surface_structure` asks a midline structure to reach the brain's surface (the sinuses, the falx).
    The deep midline holds normal enhancing tissue too: the circumventricular organs, which have no blood-brain
    barrier (pineal gland, infundibulum, area postrema), the choroid plexus of the third ventricle and the deep veins
    (internal cerebral veins, vein of Galen, septal veins, TCIA Brain-Tumor-Progression 02 Pre between the frontal
    horns). A structure astride the mid-sagittal plane (``plane``, to within ``midline_plane_tolerance_mm`` on both
    sides) with its centre within ``midline_surface_mm`` of it is such tissue for the last, lowest-confidence pass (a
    tumour there, crossing the corpus callosum or in the pineal region, is left to a reader's seed) and, when no
    larger than ``deep_midline_first_pass_max_mm3``, for the first (l25-spacing: TCIA 02 Post on
    0.8 mm pixels, 11 Pre on 3 mm slices, where the first pass took one).
    """
    if not mask.any():
        return None
    normal, offset = plane
    signed = _from_plane_mm(mask, affine, normal, offset)
    tol = value("segmentation", "midline_plane_tolerance_mm")
    if not (signed.min() <= tol and signed.max() >= -tol):
        return None
    off_mm = abs(float(signed.mean()))
    if off_mm > value("segmentation", "midline_surface_mm"):
        return None
    return (
        f"it lies astride the midline (centre {off_mm:.0f} mm from the mid-sagittal plane): a deep vein, the "
        "choroid plexus of the third ventricle or a circumventricular organ"
    )


def paired_structure(
    mask: np.ndarray, e: np.ndarray, brain: np.ndarray, affine: np.ndarray, *, plane: tuple[np.ndarray, float]
) -> str | None:
    """Why an automatic target is one of a symmetric pair of normal structures, or None.

    The choroid plexus and the deep veins beside the ventricles enhance as much as a lesion and pass every shape
    test, but the other hemisphere holds their mirror image (TCIA Brain-Tumor-Progression 11, on both sides of the
    frontal horns and third ventricle); a lesion's mirror image is normal brain. A target is such a structure when
    at least ``paired_share`` of its voxels have, within ``paired_window_mm`` of their mirror image across the
    mid-sagittal plane (``plane``, from ``mid_sagittal_plane``), enhancement at least the target's median. The
    target's own voxels do not count, so a lesion crossing the midline is not its own pair.
    """
    spacing = _spacing(affine)
    normal, offset = plane
    pts = np.argwhere(mask).astype(float) @ affine[:3, :3].T + affine[:3, 3]
    mirrored = pts - 2.0 * (pts @ normal - offset)[:, None] * normal
    inv = np.linalg.inv(affine)
    vox = np.rint(mirrored @ inv[:3, :3].T + inv[:3, 3]).astype(np.intp)
    shape = np.asarray(mask.shape)
    inside = np.all((vox >= 0) & (vox < shape), axis=1)
    if not inside.any():
        return None
    # At least one voxel each way (the plane's resolution plus a voxel): on slices thicker than twice the window
    # rounding gave none, and the neighbouring slice was never looked at (TCIA 11 Pre at 6.5 mm; l25-spacing).
    half = np.maximum(nearest_voxels(value("segmentation", "paired_window_mm"), spacing), 1).astype(np.intp)
    lo = np.maximum(vox[inside].min(axis=0) - half, 0)
    hi = np.minimum(vox[inside].max(axis=0) + half + 1, shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    other = np.where(brain[box] & ~mask[box], e[box], -np.inf)
    local = ndimage.maximum_filter(other, size=tuple(int(v) for v in 2 * half + 1), mode="constant", cval=-np.inf)
    at = np.clip(vox - lo, 0, np.asarray(local.shape) - 1)
    own = float(np.median(e[mask]))
    share = float(np.mean(inside & (local[at[:, 0], at[:, 1], at[:, 2]] >= own)))
    if share < value("segmentation", "paired_share"):
        return None
    return (
        f"the other hemisphere holds its mirror image ({share:.0%} of it enhances as much within "
        f"{value('segmentation', 'paired_window_mm'):.0f} mm of the mirror across the mid-sagittal plane): a paired "
        "normal structure such as the choroid plexus or a deep vein"
    )


def _resolve_overlaps(lesions: list[SegmentedLesion]) -> list[SegmentedLesion]:
    """Two refined lesions may claim the same voxels; the first (larger or seeded first) keeps them."""
    taken = None
    out = []
    for les in lesions:
        enh = les.enhancing if taken is None else les.enhancing & ~taken
        if not enh.any():
            continue
        out.append(replace(les, enhancing=enh, core=les.core & ~enh))
        taken = enh.copy() if taken is None else taken | enh
    return out


def run_segmenter(segmenter: Segmenter, inp: SegmentationInput, *, name: str = "user") -> list[SegmentedLesion]:
    """Run a user's model and split its label map into lesions (one per enhancing component)."""
    labels = np.asarray(segmenter(inp))
    if labels.shape != inp.brain.shape:
        raise ValueError(f"segmenter {name!r} returned shape {labels.shape}, expected {inp.brain.shape}")
    unknown = set(np.unique(labels).tolist()) - {0, 1, 2, 3}
    if unknown:
        raise ValueError(f"segmenter {name!r} returned labels {sorted(unknown)}; expected 0, 1, 2, 3")
    enh_all = labels == 1
    core_all = labels == 2
    flair_all = labels >= 1
    comp, n = ndimage.label(enh_all | core_all, structure=STRUCT26)
    out = []
    for idx in range(1, n + 1):
        region = comp == idx
        enh = region & enh_all
        if not enh.any():
            continue
        fl_lab, _ = ndimage.label(flair_all, structure=STRUCT26)
        keep = np.unique(fl_lab[region])
        out.append(SegmentedLesion("", enh, region & core_all, np.isin(fl_lab, keep[keep > 0]), f"model:{name}"))
    out.sort(key=lambda s: -int(s.enhancing.sum()))
    return [replace(s, lesion_id=f"A{i}") for i, s in enumerate(out, start=1)]


def _enclosed_core(structure: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """What an enhancing structure encloses in the axial plane: per slice, the holes of the structure after an
    in-plane closing with a ``ring_gap_mm`` disk (a faint, heterogeneous rim breaks at a low bar into pieces a few mm
    apart, which the closing joins), without the structure and the tissue the closing added."""
    disk = _axial_disk(value("segmentation", "ring_gap_mm"), spacing)
    pad = [(disk.shape[0], disk.shape[0]), (disk.shape[1], disk.shape[1]), (0, 0)]
    padded = np.pad(structure, pad)
    closed = ndimage.binary_closing(padded, structure=disk)[pad[0][0] : -pad[0][1], pad[1][0] : -pad[1][1]]
    closed |= structure
    core = np.zeros(structure.shape, dtype=bool)
    for k in np.flatnonzero(closed.any(axis=(0, 1))):
        core[:, :, k] = ndimage.binary_fill_holes(closed[:, :, k]) & ~closed[:, :, k]
    return core


def _ring_backed_pass(
    e: np.ndarray, brain: np.ndarray, affine: np.ndarray, view: DetectionMap, *, plain: np.ndarray | None = None
) -> tuple[np.ndarray | None, list[str]]:
    """A second, shape-backed pass for a faint rim-enhancing lesion (first pass found no target and did not refuse).

    The rim of a glioblastoma or a treated metastasis can stand only 1-3 robust SDs above the brain, under the
    detection bar, while its shape is one that vessels, sinuses, dura and choroid plexus never make: an enhancing
    ring round a non-enhancing core. Structures of the smoothed enhancement map above ``ring_pass_robust_sd`` inside
    the eroded brain, of at least ``min_candidate_volume_mm3``, are candidates when they enclose, in the axial plane
    (:func:`_enclosed_core`), a core of at least ``ring_min_core_fraction`` of their own volume and
    ``min_candidate_volume_mm3``, darker than the normal brain on the T1c (its median below the brain's median on
    ``plain``, the T1c over its brain median − 1, or on ``e`` when None: necrosis or a cyst, not tissue; on a map
    subtracting a pre-contrast T1 a non-enhancing core is as dark as the brain, so the T1c itself is asked), and
    the ring with its core passes every shape test (:meth:`Shape.problem`) and is not a midline, paired or surface
    structure. One is taken only when it is the only such ring or ``ring_pass_dominance`` times larger than the
    next; otherwise nothing. The target is the ring itself. Returns (the lesion or None, notes).
    """
    spacing = _spacing(affine)
    voxel = float(np.prod(spacing))
    brain_slices = int(np.count_nonzero(brain.any(axis=(0, 1))))
    bar_sd = value("segmentation", "ring_pass_robust_sd")
    labels, n = ndimage.label((view.smooth > view.bar(bar_sd)) & view.inner, structure=STRUCT26)
    if n == 0:
        return None, []
    min_vol = value("segmentation", "min_candidate_volume_mm3")
    min_core = value("segmentation", "ring_min_core_fraction")
    sizes = np.bincount(labels.ravel())
    dark = plain if plain is not None else e
    dark_median = float(np.median(dark[brain])) if plain is not None else view.median
    pad = int(np.ceil(value("segmentation", "ring_gap_mm") / spacing[:2].min())) + 1
    anatomy = _NormalAnatomy(e, brain, affine)
    rings: list[tuple[np.ndarray, float, float]] = []
    for idx, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None or float(sizes[idx]) * voxel < min_vol:
            continue
        box = tuple(
            slice(max(s.start - pad, 0), min(s.stop + pad, brain.shape[a])) if a < 2 else s for a, s in enumerate(sl)
        )
        ring = labels[box] == idx
        core = _enclosed_core(ring, spacing)
        share = float(core.sum()) / float(ring.sum())
        if share < min_core or float(core.sum()) * voxel < min_vol:
            continue
        if float(np.median(dark[box][core])) >= dark_median:
            continue
        if shape_of(ring | core, spacing).problem(brain_slices) is not None:
            continue
        mask = np.zeros(brain.shape, dtype=bool)
        mask[box] = ring
        if anatomy.explains(mask):
            continue
        rings.append((mask, share, float((np.median(view.smooth[mask]) - view.median) / view.sd)))
    if not rings:
        return None, []
    best = _dominant(rings, "ring_pass_dominance")
    if best is None:
        return None, [
            f"the ring-backed second pass found {len(rings)} faint enhancing rings of comparable size round "
            "non-enhancing cores and took none: give a seed or a mask"
        ]
    mask, share, level = best
    mm3 = float(mask.sum()) * voxel
    return mask, [
        f"an enhancing lesion of {mm3:.0f} mm³ was found on the second, ring-backed pass: a faint enhancing ring "
        f"(its median {level:.1f} robust SDs above the brain on the smoothed map, taken from "
        f"{value('segmentation', 'ring_pass_robust_sd'):.1f} SDs where the first pass needs "
        f"{value('segmentation', 'detection_robust_sd'):.0f}) round a darker, non-enhancing core of {share:.0%} of "
        "its volume, found by its shape alone — lower confidence than a first-pass target: check it"
    ]


def _dominance_backed_pass(
    e: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    view: DetectionMap,
    *,
    taken_contrast_sd: str | None = None,
    levelled: bool = False,
    plane: tuple[np.ndarray, float] | None = None,
    bar_sd: str = "detection_robust_sd",
    coarse_mm: float | None = None,
) -> tuple[np.ndarray | None, list[str]]:
    """A last pass for a tumour that is only moderately bright against the brain next to it (every earlier pass found
    no target and detection did not refuse): the most conspicuous compact enhancing mass of the brain, by a margin.

    The first pass asks a candidate to stand ``automatic_min_contrast_sd`` local SDs above its surroundings, the level
    normal structures can reach; on thick-slice scans a tumour's own fragments stand less (partial volume widens the
    spread of their 3-15 mm shell). Here a structure of the first pass (above ``detection_robust_sd`` on the smoothed
    map, inside the eroded brain, at least ``min_candidate_volume_mm3``, passing every shape test) standing at least
    ``seed_min_contrast_sd`` local SDs above its surroundings (what a reader's seed must show) is grown like a click at
    its centroid; the grown lesion must again pass every shape test and not be a midline, paired or surface structure,
    and growths that overlap are one lesion. The largest is taken only when it is the only one or
    ``dominance_pass_dominance`` times the volume of the next (a tumour grows from its fragments into a mass far larger
    than any normal structure does) and is a mass, not a curved sheet: at least RANO's minimum measurable diameter
    (``rano.min_diameter_mm``, 10 mm) thick (:func:`thickness_mm`, holes filled). ``taken_contrast_sd``, when given,
    names the setting the local contrast of one of the taken mass's own structures must also reach (the masses it is
    compared with are still all those grown from ``seed_min_contrast_sd``); ``levelled`` says ``e`` and ``view`` are
    the slice-levelled map (:func:`_slice_levelled_pass`), for the notes; ``plane``, when given, is the mid-sagittal
    plane, and a grown mass astride it (:func:`deep_midline_structure`) is then normal anatomy too. ``bar_sd`` names
    the setting of the bar on ``view`` (robust SDs of ``view.sd``); ``coarse_mm``, when given, says ``view`` is the map
    smoothed at that FWHM (:func:`_coarse_scale_pass`), for the notes. Returns (the lesion or None, notes).
    """
    pass_name = (
        "coarse-scale last pass"
        if coarse_mm is not None
        else "slice-levelled last pass"
        if levelled
        else "dominance-backed last pass"
    )
    spacing = _spacing(affine)
    voxel = float(np.prod(spacing))
    brain_slices = int(np.count_nonzero(brain.any(axis=(0, 1))))
    labels, n = ndimage.label((view.smooth > view.bar(value("segmentation", bar_sd))) & view.inner, structure=STRUCT26)
    if n == 0:
        return None, []
    min_vol = value("segmentation", "min_candidate_volume_mm3")
    min_contrast = value("segmentation", "seed_min_contrast_sd")
    sizes = np.bincount(labels.ravel())
    anatomy = _NormalAnatomy(e, brain, affine)
    masses: list[tuple[np.ndarray, float]] = []
    # Largest structures first: a fragment inside a mass already grown is not grown again.
    order = sorted(range(1, n + 1), key=lambda i: -int(sizes[i]))
    objects = ndimage.find_objects(labels)
    for idx in order:
        sl = objects[idx - 1]
        if sl is None or float(sizes[idx]) * voxel < min_vol:
            continue
        comp = labels[sl] == idx
        if shape_of(comp, spacing).problem(brain_slices) is not None:
            continue
        inside = [k for k, (m, _) in enumerate(masses) if (m[sl] & comp).any()]
        if inside and taken_contrast_sd is None:
            continue
        cand = np.zeros(brain.shape, dtype=bool)
        cand[sl] = comp
        contrast = _contrast(e, brain, cand, spacing)
        if inside:
            # Not grown again, but what it shows counts for the mass that holds it (taken_contrast_sd).
            masses = [(m, max(c, contrast)) if k in inside else (m, c) for k, (m, c) in enumerate(masses)]
            continue
        if contrast < min_contrast:
            continue
        mask = _grown_from(e, brain, affine, cand, refine_enhancing(e, brain, cand, affine))
        if mask is None or shape_of(mask, spacing).problem(brain_slices) is not None or anatomy.explains(mask):
            continue
        if plane is not None and deep_midline_structure(mask, affine, plane=plane) is not None:
            continue
        joined = [(m, c) for m, c in masses if (m & mask).any()]
        for m, c in joined:
            mask = mask | m
            contrast = max(contrast, c)
        masses = [(m, c) for m, c in masses if not any(m is j for j, _ in joined)] + [(mask, contrast)]
    if not masses:
        return None, []
    # Merged growths are judged again as one lesion.
    masses = [(m, c) for m, c in masses if shape_of(m, spacing).problem(brain_slices) is None]
    if not masses:
        return None, []
    best = _dominant(masses, "dominance_pass_dominance")
    if best is None:
        return None, [
            f"the {pass_name} found {len(masses)} compact, moderately enhancing masses of comparable "
            "size and took none: give a seed or a mask"
        ]
    mask, contrast = best
    mm3 = float(mask.sum()) * voxel
    if taken_contrast_sd is not None and contrast < value("segmentation", taken_contrast_sd):
        return None, [
            f"the {pass_name} took none: its most conspicuous compact mass ({mm3:.0f} mm³) grew from structures "
            f"standing at most {contrast:.1f} local SDs above their surroundings (needs "
            f"{value('segmentation', taken_contrast_sd):.0f})"
        ]
    thick = thickness_mm(mask, spacing)
    if thick < value("measurement", "rano", "min_diameter_mm"):
        return None, [
            f"the {pass_name} took none: its largest compact, moderately enhancing structure "
            f"({mm3:.0f} mm³) is at most {thick:.0f} mm thick (a curved sheet or a vessel, not a measurable mass)"
        ]
    where = "slice-levelled last pass" if levelled else "last, dominance-backed pass"
    on = f" {LEVELLED}" if levelled else ""
    ranked = sorted((float(m.sum()) * voxel for m, _ in masses), reverse=True)
    margin = (
        "the only compact enhancing mass"
        if len(ranked) == 1
        else f"{ranked[0] / ranked[1]:.0f} times the volume of the next ({ranked[1]:.0f} mm³)"
    )
    if coarse_mm is not None:
        return mask, [
            f"an enhancing lesion of {mm3:.0f} mm³ was found on the coarse-scale last pass: on the enhancement map "
            f"smoothed at {coarse_mm:.0f} mm FWHM (the scale of the smallest measurable lesion) it stands above "
            f"{value('segmentation', bar_sd):.0f} robust SDs of the brain on that map (the first pass asks "
            f"{value('segmentation', 'detection_robust_sd'):.0f} at "
            f"{value('segmentation', 'detection_smoothing_mm'):.0f} mm); grown from structures the clearest of which "
            f"stands {contrast:.1f} local SDs above its surroundings (the first pass needs "
            f"{value('segmentation', 'automatic_min_contrast_sd'):.0f}), it is {margin} in the brain — found as the "
            "most conspicuous mass at a coarse scale, lower confidence than a first-pass target: check it"
        ]
    return mask, [
        f"an enhancing lesion of {mm3:.0f} mm³ was found on the {where}: grown from structures "
        f"the clearest of which stands {contrast:.1f} local SDs above its surroundings{on} (the first pass needs "
        f"{value('segmentation', 'automatic_min_contrast_sd'):.0f}), it is {margin} in the brain — found as the most "
        "conspicuous mass, lower confidence than a first-pass target: check it"
    ]


def _slice_levelled_pass(
    e: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    view: DetectionMap,
    *,
    plane: tuple[np.ndarray, float] | None = None,
) -> tuple[np.ndarray | None, list[str]]:
    """The first pass's contrast bar on levelled thick slices (every earlier pass found no target nor refused).

    On a 2-D acquisition (slices ``slice_level_anisotropy`` times thicker than the in-plane voxel) the brain's level
    steps between slices (:func:`_slice_levelled`), which inflates both the brain's robust SD (the detection bar) and
    the SD of every 3-15 mm background shell (the local contrast): a tumour that stands out on its own slices is judged
    below the first pass's bars. Here the dominance-backed pass (:func:`_dominance_backed_pass`) runs as it is on the
    map with each slice's brain median subtracted (masses grown from every structure standing the seed's
    ``seed_min_contrast_sd``, compared by volume), and its most conspicuous mass is taken only when one of its own
    structures stands what the first pass asks of a candidate (``automatic_min_contrast_sd`` local SDs): only the
    bars' inflation is undone, no bar is lowered. The mass must still pass every shape test, not be a midline (at any
    depth: :func:`deep_midline_structure`), paired or surface structure, be the only or clearly the largest
    (``dominance_pass_dominance``) and be 10 mm thick. Comparing it with every mass, not only those at the first
    pass's contrast, keeps a bright normal structure from being taken because the tumour next to it is fainter (TCIA
    01 Post: a 1065 mm³ posterior-fossa structure at 7.7 levelled local SDs, while the far larger tumour stands 4.9).
    Isotropic volumes are not levelled and the pass finds nothing there. Nor does it where levelling would remove
    more than ``slice_level_max_removed`` of the brain's robust SD: a slice's median carries only the acquisition's
    level while every slice holds a mix of the brain's tissues, and then levelling removes a minority of the spread
    (1-18 % on the TCIA scans); a brain whose slices differ in what they hold (tissue in axial layers) would lose its
    contrast. ``view`` is the detection map of ``e`` (its eroded brain and robust SD are reused); ``plane`` the
    mid-sagittal plane when already found. Returns (the lesion or None, notes).
    """
    levelled = _slice_levelled(e, brain, affine)
    if levelled is e:
        return None, []
    levelled_view = DetectionMap.of(levelled, brain, _spacing(affine), inner=view.inner)
    if levelled_view.sd < (1.0 - value("segmentation", "slice_level_max_removed")) * view.sd:
        return None, []
    return _dominance_backed_pass(
        levelled,
        brain,
        affine,
        levelled_view,
        taken_contrast_sd="automatic_min_contrast_sd",
        levelled=True,
        plane=plane if plane is not None else mid_sagittal_plane(brain, affine),
    )


def _coarse_scale_pass(
    e: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    view: DetectionMap,
    *,
    plane: tuple[np.ndarray, float] | None = None,
) -> tuple[np.ndarray | None, list[str]]:
    """The dominance-backed pass at the scale of the smallest measurable lesion (every earlier pass found no target
    nor refused).

    The first pass judges the enhancement map smoothed at ``detection_smoothing_mm`` (2 mm) against the brain's robust
    SD and needs ``min_candidate_volume_mm3`` above ``detection_robust_sd``: a large tumour whose enhancement is
    moderate and patchy reaches that bar only in specks (TCIA Brain-Tumor-Progression 05 Post: a 72 x 47 mm tumour,
    seeded Dice 0.83, no 50 mm³ structure of which passes 4 SDs). Here the map is smoothed
    at ``coarse_pass_fwhm_mm`` (a Gaussian matched to a 10 mm lesion, RANO's smallest measurable one), the brain's
    median and robust SD are read on that smoothed map inside the eroded brain, and the structures above
    ``coarse_pass_robust_sd`` of it go through the dominance-backed pass exactly as the first pass's structures do
    (:func:`_dominance_backed_pass`: each standing ``seed_min_contrast_sd`` local SDs on the unsmoothed map, grown like
    a click, every shape test, not midline (at any depth), paired or surface anatomy, the only or clearly the largest
    mass, 10 mm thick). The pass does not run where smoothing to that scale leaves less than ``coarse_pass_min_kept``
    of the brain's robust SD (the first pass's, of the unsmoothed map): on a real brain the spread is mostly tissue
    contrast, which smoothing keeps (0.55-0.78 of it on the 26 real scans), while a brain whose spread is fine texture
    (noise, thin layers) would make any faint compact structure stand out at the coarse scale. ``view`` is the first
    pass's detection map (its eroded brain and robust SD are reused); ``plane`` the mid-sagittal plane when already
    found. Returns (the lesion or None, notes).
    """
    if not view.inner.any():
        return None, []
    spacing = _spacing(affine)
    fwhm = value("segmentation", "coarse_pass_fwhm_mm")
    coarse = ndimage.gaussian_filter(e, fwhm / FWHM_PER_SIGMA / spacing)
    med, rsd = _robust(coarse[view.inner])
    if rsd < value("segmentation", "coarse_pass_min_kept") * view.sd:
        return None, []  # the brain's spread is fine texture (noise, thin layers), not tissue contrast: no bar to trust
    return _dominance_backed_pass(
        e,
        brain,
        affine,
        DetectionMap(view.inner, coarse, med, rsd),
        plane=plane if plane is not None else mid_sagittal_plane(brain, affine),
        bar_sd="coarse_pass_robust_sd",
        coarse_mm=fwhm,
    )
