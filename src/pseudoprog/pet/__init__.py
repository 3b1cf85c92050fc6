"""PET uptake: per-lesion SUV and tumour-to-background ratios (SUV factors are read by ``ingest.pet``)."""

from ..ingest.pet import SuvParameters, name_tracer, suv_parameters
from .constants import pet_table
from .tbr import TbrResult, tumour_to_background

__all__ = ["SuvParameters", "TbrResult", "name_tracer", "pet_table", "suv_parameters", "tumour_to_background"]
