"""The sourced data tables of the perfusion stage (``perfusion/data/*.yaml``), read once."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def load_table(name: str) -> dict[str, Any]:
    """The parsed YAML table ``perfusion/data/<name>.yaml`` (cached; treat it as read-only)."""
    text = resources.files("pseudoprog.perfusion").joinpath("data", f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"perfusion data table {name}.yaml must hold a mapping")
    return data


def dsc_methods() -> dict[str, Any]:
    return load_table("dsc_methods")


def dsc_protocol() -> dict[str, Any]:
    return load_table("dsc_protocol")
