"""Image panels of one timepoint at the lesion: T1c with the lesion outline, rCBV, FTB classes and ADC.

The panel is drawn on the axial slice where the enhancing lesion is largest, cropped around it, in
the radiological convention (patient's right on the viewer's left). Maps on other grids (DSC, DWI)
are carried to the T1c grid through the affines (same session, same scanner space). The result is a
PNG, saved in the output folder so that ``pseudoprog report`` can re-render without the images.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from nibabel import orientations

from ..align.resample import resample_mask, resample_to_grid
from ..case import LesionMask, Volume
from .map_names import display_unit
from .timeline import display_settings

# Maps the panel row shows when present, in this order, with display ranges (in the map's unit).
PANEL_MAPS: dict[str, tuple[str, str, float, float, str]] = {
    # name: (title, unit the range is in, display minimum, display maximum, colour map)
    "rcbv": ("rCBV", "ratio", 0.0, 4.0, "jet"),
    "adc": ("ADC", "mm2/s", 0.0, 3.0e-3, "gray"),
}


@dataclass(frozen=True)
class MapImage:
    """A quantitative map as the panel needs it: pixels on their own grid, with the unit."""

    name: str
    data: np.ndarray
    affine: np.ndarray
    unit: str


@dataclass(frozen=True)
class Panel:
    png: bytes
    slice_index: int  # axial slice of the T1c (in its stored orientation) the panel shows
    caption: str
    shown: tuple[str, ...]  # which images the panel holds
    missing: tuple[str, ...]  # which it would hold if they existed
    windows: Mapping[str, tuple[float, float]]  # display range of each map shown, in its unit


def _to_ras(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient an array to the closest RAS+ axes (a permutation and flips only)."""
    ornt = orientations.io_orientation(affine)
    out = orientations.apply_orientation(data, ornt)
    new_affine = affine @ orientations.inv_ornt_aff(ornt, data.shape[:3])
    return out, new_affine


def _on_grid(mask: np.ndarray, src: np.ndarray, dst: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    if mask.shape == shape and np.allclose(src, dst, atol=1e-4):
        return mask.astype(bool)
    return resample_mask(mask, src, dst, shape)


def _window(image: np.ndarray) -> tuple[float, float]:
    values = image[image > 0]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [1.0, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def _masks_on_t1c(t1c: Volume, masks: Sequence[LesionMask]) -> tuple[np.ndarray, np.ndarray]:
    """Enhancing and non-enhancing-core voxels of all lesions, on the T1c grid (stored orientation)."""
    shape = t1c.spatial_shape
    enhancing = np.zeros(shape, bool)
    core = np.zeros(shape, bool)
    for m in masks:
        enhancing |= _on_grid(m.enhancing, m.affine, t1c.affine, shape)
        if m.core is not None:
            core |= _on_grid(m.core, m.affine, t1c.affine, shape)
    if not enhancing.any():
        raise ValueError("the lesion masks hold no enhancing voxel: nothing to centre the panel on")
    return enhancing, core


def _maps_on_slice(
    maps: Mapping[str, MapImage], ras_affine: np.ndarray, ras_shape: tuple[int, ...], k: int
) -> dict[str, np.ndarray]:
    """Each map carried to axial slice ``k`` of the T1c's RAS+ grid (NaN outside the map), as an (i, j) plane.

    Only the slice the panel shows is interpolated (the same points the whole resampled volume would hold
    there), not the whole T1c grid per map.
    """
    slice_affine = ras_affine.copy()
    slice_affine[:3, 3] = ras_affine[:3, :3] @ np.array([0.0, 0.0, float(k)]) + ras_affine[:3, 3]
    plane_shape = (int(ras_shape[0]), int(ras_shape[1]), 1)
    return {
        name: resample_to_grid(
            np.nan_to_num(mp.data.astype(np.float32)), mp.affine, slice_affine, plane_shape, order=1, fill=np.nan
        )[:, :, 0]
        for name, mp in maps.items()
    }


@dataclass(frozen=True)
class _Zoom:
    k: int  # axial slice (RAS+) with the largest enhancing area
    lo: np.ndarray  # first in-plane voxel of the crop
    hi: np.ndarray  # one past the last
    crop: tuple[slice, slice, int]
    ext: tuple[float, float, float, float]  # physical extent, mm from the crop corner
    spacing: np.ndarray


def _zoom(image: np.ndarray, enh: np.ndarray, ras_affine: np.ndarray) -> _Zoom:
    """The crop round the enhancing lesion on its largest axial slice (at least 30 mm each side)."""
    k = int(np.argmax(enh.sum(axis=(0, 1))))
    spacing = np.sqrt((ras_affine[:3, :3] ** 2).sum(axis=0))
    ii, jj = np.nonzero(enh[:, :, k])
    centre = np.array([(ii.min() + ii.max()) / 2, (jj.min() + jj.max()) / 2])
    extent_mm = max((ii.max() - ii.min() + 1) * spacing[0], (jj.max() - jj.min() + 1) * spacing[1])
    half_mm = max(30.0, 1.2 * extent_mm)
    lo = np.maximum(np.floor(centre - half_mm / spacing[:2]).astype(int), 0)
    hi = np.minimum(np.ceil(centre + half_mm / spacing[:2]).astype(int) + 1, np.array(image.shape[:2]))
    crop = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), k)
    # Physical extent (mm from the crop corner); x axis inverted: patient's right on the viewer's left.
    ext = (0.0, (hi[0] - lo[0]) * spacing[0], 0.0, (hi[1] - lo[1]) * spacing[1])
    return _Zoom(k=k, lo=lo, hi=hi, crop=crop, ext=ext, spacing=spacing)


def _draw_t1c(ax: Axes, enh: np.ndarray, cor: np.ndarray, z: _Zoom) -> None:
    """The enhancing outline (red) and the non-enhancing core (dashed blue) on the T1c."""
    ax.contour(
        enh[z.crop].T.astype(float), levels=[0.5], colors=["#ff2d2d"], linewidths=1.2, origin="lower", extent=z.ext
    )
    if cor[z.crop].any():
        ax.contour(
            cor[z.crop].T.astype(float),
            levels=[0.5],
            colors=["#38c7ff"],
            linewidths=0.9,
            origin="lower",
            extent=z.ext,
            linestyles="dashed",
        )
    ax.set_title("T1c + lesion outline", fontsize=8)


def _draw_ftb(ax: Axes, rcbv_plane: np.ndarray, enh: np.ndarray, z: _Zoom, ftb: Mapping[str, Any]) -> None:
    """Fractional tumour burden classes (low / mid / high rCBV) inside the enhancing lesion (on the shown slice)."""
    rcbv = rcbv_plane[z.crop[:2]]
    inside = enh[z.crop]
    classes = np.full(rcbv.shape, np.nan)
    classes[inside & (rcbv < ftb["low_below"])] = 0
    classes[inside & (rcbv >= ftb["low_below"]) & (rcbv <= ftb["high_above"])] = 1
    classes[inside & (rcbv > ftb["high_above"])] = 2
    palette = ftb["colours"]
    cmap = colors.ListedColormap([palette["low"], palette["intermediate"], palette["high"]])
    ax.imshow(
        np.ma.masked_invalid(classes).T,
        origin="lower",
        cmap=cmap,
        vmin=-0.5,
        vmax=2.5,
        extent=z.ext,
        interpolation="nearest",
        alpha=0.85,
    )
    ax.set_title("FTB (rCBV classes)", fontsize=8)
    ax.legend(
        handles=[Patch(facecolor=palette[k], edgecolor="none", label=text) for k, text in ftb_legend(ftb)],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        fontsize=6,
        title="thresholds for BSW leakage-corrected rCBV",  # the correction the thresholds were derived with
        title_fontsize=6,
        frameon=False,
        handlelength=1.0,
        borderaxespad=0.2,
    )


def ftb_legend(ftb: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(class, legend text) of the FTB overlay: 'low: rCBV < 1.0', 'intermediate: 1.0–1.75', 'high: > 1.75'."""
    lo, hi = float(ftb["low_below"]), float(ftb["high_above"])
    return [
        ("low", f"low: rCBV < {lo:g}"),
        ("intermediate", f"intermediate: {lo:g}–{hi:g}"),
        ("high", f"high: rCBV > {hi:g}"),
    ]


def _draw_map(
    fig: Figure, ax: Axes, col: str, mp: MapImage, plane: np.ndarray, enh: np.ndarray, z: _Zoom
) -> tuple[float, float]:
    """A quantitative map (its ``plane`` on the shown slice) over the T1c with the lesion outline and a colour
    bar; returns its display range."""
    label, range_unit, dmin, dmax, cmap_name = PANEL_MAPS[col]
    if mp.unit != range_unit:  # another unit: window on the map's own values
        finite = mp.data[np.isfinite(mp.data)]
        dmin, dmax = (float(v) for v in np.percentile(finite, [2, 98])) if finite.size else (0.0, 1.0)
    shown_unit, scale = display_unit(mp.unit)  # ADC in ×10⁻³ mm²/s, as read clinically
    values = plane[z.crop[:2]] * scale
    shown = ax.imshow(
        np.ma.masked_invalid(values).T,
        origin="lower",
        cmap=cmap_name,
        vmin=dmin * scale,
        vmax=dmax * scale,
        extent=z.ext,
        interpolation="nearest",
        alpha=0.6 if col == "rcbv" else 1.0,
    )
    ax.contour(
        enh[z.crop].T.astype(float), levels=[0.5], colors=["white"], linewidths=0.7, origin="lower", extent=z.ext
    )
    bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    bar.ax.tick_params(labelsize=6)
    ax.set_title(f"{label} ({shown_unit})" if shown_unit else label, fontsize=8)
    return dmin, dmax


def _radiological_axis(ax: Axes, z: _Zoom) -> None:
    """Patient's right on the viewer's left, marked R and L; no ticks."""
    ax.set_xlim(z.ext[1], z.ext[0])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.02, 0.5, "R", transform=ax.transAxes, color="yellow", fontsize=8, va="center")
    ax.text(0.95, 0.5, "L", transform=ax.transAxes, color="yellow", fontsize=8, va="center")


def _scale_bar(ax: Axes, z: _Zoom) -> None:
    """A 10 mm bar in the lower corner of the zoomed view."""
    scale_mm = 10.0
    ax.plot([z.ext[1] - 3, z.ext[1] - 3 - scale_mm], [3, 3], color="white", lw=2)
    ax.text(z.ext[1] - 3 - scale_mm / 2, 5, "10 mm", color="white", fontsize=6, ha="center")


def _caption(stored_k: int, columns: Sequence[str], ftb: Mapping[str, Any]) -> str:
    return (
        f"Axial slice {stored_k + 1} of the T1c (largest enhancing area), radiological convention. "
        "Red: enhancing lesion; dashed blue: non-enhancing core. Second row: axial, coronal and sagittal "
        "views through the lesion (wide field) with RANO's two perpendicular diameters in "
        "yellow, and the whole axial slice with the zoomed region boxed."
        + (
            " FTB overlay (classes of the voxel rCBV inside the enhancing lesion): blue "
            + "; yellow ".join(text for _, text in ftb_legend(ftb)[:2])
            + f"; red {ftb_legend(ftb)[2][1]} ({ftb['source']}). {ftb['leakage_note']}."
            if "ftb" in columns
            else ""
        )
    )


def render_panel(
    t1c: Volume,
    masks: Sequence[LesionMask],
    maps: Mapping[str, MapImage] | None = None,
    *,
    title: str = "",
    dpi: int = 110,
) -> Panel:
    """Draw the panel of one timepoint.

    Parameters
    ----------
    t1c
        The post-contrast T1 of the timepoint (the grid lesion masks are drawn on).
    masks
        The lesion masks of the timepoint; at least one must hold a voxel.
    maps
        Quantitative maps by name (``rcbv``, ``adc`` ...), on any grid of the same scanner space.
    title
        Shown above the panel (e.g. the date).
    dpi
        Resolution of the PNG.

    Raises
    ------
    ValueError
        If no mask holds a voxel, or ``dpi`` is not positive.
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    if t1c.data.ndim != 3:
        raise ValueError(f"the T1c must be a 3D volume, got shape {t1c.data.shape}")
    maps = dict(maps or {})
    enhancing, core = _masks_on_t1c(t1c, masks)
    stored_k = int(np.argmax(enhancing.sum(axis=(0, 1))))  # slice in the stored orientation (for the caption)
    image, ras_affine = _to_ras(t1c.data, t1c.affine)
    enh = _to_ras(enhancing, t1c.affine)[0]
    cor = _to_ras(core, t1c.affine)[0]
    z = _zoom(image, enh, ras_affine)
    planes = _maps_on_slice(maps, ras_affine, image.shape, z.k)

    columns = ["t1c"] + [n for n in PANEL_MAPS if n in planes]
    if "rcbv" in planes:
        columns.insert(columns.index("rcbv") + 1, "ftb")
    missing = tuple(n for n in PANEL_MAPS if n not in planes) + (("ftb",) if "rcbv" not in planes else ())
    n_cols = max(len(columns), 4)
    fig = Figure(figsize=(2.6 * n_cols, 2 * 2.9), dpi=dpi)
    grid = fig.add_gridspec(2, n_cols)
    axes = [fig.add_subplot(grid[0, c]) for c in range(len(columns))]
    base = image[z.crop]
    vmin, vmax = _window(image[:, :, z.k])
    ftb = display_settings()["ftb_classes"]
    windows: dict[str, tuple[float, float]] = {}
    for ax, col in zip(axes, columns, strict=True):
        ax.imshow(base.T, origin="lower", cmap="gray", vmin=vmin, vmax=vmax, extent=z.ext, interpolation="nearest")
        if col == "t1c":
            _draw_t1c(ax, enh, cor, z)
        elif col == "ftb":
            _draw_ftb(ax, planes["rcbv"], enh, z, ftb)
        else:
            windows[col] = _draw_map(fig, ax, col, maps[col], planes[col], enh, z)
        _radiological_axis(ax, z)
    _context_row(fig, [fig.add_subplot(grid[1, c]) for c in range(4)], image, enh, cor, z.spacing, (z.lo, z.hi, z.k))
    _scale_bar(axes[0], z)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return Panel(
        png=buf.getvalue(),
        slice_index=stored_k,
        caption=_caption(stored_k, columns, ftb),
        shown=tuple(columns),
        missing=missing,
        windows=windows,
    )


def _context_row(
    fig: Figure,
    axes: Sequence,
    image: np.ndarray,
    enh: np.ndarray,
    cor: np.ndarray,
    spacing: np.ndarray,
    zoom: tuple[np.ndarray, np.ndarray, int],
) -> None:
    """Three orthogonal views through the lesion centre, wide enough to see the anatomy round it (at
    least 40 mm each side), the RANO line on the axial view, and the uncropped axial slice."""
    from ..lesions.measure import _one_piece, slice_diameters

    lo_zoom, hi_zoom, k = zoom
    centre = np.array([float(np.mean(v)) for v in np.nonzero(enh)])
    idx = np.argwhere(enh)
    extent = (idx.max(axis=0) - idx.min(axis=0) + 1) * spacing
    half = max(40.0, 1.5 * float(extent.max()))
    vmin, vmax = _window(image[:, :, k])
    ci, cj = (round(c) for c in centre[:2])
    views = (
        ("axial", (0, 1), image[:, :, k], enh[:, :, k] | cor[:, :, k], (centre[0], centre[1])),
        ("coronal", (0, 2), image[:, cj, :], enh[:, cj, :] | cor[:, cj, :], (centre[0], centre[2])),
        ("sagittal", (1, 2), image[ci, :, :], enh[ci, :, :] | cor[ci, :, :], (centre[1], centre[2])),
    )
    for ax, (name, (a, b), plane, outline, (ca, cb)) in zip(axes[:3], views, strict=False):
        sa, sb = float(spacing[a]), float(spacing[b])
        lo = np.maximum(np.floor([ca - half / sa, cb - half / sb]).astype(int), 0)
        hi = np.minimum(np.ceil([ca + half / sa, cb + half / sb]).astype(int) + 1, np.array(plane.shape))
        crop = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
        ext = (0.0, (hi[0] - lo[0]) * sa, 0.0, (hi[1] - lo[1]) * sb)
        ax.imshow(plane[crop].T, origin="lower", cmap="gray", vmin=vmin, vmax=vmax, extent=ext, interpolation="nearest")
        if outline[crop].any():
            ax.contour(
                outline[crop].T.astype(float),
                levels=[0.5],
                colors=["#ff2d2d"],
                linewidths=0.9,
                origin="lower",
                extent=ext,
            )
        if name == "axial" and outline.any():
            d = slice_diameters(_one_piece(outline, sa, sb), sa, sb, slice_index=k)
            for (i1, j1), (i2, j2) in (d.long_ends_ij, d.perp_ends_ij):  # RANO's two perpendicular diameters
                xs = [(i1 - lo[0] + 0.5) * sa, (i2 - lo[0] + 0.5) * sa]
                ys = [(j1 - lo[1] + 0.5) * sb, (j2 - lo[1] + 0.5) * sb]
                ax.plot(xs, ys, color="yellow", lw=1.2)
            ax.set_title(f"axial: {d.long_mm:.0f} × {d.perp_mm:.0f} mm", fontsize=8)
        else:
            ax.set_title(name, fontsize=8)
        if a == 0:  # patient's right on the viewer's left
            ax.set_xlim(ext[1], ext[0])
        ax.set_xticks([])
        ax.set_yticks([])
    thumb = axes[3]
    full = image[:, :, k]
    ext = (0.0, full.shape[0] * float(spacing[0]), 0.0, full.shape[1] * float(spacing[1]))
    thumb.imshow(full.T, origin="lower", cmap="gray", vmin=vmin, vmax=vmax, extent=ext, interpolation="nearest")
    x0, x1 = lo_zoom[0] * spacing[0], hi_zoom[0] * spacing[0]
    y0, y1 = lo_zoom[1] * spacing[1], hi_zoom[1] * spacing[1]
    thumb.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="yellow", lw=0.8)
    thumb.set_xlim(ext[1], ext[0])
    thumb.set_xticks([])
    thumb.set_yticks([])
    thumb.set_title("whole slice", fontsize=8)
