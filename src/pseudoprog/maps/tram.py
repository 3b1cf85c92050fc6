"""TRAM: delayed-minus-early contrast maps and the clearing fraction of each lesion.

The lesions stage's transforms arrive in ``inputs.transforms``; TRAM still registers the delayed
image to the early one itself (both are T1c of one session, which the lesions stage does not pair).
"""

from __future__ import annotations

from ..case import SeriesKind
from ..handoff import Quantity, StageOutput, TimepointInputs
from ..markers.lesion import per_lesion_markers
from ..markers.tram import tram_values
from ._common import pick, publish


def build(inputs: TimepointInputs) -> StageOutput:
    from ..perfusion.from_series import tram_from_series

    out = StageOutput()
    delayed = pick(inputs, out, SeriesKind.T1C_DELAYED, "TRAM")
    if delayed is None:
        return out
    early = inputs.timepoint.reference_t1c()  # the T1c the lesions stage registered the delayed image onto
    if early is None:
        out.skip(
            "perfusion.tram", "a delayed post-contrast T1 exists but no early T1c to subtract", timepoint=inputs.date
        )
        return out
    ms = tram_from_series(early, delayed, t1c_transform=inputs.transform_to_t1c(SeriesKind.T1C_DELAYED))
    maps = publish(ms, inputs, out, "TRAM")
    per_lesion_markers(out, inputs.date, "perfusion.tram", inputs.lesion_masks, tram_values(maps[Quantity.TRAM_CLASS]))
    return out
