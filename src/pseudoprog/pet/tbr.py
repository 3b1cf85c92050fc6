"""Tumour-to-background ratios (TBRmax, TBRmean) of a lesion on an SUV image, against a contralateral background.

The background is either a mask the user supplies or chosen automatically: a sphere centred on the mirror
image of the lesion centroid across the head's mid-sagittal plane, lesion voxels and air excluded
(``data/pet.yaml``). The plane passes through the head mask's centroid, oriented as the head mask's
mirror-symmetry plane in world space (:func:`pseudoprog.perfusion.reference_region.midline_normal`), so a head
turned in the scanner is mirrored about its own midline: mirrored across the scanner's left-right axis instead, a
lesion 60 mm from the midline of a head turned 9 degrees lands about 19 mm from its homologous place. When that
orientation cannot be trusted (a head mask too small or not mirror-symmetric enough), the plane is normal to the
world left-right axis, as the result says [DERIVED; the head roughly straight] — supply the background mask then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import pet_table


@dataclass(frozen=True)
class TbrResult:
    suv_max: float
    suv_mean: float
    background_mean: float
    background_voxels: int
    tbr_max: float
    tbr_mean: float
    tbr_mean_threshold: float | None  # mean over lesion ∪ surroundings voxels ≥ threshold × background
    method: str  # "mask" | "contralateral sphere"
    background_centre_ras_mm: tuple[float, float, float] | None = None
    background_mirror: str | None = None  # how the lesion centroid was mirrored (the contralateral sphere only)


def head_mask(suv: np.ndarray, *, threshold_fraction: float | None = None) -> np.ndarray:
    """Voxels inside the head: uptake above a fraction of the 99th percentile of positive voxels."""
    frac = (
        float(pet_table()["background"]["head_threshold_fraction"])
        if threshold_fraction is None
        else threshold_fraction
    )
    if not 0.0 < frac < 1.0:
        raise ValueError(f"threshold_fraction must be in (0, 1), got {threshold_fraction}")
    positive = suv[suv > 0]
    if positive.size == 0:
        return np.zeros(suv.shape, dtype=bool)
    return suv > frac * float(np.percentile(positive, 99))


@dataclass(frozen=True)
class ContralateralSphere:
    region: np.ndarray  # bool, on the lesion's grid
    centre: np.ndarray  # RAS mm
    mirror: str  # how the lesion centroid was mirrored, for the result's provenance


def contralateral_sphere(
    lesion: np.ndarray,
    affine: np.ndarray,
    head: np.ndarray,
    *,
    exclude: np.ndarray | None = None,
    diameter_mm: float | None = None,
) -> ContralateralSphere:
    """The automatic background: a sphere about the lesion centroid's mirror image across the head's midline.

    Parameters
    ----------
    lesion
        Boolean mask of the lesion (its centroid is mirrored).
    affine
        RAS+ affine of the grid.
    head
        Boolean mask of the head (background is restricted to it).
    exclude
        Voxels never to use as background (all lesions of the timepoint); default ``lesion``.
    diameter_mm
        Sphere diameter; default from ``data/pet.yaml``.
    """
    d = float(pet_table()["background"]["sphere_diameter_mm"]) if diameter_mm is None else float(diameter_mm)
    if not np.isfinite(d) or d <= 0:
        raise ValueError(f"diameter_mm must be positive, got {diameter_mm}")
    if not lesion.any():
        raise ValueError("the lesion mask is empty")
    if not head.any():
        raise ValueError("the head mask is empty")

    def centroid(mask: np.ndarray) -> np.ndarray:
        ijk = np.argwhere(mask).mean(axis=0)
        return (affine @ np.array([*ijk, 1.0]))[:3]

    from ..perfusion.reference_region import midline_normal

    c_lesion, c_head = centroid(lesion), centroid(head)
    normal, plane = midline_normal(head, affine, "head")
    # x' = x - 2 (n.(x - c)) n: the reflection across the plane of normal n through the head's centroid c
    mirror = c_lesion - 2.0 * float(normal @ (c_lesion - c_head)) * normal
    ii, jj, kk = np.indices(lesion.shape, sparse=True)
    a = affine
    x = a[0, 0] * ii + a[0, 1] * jj + a[0, 2] * kk + a[0, 3] - mirror[0]
    y = a[1, 0] * ii + a[1, 1] * jj + a[1, 2] * kk + a[1, 3] - mirror[1]
    z = a[2, 0] * ii + a[2, 1] * jj + a[2, 2] * kk + a[2, 3] - mirror[2]
    sphere = x**2 + y**2 + z**2 <= (d / 2.0) ** 2
    region = sphere & head & ~(lesion if exclude is None else exclude)
    return ContralateralSphere(region, mirror, f"mirrored across {plane}")


def tumour_to_background(
    suv: np.ndarray,
    lesion: np.ndarray,
    affine: np.ndarray,
    *,
    background: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
    surroundings: np.ndarray | None = None,
    threshold_x_background: float | None = None,
) -> TbrResult:
    """TBRmax = SUVmax(lesion) / mean SUV(background); TBRmean = mean SUV(lesion) / mean SUV(background).

    Parameters
    ----------
    suv
        SUV image on the lesion mask's grid.
    lesion
        Boolean lesion mask.
    affine
        RAS+ affine of the grid.
    background
        A background mask; if ``None`` the contralateral sphere is chosen automatically.
    exclude
        Voxels never to use as background (all lesions); default ``lesion``.
    surroundings
        Where to look for voxels above ``threshold_x_background`` × background for the threshold TBRmean
        (e.g. the lesion and its FLAIR abnormality); default the lesion.
    threshold_x_background
        Threshold for the biological-tumour-volume TBRmean (FET: 1.6); ``None`` leaves it out.
    """
    if suv.shape != lesion.shape:
        raise ValueError(f"suv shape {suv.shape} does not match lesion mask {lesion.shape}")
    lesion = lesion.astype(bool)
    if not lesion.any():
        raise ValueError("the lesion mask is empty")
    mirror: str | None = None
    if background is None:
        sphere = contralateral_sphere(lesion, affine, head_mask(suv), exclude=exclude)
        region, centre, mirror = sphere.region, sphere.centre, sphere.mirror
        method, centre_t = "contralateral sphere", (float(centre[0]), float(centre[1]), float(centre[2]))
    else:
        if background.shape != suv.shape:
            raise ValueError(f"background mask shape {background.shape} does not match suv {suv.shape}")
        region, method, centre_t = background.astype(bool) & ~lesion, "mask", None
    n_bg = int(np.count_nonzero(region))
    min_vox = int(pet_table()["background"]["min_voxels"])
    if n_bg < min_vox:
        raise ValueError(f"background region has {n_bg} voxels (< {min_vox}): TBR would be unstable")
    bg = float(suv[region].mean())
    if not bg > 0:
        raise ValueError(f"background mean SUV is {bg:g}: TBR undefined")
    values = suv[lesion]
    thr_tbr = None
    if threshold_x_background is not None:
        area = lesion if surroundings is None else (surroundings.astype(bool) | lesion)
        hot = suv[area & (suv >= threshold_x_background * bg)]
        thr_tbr = float(hot.mean() / bg) if hot.size else None
    return TbrResult(
        suv_max=float(values.max()),
        suv_mean=float(values.mean()),
        background_mean=bg,
        background_voxels=n_bg,
        tbr_max=float(values.max() / bg),
        tbr_mean=float(values.mean() / bg),
        tbr_mean_threshold=thr_tbr,
        method=method,
        background_centre_ras_mm=centre_t,
        background_mirror=mirror,
    )
