"""ADC maps from a DWI series (or a scanner ADC series), for the pipeline and ``pseudoprog maps adc``."""

from __future__ import annotations

import numpy as np

from ..case import Series
from ..errors import CannotAssessError
from ..ingest import load_series
from ..perfusion.from_series import MapSet
from .adc import adc_map_from_series, scanner_adc_to_mm2_s


def adc_from_series(dwi: Series | None, adc: Series | None = None) -> MapSet:
    """ADC (mm²/s) fitted from a DWI series; a scanner ADC series is used (units checked) only without DWI."""
    if dwi is not None:
        vol, warnings = load_series(dwi)
        name = str(dwi.files[0].parent if dwi.source_format == "dicom" else dwi.files[0])
        b = tuple(dwi.params.b_values_s_per_mm2)
        if vol.data.ndim == 4 and len(b) == vol.data.shape[3] - 1 and 0.0 not in b:
            b = (0.0, *b)  # DICOM lists the distinct b-values; a b = 0 frame is stored without one
        fit = adc_map_from_series(vol.data, b, file=name)
        maps = {"adc": fit.adc_mm2_s, "s0": fit.s0, "failed": fit.failed.astype(np.uint8)}
        units = {"adc": "mm2/s", "s0": "a.u.", "failed": "mask"}
        return MapSet("adc", maps, units, vol.affine, dwi.uid, fit.parameters, warnings)
    if adc is not None:
        vol, warnings = load_series(adc)
        if vol.data.ndim != 3:
            raise CannotAssessError("the scanner ADC series is not a 3D map")
        data, how = scanner_adc_to_mm2_s(vol.data)
        return MapSet(
            "adc",
            {"adc": data},
            {"adc": "mm2/s"},
            vol.affine,
            adc.uid,
            {"source": "scanner ADC map", "units": how},
            warnings,
        )
    raise CannotAssessError("no DWI or ADC series")
