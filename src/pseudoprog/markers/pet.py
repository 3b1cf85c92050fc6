"""PET per-lesion markers (clinical_rules.md §2.7): SUVmax and TBR come from :func:`pseudoprog.pet.lesion.assess_pet`.

The uptake numerics (SUV, background, TBR) live in pet/; this module records what the PET map carries.
"""

from __future__ import annotations

from typing import Any


def suv_map_parameters(*, tracer: str | None, uptake_time_s: float, registered: bool) -> dict[str, Any]:
    """What the SUV map records about how it was made.

    >>> suv_map_parameters(tracer="FET", uptake_time_s=1200.0, registered=False)["uptake_time_min"]
    20.0
    """
    params: dict[str, Any] = {
        "tracer": tracer,
        "suv": "body weight, decay-corrected",
        "uptake_time_min": round(uptake_time_s / 60.0, 1),
    }
    if registered:
        params["registration"] = "rigid Mattes MI to T1c (affine in T1c space)"
    return params
