"""Per-lesion spectroscopy markers: the ratios of the voxel that covers the lesion, with fit quality and coverage.

A ratio enters the evidence only when (1) its fit is good enough (:func:`compute_ratios`) and (2) the
voxel lies on the lesion: the lesion (enhancing + non-enhancing core) must fill at least
``coverage.min_lesion_fraction`` of it. Of a CSI grid, the voxel the lesion fills most is used (not the
one with the most abnormal ratio, which would select noise). Every refusal comes back as a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..case import LesionMask, Marker, Series
from ..errors import InputError
from ..ingest.mrs import read_spectrum, stem_key
from ..markers import make_marker
from .geometry import VoxelGrid, voxel_coverage
from .ratios import RatioResult, compute_ratios, spectroscopy_table
from .results import FitResult, read_fit_result, sniff_fit_result

SOURCE = "spectroscopy"


@dataclass
class SpectroscopyOutcome:
    """Markers for the evidence stage and the reasons for everything not given."""

    markers: list[Marker] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _voxel_index(fit: FitResult, grid: VoxelGrid | None) -> tuple[int, int, int] | None:
    if fit.voxel is None:
        return (0, 0, 0)
    row, col, sl = fit.voxel
    idx = (col - 1, row - 1, sl - 1)  # LCModel rows run along the column vector, columns along the row vector
    if grid is not None and not all(0 <= i < n for i, n in zip(idx, grid.shape, strict=True)):
        return None
    return idx


def _marker(
    r: RatioResult, fit: FitResult, *, lesion_id: str | None, extra: dict[str, Any], warnings: tuple[str, ...]
) -> Marker:
    assert r.value is not None and r.denominator is not None
    quality: dict[str, Any] = {
        "crlb_percent": round(r.sd_percent, 2),
        "numerator": "+".join(n for g in r.numerator for n in g.names),
        "denominator": "+".join(r.denominator.names),
        "numerator_sd_percent": round(r.numerator_sd_percent, 2),
        "denominator_sd_percent": round(r.denominator.sd_percent, 2),
        "fitter": fit.fitter,
        "file": fit.source.name,
        **{k: round(v, 4) for k, v in fit.quality.items()},
        **extra,
    }
    return make_marker(r.name, r.value, source=SOURCE, lesion_id=lesion_id, quality=quality, warnings=warnings)


def lesion_spectroscopy(
    fits: Sequence[FitResult],
    *,
    grid: VoxelGrid | None,
    masks: Sequence[LesionMask],
    min_lesion_fraction: float | None = None,
    max_sd_percent: float | None = None,
    acquisition: Mapping[str, Any] | None = None,
) -> SpectroscopyOutcome:
    """Markers from one spectroscopy examination (one or more fitted voxels) for each lesion it covers.

    Parameters
    ----------
    fits
        The fit of each voxel (one for single voxel; one per CSI voxel with its ``voxel`` index).
    grid
        Where the voxels are (from the vendor file); ``None`` when only the fit results were supplied.
    masks
        The timepoint's lesion masks, in the same scanner space as the spectroscopy.
    min_lesion_fraction
        Least fraction of a voxel the lesion must fill; default from ``data/spectroscopy.yaml``.
    max_sd_percent
        Fit-quality limit per metabolite group; default from ``data/spectroscopy.yaml``.
    acquisition
        Facts about the acquisition to carry into every marker's quality (echo time: lipids are best seen
        at short TE and lactate inverts at TE 144 ms, clinical_rules.md §2.5).
    """
    table = spectroscopy_table()
    min_frac = float(table["coverage"]["min_lesion_fraction"]) if min_lesion_fraction is None else min_lesion_fraction
    if not 0.0 < min_frac <= 1.0:
        raise ValueError(f"min_lesion_fraction must be in (0, 1], got {min_lesion_fraction}")
    out = SpectroscopyOutcome()
    if not fits:
        return out
    per_voxel: dict[tuple[int, int, int], tuple[FitResult, list[RatioResult]]] = {}
    for fit in fits:
        idx = _voxel_index(fit, grid)
        if idx is None:
            out.notes.append(f"{fit.source.name}: fitted voxel {fit.voxel} lies outside the spectroscopy grid")
            continue
        ratios = compute_ratios(fit, max_sd_percent=max_sd_percent)
        per_voxel[idx] = (fit, ratios)
    if grid is None or not masks:
        why = (
            "the voxel position is unknown (fit results without the vendor spectroscopy file)"
            if grid is None
            else "no lesion masks for this timepoint"
        )
        if len(per_voxel) != 1:
            out.notes.append(f"{len(per_voxel)} CSI voxels cannot be attributed to a lesion: {why}")
            return out
        fit, ratios = next(iter(per_voxel.values()))
        warn = (f"coverage of the lesion not verified: {why}",)
        for r in ratios:
            if r.accepted:
                out.markers.append(_marker(r, fit, lesion_id=None, extra=dict(acquisition or {}), warnings=warn))
            else:
                out.notes.append(f"{fit.source.name}: {r.name} refused, {r.refused}")
        out.notes.append(f"per-lesion spectroscopy not computed: {why}")
        return out
    for mask in masks:
        lesion = mask.enhancing.astype(bool) | (mask.core.astype(bool) if mask.core is not None else False)
        named = {"enhancing": mask.enhancing.astype(bool), "lesion": lesion}
        if mask.core is not None:
            named["core"] = mask.core.astype(bool)
        if mask.flair is not None:
            named["flair"] = mask.flair.astype(bool)
        any_lesion = lesion | named.get("flair", np.zeros_like(lesion))
        named["outside_lesion"] = ~any_lesion
        cov = voxel_coverage(grid, named, mask.affine, samples_per_mm=float(table["coverage"]["samples_per_mm"]))
        fitted = list(per_voxel)
        fractions = np.array([cov.fractions["lesion"][idx] for idx in fitted])
        best = int(np.argmax(fractions))
        idx = fitted[best]
        if fractions[best] < min_frac:
            out.notes.append(
                f"lesion {mask.lesion_id}: the best-placed spectroscopy voxel is only {100 * fractions[best]:.0f} % "
                f"lesion (need ≥ {100 * min_frac:.0f} %): not evidence about this lesion"
            )
            continue
        fit, ratios = per_voxel[idx]
        extra = {f"{name}_fraction": round(float(frac[idx]), 3) for name, frac in cov.fractions.items()} | {
            "inside_image_fraction": round(float(cov.inside_image[idx]), 3),
            "voxel_index": list(idx),
            "voxel_volume_ml": round(grid.voxel_volume_ml, 3),
            **(acquisition or {}),
        }
        for r in ratios:
            if r.accepted:
                out.markers.append(_marker(r, fit, lesion_id=mask.lesion_id, extra=extra, warnings=()))
            else:
                out.notes.append(f"lesion {mask.lesion_id}: {r.name} refused, {r.refused}")
    return out


def pair_results_with_spectra(fit_files: Sequence[Path], spectrum_files: Sequence[Path]) -> dict[Path, Path | None]:
    """Which vendor file gives the geometry of each fit result: same name stem, or the only one there is."""
    by_stem = {stem_key(p): p for p in spectrum_files}
    out: dict[Path, Path | None] = {}
    for f in fit_files:
        match = by_stem.get(stem_key(f))
        if match is None and len(spectrum_files) == 1:
            match = spectrum_files[0]
        out[f] = match
    return out


# When one fit was exported several ways, read the most complete: the .TABLE (it has the fit-quality
# section), then the .COORD, then the .CSV; a .CSV with several rows is a CSI grid and wins.
_PREFERENCE = {"lcmodel_table": 0, "lcmodel_coord": 1, "lcmodel_csv": 2, "tarquin": 0}


def assess_spectroscopy(series: Sequence[Series], masks: Sequence[LesionMask]) -> SpectroscopyOutcome:
    """Spectroscopy markers for one timepoint from its MRS series (fit results and vendor spectra)."""
    out = SpectroscopyOutcome()
    fit_kinds = {s.files[0]: sniff_fit_result(s.files[0]) for s in series if s.source_format == "mrs" and s.files}
    fit_files = [p for p, k in fit_kinds.items() if k is not None]
    spectrum_files = [
        s.files[0] for s in series if s.files and (s.source_format == "dicom" or s.files[0].suffix.lower() == ".rda")
    ]
    unsupported = [p for p, k in fit_kinds.items() if k is None and p.suffix.lower() != ".rda"]
    if unsupported:
        out.notes.append(
            f"spectroscopy file(s) in an unsupported format ignored: {', '.join(p.name for p in unsupported)} "
            "(supported: Siemens .rda, DICOM MR Spectroscopy, Siemens .IMA, LCModel and TARQUIN results)"
        )
    if not fit_files:
        out.notes.append(
            f"{len(spectrum_files)} vendor spectroscopy file(s) but no fit results: pseudoprog does not fit spectra; "
            "metabolite ratios need an LCModel or TARQUIN result beside the spectrum"
        )
        return out
    chosen: dict[str, tuple[Path, list[FitResult]]] = {}
    for path in fit_files:
        try:
            fits = read_fit_result(path)
        except InputError as exc:
            out.notes.append(str(exc))
            continue
        key = stem_key(path)
        rank = -1 if len(fits) > 1 else _PREFERENCE.get(fit_kinds[path] or "", 9)
        held = chosen.get(key)
        held_rank = None
        if held is not None:
            held_rank = -1 if len(held[1]) > 1 else _PREFERENCE.get(fit_kinds[held[0]] or "", 9)
        if held_rank is None or rank < held_rank:
            chosen[key] = (path, fits)
    pairing = pair_results_with_spectra([p for p, _ in chosen.values()], spectrum_files)
    for path, fits in chosen.values():
        grid = None
        acquisition: dict[str, Any] = {}
        vendor = pairing.get(path)
        if vendor is not None:
            try:
                spectrum = read_spectrum(vendor)
            except InputError as exc:
                out.notes.append(f"{path.name}: voxel geometry unavailable ({exc})")
            else:
                fit_te = fits[0].quality.get("echo_time_ms") if fits else None
                if fit_te is not None and spectrum.echo_time_ms is not None and abs(fit_te - spectrum.echo_time_ms) > 1:
                    out.notes.append(
                        f"{path.name} (TE {fit_te:g} ms) and {vendor.name} (TE {spectrum.echo_time_ms:g} ms) are not "
                        "the same acquisition: the voxel position is not taken from it"
                    )
                else:
                    grid = spectrum.grid
                    acquisition["geometry_from"] = vendor.name
                    if spectrum.echo_time_ms is not None:
                        acquisition["echo_time_ms"] = spectrum.echo_time_ms
        result = lesion_spectroscopy(fits, grid=grid, masks=masks, acquisition=acquisition)
        out.markers.extend(result.markers)
        out.notes.extend(result.notes)
    return out
