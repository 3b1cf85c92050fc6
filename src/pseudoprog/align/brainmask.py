"""Brain mask without downloaded weights.

``"classical"``: Otsu threshold of the head, erosion to cut the brain from the scalp through the dark skull,
    the largest component nearest the head centre, dilation back, and hole filling (3D and slice
    by slice) so ventricles, a resection cavity or a necrotic core — dark on T1 — stay inside.
    This is the morphological skull-stripping idea of Brummer et al. (IEEE TMI 1993;12:153-66).

``"deepbet"`` (optional extra ``pseudoprog[brainmask]``: torch + deepbet, weights inside the
wheel, nothing downloaded): a CNN brain extraction. It is not the default because torch adds
hundreds of MB and minutes to a fresh install and ~8 s per volume on 2 cores; it is the better
choice for raw, unstripped clinical images, where the classical method can fail (see the
validation tests and the lesions report).

On images that are already skull-stripped (background exactly zero) the classical method reduces
to the non-zero support with holes filled.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..case import Volume
from .resample import resample_mask

METHODS = ("classical", "deepbet", "auto")


def bright_signal_mask(image: np.ndarray, *, fraction: float) -> np.ndarray:
    """A rough head/tissue mask: voxels brighter than ``fraction`` × the image's 90th percentile.

    The brightest signal is the head (or the brain, on a stripped image), so a fixed fraction of its 90th percentile
    drops the air background without a segmentation; each caller passes its own sourced fraction from its table.

    >>> bright_signal_mask(np.array([0.0, 1.0, 10.0, 10.0]), fraction=0.15).tolist()
    [False, False, True, True]
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    return np.asarray(image > fraction * np.percentile(image, 90))


def _ball(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    r = [max(1, round(radius_mm / s)) for s in spacing]
    grids = np.ogrid[tuple(slice(-n, n + 1) for n in r)]
    r2 = np.zeros([2 * n + 1 for n in r])
    for g, s in zip(grids, spacing, strict=True):
        r2 = r2 + (g * s / radius_mm) ** 2
    return np.asarray(r2 <= 1.0)


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(centres[int(np.argmax(between))])


def fill_holes_3d_and_axial(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed holes in 3D and then in every axial (k) slice."""
    filled = ndimage.binary_fill_holes(mask)
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    # Slice-wise 2D fill: label the background in-plane only; background components not touching
    # the slice border are holes.
    background = ~filled
    labels, _ = ndimage.label(background, structure=structure)
    border = np.zeros_like(filled)
    border[0, :, :] = border[-1, :, :] = border[:, 0, :] = border[:, -1, :] = True
    outside = np.unique(labels[border & background])
    holes = background & ~np.isin(labels, outside)
    return filled | holes


def classical_brain_mask(volume: Volume, *, erode_mm: float = 4.0, working_mm: float = 2.0) -> np.ndarray:
    """Classical (morphological) brain mask of a structural image; see the module docstring.

    Images finer than ``working_mm`` in-plane are block-averaged to about that size first (the
    morphology costs grow with the cube of the structuring element), and the mask is expanded back.
    """
    if volume.is_dynamic:
        raise ValueError("brain_mask takes a 3D volume")
    if erode_mm <= 0 or working_mm <= 0:
        raise ValueError("erode_mm and working_mm must be > 0")
    volume = _constant_background_to_zero(volume)
    factors = [max(1, int(working_mm / s)) for s in volume.spacing_mm]
    if any(f > 1 for f in factors):
        shape = volume.spatial_shape
        crop = [n - n % f for n, f in zip(shape, factors, strict=True)]
        data = np.nan_to_num(np.asarray(volume.data, dtype=np.float32))[: crop[0], : crop[1], : crop[2]]
        coarse = data.reshape(
            crop[0] // factors[0], factors[0], crop[1] // factors[1], factors[1], crop[2] // factors[2], factors[2]
        ).mean(axis=(1, 3, 5))
        affine = volume.affine @ np.diag([*factors, 1.0])
        affine[:3, 3] = volume.affine[:3, :3] @ ((np.array(factors) - 1) / 2.0) + volume.affine[:3, 3]
        small = _classical(Volume(coarse, affine), erode_mm)
        full = resample_mask(small, affine, volume.affine, shape)
        raw = np.nan_to_num(np.asarray(volume.data))
        if np.mean(raw == 0) > 0.2:  # skull-stripped input: the fine support bounds the mask
            full &= raw != 0
        return full
    return _classical(volume, erode_mm)


def _constant_background_to_zero(volume: Volume) -> Volume:
    """A skull-stripped image whose background is a constant other than zero (z-scored intensities,
    BraTS-style preprocessing: the background is the z-score of 0) is shifted so the background is 0."""
    data = np.nan_to_num(np.asarray(volume.data, dtype=np.float32))
    sample = data.ravel()[:: max(1, data.size // 200_000)]
    vals, counts = np.unique(sample, return_counts=True)
    mode = float(vals[int(np.argmax(counts))])
    if mode == 0.0 or counts.max() < 0.2 * sample.size or mode > float(np.median(sample[sample != mode])):
        return volume
    shifted = np.where(data == mode, 0.0, data - mode + 1e-3).astype(np.float32)
    return Volume(shifted, volume.affine)


def _classical(volume: Volume, erode_mm: float) -> np.ndarray:
    data = np.asarray(volume.data, dtype=np.float32)
    finite = np.isfinite(data)
    if not finite.any():
        raise ValueError("image has no finite voxel")
    data = np.where(finite, data, 0.0)
    data = ndimage.gaussian_filter(data, 0.7)
    positive = data[data > 0]
    if positive.size == 0:
        raise ValueError("image is empty (no positive voxel)")
    zero_background = np.mean(np.asarray(volume.data) == 0) > 0.2
    if zero_background:
        # Already skull-stripped: the support, cleaned.
        head = data > 0.05 * float(np.percentile(positive, 99))
        core = ndimage.binary_opening(head, structure=_ball(2.0, volume.spacing_mm))
    else:
        threshold = _otsu(data[data > 0.02 * float(np.percentile(positive, 99))])
        head = data > threshold
        core = ndimage.binary_erosion(head, structure=_ball(erode_mm, volume.spacing_mm))
    labels, n = ndimage.label(core)
    if n == 0:
        raise ValueError("no brain found: the image has no compact bright region after thresholding")
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    # Largest components, preferring the one nearest the centre of the head among the big ones.
    centre = np.array(ndimage.center_of_mass(head))
    coms = np.array(ndimage.center_of_mass(core, labels, index=np.arange(1, n + 1))).reshape(n, 3)
    spacing = np.array(volume.spacing_mm)
    dist = np.linalg.norm((coms - centre) * spacing, axis=1)
    big = sizes >= 0.3 * sizes.max()
    choice = int(np.arange(1, n + 1)[big][np.argmin(dist[big])])
    brain = labels == choice
    if not zero_background:
        brain = ndimage.binary_dilation(brain, structure=_ball(erode_mm, volume.spacing_mm)) & head
        brain = ndimage.binary_closing(brain, structure=_ball(3.0, volume.spacing_mm))
    return fill_holes_3d_and_axial(brain)


def deepbet_available() -> bool:
    """True when the optional deepbet (and torch) are installed: ``pip install pseudoprog[brainmask]``."""
    import importlib.util

    return importlib.util.find_spec("deepbet") is not None


def brain_mask(volume: Volume, *, method: str = "classical") -> tuple[np.ndarray, str]:
    """Brain mask of a structural volume; returns the mask and the method used.

    ``method``: ``"classical"`` (default, always available), ``"deepbet"`` (needs the optional
    extra) or ``"auto"`` (deepbet when installed, else classical).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "deepbet" and not deepbet_available():
        raise ValueError("brain mask method 'deepbet' needs the optional extra: pip install pseudoprog[brainmask]")
    if method == "deepbet" or (method == "auto" and deepbet_available()):
        return deepbet_mask(volume), "deepbet"
    return classical_brain_mask(volume), "classical"


def deepbet_mask(volume: Volume) -> np.ndarray:
    """deepbet (Fisch et al., 2024; weights inside its wheel, CPU) brain mask, on the volume's own grid."""
    import tempfile
    from pathlib import Path

    import nibabel as nib
    from deepbet import run_bet

    if volume.is_dynamic:
        raise ValueError("brain_mask takes a 3D volume")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "image.nii.gz", Path(tmp) / "mask.nii.gz"
        data = np.nan_to_num(np.asarray(volume.data, dtype=np.float32))
        nib.save(nib.Nifti1Image(data, volume.affine), str(src))
        run_bet([str(src)], mask_paths=[str(out)], no_gpu=True, skip_broken=False)
        mask = np.asarray(nib.load(str(out)).get_fdata()) > 0  # type: ignore[attr-defined]
    if mask.shape != volume.spatial_shape:
        raise ValueError(f"deepbet returned a mask of shape {mask.shape} for an image of {volume.spatial_shape}")
    return mask
