"""Reads a PET series' dose, timing and weight headers: the SUV (body weight) factor and the tracer named.

SUVbw = C(Bq/ml) × body weight (g) / injected activity decayed to the image's decay-correction time (Bq).
The decay-correction reference follows the QIBA vendor-neutral SUV pseudo-code (Clunie D, QIBA FDG-PET/CT
Technical Committee, "SUV calculation", 2013): with ``DecayCorrection = START`` the images are corrected to
the series start, so the dose is decayed from injection to ``SeriesDate/SeriesTime`` (or to the earliest
``AcquisitionTime`` when the series time is later than it, e.g. after reprocessing); with ``ADMIN`` they are
corrected to the injection and the dose is used as it is.

Usage (not run as a doctest: it needs a real case or file)::

    p = suv_parameters(series.files)
    p.tracer, round(p.suv_per_bq_ml, 6)
    # → ('FET', 0.000294)
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import load_table
from .dicom import read_dataset


@dataclass(frozen=True)
class SuvParameters:
    """What converts this series' voxel values (Bq/ml) to SUVbw (g/ml), and where each number came from."""

    suv_per_bq_ml: float  # multiply an activity concentration by this to get SUVbw
    tracer: str | None  # "FDG" | "FET" | "MET" | "FDOPA" | None (not recognised)
    tracer_class: str | None  # "glucose" | "amino_acid"
    radiopharmaceutical: str  # the header text, as written
    radionuclide: str | None
    half_life_s: float
    injected_activity_bq: float
    patient_weight_kg: float
    injection_time: dt.datetime
    reference_time: dt.datetime  # the decay-correction reference of the image values
    decay_correction: str
    uptake_time_s: float  # injection → reference time
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _datetime(date_value: Any, time_value: Any) -> dt.datetime | None:
    if not date_value or not time_value:
        return None
    d = str(date_value).strip()
    t = str(time_value).strip()
    try:
        date = dt.datetime.strptime(d[:8], "%Y%m%d").date()
    except ValueError:
        return None
    m = re.match(r"^(\d{2})(\d{2})?(\d{2})?(\.\d+)?", t)
    if m is None:
        return None
    frac = float(m.group(4)) if m.group(4) else 0.0
    return dt.datetime.combine(
        date,
        dt.time(int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), round(frac * 1e6) % 1_000_000),
    )


def _dicom_datetime(value: Any) -> dt.datetime | None:
    if not value:
        return None
    text = str(value).strip()
    text = re.sub(r"[+-]\d{4}$", "", text)  # drop a UTC offset: the times compared share the scanner's clock
    return _datetime(text[:8], text[8:]) if len(text) >= 10 else None


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[\s,;()/]+", text.lower()) if w}


def name_tracer(text: str) -> tuple[str | None, str | None]:
    """The tracer (``"FET"``…) and its class from a radiopharmaceutical description, or ``(None, None)``."""
    words = _words(text)
    compact = re.sub(r"[\s\[\]()^]", "", text.lower())
    for name, spec in load_table("pet", "pet")["tracers"].items():
        for w in spec["words"]:
            if w in words or (len(w) > 4 and w.replace("[", "").replace("]", "") in compact):
                return name, spec["class"]
    return None, None


def _nuclide(text: str) -> str | None:
    compact = re.sub(r"[\s\[\]()]", "", text.lower())
    for name, spec in load_table("pet", "pet")["radionuclides"].items():
        if any(n.replace("^", "") in compact.replace("^", "") for n in spec["names"]):
            return name
    return None


def suv_parameters(files: Sequence[Path]) -> SuvParameters:
    """Read the radiopharmaceutical, dose, timing and weight headers of a PET series and derive the SUV factor.

    Raises :class:`InputError` naming the file and field when a header SUV needs is missing or not usable.
    """
    if not files:
        raise ValueError("files must list the PET series' DICOM files")
    first = Path(files[0])
    ds = read_dataset(first, stop_before_pixels=True)
    warnings: list[str] = []
    if str(ds.get("Modality", "")) != "PT":
        raise InputError(f"modality is {ds.get('Modality')!r}, not PET", file=first, field="Modality", expected="PT")
    units = str(ds.get("Units", "")).upper()
    if units != "BQML":
        raise InputError(
            f"image units are {units or 'missing'}; SUV needs activity concentration",
            file=first,
            field="Units (0054,1001)",
            expected="BQML",
        )
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    if not seq:
        raise InputError("no radiopharmaceutical information", file=first, field="(0054,0016)")
    rp = seq[0]
    weight = ds.get("PatientWeight")
    try:
        weight_kg = 0.0 if weight in (None, "") else float(weight)
    except (TypeError, ValueError):  # "72 kg": float() would quote the value in its message (pseudoprog.privacy)
        raise InputError(
            "is not a number: SUVbw undefined", file=first, field="PatientWeight (0010,1030)", expected="kilograms"
        ) from None
    if not weight_kg > 0:
        raise InputError(
            "patient weight missing or zero: SUVbw undefined", file=first, field="PatientWeight (0010,1030)"
        )
    if not 20.0 <= weight_kg <= 300.0:
        warnings.append(f"patient weight {weight_kg:g} kg is unusual: check it is in kg")
    dose = rp.get("RadionuclideTotalDose")
    if dose in (None, "") or float(dose) <= 0:
        raise InputError("injected activity missing", file=first, field="RadionuclideTotalDose (0018,1074)")
    dose_bq = float(dose)
    if dose_bq < 1e6:
        raise InputError(
            f"injected activity {dose_bq:g} is below 1 MBq: probably in MBq, not Bq",
            file=first,
            field="RadionuclideTotalDose (0018,1074)",
            expected="becquerel",
        )
    description = str(rp.get("Radiopharmaceutical", "") or "")
    code = rp.get("RadiopharmaceuticalCodeSequence")
    if code:
        description = " ".join(x for x in (description, str(code[0].get("CodeMeaning", ""))) if x)
    tracer, tracer_class = name_tracer(description) if description else (None, None)
    if tracer is None:
        warnings.append("tracer not recognised from the radiopharmaceutical headers")
    nuc_text = ""
    nuc_code = rp.get("RadionuclideCodeSequence")
    if nuc_code:
        nuc_text = str(nuc_code[0].get("CodeMeaning", "")) + " " + str(nuc_code[0].get("CodeValue", ""))
    nuclide = _nuclide(nuc_text + " " + description)
    half_life = rp.get("RadionuclideHalfLife")
    table_half = load_table("pet", "pet")["radionuclides"].get(nuclide, {}).get("half_life_s") if nuclide else None
    if half_life not in (None, ""):
        half_life_s = float(half_life)
        if table_half and abs(half_life_s - table_half) > 0.01 * table_half:
            warnings.append(f"header half-life {half_life_s:g} s differs from {nuclide}'s {table_half:g} s")
    elif table_half:
        half_life_s = float(table_half)
        warnings.append(f"half-life not in the headers; {nuclide} value {table_half:g} s used")
    else:
        raise InputError("radionuclide half-life missing", file=first, field="RadionuclideHalfLife (0018,1075)")
    if tracer is not None and nuclide is not None:
        expected = load_table("pet", "pet")["tracers"][tracer]["nuclide"]
        if nuclide != expected:
            warnings.append(f"tracer {tracer} is labelled with {nuclide}, expected {expected}")
    injection = _dicom_datetime(rp.get("RadiopharmaceuticalStartDateTime")) or _datetime(
        ds.get("SeriesDate") or ds.get("AcquisitionDate"), rp.get("RadiopharmaceuticalStartTime")
    )
    if injection is None:
        raise InputError(
            "injection time missing",
            file=first,
            field="RadiopharmaceuticalStartDateTime / RadiopharmaceuticalStartTime (0018,1078/1072)",
        )
    correction = str(ds.get("DecayCorrection", "")).upper()
    if correction == "ADMIN":
        reference = injection
    elif correction == "START":
        series_time = _datetime(ds.get("SeriesDate"), ds.get("SeriesTime"))
        acq_times = []
        for path in files:
            h = read_dataset(path, stop_before_pixels=True, specific_tags=["AcquisitionDate", "AcquisitionTime"])
            t = _datetime(h.get("AcquisitionDate") or ds.get("SeriesDate"), h.get("AcquisitionTime"))
            if t is not None:
                acq_times.append(t)
        earliest = min(acq_times) if acq_times else None
        if series_time is None and earliest is None:
            raise InputError("no series or acquisition time", file=first, field="SeriesTime / AcquisitionTime")
        reference = series_time or earliest  # type: ignore[assignment]
        if series_time is not None and earliest is not None and series_time > earliest:
            warnings.append("series time is after the first acquisition (reprocessed?): earliest acquisition used")
            reference = earliest
    else:
        raise InputError(
            f"decay correction {correction or 'missing'} is not supported for SUV",
            file=first,
            field="DecayCorrection (0054,1102)",
            expected="START or ADMIN",
        )
    uptake = (reference - injection).total_seconds()
    if uptake < 0:
        raise InputError("injection is after the decay-correction reference time", file=first, field="injection time")
    if uptake > 10 * half_life_s:
        raise InputError(
            f"uptake time {uptake / 60:.0f} min exceeds 10 half-lives: wrong date or time?",
            file=first,
            field="injection time",
        )
    decayed = dose_bq * math.pow(2.0, -uptake / half_life_s)
    return SuvParameters(
        suv_per_bq_ml=weight_kg * 1000.0 / decayed,
        tracer=tracer,
        tracer_class=tracer_class,
        radiopharmaceutical=description,
        radionuclide=nuclide,
        half_life_s=half_life_s,
        injected_activity_bq=dose_bq,
        patient_weight_kg=weight_kg,
        injection_time=injection,
        reference_time=reference,
        decay_correction=correction,
        uptake_time_s=uptake,
        warnings=tuple(warnings),
    )
