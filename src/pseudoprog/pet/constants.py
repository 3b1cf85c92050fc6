"""The PET stage's sourced constants (``pet/data/pet.yaml``): tracers, radionuclides, TBR settings."""

from __future__ import annotations

from typing import Any

from ..files import load_table


def pet_table() -> dict[str, Any]:
    """The PET constants (``data/pet.yaml``; cached by :func:`pseudoprog.files.load_table`)."""
    return load_table("pet", "pet")
