"""case.yaml: the documented example parses, and every kind of bad input gives a clear InputError."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from pseudoprog.case import ClinicalStatus, DiagnosisType, LocationVsRT, MarkerStatus, TreatmentType
from pseudoprog.errors import InputError
from pseudoprog.ingest import load_case, read_case_yaml

EXAMPLE = """
patient: {id: DEMO-001, age: 58, sex: M}
diagnosis: {type: glioblastoma, idh: wildtype, mgmt: methylated}
treatments:
  - {type: surgery, date: 2026-01-10, extent: gross_total}
  - {type: chemoradiation, start: 2026-02-01, end: 2026-03-15, dose_gy: 60, fractions: 30, agent: temozolomide}
  - {type: srs, date: 2025-07-01, dose_gy: 18, fractions: 1, isodose_percent: 80}
  - {type: immunotherapy, start: 2026-04-01, agent: pembrolizumab}
  - {type: bevacizumab, start: 2026-05-01}
  - {type: wbrt, start: 2025-05-01, end: 2025-05-14, dose_gy: 30, fractions: 10}
timepoints:
  - date: 2026-03-20
    clinical_status: stable
    steroids_mg_dexamethasone: 4
    images: 2026-03-20/
    lesions:
      - {id: L1, long_mm: 22, perp_mm: 15, enhancing: true, location_vs_rt: in_field}
    markers: {rcbv_max: 1.2, adc_mean: 1.35e-3, cho_naa: 1.4}
  - date: 2026-06-02
    clinical_status: worse
    lesions:
      - {id: L1, long_mm: 30, perp_mm: 21}
"""


def write_case(tmp_path: Path, text: str, *, image_dirs: tuple[str, ...] = ("2026-03-20",)) -> Path:
    case = tmp_path / "case"
    case.mkdir()
    (case / "case.yaml").write_text(textwrap.dedent(text))
    for d in image_dirs:
        (case / d).mkdir()
    return case


def test_documented_example_parses_into_the_domain(tmp_path):
    case, overrides = read_case_yaml(write_case(tmp_path, EXAMPLE))
    assert case.patient.id == "DEMO-001" and case.patient.age_years == 58
    assert case.diagnosis.type is DiagnosisType.GLIOBLASTOMA
    assert case.diagnosis.mgmt is MarkerStatus.METHYLATED
    # Treatments come back sorted by start date, single-day ones with start == date.
    assert [t.type for t in case.treatments][:2] == [TreatmentType.WBRT, TreatmentType.SRS]
    srs = case.treatments_of(TreatmentType.SRS)[0]
    assert srs.start == dt.date(2025, 7, 1) and srs.last_day == dt.date(2025, 7, 1)
    tp = case.timepoints[0]
    assert tp.clinical_status is ClinicalStatus.STABLE and tp.steroids_mg_dexamethasone == 4
    assert tp.image_dir is not None and tp.image_dir.name == "2026-03-20"
    lesion = tp.lesions[0]
    assert lesion.measurement.bidimensional_product_mm2 == 22 * 15
    assert lesion.location_vs_rt is LocationVsRT.IN_FIELD
    assert tp.markers["adc_mean"].value == pytest.approx(1.35e-3) and tp.markers["adc_mean"].unit == "mm2/s"
    assert case.timepoints[1].lesions[0].measurement.long_mm == 30
    assert overrides == [{}, {}]


def test_end_of_radiotherapy_is_the_latest_course_before_the_date(tmp_path):
    case, _ = read_case_yaml(write_case(tmp_path, EXAMPLE))
    assert case.end_of_radiotherapy(before=dt.date(2026, 3, 20)) == dt.date(2026, 3, 15)
    assert case.end_of_radiotherapy(before=dt.date(2026, 1, 1)) == dt.date(2025, 7, 1)
    assert case.weeks_since_radiotherapy(dt.date(2026, 3, 29)) == pytest.approx(2.0)


def test_timepoint_without_images_needs_no_folder_and_loads_with_scanning(tmp_path):
    text = EXAMPLE.replace("    images: 2026-03-20/\n", "")
    case = load_case(write_case(tmp_path, text, image_dirs=()))
    assert all(tp.series == () for tp in case.timepoints)


def test_series_overrides_are_read_per_timepoint_and_globally(tmp_path):
    text = EXAMPLE.replace("    images: 2026-03-20/\n", "    images: 2026-03-20/\n    series: {'AX 3D POST': T1c}\n")
    text = "series: {'ep2d_perf': DSC}\n" + text
    _, overrides = read_case_yaml(write_case(tmp_path, text))
    assert overrides[0]["AX 3D POST"].value == "T1c" and overrides[0]["ep2d_perf"].value == "DSC"
    assert overrides[1] == {"ep2d_perf": overrides[0]["ep2d_perf"]}


def _mutate(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


# (test id, case.yaml text, words the message must contain: the field and the problem)
BAD_YAML = [
    ("unknown-top-key", "steriods: 4\n" + EXAMPLE, ["steriods", "unknown key"]),
    (
        "unknown-lesion-key",
        _mutate("enhancing: true,", "enhancing: true, diameter: 4,"),
        ["timepoints[0].lesions[0].diameter", "unknown key"],
    ),
    ("age-wrong-type", _mutate("age: 58", "age: old"), ["patient.age", "not a number"]),
    ("age-impossible", _mutate("age: 58", "age: 230"), ["patient.age", "too large"]),
    (
        "unknown-diagnosis",
        _mutate("type: glioblastoma", "type: glioma_grade_5"),
        ["diagnosis.type", "not a recognised value"],
    ),
    ("bad-date", _mutate("date: 2026-03-20", "date: 2026-02-30"), ["timepoints[0].date", "not a date"]),
    ("future-date", _mutate("date: 2026-06-02", "date: 2099-06-02"), ["timepoints[1].date", "future"]),
    (
        "radiation-ends-before-start",
        _mutate("end: 2026-03-15", "end: 2026-01-15"),
        ["treatments[", ".end", "before the start"],
    ),
    (
        "scan-before-diagnosis",
        _mutate("mgmt: methylated}", "mgmt: methylated, date: 2026-04-01}"),
        ["timepoints[0].date", "before the diagnosis"],
    ),
    (
        "perp-longer-than-long",
        _mutate("long_mm: 22, perp_mm: 15", "long_mm: 12, perp_mm: 15"),
        ["perp_mm", "exceeds the longest diameter"],
    ),
    ("marker-unknown", _mutate("cho_naa: 1.4", "choline: 1.4"), ["markers.choline", "unknown key"]),
    ("marker-wrong-unit", _mutate("adc_mean: 1.35e-3", "adc_mean: 1350"), ["markers.adc_mean", "plausible range"]),
    (
        "negative-steroids",
        _mutate("steroids_mg_dexamethasone: 4", "steroids_mg_dexamethasone: -4"),
        ["steroids_mg_dexamethasone", "too small"],
    ),
    ("duplicate-dates", _mutate("date: 2026-06-02", "date: 2026-03-20"), ["timepoints", "share the date"]),
    (
        "dose-for-surgery",
        _mutate("extent: gross_total}", "extent: gross_total, dose_gy: 60}"),
        ["treatments[", "not a radiation treatment"],
    ),
    (
        "idh-for-metastasis",
        _mutate("{type: glioblastoma, idh: wildtype, mgmt: methylated}", "{type: metastasis, idh: wildtype}"),
        ["diagnosis", "gliomas"],
    ),
    (
        "bad-clinical-status",
        _mutate("clinical_status: stable", "clinical_status: fine"),
        ["clinical_status", "one of improved"],
    ),
    (
        "missing-patient-id",
        _mutate("patient: {id: DEMO-001, age: 58, sex: M}", "patient: {age: 58}"),
        ["patient.id", "required"],
    ),
    (
        "timepoints-not-a-list",
        EXAMPLE.split("timepoints:")[0] + "timepoints: 2026-03-20\n",
        ["timepoints", "non-empty list"],
    ),
    (
        "rcbv-max-below-mean",
        _mutate("markers: {rcbv_max: 1.2,", "markers: {rcbv_mean: 2.4, rcbv_max: 1.2,"),
        ["timepoints[0].markers.rcbv_max", "below rcbv_mean"],
    ),
    (
        "ftb-fractions-over-one",
        _mutate("markers: {rcbv_max: 1.2,", "markers: {ftb_high: 0.7, ftb_low: 0.6, rcbv_max: 1.2,"),
        ["timepoints[0].markers.ftb_high", "> 1"],
    ),
    (
        "negative-rcbv",
        _mutate("markers: {rcbv_max: 1.2,", "markers: {rcbv_max: -0.5,"),
        ["timepoints[0].markers.rcbv_max", "plausible range"],
    ),
    (
        "lesion-rcbv-max-below-mean",
        _mutate("enhancing: true, location_vs_rt: in_field}", "markers: {rcbv_max: 1.0, rcbv_mean: 1.5}}"),
        ["lesions[0].markers.rcbv_max", "below rcbv_mean"],
    ),
    (
        "absurd-dose-per-fraction",
        _mutate("dose_gy: 18, fractions: 1", "dose_gy: 90, fractions: 1"),
        ["dose_gy", "per fraction"],
    ),
]


@pytest.mark.parametrize(("text", "words"), [(t, w) for _, t, w in BAD_YAML], ids=[i for i, _, _ in BAD_YAML])
def test_bad_case_yaml_names_file_field_and_problem(tmp_path, text, words):
    case = write_case(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_case(case)
    message = str(info.value)
    assert "case.yaml" in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_missing_image_folder_is_named(tmp_path):
    case = write_case(tmp_path, EXAMPLE, image_dirs=())
    with pytest.raises(InputError, match=r"timepoints\[0\]\.images.*'2026-03-20/' does not exist"):
        load_case(case)


def test_invalid_yaml_reports_the_line(tmp_path):
    case = write_case(tmp_path, EXAMPLE + "  - date: [unclosed\n")
    with pytest.raises(InputError, match=r"not valid YAML at line \d+"):
        load_case(case)


def test_missing_case_yaml_and_missing_folder(tmp_path):
    with pytest.raises(InputError, match=r"has no case\.yaml"):
        load_case(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        load_case(tmp_path / "nope")


def test_top_level_must_be_a_mapping(tmp_path):
    case = write_case(tmp_path, "- just\n- a list\n")
    with pytest.raises(InputError, match="mapping at the top level"):
        load_case(case)


def test_error_is_a_value_error_too_for_callers_that_catch_those(tmp_path):
    case = write_case(tmp_path, "steriods: 4\n" + EXAMPLE)
    with pytest.raises(ValueError):
        load_case(case)


@pytest.mark.parametrize(
    ("course", "fractions", "end"),
    [
        ("chemoradiation", 30, dt.date(2026, 3, 12)),  # fraction 1 on the start day, then 29 weekdays
        ("radiotherapy", None, dt.date(2026, 3, 12)),  # no fractions: the standard 30 (Stupp 2005)
        ("wbrt", 10, dt.date(2026, 2, 12)),
        ("fsrt", None, dt.date(2026, 2, 5)),  # the longest standard fractionated SRS, 5 fractions
    ],
)
def test_a_radiation_course_without_end_gets_a_warned_conservative_end(tmp_path, course, fractions, end):
    """Issue 12 item 5: never end = start (the 12-week window would be lost); the assumption is said."""
    from pseudoprog.ingest import ingest_case

    given = f", fractions: {fractions}" if fractions else ""
    text = _mutate(
        "{type: chemoradiation, start: 2026-02-01, end: 2026-03-15, dose_gy: 60, fractions: 30, agent: temozolomide}",
        f"{{type: {course}, start: 2026-02-01{given}}}",
    )
    result = ingest_case(write_case(tmp_path, text), read_images=False)
    t = next(t for t in result.case.treatments if t.type.value == course and t.start == dt.date(2026, 2, 1))
    assert t.end == end and t.end > t.start
    warned = [w for w in result.warnings if "treatments[1].end" in w and "assumed end" in w]
    assert warned and end.isoformat() in warned[0]


def test_contrast_agent_and_field_strength_per_session_with_a_case_default(tmp_path):
    """NIfTI sidecars often lack ContrastBolusAgent and MagneticFieldStrength; the DCE relaxivity needs both."""
    text = EXAMPLE.replace("patient:", "contrast_agent: Dotarem\npatient:", 1).replace(
        "    clinical_status: worse\n",
        "    clinical_status: worse\n    contrast_agent: gadobutrol\n    field_strength_t: 1.5\n",
    )
    case, _ = read_case_yaml(write_case(tmp_path, text))
    first, second = case.timepoints
    assert (first.contrast_agent, first.field_strength_t) == ("Dotarem", None)
    assert (second.contrast_agent, second.field_strength_t) == ("gadobutrol", 1.5)


@pytest.mark.parametrize(
    ("line", "field"),
    [("    field_strength_t: 30\n", "field_strength_t"), ("    contrast_agent: ''\n", "contrast_agent")],
)
def test_implausible_field_strength_or_empty_agent_is_named(tmp_path, line, field):
    text = EXAMPLE.replace("    clinical_status: worse\n", "    clinical_status: worse\n" + line)
    with pytest.raises(InputError, match=f"timepoints\\[1\\].{field}"):
        read_case_yaml(write_case(tmp_path, text))
