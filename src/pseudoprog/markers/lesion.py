"""The per-lesion loop every modality shares: values per mask → registry-checked markers, or reasons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from ..case import LesionMask
from ..errors import CannotAssessError
from ..handoff import StageOutput
from .registry import make_marker

# mask → {marker name: (value, quality)}
LesionValues = Callable[[LesionMask], dict[str, tuple[float, dict[str, Any]]]]


def per_lesion_markers(
    out: StageOutput, date: dt.date, stage: str, masks: Sequence[LesionMask], values: LesionValues
) -> None:
    """Add each lesion's markers to ``out``; what cannot be computed is recorded under ``<stage>.markers``."""
    if not masks:
        out.skip(
            stage + ".markers",
            "maps were computed but no lesion mask exists for this timepoint, so per-lesion values are not given",
            timepoint=date,
        )
        return
    for mask in masks:
        try:
            found = values(mask)
        except CannotAssessError as exc:
            out.skip(stage + ".markers", exc.reason, timepoint=date, lesion_id=mask.lesion_id)
            continue
        for name, (value, quality) in found.items():
            try:
                marker = make_marker(name, value, source=stage, lesion_id=mask.lesion_id, quality=quality)
            except ValueError as exc:
                out.skip(stage + ".markers", f"{name}: {exc}", timepoint=date, lesion_id=mask.lesion_id)
                continue
            out.at(date).markers.append(marker)
