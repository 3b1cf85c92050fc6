"""ADC from the DWI series (or the scanner ADC map) and per-lesion mean, 5th percentile and ratio."""

from __future__ import annotations

from ..case import SeriesKind
from ..handoff import Quantity, StageOutput, TimepointInputs
from ..markers.adc import adc_values
from ..markers.lesion import per_lesion_markers
from ._common import pick, publish


def build(inputs: TimepointInputs) -> StageOutput:
    from ..diffusion.from_series import adc_from_series

    out = StageOutput()
    dwi = pick(inputs, out, SeriesKind.DWI, "ADC")
    adc_series = pick(inputs, out, SeriesKind.ADC, "ADC")
    if dwi is None and adc_series is None:
        return out
    ms = adc_from_series(dwi, adc_series)
    maps = publish(ms, inputs, out, "ADC")
    values = adc_values(maps[Quantity.ADC], fit=ms.parameters, midline=inputs.midline)
    per_lesion_markers(out, inputs.date, "diffusion.adc", inputs.lesion_masks, values)
    return out
