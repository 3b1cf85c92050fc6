"""Location of a lesion against the radiation dose: inside the 80 % isodose, marginal, or outside.

The RTDOSE grid (read by :func:`pseudoprog.ingest.rtdose.read_rtdose`, dose in Gy) is carried
onto the lesion's grid through the world space (and, across visits, the registration onto the
baseline). Isodose levels are percentages of the reference dose: the prescribed dose, or for a
radiosurgery plan prescribed to the X % isodose line the maximum (prescription / X %), so the
SRS "80 % isodose" is the prescription line itself. Categories (``data/radiation_field.yaml``,
clinical_rules.md §3.4): in field when ≥ 80 % of the lesion lies inside the 80 % isodose; out of
field when ≤ 20 % reaches the 50 % isodose; otherwise marginal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..case import LocationVsRT, Volume
from .rules import value


def reference_dose_gy(prescription_gy: float, isodose_percent: float | None) -> float:
    """The 100 % level: the prescription, or for a plan prescribed to the X % isodose the maximum."""
    if prescription_gy <= 0:
        raise ValueError("prescription dose must be > 0 Gy")
    if isodose_percent is None:
        return prescription_gy
    if not 0 < isodose_percent <= 100:
        raise ValueError("isodose_percent must be in (0, 100]")
    return prescription_gy / (isodose_percent / 100.0)


@dataclass(frozen=True)
class FieldLocation:
    location: LocationVsRT
    fraction_in_high: float  # fraction of the lesion volume at ≥ 80 % of the reference dose
    fraction_in_marginal: float  # at ≥ 50 % of the reference dose
    reference_dose_gy: float
    reason: str


def classify_location(
    lesion: np.ndarray,
    lesion_affine: np.ndarray,
    dose: Volume,
    *,
    reference_gy: float,
    lesion_world_to_dose_world: np.ndarray | None = None,
) -> FieldLocation:
    """Where a lesion (boolean mask) lies against a dose distribution.

    ``lesion_world_to_dose_world`` maps the lesion grid's world to the dose's world (identity when
    both are in the same frame of reference).
    """
    lesion = np.asarray(lesion, dtype=bool)
    if not lesion.any():
        raise ValueError("lesion mask is empty: cannot place it against the dose")
    if reference_gy <= 0:
        raise ValueError("reference_gy must be > 0")
    t = np.eye(4) if lesion_world_to_dose_world is None else lesion_world_to_dose_world
    m = np.linalg.inv(dose.affine) @ t @ lesion_affine
    idx = np.argwhere(lesion).T.astype(float)
    coords = m[:3, :3] @ idx + m[:3, 3:4]
    d = ndimage.map_coordinates(np.asarray(dose.data, dtype=np.float32), coords, order=1, mode="constant", cval=np.nan)
    outside_grid = float(np.mean(np.isnan(d)))
    d = np.nan_to_num(d, nan=0.0)
    hi_level = value("radiation_field", "high_dose_isodose_percent") / 100.0
    lo_level = value("radiation_field", "marginal_isodose_percent") / 100.0
    f_hi = float(np.mean(d >= hi_level * reference_gy))
    f_lo = float(np.mean(d >= lo_level * reference_gy))
    if f_hi >= value("radiation_field", "in_field_min_fraction"):
        loc = LocationVsRT.IN_FIELD
    elif f_lo <= value("radiation_field", "out_of_field_max_fraction"):
        loc = LocationVsRT.OUT_OF_FIELD
    else:
        loc = LocationVsRT.MARGINAL
    reason = (
        f"{100 * f_hi:.0f} % of the lesion at ≥ {100 * hi_level:.0f} % and {100 * f_lo:.0f} % at ≥ "
        f"{100 * lo_level:.0f} % of {reference_gy:.1f} Gy"
    )
    if outside_grid > 0:
        reason += f"; {100 * outside_grid:.0f} % of the lesion lies outside the dose grid (taken as 0 Gy)"
    return FieldLocation(loc, f_hi, f_lo, reference_gy, reason)
