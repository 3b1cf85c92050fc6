"""The one registration: rigid or affine, Mattes mutual information, named presets, and it does no harm.

``register(fixed, moving, kind=..., preset=...)`` returns a :class:`Registration`: a 4x4 matrix in RAS mm
that maps a point of the *fixed* (reference) space to the same anatomical point in the *moving* image,
the similarity before (the scanner's own alignment) and after, and whether the result was accepted. With
it, :func:`pseudoprog.align.warp.warp` carries an image onto the reference grid and
:meth:`Registration.mask_to_moving` carries a lesion mask back to the native grid of any series, so nothing
is ever stranded in a resampled space.

Do no harm (issue 13): a result is kept only when it improves the metric over the identity (the header
geometry); otherwise the identity is kept and the reason noted. Series of one session that share their frame
of reference and grid are not registered unless a similarity check shows motion (:func:`_shows_motion`).
Both comparisons use every voxel of the working images, not the optimiser's random sample, so a registration
cannot "improve" by fitting its own sample (the motion check compares the exact mutual information of the voxel
pairs at whole-voxel shifts; the result's check, the Mattes metric before and after).

The presets (``align/data/registration.yaml``) name the settings validated for each use: ``"structural"``
(MR within a session), ``"longitudinal"`` (a T1c onto another day's: the structural settings after a search over
starting poses, :func:`_best_start`), ``"pet"`` (PET onto the T1c), ``"tram"`` (delayed onto early T1c).
This module is the only one that drives SimpleITK's registration.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..case import Volume
from ..errors import CannotAssessError
from ..files import load_table
from .itk import LPS_FROM_RAS, sitk_transform_to_ras, to_sitk, volume_to_sitk
from .resample import block_factors
from .warp import Grid, coarsen, warp_mask

KINDS = ("rigid", "affine")
METRIC = "mattes_mutual_information"  # negative; more negative is more similar


def presets() -> dict[str, dict[str, Any]]:
    """The validated registration presets by name (``align/data/registration.yaml``)."""
    return {k: v for k, v in load_table("align", "registration").items() if isinstance(v, dict)}


@dataclass(frozen=True, eq=False)
class Registration:
    """A spatial transform between two images, kept so results can go back to native space.

    Attributes
    ----------
    fixed_to_moving
        4x4 RAS (mm) matrix: a point of the fixed/reference space → the same point in the moving image.
    kind
        What was finally kept: ``"identity"``, ``"rigid"`` or ``"affine"``.
    preset
        The preset used (``""`` when no registration was run).
    metric_before, metric_after
        Mattes mutual information (more negative is better) at the header geometry and with the kept
        transform, on every voxel of the working images; ``nan`` when not evaluated.
    accepted
        True when a registration result was kept; False when the identity was kept (see ``reason``).
    optimised
        True when the optimiser ran (so ``accepted=False`` means its result was rejected, not that the
        series were found aligned and left alone).
    reason
        Why the identity was kept, or ``""``.
    fixed, moving
        Labels of the two images (e.g. ``"2026-03-16/T1c"``), for the record.
    """

    fixed_to_moving: np.ndarray
    kind: str
    preset: str = ""
    metric_before: float = float("nan")
    metric_after: float = float("nan")
    accepted: bool = False
    reason: str = ""
    fixed: str = ""
    moving: str = ""
    optimised: bool = False

    @property
    def moving_to_fixed(self) -> np.ndarray:
        return np.linalg.inv(self.fixed_to_moving)

    @property
    def rotation_deg(self) -> float:
        """Angle of the rotation part (of its nearest rotation, for an affine), in degrees."""
        u, _, vt = np.linalg.svd(self.fixed_to_moving[:3, :3])
        r = u @ vt
        return math.degrees(math.acos(float(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))

    @property
    def translation_mm(self) -> np.ndarray:
        return self.fixed_to_moving[:3, 3].copy()

    @property
    def shift_mm(self) -> float:
        """Length of the translation, in mm."""
        return float(np.linalg.norm(self.fixed_to_moving[:3, 3]))

    def to_dict(self) -> dict[str, Any]:
        # Rounded to 9 decimals (nm, 1e-9 of a matrix entry): the last digits of an optimiser's result differ
        # between processes with different thread counts, and a record should read the same wherever it was made.
        def num(v: float) -> float | None:
            return None if math.isnan(v) else round(float(v), 9)

        return {
            "fixed": self.fixed,
            "moving": self.moving,
            "kind": self.kind,
            "preset": self.preset,
            "accepted": self.accepted,
            "optimised": self.optimised,
            "reason": self.reason,
            "fixed_to_moving_ras": [[num(v) for v in row] for row in self.fixed_to_moving],
            "rotation_deg": num(self.rotation_deg),
            "translation_mm": [num(v) for v in self.translation_mm],
            "metric": METRIC,
            "metric_before": num(self.metric_before),
            "metric_after": num(self.metric_after),
        }

    def mask_to_moving(
        self, mask: np.ndarray, fixed_affine: np.ndarray, moving_affine: np.ndarray, moving_shape: tuple[int, int, int]
    ) -> np.ndarray:
        """Carry a boolean mask drawn on the fixed grid to the moving image's native grid."""
        return warp_mask(mask, fixed_affine, self.moving_to_fixed, Grid(moving_affine, moving_shape))

    def mask_to_fixed(
        self, mask: np.ndarray, moving_affine: np.ndarray, fixed_affine: np.ndarray, fixed_shape: tuple[int, int, int]
    ) -> np.ndarray:
        """Carry a boolean mask from the moving image's native grid onto the fixed grid."""
        return warp_mask(mask, moving_affine, self.fixed_to_moving, Grid(fixed_affine, fixed_shape))


def identity(
    fixed: str = "",
    moving: str = "",
    *,
    reason: str = "",
    preset: str = "",
    metric: float = float("nan"),
    optimised: bool = False,
) -> Registration:
    """The identity transform (header geometry kept), with the reason and, if evaluated, the metric."""
    return Registration(np.eye(4), "identity", preset, metric, metric, False, reason, fixed, moving, optimised)


def same_grid(a: Volume, b: Volume, *, atol_mm: float = 1e-3) -> bool:
    """Whether two volumes have the same shape and the same affine (within ``atol_mm``)."""
    return a.spatial_shape == b.spatial_shape and bool(np.allclose(a.affine, b.affine, atol=atol_mm))


def register(
    fixed: Volume,
    moving: Volume,
    *,
    kind: str = "rigid",
    preset: str = "structural",
    fixed_mask: np.ndarray | None = None,
    same_frame_of_reference: bool = False,
    labels: tuple[str, str] = ("", ""),
) -> Registration:
    """Register ``moving`` onto ``fixed`` with mutual information; keep the result only if it helps.

    Parameters
    ----------
    fixed, moving
        3D volumes (any contrast; any grid; RAS affines).
    kind
        ``"rigid"`` (6 parameters) or ``"affine"`` (12, started from the rigid result and kept over it only
        when it improves the metric by more than the table's ``affine_gain``).
    preset
        Validated settings: ``"structural"``, ``"longitudinal"``, ``"pet"`` or ``"tram"``
        (``align/data/registration.yaml``).
    fixed_mask
        Boolean mask on the fixed grid limiting where the metric is sampled (e.g. the brain).
    same_frame_of_reference
        The caller knows both series share a frame of reference (one session: same FrameOfReferenceUID).
        If their grids are also identical they are not registered unless moving them by one voxel raises
        their mutual information (:func:`_shows_motion`).
    labels
        ``(fixed, moving)`` names for the record.

    Returns
    -------
    Registration
        The fixed → moving transform in RAS mm, or the identity with the reason it was kept.

    Raises
    ------
    ValueError
        An unknown kind or preset, a 4D, non-finite or constant image, a mask of the wrong shape.
    CannotAssessError
        The optimiser failed (e.g. the images do not overlap).
    """
    table = presets()
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if preset not in table:
        raise ValueError(f"preset must be one of {tuple(table)}, got {preset!r}")
    p = table[preset]
    for name, vol in (("fixed", fixed), ("moving", moving)):
        if vol.is_dynamic:
            raise ValueError(f"{name} must be a 3D volume")
        if not np.isfinite(vol.data).all():
            raise ValueError(f"{name} image contains NaN or infinite values; mask or fill them before registration")
        if float(np.ptp(vol.data)) == 0.0:
            raise ValueError(f"{name} image is constant: nothing to register")
    if fixed_mask is not None and fixed_mask.shape != fixed.spatial_shape:
        raise ValueError(f"fixed_mask shape {fixed_mask.shape} does not match the fixed image {fixed.spatial_shape}")
    work = _Working.prepare(fixed, moving, fixed_mask, p)
    aligned = same_frame_of_reference and same_grid(fixed, moving)
    # Series on one grid are compared at the identity and at whole-voxel shifts only: there the metric is the
    # same, bit for bit, on the fixed image cut to its mask's bounding box (:meth:`_Working.cropped_to_mask`).
    probe = work.cropped_to_mask() if aligned else work
    before = probe.metric(None)
    if aligned:
        moved_by = _shows_motion(probe, before)
        if moved_by is None:
            return identity(
                *labels,
                preset=preset,
                metric=before,
                reason="same frame of reference and grid, and no one-voxel shift raises the similarity: not registered",
            )
    start = _initial_rigid(work, p)
    if p.get("rotation_search_deg"):
        start = _best_start(work, start, p)
    rigid = _optimise(work, start, p, learning=float(p["learning_rate"]))
    best, best_kind, best_metric = rigid, "rigid", work.metric(rigid)
    if kind == "affine":
        affine = _optimise(work, _affine_from(rigid), p, learning=float(p["affine_learning_rate"]))
        affine_metric = work.metric(affine)
        gain = float(load_table("align", "registration")["affine_gain"])
        if affine_metric < best_metric - gain * abs(best_metric):
            best, best_kind, best_metric = affine, "affine", affine_metric
    improved = math.isfinite(best_metric) and (not math.isfinite(before) or best_metric < before)
    if not improved:
        return identity(
            *labels,
            preset=preset,
            metric=before,
            optimised=True,
            reason=f"{best_kind} registration did not improve the metric ({best_metric:.4f} vs {before:.4f} at the "
            "header geometry): header geometry kept",
        )
    return Registration(sitk_transform_to_ras(best), best_kind, preset, before, best_metric, True, "", *labels, True)


@dataclass(frozen=True)
class _Working:
    """The images the optimiser and the metric see (block-averaged or coarsened per the preset)."""

    fixed: sitk.Image
    moving: sitk.Image
    mask: sitk.Image | None
    shrink_factors: tuple[int, ...]
    sigmas: tuple[float, ...]
    bins: int
    sampling: float = 1.0  # fraction of the fixed voxels the optimiser samples at random (:meth:`prepare`)

    @classmethod
    def prepare(cls, fixed: Volume, moving: Volume, fixed_mask: np.ndarray | None, p: dict[str, Any]) -> _Working:
        if p["coarsen_fixed_to_moving"]:
            small = coarsen(fixed, min(moving.spacing_mm))
            if fixed_mask is not None and small is not fixed:
                fixed_mask = warp_mask(fixed_mask, fixed.affine, None, small)
            fixed = small
        shrink = tuple(int(s) for s in p["shrink_factors"])
        sigmas = tuple(float(s) for s in p["smoothing_sigmas"])
        factors = (1, 1, 1)
        if p["working_mm"] is not None:
            # Block-average fine images once (the pyramid would otherwise smooth the full-resolution image at
            # every level) and divide the shrink factors accordingly: same effective resolution, less work.
            factors = block_factors(fixed.spacing_mm, float(p["working_mm"]))
            f_img, factors = _block_average(fixed, factors)
            m_img, _ = _block_average(moving, block_factors(moving.spacing_mm, float(p["working_mm"])))
            # Divided by the largest factor, that of the fine axes: a thick-slice image (0.9 x 0.9 x 5.5 mm,
            # factors 2, 2, 1) has its fine axes at the effective resolution meant, and its thick axis (ITK shrinks
            # every axis alike) no coarser than before. Divided by the smallest, its 26 slices went to 7 of 22 mm,
            # smoothed by 11 mm, where a 20 mm through-plane error does not show (benchmarks/RESULTS.md, l24-reg).
            shrink = tuple(dict.fromkeys(max(1, s // max(factors)) for s in shrink))
            sigmas = tuple(s / 2.0 for s in shrink)  # the structural pyramid smooths by half its shrink
        else:
            f_img, m_img = volume_to_sitk(fixed), volume_to_sitk(moving)
        mask_img = None
        if fixed_mask is not None:
            if factors != (1, 1, 1):
                small_mask = _block(fixed_mask.astype(np.float32), factors) >= 0.5
                mask_img = to_sitk(small_mask.astype(np.uint8), _block_affine(fixed.affine, factors))
            else:
                mask_img = to_sitk(fixed_mask.astype(np.uint8), fixed.affine)
        bins = int(p["histogram_bins"])
        return cls(f_img, m_img, mask_img, shrink, sigmas, bins, _sampling(p, f_img, mask_img, shrink[-1], bins))

    def cropped_to_mask(self) -> _Working:
        """These working images with the fixed image and its mask cut to the mask's bounding box, for the metric
        at the identity and at one-voxel shifts of two series on one grid; ``self`` when that could change it.

        ITK's Mattes metric (``MattesMutualInformationImageToImageMetricv4``) takes the fixed intensity range over
        the mask's voxels, visits the fixed voxels in raster order and adds those inside the mask to the joint
        histogram in that order (one work unit): the voxels outside the mask's bounding box add nothing, so the cut
        leaves the value unchanged bit for bit while the metric no longer walks the whole field of view (about half
        the time on a head). The moving image is not cut (its intensity range is taken over all of it). The one
        rule that depends on the fixed image's extent is ITK's overlap check (an error when fewer than 1/16 of the
        fixed voxels map inside the moving image); it cannot fire, on either grid, for the identity or a one-voxel
        shift on one grid when the mask voxels off the grid's faces number at least 1/16 of the full grid, so the
        cut is made only then.
        """
        if self.mask is None:
            return self
        mask = sitk.GetArrayViewFromImage(self.mask)  # (k, j, i)
        if int(np.count_nonzero(mask[1:-1, 1:-1, 1:-1])) * 16 < mask.size:
            return self
        lo, hi = [], []
        for axis in (2, 1, 0):  # SimpleITK's (i, j, k) order
            along = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
            lo.append(int(along[0]))
            hi.append(int(along[-1]) + 1)
        size = [b - a for a, b in zip(lo, hi, strict=True)]
        if size == list(self.mask.GetSize()):
            return self
        return replace(
            self,
            fixed=sitk.RegionOfInterest(self.fixed, size, lo),
            mask=sitk.RegionOfInterest(self.mask, size, lo),
        )

    def _method(self) -> sitk.ImageRegistrationMethod:
        reg = sitk.ImageRegistrationMethod()
        # One thread and one work unit: the metric's partial sums then add up in one order, so the same images
        # give the same metric and transform on every run and every machine, whatever its core count (with
        # several threads the result varied in the 4th digit of PET TBR and between a cohort worker and assess).
        reg.SetNumberOfThreads(1)
        reg.SetNumberOfWorkUnits(1)
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=self.bins)
        if self.mask is not None:
            reg.SetMetricFixedMask(self.mask)
        reg.SetInterpolator(sitk.sitkLinear)
        return reg

    def metric(self, transform: sitk.Transform | None) -> float:
        """Mattes MI on every fixed voxel (no random sampling) at ``transform`` (None: the identity)."""
        reg = self._method()
        reg.SetMetricSamplingStrategy(reg.NONE)
        # The value alone is asked for, so the gradient images (on by default: the fixed and the moving image
        # smoothed and differentiated in full on every evaluation) would be made and never read: without them the
        # value is bit for bit the same (checked on every pair, preset and pose of the synthetic patient) in about
        # a third of the time. The optimiser (``_optimise``) keeps them: its derivatives are what they are for.
        reg.SetMetricUseFixedImageGradientFilter(False)
        reg.SetMetricUseMovingImageGradientFilter(False)
        reg.SetInitialTransform(sitk.Transform(3, sitk.sitkIdentity) if transform is None else transform)
        try:
            return float(reg.MetricEvaluate(self.fixed, self.moving))
        except RuntimeError:  # too few fixed voxels map inside the moving image: no overlap at this pose
            return float("nan")


def _shows_motion(work: _Working, before: float) -> np.ndarray | None:
    """The one-voxel shift that improves the similarity over the identity, or None when none does.

    Two series of one session with the same frame of reference and grid are in register unless the head
    moved between them. Mutual information is maximal at alignment (Maes F et al., IEEE Trans Med Imaging
    1997;16:187-198), so if a shift by one working voxel along any grid axis, either way, raises it, the head
    moved and the pair is registered. Whole-voxel shifts keep both images on the same sampling lattice, so the
    comparison is free of the interpolation artefacts that bias MI towards (or away from) the grid-aligned pose
    (Pluim JPW et al., Comput Vis Image Underst 2000;77:211-232); and on one lattice no interpolation is needed
    at all: the mutual information of the voxel pairs is computed exactly from their joint histogram
    (:class:`_LatticeMI`, the bins and intensity ranges of the Mattes metric), about 20 times faster than ITK's
    Mattes metric, which smooths the histogram with B-spline Parzen windows for the optimiser's gradient.
    Motion below half a working voxel is not detected: that is left as it is.
    """
    if not math.isfinite(before):
        return np.zeros(3)
    lattice = _LatticeMI.of(work)
    direction = np.array(work.fixed.GetDirection()).reshape(3, 3)
    spacing = np.array(work.fixed.GetSpacing())
    at_identity = lattice.mutual_information(None) if lattice is not None else before
    for axis in range(3):
        step = direction[:, axis] * spacing[axis]
        for sign in (1, -1):
            if lattice is not None:
                better = lattice.mutual_information((axis, sign)) > at_identity
            else:  # not one lattice (cannot happen for series on one grid): the Mattes metric, shifted
                shift = sitk.TranslationTransform(3, [float(v) for v in sign * step])
                better = work.metric(shift) < before
            if better:
                return LPS_FROM_RAS[:3, :3] @ (sign * step)
    return None


@dataclass(frozen=True)
class _LatticeMI:
    """Mutual information of a fixed and a moving image on one voxel lattice, at whole-voxel shifts.

    The intensities are binned as ITK's Mattes metric bins them (``bins`` bins; the fixed range over the fixed
    voxels in the mask, the moving range over the whole moving image), and the fixed voxels in the mask whose
    shifted position lies inside the moving image are paired with the moving voxel there.
    """

    fixed_bins: np.ndarray  # (k, j, i), int
    moving_bins: np.ndarray  # (k, j, i), int, the whole moving image
    mask: np.ndarray  # (k, j, i) over the fixed image
    offset: tuple[int, int, int]  # the fixed image's voxel (0, 0, 0) in the moving image, (k, j, i)
    bins: int

    @classmethod
    def of(cls, work: _Working) -> _LatticeMI | None:
        fixed, moving = work.fixed, work.moving
        same = np.allclose(fixed.GetSpacing(), moving.GetSpacing(), rtol=0, atol=1e-6) and np.allclose(
            fixed.GetDirection(), moving.GetDirection(), rtol=0, atol=1e-9
        )
        if not same:
            return None
        at = np.array(moving.TransformPhysicalPointToContinuousIndex(fixed.GetOrigin()))  # (i, j, k)
        if not np.allclose(at, np.rint(at), atol=1e-3):
            return None
        f = sitk.GetArrayViewFromImage(fixed).astype(np.float64)
        m = sitk.GetArrayViewFromImage(moving).astype(np.float64)
        mask = np.ones(f.shape, dtype=bool) if work.mask is None else sitk.GetArrayViewFromImage(work.mask) > 0
        if not mask.any():
            return None
        return cls(
            _binned(f, f[mask], work.bins),
            _binned(m, m, work.bins),
            mask,
            tuple(int(v) for v in np.rint(at)[::-1]),  # type: ignore[arg-type]
            work.bins,
        )

    def mutual_information(self, shift: tuple[int, int] | None) -> float:
        """MI in nats at the identity (None) or shifted by ``sign`` voxels along SimpleITK axis ``axis``."""
        delta = [0, 0, 0]
        if shift is not None:
            axis, sign = shift
            delta[2 - axis] = sign  # SimpleITK (i, j, k) → array (k, j, i)
        fs, ms = [], []
        for n_fixed, n_moving, off, d in zip(
            self.fixed_bins.shape, self.moving_bins.shape, self.offset, delta, strict=True
        ):
            at = off + d  # fixed voxel p pairs with moving voxel p + at
            lo, hi = max(0, -at), min(n_fixed, n_moving - at)  # those landing inside the moving image
            if hi <= lo:
                return float("-inf")
            fs.append(slice(lo, hi))
            ms.append(slice(lo + at, hi + at))
        inside = self.mask[tuple(fs)]
        pairs = self.fixed_bins[tuple(fs)][inside] * self.bins + self.moving_bins[tuple(ms)][inside]
        joint = np.bincount(pairs, minlength=self.bins * self.bins).reshape(self.bins, self.bins).astype(np.float64)
        total = joint.sum()
        if total == 0:
            return float("-inf")
        p = joint / total
        pf, pm = p.sum(axis=1), p.sum(axis=0)
        nz = p > 0
        return float(np.sum(p[nz] * np.log(p[nz] / np.outer(pf, pm)[nz])))


def _binned(values: np.ndarray, over: np.ndarray, bins: int) -> np.ndarray:
    """``values`` in ``bins`` equal bins spanning the range of ``over`` (values beyond it in the end bins)."""
    lo, hi = float(over.min()), float(over.max())
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.int64)
    return np.clip(((values - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)


def _initial_rigid(work: _Working, p: dict[str, Any]) -> sitk.Transform:
    how = {
        "geometry": sitk.CenteredTransformInitializerFilter.GEOMETRY,
        "moments": sitk.CenteredTransformInitializerFilter.MOMENTS,
    }[str(p["initialiser"])]
    return sitk.CenteredTransformInitializer(work.fixed, work.moving, sitk.Euler3DTransform(), how)


def _best_start(work: _Working, initial: sitk.Transform, p: dict[str, Any]) -> sitk.Euler3DTransform:
    """The rigid start, among the initial pose turned about the three axes, that the coarsest level takes best.

    Mutual information has local optima a gradient descent cannot leave: two scans of one head on different days
    can differ by 15-20° of head tilt (or of slice prescription), more than the optimiser's capture range, and
    from the image centres it then settles on a wrong pose whose metric still beats the header's, so the "do no
    harm" check accepts it (TCIA Brain-Tumor-Progression, the follow-up's header turned 15-20° about one axis:
    9 of 11 pairs ended 3-18 mm (mean over the brain) from the pose found without the turn; benchmarks/RESULTS.md,
    session 41). As FSL FLIRT searches rotations before its fine optimisation (Jenkinson M, Smith S, Med Image Anal
    2001;5:143-156), every combination of 0 and ± each ``rotation_search_deg`` about the three axes, through the
    fixed mask's centroid (the brain), is a start; each is optimised at the pyramid's coarsest level and scored by
    the metric on every voxel of the working images, and the best goes on to the full pyramid.
    """
    start = sitk.Euler3DTransform(initial)
    centre = _mask_centroid(work)
    if centre is not None:
        start.SetCenter(centre)  # the initialiser's start is a translation: the same mapping about any centre
    coarse = replace(work, shrink_factors=work.shrink_factors[:1], sigmas=work.sigmas[:1])
    steps = [0.0, *(math.radians(sign * float(a)) for a in p["rotation_search_deg"] for sign in (1, -1))]
    best, best_metric = start, math.inf
    for angles in itertools.product(steps, repeat=3):
        turned = sitk.Euler3DTransform(start)
        turned.SetRotation(*angles)
        try:
            found = _optimise(coarse, turned, p, learning=float(p["learning_rate"]))
        except CannotAssessError:  # a turned start that leaves no overlap is no candidate
            continue
        score = coarse.metric(found)
        if math.isfinite(score) and score < best_metric:
            best, best_metric = _as_euler(found, start), score
    return best


def _mask_centroid(work: _Working) -> tuple[float, float, float] | None:
    """The fixed mask's centroid (LPS mm), or None without a mask."""
    if work.mask is None:
        return None
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(work.mask)
    if not stats.HasLabel(1):
        return None
    return tuple(float(v) for v in stats.GetCentroid(1))  # type: ignore[return-value]


def _as_euler(found: sitk.Transform, like: sitk.Euler3DTransform) -> sitk.Euler3DTransform:
    """An optimiser's rigid result as one Euler3D transform about ``like``'s centre (the same mapping)."""
    lps = _affine_lps(found)
    out = sitk.Euler3DTransform()
    out.SetCenter(like.GetCenter())
    out.SetMatrix([float(v) for v in lps[:3, :3].ravel()], 1e-6)
    centre = np.array(like.GetCenter())
    # x -> R (x - c) + c + t must equal x -> R x + T: t = T - c + R c
    out.SetTranslation([float(v) for v in lps[:3, 3] - centre + lps[:3, :3] @ centre])
    return out


def _affine_lps(transform: sitk.Transform) -> np.ndarray:
    return LPS_FROM_RAS @ sitk_transform_to_ras(transform) @ LPS_FROM_RAS


def _affine_from(rigid: sitk.Transform) -> sitk.AffineTransform:
    # The optimiser returns a composite holding the Euler3D transform; start the affine from the same
    # mapping (matrix and translation about the origin).
    lps = _affine_lps(rigid)
    aff = sitk.AffineTransform(3)
    aff.SetMatrix([float(v) for v in lps[:3, :3].ravel()])
    aff.SetTranslation([float(v) for v in lps[:3, 3]])
    return aff


def _optimise(work: _Working, initial: sitk.Transform, p: dict[str, Any], *, learning: float) -> sitk.Transform:
    reg = work._method()
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(work.sampling, int(p["seed"]))
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=learning,
        minStep=1e-4,
        numberOfIterations=int(p["iterations"]),
        relaxationFactor=float(p["relaxation"]),
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(work.shrink_factors))
    reg.SetSmoothingSigmasPerLevel(list(work.sigmas))
    if p["smoothing_in_mm"]:
        reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    else:
        reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    reg.SetInitialTransform(initial, inPlace=False)
    try:
        return reg.Execute(work.fixed, work.moving)
    except RuntimeError as exc:  # e.g. no overlap between the images: a reason, not a crash of the case
        text = str(exc).strip()
        last_line = text.splitlines()[-1][:200] if text else type(exc).__name__
        raise CannotAssessError(f"registration failed ({last_line})") from exc


def _sampling(p: dict[str, Any], fixed: sitk.Image, mask: sitk.Image | None, last_shrink: int, bins: int) -> float:
    """The fraction of the fixed voxels the optimiser samples: the preset's, raised when fewer than
    ``min_samples_per_bin`` samples per cell of the joint histogram (``bins``²) would fall in the mask at the last
    pyramid level (ITK draws the fraction over the whole fixed image and drops the samples outside the mask).

    A head in a small field of view with thick slices (raw TCGA-FG-6692: 97 000 brain voxels on the 2 mm working
    grid, 5 % of them 4 800 samples for 2 500 cells) left the optimiser's metric too noisy to follow: it ended
    2-8 mm and 2-12° from the dense metric's optimum depending on the seed (benchmarks/RESULTS.md, l24-reg).
    """
    fraction = float(p["sampling_fraction"])
    per_bin = float(p.get("min_samples_per_bin", 0))
    if per_bin <= 0:
        return fraction
    voxels = np.count_nonzero(sitk.GetArrayViewFromImage(mask)) if mask is not None else fixed.GetNumberOfPixels()
    at_last_level = voxels / float(last_shrink) ** 3
    if at_last_level <= 0:
        return fraction
    return min(1.0, max(fraction, per_bin * bins * bins / at_last_level))


def _block_affine(affine: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    out = affine @ np.diag([*f, 1.0])
    out[:3, 3] = affine[:3, :3] @ ((np.array(f) - 1) / 2.0) + affine[:3, 3]
    return out


def _block(data: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    c = [n - n % k for n, k in zip(data.shape, f, strict=True)]
    d = data[: c[0], : c[1], : c[2]]
    return d.reshape(c[0] // f[0], f[0], c[1] // f[1], f[1], c[2] // f[2], f[2]).mean(axis=(1, 3, 5))


def _block_average(volume: Volume, f: tuple[int, int, int]) -> tuple[sitk.Image, tuple[int, int, int]]:
    """The image as SimpleITK, block-averaged by whole factors ``f`` (and the factors actually used)."""
    if f == (1, 1, 1) or any(n < k for n, k in zip(volume.spatial_shape, f, strict=True)):
        return volume_to_sitk(volume), (1, 1, 1)
    small = _block(np.asarray(volume.data, dtype=np.float32), f)
    return to_sitk(small, _block_affine(volume.affine, f)), f
