"""Map builders: from a timepoint's typed inputs to typed maps (written as NIfTI) and per-lesion markers.

One module per modality; each ``build(inputs) -> StageOutput`` calls the numerics in perfusion/,
diffusion/, pet/, spectroscopy/ and texture/, writes its maps with :func:`pseudoprog.files.write_nifti`
and summarises them per lesion with :mod:`pseudoprog.markers`. A builder raises InputError or
CannotAssessError when it cannot run; the runner records that in ``not_assessed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..handoff import StageOutput, TimepointInputs
from . import adc, asl, dce, dsc, mrs, pet, texture, tram

Builder = Callable[[TimepointInputs], StageOutput]

# In order: texture last, because it reads the rCBV map DSC made.
BUILDERS: list[tuple[str, Builder]] = [
    ("dsc", dsc.build),
    ("dce", dce.build),
    ("asl", asl.build),
    ("adc", adc.build),
    ("tram", tram.build),
    ("spectroscopy", mrs.build),
    ("pet", pet.build),
    ("texture", texture.build),
]

# A builder that reads the maps another made runs after it, in its chain (texture reads the DSC's rCBV).
READS = {"texture": "dsc"}


def chains(builders: Sequence[tuple[str, Builder]]) -> list[list[tuple[str, Builder]]]:
    """The builders as chains that can run side by side: each builder alone, except one that reads another's maps
    (:data:`READS`), which follows it in its chain; the chain of the most builders first, then in ``builders`` order.

    >>> [[n for n, _ in c] for c in chains([(n, None) for n in ("dsc", "dce", "asl", "texture")])]
    [['dsc', 'texture'], ['dce'], ['asl']]
    """
    grouped: dict[str, list[tuple[str, Builder]]] = {}
    for name, build in builders:
        grouped.setdefault(READS.get(name, name), []).append((name, build))
    return sorted(grouped.values(), key=len, reverse=True)


__all__ = ["BUILDERS", "READS", "Builder", "chains"]
