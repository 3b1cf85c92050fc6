"""A deterministic, brain-shaped label volume with a treated tumour whose shape follows a known trajectory.

Everything is analytic (ellipsoids, shells, tubes, smooth random deformation from a seeded
generator), so the truth — diameters, volumes, which tissue each voxel is — is exact and the same
on every machine for the same seed. Tissue labels are the common currency of the phantoms: each
sequence generator (structural here; DSC, DCE, ASL, DWI in their own modules) turns the label map
into signal with the physics of its sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from scipy import ndimage


class Tissue(IntEnum):
    BACKGROUND = 0
    CSF = 1
    GREY_MATTER = 2
    WHITE_MATTER = 3
    OEDEMA = 4  # vasogenic oedema / non-enhancing FLAIR abnormality
    TUMOUR_ENHANCING = 5  # viable, hypervascular tumour that enhances
    TREATMENT_EFFECT_ENHANCING = 6  # pseudoprogression / radiation necrosis: enhances, hypovascular
    NECROSIS = 7  # non-enhancing necrotic core
    CAVITY = 8  # resection cavity (fluid)
    SCALP = 9  # skin and fat outside the skull
    SKULL = 10
    ARTERY = 11  # middle cerebral arteries: where an arterial input function is found


ENHANCING = (Tissue.TUMOUR_ENHANCING, Tissue.TREATMENT_EFFECT_ENHANCING)
BRAIN = (
    Tissue.CSF,
    Tissue.GREY_MATTER,
    Tissue.WHITE_MATTER,
    Tissue.OEDEMA,
    Tissue.TUMOUR_ENHANCING,
    Tissue.TREATMENT_EFFECT_ENHANCING,
    Tissue.NECROSIS,
    Tissue.CAVITY,
    Tissue.ARTERY,
)


@dataclass(frozen=True)
class Grid:
    """The image grid: shape (i, j, k) and voxel size in mm; axial slices along k; RAS+ affine centred on 0."""

    shape: tuple[int, int, int] = (128, 144, 48)
    spacing_mm: tuple[float, float, float] = (1.5, 1.5, 3.0)

    @property
    def affine(self) -> np.ndarray:
        aff = np.diag([*self.spacing_mm, 1.0])
        aff[:3, 3] = [-(n - 1) * s / 2 for n, s in zip(self.shape, self.spacing_mm, strict=True)]
        return aff

    def world(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """RAS mm coordinates of every voxel centre (three broadcastable arrays)."""
        axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(self.shape, self.spacing_mm, strict=True)]
        return (
            axes[0][:, None, None],
            axes[1][None, :, None],
            axes[2][None, None, :],
        )

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))


@dataclass(frozen=True)
class LesionShape:
    """One enhancing lesion at one timepoint, as analytic ellipsoids (RAS mm, axes along x, y, z).

    The enhancing region is the outer ellipsoid minus the inner one (a rim); the inner part is the
    resection cavity or necrotic core. ``semi_axes_mm`` are of the outer ellipsoid; ``core_fraction``
    scales them to the inner one (0 = solid lesion). The FLAIR abnormality is an ellipsoid
    ``oedema_scale`` times the outer one.
    """

    lesion_id: str
    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    core_fraction: float = 0.5
    core: Tissue = Tissue.CAVITY
    enhancing: Tissue = Tissue.TUMOUR_ENHANCING
    oedema_scale: float = 1.6

    @property
    def long_mm(self) -> float:
        """True longest axial diameter (the x–y ellipse through the centre)."""
        return 2 * max(self.semi_axes_mm[0], self.semi_axes_mm[1])

    @property
    def perp_mm(self) -> float:
        return 2 * min(self.semi_axes_mm[0], self.semi_axes_mm[1])

    @property
    def outer_volume_mm3(self) -> float:
        a, b, c = self.semi_axes_mm
        return 4.0 / 3.0 * np.pi * a * b * c

    @property
    def enhancing_volume_mm3(self) -> float:
        return self.outer_volume_mm3 * (1 - self.core_fraction**3)

    @property
    def core_volume_mm3(self) -> float:
        return self.outer_volume_mm3 * self.core_fraction**3


@dataclass
class Anatomy:
    grid: Grid
    labels: np.ndarray  # int8 Tissue per voxel
    lesions: tuple[LesionShape, ...] = ()
    lesion_masks: dict[str, np.ndarray] = field(default_factory=dict)  # enhancing voxels per lesion


def _smooth_noise(shape: tuple[int, int, int], rng: np.random.Generator, sigma_vox: float) -> np.ndarray:
    """Zero-mean, unit-variance, low-frequency noise (for organic deformation of the surfaces)."""
    field_ = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=sigma_vox, mode="wrap")
    return (field_ - field_.mean()) / (field_.std() + 1e-12)


def _ellipsoid(x, y, z, centre, semi_axes) -> np.ndarray:
    """Normalised radius: < 1 inside the ellipsoid."""
    return (
        ((x - centre[0]) / semi_axes[0]) ** 2
        + ((y - centre[1]) / semi_axes[1]) ** 2
        + ((z - centre[2]) / semi_axes[2]) ** 2
    )


def healthy_brain(grid: Grid, *, seed: int) -> np.ndarray:
    """Labels of a normal head: scalp, skull, CSF, cortex, white matter, ventricles, deep grey, arteries."""
    rng = np.random.default_rng(seed)
    x, y, z = grid.world()
    deform = _smooth_noise(grid.shape, rng, sigma_vox=6.0)
    head = _ellipsoid(x, y, z, (0, -5, 0), (80, 98, 68))
    skull_inner = _ellipsoid(x, y, z, (0, -5, 2), (71, 89, 61))
    brain_r = _ellipsoid(x, y, z, (0, -5, 3), (68, 86, 58)) * (1 + 0.03 * deform)
    labels = np.zeros(grid.shape, dtype=np.int8)
    labels[head < 1] = Tissue.SCALP
    labels[head < 0.88] = Tissue.SKULL
    labels[skull_inner < 1] = Tissue.CSF
    brain = brain_r < 1
    # Cortex: a folded shell about 10 mm deep on average, so grey matter is ~50 % of the parenchyma
    # (the noise moves the grey/white boundary in and out).
    folds = _smooth_noise(grid.shape, rng, sigma_vox=1.8)
    wm = brain_r < (0.62 + 0.07 * folds)
    labels[brain] = Tissue.GREY_MATTER
    labels[wm] = Tissue.WHITE_MATTER
    # Sulcal CSF where the folds dip deepest at the surface.
    labels[brain & (brain_r > 0.9) & (folds > 1.2)] = Tissue.CSF
    # Interhemispheric fissure.
    labels[brain & (np.abs(x) < 1.6) & (z > -10) & (brain_r > 0.35)] = Tissue.CSF
    # Deep grey matter (thalami / basal ganglia) and lateral ventricles.
    for side in (-1, 1):
        labels[_ellipsoid(x, y, z, (side * 14, -8, 2), (9, 14, 9)) < 1] = Tissue.GREY_MATTER
        labels[_ellipsoid(x, y, z, (side * 9, 5, 12), (5, 26, 7)) < 1] = Tissue.CSF
    # Middle cerebral arteries: horizontal tubes (radius 2 mm) at the base of the brain, both sides.
    tube = (((y - 8) / 2.2) ** 2 + ((z + 18) / 2.2) ** 2 < 1) & (np.abs(x) > 4) & (np.abs(x) < 45)
    labels[tube & brain] = Tissue.ARTERY
    return labels


def place_lesions(grid: Grid, labels: np.ndarray, lesions: tuple[LesionShape, ...]) -> Anatomy:
    """Draw lesions (oedema, then enhancing rim, then core) onto a healthy brain."""
    x, y, z = grid.world()
    out = labels.copy()
    brain = np.isin(labels, [int(t) for t in BRAIN])
    masks: dict[str, np.ndarray] = {}
    soft = np.isin(labels, [Tissue.WHITE_MATTER, Tissue.GREY_MATTER])
    for les in lesions:
        r = _ellipsoid(x, y, z, les.centre_mm, les.semi_axes_mm)
        oedema_axes = tuple(a * les.oedema_scale for a in les.semi_axes_mm)
        r_oedema = _ellipsoid(x, y, z, les.centre_mm, oedema_axes)
        out[(r_oedema < 1) & soft] = Tissue.OEDEMA
    for les in lesions:
        r = _ellipsoid(x, y, z, les.centre_mm, les.semi_axes_mm)
        outer = (r < 1) & brain
        inner = (r < les.core_fraction**2) & brain if les.core_fraction > 0 else np.zeros_like(outer)
        out[outer] = les.enhancing
        out[inner] = les.core
        masks[les.lesion_id] = outer & ~inner
    return Anatomy(grid=grid, labels=out, lesions=lesions, lesion_masks=masks)
