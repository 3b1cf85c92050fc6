"""Classical segmentation of enhancing lesions, their non-enhancing core and the FLAIR abnormality.

Method (all arrays on the timepoint's T1c grid, other series registered onto it):

1. **Enhancement map.** ``E = T1c / median(T1c in brain) − T1 / median(T1 in brain)`` when a
   pre-contrast T1 exists (the subtraction removes T1-bright blood products, fat and
   calcification), otherwise ``E = T1c / median − 1``. Normalising by the brain median makes the map
   unit-free, so no scanner scale enters a threshold.
2. **Candidates** (automatic detection): brain voxels with ``E`` more than ``detection_robust_sd``
   robust SDs above the brain median, split into 26-connected components; components smaller than
   ``min_candidate_volume_mm3`` or tube-like (elongation > ``max_elongation``: vessels) are dropped.
   Semi-automatic mode looks only inside the seed's region (a point with a radius, or a box): the
   voxels above half-way between the brain background and the region's peak, without the size and
   shape filters (the reader has said there is a lesion there).
3. **Refinement** at half maximum: per lesion, the enhancing voxels are those above
   ``background + 0.5 × (peak − background)`` (peak = 95th percentile of ``E`` in the candidate),
   connected to the candidate, within 10 mm of it.
4. **Core** = holes of the enhancing mask (3D, and slice by slice) — necrosis or a cavity.
5. **FLAIR abnormality** = brain voxels of FLAIR (or T2) above ``flair_robust_sd`` robust SDs,
   refined at half maximum and kept where connected to the lesion, within ``flair_margin_mm``.

Thresholds and their reasons are in ``lesions/data/segmentation.yaml``. A user's own model plugs
in through :data:`Segmenter` (see :func:`run_segmenter`); no weights are shipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..align.brainmask import fill_holes_3d_and_axial
from ..case import SeriesKind
from ..errors import CannotAssessError
from .rules import value

STRUCT26 = np.ones((3, 3, 3), dtype=bool)


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
        """The seed's search region as a boolean mask on a grid."""
        ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
        world = (affine[:3, :3] @ ijk + affine[:3, 3:4]).reshape(3, *shape)
        if self.point_mm is not None:
            d2 = sum((world[a] - self.point_mm[a]) ** 2 for a in range(3))
            return d2 <= self.radius_mm**2
        assert self.box_mm is not None
        lo = np.minimum(self.box_mm[0], self.box_mm[1])
        hi = np.maximum(self.box_mm[0], self.box_mm[1])
        return np.all([(world[a] >= lo[a]) & (world[a] <= hi[a]) for a in range(3)], axis=0)


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


@dataclass(frozen=True, eq=False)
class SegmentedLesion:
    """One lesion found at one timepoint (masks on the T1c grid)."""

    lesion_id: str
    enhancing: np.ndarray
    core: np.ndarray
    flair: np.ndarray | None
    method: str  # "automatic", "seed", "imported:<format>", "model:<name>"


@dataclass(frozen=True)
class SegmentationInput:
    """What a segmenter receives: images on the T1c grid (registered), the brain mask and the grid."""

    images: Mapping[SeriesKind, np.ndarray]
    brain: np.ndarray
    affine: np.ndarray


# A user's own model: returns a label map on the T1c grid (0 background, 1 enhancing,
# 2 non-enhancing core, 3 FLAIR abnormality outside both). Lesions are its enhancing components.
Segmenter = Callable[[SegmentationInput], np.ndarray]


def _robust(values: np.ndarray) -> tuple[float, float]:
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med)))
    return med, 1.4826 * mad if mad > 0 else float(np.std(values)) or 1e-6


def enhancement_map(t1c: np.ndarray, brain: np.ndarray, t1: np.ndarray | None = None) -> np.ndarray:
    """Unit-free enhancement: T1c − T1 (each over its brain median), or T1c over its median − 1."""
    if not brain.any():
        raise ValueError("brain mask is empty")
    for name, arr in (("T1c", t1c), ("T1", t1)):
        if arr is not None and arr.shape != brain.shape:
            raise ValueError(f"{name} shape {arr.shape} does not match the brain mask {brain.shape}")
    t1c = np.nan_to_num(np.asarray(t1c, dtype=np.float32))
    m_c = float(np.median(t1c[brain]))
    if m_c <= 0:
        raise ValueError("T1c has no positive signal in the brain")
    if t1 is None:
        return t1c / m_c - 1.0
    t1 = np.nan_to_num(np.asarray(t1, dtype=np.float32))
    m_1 = float(np.median(t1[brain]))
    if m_1 <= 0:
        raise ValueError("T1 has no positive signal in the brain")
    return t1c / m_c - t1 / m_1


def _elongation(mask: np.ndarray, spacing: np.ndarray) -> float:
    pts = np.argwhere(mask) * spacing
    if len(pts) < 4:
        return 1.0
    ev = np.linalg.eigvalsh(np.cov(pts.T))
    ev = np.clip(ev, 1e-6, None)
    return float(np.sqrt(ev[-1] / ev[0]))


def _spacing(affine: np.ndarray) -> np.ndarray:
    return np.sqrt((affine[:3, :3] ** 2).sum(axis=0))


def detect_candidates(
    enhancement: np.ndarray, brain: np.ndarray, affine: np.ndarray, *, filter_shapes: bool = True
) -> tuple[np.ndarray, int, list[str]]:
    """Connected components of clearly enhancing brain voxels; returns labels, count, and why some were dropped."""
    med, rsd = _robust(enhancement[brain])
    hot = (enhancement > med + value("segmentation", "detection_robust_sd") * rsd) & brain
    labels, n = ndimage.label(hot, structure=STRUCT26)
    if n == 0 or not filter_shapes:
        return labels, n, []
    spacing = _spacing(affine)
    voxel = float(np.prod(spacing))
    min_vol = value("segmentation", "min_candidate_volume_mm3")
    max_el = value("segmentation", "max_elongation")
    sizes = ndimage.sum_labels(np.ones_like(hot), labels, index=np.arange(1, n + 1)) * voxel
    keep = np.zeros(n + 1, dtype=bool)
    dropped: list[str] = []
    objects = ndimage.find_objects(labels)
    for idx in range(1, n + 1):
        if sizes[idx - 1] < min_vol:
            continue
        sl = objects[idx - 1]
        comp = fill_holes_3d_and_axial(labels[sl] == idx)
        el = _elongation(comp, spacing)
        if el > max_el:
            dropped.append(
                f"an enhancing structure of {sizes[idx - 1]:.0f} mm³ was not taken as a lesion: tube-like "
                f"(elongation {el:.1f} > {max_el:.0f}, a vessel)"
            )
            continue
        keep[idx] = True
    labels = np.where(keep[labels], labels, 0)
    relabelled, n = ndimage.label(labels > 0, structure=STRUCT26)
    return relabelled, n, dropped


def refine_enhancing(
    enhancement: np.ndarray, brain: np.ndarray, candidate: np.ndarray, affine: np.ndarray
) -> np.ndarray:
    """Half-maximum enhancing mask of one lesion, connected to its candidate, within 10 mm of it."""
    bg, _ = _robust(enhancement[brain])
    peak = float(np.percentile(enhancement[candidate], 95))
    if peak <= bg:
        return candidate.copy()
    thr = bg + value("segmentation", "enhancement_fraction") * (peak - bg)
    spacing = _spacing(affine)
    roi = ndimage.distance_transform_edt(~candidate, sampling=spacing) <= 10.0
    above = (enhancement > thr) & brain & roi
    labels, _ = ndimage.label(above, structure=STRUCT26)
    keep = np.unique(labels[candidate & above])
    keep = keep[keep > 0]
    return np.isin(labels, keep) if keep.size else candidate & above


def core_of(enhancing: np.ndarray) -> np.ndarray:
    """The non-enhancing core: holes of the enhancing mask (3D, and per axial slice)."""
    return fill_holes_3d_and_axial(enhancing) & ~enhancing


def flair_abnormality(flair: np.ndarray, brain: np.ndarray, lesion: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """FLAIR/T2-bright brain tissue connected to a lesion (the lesion itself included)."""
    if flair.shape != brain.shape:
        raise ValueError(f"FLAIR shape {flair.shape} does not match the brain mask {brain.shape}")
    f = np.nan_to_num(np.asarray(flair, dtype=np.float32))
    med, rsd = _robust(f[brain])
    spacing = _spacing(affine)
    near = ndimage.distance_transform_edt(~lesion, sampling=spacing) <= value("segmentation", "flair_margin_mm")
    hot = (f > med + value("segmentation", "flair_robust_sd") * rsd) & brain & near
    if hot.any():
        thr = med + value("segmentation", "enhancement_fraction") * (float(np.median(f[hot])) - med)
        hot = (f > thr) & brain & near
    touching = ndimage.binary_dilation(lesion, iterations=2)
    labels, _ = ndimage.label(hot | lesion, structure=STRUCT26)
    keep = np.unique(labels[touching & (hot | lesion)])
    keep = keep[keep > 0]
    return np.isin(labels, keep) | lesion


def _seeded_candidate(e: np.ndarray, region: np.ndarray, bg: float, rsd: float) -> np.ndarray | None:
    """Inside a reader's seed region the lesion is what enhances clearly above the brain: the region's
    voxels above half-way between the brain background and the region's peak (98th percentile),
    provided that peak stands out from the background by at least 3 robust SDs."""
    if not region.any():
        return None
    peak = float(np.percentile(e[region], 98))
    if peak - bg < 3.0 * rsd:
        return None
    hot = (e > bg + value("segmentation", "enhancement_fraction") * (peak - bg)) & region
    labels, n = ndimage.label(hot, structure=STRUCT26)
    if n == 0:
        return None
    sizes = ndimage.sum_labels(np.ones_like(hot), labels, index=np.arange(1, n + 1))
    keep = np.arange(1, n + 1)[sizes >= 0.1 * sizes.max()]
    return np.isin(labels, keep)


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

    Parameters
    ----------
    t1c, t1, flair
        Images on the same grid (the T1c's); ``t1`` and ``flair`` optional.
    brain
        Boolean brain mask on that grid.
    affine
        RAS affine of the grid.
    seeds
        When given, exactly one lesion per seed (named by the seed); otherwise automatic detection
        names lesions ``A1, A2, …`` by decreasing enhancing volume (the tracker renames them).

    Returns
    -------
    lesions, notes
        ``notes`` explains seeds that found nothing and structures that were rejected.
    """
    if brain.shape != t1c.shape:
        raise ValueError(f"brain mask shape {brain.shape} does not match T1c {t1c.shape}")
    brain = np.asarray(brain, dtype=bool)
    e = enhancement_map(t1c, brain, t1)
    notes: list[str] = []
    found: list[tuple[str, np.ndarray, str]] = []
    if seeds:
        bg, rsd = _robust(e[brain])
        for seed in seeds:
            region = seed.region(affine, t1c.shape)
            candidate = _seeded_candidate(e, region, bg, rsd)
            if candidate is None:
                notes.append(f"seed of lesion {seed.lesion_id}: no enhancing tissue found in the seed region")
                continue
            found.append((seed.lesion_id, candidate, "seed"))
    else:
        labels, n, dropped = detect_candidates(e, brain, affine)
        notes.extend(dropped[:5])
        limit = int(value("segmentation", "max_automatic_candidates"))
        if n > limit:
            raise CannotAssessError(
                f"automatic detection found {n} separate enhancing candidates (more than {limit}): the image is too "
                "coarse or noisy for unsupervised detection; give a seed per lesion in case.yaml"
            )
        for idx in range(1, n + 1):
            found.append(("", labels == idx, "automatic"))
    out: list[SegmentedLesion] = []
    for lid, candidate, method in found:
        enh = refine_enhancing(e, brain, candidate, affine)
        core = core_of(enh)
        fl = flair_abnormality(flair, brain, enh | core, affine) if flair is not None else None
        out.append(SegmentedLesion(lid, enh, core, fl, method))
    if not seeds:
        out.sort(key=lambda s: -int(s.enhancing.sum()))
        out = [SegmentedLesion(f"A{i}", s.enhancing, s.core, s.flair, s.method) for i, s in enumerate(out, start=1)]
    return _resolve_overlaps(out), notes


def _resolve_overlaps(lesions: list[SegmentedLesion]) -> list[SegmentedLesion]:
    """Two refined lesions may claim the same voxels; the first (larger or seeded first) keeps them."""
    taken = None
    out = []
    for les in lesions:
        enh = les.enhancing if taken is None else les.enhancing & ~taken
        if not enh.any():
            continue
        out.append(SegmentedLesion(les.lesion_id, enh, les.core & ~enh, les.flair, les.method))
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
    return [SegmentedLesion(f"A{i}", s.enhancing, s.core, s.flair, s.method) for i, s in enumerate(out, start=1)]
