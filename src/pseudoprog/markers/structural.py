"""Structural per-lesion markers (clinical_rules.md §2.8, §3.5): ``oedema_ratio`` and ``lesion_quotient``.

They are measured with the lesion by :mod:`pseudoprog.lesions.analysis` and travel on each
:class:`~pseudoprog.case.Lesion`; this module gathers them for the flow.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..case import Lesion, Marker


def lesion_markers(lesions: Iterable[Lesion]) -> list[Marker]:
    """Every marker carried by the lesions, in order."""
    return [m for les in lesions for m in les.markers.values()]
