"""Map names as the map stages write them (``dsc_rcbv``, ``dce_ktrans``, ``adc`` ...) → the quantity they hold.

The map stages prefix a map with the kind of acquisition it came from; the report and the DICOM
writers care about the quantity. A name is looked up whole first (``asl_cbf`` is its own quantity),
then without its acquisition prefix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..files import load_table

PREFIXES = ("dsc_", "dce_", "dwi_", "adc_", "diffusion_", "tram_")


def canonical_map_name(name: str, known: Collection[str]) -> str | None:
    """The key of ``known`` that a map name refers to, or ``None`` if it is none of them.

    Examples
    --------
    >>> canonical_map_name("dsc_rcbv", {"rcbv", "adc"})
    'rcbv'
    >>> canonical_map_name("dsc_rcbv_uncorrected", {"rcbv", "adc"}) is None
    True
    """
    if name in known:
        return name
    for prefix in PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :] in known:
            return name[len(prefix) :]
    return None


# ---------------------------------------------------------------------------------------------------------
# Display names and units: the one table the report uses to show a marker, a map or an evidence item
# (``report/data/display_names.yaml``: ``names`` and ``units``). Stored names and units are not changed.


@dataclass(frozen=True)
class Shown:
    """A value as the report shows it: the number in the display unit, and that unit ('' for a ratio)."""

    value: float | None
    unit: str

    def text(self, *, digits: int = 3) -> str:
        """'1.46 ×10⁻³ mm²/s', '13.8 cm³', '2.1' (a ratio); '—' without a value."""
        if self.value is None or not math.isfinite(self.value):
            return "—"
        v = self.value
        number = f"{v:.0f}" if abs(v) >= 10**digits else f"{v:.{digits}g}"
        return f"{number} {self.unit}".strip()


@cache
def _display() -> dict[str, Any]:
    return load_table("report", "display_names")


def display_name(name: str) -> str:
    """The clinical name of a marker, map or evidence item: 'rcbv_max' → 'rCBV max', 'dsc_rcbv' → 'rCBV'.

    A name the table does not hold is shown with spaces for underscores ('bevacizumab_low_perfusion' →
    'bevacizumab low perfusion'), never as a code.
    """
    names: Mapping[str, str] = _display()["names"]
    key = canonical_map_name(name, names)
    if key is not None:
        return str(names[key])
    return name.replace("_", " ")


def display_unit(unit: str | None) -> tuple[str, float]:
    """(unit text, scale) for a stored unit: 'mm2/s' → ('×10⁻³ mm²/s', 1000); unknown units are shown as they are."""
    if unit is None:
        return "", 1.0
    units: Mapping[str, Mapping[str, Any]] = _display()["units"]
    entry = units.get(unit) or units.get(unit.strip())
    if entry is None:
        return unit, 1.0
    return str(entry["show"]), float(entry["scale"])


def shown(value: Any, unit: str | None) -> Shown:
    """A stored number and unit in the display unit (``value`` ``None`` or not a number → no value)."""
    text, scale = display_unit(unit)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Shown(None, text)
    return Shown(float(value) * scale, text)


def shown_text(value: Any, unit: str | None, *, digits: int = 3) -> str:
    """``shown(value, unit).text()``; a non-numeric value (a category) is shown as it is, with its unit."""
    if (value is not None and not isinstance(value, (int, float))) or isinstance(value, bool):
        return f"{value} {unit or ''}".strip() if unit not in ("ratio", "probability") else str(value)
    return shown(value, unit).text(digits=digits)


_MM3 = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*mm(?:³|3)(?![\w/])")


def volumes_in_cm3(text: str) -> str:
    """Volumes written in mm³ inside a sentence, rewritten in cm³ (the report shows volumes in cm³ only).

    Examples
    --------
    >>> volumes_in_cm3("volumetric alongside: 13824 mm³, +387.6 % vs baseline")
    'volumetric alongside: 13.8 cm³, +387.6 % vs baseline'
    """

    def sub(m: re.Match[str]) -> str:
        return shown(float(m.group(1)), "mm3").text()

    return _MM3.sub(sub, text)


# A code written in snake case (``glioma_hgg_after_rt``, ``dsc_cbv``, ``rcbv_max``), optionally followed by a
# parenthesised gloss. Codes inside dotted names or paths (``pseudoprog.evidence``, ``maps/x_y.nii``) are not codes.
_SNAKE = re.compile(
    r"(?<![\w.\-/`])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w\-/`]|\.\w)"
    r"(\s\(((?:[^()]|\([^()]*\))*)\))?"
)
# A lesion measurement named by its field ('lesions.rano_bidimensional') → in words.
_FIELD = re.compile(r"\blesions\.([a-z][a-z0-9_]*)")


def humanise(text: str) -> str:
    """Codes inside a sentence in their clinical names: 'rcbv_max: literature cut-offs …' → 'rCBV max: …'.

    Every snake-case code is shown by its name in the display table, or with spaces for underscores if the
    table lacks it, so that no internal id reaches the page. A code followed by a gloss that starts with its
    name keeps the gloss only ('glioma_hgg_after_rt (high-grade glioma after …, new lesion)' → 'high-grade
    glioma after …, new lesion'). Plain words ('psr', 'adc') are left as they are.

    Examples
    --------
    >>> humanise("a stronger measurement (dsc_cbv) was used; rcbv_max 2.1")
    'a stronger measurement (CBV) was used; rCBV max 2.1'
    >>> humanise("measurable per lesions.rano_bidimensional")
    'measurable per the rano bidimensional measurement'
    """

    def sub(m: re.Match[str]) -> str:
        name = display_name(m.group(1))
        gloss = m.group(3)
        if gloss is None:
            return name
        if gloss.lower().startswith(name.lower()):
            return gloss
        return f"{name} ({gloss})"

    text = _FIELD.sub(lambda m: f"the {m.group(1).replace('_', ' ')} measurement", text)
    return _SNAKE.sub(sub, text)
