"""Map builders: from a timepoint's typed inputs to typed maps (written as NIfTI) and per-lesion markers.

One module per modality; each ``build(inputs) -> StageOutput`` calls the numerics in perfusion/,
diffusion/, pet/, spectroscopy/ and texture/, writes its maps with :func:`pseudoprog.files.write_nifti`
and summarises them per lesion with :mod:`pseudoprog.markers`. A builder raises InputError or
CannotAssessError when it cannot run; the runner records that in ``not_assessed``.
"""

from __future__ import annotations

from collections.abc import Callable

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

__all__ = ["BUILDERS", "Builder"]
