"""MR spectroscopy: fit results (LCModel, TARQUIN), metabolite ratios with fit quality, and the coverage of each
voxel by the lesion. Vendor spectra and their voxel geometry are read by :mod:`pseudoprog.ingest.mrs`."""

from .geometry import Coverage, VoxelGrid, voxel_coverage
from .ratios import RatioResult, compute_ratios, spectroscopy_table
from .results import FitResult, MetaboliteEstimate, read_fit_result, sniff_fit_result

__all__ = [
    "Coverage",
    "FitResult",
    "MetaboliteEstimate",
    "RatioResult",
    "VoxelGrid",
    "compute_ratios",
    "read_fit_result",
    "sniff_fit_result",
    "spectroscopy_table",
    "voxel_coverage",
]
