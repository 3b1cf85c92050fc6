"""Per-lesion PET markers: SUVmax, TBRmax and TBRmean after rigid registration of the PET to the T1c.

The PET is registered to the T1c (:func:`pseudoprog.align.register`, preset ``"pet"``), unless the transform is
given (``t1c_transform``, e.g. from the lesions stage); the lesion masks, drawn on the T1c grid, are
then carried onto the PET's own grid through that transform, so SUV values are never interpolated (an
interpolated SUVmax is biased low). The background is the automatic contralateral sphere unless a
background mask is supplied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..align.registration import Registration, register
from ..align.warp import Grid, warp_mask
from ..case import LesionMask, Marker, Volume
from ..ingest.pet import SuvParameters
from ..markers import make_marker
from .constants import pet_table
from .tbr import tumour_to_background

SOURCE = "pet"
# A registration that moves the PET further than this from where the scanner put it is reported for a
# human to check (it may still be right: PET and MRI on different days). Engineering choice [DERIVED].
_LARGE_SHIFT_MM = 30.0
_LARGE_ROTATION_DEG = 20.0


@dataclass
class PetOutcome:
    markers: list[Marker] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    suv: Volume | None = None  # SUV on the PET grid, affine expressed in the T1c's world space
    registration: Registration | None = None  # PET onto the T1c: computed here, or the one given
    registration_reused: bool = False  # True when the transform was given (not registered again)


def mask_on_grid(
    mask: np.ndarray, mask_affine: np.ndarray, target_affine: np.ndarray, target_shape: tuple[int, int, int]
) -> np.ndarray:
    """A boolean mask carried onto another grid of the same world: a target voxel is in it if ≥ half of it was."""
    return warp_mask(mask, mask_affine, None, Grid(target_affine, target_shape))


def assess_pet(
    pet_bq_ml: Volume,
    params: SuvParameters,
    masks: Sequence[LesionMask],
    *,
    t1c: Volume | None,
    register: bool = True,
    background: LesionMask | None = None,
    t1c_transform: Registration | None = None,
) -> PetOutcome:
    """SUV and TBR markers for each lesion.

    Parameters
    ----------
    pet_bq_ml
        The PET volume in Bq/ml (as loaded from DICOM).
    params
        Its SUV parameters (:func:`pseudoprog.pet.suv.suv_parameters`).
    masks
        Lesion masks on the T1c grid.
    t1c
        The T1c to register the PET to; required when ``register`` is True.
    register
        Register PET → T1c; ``False`` trusts the scanner coordinates (hybrid PET/MR in one session).
    background
        A user-drawn background region (its ``enhancing`` array), on the masks' grid; default automatic.
    t1c_transform
        The PET's transform onto the T1c computed before (fixed = T1c, moving = this PET), e.g. by the lesions
        stage: used as it is, and the PET is not registered again.
    """
    if pet_bq_ml.is_dynamic:
        raise ValueError("assess_pet takes a static (3D) PET; sum or select the frames first")
    if register and t1c is None and t1c_transform is None:
        raise ValueError("register=True needs the T1c volume (or t1c_transform)")
    out = PetOutcome()
    transform = np.eye(4)
    reg: Registration | None = None
    if t1c_transform is not None:
        reg, out.registration_reused = t1c_transform, True
    elif register and t1c is not None:
        reg = _register(t1c, pet_bq_ml)
    if reg is not None:
        out.registration = reg
        transform = reg.fixed_to_moving
        if reg.optimised and not reg.accepted:
            out.warnings.append(f"PET-to-T1c registration: {reg.reason}")
        if reg.shift_mm > _LARGE_SHIFT_MM or reg.rotation_deg > _LARGE_ROTATION_DEG:
            out.warnings.append(
                f"PET-to-T1c registration moved the PET by {reg.shift_mm:.0f} mm and "
                f"{reg.rotation_deg:.0f}°: check the alignment"
            )
    suv_data = (pet_bq_ml.data * params.suv_per_bq_ml).astype(np.float32)
    # The PET grid expressed in T1c world space: x_t1c = T⁻¹ · A_pet · ijk.
    pet_in_t1c = np.linalg.inv(transform) @ pet_bq_ml.affine
    out.suv = Volume(data=suv_data, affine=pet_in_t1c, series_uid=pet_bq_ml.series_uid)
    out.warnings.extend(params.warnings)
    if not masks:
        out.notes.append("no lesion masks for this timepoint: TBR needs a lesion region")
        return out
    shape = pet_bq_ml.spatial_shape
    carried = {m.lesion_id: mask_on_grid(m.enhancing, m.affine, pet_in_t1c, shape) for m in masks}
    all_lesions = np.zeros(shape, dtype=bool)
    for m in masks:
        all_lesions |= carried[m.lesion_id]
        if m.core is not None:
            all_lesions |= mask_on_grid(m.core, m.affine, pet_in_t1c, shape)
    bg_mask = None
    if background is not None:
        bg_mask = mask_on_grid(background.enhancing, background.affine, pet_in_t1c, shape)
    threshold = None
    if params.tracer == "FET":
        threshold = float(pet_table()["tbr"]["fet_threshold_x_background"])
    for m in masks:
        lesion = carried[m.lesion_id]
        if not lesion.any():
            out.notes.append(
                f"lesion {m.lesion_id}: mask does not reach any PET voxel (outside the PET field of view?)"
            )
            continue
        surroundings = mask_on_grid(m.flair, m.affine, pet_in_t1c, shape) if m.flair is not None else None
        try:
            res = tumour_to_background(
                suv_data,
                lesion,
                pet_in_t1c,
                background=bg_mask,
                exclude=all_lesions,
                surroundings=surroundings,
                threshold_x_background=threshold,
            )
        except ValueError as exc:
            out.notes.append(f"lesion {m.lesion_id}: TBR not computed, {exc}")
            continue
        quality: dict[str, Any] = {
            "tracer": params.tracer,
            "tracer_class": params.tracer_class,
            "background": res.method,
            "background_suv_mean": round(res.background_mean, 4),
            "background_voxels": res.background_voxels,
            "uptake_time_min": round(params.uptake_time_s / 60.0, 1),
            "lesion_voxels": int(np.count_nonzero(lesion)),
            "registered": out.registration is not None and out.registration.accepted,
            "registration_reused": out.registration_reused,
        }
        if res.background_centre_ras_mm is not None:
            quality["background_centre_ras_mm"] = [round(v, 1) for v in res.background_centre_ras_mm]
        if res.background_mirror is not None:
            quality["background_mirror"] = res.background_mirror
        if res.tbr_mean_threshold is not None:
            quality["tbr_mean_above_1p6_background"] = round(res.tbr_mean_threshold, 4)
        if out.registration is not None:
            quality["registration_shift_mm"] = round(out.registration.shift_mm, 2)
            quality["registration_rotation_deg"] = round(out.registration.rotation_deg, 2)
            quality["registration_metric_before"] = _rounded(out.registration.metric_before)
            quality["registration_metric_after"] = _rounded(out.registration.metric_after)
        warn = tuple(out.warnings)
        if params.tracer is None:
            warn += ("tracer unknown: the TBR cannot be matched to a tracer's published accuracy",)
        for name, value in (("pet_tbr_max", res.tbr_max), ("pet_tbr_mean", res.tbr_mean), ("pet_suv_max", res.suv_max)):
            out.markers.append(
                make_marker(name, value, source=SOURCE, lesion_id=m.lesion_id, quality=quality, warnings=warn)
            )
    return out


def _register(t1c: Volume, pet_bq_ml: Volume) -> Registration:
    """The PET onto the T1c (rigid, preset "pet"), labelled for the record."""
    return register(t1c, pet_bq_ml, kind="rigid", preset="pet", labels=("T1c", "PET"))


def _rounded(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 5)
