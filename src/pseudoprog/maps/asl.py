"""ASL: CBF (white-paper model) and per-lesion maximum CBF, absolute and against the mirrored region."""

from __future__ import annotations

from ..case import SeriesKind
from ..handoff import Quantity, StageOutput, TimepointInputs
from ..markers.asl import asl_values
from ..markers.lesion import per_lesion_markers
from ._common import pick, publish


def build(inputs: TimepointInputs) -> StageOutput:
    from ..files import load_table
    from ..perfusion.from_series import asl_from_series

    out = StageOutput()
    series = pick(inputs, out, SeriesKind.ASL, "ASL")
    if series is None:
        return out
    ms = asl_from_series(series, inputs.timepoint.series_of(SeriesKind.M0), assume_pcasl=True)
    maps = publish(ms, inputs, out, "ASL")
    pct = load_table("perfusion", "asl_constants")["lesion_max_percentile"]
    values = asl_values(maps[Quantity.ASL_CBF], percentile=pct, midline=inputs.midline)
    per_lesion_markers(out, inputs.date, "perfusion.asl", inputs.lesion_masks, values)
    return out
