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

import numpy as np
from matplotlib import colors
from matplotlib.figure import Figure
from nibabel import orientations

from ..align.resample import resample_mask, resample_to_grid
from ..case import LesionMask, Volume
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
    shape = t1c.spatial_shape
    enhancing = np.zeros(shape, bool)
    core = np.zeros(shape, bool)
    for m in masks:
        enhancing |= _on_grid(m.enhancing, m.affine, t1c.affine, shape)
        if m.core is not None:
            core |= _on_grid(m.core, m.affine, t1c.affine, shape)
    if not enhancing.any():
        raise ValueError("the lesion masks hold no enhancing voxel: nothing to centre the panel on")
    stored_k = int(np.argmax(enhancing.sum(axis=(0, 1))))  # slice in the stored orientation (for the caption)

    image, ras_affine = _to_ras(t1c.data, t1c.affine)
    enh = _to_ras(enhancing, t1c.affine)[0]
    cor = _to_ras(core, t1c.affine)[0]
    on_t1c: dict[str, np.ndarray] = {}
    for name, mp in maps.items():
        resampled = resample_to_grid(
            np.nan_to_num(mp.data.astype(np.float32)), mp.affine, t1c.affine, shape, order=1, fill=np.nan
        )
        on_t1c[name] = _to_ras(resampled, t1c.affine)[0]

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

    columns = ["t1c"] + [n for n in PANEL_MAPS if n in on_t1c]
    if "rcbv" in on_t1c:
        columns.insert(columns.index("rcbv") + 1, "ftb")
    missing = tuple(n for n in PANEL_MAPS if n not in on_t1c) + (("ftb",) if "rcbv" not in on_t1c else ())
    fig = Figure(figsize=(2.3 * len(columns), 2.75), dpi=dpi)
    axes = fig.subplots(1, len(columns), squeeze=False)[0]
    base = image[crop]
    vmin, vmax = _window(image[:, :, k])
    ftb = display_settings()["ftb_classes"]
    windows: dict[str, tuple[float, float]] = {}
    for ax, col in zip(axes, columns, strict=True):
        ax.imshow(base.T, origin="lower", cmap="gray", vmin=vmin, vmax=vmax, extent=ext, interpolation="nearest")
        if col == "t1c":
            ax.contour(
                enh[crop].T.astype(float), levels=[0.5], colors=["#ff2d2d"], linewidths=1.2, origin="lower", extent=ext
            )
            if cor[crop].any():
                ax.contour(
                    cor[crop].T.astype(float),
                    levels=[0.5],
                    colors=["#38c7ff"],
                    linewidths=0.9,
                    origin="lower",
                    extent=ext,
                    linestyles="dashed",
                )
            ax.set_title("T1c + lesion outline", fontsize=8)
        elif col == "ftb":
            rcbv = on_t1c["rcbv"][crop]
            inside = enh[crop]
            classes = np.full(rcbv.shape, np.nan)
            classes[inside & (rcbv < ftb["low_below"])] = 0
            classes[inside & (rcbv >= ftb["low_below"]) & (rcbv <= ftb["high_above"])] = 1
            classes[inside & (rcbv > ftb["high_above"])] = 2
            cmap = colors.ListedColormap(["#2f6bff", "#ffd400", "#ff2d2d"])
            ax.imshow(
                np.ma.masked_invalid(classes).T,
                origin="lower",
                cmap=cmap,
                vmin=-0.5,
                vmax=2.5,
                extent=ext,
                interpolation="nearest",
                alpha=0.85,
            )
            ax.set_title(f"FTB: <{ftb['low_below']:g} / mid / >{ftb['high_above']:g}", fontsize=8)
        else:
            label, range_unit, dmin, dmax, cmap_name = PANEL_MAPS[col]
            values = on_t1c[col][crop]
            if maps[col].unit != range_unit:  # another unit: window on the map's own values
                finite = on_t1c[col][np.isfinite(on_t1c[col])]
                dmin, dmax = (float(v) for v in np.percentile(finite, [2, 98])) if finite.size else (0.0, 1.0)
            windows[col] = (dmin, dmax)
            shown = ax.imshow(
                np.ma.masked_invalid(values).T,
                origin="lower",
                cmap=cmap_name,
                vmin=dmin,
                vmax=dmax,
                extent=ext,
                interpolation="nearest",
                alpha=0.6 if col == "rcbv" else 1.0,
            )
            ax.contour(
                enh[crop].T.astype(float), levels=[0.5], colors=["white"], linewidths=0.7, origin="lower", extent=ext
            )
            bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
            bar.ax.tick_params(labelsize=6)
            ax.set_title(f"{label} ({maps[col].unit})", fontsize=8)
        ax.set_xlim(ext[1], ext[0])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.02, 0.5, "R", transform=ax.transAxes, color="yellow", fontsize=8, va="center")
        ax.text(0.95, 0.5, "L", transform=ax.transAxes, color="yellow", fontsize=8, va="center")
    scale_mm = 10.0
    axes[0].plot([ext[1] - 3, ext[1] - 3 - scale_mm], [3, 3], color="white", lw=2)
    axes[0].text(ext[1] - 3 - scale_mm / 2, 5, "10 mm", color="white", fontsize=6, ha="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    shown_names = tuple(columns)
    caption = (
        f"Axial slice {stored_k + 1} of the T1c (largest enhancing area), radiological convention. "
        "Red: enhancing lesion; dashed blue: non-enhancing core."
        + (f" FTB classes per {ftb['source']}." if "ftb" in columns else "")
    )
    return Panel(
        png=buf.getvalue(), slice_index=stored_k, caption=caption, shown=shown_names, missing=missing, windows=windows
    )
