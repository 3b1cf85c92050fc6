"""Brain mask without downloaded weights.

``"classical"`` first decides which kind of input it has (:func:`is_skull_stripped`):

- **Raw images with scalp and skull** (clinical T1c, T1, T2, FLAIR): a head mask (BET's background threshold,
  Smith SM, Hum Brain Mapp 2002;17:143-155), the depth of every voxel below the head surface in mm, the
  brain-tissue intensity band learnt from the deep head, an erosion that cuts the brain from scalp, muscle and
  orbit through the dark skull, the component that holds the deep head, dilation back inside the band, bright
  compact tissue mostly surrounded by brain or filling a notch of the brain's per-slice convex hull (an enhancing
  tumour, also one at the cortex whose shell is half skull), closing, and hole filling so ventricles, a resection
  cavity or a necrotic core stay inside (the morphological skull-stripping idea of Brummer et al., IEEE TMI
  1993;12:153-66), and a cut below which nothing is brain (a field of view down to the neck). Numbers and their
  sources:
  ``align/data/brainmask.yaml``.
- **Skull-stripped images** (background exactly zero, or a constant such as the z-score of 0): the non-zero
  support, opened and with holes filled.

:func:`check_brain_mask` then says whether the mask is plausible for an adult brain (volume range, field of
view cut) and :func:`brain_mask` refuses a mask that would mislead ("brain mask not plausible: ...").

``"deepbet"`` (optional extra ``pseudoprog[brainmask]``: torch + deepbet, weights inside the
wheel, nothing downloaded): a CNN brain extraction. It is not the default because torch adds
hundreds of MB and minutes to a fresh install and ~5 s per volume on 2 cores, because the classical method is exact on
skull-stripped images, and because the lesion stage's rules were measured on classical masks. ``"auto"`` uses it only
where the classical mask cannot be the brain imaged (:func:`brain_mask_checked`; benchmarks/RESULTS.md, "deepbet
measured").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from ..case import Volume
from ..errors import CannotAssessError
from ..files import load_table
from .axes import inverse_order, permute_affine, slices_last, transposed
from .mm import at_least, at_most, ball, less_than, more_than, voxels_within
from .resample import block_factors

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


def _table() -> dict[str, Any]:
    return load_table("align", "brainmask")


def is_skull_stripped(data: np.ndarray) -> bool:
    """Whether an image is already skull-stripped: one constant background over much of the volume and
    almost no voxel just above it (raw images have air noise there). Thresholds: ``brainmask.yaml``.

    >>> rng = np.random.default_rng(0)
    >>> brain = np.zeros((20, 20, 20)); brain[5:15, 5:15, 5:15] = 100 + rng.normal(0, 5, (10, 10, 10))
    >>> is_skull_stripped(brain), is_skull_stripped(brain + np.abs(rng.normal(0, 3, brain.shape)).round())
    (True, False)
    """
    t = _table()["stripped"]
    values = np.asarray(data, dtype=np.float32)
    values = values[np.isfinite(values)].ravel()
    sample = values[:: max(1, values.size // 400_000)]
    if sample.size == 0:
        return False
    vals, counts = np.unique(sample, return_counts=True)
    mode = float(vals[int(np.argmax(counts))])
    background = counts.max() / sample.size
    span = float(np.percentile(sample, 99)) - mode
    if background < float(t["min_background_fraction"]) or span <= 0:
        return False
    near = np.mean((sample != mode) & (np.abs(sample - mode) < float(t["near_fraction_of_range"]) * span))
    return bool(near < float(t["max_near_to_background_ratio"]) * background)


def classical_brain_mask(volume: Volume, *, erode_mm: float = 4.0, working_mm: float = 2.0) -> np.ndarray:
    """Classical (morphological) brain mask of a structural image; see the module docstring.

    Raw images (scalp and skull present) go through :func:`_raw_brain_mask`; skull-stripped ones keep their
    non-zero support. ``erode_mm`` and ``working_mm`` apply to skull-stripped input (the raw path's numbers are in
    ``brainmask.yaml``). Images finer than ``working_mm`` in-plane are block-averaged to about that size first
    (the morphology costs grow with the cube of the structuring element), and the mask is expanded back.
    """
    if volume.is_dynamic:
        raise ValueError("brain_mask takes a 3D volume")
    if erode_mm <= 0 or working_mm <= 0:
        raise ValueError("erode_mm and working_mm must be > 0")
    if not np.isfinite(np.asarray(volume.data)).any():
        raise ValueError("image has no finite voxel")
    order = slices_last(volume.affine)
    if order != (0, 1, 2):
        # The per-slice steps (hulls, disks, axial hole filling) work on the grid's third axis: a head stored in
        # another axis order is masked with its slice axis moved last, and the mask moved back (axes.py).
        moved = Volume(transposed(volume.data, order), permute_affine(volume.affine, order))
        mask = classical_brain_mask(moved, erode_mm=erode_mm, working_mm=working_mm)
        return transposed(mask, inverse_order(order))
    if not is_skull_stripped(volume.data):
        return _raw_brain_mask(volume)
    volume = _constant_background_to_zero(volume)
    factors = list(block_factors(volume.spacing_mm, working_mm))
    if any(f > 1 for f in factors):
        shape = volume.spatial_shape
        coarse, affine = _block_mean(np.nan_to_num(np.asarray(volume.data, dtype=np.float32)), volume.affine, factors)
        small = _classical(Volume(coarse, affine), erode_mm)
        full = _expanded(small, factors, shape)
        raw = np.nan_to_num(np.asarray(volume.data))
        if np.mean(raw == 0) > 0.2:  # skull-stripped input: the fine support bounds the mask
            full &= raw != 0
        return full
    return _classical(volume, erode_mm)


def _block_mean(data: np.ndarray, affine: np.ndarray, factors: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Block-average by whole factors; the affine of the coarse grid (voxel centres kept in place)."""
    crop = [n - n % f for n, f in zip(data.shape, factors, strict=True)]
    d = data[: crop[0], : crop[1], : crop[2]]
    coarse = d.reshape(
        crop[0] // factors[0], factors[0], crop[1] // factors[1], factors[1], crop[2] // factors[2], factors[2]
    ).mean(axis=(1, 3, 5))
    out = affine @ np.diag([*factors, 1.0])
    out[:3, 3] = affine[:3, :3] @ ((np.array(factors) - 1) / 2.0) + affine[:3, 3]
    return coarse, out


def _expanded(small: np.ndarray, factors: list[int], shape: tuple[int, ...]) -> np.ndarray:
    """A mask made on :func:`_block_mean`'s coarse grid, back on the grid it was averaged from: trilinear
    interpolation of the 0/1 mask and a 0.5 threshold, as :func:`.resample.resample_mask` does through the two affines,
    but from the blocks' own geometry (a fine voxel i lies at coarse (i - (f - 1) / 2) / f), and the coarse grid's
    edge continued to the fine grid's (the blocks cover the same field of view; the crop's last rows take the edge).

    Through the affines, a header's float rounding decided the first slice: with a factor of 1 along the slices it
    maps to coarse slice -1e-7 or +1e-7, just outside the grid or just inside (3 532 voxels of a tilted TCIA 09 Post;
    benchmarks/RESULTS.md, session 42).

    >>> small = np.zeros((2, 2, 1), dtype=bool); small[0, 0, 0] = True
    >>> _expanded(small, [2, 2, 1], (4, 4, 1))[:, :, 0].astype(int).tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    """
    f = np.asarray(factors, dtype=float)
    to_coarse, offset = np.diag(1.0 / f), -(f - 1.0) / (2.0 * f)
    values = ndimage.affine_transform(
        small.astype(np.float32), to_coarse, offset=offset, output_shape=tuple(shape), order=1, mode="nearest"
    )
    return np.asarray(values >= 0.5)


def _largest(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    return np.asarray(labels == 1 + int(np.argmax(sizes)))


def _padded(op: Any, mask: np.ndarray, element: np.ndarray) -> np.ndarray:
    """A morphological ``op`` with the image continued (edge-replicated) past its borders, so a brain cut by
    the field of view is not eroded away at the cut."""
    pad = [(r, r) for r in (np.array(element.shape) // 2)]
    out = op(np.pad(mask, pad, mode="edge"), structure=element)
    return np.asarray(out[tuple(slice(r, -r if r else None) for r, _ in pad)])


def _raw_brain_mask(volume: Volume) -> np.ndarray:
    """Brain mask of a raw image with scalp and skull (see the module docstring; numbers in brainmask.yaml)."""
    t = _table()["raw"]
    data = np.nan_to_num(np.asarray(volume.data, dtype=np.float32))
    factors = list(block_factors(volume.spacing_mm, float(t["working_mm"])))
    affine = volume.affine
    if any(f > 1 for f in factors):
        data, affine = _block_mean(data, volume.affine, factors)
    small = _raw_on_grid(data, affine, t)
    if small.shape == volume.spatial_shape:
        return small
    return _expanded(small, factors, volume.spatial_shape)


def _depth_below_surface(head: np.ndarray, sp: np.ndarray, t: dict[str, Any]) -> np.ndarray:
    """Depth of every head voxel below the head surface, in mm.

    Where the field of view cuts the head (its cross-section on a border plane is at least ``cut_fraction`` of
    its largest one: the neck, or a brain cut by too few slices) the head is taken to continue past the border
    instead of ending in a surface there; where the head tapers inside the image (the vertex) it does not.

    The image is padded only where that changes a distance: ``fov_continuation_mm`` of head past a cut border,
    one plane of background past a border the head touches, nothing past a border plane it does not touch (that
    plane is background, nearer than anything beyond it). The distances are those of padding every side by
    ``fov_continuation_mm``, on an array up to half the size.
    """
    n = [voxels_within(float(t["fov_continuation_mm"]), s) for s in sp]
    pads: list[tuple[int, int]] = []
    continued: list[tuple[bool, bool]] = []
    for axis in range(3):
        areas = head.sum(axis=tuple(a for a in range(3) if a != axis))
        widths, cut = [], []
        for index in (0, -1):
            cut.append(bool(areas[index] >= float(t["cut_fraction"]) * areas.max()) and areas[index] > 0)
            widths.append(int(n[axis]) if cut[-1] else (1 if areas[index] > 0 else 0))
        pads.append((widths[0], widths[1]))
        continued.append((cut[0], cut[1]))
    padded = np.pad(head, pads, mode="edge")
    for axis, ((lo, hi), (lo_cut, hi_cut)) in enumerate(zip(pads, continued, strict=True)):
        where = [slice(None)] * 3
        if lo and not lo_cut:
            where[axis] = slice(0, lo)
            padded[tuple(where)] = False
        if hi and not hi_cut:
            where[axis] = slice(padded.shape[axis] - hi, None)
            padded[tuple(where)] = False
    depth = ndimage.distance_transform_edt(padded, sampling=sp)
    return np.asarray(depth[tuple(slice(lo, padded.shape[axis] - hi) for axis, (lo, hi) in enumerate(pads))])


def _below_head_top_mm(head: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, float]:
    """How far below the head's top (its most superior voxel, RAS) every voxel lies, in mm, and the head's height."""
    superior = affine[2, :3] @ np.indices(head.shape, dtype=np.float32).reshape(3, -1) + affine[2, 3]
    superior = superior.reshape(head.shape)
    top, bottom = float(superior[head].max()), float(superior[head].min())
    return top - superior, top - bottom


def _below_the_top(head: np.ndarray, below: np.ndarray, height: float, t: dict[str, Any]) -> np.ndarray:
    """The head within ``brain_below_top_mm`` of its top (RAS superior), or all of it when the head is no taller than
    ``head_with_neck_mm``: a field of view down to the neck has deep tissue in the face and neck too, and only the
    upper head's deep tissue is brain (dcm_qa_xa30's 3-D MPRAGE, 250 mm of head: the deep median was the neck's).
    ``below``, ``height``: :func:`_below_head_top_mm` of ``head``."""
    if at_most(height, float(t["head_with_neck_mm"])):
        return head
    return head & at_most(below, float(t["brain_below_top_mm"]))


def _above_the_neck(brain: np.ndarray, below: np.ndarray, t: dict[str, Any]) -> np.ndarray:
    """``brain`` without what lies more than ``brain_max_below_top_mm`` below the head's top (``below``, from
    :func:`_below_head_top_mm`: the neck's muscles and vessels, which the brain-intensity band and the erosion cannot
    always part from the brainstem), its largest piece kept. A field of view that cuts the head's top only lowers the
    cut, so it never takes brain away."""
    above = at_most(below, float(t["brain_max_below_top_mm"]))
    if (brain & ~above).any():
        brain = _largest(brain & above)
    return brain


def _raw_on_grid(data: np.ndarray, affine: np.ndarray, t: dict[str, Any]) -> np.ndarray:
    spacing = Volume(data, affine).spacing_mm
    sp = np.array(spacing, dtype=float)
    data = ndimage.gaussian_filter(data, 1.2 / sp)  # ~1 mm of smoothing against noise, whatever the grid
    p2, p98 = np.percentile(data, [2, 98])
    background = float(p2 + float(t["background_fraction"]) * (p98 - p2))
    head = _largest(data > background)
    if not head.any():
        raise ValueError("no head found: nothing stands above the background")
    head = fill_holes_3d_and_axial(head)
    depth = _depth_below_surface(head, sp, t)
    below, height = _below_head_top_mm(head, affine)
    deep = at_least(depth, float(t["deep_mm"])) & _below_the_top(head, below, height, t)
    if deep.sum() < 100:  # a small head or a thin slab: the deepest part of what is there
        deep = depth >= 0.6 * float(depth.max())
    median = float(np.median(data[deep]))
    lo = median - float(t["band_below"]) * (median - background)
    hi = median + float(t["band_above"]) * (median - background)
    candidate = (data > lo) & (data < hi) & more_than(depth, float(t["scalp_mm"]))
    erosion_ball = ball(float(t["erode_mm"]), spacing)
    core = _padded(ndimage.binary_erosion, candidate, erosion_ball)
    labels, n = ndimage.label(core)
    if n == 0:
        raise ValueError("no brain found: no brain-intensity region survives the erosion that cuts the skull")
    overlap = ndimage.sum_labels(deep, labels, index=np.arange(1, n + 1))
    brain = labels == 1 + int(np.argmax(overlap))
    brain = ndimage.binary_dilation(brain, structure=erosion_ball) & candidate
    # Enhancing tumour, vessels and fat are all brighter than the band. Bright tissue is brain when it is compact
    # (survives an opening: not a thin shell of marrow or a vessel) and mostly surrounded by brain: a tumour at the
    # surface, not the fat of the face or neck that touches the brain at the skull base.
    bright = (data >= hi) & more_than(depth, float(t["scalp_mm"]))
    bright = ndimage.binary_opening(bright, structure=ball(float(t["bright_open_mm"]), spacing))
    labels, n = ndimage.label(bright)
    if n:
        # The shell one ball-radius around each bright piece: how much of it is brain.
        shell = ndimage.grey_dilation(labels, footprint=ball(float(t["bright_open_mm"]), spacing))
        shell[bright] = 0
        index = np.arange(1, n + 1)
        around = ndimage.sum_labels(brain, shell, index=index) / np.maximum(
            ndimage.sum_labels(np.ones_like(shell), shell, index=index), 1
        )
        taken = around >= float(t["bright_surrounded"])
        brain_before = brain.copy()
        brain |= np.isin(labels, index[taken])
        brain |= _at_the_cortex(labels, shell, index[~taken], brain_before, (data <= lo) & head, spacing, t)
    brain = _padded(ndimage.binary_closing, brain, ball(float(t["close_mm"]), spacing))
    return _above_the_neck(fill_holes_3d_and_axial(brain), below, t)


def slice_hull(mask: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Whether each voxel of ``at`` lies inside the convex hull of ``mask``'s pixels on its own slice (image axis 2).
    Also the per-slice hull of the lesions' segmentation (:func:`pseudoprog.lesions.segment.axial_hull`).

    >>> m = np.zeros((7, 7, 1), dtype=bool); m[1:6, 1, 0] = m[1, 1:6, 0] = m[5, 1:6, 0] = True
    >>> a = np.zeros_like(m); a[3, 3, 0] = a[3, 6, 0] = True
    >>> np.argwhere(slice_hull(m, a)).tolist()
    [[3, 3, 0]]
    """
    out = np.zeros(mask.shape, dtype=bool)
    for k in np.flatnonzero(at.any(axis=(0, 1))):
        plane = mask[:, :, k]
        # The hull of a slice is that of its edge pixels.
        pts = np.argwhere(plane & ~ndimage.binary_erosion(plane)).astype(float)
        if pts.shape[0] < 3:
            continue
        try:
            hull = ConvexHull(pts)
        except QhullError:  # the slice's mask is a line
            continue
        ii, jj = np.nonzero(at[:, :, k])
        grid = np.stack([ii, jj], axis=1).astype(float)
        inside = np.all(grid @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-6, axis=1)
        out[ii[inside], jj[inside], k] = True
    return out


def _at_the_cortex(
    labels: np.ndarray,
    shell: np.ndarray,
    index: np.ndarray,
    brain: np.ndarray,
    dark: np.ndarray,
    spacing: tuple[float, float, float],
    t: dict[str, Any],
) -> np.ndarray:
    """Bright masses that fill a notch in the brain's surface: a tumour at the cortex, whose shell is partly skull and
    scalp, so it fails the surrounded test. ``labels``: the compact bright pieces, ``shell`` the ring around each,
    ``index`` the pieces that test left out; ``brain`` the brain so far; ``dark`` the head darker than the brain
    band.

    A piece is taken, as far as it lies inside the brain's per-slice convex hull (the skull is near convex: the hull
    holds the notch but not the scalp, temporal muscle or face), when at least ``cortex_in_hull`` of it lies inside
    the hull, at least ``bright_surrounded`` of its shell inside the hull is brain, and it is a mass: with the core it
    encloses on a slice, a disk of radius ``cortex_mass_mm`` fits in it (not a venous sinus, dural fold or a sheet of
    CSF). Of it, only the in-plane pieces a disk of ``cortex_piece_mm`` fits in are taken, with the core they enclose
    together with the hull's edge (a rim the skull cuts).

    >>> n = 60; ii, jj, kk = np.indices((n, n, 5)); r = np.hypot(ii - 30, jj - 30)
    >>> brain = (r < 28) & (np.hypot(ii - 30, jj - 6) > 14)  # a notch at the surface
    >>> rim = (np.hypot(ii - 30, jj - 8) <= 14) & (np.hypot(ii - 30, jj - 8) > 9) & (r < 28)
    >>> labels = rim.astype(int); shell = ndimage.binary_dilation(rim, iterations=2) & ~rim
    >>> t = {"cortex_in_hull": 0.5, "bright_surrounded": 0.5, "cortex_mass_mm": 2.0, "cortex_piece_mm": 3.0}
    >>> core = (np.hypot(ii - 30, jj - 8) <= 9) & (r < 28)
    >>> add = _at_the_cortex(labels, shell.astype(int), np.array([1]), brain & ~rim & ~core, core, (1.0, 1.0, 1.0), t)
    >>> bool(add[30, 8, 2]), bool(add[30, 0, 2])  # the core in, nothing beyond the hull
    (True, False)
    """
    out = np.zeros(brain.shape, dtype=bool)
    if index.size == 0:
        return out
    hull = slice_hull(brain, np.isin(labels, index) | np.isin(shell, index))
    counts = np.maximum(ndimage.sum_labels(np.ones_like(labels), labels, index=index), 1)
    in_hull = ndimage.sum_labels(hull, labels, index=index) / counts
    ring = np.where(hull, shell, 0)
    around = ndimage.sum_labels(brain, ring, index=index) / np.maximum(
        ndimage.sum_labels(np.ones_like(ring), ring, index=index), 1
    )
    boxes = ndimage.find_objects(labels)
    piece_mm = float(t["cortex_piece_mm"])
    disk = ball(piece_mm, spacing[:2])
    margin = disk.shape[0] // 2 + 2  # in-plane, so that a gap between a rim and the hull's edge lies inside the box
    for lab in index[(in_hull >= float(t["cortex_in_hull"])) & (around >= float(t["bright_surrounded"]))]:
        found = boxes[lab - 1]
        if found is None:
            continue
        box = tuple(
            slice(max(0, b.start - (margin if axis < 2 else 0)), b.stop + (margin if axis < 2 else 0))
            for axis, b in enumerate(found)
        )
        part = (labels[box] == lab) & hull[box]
        # The hull over the whole box: a core the piece leaves open towards the skull is closed by the hull's edge.
        region = np.zeros(brain.shape, dtype=bool)
        region[box] = True
        inside = slice_hull(brain, region)[box]
        kept = np.zeros_like(part)
        widest = 0.0
        for k in np.flatnonzero(part.any(axis=(0, 1))):
            # The piece with the core it encloses together with the hull's edge (a rim the skull cuts), its in-plane
            # gaps narrower than 2 x cortex_piece_mm closed.
            wall = _padded(ndimage.binary_closing, part[:, :, k] | ~inside[:, :, k], disk)
            closed = ndimage.binary_fill_holes(wall) & inside[:, :, k]
            # A mass: the piece with the core it encloses on its own, or with the dark core (below the brain band) it
            # encloses against the hull's edge; not the brain or CSF a sheet of CSF holds against the skull on a T2.
            mass = ndimage.binary_fill_holes(part[:, :, k]) | (closed & dark[box][:, :, k])
            widest = max(widest, _widest_disk(mass, spacing))
            pieces, n = ndimage.label(closed)
            if n == 0:
                continue
            depth = ndimage.distance_transform_edt(np.pad(pieces > 0, 1), sampling=spacing[:2])[1:-1, 1:-1]
            radius = np.asarray(ndimage.maximum(depth, pieces, index=np.arange(1, n + 1)))
            kept[:, :, k] = np.isin(pieces, 1 + np.flatnonzero(at_least(radius, piece_mm)))
        if less_than(widest, float(t["cortex_mass_mm"])):
            continue
        out[box] |= kept
    return out


def _widest_disk(plane: np.ndarray, spacing: tuple[float, float, float]) -> float:
    """Radius in mm of the largest disk that fits in a 2D mask."""
    if not plane.any():
        return 0.0
    return float(ndimage.distance_transform_edt(np.pad(plane, 1), sampling=spacing[:2]).max())


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
        core = ndimage.binary_opening(head, structure=ball(2.0, volume.spacing_mm))
    else:
        threshold = _otsu(data[data > 0.02 * float(np.percentile(positive, 99))])
        head = data > threshold
        core = ndimage.binary_erosion(head, structure=ball(erode_mm, volume.spacing_mm))
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
        brain = ndimage.binary_dilation(brain, structure=ball(erode_mm, volume.spacing_mm)) & head
        brain = ndimage.binary_closing(brain, structure=ball(3.0, volume.spacing_mm))
    return fill_holes_3d_and_axial(brain)


def deepbet_available() -> bool:
    """True when the optional deepbet (and torch) are installed: ``pip install pseudoprog[brainmask]``."""
    import importlib.util

    return importlib.util.find_spec("deepbet") is not None


@dataclass(frozen=True)
class BrainMaskCheck:
    """Whether a brain mask is plausible for an adult head (numbers and source: ``brainmask.yaml``).

    ``volume_ml``: the mask's volume; ``cut``: the image borders the mask reaches (the field of view cuts the
    brain there, so its volume is partial); ``warnings``: what a reader should know; ``refusal``: why the mask
    would mislead (``""`` when it is usable); ``missing_brain``: why the mask must leave part of the imaged brain
    out (below the adult range with the field of view not cutting it; ``""`` otherwise), so that a search inside it
    cannot say what is not there.
    """

    volume_ml: float
    cut: tuple[str, ...]
    warnings: tuple[str, ...]
    refusal: str = ""
    missing_brain: str = ""


_AXIS_ENDS = ("first", "last")


def check_brain_mask(volume: Volume, mask: np.ndarray) -> BrainMaskCheck:
    """Plausibility of ``mask`` as an adult brain on ``volume``'s grid: volume range and field-of-view cut.

    >>> v = Volume(np.zeros((10, 10, 10)), np.diag([12.0, 12.0, 12.0, 1.0]))
    >>> m = np.zeros((10, 10, 10), dtype=bool); m[2:8, 2:8, 2:8] = True
    >>> check_brain_mask(v, m).volume_ml, check_brain_mask(v, m).refusal
    (373.248, '')
    """
    if mask.shape != volume.spatial_shape:
        raise ValueError(f"mask shape {mask.shape} does not match the image {volume.spatial_shape}")
    t = _table()["plausibility"]
    volume_ml = round(volume.volume_mm3(mask) / 1000.0, 3)
    cut: list[str] = []
    if mask.any():
        for axis in range(3):
            areas = mask.sum(axis=tuple(a for a in range(3) if a != axis))
            for end, index in zip(_AXIS_ENDS, (0, -1), strict=True):
                if areas[index] > float(t["end_slice_head_fraction"]) * areas.max():
                    cut.append(f"{end} plane of image axis {axis}")
    low, high = float(t["min_ml"]), float(t["max_ml"])
    source = "adult range, Matsumae et al. 1996"
    warnings: list[str] = []
    refusal = ""
    if cut:
        warnings.append(
            "the brain mask reaches the image border (" + ", ".join(cut) + "): the field of view cuts the brain, "
            "so its volume is partial"
        )
    if volume_ml > float(t["refuse_above_ml"]):
        refusal = (
            f"brain mask not plausible: {volume_ml:.0f} mL is beyond any adult brain ({low:.0f}-{high:.0f} mL, "
            f"{source}); it must hold scalp, face or neck"
        )
    elif volume_ml < float(t["refuse_below_ml"]) and not cut:
        refusal = (
            f"brain mask not plausible: {volume_ml:.0f} mL is far below any adult brain ({low:.0f}-{high:.0f} mL, "
            f"{source}) and the field of view does not cut it: check the voxel size in the header"
        )
    elif not low <= volume_ml <= high:
        side = "above" if volume_ml > high else "below"
        why = " (the field of view cuts it)" if cut and volume_ml < low else ""
        warnings.append(
            f"brain mask volume {volume_ml:.0f} mL is {side} the adult range {low:.0f}-{high:.0f} mL ({source}){why}: "
            "check the mask"
        )
    missing = ""
    if not refusal and volume_ml < low and not cut:
        # The whole head is imaged, so the brain left out is not the field of view's doing: the mask missed it
        # (dcm_qa_xa30's 3-D MPRAGE: 524 mL, grey matter darker than the classical band; benchmarks/RESULTS.md).
        missing = (
            f"the brain mask holds {volume_ml:.0f} mL, less than an adult brain ({low:.0f}-{high:.0f} mL, {source}), "
            "and the field of view does not cut it: part of the brain is outside the mask and was not searched"
        )
    return BrainMaskCheck(volume_ml, tuple(cut), tuple(warnings), refusal, missing)


def brain_mask(volume: Volume, *, method: str = "classical") -> tuple[np.ndarray, str]:
    """Brain mask of a structural volume; returns the mask and the method used.

    ``method``: ``"classical"`` (default, always available), ``"deepbet"`` (needs the optional
    extra) or ``"auto"`` (the classical mask, and deepbet's instead where the classical one is implausible on an image
    with skull and the extra is installed: :func:`brain_mask_checked`). For the plausibility warnings as well, use
    :func:`brain_mask_checked`.

    Raises
    ------
    CannotAssessError
        The mask would mislead ("brain mask not plausible: ..."; see :func:`check_brain_mask`).
    """
    mask, used, _ = brain_mask_checked(volume, method=method)
    return mask, used


def _mask_failed(check: BrainMaskCheck) -> bool:
    """Whether a mask cannot be the brain of the head imaged where another mask could be: it holds more than an adult
    brain (scalp, face or neck kept; a cut field of view never adds volume), or less with the whole head imaged. A
    mask refused as far too small for the head ("check the voxel size in the header") is not: no mask mends a
    header."""
    return bool(check.missing_brain) or check.volume_ml > float(_table()["plausibility"]["max_ml"])


def _adult(check: BrainMaskCheck) -> bool:
    t = _table()["plausibility"]
    return not check.refusal and float(t["min_ml"]) <= check.volume_ml <= float(t["max_ml"])


_DEEPBET_HINT = (
    "with the optional extra installed (pip install 'pseudoprog[brainmask]'), --brain-mask auto (the default) uses "
    "deepbet's mask where the classical one fails like this (benchmarks/RESULTS.md, 'deepbet measured')"
)


def brain_mask_checked(volume: Volume, *, method: str = "classical") -> tuple[np.ndarray, str, BrainMaskCheck]:
    """:func:`brain_mask` with its :class:`BrainMaskCheck` (warnings to show with the output).

    ``"auto"`` is the classical mask unless, on an image with skull, that mask cannot be the brain imaged (more than
    an adult brain, or less with the whole head imaged: :func:`_mask_failed`) and deepbet is installed: then
    deepbet's mask if its volume is an adult brain's, with a warning giving both volumes. Measured on the real scans
    here (benchmarks/RESULTS.md, "deepbet measured"): deepbet agrees better with ROBEX on raw images (a 3-D MPRAGE
    whose classical mask holds 517 mL: 1573 mL, Dice 0.87 against 0.42), the classical method is exact on
    skull-stripped ones (Dice 0.994-1.000 against deepbet's 0.94-0.97), and the lesion stage's rules were measured
    on classical masks (automatic detection on deepbet's masks: Dice >= 0.6 on 10 of the 26 real scans against 17),
    so deepbet only replaces a classical mask that cannot be right. Where the classical mask fails so and deepbet is
    not used, the check says how to get it.

    Raises :class:`~pseudoprog.errors.CannotAssessError` when the check refuses the mask.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "deepbet" and not deepbet_available():
        raise ValueError("brain mask method 'deepbet' needs the optional extra: pip install pseudoprog[brainmask]")
    if method == "deepbet":
        mask, used = deepbet_mask(volume), "deepbet"
        check = check_brain_mask(volume, mask)
    else:
        mask, used = classical_brain_mask(volume), "classical"
        check = check_brain_mask(volume, mask)
        if _mask_failed(check) and not is_skull_stripped(volume.data):
            if method == "auto" and deepbet_available():
                other = deepbet_mask(volume)
                other_check = check_brain_mask(volume, other)
                if _adult(other_check):
                    note = (
                        f"the classical brain mask held {check.volume_ml:.0f} mL, not the brain of the head imaged; "
                        f"the deepbet mask ({other_check.volume_ml:.0f} mL) is used instead"
                    )
                    return other, "deepbet", replace(other_check, warnings=(*other_check.warnings, note))
                check = _told(check, f"the deepbet mask held {other_check.volume_ml:.0f} mL too")
            else:
                check = _told(check, _DEEPBET_HINT)
    if check.refusal:
        raise CannotAssessError(f"{check.refusal} ({used} method)")
    return mask, used, check


def _told(check: BrainMaskCheck, text: str) -> BrainMaskCheck:
    """``check`` with ``text`` added where a reader sees it: the refusal, else the missing brain, else a warning."""
    if check.refusal:
        return replace(check, refusal=f"{check.refusal}; {text}")
    if check.missing_brain:
        return replace(check, missing_brain=f"{check.missing_brain}; {text}")
    return replace(check, warnings=(*check.warnings, text))


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
