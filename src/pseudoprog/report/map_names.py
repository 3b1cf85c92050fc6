"""Map names as the map stages write them (``dsc_rcbv``, ``dce_ktrans``, ``adc`` ...) → the quantity they hold.

The map stages prefix a map with the kind of acquisition it came from; the report and the DICOM
writers care about the quantity. A name is looked up whole first (``asl_cbf`` is its own quantity),
then without its acquisition prefix.
"""

from __future__ import annotations

from collections.abc import Collection

PREFIXES = ("dsc_", "dce_", "dwi_", "adc_", "diffusion_", "tram_")


def canonical_map_name(name: str, known: Collection[str]) -> str | None:
    """The key of ``known`` that a map name refers to, or ``None`` if it is none of them.

    Examples
    --------
    >>> canonical_map_name("dsc_rcbv", {"rcbv", "adc"})
    'rcbv'
    >>> canonical_map_name("dsc_rcbv_uncorrected", {"rcbv", "adc"}) is None
    True
    """
    if name in known:
        return name
    for prefix in PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :] in known:
            return name[len(prefix) :]
    return None
