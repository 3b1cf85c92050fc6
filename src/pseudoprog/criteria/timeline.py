"""Shared primitives of the response criteria: categories, burdens, percent change, baseline and windows.

The criteria engine reads a case as a timeline of scans. This module holds what every criterion
shares: the categories (with a severity order used by the property tests), the per-scan result
record, the measurement of one lesion by a given method, percent change with a zero reference,
and the clocks (weeks since radiotherapy, months since immunotherapy) of clinical_rules.md §1.9.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..case import Case, Lesion, Treatment, TreatmentType

METHODS = ("bidimensional", "unidimensional", "volumetric")
_UNITS = {"bidimensional": "mm²", "unidimensional": "mm", "volumetric": "mm³"}
_BURDEN_NAMES = {
    "bidimensional": "sum of products of perpendicular diameters (SPD)",
    "unidimensional": "sum of longest diameters (SLD)",
    "volumetric": "sum of enhancing volumes",
}
DAYS_PER_MONTH = 365.25 / 12


class Category(StrEnum):
    """Per-scan response categories, including each criterion's provisional states."""

    BASELINE = "baseline"
    BEFORE_BASELINE = "before baseline"
    CR = "CR"
    CR_UNCONFIRMED = "CR (unconfirmed)"
    PR = "PR"
    PR_UNCONFIRMED = "PR (unconfirmed)"
    SD = "SD"
    NOT_EVALUABLE_STEROIDS = "not evaluable: steroids increased"
    PD_WITHIN_WINDOW = "PD not allowed: within pseudoprogression window"
    PD_PRELIMINARY = "PD (preliminary)"
    PD_UNCONFIRMED = "PD (unconfirmed)"
    PD = "PD"
    CANNOT_ASSESS = "cannot assess"
    NOT_APPLICABLE = "not applicable"

    @property
    def severity(self) -> int | None:
        """Order of 'how bad' (CR lowest, confirmed PD highest); None for states outside the order."""
        return _SEVERITY.get(self)

    @property
    def is_progression(self) -> bool:
        return self in (Category.PD, Category.PD_PRELIMINARY, Category.PD_UNCONFIRMED, Category.PD_WITHIN_WINDOW)


_SEVERITY = {
    Category.CR: 0,
    Category.CR_UNCONFIRMED: 0,
    Category.PR: 1,
    Category.PR_UNCONFIRMED: 1,
    Category.SD: 2,
    Category.NOT_EVALUABLE_STEROIDS: 2,
    Category.PD_WITHIN_WINDOW: 3,
    Category.PD_PRELIMINARY: 3,
    Category.PD_UNCONFIRMED: 3,
    Category.PD: 4,
}


class Confirmation(StrEnum):
    CONFIRMED = "confirmed"
    UNCONFIRMED = "unconfirmed"  # awaiting the confirmation scan
    PRELIMINARY = "preliminary"  # mRANO / RANO 2.0 preliminary progression
    NOT_REQUIRED = "not required"
    NOT_CONFIRMED = "not confirmed"  # the confirmation scan did not confirm (pseudoprogression)


@dataclass(frozen=True)
class Burden:
    """The tumour burden of the target lesions at one scan by one method."""

    method: str
    value: float | None  # None: not measurable by this method at this scan
    per_lesion: Mapping[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # target ids without a usable measurement

    @property
    def unit(self) -> str:
        return _UNITS[self.method]

    @property
    def name(self) -> str:
        return _BURDEN_NAMES[self.method]


@dataclass(frozen=True)
class TimepointCall:
    """The call of one criterion at one scan, as known at that scan (prospective), with its reasons."""

    date: dt.date
    category: Category
    role: str  # "baseline" | "before baseline" | "follow-up"
    explanation: tuple[str, ...]
    confirmation: Confirmation | None = None
    within_pseudoprogression_window: bool | None = None
    window: Mapping[str, Any] = field(default_factory=dict)
    burden: Mapping[str, float | None] = field(default_factory=dict)  # method → value
    baseline: Mapping[str, Any] = field(default_factory=dict)  # {"date", "value", "unit", "method"}
    nadir: Mapping[str, Any] = field(default_factory=dict)
    pct_change_vs_baseline: float | None = None
    pct_change_vs_nadir: float | None = None
    volumetric: Mapping[str, Any] = field(default_factory=dict)  # the other method's numbers alongside
    new_lesions: tuple[str, ...] = ()
    progression_triggers: tuple[str, ...] = ()
    progression_date: dt.date | None = None  # back-dated date of progression when the criterion dates it earlier
    in_retrospect: str | None = None  # what a later scan showed this call to be
    flags: tuple[str, ...] = ()  # machine-readable cautions (e.g. "treatment_effect_possible_after_srs")
    reason: str | None = None  # for "cannot assess" / "not applicable"

    def as_mapping(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "role": self.role,
            "category": self.category.value,
            "confirmation": None if self.confirmation is None else self.confirmation.value,
            "within_pseudoprogression_window": self.within_pseudoprogression_window,
            "window": dict(self.window),
            "burden": dict(self.burden),
            "baseline": dict(self.baseline),
            "nadir": dict(self.nadir),
            "pct_change_vs_baseline": _round(self.pct_change_vs_baseline),
            "pct_change_vs_nadir": _round(self.pct_change_vs_nadir),
            # a zero nadir (complete response, then regrowth) gives an infinite change, written as null in JSON
            "nadir_is_zero": bool(self.nadir) and self.nadir.get("value") == 0,
            "volumetric": dict(self.volumetric),
            "new_lesions": list(self.new_lesions),
            "progression_triggers": list(self.progression_triggers),
            "progression_date": None if self.progression_date is None else self.progression_date.isoformat(),
            "in_retrospect": self.in_retrospect,
            "flags": list(self.flags),
            "reason": self.reason,
            "explanation": list(self.explanation),
        }


@dataclass(frozen=True)
class CriterionResult:
    """One criterion over the whole timeline."""

    criterion: str  # "RANO" | "mRANO" | "RANO 2.0" | "iRANO" | "RANO-BM"
    title: str
    method: str
    calls: tuple[TimepointCall, ...]
    notes: tuple[str, ...] = ()  # criterion-level statements (baseline choice, tracks not assessed ...)
    reason: str | None = None  # set when the whole criterion cannot be assessed / does not apply

    @property
    def latest(self) -> TimepointCall | None:
        return self.calls[-1] if self.calls else None

    @property
    def category(self) -> Category:
        if not self.calls:
            return Category.NOT_APPLICABLE if self.reason and "not apply" in self.reason else Category.CANNOT_ASSESS
        if self.calls[-1].role == "baseline":
            return Category.CANNOT_ASSESS  # only the baseline: nothing to compare yet
        return self.calls[-1].category


def _round(x: float | None) -> float | None:
    if x is None:
        return None
    if math.isinf(x):
        return x
    return round(x, 1)


# ---------------------------------------------------------------------------------------------
# Measurement primitives
# ---------------------------------------------------------------------------------------------


def pct_change(value: float, reference: float) -> float:
    """Percent change from ``reference`` to ``value``; a zero reference gives +inf for any regrowth.

    >>> pct_change(125.0, 100.0)
    25.0
    >>> pct_change(3.0, 0.0)
    inf
    """
    if reference == 0:
        return math.inf if value > 0 else 0.0
    return 100.0 * (value - reference) / reference


def lesion_gone(lesion: Lesion) -> bool:
    """A lesion reported as no longer enhancing, or with a zero size, has resolved."""
    m = lesion.measurement
    if not lesion.enhancing:
        return True
    sizes = [m.long_mm, m.longest_diameter_mm, m.enhancing_volume_mm3]
    known = [s for s in sizes if s is not None]
    return bool(known) and all(s == 0 for s in known)


def lesion_size(lesion: Lesion, method: str) -> float | None:
    """Size of one lesion by one method (mm², mm or mm³); 0 when resolved; None when not measured."""
    if lesion_gone(lesion):
        return 0.0
    m = lesion.measurement
    if method == "bidimensional":
        return m.bidimensional_product_mm2
    if method == "unidimensional":
        # RANO-BM's longest diameter; the longest in-plane diameter is the same measurement when only it is given.
        return m.longest_diameter_mm if m.longest_diameter_mm is not None else m.long_mm
    if method == "volumetric":
        return m.enhancing_volume_mm3
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def lesion_diameter(lesion: Lesion) -> float | None:
    """Longest diameter in mm (for the RANO-BM absolute-increase rule)."""
    if lesion_gone(lesion):
        return 0.0
    m = lesion.measurement
    return m.longest_diameter_mm if m.longest_diameter_mm is not None else m.long_mm


def measurability(
    lesion: Lesion,
    method: str,
    *,
    min_diameter_mm: float,
    min_perpendicular_mm: float | None = None,
    min_volume_mm3: float | None = None,
) -> tuple[bool, str]:
    """Whether a lesion is measurable for a method, and why (clinical_rules.md §1.3.1, §1.7)."""
    m = lesion.measurement
    if not lesion.enhancing:
        return False, "not enhancing"
    if m.measurable is not None and m.measurability_reason == "reported":
        return m.measurable, "reported as " + ("measurable" if m.measurable else "non-measurable")
    if m.measurable is not None and method == "bidimensional":
        # The lesions stage decides RANO bidimensional measurability with the slice-thickness rule
        # (clinical_rules §5.5), which the diameters alone cannot reproduce.
        verdict = "measurable" if m.measurable else "non-measurable"
        return m.measurable, f"{verdict} per {m.source}" + (
            f" ({m.measurability_reason})" if m.measurability_reason else ""
        )
    if lesion.component in ("cystic", "cavity_wall"):
        return False, f"{lesion.component}: cysts and cavities are not measured"
    if method == "bidimensional":
        if m.long_mm is None or m.perp_mm is None:
            return False, "no perpendicular diameters"
        if m.long_mm < min_diameter_mm or m.perp_mm < min_diameter_mm:
            return False, f"{m.long_mm:g} × {m.perp_mm:g} mm: both diameters must be ≥ {min_diameter_mm:g} mm"
        return True, f"{m.long_mm:g} × {m.perp_mm:g} mm"
    if method == "unidimensional":
        ld = m.longest_diameter_mm if m.longest_diameter_mm is not None else m.long_mm
        if ld is None:
            return False, "no longest diameter"
        if ld < min_diameter_mm:
            return False, f"longest diameter {ld:g} mm < {min_diameter_mm:g} mm"
        if min_perpendicular_mm is not None and m.perp_mm is not None and m.perp_mm < min_perpendicular_mm:
            return False, f"perpendicular diameter {m.perp_mm:g} mm < {min_perpendicular_mm:g} mm"
        return True, f"longest diameter {ld:g} mm"
    if method == "volumetric":
        v = m.enhancing_volume_mm3
        if v is None:
            return False, "no enhancing volume"
        if min_volume_mm3 is not None and v < min_volume_mm3:
            return False, f"enhancing volume {v:g} mm³ < {min_volume_mm3:g} mm³"
        return True, f"enhancing volume {v:g} mm³"
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def burden(lesions: Sequence[Lesion], target_ids: Sequence[str], method: str) -> Burden:
    """Sum of the target lesions' sizes by ``method``; missing targets are listed, never guessed."""
    by_id = {les.id: les for les in lesions}
    per: dict[str, float] = {}
    missing: list[str] = []
    for tid in target_ids:
        les = by_id.get(tid)
        size = None if les is None else lesion_size(les, method)
        if size is None:
            missing.append(tid)
        else:
            per[tid] = size
    if missing or not target_ids:
        return Burden(method, None if missing else 0.0, per, tuple(missing))
    return Burden(method, float(sum(per.values())), per, ())


# ---------------------------------------------------------------------------------------------
# Clocks (clinical_rules.md §1.9 item 1)
# ---------------------------------------------------------------------------------------------


def immunotherapy_start(case: Case, on: dt.date) -> dt.date | None:
    """Start of the earliest immunotherapy course begun on or before ``on`` (the iRANO clock)."""
    starts = [t.start for t in case.treatments_of(TreatmentType.IMMUNOTHERAPY) if t.start <= on]
    return min(starts) if starts else None


def months_between(a: dt.date, b: dt.date) -> float:
    return (b - a).days / DAYS_PER_MONTH


def last_radiation(case: Case, on: dt.date) -> Treatment | None:
    """The radiation course that ended most recently on or before ``on``."""
    done = [t for t in case.radiation_courses() if t.last_day <= on]
    return max(done, key=lambda t: t.last_day) if done else None


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    return f"{value:.0f} {unit}" if unit != "mm" else f"{value:.1f} {unit}"


def format_pct(p: float | None) -> str:
    if p is None:
        return "n/a"
    if math.isinf(p):
        return "+∞ % (reference 0)"
    return f"{p:+.1f} %"
