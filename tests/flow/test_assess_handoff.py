"""``assess`` end to end on a light DICOM phantom with DSC and DCE: the hand-off between stages holds.

- a DCE series without FlipAngle is listed in ``not_assessed`` and the case still gets its report;
- the DSC rCBV map reaches the texture stage by its quantity (a row for rCBV in the features table);
- the lesions stage's transforms are written into assessment.json (``timepoints[].registration``).
"""

from __future__ import annotations

import csv
import json

import pytest

from pseudoprog.flow import assess
from pseudoprog.phantoms.anatomy import Grid

pytestmark = pytest.mark.e2e
SMALL_GRID = Grid(shape=(64, 72, 24), spacing_mm=(3.0, 3.0, 6.0))


@pytest.fixture(scope="module")
def assessed(tmp_path_factory):
    import pydicom

    from pseudoprog.phantoms.patient import write_synthetic_case

    folder = tmp_path_factory.mktemp("handoff")
    case_dir = write_synthetic_case(
        folder / "case", scenario="true_progression", fmt="dicom", seed=7, grid=SMALL_GRID,
        sequences=("structural", "dsc", "dce"),
    )
    stripped = 0
    for path in case_dir.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        if ds.get("SeriesDescription") == "DCE" and "FlipAngle" in ds:
            del ds.FlipAngle
            ds.save_as(path)
            stripped += 1
    assert stripped > 0
    out = folder / "out"
    result = assess(case_dir, out)
    return result, json.loads((out / "assessment.json").read_text()), out


def test_dce_without_flip_angle_is_not_assessed_and_the_report_is_written(assessed) -> None:
    _, doc, out = assessed
    dce = [n for n in doc["not_assessed"] if n["stage"] == "dce"]
    assert dce and all("FlipAngle" in n["reason"] for n in dce)
    assert (out / "report.html").exists()
    assert "report_html" in doc["outputs"]


def test_dsc_rcbv_reaches_the_texture_table(assessed) -> None:
    pytest.importorskip("radiomics", reason="pyradiomics not installed (optional texture extra)")
    _, _, out = assessed
    with (out / "features" / "texture.csv").open() as fh:
        images = {row["image"] for row in csv.DictReader(fh)}
    assert "rCBV" in images and "T1c" in images


def test_transforms_of_the_lesions_stage_are_in_the_json(assessed) -> None:
    _, doc, _ = assessed
    skipped = {n["timepoint"] for n in doc["not_assessed"] if n["stage"] == "lesions"}
    analysed = [tp for tp in doc["timepoints"] if tp["date"] not in skipped]
    assert len(analysed) >= 2
    for tp in analysed:  # every timepoint the lesions stage analysed keeps its registrations
        reg = tp["registration"]
        assert len(reg["to_baseline"]["fixed_to_moving_ras"]) == 4
        assert {"T1", "T2", "FLAIR"} <= set(reg["series_to_t1c"])
    assert any(tp["registration"]["to_baseline"]["kind"] == "rigid" for tp in analysed[1:])
    for tp in doc["timepoints"]:
        if tp["date"] in skipped:
            assert tp["registration"] == {}  # nothing invented where the stage did not run
