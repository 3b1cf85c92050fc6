"""Texture (radiomics) features per lesion with pyradiomics, and the per-case features table."""

from .features import TextureFeatures, extract_features, extraction_settings, pyradiomics_available, texture_table
from .table import lesion_texture_rows, write_features_table

__all__ = [
    "TextureFeatures",
    "extract_features",
    "extraction_settings",
    "lesion_texture_rows",
    "pyradiomics_available",
    "texture_table",
    "write_features_table",
]
