"""DSC: leakage-corrected rCBV, CBF, MTT, K2 and FTB maps of the timepoint's DSC series, and per-lesion markers."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..case import SeriesKind
from ..errors import InputError
from ..files import write_json, write_nifti
from ..handoff import Quantity, StageOutput, TimepointInputs, TypedMap
from ..markers.dsc import STAGE, dsc_markers

# Default: the model is chosen from the data per lesion/region (perfusion/dsc/leakage.py, "auto"); BSW — the
# consensus method the FTB thresholds were derived with — stays selectable in `pseudoprog maps dsc --leakage bsw`.
LEAKAGE = "auto"


def build(inputs: TimepointInputs) -> StageOutput:
    from ..align.resample import resample_mask
    from ..perfusion.dsc import DSCModel
    from ..perfusion.dsc.io import dsc_input_from_series
    from ..perfusion.dsc.protocol import check_dsc_protocol, preload_recorded

    out = StageOutput()
    tp, date = inputs.timepoint, inputs.date
    series = tp.series_of(SeriesKind.DSC)
    if not series:
        return out
    try:
        inp = dsc_input_from_series(series, source=str(tp.image_dir or ""))
    except InputError as exc:
        out.skip(STAGE, f"DSC series cannot be read: {exc}", timepoint=date)
        return out
    grid = inp.volume
    on_grid = [
        (m.lesion_id, resample_mask(m.enhancing, m.affine, grid.affine, grid.spatial_shape))
        for m in inputs.lesion_masks
    ]
    union = None
    for _, mask in on_grid:
        union = mask.copy() if union is None else union | mask
    model = DSCModel(te_ms=inp.te_ms, te2_ms=inp.te2_ms, leakage=LEAKAGE, preload=preload_recorded(inp.params))
    fit = model.fit(
        grid,
        echo2=inp.echo2,
        lesion_mask=union if union is not None and union.any() else None,
        midline=inputs.midline,
    )
    warnings = out.at(date).warnings
    warnings.extend(inp.warnings)
    warnings.extend(
        check_dsc_protocol(
            inp.params,
            baseline_frames=fit.baseline.n_frames,
            frame_times_s=grid.frame_times_s,
            spacing_mm=grid.spacing_mm,
            leakage_method=LEAKAGE,
        )
    )
    warnings.extend(f"DSC: {w}" for w in fit.warnings)
    params_rel = (inputs.map_folder / "dsc_parameters.json").as_posix()
    selection = fit.parameters.get("leakage_selection")
    shared = {
        "leakage_correction": LEAKAGE,
        "leakage_models_used": _models_used(selection),
        "deconvolution": model.deconvolution,
        "reference": fit.reference.method,
        "parameters_file": params_rel,
    }
    described = [(m.name, m.data, m.unit, m.description) for m in fit.maps.values()]
    described += [
        ("aif_voxels", fit.aif_mask, "mask", "voxels averaged into the arterial input function"),
        ("reference_voxels", fit.reference.mask, "mask", "NAWM reference voxels used to normalise rCBV and rCBF"),
        ("brain_mask", fit.brain, "mask", "voxels analysed"),
    ]
    files = {}
    for name, data, unit, description in described:
        rel = inputs.map_folder / f"dsc_{name}.nii.gz"
        # As written (NaN → 0, float32; classes and masks uint8), so the report shows what the file holds.
        data = data if unit == "mask" else np.nan_to_num(data, nan=0.0)
        data = np.asarray(data).astype(np.uint8 if unit in ("class", "mask") else np.float32)
        write_nifti(inputs.out_dir / rel, data, fit.affine, dtype=data.dtype)
        files[name] = {"file": rel.name, "unit": unit, "description": description}
        if name == "leakage_model":
            # Written and listed in dsc_parameters.json; not a hand-off quantity (handoff.Quantity has none).
            continue
        q = Quantity.of("dsc", name)
        params = {**shared, "description": description}
        if name == "ftb":
            params["ftb_note"] = fit.parameters["ftb_note"]
        out.at(date).maps.append(TypedMap(q, data, fit.affine, unit, grid.series_uid, params, rel.as_posix()))
    write_json(
        inputs.out_dir / params_rel, {"parameters": fit.parameters, "warnings": list(fit.warnings), "maps": files}
    )
    if not on_grid:
        out.skip(
            STAGE,
            "no lesion masks from the lesions stage: DSC maps were written, per-lesion DSC markers were not computed",
            timepoint=date,
        )
        return out
    model_map = fit.maps["leakage_model"].data if "leakage_model" in fit.maps else None
    # The fit decided each connected region of the lesion union as a whole: label it the same way to find a
    # lesion's regions and their reasons.
    regions = ndimage.label(union)[0] if union is not None else None
    for lesion_id, mask in on_grid:
        # Each lesion's markers name the leakage model its voxels used and why (the "auto" choice is per lesion).
        per_lesion: dict[str, Any] = dict(shared)
        if model_map is not None and selection:
            codes = model_map[mask]
            per_lesion["leakage_model_used"] = "bjornerud" if codes.size and np.mean(codes == 2) > 0.5 else "bsw"
            present = set(np.unique(regions[mask]).tolist()) if regions is not None else set()
            per_lesion["leakage_reasons"] = [
                r["reason"] for r in selection.get("lesions", []) if r["region"] in present
            ]
        dsc_markers(out, date, fit, [(lesion_id, mask)], per_lesion)
    return out


def _models_used(selection: dict[str, Any] | None) -> str:
    if not selection:
        return LEAKAGE
    return (
        f"auto: BSW in {selection['voxels_bsw']} voxel(s), Bjørnerud in {selection['voxels_bjornerud']} "
        f"({selection['rule']})"
    )
