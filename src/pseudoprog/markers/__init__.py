"""Per-lesion markers: the registry of names, units and plausible ranges, and one module per modality.

``from pseudoprog.markers import make_marker, MARKERS`` reads the registry (:mod:`.registry`); the
modality modules (:mod:`.dsc`, :mod:`.dce`, :mod:`.asl`, :mod:`.adc`, :mod:`.tram`, :mod:`.pet`,
:mod:`.mrs`, :mod:`.texture`, :mod:`.structural`) turn typed maps and lesion masks into markers
and are imported by the map builders that need them.
"""

from .registry import MARKERS, MarkerSpec, check_marker_set, check_marker_value, make_marker

__all__ = ["MARKERS", "MarkerSpec", "check_marker_set", "check_marker_value", "make_marker"]
