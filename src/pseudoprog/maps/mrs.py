"""MRS: per-lesion metabolite ratios of the spectroscopy voxels that fall on a lesion (no map)."""

from __future__ import annotations

from ..case import SeriesKind
from ..handoff import StageOutput, TimepointInputs
from ..markers.mrs import mrs_markers


def build(inputs: TimepointInputs) -> StageOutput:
    out = StageOutput()
    series = inputs.timepoint.series_of(SeriesKind.MRS)
    if series:
        mrs_markers(out, inputs.date, series, inputs.lesion_masks)
    return out
