"""Spectroscopy per-lesion markers (clinical_rules.md §2.5): Cho/NAA, Cho/Cr, NAA/Cr, (Lip+Lac)/Cr.

The ratios are read from fit results and placed on the lesions by :mod:`pseudoprog.spectroscopy.lesion`;
this module is the flow's entry to them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ..case import LesionMask, Series
from ..handoff import StageOutput


def mrs_markers(out: StageOutput, date: dt.date, series: Sequence[Series], masks: Sequence[LesionMask]) -> None:
    """Markers of the voxels that fall on a lesion; notes for the rest."""
    from ..spectroscopy.lesion import assess_spectroscopy

    outcome = assess_spectroscopy(series, tuple(masks))
    out.at(date).markers.extend(outcome.markers)
    for note in outcome.notes:
        out.skip("spectroscopy", note, timepoint=date)
