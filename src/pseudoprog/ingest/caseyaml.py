"""``case.yaml``: parsing and validation into a :class:`~pseudoprog.case.Case`.

Validation is strict on purpose: an unknown key is more often a typo (``steriods``) than an
extension, and a silently ignored field is a silent guess. Every error is an
:class:`~pseudoprog.errors.InputError` that names the file, the field path
(``timepoints[1].lesions[0].perp_mm``) and what was expected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..case import (
    Case,
    ClinicalStatus,
    Diagnosis,
    DiagnosisType,
    FlairChange,
    HistologyResult,
    Indication,
    Lesion,
    LesionMeasurement,
    LesionSeed,
    LocationVsRT,
    Marker,
    MarkerStatus,
    MaskSource,
    Patient,
    SeriesKind,
    Timepoint,
    Treatment,
    TreatmentType,
)
from ..errors import InputError
from ..files import load_table
from ..markers import MARKERS, check_marker_set, check_marker_value
from .safe_yaml import load_user_yaml

CASE_FILE = "case.yaml"
E = TypeVar("E", bound=StrEnum)

_TOP_KEYS = {
    "patient",
    "diagnosis",
    "treatments",
    "timepoints",
    "indication",
    "rtdose",
    "series",
    "notes",
    "contrast_agent",
}
_PATIENT_KEYS = {"id", "age", "sex", "dicom_id"}
_DIAGNOSIS_KEYS = {"type", "idh", "mgmt", "codeletion_1p19q", "who_grade", "primary", "date"}
_TREATMENT_KEYS = {
    "type",
    "date",
    "start",
    "end",
    "dose_gy",
    "fractions",
    "agent",
    "extent",
    "isodose_percent",
    "target",
}
_TIMEPOINT_KEYS = {
    "date",
    "clinical_status",
    "steroids_mg_dexamethasone",
    "images",
    "lesions",
    "markers",
    "flair_change",
    "histology",
    "histology_result",
    "notes",
    "series",
    "mask",
    "contrast_agent",
    "field_strength_t",
}
_LESION_KEYS = {
    "id",
    "long_mm",
    "perp_mm",
    "longest_diameter_mm",
    "volume_ml",
    "enhancing_volume_ml",
    "core_volume_ml",
    "flair_volume_ml",
    "enhancing",
    "location_vs_rt",
    "new",
    "target",
    "component",
    "markers",
    "measurable",
    "seed",
    "mask",
    "equivocal",
    "unequivocal_progression",
}
_SEED_KEYS = {"point_mm", "point_voxel", "box_mm", "box_voxel", "radius_mm"}
_LESION_MASK_KEYS = {"path", "label", "segment", "roi"}
_TIMEPOINT_MASK_KEYS = {"path", "enhancing_labels", "core_labels", "flair_labels", "segment", "roi"}
_SURGERY_EXTENTS = {"gross_total", "subtotal", "partial", "biopsy", "unknown"}
_COMPONENTS = {"solid", "cystic", "necrotic_rim", "cavity_wall", "nodule_in_cyst"}
_SINGLE_DAY = {TreatmentType.SURGERY, TreatmentType.BIOPSY, TreatmentType.SRS}
_EARLIEST_PLAUSIBLE = dt.date(1950, 1, 1)  # before MRI existed: a typo, not a scan


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so an impossible date (2026-02-30) is our InputError, not a crash."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


class _Ctx:
    """Where we are in the file, for messages."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def error(self, field: str, problem: str, expected: str | None = None) -> InputError:
        return InputError(problem, file=self.file, field=field, expected=expected)


def _mapping(ctx: _Ctx, value: Any, field: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ctx.error(field, f"must be a mapping, got {type(value).__name__}", "key: value pairs")
    for key in value:
        if not isinstance(key, str):
            raise ctx.error(field, f"key {key!r} is not text")
        if key not in allowed:
            raise ctx.error(f"{field}.{key}" if field else key, "unknown key", "one of " + ", ".join(sorted(allowed)))
    return value


def _required(ctx: _Ctx, m: Mapping[str, Any], key: str, field: str) -> Any:
    if key not in m or m[key] is None:
        raise ctx.error(f"{field}.{key}" if field else key, "is required but missing")
    return m[key]


def _enum(ctx: _Ctx, enum: type[E], value: Any, field: str) -> E:
    try:
        return enum(str(value).strip().lower() if enum is not SeriesKind else str(value).strip())
    except ValueError:
        pass
    if enum is SeriesKind:
        for member in enum:
            if member.value.lower() == str(value).strip().lower():
                return member
    raise ctx.error(field, f"{value!r} is not a recognised value", "one of " + ", ".join(m.value for m in enum))


def _date(ctx: _Ctx, value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ctx.error(field, f"{value!r} is not a date", "YYYY-MM-DD") from None
    else:
        raise ctx.error(field, f"{value!r} is not a date", "YYYY-MM-DD")
    if parsed < _EARLIEST_PLAUSIBLE:
        raise ctx.error(field, f"{parsed.isoformat()} is an impossible date", f"on or after {_EARLIEST_PLAUSIBLE}")
    if parsed > dt.date.today():
        raise ctx.error(field, f"{parsed.isoformat()} is in the future", "a date on or before today")
    return parsed


def _number(
    ctx: _Ctx,
    value: Any,
    field: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_inclusive: bool = True,
    integer: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ctx.error(field, f"{value!r} is not a number", "an integer" if integer else "a number")
    if not math.isfinite(value):
        raise ctx.error(field, "is not a finite number")
    if integer and int(value) != value:
        raise ctx.error(field, f"{value!r} is not a whole number", "an integer")
    if lo is not None and (value < lo or (value == lo and not lo_inclusive)):
        raise ctx.error(field, f"{value} is too small", f"{'≥' if lo_inclusive else '>'} {lo}")
    if hi is not None and value > hi:
        raise ctx.error(field, f"{value} is too large", f"≤ {hi}")
    return float(value)


def _opt(m: Mapping[str, Any], key: str, fn: Callable[[Any], Any]) -> Any:
    return fn(m[key]) if key in m and m[key] is not None else None


def _bool(ctx: _Ctx, value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ctx.error(field, f"{value!r} is not true/false", "true or false")
    return value


def _text(ctx: _Ctx, value: Any, field: str) -> str:
    if isinstance(value, (dict, list)):
        raise ctx.error(field, "must be text", "a single value")
    return str(value)


# ---------------------------------------------------------------------------------------------


def _patient(ctx: _Ctx, raw: Any) -> Patient:
    m = _mapping(ctx, raw, "patient", _PATIENT_KEYS)
    pid = _text(ctx, _required(ctx, m, "id", "patient"), "patient.id").strip()
    if not pid:
        raise ctx.error("patient.id", "is empty")
    age = _opt(m, "age", lambda v: _number(ctx, v, "patient.age", lo=0, hi=120))
    sex = _opt(m, "sex", lambda v: _text(ctx, v, "patient.sex").strip().upper())
    if sex is not None and sex not in {"M", "F", "O"}:
        raise ctx.error("patient.sex", f"{sex!r} is not recognised", "M, F or O")
    dicom = m.get("dicom_id")
    dicom_ids = tuple(
        _text(ctx, v, f"patient.dicom_id[{i}]").strip()
        for i, v in enumerate(dicom if isinstance(dicom, list) else [] if dicom is None else [dicom])
    )
    return Patient(id=pid, age_years=age, sex=sex, dicom_ids=dicom_ids)


def _marker_status(ctx: _Ctx, value: Any, field: str, allowed: set[MarkerStatus]) -> MarkerStatus:
    if isinstance(value, bool):  # YAML reads "yes"/"no" as booleans
        value = "positive" if value else "negative"
    status = _enum(ctx, MarkerStatus, value, field)
    if status not in allowed:
        raise ctx.error(
            field, f"{status.value!r} does not apply here", "one of " + ", ".join(sorted(s.value for s in allowed))
        )
    return status


def _diagnosis(ctx: _Ctx, raw: Any) -> Diagnosis:
    m = _mapping(ctx, raw, "diagnosis", _DIAGNOSIS_KEYS)
    dtype = _enum(ctx, DiagnosisType, _required(ctx, m, "type", "diagnosis"), "diagnosis.type")
    unknown = MarkerStatus.UNKNOWN
    idh = _opt(
        m,
        "idh",
        lambda v: _marker_status(ctx, v, "diagnosis.idh", {MarkerStatus.WILDTYPE, MarkerStatus.MUTANT, unknown}),
    )
    mgmt = _opt(
        m,
        "mgmt",
        lambda v: _marker_status(
            ctx, v, "diagnosis.mgmt", {MarkerStatus.METHYLATED, MarkerStatus.UNMETHYLATED, unknown}
        ),
    )
    codel = _opt(
        m,
        "codeletion_1p19q",
        lambda v: _marker_status(
            ctx, v, "diagnosis.codeletion_1p19q", {MarkerStatus.POSITIVE, MarkerStatus.NEGATIVE, unknown}
        ),
    )
    grade = _opt(m, "who_grade", lambda v: int(_number(ctx, v, "diagnosis.who_grade", lo=1, hi=4, integer=True)))
    primary = _opt(m, "primary", lambda v: _text(ctx, v, "diagnosis.primary").strip().lower())
    if primary is not None and dtype is not DiagnosisType.METASTASIS:
        raise ctx.error("diagnosis.primary", "applies to metastases only", "no 'primary' for a glioma")
    if dtype is DiagnosisType.METASTASIS and (idh or mgmt):
        raise ctx.error("diagnosis", "IDH/MGMT status applies to gliomas, not metastases")
    return Diagnosis(
        type=dtype,
        idh=idh or unknown,
        mgmt=mgmt or unknown,
        codeletion_1p19q=codel or unknown,
        who_grade=grade,
        primary=primary,
        date=_opt(m, "date", lambda v: _date(ctx, v, "diagnosis.date")),
    )


def _treatment(ctx: _Ctx, raw: Any, field: str) -> Treatment:
    m = _mapping(ctx, raw, field, _TREATMENT_KEYS)
    ttype = _enum(ctx, TreatmentType, _required(ctx, m, "type", field), f"{field}.type")
    if "date" in m and "start" in m:
        raise ctx.error(field, "gives both 'date' and 'start'", "'date' for one-day treatments, else 'start'/'end'")
    if "date" not in m and "start" not in m:
        raise ctx.error(
            f"{field}.start", "is required but missing", "'date' (surgery, biopsy, srs) or 'start' (courses)"
        )
    start = _date(ctx, m.get("date", m.get("start")), f"{field}.{'date' if 'date' in m else 'start'}")
    end = _opt(m, "end", lambda v: _date(ctx, v, f"{field}.end"))
    if end is not None and end < start:
        raise ctx.error(
            f"{field}.end",
            f"{end.isoformat()} is before the start {start.isoformat()}",
            "an end date on or after the start",
        )
    if end is not None and ttype in _SINGLE_DAY and end != start and ttype is not TreatmentType.SRS:
        raise ctx.error(f"{field}.end", f"a {ttype.value} is a single-day treatment", "'date' only")
    dose = _opt(m, "dose_gy", lambda v: _number(ctx, v, f"{field}.dose_gy", lo=0, hi=150, lo_inclusive=False))
    fractions = _opt(m, "fractions", lambda v: int(_number(ctx, v, f"{field}.fractions", lo=1, hi=60, integer=True)))
    if (dose is not None or fractions is not None) and not ttype.is_radiation:
        raise ctx.error(field, f"dose/fractions given for {ttype.value}, which is not a radiation treatment")
    if dose is not None and fractions and dose / fractions > 30:
        raise ctx.error(
            f"{field}.dose_gy", f"{dose / fractions:.1f} Gy per fraction is implausible", "≤ 30 Gy per fraction"
        )
    extent = _opt(m, "extent", lambda v: _text(ctx, v, f"{field}.extent").strip().lower())
    if extent is not None:
        if ttype not in (TreatmentType.SURGERY, TreatmentType.BIOPSY):
            raise ctx.error(f"{field}.extent", "applies to surgery only")
        if extent not in _SURGERY_EXTENTS:
            raise ctx.error(
                f"{field}.extent", f"{extent!r} is not recognised", "one of " + ", ".join(sorted(_SURGERY_EXTENTS))
            )
    iso = _opt(m, "isodose_percent", lambda v: _number(ctx, v, f"{field}.isodose_percent", lo=10, hi=100))
    assumed = None
    if end is None and ttype in _COURSES:
        end, assumed = _assumed_end(ttype, start, fractions, field)
    return Treatment(
        type=ttype,
        start=start,
        end=end,
        dose_gy=dose,
        fractions=fractions,
        agent=_opt(m, "agent", lambda v: _text(ctx, v, f"{field}.agent").strip().lower()),
        extent=extent,
        isodose_percent=iso,
        target=_opt(m, "target", lambda v: _text(ctx, v, f"{field}.target")),
        end_assumed=assumed,
    )


# Multi-day radiation courses: without an end date the end is assumed, never taken as the start (issue 12 item 5).
_COURSES = {TreatmentType.CHEMORADIATION, TreatmentType.RADIOTHERAPY, TreatmentType.WBRT, TreatmentType.FSRT}


def _assumed_end(ttype: TreatmentType, start: dt.date, fractions: int | None, field: str) -> tuple[dt.date, str]:
    """The last treatment day of a course given without ``end``, and the warning that says so.

    Why an assumption rather than an InputError: many referral letters give only the start of radiotherapy, and
    refusing the case would leave the reader with nothing; the assumed end is the latest plausible one (the
    given fractions, or the longest standard schedule, on consecutive weekdays), so the 12-week window after
    radiotherapy can only be extended, never lost (data/courses.yaml).
    """
    table = load_table("ingest", "courses")
    per_week = int(table["fractions_per_week"])
    row = table["standard_fractions"][ttype.value]
    n = fractions if fractions is not None else int(row["value"])
    day, given = start, 1
    while given < n:  # one fraction per weekday (Mon-Fri), from the start day
        day += dt.timedelta(days=1)
        if day.weekday() < per_week:
            given += 1
    basis = f"{n} fractions" + ("" if fractions is not None else f" assumed ({row['source']})")
    return day, (
        f"{field}.end: the {ttype.value} course has no end date; assumed end of radiotherapy {day.isoformat()} "
        f"= start {start.isoformat()} + {basis} at {per_week} a week. This keeps the 12-week window after "
        "radiotherapy conservative; give the real end date to replace the assumption"
    )


def _markers(ctx: _Ctx, raw: Any, field: str, lesion_id: str | None) -> dict[str, Marker]:
    m = _mapping(ctx, raw, field, set(MARKERS))
    out: dict[str, Marker] = {}
    for name, value in m.items():
        problem = check_marker_value(name, value)
        if problem:
            raise ctx.error(f"{field}.{name}", problem, f"a number in {MARKERS[name].unit}")
        out[name] = Marker(
            name=name, value=float(value), unit=MARKERS[name].unit, source="reported", lesion_id=lesion_id
        )
    impossible = check_marker_set({k: v.value for k, v in out.items()})
    if impossible is not None:  # issue 12 item 6: a set that cannot be true is refused here, before any stage
        name, problem, expected = impossible
        raise ctx.error(f"{field}.{name}", problem, expected)
    return out


def _triple(ctx: _Ctx, value: Any, field: str) -> tuple[float, float, float]:
    if not isinstance(value, list) or len(value) != 3:
        raise ctx.error(field, f"{value!r} is not three numbers", "[x, y, z] (mm) or [i, j, k] (voxel indices)")
    a, b, c = (_number(ctx, v, f"{field}[{i}]") for i, v in enumerate(value))
    return (a, b, c)


def _seed(ctx: _Ctx, raw: Any, field: str, lesion_id: str) -> LesionSeed:
    m = _mapping(ctx, raw, field, _SEED_KEYS)
    given = [k for k in ("point_mm", "point_voxel", "box_mm", "box_voxel") if k in m]
    if len(given) != 1:
        raise ctx.error(
            field,
            "needs exactly one of point_mm, point_voxel, box_mm, box_voxel"
            + (f" (got {', '.join(given)})" if given else ""),
            "e.g. {point_mm: [34, 18, 9]} in RAS world mm, or {point_voxel: [i, j, k]} of the timepoint's T1c",
        )
    key = given[0]
    space = "mm" if key.endswith("_mm") else "voxel"
    radius = _opt(m, "radius_mm", lambda v: _number(ctx, v, f"{field}.radius_mm", lo=0, hi=100, lo_inclusive=False))
    if key.startswith("point"):
        return LesionSeed(lesion_id, space, point=_triple(ctx, m[key], f"{field}.{key}"), radius_mm=radius or 10.0)
    if radius is not None:
        raise ctx.error(f"{field}.radius_mm", "applies to a point seed only", "no radius with a box")
    box = m[key]
    if not isinstance(box, list) or len(box) != 2:
        raise ctx.error(f"{field}.{key}", "must be two opposite corners", "[[x0, y0, z0], [x1, y1, z1]]")
    lo, hi = _triple(ctx, box[0], f"{field}.{key}[0]"), _triple(ctx, box[1], f"{field}.{key}[1]")
    if any(a == b for a, b in zip(lo, hi, strict=True)):
        raise ctx.error(f"{field}.{key}", "has zero extent along an axis", "two corners that differ on every axis")
    return LesionSeed(lesion_id, space, box=(lo, hi))


def _mask_path(ctx: _Ctx, value: Any, field: str, root: Path) -> Path:
    rel = _text(ctx, value, field)
    path = Path(rel) if Path(rel).is_absolute() else (root / rel).resolve()
    if not path.is_file():
        raise ctx.error(field, f"mask file '{rel}' does not exist", "a NIfTI, DICOM SEG or RTSTRUCT file")
    return path


def _labels(ctx: _Ctx, value: Any, field: str) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(int(_number(ctx, v, f"{field}[{i}]", lo=1, integer=True)) for i, v in enumerate(items))


def _lesion_mask(ctx: _Ctx, raw: Any, field: str, root: Path, lesion_id: str) -> MaskSource:
    if isinstance(raw, str):
        raw = {"path": raw}
    m = _mapping(ctx, raw, field, _LESION_MASK_KEYS)
    path = _mask_path(ctx, _required(ctx, m, "path", field), f"{field}.path", root)
    return MaskSource(
        path=path,
        lesion_id=lesion_id,
        label=_opt(m, "label", lambda v: int(_number(ctx, v, f"{field}.label", lo=1, integer=True))),
        segment=_opt(m, "segment", lambda v: int(_number(ctx, v, f"{field}.segment", lo=1, integer=True))),
        roi=_opt(m, "roi", lambda v: _text(ctx, v, f"{field}.roi")),
    )


def _timepoint_mask(ctx: _Ctx, raw: Any, field: str, root: Path) -> MaskSource:
    if isinstance(raw, str):
        raw = {"path": raw}
    m = _mapping(ctx, raw, field, _TIMEPOINT_MASK_KEYS)
    path = _mask_path(ctx, _required(ctx, m, "path", field), f"{field}.path", root)
    enh = _opt(m, "enhancing_labels", lambda v: _labels(ctx, v, f"{field}.enhancing_labels")) or ()
    core = _opt(m, "core_labels", lambda v: _labels(ctx, v, f"{field}.core_labels")) or ()
    flair = _opt(m, "flair_labels", lambda v: _labels(ctx, v, f"{field}.flair_labels")) or ()
    if set(enh) & set(core) or set(enh) & set(flair) or set(core) & set(flair):
        raise ctx.error(field, "a label value is given for two components", "disjoint enhancing/core/flair labels")
    return MaskSource(
        path=path,
        enhancing_labels=enh,
        core_labels=core,
        flair_labels=flair,
        segment=_opt(m, "segment", lambda v: int(_number(ctx, v, f"{field}.segment", lo=1, integer=True))),
        roi=_opt(m, "roi", lambda v: _text(ctx, v, f"{field}.roi")),
    )


def _lesion(ctx: _Ctx, raw: Any, field: str) -> Lesion:
    m = _mapping(ctx, raw, field, _LESION_KEYS)
    lid = _text(ctx, _required(ctx, m, "id", field), f"{field}.id").strip()

    def mm(key: str) -> float | None:
        # An adult intracranial cavity is at most ~180 mm long: a lesion diameter above 200 mm cannot be true (cm,
        # or a typo); it was 250, which let a 250 mm "lesion" through as a huge PD (issue 12 review, vignette 99).
        return _opt(m, key, lambda v: _number(ctx, v, f"{field}.{key}", lo=0, hi=200))

    def ml_to_mm3(key: str) -> float | None:
        v = _opt(m, key, lambda v: _number(ctx, v, f"{field}.{key}", lo=0, hi=2000))
        return None if v is None else v * 1000.0

    long_mm, perp_mm = mm("long_mm"), mm("perp_mm")
    if (long_mm is None) != (perp_mm is None):
        raise ctx.error(field, "gives only one of long_mm / perp_mm", "both diameters, or neither")
    if long_mm is not None and perp_mm is not None and perp_mm > long_mm + 1e-9:
        raise ctx.error(
            f"{field}.perp_mm",
            f"{perp_mm} mm exceeds the longest diameter {long_mm} mm",
            "perp_mm ≤ long_mm (long_mm is the longest in-plane diameter)",
        )
    enhancing_ml = ml_to_mm3("enhancing_volume_ml")
    if "volume_ml" in m:
        if enhancing_ml is not None:
            raise ctx.error(field, "gives both volume_ml and enhancing_volume_ml", "one of them")
        enhancing_ml = ml_to_mm3("volume_ml")
    component = _opt(m, "component", lambda v: _text(ctx, v, f"{field}.component").strip().lower())
    if component is not None and component not in _COMPONENTS:
        raise ctx.error(
            f"{field}.component", f"{component!r} is not recognised", "one of " + ", ".join(sorted(_COMPONENTS))
        )
    measurement = LesionMeasurement(
        long_mm=long_mm,
        perp_mm=perp_mm,
        longest_diameter_mm=mm("longest_diameter_mm"),
        enhancing_volume_mm3=enhancing_ml,
        core_volume_mm3=ml_to_mm3("core_volume_ml"),
        flair_volume_mm3=ml_to_mm3("flair_volume_ml"),
        measurable=_opt(m, "measurable", lambda v: _bool(ctx, v, f"{field}.measurable")),
        measurability_reason="reported" if "measurable" in m else "",
        source="reported",
    )
    return Lesion(
        id=lid,
        enhancing=_opt(m, "enhancing", lambda v: _bool(ctx, v, f"{field}.enhancing")) if "enhancing" in m else True,
        measurement=measurement,
        location_vs_rt=_opt(m, "location_vs_rt", lambda v: _enum(ctx, LocationVsRT, v, f"{field}.location_vs_rt"))
        or LocationVsRT.UNKNOWN,
        new=bool(_opt(m, "new", lambda v: _bool(ctx, v, f"{field}.new"))),
        target=_opt(m, "target", lambda v: _bool(ctx, v, f"{field}.target")),
        component=component,
        markers=_markers(ctx, m["markers"], f"{field}.markers", lid) if m.get("markers") is not None else {},
        equivocal=bool(_opt(m, "equivocal", lambda v: _bool(ctx, v, f"{field}.equivocal"))),
        unequivocal_progression=bool(
            _opt(m, "unequivocal_progression", lambda v: _bool(ctx, v, f"{field}.unequivocal_progression"))
        ),
    )


def _series_overrides(ctx: _Ctx, raw: Any, field: str) -> dict[str, SeriesKind]:
    if not isinstance(raw, Mapping):
        raise ctx.error(
            field,
            "must map a series (description, UID, number or file name) to its kind",
            "e.g. {'AX T1 MPRAGE POST': T1c}",
        )
    return {str(k): _enum(ctx, SeriesKind, v, f"{field}.{k}") for k, v in raw.items()}


def _timepoint(ctx: _Ctx, raw: Any, field: str, root: Path) -> tuple[Timepoint, dict[str, SeriesKind]]:
    m = _mapping(ctx, raw, field, _TIMEPOINT_KEYS)
    date = _date(ctx, _required(ctx, m, "date", field), f"{field}.date")
    image_dir = None
    if m.get("images") is not None:
        rel = _text(ctx, m["images"], f"{field}.images")
        image_dir = (root / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
        if not image_dir.exists():
            raise ctx.error(
                f"{field}.images",
                f"image folder '{rel}' does not exist",
                "a folder (relative to the case folder) of DICOM or NIfTI files",
            )
        if not image_dir.is_dir():
            raise ctx.error(f"{field}.images", f"'{rel}' is not a folder", "a folder of DICOM or NIfTI files")
    lesions_raw = m.get("lesions") or []
    if not isinstance(lesions_raw, list):
        raise ctx.error(f"{field}.lesions", "must be a list", "- {id: L1, long_mm: ..., perp_mm: ...}")
    lesions = tuple(_lesion(ctx, lr, f"{field}.lesions[{i}]") for i, lr in enumerate(lesions_raw))
    seeds: list[LesionSeed] = []
    masks: list[MaskSource] = []
    for i, (lr, les) in enumerate(zip(lesions_raw, lesions, strict=True)):
        if lr.get("seed") is not None:
            seeds.append(_seed(ctx, lr["seed"], f"{field}.lesions[{i}].seed", les.id))
        if lr.get("mask") is not None:
            masks.append(_lesion_mask(ctx, lr["mask"], f"{field}.lesions[{i}].mask", root, les.id))
    if m.get("mask") is not None:
        masks.append(_timepoint_mask(ctx, m["mask"], f"{field}.mask", root))
    if (seeds or masks) and image_dir is None:
        raise ctx.error(f"{field}", "gives lesion seeds or masks but no images", "an 'images' folder with a T1c")
    ids = [les.id for les in lesions]
    if len(ids) != len(set(ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ctx.error(f"{field}.lesions", f"lesion id(s) {dup} appear more than once", "unique ids")
    steroids = _opt(
        m, "steroids_mg_dexamethasone", lambda v: _number(ctx, v, f"{field}.steroids_mg_dexamethasone", lo=0, hi=100)
    )
    overrides = _series_overrides(ctx, m["series"], f"{field}.series") if m.get("series") is not None else {}
    tp = Timepoint(
        date=date,
        clinical_status=_opt(m, "clinical_status", lambda v: _enum(ctx, ClinicalStatus, v, f"{field}.clinical_status"))
        or ClinicalStatus.UNKNOWN,
        steroids_mg_dexamethasone=steroids,
        image_dir=image_dir,
        lesions=lesions,
        markers=_markers(ctx, m["markers"], f"{field}.markers", None) if m.get("markers") is not None else {},
        flair_change=_opt(m, "flair_change", lambda v: _enum(ctx, FlairChange, v, f"{field}.flair_change"))
        or FlairChange.UNKNOWN,
        histology=_opt(m, "histology", lambda v: _text(ctx, v, f"{field}.histology")),
        notes=_opt(m, "notes", lambda v: _text(ctx, v, f"{field}.notes")) or "",
        seeds=tuple(seeds),
        masks=tuple(masks),
        histology_result=_opt(
            m, "histology_result", lambda v: _enum(ctx, HistologyResult, v, f"{field}.histology_result")
        ),
        contrast_agent=_opt(m, "contrast_agent", lambda v: _agent(ctx, v, f"{field}.contrast_agent")),
        # Clinical MR runs from 0.2 T (open low-field) to 7 T; 11.7 T is the highest human scanner.
        field_strength_t=_opt(
            m, "field_strength_t", lambda v: _number(ctx, v, f"{field}.field_strength_t", lo=0.2, hi=11.7)
        ),
    )
    return tp, overrides


def _agent(ctx: _Ctx, value: Any, field: str) -> str:
    """A contrast agent's name (generic, trade name or abbreviation); an unknown one is a stated assumption later."""
    text = _text(ctx, value, field).strip()
    if not text:
        raise ctx.error(field, "is empty", "the agent's name, e.g. gadobutrol, Dotarem, Gd-DTPA")
    return text


def _resolved_lesions(timepoints: tuple[Timepoint, ...], raw: list[Any]) -> tuple[Timepoint, ...]:
    """An explicit ``lesions: []`` says "no enhancing lesion": earlier lesions are recorded as resolved.

    Without this the criteria could not tell "no lesion left" (a complete response) from "not measured" (cannot
    assess); a timepoint that omits ``lesions`` altogether stays "not reported".
    """
    out: list[Timepoint] = []
    seen: dict[str, None] = {}
    for tp, m in zip(timepoints, raw, strict=True):
        explicit_none = isinstance(m, Mapping) and isinstance(m.get("lesions"), list) and not m["lesions"]
        if explicit_none and seen:
            tp = dataclasses.replace(tp, lesions=tuple(Lesion(id=lid, enhancing=False) for lid in seen))
        for les in tp.lesions:
            seen.setdefault(les.id, None)
        out.append(tp)
    return tuple(out)


def parse_case(data: Any, *, file: Path, root: Path) -> tuple[Case, list[dict[str, SeriesKind]]]:
    """Validate the parsed YAML of a case; returns the case and the per-timepoint series overrides."""
    ctx = _Ctx(file)
    if not isinstance(data, Mapping):
        raise InputError(
            "must hold a mapping at the top level", file=file, expected="patient:, diagnosis:, treatments:, timepoints:"
        )
    m = _mapping(ctx, data, "", _TOP_KEYS)
    patient = _patient(ctx, _required(ctx, m, "patient", ""))
    diagnosis = _diagnosis(ctx, _required(ctx, m, "diagnosis", ""))
    treatments_raw = m.get("treatments") or []
    if not isinstance(treatments_raw, list):
        raise ctx.error("treatments", "must be a list", "- {type: ..., date/start: ...}")
    treatments = tuple(
        sorted((_treatment(ctx, t, f"treatments[{i}]") for i, t in enumerate(treatments_raw)), key=lambda t: t.start)
    )
    tps_raw = _required(ctx, m, "timepoints", "")
    if not isinstance(tps_raw, list) or not tps_raw:
        raise ctx.error("timepoints", "must be a non-empty list", "- {date: YYYY-MM-DD, ...}")
    parsed = [_timepoint(ctx, t, f"timepoints[{i}]", root) for i, t in enumerate(tps_raw)]
    dates = [tp.date for tp, _ in parsed]
    if len(dates) != len(set(dates)):
        dup = sorted({d.isoformat() for d in dates if dates.count(d) > 1})
        raise ctx.error("timepoints", f"two timepoints share the date(s) {dup}", "one timepoint per scan date")
    order = sorted(range(len(parsed)), key=lambda i: parsed[i][0].date)
    timepoints = _resolved_lesions(tuple(parsed[i][0] for i in order), [tps_raw[i] for i in order])
    case_agent = _opt(m, "contrast_agent", lambda v: _agent(ctx, v, "contrast_agent"))
    if case_agent is not None:  # the case's agent is each session's unless the timepoint names its own
        timepoints = tuple(
            tp if tp.contrast_agent else dataclasses.replace(tp, contrast_agent=case_agent) for tp in timepoints
        )
    overrides = [parsed[i][1] for i in order]
    global_overrides = _series_overrides(ctx, m["series"], "series") if m.get("series") is not None else {}
    overrides = [{**global_overrides, **o} for o in overrides]
    # Cross-field date checks: the timeline must be possible.
    if diagnosis.date is not None:
        for i in range(len(tps_raw)):
            d = parsed[i][0].date
            if d < diagnosis.date:
                raise ctx.error(
                    f"timepoints[{i}].date",
                    f"scan on {d} is before the diagnosis on {diagnosis.date}",
                    "scans on or after diagnosis.date",
                )
        for i, t in enumerate(treatments_raw):
            tr = _treatment(ctx, t, f"treatments[{i}]")
            if tr.type not in (TreatmentType.SURGERY, TreatmentType.BIOPSY) and tr.start < diagnosis.date:
                raise ctx.error(
                    f"treatments[{i}]",
                    f"{tr.type.value} on {tr.start} is before the diagnosis on {diagnosis.date}",
                    "treatments after diagnosis (surgery may establish it)",
                )
    indication = (
        _opt(m, "indication", lambda v: _enum(ctx, Indication, v, "indication"))
        or Indication.NEW_OR_ENLARGING_ENHANCEMENT
    )
    rtdose = None
    if m.get("rtdose") is not None:
        rtdose = root / _text(ctx, m["rtdose"], "rtdose")
        if not rtdose.exists():
            raise ctx.error("rtdose", f"'{m['rtdose']}' does not exist", "a DICOM RTDOSE file or folder")
    case = Case(
        patient=patient,
        diagnosis=diagnosis,
        treatments=treatments,
        timepoints=timepoints,
        indication=indication,
        root=root,
        rtdose=rtdose,
        series_overrides=global_overrides,
    )
    return case, overrides


def read_case_yaml(case_dir: Path) -> tuple[Case, list[dict[str, SeriesKind]]]:
    """Read and validate ``CASE_DIR/case.yaml`` (no image is opened)."""
    case_dir = Path(case_dir)
    if not case_dir.exists():
        raise InputError("case folder does not exist", file=case_dir)
    if case_dir.is_file() and case_dir.name in (CASE_FILE, "case.yml"):
        case_dir = case_dir.parent
    file = case_dir / CASE_FILE
    if not file.exists():
        raise InputError("case folder has no case.yaml", file=case_dir, expected=f"{CASE_FILE} in the folder")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("is not UTF-8 text", file=file) from exc
    try:
        data = load_user_yaml(text, file=file, base=_Loader)  # aliases, depth, size, duplicate keys refused
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise InputError(f"is not valid YAML{where}: {problem}", file=file) from exc
    return parse_case(data, file=file, root=case_dir.resolve())
