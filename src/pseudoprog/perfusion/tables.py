"""The sourced data tables of the perfusion stage (``perfusion/data/*.yaml``), read once."""

from __future__ import annotations

from typing import Any

from .. import files


def load_table(name: str) -> dict[str, Any]:
    """The parsed YAML table ``perfusion/data/<name>.yaml`` (cached; treat it as read-only)."""
    return files.load_table("perfusion", name)


def dsc_methods() -> dict[str, Any]:
    return load_table("dsc_methods")


def dsc_protocol() -> dict[str, Any]:
    return load_table("dsc_protocol")


def field_key(field_strength_t: float | None) -> str:
    """The table key ("1.5" or "3.0") nearest a field strength; 3 T when unknown."""
    if field_strength_t is None:
        return "3.0"
    return "1.5" if abs(field_strength_t - 1.5) < abs(field_strength_t - 3.0) else "3.0"
