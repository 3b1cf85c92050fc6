"""PET uptake: SUV from DICOM headers, tracer naming, tumour-to-background ratios."""

from .suv import SuvParameters, name_tracer, pet_table, suv_parameters
from .tbr import TbrResult, tumour_to_background

__all__ = ["SuvParameters", "TbrResult", "name_tracer", "pet_table", "suv_parameters", "tumour_to_background"]
