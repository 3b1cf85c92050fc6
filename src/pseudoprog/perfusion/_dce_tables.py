"""Read the sourced constant tables of the DCE, ASL and TRAM modules (YAML shipped in ``perfusion/data``)."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml


@functools.cache
def load_table(name: str) -> dict[str, Any]:
    """The parsed YAML table ``perfusion/data/<name>.yaml`` (cached; treat as read-only)."""
    text = resources.files("pseudoprog.perfusion").joinpath("data", f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"perfusion/data/{name}.yaml is not a mapping")
    return data


def field_key(field_strength_t: float | None) -> str:
    """The table key ("1.5" or "3.0") nearest a field strength; 3 T when unknown."""
    if field_strength_t is None:
        return "3.0"
    return "1.5" if abs(field_strength_t - 1.5) < abs(field_strength_t - 3.0) else "3.0"
