"""MR spectroscopy: fit results (LCModel, TARQUIN), vendor spectra with their voxel geometry, metabolite ratios
with fit quality, and the coverage of each voxel by the lesion."""

from .geometry import Coverage, VoxelGrid, voxel_coverage
from .ratios import RatioResult, compute_ratios, spectroscopy_table
from .results import FitResult, MetaboliteEstimate, read_fit_result, sniff_fit_result
from .vendor import Spectrum, read_spectrum

__all__ = [
    "Coverage",
    "FitResult",
    "MetaboliteEstimate",
    "RatioResult",
    "Spectrum",
    "VoxelGrid",
    "compute_ratios",
    "read_fit_result",
    "read_spectrum",
    "sniff_fit_result",
    "spectroscopy_table",
    "voxel_coverage",
]
