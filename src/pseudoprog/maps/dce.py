"""DCE: Ktrans, ve, vp (extended Tofts, automatic AIF) and fit-quality maps, with their per-lesion summaries."""

from __future__ import annotations

from ..case import SeriesKind
from ..handoff import StageOutput, TimepointInputs
from ..markers.dce import dce_values
from ..markers.lesion import per_lesion_markers
from ._common import pick, publish


def build(inputs: TimepointInputs) -> StageOutput:
    from ..perfusion.dce import FitStatus
    from ..perfusion.from_series import dce_from_series, vfa_sets_across_studies

    out = StageOutput()
    series = pick(inputs, out, SeriesKind.DCE, "DCE")
    if series is None:
        return out
    vfa = list(inputs.timepoint.series_of(SeriesKind.VFA_T1))
    if not vfa:  # one series per flip angle, each in its own study (QIBA DRO v4 shape): still one session's set
        vfa = vfa_sets_across_studies(inputs.timepoint.series, series)[0]
    tp = inputs.timepoint
    ms = dce_from_series(series, vfa, contrast_agent=tp.contrast_agent, field_strength_t=tp.field_strength_t)
    maps = publish(ms, inputs, out, "DCE")
    values = dce_values(maps, ok_status=int(FitStatus.OK), fit=ms.parameters)
    per_lesion_markers(out, inputs.date, "perfusion.dce", inputs.lesion_masks, values)
    return out
