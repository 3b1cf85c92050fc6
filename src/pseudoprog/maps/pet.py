"""PET: SUV map on the T1c and per-lesion SUVmax / TBR for each static DICOM PET series.

When the lesions stage registered the PET onto the T1c (``inputs.transforms.series_to_t1c["PET"]``), that
transform is reused; otherwise ``assess_pet`` registers the PET itself (preset "pet").
"""

from __future__ import annotations

from ..case import SeriesKind
from ..errors import CannotAssessError, InputError
from ..files import write_nifti
from ..handoff import Quantity, StageOutput, TimepointInputs, TypedMap
from ..markers.pet import suv_map_parameters


def build(inputs: TimepointInputs) -> StageOutput:
    from ..ingest import load_series
    from ..ingest.pet import suv_parameters
    from ..ingest.series import short_uid
    from ..pet.lesion import assess_pet

    out = StageOutput()
    tp, date = inputs.timepoint, inputs.date
    pets = tp.series_of(SeriesKind.PET)
    if not pets:
        return out
    t1c_series = tp.reference_t1c()
    if t1c_series is None:
        raise CannotAssessError("PET cannot be placed on the lesions: no T1c at this timepoint to register it to")
    t1c, _ = load_series(t1c_series)
    for series in pets:
        if series.source_format != "dicom":
            out.skip(
                "pet", f"PET '{series.description}' is not DICOM: SUV needs the DICOM dose headers", timepoint=date
            )
            continue
        try:
            pet, load_warnings = load_series(series)
            params = suv_parameters(series.files)
        except InputError as exc:  # a PET without usable dose headers is reported, the rest of the case goes on
            out.skip("pet", f"PET '{series.description}': {exc}", timepoint=date)
            continue
        if pet.is_dynamic:
            out.skip("pet", f"PET '{series.description}' is dynamic: static uptake only", timepoint=date)
            continue
        outcome = assess_pet(
            pet, params, inputs.lesion_masks, t1c=t1c, t1c_transform=inputs.transform_to_t1c(SeriesKind.PET)
        )
        out.at(date).markers.extend(outcome.markers)
        out.at(date).warnings.extend(load_warnings + outcome.warnings)
        for note in outcome.notes:
            out.skip("pet", note, timepoint=date)
        if outcome.suv is not None:
            rel = inputs.map_folder / f"pet_suv_{short_uid(series.uid)}.nii.gz"
            data = outcome.suv.data.astype("float32")
            write_nifti(inputs.out_dir / rel, data, outcome.suv.affine)
            map_params = suv_map_parameters(
                tracer=params.tracer, uptake_time_s=params.uptake_time_s, registered=outcome.registration is not None
            )
            out.at(date).maps.append(
                TypedMap(Quantity.PET_SUV, data, outcome.suv.affine, "g/ml", series.uid, map_params, rel.as_posix())
            )
    return out
