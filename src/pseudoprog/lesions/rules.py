"""Sourced numbers of the lesions stage, read from ``lesions/data/*.yaml``."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ..files import load_table

_DATA = Path(__file__).with_name("data")


@cache
def table(name: str) -> dict[str, Any]:
    """One YAML table of ``lesions/data`` (``"measurement"``, ``"segmentation"``, ``"radiation_field"``)."""
    if not (_DATA / f"{name}.yaml").exists():
        raise ValueError(f"no lesions data table {name!r}")
    return load_table("lesions", name)


def value(name: str, *keys: str) -> float:
    """The ``value`` of an entry, e.g. ``value("measurement", "rano", "min_diameter_mm")``."""
    node: Any = table(name)
    for key in keys:
        node = node[key]
    return float(node["value"])
